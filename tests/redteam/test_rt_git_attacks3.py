"""Red team across sessions, git, third round: what the newest mechanisms (a module or worktree
git directory walked once, config.worktree placeholders only where worktreeConfig is on) and the
review still let through.

Every plant is first run without claudebox on an identical copy (the positive control: the
host's git then runs the planted fsmonitor and touches its marker); then through the sandbox,
and the host's git runs as the user would during or after the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Box, host_git
from sessionlib import (
    GIT_PLANT_FUNCTIONS,
    SESSION_TIMEOUT,
    brief,
    control_marker,
    finish,
    followups,
    git_world,
    plain_world,
    plant_fires_on_the_host_only,
    plant_on_host,
    session,
    session_marker,
    start_session,
    wait_for,
)

# --- a full git directory named like a linked worktree's admin directory -----------------------

# .git/worktrees/evil holds HEAD, objects, refs and a config with core.fsmonitor, and no
# commondir: git takes it for its own common directory and reads its config; src/.git names it.
WORKTREE_NAMED = (
    "mkdir -p src && evil_gitdir .git .git/worktrees/evil && "
    "echo 'gitdir: ../.git/worktrees/evil' > src/.git && echo planted"
)


def test_a_full_git_dir_named_like_a_worktree_admin_dir_is_judged(box: Box) -> None:
    """covered_by_git_dir_walk takes every directory right below .git/worktrees for a linked
    worktree's admin directory, which git_dir_walks walks for commondir, config.worktree and
    gitdir only (an admin directory's config and hooks are the common directory's). A
    directory there without a commondir is its own common directory to git: its config and
    hooks are read. The session makes .git/worktrees/evil a git dir with core.fsmonitor and
    src/.git naming it: src/.git is judged "a git directory whose own files are judged", and
    nothing walks its config. Shows: the marker after the host's `git status` in src/."""
    plant_fires_on_the_host_only(box, WORKTREE_NAMED, "src")


# --- an absorbed submodule's git directory, while the session runs -----------------------------

# name: (the setup in the submodule on the host, the plant)
MODULE_PLANTS = {
    "commondir": (
        (),
        "evil_gitdir .git/modules/sub .git/modules/sub/x-evil && "
        "echo x-evil > .git/modules/sub/commondir",
    ),
    "config.worktree": (
        (
            ("config", "core.repositoryformatversion", "1"),
            ("config", "extensions.worktreeConfig", "true"),
        ),
        "evil_config > .git/modules/sub/config.worktree",
    ),
}


@pytest.mark.parametrize("name", list(MODULE_PLANTS))
def test_an_absorbed_submodules_redirections_never_act_while_the_session_runs(
    box: Box, name: str
) -> None:
    """An absent commondir or config.worktree of every git directory is made for the session
    as a read-only placeholder (test_rt_git_during_session); since a module git directory is
    walked once, by git_dir_walks' module loop (gitfile_target_walks skips a target it
    covers), an absorbed submodule's (.git/modules/sub) gets none: the walks there carry no
    placeholder, the absent paths are only watched. The session writes
    .git/modules/sub/commondir naming a git dir with core.fsmonitor (or, where the submodule's
    config turns worktreeConfig on, its config.worktree) while the user's prompt runs
    `git status` in another terminal, in sub/ and in the project (which recurses into sub).
    Shows: the write succeeds and the marker before the session ends."""
    setup, plant = MODULE_PLANTS[name]
    control = git_world(box, box.root / "control")
    for args in setup:
        host_git(box, *args, cwd=control.sub)
    planted = plant_on_host(box, control.project, plant, control_marker(box))
    assert planted.returncode == 0, planted.stderr
    host_git(box, "status", cwd=control.sub, check=False, setup=False)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    world = git_world(box, box.home)
    assert world.project == box.project
    for args in setup:
        host_git(box, *args, cwd=world.sub)
    marker = session_marker(box)
    snippet = (
        f"{plant}; echo write=$? > planted-signal; "
        "while [ ! -e host-looked ]; do sleep 0.05; done; cat planted-signal"
    )
    process = start_session(box, snippet, marker)
    try:
        wait_for(world.project / "planted-signal", process, "the plant")
        for where in (world.sub, world.project):  # the user's prompt in another terminal
            host_git(box, "status", cwd=where, check=False, setup=False)
        fired_during = marker.exists()
        box.write(world.project / "host-looked", "", mode=0o644)
    finally:
        result = finish(process)
    found = {
        "written": "write=0" in result.stdout,
        "the host's git ran the plant during the session": fired_during,
    }
    assert not found["the host's git ran the plant during the session"], (
        found,
        brief(result.stderr),
    )


# --- a pointer git cannot hold, which claudebox cannot read ------------------------------------

# a/.git says `gitdir: x<NUL>y` (git reads up to the NUL; os.path.realpath raises ValueError on
# it); src/.git is a copy of .git with core.fsmonitor: a new repository the review quarantines.
NUL_POINTER = (
    "mkdir -p a src && printf 'gitdir: x\\000y\\n' > a/.git && "
    "cp -a .git src/.git && evil_config > src/.git/config && echo planted"
)


