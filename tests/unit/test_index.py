"""git's index, read as git reads it (claudebox never runs git on it: git could run the
repository's core.fsmonitor). Indexes git made in tmp_path, each compared with what
`git ls-files -s` lists; what git would refuse, and what cannot be read, is a ClaudeboxError,
never an empty list, but for a missing index."""

from __future__ import annotations

import hashlib
import os
import random
import re
import struct
import subprocess
from pathlib import Path

import pytest

import claudebox as cb

pytestmark = pytest.mark.git
ISOLATED = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
LONG_PATH = "/".join(["d" * 200] * 22) + "/long-module"  # longer than a name length field
GITLINKS = ["lib/one", "lib/two", "vendor/deep/three", LONG_PATH]
HASH_SIZES = {"sha1": 20, "sha256": 32}


def git(*args: str, cwd: Path) -> bytes:
    return subprocess.run(
        ["git", "-c", "core.fsmonitor=false", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env=ISOLATED,
    ).stdout


def repository(tmp_path: Path, object_format: str = "sha1", gitlinks=GITLINKS) -> Path:
    """A committed file, an executable, a symlink and a file in a directory; gitlinks staged
    (by default one with a name longer than the 12 bits of its length field)."""
    top = tmp_path / f"repo-{object_format}"
    (top / "sub" / "dir").mkdir(parents=True)
    git("init", "-q", f"--object-format={object_format}", cwd=top)
    (top / "a.txt").write_text("a\n")
    (top / "run.sh").write_text("#!/bin/sh\n")
    (top / "run.sh").chmod(0o755)
    (top / "link").symlink_to("a.txt")
    (top / "sub" / "dir" / "b.txt").write_text("b\n")
    git("add", ".", cwd=top)
    git("commit", "-qm", "x", cwd=top)
    for path in gitlinks:
        git("update-index", "--add", "--cacheinfo", f"160000,{head(top)},{path}", cwd=top)
    return top


def head(top: Path) -> str:
    return git("rev-parse", "HEAD", cwd=top).decode().strip()


def add_conflict(top: Path) -> None:
    """conflict.txt at stages 1, 2 and 3, as a merge leaves it."""
    blob = git("hash-object", "-w", "a.txt", cwd=top).decode().strip()
    info = "".join(f"100644 {blob} {stage}\tconflict.txt\n" for stage in (1, 2, 3))
    subprocess.run(
        ["git", "update-index", "--index-info"],
        input=info.encode(),
        cwd=top,
        check=True,
        env=ISOLATED,
    )


def listed(top: Path) -> list[tuple[bytes, int, int]]:
    """(name, stage, mode) of each entry, as `git ls-files -s` lists them: the oracle."""
    entries = []
    for record in git("ls-files", "-s", "-z", cwd=top).split(b"\0")[:-1]:
        info, name = record.split(b"\t", 1)
        mode, _object, stage = info.split()
        entries.append((name, int(stage), int(mode, 8)))
    return entries


def gitlinks_of(entries: list[tuple[bytes, int, int]]) -> list[str]:
    return [os.fsdecode(name) for name, _, mode in entries if mode & 0o170000 == 0o160000]


def resolved(top: Path) -> list[tuple[bytes, int, int]]:
    """The entries claudebox's pure parser reads, with the shared index of a split one."""
    parsed = cb.parse_index((top / ".git" / "index").read_bytes())
    shared = None
    if parsed.link is not None:
        name = f"sharedindex.{parsed.link.shared.hex()}"
        shared = cb.parse_index((top / ".git" / name).read_bytes(), parsed.hash_size)
    return list(cb.resolve_index(parsed, shared))


def assert_read_as_git_lists(top: Path) -> None:
    entries = listed(top)
    assert resolved(top) == entries
    assert cb.index_gitlinks(str(top / ".git" / "index")) == gitlinks_of(entries)


def with_checksum(body: bytes) -> bytes:
    return body + hashlib.sha1(body).digest()


def patch(index: Path, at: int, new: bytes, replacing: int | None = None) -> None:
    """Put `new` at byte `at` of a SHA-1 index, over as many bytes (or `replacing`), and give
    it the checksum git would."""
    data = bytearray(index.read_bytes()[:-20])
    data[at : at + (len(new) if replacing is None else replacing)] = new
    index.write_bytes(with_checksum(bytes(data)))


def entry_offsets(data: bytes, hash_size: int = 20) -> list[int]:
    version, count = int.from_bytes(data[4:8]), int.from_bytes(data[8:12])
    end = len(data) - hash_size
    return cb.parse_index_entries(data, end, version, count, hash_size)[1]


def refusal(index: Path | str) -> str:
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.index_gitlinks(str(index))
    assert info.value.exit_code == cb.EXIT_USAGE
    message = str(info.value)
    assert message.startswith(f"cannot read git's index {index}: ")
    assert "git read-tree HEAD writes a new one from the last commit (what is staged is lost" in (
        message
    )
    return message


# --- indexes git wrote ----------------------------------------------------------------------


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_index_is_read_as_git_lists_it(tmp_path, version, object_format):
    """Files, an executable, a symlink, gitlinks, a conflict (stages); from version 3 on,
    extended flags (skip-worktree, intent-to-add)."""
    top = repository(tmp_path, object_format)
    add_conflict(top)
    if version >= 3:
        git("update-index", "--skip-worktree", "sub/dir/b.txt", cwd=top)
        (top / "new.txt").write_text("new\n")
        git("add", "--intent-to-add", "new.txt", cwd=top)
    git("update-index", "--index-version", str(version), cwd=top)
    data = (top / ".git" / "index").read_bytes()
    assert data[:8] == b"DIRC" + version.to_bytes(4, "big")
    parsed = cb.parse_index(data)
    assert (parsed.version, parsed.hash_size) == (version, HASH_SIZES[object_format])
    entries = listed(top)
    assert {stat for _, _, stat in entries} >= {0o100644, 0o100755, 0o120000, 0o160000}
    assert [stage for name, stage, _ in entries if name == b"conflict.txt"] == [1, 2, 3]
    assert gitlinks_of(entries) == sorted(GITLINKS)
    assert_read_as_git_lists(top)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("version", [2, 4])
def test_a_split_index_is_read_as_git_lists_it(tmp_path, version, object_format):
    """After `git update-index --split-index`, the index holds what changed against the shared
    index: c.txt replaced by a gitlink (the replace bitmap), e.txt deleted (the delete
    bitmap), a gitlink and a file added."""
    top = repository(tmp_path, object_format)
    for name in "cdef":
        (top / f"{name}.txt").write_text(f"{name}\n")
    git("add", "c.txt", "d.txt", "e.txt", "f.txt", cwd=top)
    git("commit", "-qm", "more", cwd=top)
    git("update-index", "--index-version", str(version), cwd=top)
    split = ("-c", "splitIndex.maxPercentChange=100", "update-index")
    git(*split, "--split-index", cwd=top)
    shared_entries = listed(top)
    git(*split, "--cacheinfo", f"160000,{head(top)},c.txt", cwd=top)
    git(*split, "--chmod=+x", "d.txt", cwd=top)
    git(*split, "--force-remove", "e.txt", cwd=top)
    git(*split, "--add", "--cacheinfo", f"160000,{head(top)},lib/added", cwd=top)
    (top / "z.txt").write_text("z\n")
    git(*split, "--add", "z.txt", cwd=top)

    parsed = cb.parse_index((top / ".git" / "index").read_bytes())
    assert parsed.link is not None and parsed.version == version
    names = [name for name, _, _ in shared_entries]
    count = len(names)
    replaced = list(cb.ewah_positions(parsed.link.replaced, count))
    assert names.index(b"c.txt") in replaced
    assert names.index(b"d.txt") in replaced
    assert list(cb.ewah_positions(parsed.link.deleted, count)) == [names.index(b"e.txt")]
    replacing = parsed.entries[replaced.index(names.index(b"c.txt"))]
    assert replacing == (b"", 0, 0o160000)  # CE_STRIP_NAME: the shared entry's name
    assert [name for name, _, _ in parsed.entries[len(replaced) :]] == [b"lib/added", b"z.txt"]
    entries = listed(top)
    assert (b"c.txt", 0, 0o160000) in entries and b"e.txt" not in [n for n, _, _ in entries]
    assert gitlinks_of(entries) == sorted(["c.txt", "lib/added", *GITLINKS])
    assert_read_as_git_lists(top)


@pytest.mark.parametrize("version", [2, 4])
def test_blocks_for_threaded_reading_are_read_as_git_lists_them(tmp_path, version):
    """index.threads writes the EOIE and IEOT extensions: where entries end, and blocks of
    entries git may read in threads, each block's first name whole."""
    top = repository(tmp_path)
    git("update-index", "--index-version", str(version), cwd=top)
    for number in range(40):
        (top / "sub" / f"file-{number:02}").write_text(f"{number}\n")
    threads = ["-c", "index.threads=4", "-c", "index.recordOffsetTable=true"]
    git(*threads, "-c", "index.recordEndOfIndexEntries=true", "add", "sub", cwd=top)
    index = top / ".git" / "index"
    data = index.read_bytes()
    ieot = data.index(b"IEOT")
    assert b"EOIE" in data and int.from_bytes(data[ieot + 4 : ieot + 8]) >= 4 + 2 * 8
    assert_read_as_git_lists(top)

    # a second block starting elsewhere than at an entry: git's threads would read other names
    assert int.from_bytes(data[ieot + 20 : ieot + 24]) != 12
    patch(index, ieot + 20, (12).to_bytes(4, "big"))
    assert "its IEOT extension has a block at byte 12, not at an entry" in refusal(index)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_an_index_without_a_checksum_is_read(tmp_path, object_format):
    """index.skipHash writes zeros for the checksum; git reads such an index as any other."""
    top = repository(tmp_path, object_format)
    index = top / ".git" / "index"
    size = HASH_SIZES[object_format]
    index.write_bytes(index.read_bytes()[:-size] + bytes(size))
    assert cb.parse_index(index.read_bytes()).hash_size == size
    assert_read_as_git_lists(top)


def test_any_mode_git_reads_is_read_as_git_lists_it(tmp_path):
    """git validates no mode when it reads: a file at 100664 is a file, a gitlink at 160755 a
    gitlink (its type bits are a gitlink's), as `git ls-files -s` shows."""
    top = repository(tmp_path)
    index = top / ".git" / "index"
    data = index.read_bytes()
    offsets = entry_offsets(data)
    names = [name for name, _, _ in cb.parse_index(data).entries]
    for name, mode in [(b"a.txt", 0o100664), (b"lib/one", 0o160755)]:
        patch(index, offsets[names.index(name)] + 24, mode.to_bytes(4, "big"))
    entries = listed(top)
    assert (b"a.txt", 0, 0o100664) in entries and (b"lib/one", 0, 0o160755) in entries
    assert_read_as_git_lists(top)
    assert "lib/one" in cb.index_gitlinks(str(index))


def test_a_missing_index_has_no_gitlinks(tmp_path):
    assert cb.index_gitlinks(str(tmp_path / "index")) == []
    assert cb.index_gitlinks("") == []  # index_file's answer for a .git file pointing nowhere


# --- what git would refuse, or claudebox cannot read ------------------------------------------


@pytest.mark.usefixtures("watchdog")
def test_a_fifo_at_the_index_is_refused_without_blocking(tmp_path):
    top = repository(tmp_path)
    index = top / ".git" / "index"
    index.unlink()
    os.mkfifo(index)
    assert "it is a special file, not a file" in refusal(index)


@pytest.mark.usefixtures("watchdog")
def test_a_fifo_at_the_shared_index_is_refused_without_blocking(tmp_path):
    top = repository(tmp_path)
    git("update-index", "--split-index", cwd=top)
    (shared,) = (top / ".git").glob("sharedindex.*")
    shared.unlink()
    os.mkfifo(shared)
    message = refusal(top / ".git" / "index")
    assert f"its shared index {shared.name}: it is a special file, not a file" in message


def test_a_symlink_or_a_directory_at_the_index_is_refused(tmp_path):
    top = repository(tmp_path)
    index = top / ".git" / "index"
    index.rename(tmp_path / "elsewhere")
    index.symlink_to(tmp_path / "elsewhere")
    assert "it is a symlink;" in refusal(index)
    index.unlink()
    index.mkdir()
    assert "it is a directory, not a file" in refusal(index)


def test_a_missing_shared_index_is_refused(tmp_path):
    top = repository(tmp_path)
    git("update-index", "--split-index", cwd=top)
    (shared,) = (top / ".git").glob("sharedindex.*")
    shared.unlink()
    assert f"its shared index {shared.name}: it is missing;" in refusal(top / ".git" / "index")


def test_a_shared_index_that_is_not_the_one_named_is_refused(tmp_path):
    top = repository(tmp_path)
    git("update-index", "--split-index", cwd=top)
    (shared,) = (top / ".git").glob("sharedindex.*")
    patch(shared, 40, b"\0\0\0\1")  # another uid for its first entry
    assert "its shared index is not the one its link extension names" in refusal(
        top / ".git" / "index"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "it does not start as git's index does"),
        (b"DIRC\0\0\0\2\0\0\0\0", "it is cut short"),
        (b"not an index at all" * 10, "it does not start as git's index does"),
        (with_checksum(b"DIRC\0\0\0\5\0\0\0\0"), "it is version 5; git reads versions 2 to 4"),
        (b"DIRC\0\0\0\2\0\0\0\0" + bytes(range(20)), "its checksum is wrong"),
        (with_checksum(b"DIRC\0\0\0\2\0\0\0\1"), "it ends inside entry 0"),
    ],
)
def test_what_git_would_refuse_is_refused(tmp_path, content, reason):
    index = tmp_path / "index"
    index.write_bytes(content)
    assert f": {reason}" in refusal(index)


