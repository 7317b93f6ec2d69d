#!/usr/bin/env python3
"""Launch speed against its floors, every figure from one interleaved run (medians of RUNS).

What is timed is a whole session with the integration fixture's fake claude (`true` inside), so
the figures are claudebox's and the sandbox's own, not Claude's:

- the floor: the sandbox claudebox builds, written by hand as one bwrap command (the
  `--dry-run` bwrap command with its descriptor binds as path binds and the stage's pins as
  bwrap binds: what a hand-written command needs for the same protection);
- claudebox as users run it, full tier: as the Nix package's wrapper runs it (`python3 -I -S`
  on the module's bytecode compiled at build time), the `.pyz` copied to another host
  (`python3 claudebox.pyz`, unpacked by its first run) and `python3 claudebox.py`;
- inet over full, against pasta's own start (`pasta --config-net -- true`);
- a ~/.claude with 200 top-level entries, and a project with 100 submodules, against a plain
  home and project (the wrapper's way).

A benchmark prints numbers and asserts nothing. Run it through bench/launch.sh, which builds the
pyz and, as root, switches to the test user; it needs the fixture store (`make test` installs
it).
"""

from __future__ import annotations

import json
import os
import py_compile
import re
import shlex
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
GIT = "/usr/bin/git"
RUNS = int(os.environ.get("RUNS", "20"))
CLAUDE_ENTRIES = 200
# The standard modules a full-tier launch imports (argparse and json bring re, enum, functools,
# collections; the stage adds ctypes and resource).
LAUNCH_IMPORTS = (
    "argparse",
    "collections.abc",
    "contextlib",
    "ctypes",
    "errno",
    "fcntl",
    "json",
    "resource",
    "select",
    "shlex",
    "signal",
    "struct",
)
SUBMODULES = 100


def runner(argv: list[str], env: dict[str, str], cwd: Path) -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, check=False
        )
        if result.returncode != 0:
            sys.exit(f"bench: {shlex.join(argv)} exited {result.returncode}:\n{result.stderr}")

    return run


def medians(commands: dict[str, Callable[[], None]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        command()  # warm-up: page cache, instance state, the zipapp's unpacking
    for _ in range(RUNS):
        for name, command in commands.items():
            start = time.perf_counter()
            command()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def hand_written(dry_run: str) -> str:
    """The --dry-run bwrap command as a person would write it for the same sandbox."""
    opening, _, script = dry_run.partition("\n")  # bash /dev/fd/3 3<<'END', the script, END
    dry_run = script.removesuffix(opening.split("'")[1] + "\n")
    start = dry_run.index("--stage '") + len("--stage '")
    end = dry_run.index("' -- \\\n", start)
    spec = json.loads(dry_run[start:end])
    body = dry_run[end + len("' -- \\\n") :]
    paths = {fd: path for fd, path in spec["opened"]}
    body = re.sub(
        r"--(ro-)?bind-fd (\d+) ",
        lambda m: f"--{m.group(1) or ''}bind {shlex.quote(paths[int(m.group(2))])} ",
        body,
    )
    binds = ""
    for path, kind, read_only, source in spec["pins"]:
        if kind == "symlink":
            continue  # bwrap cannot pin a symlink: a hand-written command leaves it open
        quoted = shlex.quote(path)
        if source:
            binds += f"  --bind {shlex.quote(source)} {quoted} \\\n"
        else:
            binds += f"  --{'ro-' if read_only else ''}bind {quoted} {quoted} \\\n"
    # What the stage makes at launch (the login's variables, certificate and placeholders): a
    # hand-written command gives those descriptors something to read too.
    launch_data = "".join(f" {fd}< /dev/null" for fd in spec["launch_data"].values())
    # A protected path's placeholder is a bind's source, and a session removes it at its end:
    # made again (a shell builtin, in a subshell only when absent); the rest of the host's
    # preparation is made once, by the first session.
    lines = dry_run[: dry_run.index("env -i ")].splitlines(keepends=True)
    setup = "".join(line for line in lines if not line.startswith("mkdir -p "))
    command = body.replace("  --chdir", binds + "  --chdir", 1).rstrip("\n") + launch_data
    return f"{setup}env -i {command}"


def git(*args: str, cwd: Path) -> None:
    subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True)


def with_submodules(root: Path, count: int) -> Path:
    library = root / "library"
    library.mkdir()
    git("init", "-q", cwd=library)
    (library / "README").write_text("library\n")
    git("add", "README", cwd=library)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "first", cwd=library)
    project = root / "home" / "with-submodules"
    project.mkdir(parents=True)
    git("init", "-q", cwd=project)
    for number in range(count):
        git(
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            str(library),
            f"modules/m{number:03}",
            cwd=project,
        )
    return project


