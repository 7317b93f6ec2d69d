"""Bad input gets one `claudebox: error:` line with the fix (or works), never a hang, a
traceback, a silent pass-through to claude, or a half-written state directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from harness import Box


def profiles_dir(box: Box) -> os.PathLike[str]:
    state = box.mkdir(box.home / ".claudebox")
    state.chmod(0o700)
    profiles = box.mkdir(state / "profiles")
    profiles.chmod(0o700)
    return profiles


def assert_one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("claudebox: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_a_profile_that_is_a_fifo_is_refused_at_once(box: Box) -> None:
    fifo = os.path.join(profiles_dir(box), "default.json")
    os.mkfifo(fifo, 0o600)
    box.chown(type(box.home)(fifo))
    result = box.run("--yes", "true", timeout=20)  # a hang fails the test by its timeout
    assert_one_error_line(result, fifo, "not a regular file")


def test_a_deeply_nested_profile_is_refused(box: Box) -> None:
    path = box.write(
        type(box.home)(profiles_dir(box)) / "deep.json",
        '{"env": ' + "[" * 100000 + "]" * 100000 + "}",
    )
    result = box.run("--yes", "--profile", "deep", "true")
    assert_one_error_line(result, str(path), "nested")


def test_a_profile_that_is_not_utf8_is_refused(box: Box) -> None:
    path = type(box.home)(profiles_dir(box)) / "latin.json"
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
