"""The in-process network benchmarks still run against the current claudebox (a benchmark whose
calls no longer match the code measures nothing). Tiny sizes: this checks they run, never how
fast anything is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    "argv",
    [
        ["proxy.py", "--runs", "2", "--mib", "1"],
        ["transparent.py", "--runs", "2", "--mib", "1", "--transfers", "1"],
        ["routes.py", "--runs", "2"],
    ],
)
def test_the_benchmark_runs(argv):
    done = subprocess.run(
        [sys.executable, str(BENCH / argv[0]), *argv[1:]],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "median" in done.stdout