def test_an_index_of_no_entries_is_read(tmp_path):
    index = tmp_path / "index"
    index.write_bytes(with_checksum(b"DIRC\0\0\0\2\0\0\0\0"))
    assert cb.index_gitlinks(str(index)) == []


def test_extensions_are_skipped_by_their_size_or_refused(tmp_path):
    """An optional extension (its signature starts A-Z) is skipped; another is refused, as
    is one whose size runs past the checksum."""
    top = repository(tmp_path)
    index = top / ".git" / "index"
    original = index.read_bytes()
    tree = original.index(b"TREE", entry_offsets(original)[-1])
    patch(index, tree, b"ABCD\0\0\0\3xyz", replacing=0)
    assert_read_as_git_lists(top)
    patch(index, tree, b"abcd")
    assert "it has an extension git does not know (abcd)" in refusal(index)
    index.write_bytes(original)
    patch(index, tree + 4, b"\0\1\0\0")
    assert "its TREE extension runs past its end" in refusal(index)


def test_entries_git_would_refuse_are_refused(tmp_path):
    top = repository(tmp_path)
    git("update-index", "--skip-worktree", "a.txt", cwd=top)  # extended flags: version 3
    index = top / ".git" / "index"
    original = index.read_bytes()
    first = entry_offsets(original)[0] + 40 + 20  # a.txt's flags, then its extended flags
    assert original[first] & 0x40 and original[first + 2] == 0x40
    patch(index, first + 2, b"\xc0")  # a flag git does not know
    assert "its entry 0 has flags git does not know" in refusal(index)
    index.write_bytes(original)
    patch(index, first + 1, bytes([original[first + 1] + 1]))
    assert "its entry 0's name is not as long as its flags say" in refusal(index)


