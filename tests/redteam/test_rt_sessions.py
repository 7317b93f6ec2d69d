"""Red team across sessions: what one session leaves behind in the paths claudebox binds (the
host's ~/.claude, the protected project paths, the shared caches, Claude's credentials) must
open nothing to the next session, to another project's session (also a concurrent one) or to
the host.

Classes (issue 12): symlinks at bind points, absolute and relative (claudebox binds nothing
through a symlink it did not make, except into /nix/store, and says so in the audit); state
shared between projects; Claude's credentials. A planted project never makes the next launch
fail with a raw `bwrap:` message or a traceback: it works with nothing extra visible, or stops
with one `claudebox: error:` line naming the planted path.

Secrets are canaries in the fake home (~/.ssh, ~/.netrc) and in a host /tmp directory the test
owns; each plant is first followed on the host without claudebox (the positive control: the
symlink leads to the secret there).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Box, wait_for
from rtlib import install_store_python
from sessionlib import (
    WALK_FOR_MARKER,
    another_project,
    brief,
    canary,
    clean_outcome,
    halves,
    host_sh,
    outcome_of,
    symlink_text,
    user_dir,
    warnings_naming,
)

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"


def plant_secrets(box: Box, marker: str) -> None:
    """Canaries: ~/.ssh, ~/.netrc and a directory in the host's /tmp (outside the home)."""
    for directory in (box.home / ".ssh", box.root / "hostsecret" / "dir"):
        box.write(directory / "id_ed25519", f"{marker} key\n")
    box.write(box.home / ".netrc", f"machine x password {marker}\n")


def secret_target(box: Box, which: str) -> tuple[Path, str]:
    """A symlink target and the path below it to a secret file ("" when it is one). The home
    and the host's /tmp exist inside the sandbox (a tmpfs each): a bind redirected there by a
    relative symlink succeeds, and shows the host's directory in their place."""
    tmp_dir = box.root / "hostsecret" / "dir"
    return {
        "~/.ssh": (box.home / ".ssh", "id_ed25519"),
        "~/.ssh/id_ed25519": (box.home / ".ssh" / "id_ed25519", ""),
        "~/.netrc": (box.home / ".netrc", ""),
        "a host /tmp dir": (tmp_dir, "id_ed25519"),
        "a host /tmp file": (tmp_dir / "id_ed25519", ""),
        "the home directory": (box.home, ".ssh/id_ed25519"),
        "the host's /tmp": (Path("/tmp"), f"{box.root.name}/hostsecret/dir/id_ed25519"),
    }[which]


