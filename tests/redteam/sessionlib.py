"""Helpers for the multi-session red team (test_rt_sessions*.py): what one session leaves behind
is the attacker's input to the next launch, to another project's session and to the host.

Session 1 plants through the real sandbox (Box.probe, as the unprivileged test user); the
follow-up is a second session, another project's session, or the host's own git (/usr/bin/git,
as the test user, HOME = the box's fake home). Every planted git command only touches a marker
file in a host directory the test owns (never visible inside a sandbox: /tmp there is a tmpfs),
so a marker that exists was written by the host running what a session planted. Wherever the
plant can run without claudebox, the test first runs it so (the positive control) and shows
that the follow-up then does run the planted command or read the secret.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import GIT_STORE, Box, host_git
from rtlib import SH

SESSION_GIT = f"{GIT_STORE}/bin/git"  # the git a session runs (the fixture store's)

# What the generated ~/.gitconfig gives a session's git, for the same plant run on the host.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t.invalid",
}

# Walks every file of the sandbox but /proc /sys /dev /nix, then reads each path given after the
# two marker halves (through its symlinks, two levels down): prints where the marker is found.
WALK_FOR_MARKER = r"""
m="$1$2"; shift 2
find / -path /proc -prune -o -path /sys -prune -o -path /dev -prune -o -path /nix -prune \
    -o -type f -print 2>/dev/null | while read -r f; do grep -l -- "$m" "$f" 2>/dev/null; done
for p in "$@"; do
    { cat "$p"; cat "$p"/* "$p"/*/*; } 2>/dev/null | grep -q -- "$m" && echo "via $p"
