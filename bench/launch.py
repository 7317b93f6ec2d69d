#!/usr/bin/env python3
"""Launch speed: claudebox against a hand-written bwrap, the zipapp against the module, inet
against full. Medians of RUNS interleaved runs; a benchmark prints numbers, it asserts nothing.

Run it through bench/launch.sh (which builds the pyz and, as root, switches to the test user).
It needs the integration fixture's store (`make test` installs it): a fake claude that runs the
shell snippet it is given, so what is timed is claudebox and the sandbox, not Claude.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The integration fixture's store paths (tests/integration/harness.py installs them).
BUSYBOX_STORE = Path("/nix/store/0c7xq5lsj2f4yqnwmzhg7r2y0i9kd4lk-claudebox-test-busybox")
PROBE_STORE = Path("/nix/store/7k2qd1mfw8r4xz0bnj5c9hy3s6vl2ga8-claudebox-test-claude-probe")

RUNS = int(os.environ.get("RUNS", "20"))


def timed(command: Callable[[], None]) -> float:
    start = time.perf_counter()
    command()
    return (time.perf_counter() - start) * 1000


def runner(argv: list[str], env: dict[str, str], cwd: Path) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(
            argv, env=env, cwd=cwd, check=True, capture_output=True, stdin=subprocess.DEVNULL
        )

    return run


def medians(commands: dict[str, Callable[[], None]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        command()  # warm-up: page cache, instance state, shiv's extraction
    for _ in range(RUNS):
        for name, command in commands.items():
            samples[name].append(timed(command))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    if os.geteuid() == 0:
        sys.exit("bench/launch.py: run it as the user who runs claudebox (bench/launch.sh does)")
    if not (PROBE_STORE / "bin" / "claude").exists():
        sys.exit("bench/launch.py: the fixture store is missing; run `make test` (as root) first")
    pyz = REPO / "dist" / "claudebox.pyz"
    module = REPO / "claudebox.py"
    python = sys.executable
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary) / "home"
        project = home / "project"
        project.mkdir(parents=True)
        env = {
            "HOME": str(home),
            "PATH": f"{BUSYBOX_STORE}/bin:{PROBE_STORE}/bin:/usr/local/bin:/usr/bin:/bin",
            "SHIV_ROOT": str(Path(temporary) / "shiv"),
        }
        session = [python, str(module), "--yes"]
        dry = subprocess.run(
            [python, str(module), "--dry-run", "--network", "full", "true"],
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        bwrap_only = dry[dry.index("env -i ") :]  # without claudebox's host preparation
        subprocess.run(
            ["/bin/bash", "-c", dry], env=env, cwd=project, check=True, capture_output=True
        )
        numbers = medians(
            {
                "claudebox full": runner([*session, "--network", "full", "true"], env, project),
                "bwrap by hand": runner(["/bin/bash", "-c", bwrap_only], env, project),
                "claudebox inet": runner([*session, "--network", "inet", "true"], env, project),
                "dry-run module": runner([python, str(module), "--dry-run"], env, project),
                "dry-run pyz": runner([python, str(pyz), "--dry-run"], env, project),
            }
        )
    print(f"medians of {RUNS} runs (ms); {os.uname().machine}, {os.cpu_count()} cores")
    for name, value in numbers.items():
        print(f"  {name:<16} {value:7.1f}")
    full, by_hand = numbers["claudebox full"], numbers["bwrap by hand"]
    print(f"claudebox / hand-written bwrap (full tier): {full / by_hand:.2f} (target <= 1.25)")
    extra = numbers["dry-run pyz"] - numbers["dry-run module"]
    print(f"zipapp extra over the module (--dry-run):   {extra:+.1f} ms (target <= 15)")
    print(f"inet extra over full:                       {numbers['claudebox inet'] - full:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