def plant_link(box: Box, link: Path, description: str) -> tuple[str, Path]:
    """Session 1 makes LINK a symlink as DESCRIPTION says ("relative to ~/.ssh", "absolute to
    the host's /tmp", …); the positive control follows it on the host to the secret. Returns
    the link's text and the secret file as reached through the link."""
    kind, _, which = description.partition(" to ")
    target, below = secret_target(box, which)
    text = symlink_text(link, target, relative=kind == "relative")
    planted = box.probe(
        'mkdir -p "$(dirname "$2")" && ln -s "$1" "$2" && echo planted', text, str(link)
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert link_text(link) == text
    through = link / below if below else link
    control = host_sh(box, 'cat "$1"', str(through))
    assert "CANARY-" in control.stdout, control.stderr  # on the host the link leads to the secret
    return text, through


def link_text(link: Path) -> str | None:
    """What the host's symlink says now (None: it is gone or no longer a symlink)."""
    return os.readlink(link) if link.is_symlink() else None


def walk_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The finds of WALK_FOR_MARKER after the `launched` line (it must have completed)."""
    lines = result.stdout.splitlines()
    assert "walk-done" in lines, (result.stdout, brief(result.stderr))
    return lines[1 : lines.index("walk-done")]


def audit_says_symlink(stderr: str, name: str) -> bool:
    return any(name in line and "symlink" in line for line in stderr.splitlines())


CLAUDE_ENTRY_LINKS = (
    "absolute to ~/.ssh",
    "relative to ~/.ssh",
    "absolute to ~/.netrc",
    "relative to ~/.netrc",
    "absolute to a host /tmp dir",
    "relative to a host /tmp dir",
    "absolute to the home directory",
    "relative to the home directory",
    "absolute to the host's /tmp",
    "relative to the host's /tmp",
)


@pytest.mark.parametrize("link_to", CLAUDE_ENTRY_LINKS)
def test_symlinks_planted_in_the_claude_dir_are_not_followed_by_the_next_session(
    box: Box, link_to: str
) -> None:
    """~/.claude is bound read-write: session 1 adds a top-level entry that is a symlink out of
    everything claudebox names. Session 2 binds entries it did not classify read-only, which
    followed the symlink: it must launch, not see the target, and its audit must say why."""
    marker = canary()
    plant_secrets(box, marker)
    link = box.home / ".claude" / "planted"
    box.mkdir(link.parent)
    text, through = plant_link(box, link, link_to)
    result = box.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), str(through))
    found = {
        "outcome": clean_outcome(result, "planted"),
        "secret read at": walk_lines(result),
        "audit names it a symlink": audit_says_symlink(result.stderr, "planted"),
        "host link": link_text(link),
    }
    assert found == {
        "outcome": "launched",
        "secret read at": [],
        "audit names it a symlink": True,
        "host link": text,
    }, brief(result.stderr)


FILE_PATHS = (".envrc", ".mcp.json", ".claude/settings.json")
DIR_PATHS = (".vscode", ".idea", ".claude", ".claude/commands")
FILE_LINKS = (
    "absolute to a host /tmp file",
    "relative to ~/.ssh/id_ed25519",
    "relative to ~/.netrc",
    "inside the project",
)
DIR_LINKS = (
    "absolute to a host /tmp dir",
    "relative to ~/.ssh",
    "relative to the home directory",
    "relative to the host's /tmp",
    "inside the project",
)
PROTECTED_LINKS = [(path, link) for path in FILE_PATHS for link in FILE_LINKS] + [
    (path, link) for path in DIR_PATHS for link in DIR_LINKS
]


@pytest.mark.parametrize(("path", "link_to"), PROTECTED_LINKS)
def test_symlinks_planted_at_absent_protected_project_paths(
    box: Box, path: str, link_to: str
) -> None:
    """Protected project paths absent at launch are not bound; session 1 makes one a symlink.
    Session 2 binds it read-only, which followed the symlink. Leading inside the project (a
    target the sandbox can write), session 2 must refuse naming it; leading outside, it may
    launch, but the target stays invisible and the symlink cannot be removed or renamed."""
    marker = canary()
    plant_secrets(box, marker)
    link = box.project / path
    if link_to == "inside the project":
        real = box.project / "notes" / ("real-dir" if path in DIR_PATHS else "real-file")
        box.write(box.project / "notes" / "real-file", "notes\n")
        box.mkdir(box.project / "notes" / "real-dir")
        text = os.path.relpath(real, link.parent)
        planted = box.probe(
            'mkdir -p "$(dirname "$2")" && ln -s "$1" "$2" && echo planted', text, path
        )
        assert planted.stdout == "planted\n", brief(planted.stderr)
        through = link
    else:
        text, through = plant_link(box, link, link_to)
    attack = (
        "echo launched; "
        + WALK_FOR_MARKER
        + 'mv "$2" "$2.moved" 2>/dev/null; echo mv=$?; rm "$2" 2>/dev/null; echo rm=$?'
    )
    result = box.probe(attack, *halves(marker), str(through), path)
    outcome = clean_outcome(result, path)
    found: dict[str, object] = {"outcome": outcome, "host link": link_text(link)}
    if outcome == "launched":
        found["secret read at"] = walk_lines(result)
        found["removed or renamed"] = [
            line for line in result.stdout.splitlines() if line in ("mv=0", "rm=0")
        ]
    if link_to == "inside the project":
        assert found == {"outcome": "refused", "host link": text}, brief(result.stderr)
    else:
        assert found in (
            {"outcome": "refused", "host link": text},
            {
                "outcome": "launched",
                "host link": text,
                "secret read at": [],
                "removed or renamed": [],
            },
        ), (found, brief(result.stderr))


@pytest.fixture
def home_manager_store() -> Iterator[Path]:
    """A store path as home-manager makes one: real files, world-readable, owned by root."""
    if os.geteuid() != 0:
        pytest.fail("the home-manager store path is created by running the tests as root")
    hash_part = "".join(secrets.choice(NIX_BASE32) for _ in range(32))
    store = Path("/nix/store") / f"{hash_part}-hm-test"
    try:
        (store / "commands").mkdir(parents=True)
        (store / "settings.json").write_text('{"theme": "hm"}\n')
        (store / "CLAUDE.md").write_text("home-manager instructions\n")
        (store / "commands" / "hm.md").write_text("home-manager command\n")
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(store)], check=True)
        yield store
    finally:
        shutil.rmtree(store, ignore_errors=True)


def test_a_home_manager_claude_dir_works_and_its_symlinks_stay(
    box: Box, home_manager_store: Path
) -> None:
    """home-manager makes ~/.claude/settings.json, CLAUDE.md, commands/ symlinks into
    /nix/store: such a home launches, the entries read as on the host, and the symlinks (in the
    host's ~/.claude, which is bound read-write) cannot be removed, renamed or replaced."""
    claude = box.mkdir(box.home / ".claude")
    links = {name: home_manager_store / name for name in ("settings.json", "CLAUDE.md", "commands")}
    for name, target in links.items():
        (claude / name).symlink_to(target)
        os.lchown(claude / name, box.user.pw_uid, box.user.pw_gid)
    result = box.probe(
        "echo launched; cat ~/.claude/settings.json ~/.claude/CLAUDE.md ~/.claude/commands/hm.md; "
        "rm ~/.claude/settings.json 2>/dev/null; echo rm=$?; "
        "mv ~/.claude/CLAUDE.md ~/.claude/CLAUDE.old 2>/dev/null; echo mv=$?; "
        "ln -sfn /tmp ~/.claude/commands 2>/dev/null; echo relink=$?; "
        "rm -rf ~/.claude/commands 2>/dev/null; echo rm-dir=$?; "
        "echo '{\"hooks\": {}}' > ~/.claude/settings.json 2>/dev/null; echo overwrite=$?"
    )
    assert clean_outcome(result, "settings.json") == "launched"
    assert result.stdout.splitlines() == [
        "launched",
        '{"theme": "hm"}',
        "home-manager instructions",
        "home-manager command",
        "rm=1",
        "mv=1",
        "relink=1",
        "rm-dir=1",
        "overwrite=1",
    ], brief(result.stderr)
    assert {name: os.readlink(claude / name) for name in links} == {
        name: str(target) for name, target in links.items()
    }
    assert (home_manager_store / "settings.json").read_text() == '{"theme": "hm"}\n'


RACE = r"""
touch ready; i=0
while [ ! -e stop ] && [ $i -lt 200000 ]; do
    ln -sfn {secret} {entry}.tmp && mv -f {entry}.tmp {entry}
    echo plain > {entry}.tmp && mv -f {entry}.tmp {entry}
    i=$((i + 1))
done
"""


@pytest.mark.parametrize("where", ["~/.claude, another project", ".envrc, the same project"])
def test_a_concurrent_session_swapping_an_entry_between_file_and_symlink(
    box: Box, where: str
) -> None:
    """Between claudebox's look at a path and bwrap's mount of it, a concurrent session swaps
    the path between a plain file and a relative symlink to ~/.netrc (renames are atomic, so
    the name always exists). No launch meanwhile may read the secret or fail with a raw bwrap
    message: the check and the mount must see the same object."""
    marker = canary()
    plant_secrets(box, marker)
    if where.startswith("~/.claude"):
        racer, entry = another_project(box, "racer"), box.home / ".claude" / "racer"
    else:
        racer, entry = box, box.project / ".envrc"
    planted = entry.name
    box.mkdir(box.home / ".claude")
    secret = os.path.relpath(box.home / ".netrc", entry.parent)
    snippet = RACE.format(secret=shlex.quote(secret), entry=shlex.quote(str(entry)))
    launches: list[object] = []
    with racer.running(snippet) as process:
        try:
            for _ in range(8):
                result = box.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), str(entry))
                outcome = outcome_of(result, planted)
                launches.append(walk_lines(result) if outcome == "launched" else outcome)
        finally:
            (racer.project / "stop").touch()
            process.wait(timeout=60)
    assert all(item in ([], "refused") for item in launches), launches


