# The stand-in stdenv's builder, run by busybox sh: nixpkgs' generic builder (pkgs/stdenv/generic/
# setup.sh) reduced to what claudebox's flake uses. PATH holds the inputs' bin directories, then
# busybox; each input's nix-support/setup-hook is sourced, as nixpkgs does.
set -eu

PATH=
for input in ${nativeBuildInputs-} ${buildInputs-}; do
    if [ -d "$input/bin" ]; then
        PATH="${PATH:+$PATH:}$input/bin"
    fi
done
PATH="${PATH:+$PATH:}$standInApplets/bin"
export PATH
export SOURCE_DATE_EPOCH=315532800
# A build sandbox has no /bin/sh unless the daemon provides one; commands run by the build get busybox.
export CONFIG_SHELL="$standInApplets/bin/sh"

runHook() {
    eval "_hook=\${$1-}"
    if [ -n "$_hook" ]; then
        eval "$_hook"
    fi
}

for input in ${nativeBuildInputs-} ${buildInputs-}; do
    if [ -f "$input/nix-support/setup-hook" ]; then
        . "$input/nix-support/setup-hook"
    fi
done

# patchShebangs: `#!/usr/bin/env prog` and `#!/bin/prog` in executables become store paths found
# on PATH (what nixpkgs' fixupPhase does, and why a portable script sets dontFixup).
patchShebangs() {
    find "$1" -type f -perm -0100 | while read -r file; do
        first=$(head -c 512 "$file" | head -n 1)
        case $first in
            '#!'*) ;;
            *) continue ;;
        esac
        set -- ${first#??}
        [ "$#" -gt 0 ] || continue
        case $1 in
            /nix/store/*) continue ;;
            */env) shift; [ "$#" -gt 0 ] || continue; program=$1 ;;
            *) program=${1##*/} ;;
        esac
        shift
        new=$(command -v "$program") || continue
        echo "patching script interpreter paths in $file: $first -> #!$new${*:+ $*}"
        { printf '#!%s%s\n' "$new" "${*:+ $*}"; tail -n +2 "$file"; } >"$file.patched"
        cat "$file.patched" >"$file"
        rm "$file.patched"
    done
}

default_unpackPhase() {
    runHook preUnpack
    if [ -z "${src-}" ]; then
        echo "variable \$src or \$srcs should point to the source" >&2
        exit 1
    fi
    if [ ! -d "$src" ]; then
        echo "stand-in stdenv: only directory sources are unpacked ($src)" >&2
        exit 1
    fi
    sourceRoot=${src#/nix/store/????????????????????????????????-}
    cp -r "$src" "$sourceRoot"
    chmod -R u+w "$sourceRoot"
    runHook postUnpack
    cd "$sourceRoot"
}

default_configurePhase() {
    runHook preConfigure
    if [ -x ./configure ]; then
        ./configure --prefix="$out"
    fi
    runHook postConfigure
}

default_buildPhase() {
    runHook preBuild
    if [ -f Makefile ] || [ -f makefile ] || [ -f GNUmakefile ]; then
        echo "stand-in stdenv: a Makefile but no make; give a buildPhase" >&2
        exit 1
    fi
    echo "no Makefile or custom buildPhase, doing nothing"
    runHook postBuild
}

default_checkPhase() {
    runHook preCheck
    runHook postCheck
}

default_installPhase() {
    echo "stand-in stdenv: no installPhase (nixpkgs would run make install, and there is no Makefile)" >&2
    exit 1
}

default_fixupPhase() {
    runHook preFixup
    patchShebangs "$out"
    runHook postFixup
}

runPhase() {
    eval "_custom=\${$1-}"
    echo "Running phase: $1"
    if [ -n "$_custom" ]; then
        eval "$_custom"
    else
        "default_$1"
    fi
}

if [ -n "${buildCommandPath-}" ]; then
    eval "$(cat "$buildCommandPath")"
elif [ -n "${buildCommand-}" ]; then
    eval "$buildCommand"
else
    if [ -n "${src-}" ]; then
        runPhase unpackPhase
    fi
    [ -n "${dontConfigure-}" ] || runPhase configurePhase
    [ -n "${dontBuild-}" ] || runPhase buildPhase
    [ -z "${doCheck-}" ] || runPhase checkPhase
    [ -n "${dontInstall-}" ] || runPhase installPhase
    [ -n "${dontFixup-}" ] || runPhase fixupPhase
fi
