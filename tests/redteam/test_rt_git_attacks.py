"""Red team across sessions, git (issue 22 follow-up): plants the review after a session lets
through although it surveys every directory of the project and judges every git file created.

Every plant is first run without claudebox on an identical copy (the positive control: the
host's git then runs the planted fsmonitor and touches its marker); then through the sandbox,
and the host's git runs as the user would after the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Box, host_git
from sessionlib import (
    GIT_PLANT_FUNCTIONS,
    INCLUDED_PLANT,
    SESSION_GIT,
    brief,
    control_marker,
    followups,
    host_sh,
    include_world,
    plain_world,
    plant_fires_on_the_host_only,
    session,
    session_marker,
    warnings_naming,
)


def control(box: Box, snippet: str) -> Path:
    project = plain_world(box, box.root / "control")
    planted = host_sh(box, GIT_PLANT_FUNCTIONS + snippet, str(control_marker(box)), cwd=project)
    assert planted.stdout.strip().endswith("planted"), planted.stdout + planted.stderr
    return project


# --- a config longer than the review reads -----------------------------------------------------

# 1.1 MB of comment lines, then the evil config: git_config_entries hands git only the first
# GIT_CONFIG_LIMIT bytes (read_small reads that much and no more), the host's git reads it all.
PADDED_CONFIG = (
    "padded_config() { yes '# just a long comment' | head -c 1100000; echo; evil_config; }\n"
)
PADDED = {
    "a .git file naming a new git dir in .git": (
        "src",
        "mkdir -p src && evil_gitdir .git .git/x-evil && padded_config > .git/x-evil/config && "
        "echo 'gitdir: ../.git/x-evil' > src/.git && echo planted",
    ),
    "a copy of .git": (
        "src",
        "mkdir -p src && cp -a .git src/.git && padded_config > src/.git/config && echo planted",
    ),
}


@pytest.mark.parametrize("name", list(PADDED))
def test_a_config_past_the_reviews_reading_limit_is_judged_whole(box: Box, name: str) -> None:
    """A new nested repository whose config is 1.1 MB of comments and then core.fsmonitor: the
    review judges only the first MiB (read_small reads GIT_CONFIG_LIMIT bytes, and
    git_config_entries feeds git that), finds nothing but comments, calls it inert and leaves it
    in place; the host's git reads the whole file. With a .git file naming a git dir in .git
    (judged "a git directory whose own files are judged") nothing at all is reported. Shows: the
    marker after the host's `git status` in src/."""
    checkout, plant = PADDED[name]
    plant = PADDED_CONFIG + plant
    control_project = control(box, plant)
    followups(box, control_project, checkout)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    result = session(box, plant, marker)
    assert result.stdout.strip() == "planted", brief(result.stderr)
    followups(box, project, checkout)
    found = {
        "warnings": warnings_naming(result.stderr, str(project)),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- a directory the launch could not list either ----------------------------------------------

HIDE = "mkdir hidden && chmod 000 hidden && echo planted"
# hidden/sub: a repository with core.fsmonitor, recorded as a submodule in the project's index
# (the host's `git status` in the project recurses into it), then hidden made --x again: git
# passes through it, the survey cannot list it.
PLANT_IN_HIDDEN = f"""
chmod 700 hidden && mkdir hidden/sub && cd hidden/sub && {SESSION_GIT} init -q &&
{SESSION_GIT} commit -q --allow-empty -m x && head=$({SESSION_GIT} rev-parse HEAD) &&
evil_config > .git/config && cd ../.. &&
{SESSION_GIT} update-index --add --cacheinfo "160000,$head,hidden/sub" &&
chmod 111 hidden && echo planted
"""


def test_a_directory_unreadable_since_the_launch_hides_a_new_repository(box: Box) -> None:
    """Session 1 leaves an empty directory `hidden` with mode 000 (the review warns once); the
    next launch's survey cannot list it either, and does not refuse. Session 2 opens it, makes
    a repository with core.fsmonitor in hidden/sub, records it as a submodule in the project's
    index and leaves `hidden` mode 111: the review cannot list it, and because the launch
    could not either, says nothing (unreadable_findings reports only directories newly
    unreadable). The host's `git status` in the project passes through `hidden` into the
    submodule. Shows: no warning naming hidden after session 2, and the marker after the
    host's follow-ups (in the project, in hidden/sub, and after the user's chmod 755)."""
    control_project = plain_world(box, box.root / "control")
    for step in (HIDE, PLANT_IN_HIDDEN):
        planted = host_sh(
            box, GIT_PLANT_FUNCTIONS + step, str(control_marker(box)), cwd=control_project
        )
        assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control_project)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    first = session(box, HIDE, marker)
    assert first.stdout.strip() == "planted", brief(first.stderr)
    second = session(box, PLANT_IN_HIDDEN, marker)
    assert second.stdout.strip() == "planted", brief(second.stderr)
    followups(box, project, "hidden/sub")
    ran_as_left = marker.exists()
    assert host_sh(box, "chmod 755 hidden && echo ok", cwd=project).stdout == "ok\n"
    followups(box, project, "hidden/sub")
    found = {
        "reported after session 2": bool(warnings_naming(second.stderr, f"{project}/hidden")),
        "the host's git ran the plant as left": ran_as_left,
        "the host's git ran the plant after chmod 755": marker.exists(),
    }
    assert found == {
        "reported after session 2": True,
        "the host's git ran the plant as left": False,
        "the host's git ran the plant after chmod 755": False,
    }, brief(second.stderr)