done
echo walk-done
"""

# Shell functions for git plants; $M is the marker file the planted command touches.
# evil_config: a git config whose fsmonitor (run by `git status`) touches $M.
# evil_gitdir SRC DST [OBJECTS]: DST becomes a git dir with SRC's HEAD and index, the objects
# and refs of OBJECTS (default SRC) and an evil config.
GIT_PLANT_FUNCTIONS = r"""
M=$1
evil_config() {
    printf '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n'
    printf '\tfsmonitor = "touch %s; true"\n' "$M"
}
evil_gitdir() {
    mkdir -p "$2" || return 1
    for f in HEAD index; do cp -a "$1/$f" "$2/" 2>/dev/null; done
    for f in objects refs packed-refs; do cp -a "${3:-$1}/$f" "$2/" 2>/dev/null; done
    evil_config > "$2/config"
}
"""


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex[:10]}"


def halves(marker: str) -> tuple[str, str]:
    """Handed to a probe as $1 $2 and joined inside: no command line carries the marker whole."""
    middle = len(marker) // 2
    return marker[:middle], marker[middle:]


def user_dir(box: Box, path: Path, mode: int = 0o700) -> Path:
    box.mkdir(path)
    path.chmod(mode)
    return path


def marker_dir(box: Box) -> Path:
    """A host directory for markers, owned by the test user, outside the home and the project."""
    return user_dir(box, box.root / "markers")


def host_sh(
    box: Box, snippet: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """SNIPPET with the fixture's busybox sh, as the test user, on the host (no sandbox)."""
    return subprocess.run(
        box.as_user([SH, "-c", snippet, "host", *args]),
        env=box.env(GIT_IDENTITY),
        cwd=cwd or box.project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def another_project(box: Box, name: str) -> Box:
    """The same user and home, another project directory (another claudebox instance)."""
    project = box.home / name
    box.mkdir(project)
    return dataclasses.replace(box, project=project)


def brief(stderr: str) -> str:
    """claudebox's own lines of STDERR (not the audit) and its last lines, for failure messages."""
    lines = stderr.splitlines()
    own = [line for line in lines if line.startswith(("claudebox:", "bwrap:", "Traceback"))]
    return "\n".join([*own, "...", *lines[-5:]])


def outcome_of(result: subprocess.CompletedProcess[str], planted: str) -> str:
    """ "launched" (the snippet printed `launched` first), "refused" (one `claudebox: error:`
    line naming the planted path, a non-zero exit), or what else happened."""
    lines = result.stderr.splitlines()
    raw = [line for line in lines if line.startswith("bwrap:") or "Traceback" in line]
    if raw:
        return f"raw failure: {raw[0]}"
    if result.stdout.startswith("launched\n"):
        return "launched"
    errors = [line for line in lines if line.startswith("claudebox: error:")]
    if result.returncode != 0 and len(errors) == 1 and planted in errors[0]:
        return "refused"
    return f"exit {result.returncode} without one error naming {planted}: {errors}"


def clean_outcome(result: subprocess.CompletedProcess[str], planted: str) -> str:
    """ "launched" or "refused" (see outcome_of): a launch never fails with a raw bwrap message
    or a traceback, and a refusal is one `claudebox: error:` line that names the planted path."""
    outcome = outcome_of(result, planted)
    assert outcome in ("launched", "refused"), (outcome, brief(result.stderr))
    return outcome


def assert_no_raw_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "bwrap:" not in result.stderr, brief(result.stderr)


def warnings_naming(stderr: str, name: str) -> list[str]:
    lines = stderr.splitlines()
    return [line for line in lines if line.startswith("claudebox: warning:") and name in line]


def symlink_text(link: Path, target: Path, relative: bool) -> str:
    return os.path.relpath(target, link.parent) if relative else str(target)


@dataclass(frozen=True)
class GitWorld:
    """A project with every git layout a session can reach: a linked worktree inside the
    project and one beside it, an absorbed submodule (`sub`, its git dir in .git/modules/sub)
    and a non-absorbed one (`nsub`, its own in-tree .git directory)."""

    project: Path
    wt_in: Path
    wt_out: Path
    sub: Path
    nsub: Path
    upstream: Path

    def checkouts(self) -> list[Path]:
        return [self.project, self.wt_in, self.wt_out, self.sub, self.nsub]


def git_world(box: Box, base: Path, name: str = "proj") -> GitWorld:
    """Builds BASE/NAME (the project), BASE/wt-out and BASE/upstream as the test user (one
    world per BASE)."""
    user_dir(box, base, 0o755)
    project = user_dir(box, base / name, 0o755)
    upstream = user_dir(box, base / "upstream", 0o755)
    world = GitWorld(
        project=project,
        wt_in=project / "wt-in",
        wt_out=base / "wt-out",
        sub=project / "sub",
        nsub=project / "nsub",
        upstream=upstream,
    )
    host_git(box, "init", "-q", cwd=upstream)
    box.write(upstream / "lib.txt", "library\n", mode=0o644)
    host_git(box, "add", "lib.txt", cwd=upstream)
    host_git(box, "commit", "-q", "-m", "lib", cwd=upstream)
    host_git(box, "init", "-q", cwd=project)
    box.write(project / "README", "hello\n", mode=0o644)
    host_git(box, "add", "README", cwd=project)
    host_git(box, "commit", "-q", "-m", "first", cwd=project)
    host_git(box, "submodule", "add", "-q", str(upstream), "sub", cwd=project)
    host_git(box, "clone", "-q", str(upstream), "nsub", cwd=project)
    host_git(box, "config", "-f", ".gitmodules", "submodule.nsub.path", "nsub", cwd=project)
    host_git(box, "config", "-f", ".gitmodules", "submodule.nsub.url", str(upstream), cwd=project)
    host_git(box, "add", ".gitmodules", "nsub", cwd=project)
    host_git(box, "commit", "-q", "-m", "submodules", cwd=project)
    host_git(box, "worktree", "add", "-q", "wt-in", "-b", "inside", cwd=project)
    with open(project / ".git" / "info" / "exclude", "a") as exclude:
        exclude.write("wt-in/\n")
    host_git(box, "worktree", "add", "-q", str(world.wt_out), "-b", "outside", cwd=project)
    assert (world.sub / ".git").is_file() and (world.nsub / ".git").is_dir()
    assert (project / ".git" / "modules" / "sub" / "HEAD").is_file()
    host_followups(box, world)
    return world


def host_followups(box: Box, world: GitWorld) -> None:
    """What the user's shell prompt and hands run after a session: `git status` and
    `git submodule status` in the project, each worktree and each submodule checkout."""
    for checkout in world.checkouts():
        if checkout.is_dir():
            for args in (("status",), ("submodule", "status")):
                host_git(box, *args, cwd=checkout, check=False, setup=False)


# --- shared by the git red-team files -------------------------------------------------------

SESSION_TIMEOUT = 120  # a hang guard: a session of these snippets takes seconds

Run = subprocess.CompletedProcess[str]

# A hook that touches the marker ($M), written to the path given after it.
HOOK = "printf '#!/bin/sh\\ntouch %s\\n' \"$M\""

# Appends core.fsmonitor to the project's tracked .gitconfig (see include_world).
INCLUDED_PLANT = (
    'printf \'[core]\\n\\tfsmonitor = "touch %s; true"\\n\' "$M" >> .gitconfig; echo write=$?'
)


def control_marker(box: Box) -> Path:
    return marker_dir(box) / "control-fired"


def session_marker(box: Box) -> Path:
    return marker_dir(box) / "session-fired"


def plain_world(box: Box, base: Path, name: str = "proj", *, worktree: bool = False) -> Path:
    """BASE/NAME: a repository with one commit (and with `worktree`, a linked worktree inside,
    wt-in); returns the project."""
    user_dir(box, base, 0o755)
    project = user_dir(box, base / name, 0o755)
    host_git(box, "init", "-q", cwd=project)
    box.write(project / "README", "hello\n", mode=0o644)
    host_git(box, "add", "README", cwd=project)
    host_git(box, "commit", "-q", "-m", "first", cwd=project)
    if worktree:
        host_git(box, "worktree", "add", "-q", "wt-in", "-b", "inside", cwd=project)
        with open(project / ".git" / "info" / "exclude", "a") as exclude:
            exclude.write("wt-in/\n")
    return project


def include_world(box: Box, base: Path) -> Path:
    """plain_world whose .git/config includes the project's tracked .gitconfig (`git config
    include.path ../.gitconfig`: projects share aliases and filters so); returns the project."""
    project = plain_world(box, base)
    box.write(project / ".gitconfig", "[alias]\n\tst = status\n", mode=0o644)
    host_git(box, "add", ".gitconfig", cwd=project)
    host_git(box, "commit", "-q", "-m", "shared config", cwd=project)
    host_git(box, "config", "include.path", "../.gitconfig", cwd=project)
    return project


def followups(box: Box, project: Path, *checkouts: str) -> None:
    """The user's prompt and hands after a session: `git status`, `git submodule status`, `git
    log` and a commit (its pre-commit hook) in the project and in each checkout."""
    for checkout in ("", *checkouts):
        directory = project / checkout
        for args in (("status",), ("submodule", "status"), ("log", "-1")):
            host_git(box, *args, cwd=directory, check=False, setup=False)
        host_git(box, "commit", "-q", "--allow-empty", "-m", "f", cwd=directory, check=False)


def session(box: Box, snippet: str, marker: Path) -> Run:
    """SNIPPET (with GIT_PLANT_FUNCTIONS) through the real sandbox: never a raw failure."""
    result = box.probe(GIT_PLANT_FUNCTIONS + snippet, str(marker), timeout=SESSION_TIMEOUT)
    assert_no_raw_failure(result)
    assert "internal error" not in result.stderr, brief(result.stderr)
    return result


def wait_for(path: Path, process: subprocess.Popen[str], what: str) -> None:
    """Until `path` exists (a session's signal), or the session ended without it."""
    deadline = time.monotonic() + SESSION_TIMEOUT  # a hang guard, not a measure
    while not path.exists():
        assert process.poll() is None, f"the session ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {SESSION_TIMEOUT} s"
        time.sleep(0.05)


def start_session(box: Box, snippet: str, marker: Path) -> subprocess.Popen[str]:
    """SNIPPET (with GIT_PLANT_FUNCTIONS) through the real sandbox, left running."""
    return box.start(
        "--yes",
        GIT_PLANT_FUNCTIONS + snippet,
        str(marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def plant_on_host(box: Box, project: Path, snippet: str, marker: Path) -> Run:
    """SNIPPET (with GIT_PLANT_FUNCTIONS) on the host, without claudebox: a positive control."""
    return host_sh(box, GIT_PLANT_FUNCTIONS + snippet, str(marker), cwd=project)


def finish(process: subprocess.Popen[str]) -> Run:
    """A session start_session started, to its end (never a raw failure)."""
    try:
        stdout, stderr = process.communicate(timeout=SESSION_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_no_raw_failure(result)
    return result


def plant_fires_on_the_host_only(box: Box, plant: str, *checkouts: str) -> Run:
    """PLANT (printing `planted` last) in a plain world without claudebox, where the host's
    git follow-ups in the project and CHECKOUTS run it (the positive control), then through a
    session in the box's project, after which they run nothing; the session's result."""
    control = plain_world(box, box.root / "control")
    planted = plant_on_host(box, control, plant, control_marker(box))
    assert planted.stdout.strip().endswith("planted"), planted.stdout + planted.stderr
    followups(box, control, *checkouts)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"
    project = plain_world(box, box.home)
    marker = session_marker(box)
    result = session(box, plant, marker)
    assert result.stdout.strip() == "planted", brief(result.stderr)
    followups(box, project, *checkouts)
    warnings = warnings_naming(result.stderr, str(project))
    assert not marker.exists(), ("the host's git ran the plant", warnings)
    return result
