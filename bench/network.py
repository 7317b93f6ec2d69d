#!/usr/bin/env python3
"""Launch overhead of the network tiers: wall time of a whole claudebox session, per tier.

Runs `claudebox.py --yes --network TIER CLAUDE_ARGS` RUNS times per tier (after one warm-up
run each, tiers interleaved so drift hits all alike) from the current directory, and prints the
median per tier and inet's and allowlist's overhead against full. A benchmark, not a test:
nothing is asserted.

    python3 bench/network.py                       # claude --version inside
    python3 bench/network.py --runs 20 -- -p hi    # any claude arguments after --

Run it as the user who runs claudebox, in a project directory. The integration fixture's fake
claude makes the numbers claudebox's own: put its store directories first on PATH and pass a
shell snippet (`-- true`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLAUDEBOX = Path(__file__).resolve().parents[1] / "claudebox.py"
TIERS = ("full", "inet", "allowlist", "none")


def session(tier: str, claude_args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(CLAUDEBOX), "--yes", "--network", tier, *claude_args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(
            f"bench: --network {tier} exited {result.returncode}:\n"
            + result.stderr.decode(errors="replace")[-2000:]
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per tier (default 10)")
    parser.add_argument("claude_args", nargs="*", help="claude arguments (default --version)")
    args = parser.parse_args()
    claude_args = args.claude_args or ["--version"]
    times: dict[str, list[float]] = {tier: [] for tier in TIERS}
    for tier in TIERS:
        session(tier, claude_args)  # warm-up: page cache, instance state
    for _ in range(args.runs):
        for tier in TIERS:
            times[tier].append(session(tier, claude_args))
    medians = {tier: statistics.median(values) for tier, values in times.items()}
    print(f"claudebox session wall time, median of {args.runs} runs ({' '.join(claude_args)}):")
    for tier in TIERS:
        spread = f"min {min(times[tier]) * 1000:.0f} / max {max(times[tier]) * 1000:.0f} ms"
        print(f"  {tier:<9} {medians[tier] * 1000:7.1f} ms   ({spread})")
    for tier in ("inet", "allowlist"):
        overhead = medians[tier] - medians["full"]
        print(f"{tier} overhead against full: {overhead * 1000:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