# --- a repository not named .git ----------------------------------------------------------------

BARE = f"""
mkdir docs && {SESSION_GIT} init -q --bare docs &&
{SESSION_GIT} -C docs config core.bare false && {SESSION_GIT} -C docs config core.worktree . &&
{SESSION_GIT} -C docs config core.fsmonitor "touch $M; true" && echo planted
"""


# docs/ holds HEAD and a commondir naming stash/, which holds objects, refs and a config: git
# takes docs/ for a git directory (is_git_directory looks for objects and refs in the common
# directory), reads stash/config and docs/config.worktree. Neither directory holds all of HEAD,
# objects and refs, GIT_DIR_LAYOUT.
COMMONDIR_LAYOUT = r"""
mkdir -p docs stash/objects stash/refs &&
printf '[core]\n\trepositoryformatversion = 1\n\tbare = false\n' > stash/config &&
printf '[extensions]\n\tworktreeConfig = true\n' >> stash/config &&
echo 'ref: refs/heads/main' > docs/HEAD && echo ../stash > docs/commondir &&
printf '[core]\n\tworktree = .\n\tfsmonitor = "touch %s; true"\n' "$M" > docs/config.worktree &&
echo planted
"""
LAYOUTS = {"bare": BARE, "commondir": COMMONDIR_LAYOUT}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_bare_layout_in_a_subdirectory_is_reviewed(box: Box, layout: str) -> None:
    """docs/ made a git directory (HEAD, objects, refs, config) with core.bare = false,
    core.worktree = . and core.fsmonitor: git's discovery takes a directory that is itself a
    git directory for a repository (safe.bareRepository defaults to all), and core.worktree
    gives it a work tree, so the user's `git status` in docs/ runs the fsmonitor. The survey
    looks only for entries named .git. Or (commondir) docs/ holds HEAD and a commondir whose
    directory has objects and refs (git's is_git_directory looks there). Shows: the marker
    after the host's `git status` in docs/."""
    plant_fires_on_the_host_only(box, LAYOUTS[layout], "docs")


# --- a pointer read as git does not read it -----------------------------------------------------

# gitfile_target and pointer strip every whitespace around the path a .git file or a commondir
# names; git drops only the line ends (\n, \r): a trailing space names another directory.
TRAILING_SPACE = {
    "a .git file": (
        "mkdir -p src && evil_gitdir .git '.git/x-evil ' && "
        "printf 'gitdir: ../.git/x-evil \\n' > src/.git && echo planted"
    ),
    "a linked worktree's commondir": (
        "mkdir -p src .git/worktrees/evil && evil_gitdir .git '.git/worktrees/.. ' && "
        "cp .git/HEAD .git/index .git/worktrees/evil/ && "
        "printf '../.. \\n' > .git/worktrees/evil/commondir && "
        'echo "$PWD/src/.git" > .git/worktrees/evil/gitdir && '
        "echo 'gitdir: ../.git/worktrees/evil' > src/.git && echo planted"
    ),
}


@pytest.mark.parametrize("name", list(TRAILING_SPACE))
def test_a_pointer_with_a_trailing_space_is_followed_as_git_follows_it(box: Box, name: str) -> None:
    """`gitdir: ../.git/x-evil ` (a trailing space) in a new src/.git: the review strips it,
    takes the target for .git/x-evil (inside the git directory: "its own files are judged", and
    there are none) and says nothing; git strips only \\n and \\r and reads `.git/x-evil `, a
    git dir with core.fsmonitor no walk reaches. Likewise a new linked worktree admin dir whose
    commondir says `../.. `: judged inert (it names .git), while git reads the common config in
    `.git/worktrees/.. `, whose config no walk covers (a worktree admin dir's config is not
    protected). Shows: the marker after the host's `git status` in src/."""
    plant_fires_on_the_host_only(box, TRAILING_SPACE[name], "src")


