"""Plan pieces added by the red-team work (tests/redteam): the pinned .git, hooks created when
absent, the git surface walked in a real git directory (worktrees, modules), the keyring guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakehost import PROJECT, PROJECT_TREE, make_host

import claudebox as cb
from claudebox import Kind, Pin

GIT = f"{PROJECT}/.git"


def plan_for(**changes: object) -> cb.SandboxPlan:
    return cb.build_plan(make_host(**changes), cb.Options(tier=cb.Tier.NONE))


def test_the_git_directory_is_pinned_before_its_read_only_parts_and_never_read_only():
    pins = [pin.path for pin in plan_for().stage.pins]
    assert pins.index(GIT) < pins.index(f"{GIT}/config") < pins.index(f"{GIT}/hooks")
    pin = next(pin for pin in plan_for().stage.pins if pin.path == GIT)
    assert pin == Pin(GIT, Kind.DIR, False, reason="pinned")


def test_absent_hooks_are_created_on_the_host_and_pinned_read_only():
    tree = {path: kind for path, kind in PROJECT_TREE.items() if path != ".git/hooks"}
    plan = plan_for(tree=tree)
    assert cb.HostSetup(f"{GIT}/hooks") in plan.host_setup
    assert Pin(f"{GIT}/hooks", Kind.DIR, True, reason="read-only") in plan.stage.pins
    assert f"{GIT}/hooks" not in plan.watched


def test_outside_git_nothing_is_created_and_the_git_directory_is_watched():
    plan = plan_for(tree={})
    assert not any(cb.is_within(step.path, PROJECT) for step in plan.host_setup)
    assert f"{GIT}" in plan.watched


def test_git_dir_walks_cover_worktree_admin_files_and_module_git_directories(tmp_path):
    git_dir = tmp_path / ".git"
    for directory in ("hooks", "worktrees/wt", "modules/lib/hooks", "modules/lib/modules/inner"):
        (git_dir / directory).mkdir(parents=True)
    for name in ("config", "worktrees/wt/commondir", "worktrees/wt/gitdir", "modules/lib/HEAD"):
        (git_dir / name).write_text("")
    (git_dir / "modules" / "lib" / "modules" / "inner" / "HEAD").write_text("")
    (git_dir / "modules" / "lib" / "objects").mkdir()  # not a module: no HEAD
    walks = cb.git_dir_walks(str(tmp_path), ".git")
    assert [(w.relative, w.create, w.steps[-1].kind) for w in walks] == [
        (".git/config", False, Kind.FILE),
        (".git/config.worktree", False, Kind.MISSING),
        (".git/hooks", True, Kind.DIR),
        (".git/commondir", False, Kind.MISSING),
        (".git/worktrees/wt/commondir", False, Kind.FILE),
        (".git/worktrees/wt/config.worktree", False, Kind.MISSING),
        (".git/worktrees/wt/gitdir", False, Kind.FILE),
        (".git/modules/lib/config", False, Kind.MISSING),
        (".git/modules/lib/config.worktree", False, Kind.MISSING),
        (".git/modules/lib/hooks", True, Kind.DIR),
        (".git/modules/lib/commondir", False, Kind.MISSING),
        (".git/modules/lib/modules/inner/config", False, Kind.MISSING),
        (".git/modules/lib/modules/inner/config.worktree", False, Kind.MISSING),
        (".git/modules/lib/modules/inner/hooks", True, Kind.MISSING),
        (".git/modules/lib/modules/inner/commondir", False, Kind.MISSING),
    ]
    assert all(w.root == str(tmp_path) for w in walks)


def test_walk_stops_at_a_symlink_and_never_follows_it(tmp_path):
    outside = tmp_path / "outside"
    (outside / "hooks").mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(outside, project / ".git")
    assert cb.walk(str(project), ".git/hooks", True) == cb.Walk(
        str(project),
        ".git/hooks",
        (cb.Entry(f"{project}/.git", Kind.LINK, str(outside), str(outside), Kind.DIR),),
        True,
    )
    Path(project, ".envrc").symlink_to("/nonexistent/envrc")
    assert cb.walk(str(project), ".envrc").steps == (
        cb.Entry(f"{project}/.envrc", Kind.LINK, "/nonexistent/envrc", "", Kind.MISSING),
    )
    os.mkfifo(tmp_path / "fifo")
    Path(project, ".vscode").symlink_to(tmp_path / "fifo")
    assert cb.inspect(str(project / ".vscode")) == cb.Entry(
        f"{project}/.vscode", Kind.LINK, str(tmp_path / "fifo"), str(tmp_path / "fifo"), Kind.OTHER
    )


def test_an_unknown_machine_gets_no_sandbox_without_keyring_isolation():
    with pytest.raises(cb.ClaudeboxError, match="no keyring isolation for machine 'riscv64'"):
        cb.fresh_session_keyring(cb.Libc(), "riscv64")


def test_open_strict_never_follows_a_symlink(tmp_path):
    (tmp_path / "real" / "dir").mkdir(parents=True)
    (tmp_path / "file").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = cb.open_strict(str(tmp_path / "real" / "dir"))
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "real" / "dir"))
    finally:
        os.close(fd)
    fd = cb.open_strict(str(tmp_path / "link"), allow_link=True)  # the link itself
    try:
        assert os.path.samestat(os.fstat(fd), os.lstat(tmp_path / "link"))
    finally:
        os.close(fd)
    for path, what in [
        (tmp_path / "link" / "dir", f"{tmp_path}/link is a symlink now"),
        (tmp_path / "link", f"{tmp_path}/link is a symlink now"),
        (tmp_path / "file" / "x", f"{tmp_path}/file is not a directory now"),
    ]:
        with pytest.raises(cb.ClaudeboxError) as info:
            cb.open_strict(str(path))
        assert str(info.value) == (
            f"{what} (it was not when claudebox looked: something is changing it); "
            "run claudebox again"
        )
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.open_strict(str(tmp_path / "gone" / "x"))
    assert str(info.value) == (
        f"{tmp_path}/gone/x changed while claudebox was starting (No such file or directory); "
        "run it again"
    )
