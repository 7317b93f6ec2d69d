"""Bad input gets one `claudebox: error:` line with the fix (or works), never a hang, a
traceback, a silent pass-through to claude, or a half-written state directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from harness import Box, instance_dir, profiles_dir


def assert_one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("claudebox: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_a_profile_that_is_a_fifo_is_refused_at_once(box: Box) -> None:
    fifo = profiles_dir(box) / "default.json"
    os.mkfifo(fifo, 0o600)
    box.chown(fifo)
    result = box.run("--yes", "true", timeout=20)  # a hang fails the test by its timeout
    assert_one_error_line(result, str(fifo), "not a regular file")


def test_a_deeply_nested_profile_is_refused(box: Box) -> None:
    path = box.write(
        profiles_dir(box) / "deep.json",
        '{"env": ' + "[" * 100000 + "]" * 100000 + "}",
    )
    result = box.run("--yes", "--profile", "deep", "true")
    assert_one_error_line(result, str(path), "nested")


def test_a_profile_that_is_not_utf8_is_refused(box: Box) -> None:
    path = profiles_dir(box) / "latin.json"
    path.write_bytes(b'{"description": "caf\xe9"}')
    box.chown(path)
    result = box.run("--yes", "--profile", "latin", "true")
    assert_one_error_line(result, str(path), "UTF-8")


def test_a_project_whose_name_is_not_utf8_works_and_leaves_no_temporary_files(box: Box) -> None:
    name = b"caf\xe9-project"
    project = os.path.join(os.fsencode(box.home), name)
    os.mkdir(project, 0o755)
    os.chown(project, box.user.pw_uid, box.user.pw_gid)
    result = subprocess.run(
        box.command(["--yes", "--network", "none", "pwd > here.txt; echo ran"]),
        env=box.env(),
        cwd=project,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == b"ran\n"
    assert open(os.path.join(project, b"here.txt"), "rb").read() == project + b"\n"
    leftovers = [
        path
        for path in (box.home / ".claudebox").rglob("*")
        if re.search(r"\.(tmp|claudebox-\d+)$", path.name)
    ]
    assert leftovers == []
    dry = subprocess.run(
        box.command(["--dry-run", "--json"]),
        env=box.env(),
        cwd=project,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["project"] == os.fsdecode(project)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["--netwrok", "none"], "--network"),
        (["--network=none", "--dyr-run"], "--dry-run"),
        (["--profil", "web"], "--profile"),
        (["--shel"], "--shell"),
    ],
)
def test_a_near_miss_of_a_claudebox_option_is_not_passed_to_claude(
    box: Box, typed: list[str], meant: str
) -> None:
    result = box.run("--yes", *typed, "echo RAN")
    assert "RAN" not in result.stdout
    assert_one_error_line(result, f"did you mean {meant}?", "after --")
    assert result.returncode == 2


def test_claude_options_still_pass_through(box: Box) -> None:
    result = box.run("--yes", "--network", "none", 'echo "$@"', "--verbose", "--bg", "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "--verbose --bg --print\n"


def test_state_directories_are_private_from_their_first_moment(box: Box) -> None:
    strace = shutil.which("strace")
    assert strace is not None, "strace is needed (apt install strace)"
    log = box.root / "strace.log"
    result = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=mkdir,mkdirat",
            "-o",
            str(log),
            *box.command(["--yes", "--network", "none", "true"]),
        ],
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    state = str(box.home / ".claudebox")
    made = [line for line in log.read_text().splitlines() if state in line and "mkdir" in line]
    assert any(f'"{state}"' in line for line in made), made
    for line in made:
        assert re.search(r", 0700\)", line), line
    for directory in (box.home / ".claudebox", box.home / ".claudebox" / "instances"):
        assert oct(directory.stat().st_mode & 0o777) == "0o700"


# Bad input in a home: what a path of Claude's state may be instead of a regular file or a
# directory (a session writes the instance's; anything may be in the host's), planted as root.
BAD_KINDS = ("fifo", "device", "socket", "huge file", "symlink loop", "unreadable")
HOME_PLACES = (
    "host ~/.claude entry",
    "host ~/.claude",
    "host ~/.claude.json",
    "instance .claude.json",
    "instance .credentials.json",
    "instance root",
    "instance lock",
    "instance claude",
    "instance claude entry",
    "instance claude settings.json",
)


def place_path(box: Box, place: str) -> Path:
    instance = instance_dir(box.home, box.project)
    return {
        "host ~/.claude entry": box.home / ".claude" / "settings.json",
        "host ~/.claude": box.home / ".claude",
        "host ~/.claude.json": box.home / ".claude.json",
        "instance .claude.json": instance / "claude" / ".claude.json",
        "instance .credentials.json": instance / "claude" / ".credentials.json",
        "instance root": instance / "root",
        "instance lock": instance / "lock",
        "instance claude": instance / "claude",
        "instance claude entry": instance / "claude" / "planted",
        # the project's own settings (a session may replace them), read at every launch
        "instance claude settings.json": instance / "claude" / "settings.json",
    }[place]


def plant_bad(box: Box, path: Path, kind: str) -> None:
    """`path` becomes a `kind`, owned by the test user (a device node: root's, as mknod makes)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "device":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: reads never end
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
    elif kind == "huge file":
        with open(path, "wb") as handle:
            handle.truncate(200 << 20)  # sparse
    elif kind == "symlink loop":
        path.symlink_to(path.name)
    else:
        if path.name in (".claude", "claude", "planted"):
            path.mkdir()
            box.write(path / "settings.json", "{}\n")
        else:
            path.write_text("{}\n")
        path.chmod(0o000)
    if kind != "device":
        os.lchown(path, box.user.pw_uid, box.user.pw_gid)


def clean_or_working(result: subprocess.CompletedProcess[str], works: str) -> str:
    """What a run came to: works (exit 0, `works` on stdout), refused (with its one
    `claudebox: error:` line), else its output (a traceback, an internal error, many lines)."""
    if "Traceback" in result.stderr or "internal error" in result.stderr:
        return result.stderr[-2000:]
    if result.returncode == 0 and works in result.stdout:
        return "works"
    errors = [line for line in result.stderr.splitlines() if line.startswith("claudebox: error:")]
    if result.returncode != 0 and len(errors) == 1:
        return "refused: " + errors[0]
    return f"exit {result.returncode}: {result.stdout}{result.stderr}"


WORKS = {"launch": "ran", "dry-run": "--stage"}  # what stdout holds when it works
# Where a launch stops with one clean line rather than works: claudebox's own lock is made by
# claudebox (a session cannot replace it) and must be what it made; the message names it. The
# instance's claude/ that is not a directory is moved aside, one closed to its owner reopened.
LOCK_REFUSED = "refused: claudebox: error: cannot create {lock}: "
EXPECTED_BAD_HOME: dict[tuple[str, str], dict[str, str]] = {
    ("instance lock", "socket"): {"launch": LOCK_REFUSED + "No such device or address"},
    ("instance lock", "symlink loop"): {
        "launch": LOCK_REFUSED + "Too many levels of symbolic links"
    },
    ("instance lock", "unreadable"): {"launch": LOCK_REFUSED + "Permission denied"},
}


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("place", HOME_PLACES)
def test_bad_input_in_a_home_gives_one_clean_line_or_works(box: Box, place: str, kind: str) -> None:
    """A launch (with an API key: its answer is copied into the instance's .claude.json), a
    --dry-run and a --gc (the project still there, then gone) over a home where `place` is a
    `kind`: each works or stops with one `claudebox: error:` line, within its timeout (a
    blocking open of a FIFO, or a read of a device or a huge file, fails by the timeout)."""
    env = {"ANTHROPIC_API_KEY": "sk-ant-api03-" + "x" * 40}
    if place.startswith("instance"):
        first = box.run("--yes", "--network", "none", "true", env=env)
        assert first.returncode == 0, first.stderr
    path = place_path(box, place)
    plant_bad(box, path, kind)
    assert os.path.lexists(path)  # the control: the plant is there
    outcomes = {
        "launch": box.run("--yes", "--network", "none", "echo ran", env=env, timeout=30),
        "dry-run": box.run("--dry-run", timeout=30),
        "gc": box.run("--gc", "--dry-run", timeout=30),
    }
    if place.startswith("instance"):
        box.project.rename(box.project.with_name("moved"))  # the instance's project is gone
        outcomes["gc, project gone"] = box.run("--gc", "--dry-run", cwd=box.home, timeout=30)
        outcomes["gc removing"] = box.run("--gc", cwd=box.home, timeout=30)
    found = {
        what: clean_or_working(result, WORKS.get(what, "")) for what, result in outcomes.items()
    }
    instance = instance_dir(box.home, box.project)
    names = {"lock": instance / "lock", "claude": instance / "claude"}
    expected = {what: "works" for what in outcomes}
    for what, refused in EXPECTED_BAD_HOME.get((place, kind), {}).items():
        expected[what] = refused.format(**names)
        found[what] = found[what].split("; check")[0]  # the rest: the fix
    assert found == expected
    if place == "instance root":
        assert outcomes["gc"].stdout.startswith("corrupt "), outcomes["gc"].stdout
    if place.startswith("instance"):  # --gc removes it, unless its root or lock is not usable
        bad_lock = place == "instance lock" and (place, kind) in EXPECTED_BAD_HOME
        kept = place == "instance root" or bad_lock
        assert instance.exists() == kept
    for what, result in outcomes.items():  # nothing of the plant is printed whole
        assert len(result.stdout) + len(result.stderr) < 64 << 10, what


def test_a_claude_home_elsewhere_is_refused_not_left_behind(box: Box) -> None:
    """home-manager's programs.claude-code.configDir exports CLAUDE_CONFIG_DIR: the login and
    settings are there, not in ~/.claude. One error line, nothing started, nothing created."""
    config_dir = box.home / ".config" / "claude"
    box.mkdir(config_dir.parent)
    box.mkdir(config_dir)
    box.write(config_dir / ".credentials.json", "{}\n", mode=0o600)
    result = box.probe("echo started", env={"CLAUDE_CONFIG_DIR": str(config_dir)})
    errors = [line for line in result.stderr.splitlines() if line.startswith("claudebox: error:")]
    assert (result.returncode, result.stdout, len(errors)) == (2, "", 1), result.stderr
    assert f"CLAUDE_CONFIG_DIR is set ({config_dir}" in errors[0]
    assert not (box.home / ".claude").exists()