def test_entries_out_of_order_are_refused(tmp_path):
    top = repository(tmp_path)
    index = top / ".git" / "index"
    data = index.read_bytes()
    name = entry_offsets(data)[0] + 62
    assert data[name : name + 6] == b"a.txt\0"
    patch(index, name, b"z.txt")
    assert f"its entries are not in git's order (at {LONG_PATH!r})" in refusal(index)


def test_a_v4_name_dropping_more_than_there_is_is_refused(tmp_path):
    top = repository(tmp_path)
    git("update-index", "--index-version", "4", cwd=top)
    index = top / ".git" / "index"
    varint = entry_offsets(index.read_bytes())[0] + 62
    patch(index, varint, b"\1")
    assert "an entry drops more of the name before it than there is" in refusal(index)


@pytest.mark.parametrize("cut_file", ["index", "sharedindex"])
def test_an_index_cut_anywhere_is_refused(tmp_path, cut_file):
    """Cut short anywhere, a split index, or its shared index, is refused."""
    top = repository(tmp_path, gitlinks=GITLINKS[:3])
    git("update-index", "--split-index", cwd=top)
    git("update-index", "--add", "--cacheinfo", f"160000,{head(top)},lib/added", cwd=top)
    path = next((top / ".git").glob(f"{cut_file}*"))
    data = path.read_bytes()
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        refusal(top / ".git" / "index")


