"""Red team across sessions, git: what a session leaves in git's files must not make the host's
own git run a command (its `git status`/`git submodule status` in the project, in every
worktree and submodule checkout), nor make claudebox's next launch bind another repository.

Classes (issue 12): the parent of a protected path renamed away and recreated (the parent is
pinned); git redirection (`commondir` in a git dir that has none, the `.git` file of a linked
worktree or submodule inside the project, a new `.git` in a subdirectory whose config points
elsewhere): existing redirection files are read-only, created ones are reported after the
session and moved aside unless inert, and the next launch binds read-write only the current
directory or one of its ancestors.

Every plant is first run without claudebox on an identical copy (the positive control: the
host's git then runs the planted fsmonitor and touches its marker).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Box, host_git
from sessionlib import (
    GIT_PLANT_FUNCTIONS,
    SESSION_GIT,
    WALK_FOR_MARKER,
    another_project,
    assert_no_raw_failure,
    brief,
    canary,
    clean_outcome,
    git_world,
    halves,
    host_followups,
    host_sh,
    marker_dir,
    user_dir,
    warnings_naming,
)

# name: (the directory renamed away, the recreation with an evil config or redirection, and how
# the attack shows on the host: "git" = a host git follow-up touches the marker).
PARENT_ATTACKS = {
    ".git/worktrees/wt-out": (
        "mv .git/worktrees/wt-out .git/worktrees/wt-out.old; echo mv=$?; "
        "cp -a .git/worktrees/wt-out.old .git/worktrees/wt-out; "
        "evil_gitdir .git .git/x-evil; echo ../../x-evil > .git/worktrees/wt-out/commondir"
    ),
    ".git/worktrees/wt-in": (
        "mv .git/worktrees/wt-in .git/worktrees/wt-in.old; echo mv=$?; "
        "cp -a .git/worktrees/wt-in.old .git/worktrees/wt-in; "
        "evil_gitdir .git .git/x-evil; echo ../../x-evil > .git/worktrees/wt-in/commondir"
    ),
    ".git/worktrees": (
        "mv .git/worktrees .git/worktrees.old; echo mv=$?; "
        "cp -a .git/worktrees.old .git/worktrees; evil_gitdir .git .git/x-evil; "
        "for w in wt-in wt-out; do echo ../../x-evil > .git/worktrees/$w/commondir; done"
    ),
    ".git/modules/sub": (
        "mv .git/modules/sub .git/modules/sub.old; echo mv=$?; "
        "cp -a .git/modules/sub.old .git/modules/sub; evil_config > .git/modules/sub/config"
    ),
    ".git/modules": (
        "mv .git/modules .git/modules.old; echo mv=$?; "
        "cp -a .git/modules.old .git/modules; evil_config > .git/modules/sub/config"
    ),
    "sub": (  # the absorbed submodule's checkout: parent of its .git file
        "mv sub sub.old; echo mv=$?; mkdir sub; cp -a sub.old/. sub/; "
        "evil_gitdir .git/modules/sub .git/x-evil-sub; "
        "echo 'gitdir: ../.git/x-evil-sub' > sub/.git"
    ),
    "wt-in": (  # the linked worktree inside the project: parent of its .git file
        "mv wt-in wt-in.old; echo mv=$?; mkdir wt-in; "
        "evil_gitdir .git/worktrees/wt-in .git/x-evil .git; "
        "echo 'gitdir: ../.git/x-evil' > wt-in/.git"
    ),
    "nsub/.git": (  # a non-absorbed submodule's in-tree git dir
        "mv nsub/.git nsub/.git.old; echo mv=$?; cp -a nsub/.git.old nsub/.git; "
        "evil_config > nsub/.git/config"
    ),
    "nsub": ("mv nsub nsub.old; echo mv=$?; cp -a nsub.old nsub; evil_config > nsub/.git/config"),
}


def plant_control(box: Box, snippet: str) -> str:
    """The positive control: SNIPPET on an identical world, without claudebox: the host's git
    follow-ups then run the planted command. Returns the snippet's output."""
    world = git_world(box, box.root / "control")
    marker = marker_dir(box) / "control-fired"
    planted = host_sh(box, GIT_PLANT_FUNCTIONS + snippet, str(marker), cwd=world.project)
    assert not marker.exists()
    host_followups(box, world)
    assert marker.exists(), f"control: the host's git did not run the plant\n{planted.stderr}"
    return planted.stdout


def session_marker(box: Box) -> Path:
    return marker_dir(box) / "session-fired"


# The attacks on the common git dir, also from a session of the linked worktree outside the
# project (it binds the common git dir read-write; the main worktree's files are not there).
GIT_DIR_PARENTS = [name for name in PARENT_ATTACKS if name.startswith(".git/")]
PARENT_CASES = [(name, "project") for name in PARENT_ATTACKS] + [
    (name, "wt-out") for name in GIT_DIR_PARENTS
]


