"""git_layout and probe_host with real git repositories in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import claudebox as cb

GIT = shutil.which("git")
NO_GIT_OUTSIDE_CI = GIT is None and os.environ.get("CI") != "true"  # under CI: fail instead
pytestmark = pytest.mark.skipif(NO_GIT_OUTSIDE_CI, reason="git not installed (CI fails instead)")


def git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path):
    top = tmp_path / "main"
    (top / "sub" / "deeper").mkdir(parents=True)
    git("init", "-q", cwd=top)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=top)
    return os.path.realpath(top)


def test_plain_repo_from_subdirectory(repo):
    cwd = os.path.join(repo, "sub", "deeper")
    assert cb.git_layout(cwd, GIT) == (repo, repo, os.path.join(repo, ".git"))


def test_plain_repo_from_top(repo):
    assert cb.git_layout(repo, GIT) == (repo, repo, os.path.join(repo, ".git"))


def test_linked_worktree_outside_repo(repo, tmp_path):
    worktree = tmp_path / "elsewhere" / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    worktree_real = os.path.realpath(worktree)
    (worktree / "pkg").mkdir()
    assert cb.git_layout(worktree_real, GIT) == (
        worktree_real,
        repo,
        os.path.join(repo, ".git"),
    )
    assert cb.git_layout(os.path.join(worktree_real, "pkg"), GIT) == (
        worktree_real,
        repo,
        os.path.join(repo, ".git"),
    )
    # the worktree shares its main repository's instance
    state = str(tmp_path / "state")
    assert cb.instance_for(repo, state) == cb.instance_for(
        cb.git_layout(worktree_real, GIT)[1], state
    )


def test_outside_git(tmp_path):
    plain = os.path.realpath(tmp_path / "plain")
    os.mkdir(plain)
    assert cb.git_layout(plain, GIT) == (plain, plain, None)


def test_no_git_binary(repo):
    assert cb.git_layout(repo, None) == (repo, repo, None)


def test_symlinked_cwd_resolves(repo, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(repo)
    assert cb.git_layout(str(link), GIT) == (repo, repo, os.path.join(repo, ".git"))


def test_probe_host_linked_worktree(repo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    (worktree / ".envrc").write_text("")
    monkeypatch.chdir(worktree)
    env = {"HOME": str(home), "PATH": os.path.dirname(GIT or "/usr/bin/git")}
    host = cb.probe_host(env)
    wt = os.path.realpath(worktree)
    assert (host.project, host.canonical_root, host.git_common_dir) == (
        wt,
        repo,
        os.path.join(repo, ".git"),
    )
    assert host.cwd == wt
    project_existing = sorted(p for p in host.existing if not p.startswith("/etc/"))
    assert project_existing == [
        f"{repo}/.git/config",
        f"{repo}/.git/hooks",
        f"{wt}/.envrc",
    ]
    assert host.claude_dir_entries == {}
    assert host.host_claude_json == {}
    assert host.state_dir == os.path.join(os.path.realpath(home), ".claudebox")


def test_probe_host_plain_repo_has_no_separate_common_dir(repo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".claude" / "projects").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text("{}")
    (home / ".claude.json").write_text('{"theme": "light", "mcpServers": {}}')
    monkeypatch.chdir(os.path.join(repo, "sub"))
    env = {"HOME": str(home), "PATH": os.path.dirname(GIT or "/usr/bin/git")}
    host = cb.probe_host(env)
    assert (host.project, host.canonical_root, host.git_common_dir) == (repo, repo, None)
    assert host.cwd == os.path.join(repo, "sub")
    assert host.claude_dir_entries == {"projects": True, "settings.json": False}
    assert host.host_claude_json == {"theme": "light", "mcpServers": {}}


def test_probe_host_submodule_hooks_and_config_read_only(tmp_path, monkeypatch):
    """The host's git runs a submodule's hooks from .git/modules/<name>/hooks (threat model:
    nothing the host later executes may be writable from inside)."""
    home = tmp_path / "home"
    home.mkdir()
    library = tmp_path / "library"
    library.mkdir()
    git("init", "-q", cwd=library)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=library)
    superproject = tmp_path / "super"
    superproject.mkdir()
    git("init", "-q", cwd=superproject)
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "-q",
        "add",
        str(library),
        "lib",
        cwd=superproject,
    )
    monkeypatch.chdir(superproject)
    env = {"HOME": str(home), "PATH": os.path.dirname(GIT or "/usr/bin/git")}
    plan = cb.build_plan(cb.probe_host(env), cb.Options(), ())
    modules = os.path.join(os.path.realpath(superproject), ".git", "modules", "lib")
    read_only = {m.dst for m in plan.mounts if m.op == "ro-bind"}
    assert f"{modules}/hooks" in read_only
    assert f"{modules}/config" in read_only


@pytest.mark.parametrize("secret", [".ssh", ".claude"])
def test_secret_path_behind_symlink_refused(tmp_path, monkeypatch, secret):
    """~/.ssh -> /persist/ssh (impermanence) or ~/.claude -> ~/dotfiles/claude: a project
    holding the link's target holds the secret itself and must be refused."""
    home = tmp_path / "home"
    home.mkdir()
    dotfiles = tmp_path / "dotfiles"
    (dotfiles / "target").mkdir(parents=True)
    (dotfiles / "target" / "id_ed25519").write_text("canary")
    (home / secret).symlink_to(dotfiles / "target")
    monkeypatch.chdir(dotfiles)
    env = {"HOME": str(home), "PATH": str(tmp_path / "nobin")}
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.build_plan(cb.probe_host(env), cb.Options(), ())
    assert info.value.exit_code == 2