def main() -> int:
    if os.geteuid() == 0:
        sys.exit("bench/launch.py: run it as the user who runs claudebox (bench/launch.sh does)")
    if not (PROBE_STORE / "bin" / "claude").exists():
        sys.exit("bench/launch.py: the fixture store is missing; run `make test` (as root) first")
    pyz = REPO / "dist" / "claudebox.pyz"
    module = REPO / "claudebox.py"
    python = "/usr/bin/python3"
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        bytecode = root / "claudebox.pyc"  # what flake.nix compiles for its wrapper
        py_compile.compile(
            str(module),
            cfile=str(bytecode),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        wrapper = [python, "-I", "-S", str(bytecode)]
        home = root / "home"
        project = home / "project"
        project.mkdir(parents=True)
        git("init", "-q", cwd=project)
        many_home = root / "many" / "home"
        (many_home / "project").mkdir(parents=True)
        claude_dir = many_home / ".claude"
        claude_dir.mkdir()
        for number in range(CLAUDE_ENTRIES):
            entry = claude_dir / f"entry-{number:03}"
            entry.mkdir() if number % 2 else entry.write_text("x\n")
        submodules = with_submodules(root, SUBMODULES)
        env = {
            "HOME": str(home),
            "PATH": f"{BUSYBOX_STORE}/bin:{PROBE_STORE}/bin:/usr/local/bin:/usr/bin:/bin",
            "SHIV_ROOT": str(root / "shiv"),
        }
        many_env = {**env, "HOME": str(many_home)}
        dry = subprocess.run(
            [python, str(module), "--dry-run", "--network", "full", "true"],
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        subprocess.run(  # claudebox's state directories, as a first session makes them
            [python, str(module), "--yes", "--network", "full", "true"],
            env=env,
            cwd=project,
            check=True,
            capture_output=True,
        )
        session = ["--yes", "--network", "full", "true"]
        numbers = medians(
            {
                "bwrap by hand": runner(["/bin/bash", "-c", hand_written(dry)], env, project),
                "wrapper full": runner([*wrapper, *session], env, project),
                "pyz full": runner([python, str(pyz), *session], env, project),
                "module full": runner([python, str(module), *session], env, project),
                "python floor": runner([python, "-I", "-S", "-c", "pass"], env, project),
                "python + imports": runner(
                    [python, "-I", "-S", "-c", f"import {', '.join(LAUNCH_IMPORTS)}"], env, project
                ),
                "wrapper inet": runner(
                    [*wrapper, "--yes", "--network", "inet", "true"], env, project
                ),
                "pasta alone": runner(["pasta", "--config-net", "-q", "--", "true"], env, project),
                "wrapper 200 entries": runner(
                    [*wrapper, *session], many_env, many_home / "project"
                ),
                "wrapper 100 submods": runner([*wrapper, *session], env, submodules),
                "wrapper dry-run": runner([*wrapper, "--dry-run"], env, project),
            }
        )
    print(f"medians of {RUNS} interleaved runs (ms); {os.uname().machine}, {os.cpu_count()} cores")
    for name, value in numbers.items():
        print(f"  {name:<20} {value:7.1f}")
    floor, full = numbers["bwrap by hand"], numbers["wrapper full"]
    inet_extra = numbers["wrapper inet"] - full
    print(f"wrapper full / bwrap by hand:      {full / floor:5.2f}  (target <= 2.5)")
    print(f"pyz full / bwrap by hand:          {numbers['pyz full'] / floor:5.2f}  (target <= 2.5)")
    print(f"module / wrapper (full):           {numbers['module full'] / full:5.2f}  (<= 1.3)")
    print(f"module / pyz (full):               {numbers['module full'] / numbers['pyz full']:5.2f}")
    print(
        f"inet - full: {inet_extra:+6.1f} ms; pasta alone: {numbers['pasta alone']:.1f} ms"
        f"  (target <= pasta + 10)"
    )
    print(
        f"{CLAUDE_ENTRIES} ~/.claude entries / plain:        "
        f"{numbers['wrapper 200 entries'] / full:5.2f}  (<= 1.2)"
    )
    print(
        f"{SUBMODULES} submodules / plain:              "
        f"{numbers['wrapper 100 submods'] / full:5.2f}  (<= 1.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