@pytest.mark.parametrize(("parent", "start"), PARENT_CASES)
def test_a_protected_paths_parent_cannot_be_renamed_and_recreated(
    box: Box, parent: str, start: str
) -> None:
    """Protected leaves are mount points, their parents were not: moved away with the
    read-only leaves inside and recreated with an evil config or redirection, the host's git
    follow-ups ran it. Every directory between the project root and a protected path is
    pinned: the rename fails."""
    snippet = 'cd "$2" || exit 1; ' + PARENT_ATTACKS[parent]
    control = git_world(box, box.root / "control")
    control_marker = marker_dir(box) / "control-fired"
    cwd = control.project if start == "project" else control.wt_out
    planted = host_sh(
        box, GIT_PLANT_FUNCTIONS + snippet, str(control_marker), str(control.project), cwd=cwd
    )
    assert "mv=0" in planted.stdout, planted.stderr
    host_followups(box, control)
    assert control_marker.exists(), (
        f"control: the host's git did not run the plant\n{planted.stderr}"
    )
    world = git_world(box, box.home)
    marker = session_marker(box)
    cwd = world.project if start == "project" else world.wt_out
    result = box.probe(
        GIT_PLANT_FUNCTIONS + snippet, str(marker), str(world.project), cwd=cwd, timeout=120
    )
    assert_no_raw_failure(result)
    host_followups(box, world)
    found = {"renamed": "mv=0" in result.stdout, "the host's git ran the plant": marker.exists()}
    assert "mv=" in result.stdout, brief(result.stderr)
    assert found == {"renamed": False, "the host's git ran the plant": False}


def test_the_project_claude_directory_cannot_be_renamed_and_recreated(box: Box) -> None:
    """.claude/settings.json is read-only, .claude (its parent) was not a mount point: moved
    away with the read-only file inside, a new .claude with hooks took its place."""
    box.write(box.project / ".claude" / "settings.json", '{"permissions": {}}\n', mode=0o644)
    box.write(box.project / ".claude" / "commands" / "review.md", "review\n", mode=0o644)
    hook = '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "evil"}]}]}}'
    snippet = (
        "echo c > .claude/control.md && echo control-ok; "
        "mv .claude .claude.old; echo mv=$?; mkdir -p .claude/commands; "
        f"echo '{hook}' > .claude/settings.json; echo evil > .claude/commands/evil.md"
    )
    control = another_project(box, "control")
    box.write(control.project / ".claude" / "settings.json", "{}\n", mode=0o644)
    assert "mv=0" in host_sh(box, snippet, cwd=control.project).stdout
    assert "evil" in (control.project / ".claude" / "settings.json").read_text()
    result = box.probe(snippet)
    assert result.stdout.splitlines()[0] == "control-ok", brief(result.stderr)
    found = {
        "renamed": (box.project / ".claude.old").exists(),
        "settings": (box.project / ".claude" / "settings.json").read_text(),
        "new command": (box.project / ".claude" / "commands" / "evil.md").exists(),
    }
    assert found == {"renamed": False, "settings": '{"permissions": {}}\n', "new command": False}


def test_a_non_absorbed_submodules_git_dir_is_as_protected_as_the_projects(box: Box) -> None:
    """nsub/.git is a git directory in the tree (a clone recorded as a gitlink): its config and
    hooks are what the host's `git status` in the project runs."""
    snippet = (
        "evil_config > nsub/.git/config; echo config=$?; "
        "printf '#!/bin/sh\\ntouch %s\\n' \"$M\" > nsub/.git/hooks/post-checkout; echo hook=$?; "
        "echo c > nsub/control.txt && echo control-ok"
    )
    assert plant_control(box, snippet).splitlines() == ["config=0", "hook=0", "control-ok"]
    world = git_world(box, box.home)
    config = (world.nsub / ".git" / "config").read_text()
    marker = session_marker(box)
    result = box.probe(GIT_PLANT_FUNCTIONS + snippet, str(marker))
    assert result.stdout.splitlines()[-1] == "control-ok", brief(result.stderr)
    host_followups(box, world)
    found = {
        "config unchanged": (world.nsub / ".git" / "config").read_text() == config,
        "hook written": (world.nsub / ".git" / "hooks" / "post-checkout").exists(),
        "the host's git ran the plant": marker.exists(),
    }
    assert found == {
        "config unchanged": True,
        "hook written": False,
        "the host's git ran the plant": False,
    }


