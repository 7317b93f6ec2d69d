"""History a user can find: the transcripts in a project's own ~/.claude, the resume hint after
a session, --take-history for a moved project, and what --gc says it removes."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import fakehost as fh
import pytest

import claudebox as cb

UUID_A = "0b7c4a2e-1f3d-4c5b-9a8e-7d6f5e4c3b2a"
UUID_B = "a1b2c3d4-e5f6-4789-abcd-ef0123456789"
UUID_C = "ffffffff-0000-4000-8000-000000000000"


def transcript(store: Path, slug: str, name: str, mtime: float = 1_700_000_000.0) -> Path:
    path = store / "projects" / slug / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"type": "user"}\n')
    os.utime(path, (mtime, mtime))
    return path


def test_transcript_slug_is_claudes_directory_name():
    assert cb.transcript_slug("/home/alice/src/proj") == "-home-alice-src-proj"
    assert cb.transcript_slug("/home/alice/my.proj_2/sub dir") == "-home-alice-my-proj-2-sub-dir"
    assert cb.transcript_slug("/srv/café") == "-srv-caf-"
    assert cb.transcript_slug("/a/[b]*?") == "-a--b---"  # nothing glob would read


CWD = "/home/alice/src/proj/sub"
SLUG = "-home-alice-src-proj-sub"
SINCE = 1_700_000_000.0


def test_transcripts_are_session_files_never_links_or_other_names(tmp_path):
    store = tmp_path / "claude"
    a = transcript(store, "-p", f"{UUID_A}.jsonl", SINCE)
    b = transcript(store, "-q", f"{UUID_B}.jsonl", SINCE + 7.5)
    transcript(store, "-p", "notes.jsonl")
    transcript(store, "-p", f"{UUID_C.upper()}.jsonl")  # Claude names them in lower case
    transcript(store, "-p", f"agent-{UUID_C}.jsonl")
    transcript(store, "-p", f"{UUID_C}.json")
    transcript(store, "-p", f"{UUID_C}.jsonl.bak")
    (store / "projects" / "-p" / f"{UUID_C}").mkdir()  # a session's directory, no .jsonl
    (store / "projects" / "-q" / f"{UUID_C}.jsonl").mkdir()  # a directory by that name
    (store / "projects" / "-q" / "ffffffff-0000-4000-8000-00000000000a.jsonl").symlink_to(a)
    (store / "projects" / "stray.jsonl").write_text("")  # not in a project's directory
    # a directory of transcripts behind a link: never read through it
    (store / "projects" / "-linked").symlink_to(store / "projects" / "-p")
    # each with when it was written (the file's own mtime, read with its name)
    assert sorted(cb.transcripts(str(store))) == [(str(a), SINCE), (str(b), SINCE + 7.5)]
    assert cb.transcripts(str(store), "-q") == [(str(b), SINCE + 7.5)]
    assert cb.transcripts(str(store), "-linked") == []
    assert cb.transcripts(str(store), "-none") == []
    assert cb.transcripts(str(tmp_path / "gone")) == []


@pytest.mark.parametrize(
    ("slugs", "per_slug", "limit", "found"),
    [
        (1, 5, 3, 2),  # the directory -p is one of the 3 names read
        (10, 1, 4, 0),  # the directories alone use up the names
    ],
)
def test_transcripts_reads_at_most_its_limit_of_names_directories_included(
    tmp_path, monkeypatch, slugs, per_slug, limit, found
):
    store = tmp_path / "claude"
    for slug in range(slugs):
        for index in range(per_slug):
            transcript(store, f"-p{slug}", f"00000000-0000-4000-8000-{index:012}.jsonl")
    monkeypatch.setattr(cb, "TRANSCRIPTS_READ", limit)
    read = fh.names_read(monkeypatch)
    assert len(cb.transcripts(str(store))) == found
    assert len(read) <= limit, read


def test_transcripts_never_read_through_a_linked_projects_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    transcript(elsewhere, "-p", f"{UUID_A}.jsonl")
    store = tmp_path / "claude"
    store.mkdir()
    (store / "projects").symlink_to(elsewhere / "projects")
    assert cb.transcripts(str(store)) == []


def test_the_resume_hint_names_the_newest_session_of_this_directory(tmp_path):
    store = tmp_path / "claude"
    transcript(store, SLUG, f"{UUID_A}.jsonl", SINCE + 5)
    transcript(store, SLUG, f"{UUID_B}.jsonl", SINCE + 60)
    transcript(store, "-home-alice-src-proj", f"{UUID_C}.jsonl", SINCE + 90)  # another cwd
    assert cb.resume_hint(str(store), CWD, SINCE) == (
        f"claudebox: resume this session with: claudebox --resume {UUID_B}\n"
    )


def test_no_hint_when_no_session_was_written_since_the_launch(tmp_path):
    store = tmp_path / "claude"
    assert cb.resume_hint(str(store), CWD, SINCE) == ""  # no transcripts at all
    transcript(store, SLUG, f"{UUID_A}.jsonl", SINCE - 1.5)  # an older session's
    assert cb.resume_hint(str(store), CWD, SINCE) == ""
    transcript(store, SLUG, f"{UUID_B}.jsonl", SINCE - 1)  # within the clock's second of slack
    assert cb.resume_hint(str(store), CWD, SINCE) == (
        f"claudebox: resume this session with: claudebox --resume {UUID_B}\n"
    )


def test_a_symlinked_or_misnamed_transcript_gives_no_hint(tmp_path):
    store = tmp_path / "claude"
    older = transcript(store, SLUG, f"{UUID_A}.jsonl", SINCE - 100)
    (store / "projects" / SLUG / f"{UUID_B}.jsonl").symlink_to(older)
    os.utime(
        store / "projects" / SLUG / f"{UUID_B}.jsonl", (SINCE + 9, SINCE + 9), follow_symlinks=False
    )
    transcript(store, SLUG, "x; rm -rf ~.jsonl", SINCE + 10)
    assert cb.resume_hint(str(store), CWD, SINCE) == ""
    transcript(store, SLUG, f"{UUID_C}.jsonl", SINCE + 1)
    assert cb.resume_hint(str(store), CWD, SINCE) == (
        f"claudebox: resume this session with: claudebox --resume {UUID_C}\n"
    )


def test_the_hint_takes_when_a_session_was_written_from_the_listing(tmp_path, monkeypatch):
    """One look at each name (its mtime read with it): a transcript removed or replaced after
    the listing cannot fail the hint nor give it another file's time."""
    store = tmp_path / "claude"
    transcript(store, SLUG, f"{UUID_A}.jsonl", SINCE + 5)

    def looked_again(path: object, *_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(2, "gone since the listing", path)

    for module, name in ((cb.os.path, "getmtime"), (cb.os, "stat"), (cb.os, "lstat")):
        monkeypatch.setattr(module, name, looked_again)
    hint = cb.resume_hint(str(store), CWD, SINCE)
    monkeypatch.undo()
    assert hint == f"claudebox: resume this session with: claudebox --resume {UUID_A}\n"


# --- --gc -----------------------------------------------------------------------------------


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_render_gc_says_how_many_sessions_and_the_last_ones_date(utc):
    day = 1_714_996_800.0  # 2024-05-06 12:00 UTC
    entries = [
        cb.GcEntry("/s/instances/aaaa", "/gone/a", 3 << 20, "remove", 3, day),
        cb.GcEntry("/s/instances/bbbb", "/gone/b", 512, "remove"),
        cb.GcEntry("/s/instances/cccc", "/gone/c", 2048, "in use", 7, day),
        cb.GcEntry("/s/instances/dddd", "/here", 10, "kept", 1, day),
    ]
    assert cb.render_gc(entries, removed=False) == (
        "would remove aaaa (3.0 MiB, 3 session(s), the last on 2024-05-06): /gone/a no longer "
        "exists\n"
        "would remove bbbb (512 B, no session): /gone/b no longer exists\n"
        "skipped cccc (2.0 KiB): /gone/c is gone but a session is running\n"
        "would free 3.0 MiB; 2 instance(s) kept\n"
    )
    assert cb.render_gc(entries[:1], removed=True) == (
        "removed aaaa (3.0 MiB, 3 session(s), the last on 2024-05-06): /gone/a no longer exists\n"
        "freed 3.0 MiB; 0 instance(s) kept\n"
    )


def make_instance(state: Path, root: str) -> Path:
    instance = Path(cb.instance_for(root, str(state)).dir)
    (instance / "claude").mkdir(parents=True)
    (instance / "root").write_text(root + "\n")
    return instance


def test_garbage_collect_counts_the_sessions_of_what_it_removes(tmp_path):
    state = tmp_path / ".claudebox"
    gone = make_instance(state, str(tmp_path / "gone"))
    slug = cb.transcript_slug(str(tmp_path / "gone"))
    transcript(gone / "claude", slug, f"{UUID_A}.jsonl", SINCE)
    transcript(gone / "claude", slug + "-sub", f"{UUID_B}.jsonl", SINCE + 86_400)
    (gone / "claude" / "projects" / slug / f"{UUID_C}.jsonl").symlink_to("/etc/hostname")
    empty = make_instance(state, str(tmp_path / "empty"))
    (tmp_path / "kept").mkdir()
    make_instance(state, str(tmp_path / "kept"))
    entries = cb.garbage_collect(str(state), remove=False)
    found = {Path(e.instance_dir): (e.verdict, e.sessions, e.last_used) for e in entries}
    assert found[gone] == ("remove", 2, SINCE + 86_400)
    assert found[empty] == ("remove", 0, 0.0)
    assert sorted(v for v, _s, _l in found.values()) == ["kept", "remove", "remove"]
    assert gone.exists()
    cb.garbage_collect(str(state), remove=True)
    assert not gone.exists() and not empty.exists()


# Root passes every permission check: what a user meets runs as uid 1000 in a user namespace of
# its own (which sees the test's files as its own); a mount needs a mount namespace.
UNSHARE = shutil.which("unshare") or "unshare"
AS_USER = [UNSHARE, "--user", "--map-user=1000", "--map-group=1000"] if os.geteuid() == 0 else []
WITH_MOUNTS = [UNSHARE, "--user", "--map-root-user", "--mount"]
REPO = os.path.dirname(os.path.abspath(cb.__file__))
REMOVE = """
import shutil, sys
import claudebox as cb
if sys.argv[1] == "gc":
    print([entry.verdict for entry in cb.garbage_collect(sys.argv[2], remove=True)])
elif sys.argv[1] == "rmtree":  # the control: what rm -r without chmod makes of it
    try:
        shutil.rmtree(sys.argv[2])
    except OSError as error:
        print(error.strerror)
else:
    if sys.argv[1] == "mounted":
        cb.Libc().mount("tmpfs", sys.argv[3], 0, "tmpfs")
    try:
        cb.remove_tree(sys.argv[2])
    except cb.ClaudeboxError as error:
        print(error, error.exit_code)
"""


def run_as(prefix: list[str], *args: str) -> str:
    result = subprocess.run(
        [*prefix, sys.executable, "-c", REMOVE, *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": REPO},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def overlay_leftovers(instance: Path) -> None:
    """What a session's plugins overlay leaves in its instance: overlayfs makes its work
    directory's own `work` mode 000."""
    (instance / "plugins-own" / "installed").mkdir(parents=True)
    (instance / "plugins-own" / "installed" / "plugin.json").write_text("{}")
    (instance / "plugins-own.work" / "work").mkdir(parents=True)
    (instance / "plugins-own.work" / "work").chmod(0)


def test_gc_removes_an_instance_with_a_mode_000_directory(tmp_path):
    state = tmp_path / ".claudebox"
    gone = make_instance(state, str(tmp_path / "gone"))
    overlay_leftovers(gone)
    control = tmp_path / "control"
    overlay_leftovers(control)
    # the user's rm -r fails on it: the directory has to be opened up first
    assert run_as(AS_USER, "rmtree", str(control)) == "Permission denied\n"
    assert run_as(AS_USER, "gc", str(state)) == "['remove']\n"
    assert not gone.exists()
    assert os.listdir(state / "instances") == []


def test_remove_tree_names_what_it_cannot_remove_in_one_error(tmp_path):
    instance = tmp_path / "instance"
    (instance / "claude" / "busy").mkdir(parents=True)
    (instance / "claude" / "kept").write_text("")
    busy = instance / "claude" / "busy"
    output = run_as(WITH_MOUNTS, "mounted", str(instance), str(busy))
    assert output == (
        f"cannot remove {instance}: Device or resource busy; remove it by hand "
        f"(rm -rf {instance}) 1\n"
    )  # (a mount point: the namespace's mount is gone with it, the directory stays)
    assert busy.is_dir()


@pytest.mark.parametrize(
    ("made", "locked"),
    [("a/b", ["a/b", "a"]), ("ro", ["ro"])],
    ids=["mode-000-in-mode-000", "read-only-with-a-file"],
)
def test_remove_tree_opens_up_every_directory_a_session_locked(tmp_path, made, locked):
    instance = tmp_path / "instance"
    (instance / "claude" / made).mkdir(parents=True)
    (instance / "claude" / made / "file").write_text("")
    for directory in locked:
        (instance / "claude" / directory).chmod(0 if made == "a/b" else 0o555)
    try:
        assert run_as(AS_USER, "remove", str(instance)) == ""
        assert not instance.exists()
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(tmp_path)], check=False)


# --- --take-history -------------------------------------------------------------------------


UUID_D = "12345678-9abc-4def-8123-456789abcdef"
UUID_E = "00000000-1111-4222-8333-444444444444"


class Moved:
    """A home whose claudebox state has the instance of OLD (a project no longer there), and
    the project at NEW, where the user runs claudebox --take-history OLD. OLD's transcripts:
    its root's, those of its directories sub and sub/deep (both at NEW too) and .hidden (at NEW,
    but hidden), a sibling worktree's (OLD-feature, never moved) and another project's."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = tmp_path / "home"
        self.state = self.home / ".claudebox"
        self.old = str(self.home / "src" / "old-name")
        self.new = self.home / "src" / "new.name"
        for directory in ("sub/deep", ".hidden"):
            (self.new / directory).mkdir(parents=True)
        self.env = {"HOME": str(self.home), "PATH": str(tmp_path / "no-bin")}  # no git: the cwd
        monkeypatch.chdir(self.new)
        self.instance = make_instance(self.state, self.old)
        self.new_instance = Path(cb.instance_for(str(self.new), str(self.state)).dir)
        self.old_slug = cb.transcript_slug(self.old)
        self.new_slug = cb.transcript_slug(str(self.new))
        store = self.instance / "claude"
        transcript(store, self.old_slug, f"{UUID_A}.jsonl")
        transcript(store, self.old_slug + "-sub", f"{UUID_B}.jsonl")
        transcript(store, self.old_slug + "-sub-deep", f"{UUID_D}.jsonl")
        transcript(store, self.old_slug + "--hidden", f"{UUID_E}.jsonl")
        transcript(store, self.old_slug + "-feature", f"{UUID_E}.jsonl")  # a linked worktree
        transcript(store, "-elsewhere", f"{UUID_C}.jsonl")
        (store / "projects" / (self.old_slug + "x")).mkdir()  # a name that starts alike
        (store / ".claude.json").write_text(
            json.dumps(
                {
                    "theme": "dark",
                    "projects": {
                        self.old: {"allowedTools": ["Bash"]},
                        f"{self.old}/sub": {"history": []},
                        f"{self.old}-feature": {"worktree": True},
                        "/elsewhere": {},
                    },
                }
            )
        )
        (self.instance / "layers.json").write_text("{}\n")

    def take(self, old: str | None = None) -> str:
        return cb.move_instance(old or self.old, self.env, str(self.state))

    def error(self, old: str | None = None) -> cb.ClaudeboxError:
        with pytest.raises(cb.ClaudeboxError) as caught:
            self.take(old)
        return caught.value

    def projects(self, instance: Path) -> list[str]:
        return sorted(os.listdir(instance / "claude" / "projects"))


@pytest.fixture
def moved(tmp_path, monkeypatch):
    return Moved(tmp_path, monkeypatch)


def check_taken(moved: Moved, message: str) -> None:
    old_id, new_id = moved.instance.name, moved.new_instance.name
    assert message == (f"took the history of {moved.old} ({old_id}) for {moved.new} ({new_id})\n")
    assert not moved.instance.exists()
    assert (moved.new_instance / "root").read_text() == f"{moved.new}\n"
    assert (moved.new_instance / "layers.json").read_text() == "{}\n"
    new_slug, old_slug = moved.new_slug, moved.old_slug
    assert moved.projects(moved.new_instance) == sorted(
        [
            new_slug,
            new_slug + "-sub",
            new_slug + "-sub-deep",
            old_slug + "--hidden",  # a hidden directory: not looked for at the new place
            old_slug + "-feature",  # the worktree beside it did not move
            old_slug + "x",
            "-elsewhere",
        ]
    )
    projects = moved.new_instance / "claude" / "projects"
    assert os.listdir(projects / new_slug) == [f"{UUID_A}.jsonl"]
    assert os.listdir(projects / (new_slug + "-sub")) == [f"{UUID_B}.jsonl"]
    assert os.listdir(projects / (new_slug + "-sub-deep")) == [f"{UUID_D}.jsonl"]
    # Claude's entries for the project's directories: the new paths; the rest as they were
    claude_json = json.loads((moved.new_instance / "claude" / ".claude.json").read_text())
    assert claude_json == {
        "theme": "dark",
        "projects": {
            str(moved.new): {"allowedTools": ["Bash"]},
            f"{moved.new}/sub": {"history": []},
            f"{moved.old}-feature": {"worktree": True},
            "/elsewhere": {},
        },
    }
    # resumable from the new place: the hint finds its sessions there
    store = str(moved.new_instance / "claude")
    assert cb.resume_hint(store, str(moved.new), 0) == (
        f"claudebox: resume this session with: claudebox --resume {UUID_A}\n"
    )


def test_take_history_moves_the_instance_and_renames_its_transcripts(moved):
    check_taken(moved, moved.take())


def test_take_history_is_not_blocked_by_a_lock_no_session_holds(moved):
    """A past session's lock file, released; and the lock --take-history takes itself (an
    older version refused on its own lock, always)."""
    fd = os.open(moved.instance / "lock", os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    os.close(fd)
    check_taken(moved, moved.take())


def test_take_history_of_a_relative_directory(moved):
    check_taken(moved, moved.take("../old-name"))


def test_take_history_refuses_while_a_session_of_the_old_project_runs(moved):
    before = moved.projects(moved.instance)
    claude_json = (moved.instance / "claude" / ".claude.json").read_text()
    fd = os.open(moved.instance / "lock", os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a session's lock, held elsewhere
        error = moved.error()
    finally:
        os.close(fd)
    assert (str(error), error.exit_code) == (
        f"a session of {moved.old} is running; end it first",
        2,
    )
    assert moved.instance.exists() and not moved.new_instance.exists()
    # nothing renamed or rewritten before the lock was had
    assert moved.projects(moved.instance) == before
    assert (moved.instance / "claude" / ".claude.json").read_text() == claude_json
    assert (moved.instance / "root").read_text() == f"{moved.old}\n"
    check_taken(moved, moved.take())  # once the session ended


def test_take_history_refuses_when_this_project_has_state(moved):
    (moved.new_instance).mkdir(parents=True)
    error = moved.error()
    assert (str(error), error.exit_code) == (
        f"this project already has claudebox state ({moved.new_instance}); move it away first "
        f"if the history of {moved.old} should replace it",
        2,
    )
    assert moved.instance.exists()


def test_state_made_for_this_project_meanwhile_leaves_the_old_instance_as_it_was(
    moved, monkeypatch
):
    """A launch here makes this project's state after the check, before the move: the move
    fails, and the old instance is as it was (its root file names its own project, so --gc
    still tells whether that project is gone)."""
    before = moved.projects(moved.instance)
    rename = os.rename

    def launched_meanwhile(src: str, dst: str, **kwargs: object) -> None:
        if str(dst) == str(moved.new_instance):
            (moved.new_instance / "claude").mkdir(parents=True)
        rename(src, dst, **kwargs)

    monkeypatch.setattr(cb.os, "rename", launched_meanwhile)
    error = moved.error()
    assert str(error) == (
        f"cannot move {moved.instance} to {moved.new_instance}: Directory not empty"
    )
    assert (moved.instance / "root").read_text() == f"{moved.old}\n"
    assert moved.projects(moved.instance) == before
    assert os.listdir(moved.new_instance) == ["claude"]


def test_take_history_refuses_a_directory_without_state(moved):
    gone = str(moved.home / "src" / "never-ran")
    error = moved.error(gone)
    instance = cb.instance_for(gone, str(moved.state)).dir
    assert (str(error), error.exit_code) == (
        f"no claudebox state for {gone} (no {instance}); name the directory the project was in "
        "when claudebox last ran there",
        2,
    )


def test_take_history_refuses_a_symlinked_instance(moved, tmp_path):
    elsewhere = cb.instance_for(str(tmp_path / "x"), str(moved.state)).dir
    os.symlink(moved.instance, elsewhere)
    error = moved.error(str(tmp_path / "x"))
    assert str(error).startswith(f"no claudebox state for {tmp_path / 'x'} (no ")


def test_take_history_refuses_this_very_project(moved):
    error = moved.error(str(moved.new))
    assert (str(error), error.exit_code) == (f"{moved.new} is this project; nothing to take", 2)


def test_a_transcript_directory_already_named_for_the_new_place_stays_as_it_is(moved):
    new_slug, old_slug = moved.new_slug, moved.old_slug
    transcript(moved.instance / "claude", new_slug, f"{UUID_C}.jsonl")
    moved.take()
    projects = moved.new_instance / "claude" / "projects"
    assert os.listdir(projects / new_slug) == [f"{UUID_C}.jsonl"]  # never merged
    assert os.listdir(projects / old_slug) == [f"{UUID_A}.jsonl"]
    assert os.listdir(projects / (new_slug + "-sub")) == [f"{UUID_B}.jsonl"]


# --- rename_transcripts, directories_below ---------------------------------------------------


def test_directories_below_are_breadth_first_without_hidden_ones_or_links(tmp_path):
    for directory in ("b/c/d", "a/e", ".git/objects", "b/.cache", "z"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "file").write_text("")
    (tmp_path / "a" / "link").symlink_to(tmp_path / "b")  # never followed, never listed
    found = cb.directories_below(str(tmp_path))
    assert sorted(found[:3]) == ["a", "b", "z"]  # the first level before the second
    assert sorted(found[3:5]) == ["a/e", "b/c"]
    assert found[5:] == ["b/c/d"]
    assert cb.directories_below(str(tmp_path / "gone")) == []


def test_directories_below_stops_at_its_limit_nearest_first(tmp_path):
    for directory in ("a/deep/deeper", "b", "c"):
        (tmp_path / directory).mkdir(parents=True)
    assert sorted(cb.directories_below(str(tmp_path), 3)) == ["a", "b", "c"]
    assert len(cb.directories_below(str(tmp_path), 4)) == 4
    assert cb.directories_below(str(tmp_path), 0) == []


def test_rename_transcripts_leaves_a_claude_json_it_cannot_read_as_it_is(tmp_path):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    store = tmp_path / "claude"
    transcript(store, cb.transcript_slug(old), f"{UUID_A}.jsonl")
    cb.rename_transcripts(str(store), old, new)  # no .claude.json: none is made
    assert sorted(os.listdir(store)) == ["projects"]
    assert os.listdir(store / "projects") == [cb.transcript_slug(new)]
    for text in (f'{{"projects": [{json.dumps(old)}]}}', '{"theme": "dark"}', "not json"):
        (store / ".claude.json").write_text(text)
        cb.rename_transcripts(str(store), old, new)
        assert (store / ".claude.json").read_text() == text
    (store / ".claude.json").unlink()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"projects": {old: {}}}))
    (store / ".claude.json").symlink_to(elsewhere)  # never followed
    cb.rename_transcripts(str(store), old, new)
    assert json.loads(elsewhere.read_text()) == {"projects": {old: {}}}
    assert (store / ".claude.json").is_symlink()


def test_rename_transcripts_without_transcripts(tmp_path):
    store = tmp_path / "claude"
    store.mkdir()
    (store / ".claude.json").write_text(json.dumps({"projects": {"/old/x": {"a": 1}}}))
    cb.rename_transcripts(str(store), "/old", "/new")
    assert json.loads((store / ".claude.json").read_text()) == {"projects": {"/new/x": {"a": 1}}}
    assert sorted(os.listdir(store)) == [".claude.json"]


def test_rename_transcripts_never_renames_through_a_linked_projects_directory(tmp_path):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    hosts = tmp_path / "home" / ".claude"  # the host's own ~/.claude, say
    transcript(hosts, cb.transcript_slug(old), f"{UUID_A}.jsonl")
    store = tmp_path / "claude"
    store.mkdir()
    (store / "projects").symlink_to(hosts / "projects")
    cb.rename_transcripts(str(store), old, new)
    assert os.listdir(hosts / "projects") == [cb.transcript_slug(old)]
