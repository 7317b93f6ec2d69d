# Stand-in for nixpkgs in claudebox's tests (the real one cannot be fetched there): the packages
# and functions claudebox's flake.nix and tests use, each checking its arguments as nixpkgs does
# (stricter where nixpkgs would silently accept a typo: an unknown argument is an error).
#
# Every derivation is built by the static busybox the tests copy to ./busybox/bin/busybox. The
# programs a check really runs (python3 with pytest/shiv/mypy, bash, git, zsh, fish, ruff,
# shellcheck, bwrap, openssl) are host binaries the tests copy under ./host/NAME together with
# their libraries; they run through that copied dynamic loader, so nothing of the host is visible
# in a build sandbox. Everything else (curl, jq, nix, ...) is a stub that only has to exist.
# See tests/integration/nixlab.py (materialize_nixpkgs).
{ ... }@args:
let
  lib = import ./lib.nix;
  inherit (lib) checkArgs checkType isDerivation;

  importArgs = checkArgs "import nixpkgs" [
    "system"
    "localSystem"
    "config"
    "overlays"
    "inNixShell" # nix-shell passes it to every expression it evaluates (nixpkgs ignores it)
  ] args;
  # nixpkgs' default: the system nix runs on (nix-shell -p imports <nixpkgs> with no arguments)
  system = importArgs.system or importArgs.localSystem.system or builtins.currentSystem;
  config = checkArgs "import nixpkgs { config }" [
    "allowUnfree"
    "allowUnfreePredicate"
  ] (importArgs.config or { });
  unfreeAllowed =
    attrs: config.allowUnfree or false || (config.allowUnfreePredicate or (_: false)) attrs;

  busyboxRoot =
    if builtins.pathExists ./busybox/bin/busybox then
      ./busybox
    else
      throw "stand-in nixpkgs: ./busybox/bin/busybox is missing (the tests copy a static busybox in)";
  busybox = "${busyboxRoot}/bin/busybox";

  applets = builtins.derivation {
    name = "stand-in-busybox-applets";
    inherit system;
    builder = busybox;
    args = [
      "sh"
      "-euc"
      ''
        ${busybox} mkdir -p $out/bin
        for applet in $(${busybox} --list); do
          ${busybox} ln -s ${busybox} $out/bin/$applet
        done
      ''
    ];
  };
  shell = "${applets}/bin/sh";

  metaTypes = {
    description = builtins.isString;
    longDescription = builtins.isString;
    homepage = builtins.isString;
    license = license: builtins.isAttrs license && license ? free && license ? shortName;
    platforms = platforms: builtins.isList platforms && builtins.all builtins.isString platforms;
    mainProgram = builtins.isString;
    maintainers = builtins.isList;
  };
  checkMeta =
    function: meta:
    let
      checked = checkArgs "${function} meta" (builtins.attrNames metaTypes) (
        checkType function "meta" builtins.isAttrs "an attribute set" meta
      );
      wrong = builtins.filter (name: !metaTypes.${name} checked.${name}) (builtins.attrNames checked);
    in
    if wrong == [ ] then
      checked
    else
      throw "stand-in ${function}: meta.${builtins.head wrong} has the wrong type (nixpkgs' check-meta would refuse it)";

  isList = builtins.isList;
  isString = builtins.isString;
  isBool = builtins.isBool;
  isDerivationList = lib.allDerivations;
  isSource =
    value:
    builtins.isPath value
    || isDerivation value
    || (isString value && lib.hasPrefix builtins.storeDir value);

  mkDerivationTypes = {
    name = isString;
    pname = isString;
    version = isString;
    src = isSource;
    nativeBuildInputs = isDerivationList;
    buildInputs = isDerivationList;
    dontConfigure = isBool;
    dontBuild = isBool;
    dontInstall = isBool;
    dontFixup = isBool;
    doCheck = isBool;
    configurePhase = isString;
    buildPhase = isString;
    checkPhase = isString;
    installPhase = isString;
    fixupPhase = isString;
    preConfigure = isString;
    postConfigure = isString;
    preBuild = isString;
    postBuild = isString;
    preInstall = isString;
    postInstall = isString;
    preFixup = isString;
    postFixup = isString;
    buildCommand = isString;
    passAsFile = isList;
    preferLocalBuild = isBool;
    allowSubstitutes = isBool;
    strictDeps = isBool;
    env = builtins.isAttrs;
    meta = builtins.isAttrs;
    passthru = builtins.isAttrs;
    # stand-in internals (writeTextFile's text, symlinkJoin's paths)
    text = isString;
    paths = isDerivationList;
  };

  mkDerivation =
    function: attrs:
    let
      checked = checkArgs function (builtins.attrNames mkDerivationTypes) attrs;
      wrong = builtins.filter (name: !mkDerivationTypes.${name} checked.${name}) (
        builtins.attrNames checked
      );
      name =
        checked.name or (
          if checked ? pname && checked ? version then
            "${checked.pname}-${checked.version}"
          else
            throw "stand-in ${function}: give name, or pname and version"
        );
      meta = checkMeta function (checked.meta or { });
      free = meta.license.free or true;
      supported = !(meta ? platforms) || builtins.elem system meta.platforms;
      derivation = builtins.derivation (
        builtins.removeAttrs checked [
          "meta"
          "passthru"
          "env"
        ]
        // (checked.env or { })
        // {
          inherit name system;
          builder = shell;
          args = [
            "-eu"
            ./setup.sh
          ];
          standInApplets = applets;
          # what nix-shell sources ($stdenv/setup), as every nixpkgs stdenv derivation names it
          stdenv = ./stdenv;
        }
      );
    in
    if wrong != [ ] then
      throw "stand-in ${function}: ${builtins.head wrong} has the wrong type"
    else if !free && !unfreeAllowed checked then
      throw "stand-in nixpkgs: Package ‘${name}’ has an unfree license (‘${meta.license.shortName}’), refusing to evaluate."
    else if !supported then
      throw "stand-in nixpkgs: Package ‘${name}’ is not available on the requested hostPlatform ${system}"
    else
      derivation // { inherit meta; } // (checked.passthru or { });

  runCommandWith =
    function: name: env: buildCommand:
    mkDerivation function (
      checkType function "the environment" builtins.isAttrs "an attribute set" env
      // {
        name = checkType function "name" isString "a string" name;
        buildCommand = checkType function "the command" isString "a string" buildCommand;
        passAsFile = [ "buildCommand" ] ++ (env.passAsFile or [ ]);
      }
    );
  runCommand = runCommandWith "runCommand";

  # A test session may make its stubs its own (new store paths, really built by its daemon).
  session = if builtins.pathExists ./session then builtins.readFile ./session else "";

  # A program with fixed behaviour (a busybox script), for the packages no check runs for real.
  standInStub =
    {
      pname,
      programs ? [ pname ],
      script ? ''echo "stand-in ${pname}: not the real program" >&2; exit 127'',
      meta ? { },
    }:
    mkDerivation "standInStub" {
      inherit pname;
      version = "stand-in";
      text = ''
        #!${shell}
        # ${session}
        ${script}
      '';
      passAsFile = [ "text" ];
      buildCommand = ''
        mkdir -p $out/bin
        for program in ${builtins.concatStringsSep " " programs}; do
          cp "$textPath" "$out/bin/$program"
          chmod +x "$out/bin/$program"
        done
      '';
      meta = {
        mainProgram = builtins.head programs;
      }
      // meta;
    };

  # A host program copied under ./host/NAME (bin/, lib/ with the loader as lib/ld.so, share/).
  # Host trees are used where they are, inside this (already stored) source: `${./host/NAME}`
  # would store each a second time (hundreds of MB per materialization).
  sourceRoot = toString ./.;
  hostTree =
    name:
    if builtins.pathExists (./host + "/${name}") then
      builtins.appendContext "${sourceRoot}/host/${name}" { ${sourceRoot}.path = true; }
    else
      throw "stand-in nixpkgs: ${name} is a host program the flake check copies to ./host/${name}; this materialization has none";

  hostProgram =
    {
      pname,
      tree ? pname,
      programs ? [ pname ],
      exports ? "",
      extraCommands ? "",
      meta ? { },
    }:
    let
      root = hostTree tree;
    in
    mkDerivation "hostProgram" {
      inherit pname;
      version = "host";
      buildCommand = ''
        mkdir -p $out/bin
        for program in ${builtins.concatStringsSep " " programs}; do
          {
            echo '#!${shell}'
            echo '${exports}'
            echo "exec ${root}/lib/ld.so --library-path ${root}/lib --argv0 \"\$0\" ${root}/bin/$program \"\$@\""
          } >"$out/bin/$program"
          chmod +x "$out/bin/$program"
        done
        ${extraCommands}
      '';
      meta = {
        mainProgram = builtins.head programs;
      }
      // meta;
    };

  bash = hostProgram { pname = "bash"; };
  runtimeShell = "${bash}/bin/bash";

  # python3 and python3.withPackages: a bin/python3 whose argv0 makes lib/python3.X its prefix;
  # packages live in lib/python3/dist-packages (Debian's python reads that directory).
  pythonTree = hostTree "python3";
  pythonEnv =
    name: packages:
    mkDerivation "python3.withPackages" {
      inherit name;
      buildCommand = ''
        mkdir -p $out/bin $out/lib/python3/dist-packages
        stdlib=$(cd ${pythonTree}/lib && echo python3.*)
        ln -s ${pythonTree}/lib/$stdlib $out/lib/$stdlib
        {
          echo '#!${shell}'
          echo "exec ${pythonTree}/lib/ld.so --library-path ${pythonTree}/lib --argv0 \"\$0\" ${pythonTree}/bin/$stdlib \"\$@\""
        } >$out/bin/python3
        chmod +x $out/bin/python3
        ln -s python3 $out/bin/python
        ln -s python3 $out/bin/$stdlib
        for package in ${builtins.concatStringsSep " " (map (p: "${p}") packages)}; do
          for entry in $package/site/*; do
            [ -e "$out/lib/python3/dist-packages/''${entry##*/}" ] || ln -s "$entry" $out/lib/python3/dist-packages/
          done
          # console scripts (pytest, mypy, shiv, ...), as nixpkgs' python environments have
          while read -r script entry; do
            printf '#!%s\nimport sys\nfrom %s import %s\nsys.exit(%s())\n' \
              "$out/bin/python3" "''${entry%%:*}" "''${entry#*:}" "''${entry#*:}" >"$out/bin/$script"
            chmod +x "$out/bin/$script"
          done <$package/console-scripts
        done
      '';
      meta.mainProgram = "python3";
      passthru = {
        inherit pythonPackages;
        pkgs = pythonPackages;
        withPackages =
          f:
          let
            selected = checkType "python3.withPackages" "its argument" builtins.isFunction "a function" f pythonPackages;
          in
          pythonEnv "python3-env" (
            checkType "python3.withPackages" "the selected packages" isDerivationList "a list of packages" selected
          );
      };
    };
  pythonPackage =
    name:
    mkDerivation "python3Packages.${name}" {
      pname = "python3-${name}";
      version = "host";
      buildCommand = ''
        mkdir -p $out
        ln -s ${hostTree "python-packages/${name}"}/site $out/site
        cp ${hostTree "python-packages/${name}"}/console-scripts $out/console-scripts
      '';
    };
  pythonPackages = {
    pytest = pythonPackage "pytest";
    shiv = pythonPackage "shiv";
    mypy = pythonPackage "mypy";
  };
  python3 = pythonEnv "python3" [ ];
