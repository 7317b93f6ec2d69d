#!/usr/bin/env python3
"""Time to Claude's prompt: what a person feels, from the command to Claude's prompt on the screen.

A benchmark, not a test: it prints medians and ratios and asserts nothing. It times the REAL
Claude Code TUI (the npm package's native binary that `sudo make test` installs in
/opt/claudebox-claude-code, made store-shaped as tests/integration/test_real_claude.py does) on
a pty read through a terminal emulator (tests/integration/ptyterm.py), from the moment the
command starts to the first screen showing Claude's prompt line ("bypass permissions on"):

- bare: `claude --dangerously-skip-permissions`, the user's own Claude on the host;
- under claudebox: `claudebox --yes --network TIER` for full, inet and allowlist, as the Nix
  package's wrapper runs it (`python3 -I -S` on the module's bytecode).

Both run as the unprivileged test user with the same home (a claude.ai login: Claude's
~/.claude/.credentials.json and ~/.claude.json, onboarded, the project trusted), in the network
lab's host namespace (tests/integration/netlab.py), where Anthropic's hosts are played by the
lab's scripted service (tests/integration/anthropic_lab.py: its resolver, its CA in the
system bundle): Claude makes the same startup requests, bare or through claudebox's relay.
Claude's defaults apply, except DISABLE_AUTOUPDATER=1, as the Nix package of Claude Code sets it.
The commands run interleaved (one of each, RUNS times), after one warm-up each.

SCALE=1 adds the scale cases, full tier, each against the plain project: a host ~/.claude with
1,000 entries, a project with 100 submodules, and a 100,000-file project with nested repositories.

Run as root (the lab needs it; every timed command runs as $CLAUDEBOX_TEST_USER, default cbtest):
    sudo .venv/bin/python bench/prompt.py    (RUNS=N, default 10; SCALE=1; TIERS=full,inet;
                                              BASE=COMMIT: that commit's claudebox too)
"""

from __future__ import annotations

import json
import os
import pwd
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

CLAUDE_CODE_BINARY = Path("/opt/claudebox-claude-code/claude")
RUNS = int(os.environ.get("RUNS", "10"))
TIERS = tuple(os.environ.get("TIERS", "full,inet,allowlist").split(","))
SCALE = os.environ.get("SCALE") == "1"
BASE = os.environ.get("BASE")  # a commit: its claudebox.py is timed too (before and after)
PROMPT_LINE = "bypass permissions on"  # Claude's status line under its prompt box
TIMEOUT = 60.0  # seconds to the prompt before a run counts as broken
CLAUDE_ENTRIES = 1000
SUBMODULES = 100
BIG_FILES = 100_000
NESTED_REPOSITORIES = 20
ENV = {"DISABLE_AUTOUPDATER": "1"}  # what the Nix package of Claude Code sets


def missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "run it as root (the network lab needs it; it drops to the test user itself)"
    if not CLAUDE_CODE_BINARY.exists():
        return (
            f"Claude Code is missing ({CLAUDE_CODE_BINARY}): `sudo make test` installs it "
            "(the npm package @anthropic-ai/claude-code)"
        )
    for program in ("bwrap", "pasta", "ip", "openssl", "patchelf", "git"):
        if shutil.which(program, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin") is None:
            return f"{program} is not installed"
    try:
        import pyte  # noqa: F401
    except ImportError:
        return "pyte, the terminal emulator, is missing (pip install -r requirements-dev.txt)"
    try:
        pwd.getpwnam(os.environ.get("CLAUDEBOX_TEST_USER", "cbtest"))
    except KeyError:
        return "the test user (cbtest) does not exist: `sudo make test` creates it"
    return None


reason = missing_prerequisite()
if reason:
    sys.exit(f"bench/prompt.py (a benchmark, not a test): {reason}")

import test_real_claude as real  # noqa: E402
from anthropic_lab import AnthropicLab, running_anthropic_lab  # noqa: E402
from harness import PYTHON, Box, install_fixture_store  # noqa: E402
from netlab import NetLab  # noqa: E402
from ptyterm import CTRL_C, Terminal  # noqa: E402


def time_to_prompt(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """Milliseconds from starting ARGV on an 80x24 pty to PROMPT_LINE on its screen; then
    Claude is ended as a person does (Ctrl-C twice), the terminal closed."""
    start = time.perf_counter()
    term = Terminal(argv, env=env, cwd=cwd, columns=80, lines=24)
    try:
        term.wait_for_text(PROMPT_LINE, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - start) * 1000
        for _attempt in range(3):
            term.type(CTRL_C)
            try:
                term.wait_for_text("again to exit", timeout=5)
                break
            except AssertionError:
                continue
        term.type(CTRL_C)
        term.wait_for_exit(timeout=30)
        return elapsed
    finally:
        term.close()


def medians(commands: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each command's RUNS timings, interleaved (round N of each command: sample N)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        command()  # warm-up: page cache, the instance's first session, Claude's own first start
    for run in range(RUNS):
        for name, command in commands.items():
            samples[name].append(command())
        print(f"  run {run + 1}/{RUNS} done", file=sys.stderr, flush=True)
    return samples


def spread(values: list[float]) -> float:
    """Half the interquartile range."""
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return (quartiles[2] - quartiles[0]) / 2


def ratio(samples: dict[str, list[float]], name: str, against: str) -> str:
    """The median of the per-round ratios NAME / AGAINST (paired: a round's load is shared)
    and the ratio of the medians."""
    paired = [a / b for a, b in zip(samples[name], samples[against], strict=True)]
    median = statistics.median(samples[name]) / statistics.median(samples[against])
    return f"{statistics.median(paired):5.2f} (paired; medians: {median:4.2f})"


def git(box: Box, *args: str, cwd: Path) -> None:
    subprocess.run(
        box.as_user(["/usr/bin/git", "-c", "protocol.file.allow=always", *args]),
        cwd=cwd,
        check=True,
        capture_output=True,
        env={"HOME": str(box.home), "PATH": "/usr/bin:/bin", "GIT_AUTHOR_NAME": "b",
             "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"},
    )  # fmt: skip


def with_submodules(box: Box, count: int) -> Path:
    library = box.mkdir(box.root / "library")
    git(box, "init", "-q", cwd=library)
    box.write(library / "README", "library\n", mode=0o644)
    git(box, "add", "README", cwd=library)
    git(box, "commit", "-qm", "first", cwd=library)
    project = box.mkdir(box.home / "with-submodules")
    git(box, "init", "-q", cwd=project)
    for number in range(count):
        git(box, "submodule", "add", "-q", str(library), f"modules/m{number:03}", cwd=project)
    return project


def big_project(box: Box, files: int, nested: int) -> Path:
    """FILES small files in a git project, spread over NESTED nested repositories and plain
    directories of 500 files each."""
    project = box.mkdir(box.home / "big")
    git(box, "init", "-q", cwd=project)
    per_directory = 500
    for number in range(files // per_directory):
        if number < nested:
            directory = project / f"nested-{number:02}"
        else:
            directory = project / "src" / f"d{number:03}"
        directory.mkdir(parents=True, exist_ok=True)
        for index in range(per_directory):
            (directory / f"f{index:03}.txt").write_text("x\n")
    owner = f"{box.user.pw_uid}:{box.user.pw_gid}"
    subprocess.run(["chown", "-R", owner, str(project)], check=True)
    for number in range(nested):
        git(box, "init", "-q", cwd=project / f"nested-{number:02}")
    return project


def compiled(module: Path) -> Path:
    """MODULE's bytecode, as flake.nix compiles it for its wrapper (both readable by all)."""
    bytecode = module.with_suffix(".pyc")
    py_compile.compile(
        str(module),
        cfile=str(bytecode),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    for path in (module, bytecode):
        path.chmod(0o644)
    return bytecode


def prepare_home(box: Box, anthropic: AnthropicLab, version: str, projects: Sequence[Path]) -> None:
    """A claude.ai login, onboarded, PROJECTS trusted, Bypass Permissions' warning answered."""
    anthropic.login(box.home, box.user, version, trusted=projects)
    settings = {"skipDangerousModePermissionPrompt": True}
    box.write(box.home / ".claude" / "settings.json", json.dumps(settings))


def main() -> int:
    install_fixture_store()
    patchelf = shutil.which("patchelf")
    assert patchelf is not None
    real.install_store_claude(patchelf)
    subprocess.run(["chmod", "-R", "a+rX", str(real.CLAUDE_STORE)], check=True)
    version = subprocess.run(
        [str(real.CLAUDE_STORE / "bin" / "claude"), "--version"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    user = pwd.getpwnam(os.environ.get("CLAUDEBOX_TEST_USER", "cbtest"))
    root = Path(tempfile.mkdtemp(prefix="claudebox-prompt-", dir="/tmp"))
    root.chmod(0o755)
    lab = NetLab()
    try:
        lab.up()
        with running_anthropic_lab(lab) as anthropic:
            return measure(root, user, lab, anthropic, version)
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)


def measure(
    root: Path, user: pwd.struct_passwd, lab: NetLab, anthropic: AnthropicLab, version: str
) -> int:
    shutil.copy2(REPO / "claudebox.py", root / "claudebox.py")
    bytecode = compiled(root / "claudebox.py")
    base = None
    if BASE:
        source = root / "claudebox_base.py"
        source.write_bytes(
            subprocess.run(
                ["git", "-C", str(REPO), "show", f"{BASE}:claudebox.py"],
                check=True,
                capture_output=True,
            ).stdout
        )
        base = compiled(source)
    home = root / "home"
    home.mkdir(mode=0o700)
    box = Box(root, home, home / "proj", user, netns=lab.host_ns, mountns=anthropic.mountns)
    box.chown(home)
    box.mkdir(box.project)
    git(box, "init", "-q", cwd=box.project)
    projects = [box.project]
    if SCALE:
        many_home = box.mkdir(root / "many")
        many = Box(root, many_home, many_home / "proj", user, lab.host_ns, anthropic.mountns)
        many.mkdir(many.project)
        git(many, "init", "-q", cwd=many.project)
        submodules = with_submodules(box, SUBMODULES)
        big = big_project(box, BIG_FILES, NESTED_REPOSITORIES)
        projects += [submodules, big]
    prepare_home(box, anthropic, version, projects)
    if SCALE:
        prepare_home(many, anthropic, version, [many.project])
        for number in range(CLAUDE_ENTRIES):
            entry = many.home / ".claude" / f"entry-{number:04}"
            many.mkdir(entry) if number % 2 else many.write(entry, "x\n")

    claude = f"{real.CLAUDE_STORE}/bin/claude"

    def env_for(which: Box) -> dict[str, str]:
        return which.env(real.with_store_claude(which, ENV, {"TERM": "xterm-256color"}))

    def bare(which: Box = box, cwd: Path | None = None) -> Callable[[], float]:
        argv = which.as_user([claude, "--dangerously-skip-permissions"])
        return lambda: time_to_prompt(argv, env_for(which), cwd or which.project)

    def boxed(
        tier: str, which: Box = box, cwd: Path | None = None, module: Path = bytecode
    ) -> Callable[[], float]:
        argv = which.as_user([PYTHON, "-I", "-S", str(module), "--yes", "--network", tier])
        env = env_for(which) | {"CLAUDEBOX_EXTRA_ENV": ",".join(ENV)}
        return lambda: time_to_prompt(argv, env, cwd or which.project)

    commands = {"bare claude": bare()}
    commands |= {f"claudebox {tier}": boxed(tier) for tier in TIERS}
    if base is not None:
        commands |= {f"claudebox {tier} at {BASE}": boxed(tier, module=base) for tier in TIERS}
    if SCALE:
        commands |= {
            f"full, {CLAUDE_ENTRIES} ~/.claude entries": boxed("full", many),
            f"full, {SUBMODULES} submodules": boxed("full", cwd=submodules),
            f"full, {BIG_FILES} files": boxed("full", cwd=big),
            f"bare, {CLAUDE_ENTRIES} ~/.claude entries": bare(many),
            f"bare, {SUBMODULES} submodules": bare(cwd=submodules),
            f"bare, {BIG_FILES} files": bare(cwd=big),
        }
    samples = medians(commands)
    print(
        f"time to Claude's prompt ({version}): medians of {RUNS} interleaved runs (ms, ± half "
        f"the interquartile range); {os.uname().machine}, {os.cpu_count()} cores"
    )
    for name, values in samples.items():
        print(f"  {name:<36} {statistics.median(values):6.0f}  ±{spread(values):4.0f}")
    targets = {"full": 1.05, "inet": 1.10, "allowlist": 1.10}
    for tier in TIERS:
        paired = ratio(samples, f"claudebox {tier}", "bare claude")
        print(f"claudebox {tier} / bare: {paired} (target <= {targets.get(tier, 1.10):.2f})")
        if base is not None:
            name = f"claudebox {tier} at {BASE}"
            print(f"{name} / bare: {ratio(samples, name, 'bare claude')}")
    if SCALE:
        for case in (f"{CLAUDE_ENTRIES} ~/.claude entries", f"{SUBMODULES} submodules",
                     f"{BIG_FILES} files"):  # fmt: skip
            paired = ratio(samples, f"full, {case}", "claudebox full")
            print(f"full, {case} / plain: {paired} (target <= 1.20)")
            print(f"bare, {case} / plain: {ratio(samples, f'bare, {case}', 'bare claude')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