@pytest.mark.parametrize("version", [2, 4])
def test_an_index_cut_anywhere_and_given_a_checksum_is_refused_or_whole(tmp_path, version):
    """Cut short anywhere and given a checksum again (or zeros), an index is refused, or holds
    all its entries (cut after them, inside its extensions), never fewer nor others."""
    top = repository(tmp_path, gitlinks=GITLINKS[:3])
    git("update-index", "--index-version", str(version), cwd=top)
    entries = listed(top)
    data = (top / ".git" / "index").read_bytes()[:-20]
    whole = 0
    for cut in range(len(data) + 1):
        for trailer in (hashlib.sha1(data[:cut]).digest(), bytes(20)):
            try:
                parsed = cb.parse_index(data[:cut] + trailer)
                read = list(cb.resolve_index(parsed, None))
            except ValueError:
                continue
            assert read == entries
            whole += 1
    assert whole >= 2  # the uncut body, with either trailer


@pytest.mark.parametrize("changed", ["index", "sharedindex"])
def test_an_index_changed_anywhere_is_read_or_refused_with_a_reason(tmp_path, changed):
    """Bytes changed at random (and the checksum made right again) in a split index or its
    shared index: each is read or refused with a reason (ValueError), never another error."""
    top = repository(tmp_path, gitlinks=GITLINKS[:3])
    git("update-index", "--split-index", cwd=top)
    git("update-index", "--cacheinfo", f"160000,{head(top)},a.txt", cwd=top)
    git("update-index", "--force-remove", "run.sh", cwd=top)
    files = {"index": (top / ".git" / "index").read_bytes()}
    files["sharedindex"] = next((top / ".git").glob("sharedindex.*")).read_bytes()
    randoms = random.Random(0)
    outcomes = set()
    for _ in range(1500):
        body = bytearray(files[changed][:-20])
        for _ in range(randoms.randint(1, 3)):
            body[randoms.randrange(len(body))] = randoms.choice(
                [0, 1, 0xFF, randoms.randrange(256)]
            )
        data = {**files, changed: with_checksum(bytes(body))}
        try:
            index = cb.parse_index(data["index"])
            shared = cb.parse_index(data["sharedindex"], 20) if index.link else None
            cb.resolve_index(index, shared)
            outcomes.add("read")
        except ValueError:
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}