in
lib.fix (pkgs: {
  # nix-shell -p evaluates `with import <nixpkgs> args; (pkgs.runCommandCC or pkgs.runCommand) …`
  inherit pkgs;
  inherit lib system runCommand runtimeShell standInStub;

  stdenvNoCC = {
    mkDerivation = mkDerivation "stdenvNoCC.mkDerivation";
  };
  stdenv = {
    mkDerivation = mkDerivation "stdenv.mkDerivation";
  };

  writeScriptBin =
    name: text:
    mkDerivation "writeScriptBin" {
      inherit name text;
      passAsFile = [ "text" ];
      buildCommand = ''
        mkdir -p $out/bin
        cp "$textPath" $out/bin/${name}
        chmod +x $out/bin/${name}
      '';
      meta.mainProgram = name;
    };

  # nixpkgs' writeShellApplication (pkgs/build-support/trivial-builders): the same preamble, and
  # the same check: bash -n and shellcheck on the written script.
  writeShellApplication =
    args:
    let
      a = checkArgs "writeShellApplication" [
        "name"
        "text"
        "runtimeInputs"
        "runtimeEnv"
        "meta"
        "passthru"
        "checkPhase"
        "excludeShellChecks"
        "extraShellCheckFlags"
        "bashOptions"
        "inheritPath"
      ] args;
      name = checkType "writeShellApplication" "name" isString "a string" a.name;
      runtimeInputs = checkType "writeShellApplication" "runtimeInputs" isDerivationList "a list of packages" (
        a.runtimeInputs or [ ]
      );
      bashOptions = a.bashOptions or [
        "errexit"
        "nounset"
        "pipefail"
      ];
      script = ''
        #!${runtimeShell}
        ${lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions}
      ''
      + lib.optionalString (a ? runtimeEnv) (
        lib.concatMapStringsSep "\n" (
          variable: "export ${variable}=${lib.escapeShellArg a.runtimeEnv.${variable}}"
        ) (builtins.attrNames a.runtimeEnv)
        + "\n"
      )
      + lib.optionalString (runtimeInputs != [ ]) ''
        export PATH="${lib.makeBinPath runtimeInputs}${lib.optionalString (a.inheritPath or true) ":$PATH"}"
      ''
      + ''

        ${checkType "writeShellApplication" "text" isString "a string" a.text}
      '';
      shellcheck = hostProgram { pname = "shellcheck"; };
      excludes = lib.concatMapStringsSep " " (check: "--exclude=${check}") (a.excludeShellChecks or [ ]);
    in
    mkDerivation "writeShellApplication" {
      inherit name;
      text = script;
      passAsFile = [ "text" ];
      buildCommand = ''
        target=$out/bin/${name}
        mkdir -p $out/bin
        cp "$textPath" "$target"
        chmod +x "$target"
      ''
      + (
        a.checkPhase or ''
          ${runtimeShell} -n -O extglob "$target"
          ${shellcheck}/bin/shellcheck ${excludes} ${toString (a.extraShellCheckFlags or [ ])} "$target"
        ''
      );
      meta = {
        mainProgram = name;
      }
      // (a.meta or { });
      passthru = a.passthru or { };
    };

  symlinkJoin =
    args:
    let
      a = checkArgs "symlinkJoin" [
        "name"
        "pname"
        "version"
        "paths"
        "postBuild"
        "nativeBuildInputs"
        "buildInputs"
        "meta"
        "passthru"
        "preferLocalBuild"
        "allowSubstitutes"
      ] args;
    in
    runCommandWith "symlinkJoin" a.name
      (
        builtins.removeAttrs a [
          "name"
          "postBuild"
        ]
      )
      ''
        mkdir -p $out
        for path in $paths; do
          (cd "$path" && find . -mindepth 1) | while read -r entry; do
            if [ -d "$path/$entry" ] && [ ! -L "$path/$entry" ]; then
              mkdir -p "$out/$entry"
            else
              ln -s "$path/$entry" "$out/$entry"
            fi
          done
        done
        ${checkType "symlinkJoin" "postBuild" isString "a string" (a.postBuild or "")}
      '';

  installShellFiles = runCommand "install-shell-files" { } ''
    mkdir -p $out/nix-support
    cp ${./install-shell-files.sh} $out/nix-support/setup-hook
  '';

  mkShell =
    args:
    let
      a = checkArgs "mkShell" [
        "name"
        "packages"
        "inputsFrom"
        "buildInputs"
        "nativeBuildInputs"
        "shellHook"
        "meta"
        "passthru"
      ] args;
    in
    runCommand (a.name or "nix-shell") {
      nativeBuildInputs =
        checkType "mkShell" "packages" isDerivationList "a list of packages" (a.packages or [ ])
        ++ (a.nativeBuildInputs or [ ]);
      buildInputs = a.buildInputs or [ ];
    } ''echo "stand-in mkShell environment" >$out'';

  inherit bash python3 applets;
  bashInteractive = bash;
  busybox = applets;
  python3Packages = pythonPackages;
  git = hostProgram {
    pname = "git";
    exports = "export GIT_EXEC_PATH=$out/libexec/git-core GIT_TEMPLATE_DIR=${hostTree "git"}/share/git-core/templates";
    extraCommands = ''
      sed -i "s|\$out|$out|" $out/bin/git
      mkdir -p $out/libexec/git-core
      ln -s $out/bin/git $out/libexec/git-core/git
      for builtin in $(cat ${hostTree "git"}/builtins); do
        ln -s $out/bin/git $out/libexec/git-core/git-$builtin
      done
      ln -s ${hostTree "git"}/scripts/* $out/libexec/git-core/
    '';
  };
  zsh = hostProgram { pname = "zsh"; };
  fish = hostProgram { pname = "fish"; };
  ruff = hostProgram { pname = "ruff"; };
  shellcheck = hostProgram { pname = "shellcheck"; };
  # claudebox makes each session's certificate with it: the package's launch test runs it. Its
  # configuration is the copied one (a build sandbox has no /usr/lib/ssl), unless the caller
  # names another.
  openssl = hostProgram {
    pname = "openssl";
    exports = "export OPENSSL_CONF=\${OPENSSL_CONF:-${hostTree "openssl"}/openssl.cnf}";
  };
  bubblewrap = hostProgram {
    pname = "bubblewrap";
    programs = [ "bwrap" ];
  };

  findutils = runCommand "findutils-busybox" { meta.mainProgram = "find"; } ''
    mkdir -p $out/bin
    ln -s ${applets}/bin/find ${applets}/bin/xargs $out/bin/
  '';
  passt = standInStub {
    pname = "passt";
    programs = [
      "pasta"
      "passt"
    ];
  };
  coreutils = standInStub { pname = "coreutils"; };
  curl = standInStub { pname = "curl"; };
  jq = standInStub { pname = "jq"; };
  ripgrep = standInStub {
    pname = "ripgrep";
    programs = [ "rg" ];
  };
  fd = standInStub { pname = "fd"; };
  nix = standInStub { pname = "nix"; };
  gnumake = standInStub {
    pname = "gnumake";
    programs = [ "make" ];
  };
  # Like the integration probe: claude that runs the snippet it is given (unfree, as claude-code).
  claude-code = standInStub {
    pname = "claude-code";
    programs = [ "claude" ];
    script = ''
      if [ "$1" != --dangerously-skip-permissions ]; then
        echo "stand-in claude: first argument is not --dangerously-skip-permissions: $1" >&2
        exit 99
      fi
      shift
      if [ "$1" = --settings ]; then
        shift 2
      fi
      exec ${shell} -c "''${1:-true}"
    '';
    meta.license = lib.licenses.unfree;
  };
  # No nixfmt runs here: the stand-in checks that each file parses (with the host's nix).
  nixfmt = standInStub {
    pname = "nixfmt";
    script = ''
      status=0
      for target in "$@"; do
        if [ -d "$target" ]; then
          find "$target" -name '*.nix' -not -path '*/.*'
        else
          echo "$target"
        fi
      done | while read -r file; do
        if nix-instantiate --parse "$file" >/dev/null; then
          echo "stand-in nixfmt: $file parses (the real nixfmt formats it)"
        else
          exit 1
        fi
      done || status=1
      exit "$status"
    '';
  };

  hello = standInStub {
    pname = "hello";
    script = "echo 'Hello from the stand-in nixpkgs'";
  };
  cowsay = standInStub {
    pname = "cowsay";
    script = ''echo "the cow says: $*"'';
  };
  broken = runCommand "broken" { } ''
    echo "stand-in broken: this build fails on purpose" >&2
    exit 1
  '';
})
