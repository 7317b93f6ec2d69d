{
  description = "Stand-in nix-index-database for claudebox's tests: comma-with-db from the followed nixpkgs";

  # As the real one: claudebox's flake makes this follow its own nixpkgs (a broken follows would
  # try to fetch this URL, which the tests cannot).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    {
      packages = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (system: {
        comma-with-db = nixpkgs.legacyPackages.${system}.standInStub {
          pname = "comma-with-db";
          programs = [
            ","
            "comma"
          ];
        };
      });
    };
}