def test_a_gitfile_holding_a_nul_byte_leaves_the_review_whole(box: Box) -> None:
    """gitfile_target joins and realpaths what a .git file names: a NUL byte in it makes
    os.path.realpath raise ValueError, which nothing catches. The session leaves a/.git saying
    `gitdir: x<NUL>y` and a new repository src/.git whose config has core.fsmonitor. The review
    builds its walks first (protected_walks -> gitfile_target_walks) and dies there with an
    internal error: src/.git/config is never judged nor moved aside, the placeholders are not
    removed, and every later launch in the project dies the same way. Shows: an internal error
    after the session and at the next launch, and the marker after the host's `git status` in
    src/."""
    control = plain_world(box, box.root / "control")
    planted = plant_on_host(box, control, NUL_POINTER, control_marker(box))
    assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control, "src")
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    result = box.probe(GIT_PLANT_FUNCTIONS + NUL_POINTER, str(marker), timeout=SESSION_TIMEOUT)
    followups(box, project, "src")
    again = box.probe("echo launched", timeout=SESSION_TIMEOUT)
    found = {
        "review": "internal error" not in result.stderr and "Traceback" not in result.stderr,
        "next launch": "internal error" not in again.stderr and "Traceback" not in again.stderr,
        "the host's git ran the plant": marker.exists(),
    }
    assert found == {
        "review": True,
        "next launch": True,
        "the host's git ran the plant": False,
    }, (found, brief(result.stderr), brief(again.stderr))


# --- an included file below a directory absent at launch ---------------------------------------

INCLUDED_BELOW_ABSENT = (
    "mkdir -p .config/git && "
    'printf \'[core]\\n\\tfsmonitor = "touch %s; true"\\n\' "$M" > .config/git/shared'
)


def include_below_absent_world(box: Box, base: Path) -> Path:
    """plain_world whose .git/config includes ../.config/git/shared, which is not there yet (a
    shared config the project's tooling writes on first use)."""
    project = plain_world(box, base)
    host_git(box, "config", "include.path", "../.config/git/shared", cwd=project)
    return project


def test_an_included_file_below_an_absent_directory_never_acts_while_the_session_runs(
    box: Box,
) -> None:
    """An included file absent at launch gets an empty read-only placeholder, but only when its
    directory exists (plan_protected makes a placeholder where the walk's last step is the path
    itself): include.path = ../.config/git/shared with no .config is only watched. The session
    makes .config/git/shared with core.fsmonitor while the user's prompt runs `git status` in
    another terminal (a core.hooksPath below an absent directory is made and pinned for the
    session; an include is not). Shows: the write succeeds and the marker before the session
    ends."""
    control = include_below_absent_world(box, box.root / "control")
    planted = plant_on_host(box, control, INCLUDED_BELOW_ABSENT, control_marker(box))
    assert planted.returncode == 0, planted.stderr
    host_git(box, "status", cwd=control, check=False, setup=False)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = include_below_absent_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    snippet = (
        f"{INCLUDED_BELOW_ABSENT}; echo write=$? > planted-signal; "
        "while [ ! -e host-looked ]; do sleep 0.05; done; cat planted-signal"
    )
    process = start_session(box, snippet, marker)
    try:
        wait_for(project / "planted-signal", process, "the plant")
        host_git(box, "status", cwd=project, check=False, setup=False)  # another terminal
        fired_during = marker.exists()
        box.write(project / "host-looked", "", mode=0o644)
    finally:
        result = finish(process)
    found = {
        "written": "write=0" in result.stdout,
        "the host's git ran the plant during the session": fired_during,
    }
    assert not found["the host's git ran the plant during the session"], (
        found,
        brief(result.stderr),
    )


# --- a file of the user's that reads like a placeholder -----------------------------------------


def test_an_empty_included_file_of_the_users_outlives_the_session(box: Box) -> None:
    """remove_placeholders removes, after every session, the path of each walk that carries a
    placeholder wherever it holds the placeholder's text, whoever made it ("an earlier one's
    left behind"): an included file's placeholder is empty, so the user's own empty included
    file, there before the launch (a tracked .gitconfig the project keeps for local additions),
    is deleted by a session that did nothing. Shows: .gitconfig is gone after the session and
    the host's `git status` lists it deleted."""
    project = plain_world(box, box.home)
    assert project == box.project
    box.write(project / ".gitconfig", "", mode=0o644)
    host_git(box, "add", ".gitconfig", cwd=project)
    host_git(box, "commit", "-q", "-m", "a shared config, empty for now", cwd=project)
    host_git(box, "config", "include.path", "../.gitconfig", cwd=project)
    result = session(box, "echo done", session_marker(box))
    assert result.stdout.strip() == "done", brief(result.stderr)
    status = host_git(box, "status", "--porcelain", cwd=project, check=False, setup=False)
    found = {
        ".gitconfig is there": (project / ".gitconfig").exists(),
        "git status": status.stdout.strip(),
    }
    assert found == {".gitconfig is there": True, "git status": ""}, found