# name: (the plant, the redirection file it creates or rewrites, created at launch or not)
REDIRECTIONS = {
    "commondir in .git": (
        "evil_gitdir .git .git/x-evil; echo x-evil > .git/commondir; echo write=$?",
        ".git/commondir",
        False,
    ),
    "commondir in .git/modules/sub": (
        "evil_gitdir .git/modules/sub .git/x-evil; echo ../../x-evil > .git/modules/sub/commondir;"
        " echo write=$?",
        ".git/modules/sub/commondir",
        False,
    ),
    "commondir in nsub/.git": (
        "evil_gitdir nsub/.git nsub/.git/x-evil; echo x-evil > nsub/.git/commondir; echo write=$?",
        "nsub/.git/commondir",
        False,
    ),
    "gitfile of the worktree inside": (
        "evil_gitdir .git/worktrees/wt-in .git/x-evil .git; "
        "echo 'gitdir: ../.git/x-evil' > wt-in/.git; echo write=$?",
        "wt-in/.git",
        True,
    ),
    "gitfile of the submodule": (
        "evil_gitdir .git/modules/sub .git/x-evil; "
        "echo 'gitdir: ../.git/x-evil' > sub/.git; echo write=$?",
        "sub/.git",
        True,
    ),
}


@pytest.mark.parametrize("name", list(REDIRECTIONS))
def test_git_redirection_files_cannot_make_the_host_run_a_command(box: Box, name: str) -> None:
    """An existing redirection file cannot be rewritten; a created one is reported after the
    session and moved aside (it is not inert): the host's git follow-ups run nothing."""
    snippet, path, existing = REDIRECTIONS[name]
    plant_control(box, snippet)
    world = git_world(box, box.home)
    marker = session_marker(box)
    result = box.probe(GIT_PLANT_FUNCTIONS + snippet, str(marker))
    assert_no_raw_failure(result)
    host_followups(box, world)
    written = "write=0" in result.stdout
    reported = bool(warnings_naming(result.stderr, str(box.project / path)))
    found = {
        "an existing one rewritten": existing and written,
        "a created one not reported": not existing and written and not reported,
        "the host's git ran the plant": marker.exists(),
    }
    assert not any(found.values()), (found, brief(result.stderr))


# A new git dir or .git file in a subdirectory `planted`: its config sets core.worktree to $3
# and core.fsmonitor to the marker $1; recorded in the project's index as a gitlink, so the
# host's `git status` in the project recurses into it.
NEW_GIT_DIR = r"""
{git} init -q planted && {git} -C planted commit -q --allow-empty -m x &&
{git} -C planted read-tree HEAD && head=$({git} -C planted rev-parse HEAD) &&
{git} -C planted config core.repositoryformatversion 0 &&
{git} -C planted config core.fsmonitor "touch $1; true" &&
{git} -C planted config core.worktree "$3" &&
{git} update-index --add --cacheinfo "160000,$head,planted" && echo planted
"""
NEW_GIT_FILE = r"""
{git} init -q --separate-git-dir="$PWD/.planted-git" planted &&
{git} -C planted commit -q --allow-empty -m x && {git} -C planted read-tree HEAD &&
head=$({git} -C planted rev-parse HEAD) &&
{git} -C planted config core.repositoryformatversion 0 &&
{git} -C planted config core.fsmonitor "touch $1; true" &&
{git} -C planted config core.worktree "$3" &&
{git} update-index --add --cacheinfo "160000,$head,planted" && echo planted
"""


def other_repository(box: Box, secret: str) -> Path:
    """Another project of the user, with a secret in its git dir and a linked worktree."""
    other = user_dir(box, box.home / "other", 0o755)
    host_git(box, "init", "-q", cwd=other)
    box.write(other / "notes.txt", "notes\n", mode=0o644)
    host_git(box, "add", "notes.txt", cwd=other)
    host_git(box, "commit", "-q", "-m", "notes", cwd=other)
    (other / ".git" / "description").write_text(f"{secret}\n")
    host_git(box, "worktree", "add", "-q", str(box.home / "other-wt"), "-b", "wt", cwd=other)
    return other


