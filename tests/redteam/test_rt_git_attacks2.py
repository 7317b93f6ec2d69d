"""Red team across sessions, git, second round (issues 22/23 follow-up): what the review after a
session, the survey at each launch and the placeholders still let through.

Every plant is first run without claudebox on an identical copy (the positive control: the
host's git then runs the planted fsmonitor or hook and touches its marker); then through the
sandbox, and the host's git runs as the user would during or after the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Box, host_git
from sessionlib import (
    HOOK,
    INCLUDED_PLANT,
    SESSION_GIT,
    brief,
    control_marker,
    finish,
    followups,
    include_world,
    plain_world,
    plant_on_host,
    session,
    session_marker,
    start_session,
    wait_for,
    warnings_naming,
)

# --- a relative core.hooksPath, resolved where git runs --------------------------------------


def hooks_world(box: Box, base: Path, kind: str) -> tuple[Path, str]:
    """A project whose git runs hooks from a relative core.hooksPath somewhere claudebox does
    not look; returns (the project, the checkout whose `git commit` runs them)."""
    project = plain_world(box, base)
    if kind.startswith("a linked worktree"):
        # the shared config's .githooks (husky-style, tracked): in wt-in, wt-in/.githooks
        box.write(project / ".githooks" / ".keep", "", mode=0o644)
        (project / ".githooks").chmod(0o755)
        host_git(box, "add", ".githooks", cwd=project)
        host_git(box, "commit", "-q", "-m", "hooks", cwd=project)
        host_git(box, "config", "core.hooksPath", ".githooks", cwd=project)
        if kind == "a linked worktree the session adds":
            return project, "wt-new"
        host_git(box, "worktree", "add", "-q", "wt-in", "-b", "inside", cwd=project)
        return project, "wt-in"
    upstream = plain_world(box, base, "upstream")
    if kind == "an absorbed submodule":
        host_git(box, "submodule", "add", "-q", str(upstream), "sub", cwd=project)
        host_git(box, "commit", "-q", "-m", "sub", cwd=project)
        host_git(box, "config", "core.hooksPath", ".githooks", cwd=project / "sub")
        return project, "sub"
    if kind == "a clone with a separate git dir":
        separate = f"--separate-git-dir={project}/vendor/.lib-git"
        host_git(box, "clone", "-q", separate, str(upstream), "vendor/lib", cwd=project)
        host_git(box, "config", "core.hooksPath", ".githooks", cwd=project / "vendor" / "lib")
        return project, "vendor/lib"
    if kind == "the user's global config, a nested clone":
        host_git(box, "clone", "-q", str(upstream), "vendor/lib", cwd=project)
        return project, "vendor/lib"
    if kind == "the user's global config, the project":
        return project, ""
    assert kind == "a hooks path below an absent directory"
    host_git(box, "config", "core.hooksPath", ".husky/_", cwd=project)
    return project, ""


HOOKS_KINDS = {
    "a linked worktree": "wt-in/.githooks",
    "a linked worktree the session adds": "wt-new/.githooks",
    "an absorbed submodule": "sub/.githooks",
    "a clone with a separate git dir": "vendor/lib/.githooks",
    "the user's global config, a nested clone": "vendor/lib/.githooks",
    "the user's global config, the project": ".githooks",
    "a hooks path below an absent directory": ".husky/_",
}


@pytest.mark.parametrize("kind", list(HOOKS_KINDS))
def test_a_relative_hooks_path_is_protected_where_git_resolves_it(box: Box, kind: str) -> None:
    """git takes a relative core.hooksPath from the top of the work tree it runs in;
    config_reference_walks resolves it from the config's git directory (the parent of a .git,
    else the git directory itself) and the launch only from the project's top (git.hooks_path,
    not created when absent). So the shared config's `.githooks` is wt-in/.githooks in a
    linked worktree (one there at launch, or one the session adds: its admin directory's
    commondir naming .git is judged inert, and nothing looks at its hooks); an absorbed
    submodule's (in .git/modules/sub/config) is sub/.githooks, not .git/modules/sub/.githooks;
    a clone with --separate-git-dir's is vendor/lib/.githooks; a relative core.hooksPath in
    the user's ~/.gitconfig applies to every repository (and an absent one at the top is only
    watched); a hooks path below an absent directory (`.husky/_` before `.husky` exists) is
    not created, and the new directory is reported but left in place. The session writes a
    pre-commit hook there. Shows: the marker after the host's `git commit` in that checkout."""
    hooks = HOOKS_KINDS[kind]
    plant = f"mkdir -p {hooks} && {HOOK} > {hooks}/pre-commit && chmod +x {hooks}/pre-commit"
    plant += " && echo planted"
    if kind == "a linked worktree the session adds":
        plant = f"{SESSION_GIT} worktree add -q wt-new && {plant}"
    if kind.startswith("the user's global config"):
        box.write(box.home / ".gitconfig", "[core]\n\thooksPath = .githooks\n", mode=0o644)
    control, checkout = hooks_world(box, box.root / "control", kind)
    planted = plant_on_host(box, control, plant, control_marker(box))
    assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control, checkout)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project, checkout = hooks_world(box, box.home, kind)
    assert project == box.project
    marker = session_marker(box)
    result = session(box, plant, marker)
    followups(box, project, checkout)
    found = {
        "written": result.stdout.strip() == "planted",
        "warnings": warnings_naming(result.stderr, f"{project}/{hooks}"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- more configs than the launch reads for includes -----------------------------------------

# 2,000 submodule git directories in .git/modules (HEAD and an empty config each): more configs
# than GIT_INCLUDE_LIMIT, which config_reference_walks reads from the last walk back, so the
# project's own .git/config (the first walk) is never read for its include.path.
MANY_MODULES = r"""
mkdir -p .git/modules && cd .git/modules && mkdir $(seq 2000 | sed 's/^/m/') &&
for d in m*; do echo 'ref: refs/heads/main' > $d/HEAD; : > $d/config; done && echo planted
"""


def test_an_included_file_stays_protected_beside_many_submodule_git_dirs(box: Box) -> None:
    """config_reference_walks reads at most GIT_INCLUDE_LIMIT (2,000) configs for include.path
    and core.hooksPath, the project's .git/config last. Session 1 makes 2,000 submodule git
    directories in .git/modules (HEAD and an empty config each: inert, left in place); at the
    next launch the project's include.path is never read, so the .gitconfig it includes is
    writable, and session 2 appends core.fsmonitor to it. Shows: the marker after the host's
    `git status` in the project."""
    control = include_world(box, box.root / "control")
    planted = plant_on_host(box, control, INCLUDED_PLANT, control_marker(box))
    assert planted.stdout.strip() == "write=0", planted.stdout + planted.stderr
    followups(box, control)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = include_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    first = session(box, MANY_MODULES, marker)
    assert first.stdout.strip() == "planted", brief(first.stderr)
    second = session(box, INCLUDED_PLANT, marker)
    followups(box, project)
    found = {
        "written in session 2": second.stdout.strip() == "write=0",
        "warnings": warnings_naming(second.stderr, f"{project}/.gitconfig"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- a read-only pin the host's own rename detaches -------------------------------------------

# The session waits for the host's signal, then appends core.fsmonitor to .git/config.
AFTER_HOST_REWRITE = """
: > ready; while [ ! -e host-rewrote ]; do sleep 0.05; done
evil_config >> .git/config; echo write=$? > planted-signal; cat planted-signal
"""


def test_a_config_the_host_rewrites_during_the_session_stays_read_only(box: Box) -> None:
    """.git/config is read-only inside by a bind mount of the file. git on the host rewrites
    its config by renaming config.lock over it (`git config`, `git push -u`, `git branch -u`,
    `git remote add` in another terminal while the session runs); a rename over a mount point
    of another mount namespace detaches that mount (Linux >= 3.18), so inside, .git/config is
    then the host's new file, writable. The session appends core.fsmonitor; the review skips
    .git/config (present at launch). Shows: the write succeeds, and the marker after the
    host's `git status`."""
    control = plain_world(box, box.root / "control")
    planted = plant_on_host(
        box, control, "evil_config >> .git/config && echo planted", control_marker(box)
    )
    assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    marker = session_marker(box)
    process = start_session(box, AFTER_HOST_REWRITE, marker)
    try:
        wait_for(project / "ready", process, "the session's start")
        host_git(box, "config", "user.name", "someone", cwd=project)  # the user's other terminal
        box.write(project / "host-rewrote", "", mode=0o644)
    finally:
        result = finish(process)
    followups(box, project)
    found = {
        "written": "write=0" in result.stdout,
        "warnings": warnings_naming(result.stderr, f"{project}/.git/config"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], (found, brief(result.stderr))


# --- a placeholder a concurrent session removes ------------------------------------------------

WAITER = ": > b-ready; while [ ! -e b-stop ]; do sleep 0.05; done; echo b-done"
AFTER_OTHER_SESSION = """
: > a-ready; while [ ! -e a-go ]; do sleep 0.05; done
evil_gitdir .git .git/x-evil; echo x-evil > .git/commondir; echo write=$?
"""


def test_a_concurrent_sessions_placeholders_stay_protected(box: Box) -> None:
    """Two sessions of one project (claudebox allows it: the instance lock is shared). Session
    B starts first and makes the placeholder .git/commondir ("."); session A starts and finds
    it present: bound read-only as the user's. B ends and removes its placeholder: unlinking a
    mount point of another mount namespace detaches it, so in A .git/commondir is absent and
    writable. A writes `x-evil` there (a git dir with core.fsmonitor); A's review skips
    .git/commondir (present at A's launch). Shows: the write succeeds, and the marker after the
    host's `git status` in the project."""
    plant = "evil_gitdir .git .git/x-evil && echo x-evil > .git/commondir && echo planted"
    control = plain_world(box, box.root / "control")
    planted = plant_on_host(box, control, plant, control_marker(box))
    assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    marker = session_marker(box)
    other = start_session(box, WAITER, marker)
    try:
        wait_for(project / "b-ready", other, "session B's start")
        attacker = start_session(box, AFTER_OTHER_SESSION, marker)
        try:
            wait_for(project / "a-ready", attacker, "session A's start")
            box.write(project / "b-stop", "", mode=0o644)
            ended = finish(other)
            assert "b-done" in ended.stdout, brief(ended.stderr)
            box.write(project / "a-go", "", mode=0o644)
        finally:
            result = finish(attacker)
    finally:
        if other.poll() is None:
            other.kill()
    followups(box, project)
    found = {
        "written": "write=0" in result.stdout,
        "warnings": warnings_naming(result.stderr, f"{project}/.git/commondir"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], (found, brief(result.stderr))
