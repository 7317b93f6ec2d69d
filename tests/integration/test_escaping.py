"""Everything claudebox prints is safe to print: a name, symlink target or value from the host's
files or from a session reaches the terminal escaped (HOSTILE_SHOWN), never as the ESC, CR,
BEL, bidi override or undecodable byte it holds (HOSTILE), on every path that prints one: the
audit (and --details), --dry-run (which still pastes into bash and zsh), --dry-run --json,
--list-profiles, --show-profile, --gc, a warning and an error line. The red-team side (what a
session plants, printed by the review and the next launch) is in redteam/test_rt_terminal.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from harness import (
    HOSTILE,
    HOSTILE_QUOTED,
    HOSTILE_SHOWN,
    Box,
    assert_printable,
    profiles_dir,
    run_bytes,
)


def printed(result: subprocess.CompletedProcess[bytes], what: str) -> str:
    """stdout and stderr, each checked printable, as one text."""
    return assert_printable(result.stdout, f"{what} stdout") + assert_printable(
        result.stderr, f"{what} stderr"
    )


def user_path(box: Box, path: bytes, *, directory: bool = True) -> bytes:
    if directory:
        os.mkdir(path, 0o700)
    else:
        with open(path, "wb") as handle:
            handle.write(b"x\n")
    os.chown(path, box.user.pw_uid, box.user.pw_gid)
    return path


def test_a_hostile_project_directory_is_escaped_and_its_dry_run_still_pastes(box: Box) -> None:
    """The project's own name, in the audit, --details, --dry-run and --dry-run --json; the
    --dry-run text, pasted into bash, runs in that very directory."""
    project = user_path(box, os.fsencode(box.home) + b"/proj-" + HOSTILE)
    shown = f"proj-{HOSTILE_SHOWN}"
    for options in ((), ("--details",)):
        result = run_bytes(box, "--yes", "--network", "none", *options, "echo ran", cwd=project)
        assert result.returncode == 0, result.stderr
        assert shown in printed(result, f"audit {options}")
    dry = run_bytes(box, "--dry-run", "--network", "none", "pwd > pasted-from", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert f"/proj-{HOSTILE_QUOTED}'" in printed(dry, "--dry-run")
    pasted = subprocess.run(
        box.as_user(["/bin/bash", "-c", dry.stdout]),
        env=box.env(),
        cwd=project,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    with open(project + b"/pasted-from", "rb") as handle:
        assert handle.read() == project + b"\n"
    as_json = run_bytes(box, "--dry-run", "--json", cwd=project)
    assert as_json.returncode == 0, as_json.stderr
    printed(as_json, "--dry-run --json")
    assert os.fsencode(json.loads(as_json.stdout)["project"]) == project


def test_hostile_claude_entries_and_symlink_targets_are_escaped_in_the_audit(box: Box) -> None:
    """Names in the host's ~/.claude and where its symlinks lead, in the audit and --details."""
    claude = box.mkdir(box.home / ".claude")
    user_path(box, os.fsencode(claude) + b"/" + HOSTILE, directory=False)
    os.symlink(b"/elsewhere/" + HOSTILE, os.fsencode(claude) + b"/link")
    os.lchown(claude / "link", box.user.pw_uid, box.user.pw_gid)
    # (--yes shows a summary: the audit is the one a launch with no terminal to ask on shows)
    for options in (("--yes", "--details"), ()):
        result = run_bytes(box, "--network", "none", *options, "echo ran")
        assert result.returncode == (0 if options else 2), result.stderr
        text = printed(result, f"audit {options}")
        if options:
            assert f"    {HOSTILE_SHOWN}: read-only" in text
            assert f"symlink to /elsewhere/{HOSTILE_SHOWN}, not followed" in text
        else:  # its middle gives way to the line's end
            assert "~/.claude/link -> /elsewhere/" in text and "evil\\xff (not followed" in text


def test_a_warning_naming_a_hostile_directory_is_escaped(box: Box) -> None:
    """~/.claude is a symlink to a directory with a hostile name, holding more entries than
    come in: the warning naming it (--dry-run's and the audit's) is escaped."""
    target = user_path(box, os.fsencode(box.home) + b"/claude-" + HOSTILE)
    for number in range(80):
        user_path(box, target + f"/entry-{number}".encode(), directory=False)
    os.symlink(target, box.home / ".claude")
    os.lchown(box.home / ".claude", box.user.pw_uid, box.user.pw_gid)
    dry = run_bytes(box, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f" more entries of ~/claude-{HOSTILE_SHOWN} stay outside" in printed(dry, "--dry-run")
    launched = run_bytes(box, "--yes", "--network", "none", "echo ran")
    assert launched.returncode == 0, launched.stderr
    assert HOSTILE_SHOWN in printed(launched, "audit")


def test_hostile_profile_names_and_descriptions_are_escaped(box: Box) -> None:
    """A description (in --list-profiles, --show-profile and the audit) and a profile file's
    name (--list-profiles says it is not a profile name)."""
    directory = os.fsencode(profiles_dir(box))
    description = HOSTILE.decode("utf-8", "surrogateescape")
    box.write(Path(os.fsdecode(directory)) / "web.json", json.dumps({"description": description}))
    user_path(box, directory + b"/" + HOSTILE + b".json", directory=False)
    listed = run_bytes(box, "--list-profiles")
    assert listed.returncode == 0, listed.stderr
    lines = printed(listed, "--list-profiles").splitlines()
    assert f"web\tok\t{HOSTILE_SHOWN}" in lines
    assert any(line.startswith(f"{HOSTILE_SHOWN}\tinvalid: ") for line in lines), lines
    shown = run_bytes(box, "--show-profile", "web")
    assert shown.returncode == 0, shown.stderr
    printed(shown, "--show-profile")
    assert json.loads(shown.stdout)["description"]["value"] == description
    launched = run_bytes(box, "--network", "none", "--profile", "web", "echo ran")
    assert launched.returncode == 2, launched.stderr  # no terminal to confirm on
    assert f"web (--profile; web): {HOSTILE_SHOWN}" in printed(launched, "audit")


@pytest.mark.parametrize("remove", [False, True])
def test_a_hostile_instance_root_is_escaped_by_gc(box: Box, remove: bool) -> None:
    instance = box.home / ".claudebox" / "instances" / "0123456789abcdef"
    for directory in reversed(instance.parents[:2]):  # ~/.claudebox and instances: the user's
        box.mkdir(directory).chmod(0o700)
    box.mkdir(instance)
    (instance / "root").write_bytes(b"/gone/" + HOSTILE + b"\n")
    box.chown(instance / "root")
    result = run_bytes(box, "--gc", *(() if remove else ("--dry-run",)))
    assert result.returncode == 0, result.stderr
    verb = "removed" if remove else "would remove"
    assert f"{verb} 0123456789abcdef (" in printed(result, "--gc")
    assert f"/gone/{HOSTILE_SHOWN} no longer exists" in printed(result, "--gc")


def test_an_error_line_naming_a_hostile_value_is_escaped_and_stays_one_line(box: Box) -> None:
    value = os.fsdecode(HOSTILE + b"\nclaudebox: all is well")
    result = run_bytes(box, "--gc", value)
    assert result.returncode == 2
    assert printed(result, "error").splitlines() == [  # the word as --dry-run quotes it
        r"claudebox: error: --gc takes no claude arguments (got $'\x1b[2J\x1b]0;owned\x07\x0d"
        r"fake\xe2\x80\xaeevil\xff\x0aclaudebox: all is well')"
    ]