@pytest.mark.parametrize("kind", ["dir", "file"])
@pytest.mark.parametrize("worktree", ["home", "other"])
def test_a_new_git_in_a_subdirectory_whose_config_points_elsewhere(
    box: Box, kind: str, worktree: str
) -> None:
    """core.worktree is honoured with repositoryformatversion = 0: the host's git in the planted
    directory (or the project's, through the gitlink) works on another directory and runs the
    planted fsmonitor. The new .git is reported after the session and moved aside."""
    other = other_repository(box, canary())
    target = str(box.home if worktree == "home" else other)
    snippet = (NEW_GIT_DIR if kind == "dir" else NEW_GIT_FILE).format(git=SESSION_GIT)
    # Control: without claudebox the host's git follow-ups run the plant.
    control = git_world(box, box.root / "control")
    control_marker = marker_dir(box) / "control-fired"
    planted = host_sh(box, snippet, str(control_marker), "-", target, cwd=control.project)
    assert planted.stdout.strip() == "planted", planted.stderr
    toplevel = host_git(box, "rev-parse", "--show-toplevel", cwd=control.project / "planted")
    assert toplevel.stdout.strip() == target
    host_git(box, "status", cwd=control.project, check=False, setup=False)
    assert control_marker.exists()

    world = git_world(box, box.home)
    marker = session_marker(box)
    result = box.probe(snippet, str(marker), "-", target)
    assert result.stdout.strip() == "planted", brief(result.stderr)
    host_followups(box, world)
    if (world.project / "planted").is_dir():
        host_git(box, "status", cwd=world.project / "planted", check=False, setup=False)
    found = {
        "reported": bool(warnings_naming(result.stderr, str(world.project / "planted" / ".git"))),
        "the host's git ran the plant": marker.exists(),
    }
    assert found == {"reported": True, "the host's git ran the plant": False}


def next_launch_exposes(box: Box, cwd: Path, other: Path, secret: str, planted: str) -> list[str]:
    """What a launch from CWD exposes of another repository (where its secret was read, which
    directories it could write); a launch that does not start must refuse naming PLANTED."""
    snippet = (
        "echo launched; "
        f"echo pwned > {other}/pwned; echo pwned > {other}/.git/pwned; "
        f"echo pwned > {box.home}/pwned; " + WALK_FOR_MARKER
    )
    result = box.probe(snippet, *halves(secret), str(other / ".git"), cwd=cwd, timeout=180)
    exposed = []
    if clean_outcome(result, planted) == "launched":
        assert result.stdout.splitlines()[-1] == "walk-done", brief(result.stderr)
        exposed += [f"read {line}" for line in result.stdout.splitlines()[1:-1]]
    for path in (other / "pwned", other / ".git" / "pwned", box.home / "pwned"):
        if path.exists():
            exposed.append(f"wrote {path}")
            path.unlink()
    return exposed


# name: (the plant, run from the project root with $1 = the other repository; the directory
# the next launch also starts from; the planted path)
FOREIGN_GIT_DIRS = {
    "commondir naming another repository": (
        'mkdir -p deeper; echo "$1/.git" > .git/commondir && echo planted',
        "deeper",
        ".git/commondir",
    ),
    "gitfile naming another repository's worktree admin dir": (
        'mkdir planted && echo "gitdir: $1/.git/worktrees/other-wt" > planted/.git && echo planted',
        "planted",
        "planted/.git",
    ),
    "gitfile naming another repository's git dir": (
        'mkdir planted && echo "gitdir: $1/.git" > planted/.git && echo planted',
        "planted",
        "planted/.git",
    ),
    "gitfile naming a git dir of its own whose commondir names another repository": (
        "mkdir -p planted/gd && echo 'gitdir: gd' > planted/.git && "
        "echo 'ref: refs/heads/main' > planted/gd/HEAD && "
        'echo "$1/.git" > planted/gd/commondir && echo planted',
        "planted",
        "planted/gd/commondir",
    ),
    "core.worktree naming another repository": (
        f"{SESSION_GIT} init -q planted && "
        f"{SESSION_GIT} -C planted config core.repositoryformatversion 0 && "
        f'{SESSION_GIT} -C planted config core.worktree "$1" && echo planted',
        "planted",
        "planted/.git",
    ),
}


@pytest.mark.parametrize("name", list(FOREIGN_GIT_DIRS))
def test_a_planted_redirection_never_gets_another_repository_bound(box: Box, name: str) -> None:
    """claudebox asks git where the repository is: a planted answer naming another repository
    of the user (its git dir exists on the host, not in the sandbox) must not make the next
    launch bind it: the directory bound read-write is the cwd or one of its ancestors."""
    plant, start, planted = FOREIGN_GIT_DIRS[name]
    secret = canary()
    other = other_repository(box, secret)
    # Control: planted without claudebox, the host's git follows it into the other repository.
    control = git_world(box, box.root / "control")
    assert host_sh(box, plant, str(other), cwd=control.project).stdout.strip() == "planted"
    layout = host_git(
        box,
        "rev-parse",
        "--path-format=absolute",
        "--show-toplevel",
        "--git-common-dir",
        cwd=control.project / start,
    )
    assert str(other) in layout.stdout, layout.stdout
    world = git_world(box, box.home)
    result = box.probe(plant, str(other))
    assert_no_raw_failure(result)
    exposed = {
        str(cwd): next_launch_exposes(box, cwd, other, secret, planted)
        for cwd in (world.project, world.project / start)
    }
    assert exposed == {str(world.project): [], str(world.project / start): []}
