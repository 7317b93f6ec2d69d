#!/usr/bin/env python3
"""What finding every git repository in a large project costs: a session and a `--dry-run` in a
project of 100,000 files (a node_modules tree with nested clones), this claudebox against the
one of BASE (default HEAD, the last commit), interleaved, medians of RUNS.

The launch's share is the `--dry-run` difference (it plans exactly as a launch does); the
review's is what the session's difference adds to it. Budgets (issue 22): launch +50 ms,
review +300 ms. Every run after the first reuses the saved survey (unchanged directories are
not listed again): the first, cold survey is timed once, apart.

A benchmark prints numbers and asserts nothing; run it through `bench/launch.sh bench/survey.py`.
"""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch import BUSYBOX_STORE, PROBE_STORE, REPO, RUNS, git, medians, runner

PACKAGES = 1_000  # each 9 directories of 11 files: 99,000 files in 9,000 directories
NESTED = 3


def node_modules(project: Path) -> None:
    for package in range(PACKAGES):
        base = project / "node_modules" / f"pkg{package}"
        for depth in range(9):
            directory = base / "lib" / f"d{depth}" if depth else base
            directory.mkdir(parents=True)
            for number in range(11):
                (directory / f"f{number}.js").write_bytes(b"")
    for number in range(NESTED):
        git("init", "-q", cwd=project / "node_modules" / f"pkg{number * 100}")


def compiled(source: Path, root: Path, name: str) -> list[str]:
    bytecode = root / f"{name}.pyc"
    py_compile.compile(
        str(source),
        cfile=str(bytecode),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return ["/usr/bin/python3", "-I", "-S", str(bytecode)]


def main() -> int:
    if os.geteuid() == 0:
        sys.exit("bench/survey.py: run it as the user who runs claudebox (bench/launch.sh does)")
    base = os.environ.get("BASE", "HEAD")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        old_source = REPO / "claudebox_base.py"  # bench/launch.sh puts it there as root
        if not old_source.exists():
            old_source = root / "claudebox_base.py"
            shown = ["git", "-C", str(REPO), "show", f"{base}:claudebox.py"]
            old_source.write_bytes(subprocess.run(shown, check=True, capture_output=True).stdout)
        now = compiled(REPO / "claudebox.py", root, "claudebox_now")
        before = compiled(old_source, root, "claudebox_base")
        home = root / "home"
        project = home / "project"
        project.mkdir(parents=True)
        git("init", "-q", cwd=project)
        node_modules(project)
        env = {
            "HOME": str(home),
            "PATH": f"{BUSYBOX_STORE}/bin:{PROBE_STORE}/bin:/usr/local/bin:/usr/bin:/bin",
        }
        session = ["--yes", "--network", "full", "true"]
        start = time.perf_counter()
        runner([*now, *session], env, project)()
        cold = (time.perf_counter() - start) * 1000
        numbers = medians(
            {
                f"session {base}": runner([*before, *session], env, project),
                "session now": runner([*now, *session], env, project),
                f"dry-run {base}": runner([*before, "--dry-run"], env, project),
                "dry-run now": runner([*now, "--dry-run"], env, project),
            }
        )
    print(f"medians of {RUNS} interleaved runs (ms), {PACKAGES * 99} files, {NESTED} nested repos")
    for name, value in numbers.items():
        print(f"  {name:<20} {value:7.1f}")
    launch = numbers["dry-run now"] - numbers[f"dry-run {base}"]
    review = numbers["session now"] - numbers[f"session {base}"] - launch
    print(f"launch: {launch:+6.1f} ms  (budget +50)")
    print(f"review: {review:+6.1f} ms  (budget +300)")
    print(f"first session, cold survey: {cold:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
