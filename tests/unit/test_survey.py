"""Every git repository in the project: the survey of its tree (and what it reuses of the last
one), their protection at launch, and a review that judges each path on its own, never blocks
on what a session left and never gives up on the rest."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from test_git import GIT, git, init, probe

import claudebox as cb
from claudebox import Kind

pytestmark = pytest.mark.git

EVIL_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfsmonitor = touch /tmp/fired\n"


def tree(top: Path, *directories: str) -> None:
    for directory in directories:
        (top / directory).mkdir(parents=True, exist_ok=True)


def aged(survey: cb.Survey) -> cb.Survey:
    """As if taken long after its directories last changed (timestamps are coarse: a survey
    does not trust what changed within SURVEY_COARSE_NS before the last one)."""
    return survey._replace(taken_ns=survey.taken_ns + 10 * cb.SURVEY_COARSE_NS)


def test_the_survey_finds_every_git_below_the_top_and_never_follows_a_link(tmp_path):
    top = tmp_path / "p"
    tree(top, ".git/objects", "a/b/.git", "c", "node_modules/x/y/z", "outside/.git")
    (top / "c" / ".git").write_text("gitdir: ../.git/modules/c\n")
    os.mkfifo(top / "node_modules" / "x" / "y" / "z" / ".git")  # anything named .git
    (top / "link").symlink_to(top / "outside")  # its .git is found once, where it is
    survey = cb.survey_tree(str(top))
    assert survey.repositories == ("a/b", "c", "node_modules/x/y/z", "outside")
    assert not [relative for relative in survey.directories if ".git" in relative.split("/")]
    assert (survey.listed, survey.unreadable, survey.cut) == (len(survey.directories), (), False)


def test_a_later_survey_lists_only_what_changed_and_sees_new_repositories(tmp_path):
    top = tmp_path / "p"
    tree(top, "a/b/c", "d/e", "f")
    first = aged(cb.survey_tree(str(top)))
    again = cb.survey_tree(str(top), first)
    assert (again.listed, again.directories) == (0, first.directories)
    tree(top, "a/b/c/new/.git")  # deep in an unchanged-looking branch: c's ctime moved
    (top / "d" / "e").rename(top / "f" / "e")
    later = cb.survey_tree(str(top), aged(again))
    assert later.repositories == ("a/b/c/new",)
    assert "f/e" in later.directories and "d/e" not in later.directories
    assert later.listed == 5  # c, its new directory, d, f and the moved e


def test_a_directory_changed_just_before_a_survey_is_listed_again_next_time(tmp_path):
    top = tmp_path / "p"
    tree(top, "a")
    first = cb.survey_tree(str(top))  # a's ctime is within the coarse window of this survey
    (top / "a" / ".git").mkdir()  # the same tick: its ctime may not have moved
    assert cb.survey_tree(str(top), first).repositories == ("a",)


def test_a_saved_survey_is_reused_and_a_wrong_one_never_leads_out_of_the_tree(tmp_path):
    top = tmp_path / "p"
    tree(top, "a/.git", "b")
    saved = str(tmp_path / "survey.json")
    cold = cb.survey_tree(str(top))
    cb.save_survey(saved, cold)
    loaded = cb.load_survey(saved, str(top))
    assert loaded is not None and loaded.repositories == ("a",)
    assert cb.load_survey(saved, str(tmp_path / "other")) is None
    # claudebox's own file, never the session's; still, a wrong one (here: every record stale)
    # never makes a survey step out of the tree or miss what is there
    for relatives in ('"", "a/.."', '"", "a", "a/..", "a/../.."', '"", "", "/etc"', '"", "a//b"'):
        ones = ", ".join("1" for _ in relatives.split(","))
        Path(saved).write_text(
            f'{{"top": "{top}", "taken_ns": {time.time_ns() + 10**10}, "rel": [{relatives}], '
            f'"ino": [{ones}], "ctime": [{ones}], "repositories": ["a/..", "/etc"]}}'
        )
        survey = cb.survey_tree(str(top), cb.load_survey(saved, str(top)))
        assert set(survey.directories) == set(cold.directories), relatives
        assert survey.repositories == ("a",), relatives
    for document in ('{"top": "%s", "taken_ns": "x", "rel": [""], "ino": [1], "ctime": [1]}', "["):
        Path(saved).write_text(document.replace("%s", str(top)))
        assert cb.load_survey(saved, str(top)) is None, document


def test_the_survey_is_bounded_and_a_launch_refuses_past_the_bound(tmp_path, monkeypatch):
    top = tmp_path / "p"
    tree(top, *(f"d{number}/.git" for number in range(5)))
    monkeypatch.setattr(cb, "SURVEY_DIRECTORY_LIMIT", 3)
    assert cb.survey_tree(str(top)).cut
    with pytest.raises(cb.ClaudeboxError, match="holds more than 3 directories"):
        cb.survey_project(str(top), str(tmp_path / "none"))
    monkeypatch.setattr(cb, "SURVEY_DIRECTORY_LIMIT", 100)
    monkeypatch.setattr(cb, "SURVEY_REPOSITORY_LIMIT", 4)
    with pytest.raises(cb.ClaudeboxError, match="holds 5 git repositories"):
        cb.survey_project(str(top), str(tmp_path / "none"))


def test_a_nested_clone_the_index_does_not_record_is_protected_at_launch(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    vendored = init(tmp_path / "project" / "vendor" / "lib")
    separate = tmp_path / "project" / "src"
    separate.mkdir()
    git("init", "-q", f"--separate-git-dir={top}/.src-git", str(separate), cwd=top)
    plan = cb.build_plan(probe(top, home), cb.Options(tier=cb.Tier.FULL))
    pins = {pin.path: pin for pin in plan.stage.pins}
    for git_dir in (f"{vendored}/.git", f"{top}/.src-git"):
        assert pins[f"{git_dir}/config"].read_only and pins[f"{git_dir}/hooks"].read_only
        assert pins[f"{git_dir}/commondir"].reason == "read-only placeholder"
    assert pins[f"{vendored}/.git"] == cb.Pin(f"{vendored}/.git", Kind.DIR, False, reason="pinned")
    assert pins[f"{top}/src/.git"].read_only  # the gitdir pointer itself
    assert pins[f"{top}/vendor"].kind is Kind.DIR  # a parent cannot be renamed away


def test_a_module_git_dir_with_a_planted_head_above_it_is_still_protected(tmp_path):
    top = tmp_path / "p"
    tree(top, ".git/modules/lib/hooks", ".git/modules/a/b/hooks")
    for module in ("lib", "a/b"):
        (top / ".git" / "modules" / module / "HEAD").write_text("ref: refs/heads/main\n")
    (top / ".git" / "modules" / "HEAD").write_text("planted\n")
    deep = top / ".git" / "modules" / "lib" / "objects" / "x"
    deep.mkdir(parents=True)
    (deep / "HEAD").write_text("in a store: not a module\n")
    assert cb.module_git_dirs(str(top / ".git" / "modules"), []) == ["a/b", "lib"]


def review(host: cb.HostFacts, before: cb.Snapshot) -> list[tuple[str, str]]:
    return [(f.path, f.moved_to) for f in cb.review_session(host, before)]


def test_a_repository_the_session_creates_deep_in_the_tree_is_reviewed(tmp_path):
    """A copy of the project's own .git plus core.fsmonitor in src/: the host's git status in
    src/ would run it."""
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    nested = Path(top, "src", "deep")
    nested.mkdir(parents=True)
    shutil.copytree(f"{top}/.git", f"{nested}/.git", symlinks=True)
    Path(nested, ".git", "config").write_text(EVIL_CONFIG)
    Path(nested, ".git", "hooks", "post-checkout").write_text("#!/bin/sh\n")
    assert review(host, before) == [
        (f"{nested}/.git", ""),
        (f"{nested}/.git/config", f"{nested}/.git/config.claudebox-quarantined"),
        (f"{nested}/.git/hooks", f"{nested}/.git/hooks.claudebox-quarantined"),
    ]


def test_a_read_only_git_directory_does_not_keep_a_planted_commondir(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    Path(top, ".git", "commondir").write_text("/elsewhere\n")
    os.chmod(f"{top}/.git", 0o555)
    try:
        assert review(host, before) == [
            (f"{top}/.git/commondir", f"{top}/.git/commondir.claudebox-quarantined")
        ]
        assert stat.S_IMODE(os.stat(f"{top}/.git").st_mode) == 0o555  # as the session left it
    finally:
        os.chmod(f"{top}/.git", 0o755)


def test_fifos_where_git_reads_are_moved_aside_without_blocking(tmp_path, watchdog):
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    nested = init(tmp_path / "project" / "x")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    for path in (f"{top}/.gitmodules", f"{top}/.git/index", f"{nested}/.git/index"):
        if os.path.lexists(path):
            os.unlink(path)
        os.mkfifo(path)
    moved = dict(review(host, before))
    assert moved == {
        f"{top}/.gitmodules": f"{top}/.gitmodules.claudebox-quarantined",
        f"{top}/.git/index": f"{top}/.git/index.claudebox-quarantined",
        f"{nested}/.git/index": f"{nested}/.git/index.claudebox-quarantined",
    }


def test_an_index_claudebox_cannot_read_is_reported(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    Path(top, ".git", "index").write_bytes(b"DIRC\x00\x00\x00\x07garbage")
    (finding,) = cb.review_session(host, before)
    assert finding.path == f"{top}/.git/index" and "index" in finding.what


def test_a_hung_git_probe_is_an_error_not_an_outside_of_git_launch(tmp_path, monkeypatch):
    top = init(tmp_path / "project")
    os.unlink(f"{top}/.git/HEAD")
    os.mkfifo(f"{top}/.git/HEAD")
    monkeypatch.setattr(cb, "GIT_TIMEOUT", 1.0)
    with pytest.raises(cb.ClaudeboxError, match="git did not answer within 1 s"):
        cb.git_probe(top, GIT)


def test_a_tree_deeper_than_a_path_can_name_is_surveyed_without_recursion(tmp_path, watchdog):
    """1,500 levels (past PATH_MAX): the survey walks what a path can name, marks the rest
    unreadable, and a review reports it once."""
    home = tmp_path / "home"
    home.mkdir()
    top = init(tmp_path / "project")
    host = probe(top, home)
    before = cb.take_snapshot(host)
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1500):
        os.mkdir("dd", dir_fd=fd)
        deeper = os.open("dd", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.mkdir(".git", dir_fd=fd)
    os.close(fd)
    try:
        survey = cb.survey_tree(top)
        assert len(survey.unreadable) == 1 and len(survey.unreadable[0]) > 4000
        (finding,) = cb.review_session(host, before)
        assert finding.path.startswith(f"{top}/dd/dd/") and "unreadable" in finding.what
    finally:  # (shutil.rmtree, and so pytest's cleanup, recurses once per level)
        flatten(f"{top}/dd")


def flatten(chain: str) -> None:
    """Remove a chain of nested directories from the top, one level at a time."""
    parent = os.path.dirname(chain)
    while os.path.isdir(f"{chain}/dd"):
        os.rename(f"{chain}/dd", f"{parent}/next")
        shutil.rmtree(chain)
        os.rename(f"{parent}/next", chain)
    shutil.rmtree(chain)


def test_a_flood_of_findings_shows_what_was_moved_aside_and_counts_the_rest():
    reported = [
        cb.Finding(f"/p/r{n}/.envrc", f"created /p/r{n}/.envrc: review it") for n in range(50)
    ]
    moved = [cb.Finding(f"/p/m{n}/.git/config", f"created m{n}", f"/p/m{n}/x") for n in range(5)]
    lines = cb.render_findings([*reported, *moved]).splitlines()
    assert len(lines) == cb.REVIEW_FINDINGS_SHOWN + 1
    assert [line.endswith("(move it back only if you trust it)") for line in lines[:5]] == [
        True
    ] * 5
    assert lines[-1] == (
        "claudebox: warning: the session left 15 more like these (0 moved aside: their names end "
        "in .claudebox-quarantined); look before running git there"
    )


def test_a_root_the_plan_refuses_is_not_surveyed(tmp_path):
    """Your home (or /, or a directory holding a secret path) is refused by the plan: a launch
    from there does not first walk all of it."""
    home = tmp_path / "home"
    tree(home, "a/b/.git", ".ssh")
    git("init", "-q", cwd=home)
    host = probe(home, home)
    assert host.survey is not None and host.survey.directories == {}
    with pytest.raises(cb.ClaudeboxError, match="is your home directory"):
        cb.build_plan(host, cb.Options(tier=cb.Tier.FULL))
