{
  description = "claudebox: run the Claude Code CLI inside a bubblewrap sandbox, secrets kept out";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    nix-index-database = {
      url = "github:nix-community/nix-index-database";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      nix-index-database,
    }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # claude-code is unfree: allow exactly that package, nothing else.
      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          config.allowUnfreePredicate = pkg: lib.getName pkg == "claude-code";
        };

      forAllSystems = f: lib.genAttrs systems (system: f system (pkgsFor system));

      version = (builtins.fromTOML (builtins.readFile ./pyproject.toml)).project.version;

      # Only what the build and the checks read: editing docs or CI does not rebuild anything.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./claudebox.py
          ./build.py
          ./pyproject.toml
          ./README.md # the docs tests hold it to the code
          (lib.fileset.maybeMissing ./tests)
          (lib.fileset.maybeMissing ./bench) # the unit tests run the in-process benchmarks
          (lib.fileset.maybeMissing ./.ci/run)
          (lib.fileset.maybeMissing ./.ci/setup)
        ];
      };

      # The sandbox's `nix shell`/comma use the very nixpkgs this flake was built with (already in
      # the store, no re-download): a flake reference pinned by content hash.
      nixpkgsRef = "path:${nixpkgs.outPath}?narHash=${nixpkgs.narHash}";
    in
    {
      packages = forAllSystems (
        system: pkgs:
        let
          claudebox-pyz = pkgs.stdenvNoCC.mkDerivation {
            pname = "claudebox-pyz";
            inherit version src;
            nativeBuildInputs = [ (pkgs.python3.withPackages (ps: [ ps.shiv ])) ];
            dontConfigure = true;
            buildPhase = ''
              runHook preBuild
              export HOME=$TMPDIR
              python3 build.py --source . --output "$out/claudebox.pyz"
              # The wrapper runs the .pyz's module as bytecode compiled here, from the copy shiv
              # unpacks: a launch then writes nothing, compiles nothing, and skips shiv's
              # bootstrap and site (24 ms before claudebox starts: README "Speed").
              SHIV_ROOT=$TMPDIR/shiv python3 "$out/claudebox.pyz" --version >/dev/null
              python3 -I -c '
              import py_compile, sys
              mode = py_compile.PycInvalidationMode.UNCHECKED_HASH  # run as a script: no source
              py_compile.compile(sys.argv[1], sys.argv[2], "claudebox.py", True, invalidation_mode=mode)
              ' "$TMPDIR"/shiv/claudebox.pyz_*/site-packages/claudebox.py "$out/claudebox.pyc"
              runHook postBuild
            '';
            dontInstall = true;
            # Keep the `#!/usr/bin/env python3` shebang: the .pyz is meant to be copied to other hosts.
            dontFixup = true;
            meta = {
              description = "claudebox as a self-contained shiv zipapp (claudebox.pyz)";
              license = lib.licenses.mit;
              platforms = systems;
            };
          };

          claudebox-bin = pkgs.writeShellApplication {
            name = "claudebox";
            runtimeInputs = [
              pkgs.bubblewrap
              pkgs.passt
              pkgs.openssl # the login relay makes each session's certificate with it
              nix-index-database.packages.${system}.comma-with-db
              pkgs.claude-code
              pkgs.coreutils
              pkgs.git
              pkgs.curl
              pkgs.jq
              pkgs.ripgrep
              pkgs.fd
              pkgs.nix
              pkgs.bashInteractive
            ];
            text = ''
              export CLAUDEBOX_NIXPKGS=${lib.escapeShellArg nixpkgsRef}
              # -I: no PYTHONPATH, PYTHONSTARTUP, user site or current directory from the caller;
              # -S: no site either (claudebox is stdlib-only)
              exec ${pkgs.python3}/bin/python3 -I -S ${claudebox-pyz}/claudebox.pyc "$@"
            '';
            meta = {
              description = "Run the Claude Code CLI inside a bubblewrap sandbox, secrets kept out";
              license = lib.licenses.mit;
              mainProgram = "claudebox";
              platforms = systems;
            };
          };

          # The wrapper plus shell completions generated from claudebox's own parser.
          claudebox = pkgs.symlinkJoin {
            name = "claudebox-${version}";
            paths = [ claudebox-bin ];
            nativeBuildInputs = [ pkgs.installShellFiles ];
            postBuild = ''
              for shell in bash zsh fish; do
                ${pkgs.python3}/bin/python3 -I -S ${claudebox-pyz}/claudebox.pyc --completions "$shell" > "claudebox.$shell"
              done
              installShellCompletion claudebox.bash claudebox.zsh claudebox.fish
            '';
            inherit (claudebox-bin) meta;
          };
        in
        {
          inherit claudebox claudebox-pyz;
          default = claudebox;
        }
      );

      apps = forAllSystems (
        system: _pkgs: {
          default = {
            type = "app";
            program = lib.getExe self.packages.${system}.default;
            meta.description = "Run the Claude Code CLI inside a bubblewrap sandbox";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs: {
          # Unit tests only: the integration tests need root, a test user and network namespaces.
          unit =
            pkgs.runCommand "claudebox-unit-tests"
              {
                nativeBuildInputs = [
                  (pkgs.python3.withPackages (ps: [
                    ps.pytest
                    ps.shiv
                  ]))
                  pkgs.git
                  pkgs.bashInteractive
                  pkgs.zsh
                  pkgs.fish
                  pkgs.openssl # the login relay's session certificate (tests/unit/test_login.py)
                ];
              }
              ''
                cp -r ${src} source
                chmod -R u+w source
                cd source
                export HOME=$TMPDIR
                python3 -m pytest -q -p no:cacheprovider -m "not integration" tests
                touch $out
              '';

          lint =
            pkgs.runCommand "claudebox-lint"
              {
                nativeBuildInputs = [
                  (pkgs.python3.withPackages (ps: [ ps.mypy ]))
                  pkgs.ruff
                  pkgs.shellcheck
                ];
              }
              ''
                cp -r ${src} source
                chmod -R u+w source
                cd source
                export HOME=$TMPDIR
                ruff check --no-cache .
                ruff format --no-cache --check .
                mypy --cache-dir "$TMPDIR/mypy-cache" claudebox.py build.py
                for script in .ci/run .ci/setup; do
                  if [ -e "$script" ]; then shellcheck "$script"; fi
                done
                touch $out
              '';

          # The zipapp runs on its own, as a copy on another host does: it unpacks itself into
          # ~/.claudebox/shiv and nowhere else.
          pyz = pkgs.runCommand "claudebox-pyz-smoke" { } ''
            export HOME=$TMPDIR/home
            mkdir "$HOME"
            cp ${self.packages.${system}.claudebox-pyz}/claudebox.pyz "$TMPDIR/copied.pyz"
            ${pkgs.python3}/bin/python3 "$TMPDIR/copied.pyz" --version
            test "$(ls -A "$HOME")" = .claudebox
            test "$(ls -A "$HOME/.claudebox")" = shiv
            touch $out
          '';

          package = self.packages.${system}.default;
        }
      );

      # `nix develop -c make test`: the unit, docs and packaging tests and the linters (the
      # integration tests need the Debian machine .ci/setup prepares, and skip elsewhere).
      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              (pkgs.python3.withPackages (ps: [
                ps.pytest
                ps.mypy
                ps.shiv
              ]))
              pkgs.ruff
              pkgs.bubblewrap
              pkgs.passt
              pkgs.shellcheck
              pkgs.gnumake
              pkgs.git
              pkgs.zsh
              pkgs.fish
            ];
          };
        }
      );

      # `nix fmt`: nixfmt (RFC 166 style) on the Nix files and ruff on the Python files of the
      # repository, or of the paths given; each tool reports what it did.
      formatter = forAllSystems (
        _system: pkgs:
        pkgs.writeShellApplication {
          name = "claudebox-fmt";
          runtimeInputs = [
            pkgs.nixfmt
            pkgs.ruff
            pkgs.findutils
          ];
          text = ''
            if [ "$#" -eq 0 ]; then
              set -- .
            fi
            mapfile -d "" nix_files < <(
              find "$@" \( -name .git -o -name .venv -o -name result -o -name node_modules \) -prune \
                -o -type f -name '*.nix' -print0
            )
            python_targets=()
            for target in "$@"; do
              case $target in
                *.py | *.pyi) python_targets+=("$target") ;;
                *) if [ -d "$target" ]; then python_targets+=("$target"); fi ;;
              esac
            done
            if [ "''${#nix_files[@]}" -gt 0 ]; then
              nixfmt "''${nix_files[@]}"
              echo "nixfmt: ''${#nix_files[@]} Nix files formatted"
            fi
            if [ "''${#python_targets[@]}" -gt 0 ]; then
              ruff format "''${python_targets[@]}"
            fi
          '';
          meta = {
            description = "Format claudebox's Nix and Python files";
            license = lib.licenses.mit;
          };
        }
      );
    };
}