def test_the_fix_the_refusal_names_mends_the_index(tmp_path):
    top = repository(tmp_path)
    index = top / ".git" / "index"
    index.write_bytes(b"not an index at all")
    refusal(index)
    git("read-tree", "HEAD", cwd=top)
    assert cb.index_gitlinks(str(index)) == []  # the gitlinks were staged, never committed
    assert [name for name, _, _ in listed(top)] == [b"a.txt", b"link", b"run.sh", b"sub/dir/b.txt"]
    assert (top / "a.txt").read_text() == "a\n"


# --- the pure parts: EWAH bitmaps, a split index merged --------------------------------------


def bitmap(*positions: int) -> tuple[int, ...]:
    """An EWAH bitmap of literal words only: one marker word, then the words."""
    literals = [0] * (max(positions, default=-1) // 64 + 1)
    for position in positions:
        literals[position // 64] |= 1 << position % 64
    return (len(literals) << 33, *literals)


@pytest.mark.parametrize(
    ("words", "positions"),
    [
        ((), []),
        ((0,), []),  # git's empty bitmap: one marker word of nothing
        (bitmap(0, 1, 3, 64, 130), [0, 1, 3, 64, 130]),
        ((1 | 2 << 1,), list(range(128))),  # a run of two words of ones
        ((2 << 1 | 1 << 33, 1 << 63), [191]),  # two words of zeros, then a literal word
        ((1 << 33, 1, 1 | 1 << 1 | 1 << 33, 1 << 5), [0, *range(64, 128), 133]),
    ],
)
def test_ewah_positions(words, positions):
    assert list(cb.ewah_positions(words, 1000)) == positions


@pytest.mark.parametrize("words", [bitmap(10), (1 | 1 << 1,)])
def test_ewah_positions_past_the_shared_index_are_refused(words):
    with pytest.raises(ValueError, match=r"^its link extension names shared entry 10 of 10$"):
        list(cb.ewah_positions(words, 10))


def test_an_ewah_bitmap_is_parsed_as_git_writes_it():
    """Its size in bits, its number of words, the words, the position of its last marker."""
    words = bitmap(3, 70)
    payload = b"\xff" * 4 + struct.pack(f">II{len(words)}QI", 71, len(words), *words, 0)
    assert cb.parse_ewah(payload, 4) == (words, len(payload))
    cut = payload[:-1]
    with pytest.raises(ValueError, match="ends inside a bitmap"):
        cb.parse_ewah(cut, 4)
    more = struct.pack(">IIQI", 64, 1, 1 << 33, 0)  # one literal word announced, none there
    with pytest.raises(ValueError, match="more literal words than words"):
        cb.parse_ewah(more, 0)


SHARED_CHECKSUM = b"\x01" * 20
FILE, GITLINK = 0o100644, 0o160000


def split_index(entries, replaced=(), deleted=(), shared=SHARED_CHECKSUM) -> cb.GitIndex:
    link = cb.SplitLink(shared, bitmap(*deleted), bitmap(*replaced))
    return cb.GitIndex(2, 20, tuple(entries), link, b"\x02" * 20)


def shared_index(*entries) -> cb.GitIndex:
    return cb.GitIndex(2, 20, entries, None, SHARED_CHECKSUM)


def test_a_split_index_is_merged_as_git_merges_it():
    """Replaced at their positions (keeping the shared names), deleted, added in order; a
    stage-0 entry added for a conflicted name replaces its stages; replaced then deleted is
    deleted."""
    shared = shared_index(
        (b"a", 0, FILE), (b"b", 0, FILE), (b"c", 1, FILE), (b"c", 2, FILE), (b"d", 0, FILE)
    )
    split = split_index(
        [(b"", 0, GITLINK), (b"", 0, FILE), (b"aa", 0, GITLINK), (b"c", 0, FILE)],
        replaced=(0, 4),
        deleted=(1, 4),
    )
    assert cb.resolve_index(split, shared) == (
        (b"a", 0, GITLINK),
        (b"aa", 0, GITLINK),
        (b"c", 0, FILE),
    )


@pytest.mark.parametrize(
    ("split", "reason"),
    [
        (
            split_index([(b"a", 0, FILE)], replaced=(0,)),
            "its entry 0 replaces a shared one but has a name",
        ),
        (split_index([], replaced=(0,)), "its link extension replaces more entries than it has"),
        (split_index([(b"", 0, FILE)]), "its entry 0 is added but has no name"),
        (split_index([], deleted=(2,)), "its link extension names shared entry 2 of 2"),
        (split_index([(b"a", 1, FILE)]), "its entries are not in git's order (at 'a')"),
        (split_index([], shared=b"\x03" * 20), "its shared index is not the one its link"),
    ],
)
def test_a_split_index_git_would_refuse_is_refused(split, reason):
    shared = shared_index((b"a", 0, FILE), (b"b", 0, FILE))
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}"):
        cb.resolve_index(split, shared)
