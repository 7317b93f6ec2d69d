# Stand-in for nixpkgs' installShellFiles setup hook: installShellCompletion with nixpkgs' rules
# (shell from --bash/--zsh/--fish or the file's extension; zsh files become _NAME; an installed
# file that is missing or empty is an error).
installShellCompletion() {
    _shell='' _name='' _cmd='' _status=0
    while [ "$#" -gt 0 ]; do
        _arg=$1
        shift
        case $_arg in
            --bash | --zsh | --fish) _shell=${_arg#--}; continue ;;
            --name) _name=$1; shift; continue ;;
            --name=*) _name=${_arg#--name=}; continue ;;
            --cmd) _cmd=$1; shift; continue ;;
            --cmd=*) _cmd=${_arg#--cmd=}; continue ;;
            --?*) echo "installShellCompletion: warning: unknown flag ${_arg%%=*}" >&2; _status=2; continue ;;
        esac
        _base=${_arg##*/}
        _current=$_shell
        if [ -z "$_current" ]; then
            case $_base in
                ?*.bash) _current=bash ;;
                ?*.fish) _current=fish ;;
                ?*.zsh) _current=zsh ;;
                *)
                    echo "installShellCompletion: warning: $_arg: could not infer shell type from path" >&2
                    _status=2
                    continue
                    ;;
            esac
        fi
        if [ -n "$_name" ]; then
            _out=$_name
        elif [ -n "$_cmd" ]; then
            case $_current in
                bash | fish) _out=$_cmd.$_current ;;
                zsh) _out=_$_cmd ;;
            esac
        else
            _out=$_base
        fi
        case $_current in
            bash) _dir=$out/share/bash-completion/completions ;;
            fish) _dir=$out/share/fish/vendor_completions.d ;;
            zsh)
                _dir=$out/share/zsh/site-functions
                if [ -z "$_name" ] && [ -z "$_cmd" ]; then
                    _out=${_out%.zsh}
                    _out=_${_out#_}
                fi
                ;;
        esac
        mkdir -p "$_dir"
        cp "$_arg" "$_dir/$_out"
        chmod 0644 "$_dir/$_out"
        if [ ! -s "$_dir/$_out" ]; then
            echo "installShellCompletion: error: installed shell completion file \`$_dir/$_out' does not exist or has zero size" >&2
            _status=1
        fi
    done
    return "$_status"
}