# --- git files older than the session --------------------------------------------------------

# name: (session 1: a git dir with core.fsmonitor where no review looks, then outliving the one
# second changed_since allows; session 2: what puts it to use in src/)
OLD_GIT_FILES = {
    "a .git file naming a git dir left in .git": (
        "evil_gitdir .git .git/stash/evil && sleep 2 && echo planted",
        "mkdir src && echo 'gitdir: ../.git/stash/evil' > src/.git && echo planted",
    ),
    "a git dir renamed to src/.git": (
        "mkdir -p stash && evil_gitdir .git stash/dotgit && sleep 2 && echo planted",
        "mkdir src && mv stash/dotgit src/.git && echo planted",
    ),
}


@pytest.mark.parametrize("name", list(OLD_GIT_FILES))
def test_git_files_made_in_an_earlier_session_are_judged(box: Box, name: str) -> None:
    """review_path judges a protected path that was absent at the launch only if its ctime is
    after the launch (changed_since): a file made in an earlier session, where no review
    looked, and put to use now is skipped. Session 1 leaves a git dir with core.fsmonitor under
    a name nothing reviews (.git/stash/evil: the survey does not enter .git, git_dir_walks
    looks at protected names, worktrees and modules only; or stash/dotgit: no .git). Session 2
    writes src/.git as `gitdir: ../.git/stash/evil` (judged: "a git directory whose own files
    are judged", and its config, session 1's, is skipped: nothing at all is reported), or
    renames stash/dotgit to src/.git (a rename changes the ctime of the directory renamed, not
    of its config: src/.git is reported as a new repository, its config never judged nor moved
    aside). Shows: the marker after the host's `git status` in src/."""
    prepare, use = OLD_GIT_FILES[name]
    control_project = plain_world(box, box.root / "control")
    for step in (prepare, use):
        planted = host_sh(
            box, GIT_PLANT_FUNCTIONS + step, str(control_marker(box)), cwd=control_project
        )
        assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control_project, "src")
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    marker = session_marker(box)
    first = session(box, prepare, marker)
    assert first.stdout.strip() == "planted", brief(first.stderr)
    # (a git directory laid out as one is protected from the next launch on: the rename fails)
    second = session(box, use, marker)
    assert "Traceback" not in second.stderr, brief(second.stderr)
    followups(box, project, "src")
    found = {
        "warnings": warnings_naming(first.stderr + second.stderr, str(project)),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- a nested repository's own core.hooksPath --------------------------------------------------

HOOKS_PATH_PLANT = (
    "mkdir -p vendor/lib/.githooks && "
    "printf '#!/bin/sh\\ntouch %s\\n' \"$M\" > vendor/lib/.githooks/pre-commit && "
    "chmod +x vendor/lib/.githooks/pre-commit && echo planted"
)


def hooks_path_world(box: Box, base: Path) -> Path:
    """plain_world with a nested clone at vendor/lib whose own config says core.hooksPath =
    .githooks (as husky, lefthook and the like set it); returns the project."""
    project = plain_world(box, base)
    host_git(box, "clone", "-q", str(project), "vendor/lib", cwd=project)
    host_git(box, "config", "core.hooksPath", ".githooks", cwd=project / "vendor" / "lib")
    return project


def test_a_nested_repositorys_hooks_path_is_protected(box: Box) -> None:
    """The top repository's core.hooksPath is protected (read-only, or reviewed when absent);
    a nested repository's is not looked at: its config is read-only, but the hooks directory it
    names lies in its work tree, writable. The session writes vendor/lib/.githooks/pre-commit;
    the host's `git commit` in vendor/lib runs it. Shows: the marker after that commit."""
    control_project = hooks_path_world(box, box.root / "control")
    planted = host_sh(
        box, GIT_PLANT_FUNCTIONS + HOOKS_PATH_PLANT, str(control_marker(box)), cwd=control_project
    )
    assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    host_git(box, "commit", "-q", "--allow-empty", "-m", "f", cwd=control_project / "vendor/lib")
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = hooks_path_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    result = session(box, HOOKS_PATH_PLANT, marker)
    followups(box, project, "vendor/lib")
    host_git(
        box, "commit", "-q", "--allow-empty", "-m", "f", cwd=project / "vendor/lib", check=False
    )
    found = {
        "written": result.stdout.strip() == "planted",
        "warnings": warnings_naming(result.stderr, f"{project}/vendor/lib/.githooks"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- a file the project's own config includes -----------------------------------------------------


def test_a_file_the_projects_config_includes_is_protected(box: Box) -> None:
    """.git/config is read-only inside, but an include.path (or includeIf) in it naming a file
    in the work tree hands the host's git whatever the session writes there: claudebox never
    looks at includes. The session appends core.fsmonitor to .gitconfig. Shows: the marker
    after the host's `git status` in the project."""
    control_project = include_world(box, box.root / "control")
    planted = host_sh(
        box, GIT_PLANT_FUNCTIONS + INCLUDED_PLANT, str(control_marker(box)), cwd=control_project
    )
    assert planted.stdout.strip() == "write=0", planted.stdout + planted.stderr
    followups(box, control_project)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = include_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    result = session(box, INCLUDED_PLANT, marker)
    followups(box, project)
    found = {
        "written": result.stdout.strip() == "write=0",
        "warnings": warnings_naming(result.stderr, f"{project}/.gitconfig"),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


def vendored_world(box: Box, base: Path) -> Path:
    """plain_world with a nested clone of itself at vendor/lib; returns the project."""
    project = plain_world(box, base)
    host_git(box, "clone", "-q", str(project), "vendor/lib", cwd=project)
    return project


UNLIST_VENDOR = "chmod 111 vendor && echo planted"
REWRITE_VENDORED = "evil_config > vendor/lib/.git/config && echo planted"


def test_an_existing_repository_below_an_unlistable_directory_stays_protected(box: Box) -> None:
    """Session 1 leaves vendor/ mode 111 (searchable, not listable; the review warns once). The
    next launch's survey cannot list vendor/, so it never finds vendor/lib/.git and launches
    without protecting it, saying nothing: session 2 rewrites vendor/lib/.git/config by its path
    (no chmod needed), and its review is silent too (vendor/ was unreadable at the launch).
    Shows: the marker after the host's `git status` in vendor/lib (reachable as left)."""
    control_project = vendored_world(box, box.root / "control")
    for step in (UNLIST_VENDOR, REWRITE_VENDORED):
        planted = host_sh(
            box, GIT_PLANT_FUNCTIONS + step, str(control_marker(box)), cwd=control_project
        )
        assert planted.stdout.strip() == "planted", planted.stdout + planted.stderr
    followups(box, control_project, "vendor/lib")
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = vendored_world(box, box.home)
    assert project == box.project
    marker = session_marker(box)
    first = session(box, UNLIST_VENDOR, marker)
    assert first.stdout.strip() == "planted", brief(first.stderr)
    second = session(box, REWRITE_VENDORED, marker)
    followups(box, project, "vendor/lib")
    found = {
        "written in session 2": second.stdout.strip() == "planted",
        "warnings after session 2": warnings_naming(second.stderr, str(project)),
        "the host's git ran the plant": marker.exists(),
    }
    assert not found["the host's git ran the plant"], found


# --- a linked worktree the session adds, then hides its admin directory -------------------------

HIDDEN_WORKTREE = (
    "mkdir -p .git/worktrees/evil evil-wt && evil_gitdir .git .git/x-evil && "
    "echo ../../x-evil > .git/worktrees/evil/commondir && "
    'echo "$PWD/evil-wt/.git" > .git/worktrees/evil/gitdir && '
    "cp .git/HEAD .git/worktrees/evil/HEAD && "
    'echo "gitdir: $PWD/.git/worktrees/evil" > evil-wt/.git && '
    "chmod 000 .git/worktrees && echo planted"
)


def test_a_worktree_admin_directory_hidden_by_its_mode_is_still_reviewed(box: Box) -> None:
    """The session adds a linked worktree by hand (evil-wt, its admin directory's commondir
    sending git to an evil git dir) and leaves .git/worktrees mode 000: the review could not
    look in it, and once the user makes it usable again (`chmod 755`, as `git worktree list`
    needs) the host's git in evil-wt runs the plant. claudebox makes it listable again and
    reviews it. Shows: the marker after `git status` in evil-wt."""
    control_project = control(box, HIDDEN_WORKTREE)
    host_sh(box, "chmod 755 .git/worktrees", cwd=control_project)
    host_git(box, "status", cwd=control_project / "evil-wt", check=False, setup=False)
    assert control_marker(box).exists(), "control: the host's git did not run the plant"

    project = plain_world(box, box.home)
    marker = session_marker(box)
    result = session(box, HIDDEN_WORKTREE, marker)
    assert result.stdout.strip() == "planted", brief(result.stderr)
    host_sh(box, "chmod 755 .git/worktrees", cwd=project)
    host_git(box, "status", cwd=project / "evil-wt", check=False, setup=False)
    found = {
        "reported": bool(warnings_naming(result.stderr, f"{project}/.git/worktrees")),
        "the host's git ran the plant": marker.exists(),
    }
    assert found == {"reported": True, "the host's git ran the plant": False}, brief(result.stderr)