def plant_caches(marker_text: str) -> str:
    """A snippet writing a nix fetcher-cache and eval-cache entry and comma state."""
    return (
        "mkdir -p ~/.cache/nix/eval-cache-v5 ~/.local/state/comma && "
        f"echo {marker_text} > ~/.cache/nix/fetcher-cache-v1.sqlite && "
        f"echo {marker_text} > ~/.cache/nix/eval-cache-v5/planted.sqlite && "
        f"echo {marker_text} > ~/.local/state/comma/choices && echo planted"
    )


SEE_CACHES = 'grep -rl -- "$1$2" ~/.cache ~/.local 2>/dev/null; echo done'


def host_files_holding(root: Path, marker: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and marker.encode() in path.read_bytes():
            found.append(path)
    return found


def test_caches_one_project_writes_are_not_seen_by_another(box: Box) -> None:
    """~/.cache/nix (fetcher and eval caches) and ~/.local/state (comma) persist on the host:
    project A's entries must stay A's."""
    marker = canary()
    planted = box.probe(plant_caches('"$1$2"'), *halves(marker))
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert len(host_files_holding(box.home / ".claudebox", marker)) == 3  # persisted on the host
    again = box.probe(SEE_CACHES, *halves(marker))
    assert len(again.stdout.splitlines()) == 4, again.stdout  # A's own later session: kept
    other = another_project(box, "projB")
    result = other.probe(SEE_CACHES, *halves(marker))
    assert result.stdout == "done\n", brief(result.stderr)


def test_a_concurrent_session_of_another_project_finds_nothing_of_a_running_one(
    box: Box,
) -> None:
    """Project A's session is running and has planted cache entries and ~/.claude symlinks
    (relative: to ~/.netrc and to the home directory); project B launches meanwhile."""
    marker = canary()
    plant_secrets(box, marker)
    box.mkdir(box.home / ".claude")
    plant = (
        plant_caches(marker)
        + " && ln -s ../.netrc ~/.claude/from-a && ln -s .. ~/.claude/from-a-home && touch ready"
        + "; i=0; while [ ! -e stop ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done"
    )
    other = another_project(box, "projB")
    with box.running(plant) as session_a:
        try:
            result = other.probe(
                "echo launched; " + WALK_FOR_MARKER,
                *halves(marker),
                str(box.home / ".claude" / "from-a"),
                str(box.home / ".claude" / "from-a-home" / ".ssh"),
                str(box.home / ".cache"),
                str(box.home / ".local" / "state"),
            )
            still_running = session_a.poll() is None
        finally:
            (box.project / "stop").touch()
            session_a.wait(timeout=60)
    assert still_running
    assert clean_outcome(result, "from-a") == "launched"
    assert walk_lines(result) == [], brief(result.stderr)


def test_new_top_level_claude_entries_are_reported_after_the_session(box: Box) -> None:
    """New entries in the host's ~/.claude are shared with every project and the host's own
    Claude: each is named after the session; Claude's refresh lock (made and removed) is not."""
    box.mkdir(box.home / ".claude")
    result = box.probe(
        "mkdir ~/.claude/newdir && echo x > ~/.claude/newdir/f && "
        "echo '{}' > ~/.claude/newfile.json && ln -s /tmp ~/.claude/newlink && "
        "mkdir ~/.claude/.oauth_refresh.lock && rmdir ~/.claude/.oauth_refresh.lock && "
        "echo created"
    )
    assert result.stdout == "created\n", brief(result.stderr)
    found = {
        name: bool(warnings_naming(result.stderr, f".claude/{name}"))
        for name in ("newdir", "newfile.json", "newlink", ".oauth_refresh.lock")
    }
    assert found == {
        "newdir": True,
        "newfile.json": True,
        "newlink": True,
        ".oauth_refresh.lock": False,
    }, brief(result.stderr)


def credentials(box: Box) -> Path:
    return box.write(
        box.home / ".claude" / ".credentials.json", '{"claudeAiOauth": {"accessToken": "a"}}\n'
    )


def test_a_session_refreshes_credentials_by_lock_and_rename(box: Box) -> None:
    """What Claude Code's OAuth refresh does (a lock directory, a temp file renamed over the
    credentials): it works, reaches the host, and is not reported."""
    path = credentials(box)
    new = '{"claudeAiOauth": {"accessToken": "refreshed"}}'
    result = box.probe(
        "umask 077; mkdir ~/.claude/.oauth_refresh.lock && echo locked; "
        f"echo '{new}' > ~/.claude/.credentials.json.tmp.1 && "
        "mv ~/.claude/.credentials.json.tmp.1 ~/.claude/.credentials.json && echo renamed; "
        "rmdir ~/.claude/.oauth_refresh.lock && echo unlocked"
    )
    assert result.stdout.split() == ["locked", "renamed", "unlocked"], brief(result.stderr)
    assert path.read_text() == new + "\n"
    assert stat.S_ISREG(path.lstat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert warnings_naming(result.stderr, ".credentials.json") == []
    again = box.probe("echo launched; cat ~/.claude/.credentials.json")
    assert clean_outcome(again, ".credentials.json") == "launched"
    assert again.stdout == f"launched\n{new}\n"


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_credentials_replaced_by_a_symlink_are_reported_then_refused(
    box: Box, relative: bool
) -> None:
    """Session 1 makes the credentials a symlink to a file it controls (another account's
    tokens: the host's own Claude would then work for that account, its writes land in the
    project). Reported after session 1; the next launch refuses, naming it."""
    path = credentials(box)
    tokens = box.project / "tokens.json"
    text = symlink_text(path, tokens, relative)
    planted = box.probe(
        'echo \'{"claudeAiOauth": {"accessToken": "attacker"}}\' > tokens.json && '
        'ln -sf "$1" ~/.claude/.credentials.json && echo planted',
        text,
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    control = host_sh(box, "cat ~/.claude/.credentials.json")
    assert "attacker" in control.stdout  # the host's Claude would read the attacker's tokens
    result = box.probe("echo launched")
    found = {
        "reported after session 1": bool(warnings_naming(planted.stderr, ".credentials.json")),
        "next launch": clean_outcome(result, ".credentials.json"),
    }
    assert found == {"reported after session 1": True, "next launch": "refused"}, brief(
        planted.stderr
    )


@pytest.mark.parametrize("mode", ["640", "604", "644"])
def test_credentials_made_readable_by_others_are_reported(box: Box, mode: str) -> None:
    credentials(box)
    result = box.probe(f"chmod {mode} ~/.claude/.credentials.json && echo chmodded")
    assert result.stdout == "chmodded\n", brief(result.stderr)
    assert oct((box.home / ".claude" / ".credentials.json").stat().st_mode & 0o777)[2:] == mode
    assert warnings_naming(result.stderr, ".credentials.json"), brief(result.stderr)


def test_control_a_launch_that_finds_the_secret_is_reported_as_such(box: Box) -> None:
    """The walk is able to find a secret that is really there (a copy in the project)."""
    marker = canary()
    user_dir(box, box.project / "copy")
    box.write(box.project / "copy" / "key", f"{marker}\n")
    result = box.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), "copy")
    assert walk_lines(result) == [str(box.project / "copy" / "key"), "via copy"]


def test_control_the_racer_really_swaps(box: Box) -> None:
    """The swapping loop of the race test, run on the host: both states are observed."""
    target = box.write(box.home / ".netrc", "x\n")
    entry = box.project / "racer"
    snippet = RACE.format(secret=shlex.quote(str(target)), entry=shlex.quote(str(entry)))
    process = subprocess.Popen(
        box.as_user(["/bin/sh", "-c", snippet]),
        cwd=box.project,
        env=box.env(),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(box.project / "ready", process=None)
        seen = set()
        for _ in range(100000):
            seen.add("link" if entry.is_symlink() else "file" if entry.exists() else "none")
            if {"link", "file"} <= seen:
                break
        assert {"link", "file"} <= seen, seen
    finally:
        (box.project / "stop").touch()
        process.wait(timeout=30)


# argv: A B. Exchanges the names A and B (renameat2 RENAME_EXCHANGE: both names always exist)
# as fast as it can, from `ready` until `stop` appears (at most 120 s).
EXCHANGER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = (ctypes.c_char_p(os.fsencode(name)) for name in sys.argv[1:3])
open("ready", "w").close()
deadline = time.monotonic() + 120
while not os.path.exists("stop") and time.monotonic() < deadline:
    for _ in range(100):
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
"""

NESTED_LAUNCHES = 16

# The nested session: its project as it sees it, the secret's finds, and a write into it.
IN_NESTED = (
    'echo launched; echo "$(cat README 2>&1) at $PWD"; touch nested-was-here; ' + WALK_FOR_MARKER
)


# A launch's record: how it failed ("refused": one `claudebox: error:` line), or what it saw as
# its project and where it found the secret.
Launch = str | tuple[str, list[str]]


def ran_with_the_real_project(launch: Launch) -> bool:
    if isinstance(launch, str):
        return launch == "refused"
    seen, finds = launch
    return seen.startswith("nested project at ") and not finds


def test_a_concurrent_session_swapping_a_nested_project_with_a_symlink_to_ssh(
    box: Box,
) -> None:
    """Project ~/proj/app lies inside project ~/proj, whose running session (the racer, in its
    sandbox) exchanges the directory `app` with a symlink `alt` -> ../.ssh as fast as it can.
    A path checked (realpath, refusals) and then bound by bwrap by name would bind ~/.ssh
    read-write at the project path whenever an exchange lands in between. Meanwhile `app` is
    launched NESTED_LAUNCHES times (the current directory held by descriptor: whichever name
    the directory has). Each launch runs with the real nested project (the secret neither read
    nor written) or stops with one `claudebox: error:` line (not an internal error); never a raw
    bwrap message. (With bwrap given the paths instead of descriptors, 5 to 11 of 16 launches
    read and wrote ~/.ssh, half of them over 8 runs.)"""
    python = str(install_store_python())
    marker = canary()
    plant_secrets(box, marker)
    app = user_dir(box, box.project / "app", 0o755)
    box.write(app / "README", "nested project\n", mode=0o644)
    ssh = box.home / ".ssh"
    racer = f"ln -s ../.ssh alt && exec {python} -c {shlex.quote(EXCHANGER)} app alt"
    directory = os.open(app, os.O_PATH | os.O_DIRECTORY)
    launches: list[Launch] = []
    host_saw: set[str] = set()
    try:
        with box.running(racer) as process:
            try:
                for _ in range(100000):  # the control: both states, seen from the host
                    try:
                        text = (box.project / "app" / "id_ed25519").read_text()
                        host_saw.add("the secret" if marker in text else text)
                    except (FileNotFoundError, NotADirectoryError):
                        host_saw.add("the project" if (box.project / "app").is_dir() else "?")
                    if {"the secret", "the project"} <= host_saw:
                        break
                for _ in range(NESTED_LAUNCHES):
                    result = box.probe(
                        IN_NESTED, *halves(marker), cwd=Path(f"/proc/{os.getpid()}/fd/{directory}")
                    )
                    outcome = outcome_of(result, str(box.home))
                    if outcome == "launched":
                        seen, *finds = walk_lines(result)
                        launches.append((seen, finds))
                    elif "claudebox: error: internal error" in result.stderr:
                        launches.append(brief(result.stderr))
                    else:
                        launches.append(outcome)
                still_racing = process.poll() is None
            finally:
                (box.project / "stop").touch()
                process.wait(timeout=60)
    finally:
        os.close(directory)
    assert {"the secret", "the project"} <= host_saw, host_saw
    assert still_racing
    found = {
        "launches": [item for item in launches if not ran_with_the_real_project(item)],
        "~/.ssh holds": sorted(path.name for path in ssh.iterdir()),
    }
    assert found == {"launches": [], "~/.ssh holds": ["id_ed25519"]}, (found, launches)
