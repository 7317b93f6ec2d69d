"""Benchmark: what 5 cached profile packages add to `claudebox --dry-run` (median of 20 runs).

The cache hit must cost no nix call: the profile's packages.json points at existing store paths,
and PATH holds no nix at all, so a miss would fail loudly instead of being timed.
Run: python3 bench/packages.py   (needs at least 5 directories in /nix/store)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 20
PACKAGES = 5


def median_ms(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    samples = []
    for _ in range(RUNS + 2):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[2:])  # the first two warm the page cache


def main() -> int:
    store_paths = sorted(str(p) for p in Path("/nix/store").iterdir() if p.is_dir())[:PACKAGES]
    if len(store_paths) < PACKAGES:
        print(f"bench/packages.py: need {PACKAGES} directories in /nix/store", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary) / "home"
        project = home / "project"
        project.mkdir(parents=True)
        profiles = home / ".claudebox" / "profiles"
        profiles.mkdir(parents=True)
        for directory in (home / ".claudebox", profiles):
            directory.chmod(0o700)
        attributes = [f"pkg{index}" for index in range(PACKAGES)]
        (profiles / "five.json").write_text(json.dumps({"packages": attributes}))
        (profiles / "none.json").write_text("{}")
        cache = home / ".claudebox" / "cache" / "packages.json"
        cache.parent.mkdir()
        nixpkgs = "path:/nix/store/bench-nixpkgs"
        entries = {f"{nixpkgs}#{a}": [p] for a, p in zip(attributes, store_paths, strict=True)}
        cache.write_text(json.dumps({"version": 1, "entries": entries}))
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "CLAUDEBOX_NIXPKGS": nixpkgs}
        base = [sys.executable, str(REPO / "claudebox.py"), "--dry-run", "--network", "full"]
        without = median_ms([*base, "--profile", "none"], env, project)
        with_five = median_ms([*base, "--profile", "five"], env, project)
    print(f"--dry-run, profile without packages:      {without:7.2f} ms (median of {RUNS})")
    print(f"--dry-run, profile with {PACKAGES} cached packages: {with_five:7.2f} ms (median)")
    print(f"added by {PACKAGES} cached packages:              {with_five - without:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
