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
          (lib.fileset.maybeMissing ./tests)
          (lib.fileset.maybeMissing ./.ci/run)
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
              runHook postBuild
            '';
            dontInstall = true;
            # Keep the `#!/usr/bin/env python3` shebang: the .pyz is meant to be copied to other hosts.
            dontFixup = true;
            meta = {
              description = "claudebox as a self-contained shiv zipapp (claudebox.pyz)";
              platforms = systems;
            };
          };

          claudebox-bin = pkgs.writeShellApplication {
            name = "claudebox";
            runtimeInputs = [
              pkgs.bubblewrap
              pkgs.passt
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
              # -I: no PYTHONPATH, PYTHONSTARTUP or user site from the caller (and 8 ms faster)
              exec ${pkgs.python3}/bin/python3 -I ${claudebox-pyz}/claudebox.pyz "$@"
            '';
            meta = {
              description = "Run the Claude Code CLI inside a bubblewrap sandbox, secrets kept out";
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
              export SHIV_ROOT=$TMPDIR
              for shell in bash zsh fish; do
                ${pkgs.python3}/bin/python3 ${claudebox-pyz}/claudebox.pyz --completions "$shell" > "claudebox.$shell"
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
                if [ -e .ci/run ]; then shellcheck .ci/run; fi
                touch $out
              '';

          # The zipapp starts and reports its version (shiv unpacks into $HOME/.shiv).
          pyz = pkgs.runCommand "claudebox-pyz-smoke" { } ''
            export HOME=$TMPDIR
            ${pkgs.python3}/bin/python3 ${self.packages.${system}.claudebox-pyz}/claudebox.pyz --version
            touch $out
          '';

          package = self.packages.${system}.default;
        }
      );

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
            ];
          };
        }
      );

      # RFC 166 style (nixpkgs' `nixfmt` is the RFC-style formatter; `nixfmt-rfc-style` is its old alias).
      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt);
    };
}
