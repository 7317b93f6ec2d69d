"""Plan pieces added by the red-team work (tests/redteam): the pinned .git, hooks created when
absent, worktree commondir protection, the paths watched for creation, the keyring guard."""

from __future__ import annotations

import os

import pytest
from fakehost import PROJECT, make_host

import claudebox as cb

GIT = f"{PROJECT}/.git"


def plan_for(**changes: object) -> cb.SandboxPlan:
    return cb.build_plan(make_host(**changes), cb.Options(network="none"), ())


def mounts_at(plan: cb.SandboxPlan, path: str) -> list[cb.Mount]:
    return [mount for mount in plan.mounts if mount.dst == path]


def test_a_git_directory_is_pinned_by_a_bind_onto_itself_before_its_read_only_parts() -> None:
    plan = plan_for(dot_git="dir")
    assert mounts_at(plan, GIT) == [cb.Mount("bind", GIT, GIT)]
    order = [mount.dst for mount in plan.mounts]
    assert order.index(PROJECT) < order.index(GIT) < order.index(f"{GIT}/hooks")


def test_a_gitdir_pointer_file_is_read_only_and_nothing_when_absent() -> None:
    assert mounts_at(plan_for(dot_git="file"), GIT) == [cb.Mount("ro-bind", GIT, GIT)]
    assert mounts_at(plan_for(dot_git=None), GIT) == []


def test_absent_hooks_are_created_on_the_host_and_bound_read_only() -> None:
    host = make_host(dot_git="dir")
    host = make_host(dot_git="dir", existing=host.existing - {f"{GIT}/hooks"})
    plan = cb.build_plan(host, cb.Options(network="none"), ())
    assert cb.HostSetup(f"{GIT}/hooks") in plan.host_setup
    assert mounts_at(plan, f"{GIT}/hooks") == [cb.Mount("ro-bind", f"{GIT}/hooks", f"{GIT}/hooks")]
    no_git = plan_for(dot_git=None, existing=host.existing)
    assert cb.HostSetup(f"{GIT}/hooks") not in no_git.host_setup


def test_watched_paths_name_the_git_dir_protected_paths_and_commondir() -> None:
    watched = plan_for(dot_git="dir").watched
    assert watched[0] == GIT
    assert {f"{GIT}/commondir", f"{GIT}/config.worktree", f"{PROJECT}/.envrc"} <= set(watched)
    assert f"{PROJECT}/.claude/settings.json" in watched


def test_session_created_names_each_new_tree_once(tmp_path: object) -> None:
    root = str(tmp_path)
    watched = [f"{root}/.git", f"{root}/.git/hooks", f"{root}/.envrc", f"{root}/.mcp.json"]
    os.makedirs(f"{root}/.git/hooks")
    open(f"{root}/.mcp.json", "w").close()
    assert cb.session_created(watched, [f"{root}/.mcp.json"]) == [f"{root}/.git"]


def test_worktree_commondir_and_config_worktree_are_protected(tmp_path: object) -> None:
    admin = f"{tmp_path}/worktrees/wt"
    os.makedirs(admin)
    for name in ("commondir", "gitdir", "config.worktree"):
        open(f"{admin}/{name}", "w").close()
    assert cb.nested_git_config(str(tmp_path)) == (
        f"{admin}/config.worktree",
        f"{admin}/commondir",
    )


def test_an_unknown_machine_gets_no_sandbox_without_keyring_isolation() -> None:
    with pytest.raises(cb.ClaudeboxError, match="no keyring isolation for machine 'riscv64'"):
        cb.fresh_session_keyring("riscv64")
