"""Red team, terminal: keystroke injection into the host terminal (TIOCSTI) fails in every tier,
and names a session plants reach the host terminal escaped (no escape sequence of theirs runs).

The test allocates a pty, makes it claudebox's controlling terminal and stdin, and the static
helper (tests/integration/helpers/tiocsti.c) pushes a byte into it from inside; "wide" carries
junk in the request's upper 32 bits (CVE-2019-10063). Control: the same helper, same user, same
kind of terminal, no sandbox: the injection works.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import HOSTILE, HOSTILE_SHOWN, Box, assert_printable, instance_dir, run_bytes
from rtlib import HELPER, SH, TIERS, tier
from test_sandbox import run_on_pty


@pytest.mark.parametrize("network", TIERS)
def test_tiocsti_into_the_controlling_terminal_fails(box: Box, network: str) -> None:
    helper = f"{HELPER}/tiocsti"
    outside, _ = run_on_pty(box.as_user([helper]), box.env(), box.project)
    assert outside.strip() == "tiocsti ok"
    inside, pending = run_on_pty(
        box.command(["--yes", *tier(network), f"{helper} x X; {helper} wide W"]),
        box.env(),
        box.project,
    )
    assert inside.splitlines()[:2] == ["tiocsti errno 1", "tiocsti errno 1"]
    assert b"X" not in pending and b"W" not in pending


# The hostile name (harness.HOSTILE) as a session makes it: printf in the sandbox's busybox sh.
MAKE_NAME = r"n=$(printf '\033[2J\033]0;owned\007\rfake\342\200\256evil\377')"


def test_names_a_session_plants_reach_the_terminal_escaped(box: Box) -> None:
    """Session 1 names files with ESC, CR, BEL, a bidi override and a byte that is not UTF-8:
    in its own ~/.claude (the instance's), in the project's protected paths (a .gitmodules
    symlink leading to such a name, a git hook with such a name) and a directory. The review
    after it names them, the next launches (in the project, with --details, and in that
    directory) show them, and --gc, once the directory is gone, names it: each escaped, never
    raw. The control: the raw bytes are really in those names on disk."""
    planted = run_bytes(
        box,
        "--yes",
        "--network",
        "none",
        f"{MAKE_NAME}; "
        ': > ~/.claude/"$n"; ln -s "/elsewhere/$n" ~/.claude/link; '
        'ln -s "/elsewhere/$n" .gitmodules; mkdir -p .git/hooks; : > .git/hooks/"$n"; '
        'mkdir "sub-$n"; echo planted',
        cwd=box.project,
    )
    assert planted.stdout == b"planted\n", planted.stderr
    claude = os.fsencode(instance_dir(box.home, box.project) / "claude")
    project = os.fsencode(box.project)
    on_disk = {
        "~/.claude entry": HOSTILE in os.listdir(claude),
        "~/.claude link": os.readlink(claude + b"/link") == b"/elsewhere/" + HOSTILE,
        ".gitmodules (moved aside)": os.readlink(project + b"/.gitmodules.claudebox-quarantined")
        == b"/elsewhere/" + HOSTILE,
        "hook (moved aside)": HOSTILE in os.listdir(project + b"/.git/hooks.claudebox-quarantined"),
        "directory": os.path.isdir(project + b"/sub-" + HOSTILE),
    }
    assert all(on_disk.values()), on_disk
    review = assert_printable(planted.stderr, "review")
    assert f"a symlink to /elsewhere/{HOSTILE_SHOWN}; moved it to" in review
    assert f"git hooks ({HOSTILE_SHOWN}); moved it to" in review
    for options, cwd in (
        ((), project),
        (("--details",), project),
        (("--details",), project + b"/sub-" + HOSTILE),
    ):
        later = run_bytes(box, "--yes", "--network", "none", *options, "echo ran", cwd=cwd)
        assert later.stdout == b"ran\n", later.stderr
        audit = assert_printable(later.stderr, f"audit {options} in {cwd!r}")
    assert f"sandbox for {box.project}/sub-{HOSTILE_SHOWN}\n" in audit
    os.rmdir(project + b"/sub-" + HOSTILE)
    gc = run_bytes(box, "--gc", "--dry-run", cwd=project)
    assert f"{box.project}/sub-{HOSTILE_SHOWN} no longer exists" in assert_printable(gc.stdout)


def test_a_refusal_naming_a_planted_symlink_target_is_escaped(box: Box) -> None:
    """Session 1 makes .envrc a symlink to a directory of the project with a hostile name: the
    next launch refuses it in one `claudebox: error:` line, the name escaped."""
    planted = run_bytes(
        box,
        "--yes",
        "--network",
        "none",
        f'{MAKE_NAME}; mkdir "sub-$n"; ln -s "sub-$n" .envrc; echo planted',
        cwd=box.project,
    )
    assert planted.stdout == b"planted\n", planted.stderr
    assert os.readlink(os.fsencode(box.project / ".envrc")) == b"sub-" + HOSTILE  # the control
    refused = run_bytes(box, "--yes", "--network", "none", "echo ran", cwd=box.project)
    assert refused.returncode == 2 and refused.stdout == b""
    lines = assert_printable(refused.stderr, "refusal").splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"claudebox: error: {box.project}/.envrc is a symlink to sub-{HOSTILE_SHOWN}, inside "
        "the project:"
    ), lines


def test_on_a_real_terminal_a_planted_name_neither_clears_it_nor_sets_its_title(box: Box) -> None:
    """The same names on a terminal (a pty read through an emulator; colour on): session 1's
    review and the next launch's audit, question included, stay on the screen, the title stays
    unset, and the only escape sequences claudebox wrote are its own colours. The control: the
    raw name, printed on the same kind of terminal, clears it and sets the title."""
    with box.terminal(
        argv=box.as_user([SH, "-c", f'echo before; {MAKE_NAME}; printf %s "$n"'])
    ) as control:
        control.wait_for_exit()
        assert (control.emulator.title, "before" in control.screen()) == ("owned", False)
    plant = f'{MAKE_NAME}; ln -s "/elsewhere/$n" .gitmodules; mkdir "sub-$n"; echo planted'
    with box.terminal("--yes", "--network", "none", plant, columns=240, lines=60) as first:
        first.wait_for_exit()
        review = first.screen()
        titles = [first.emulator.title]
        transcripts = [bytes(first.transcript)]
    assert f"a symlink to /elsewhere/{HOSTILE_SHOWN}; moved it to" in review
    assert "claudebox 0.2.0: sandbox for" in review  # the audit above it is still there
    subdirectory = Path(os.fsdecode(os.fsencode(box.project) + b"/sub-" + HOSTILE))
    with box.terminal(
        "--network", "none", "true", cwd=subdirectory, columns=240, lines=60
    ) as later:
        later.wait_for_text("Launch this sandbox? [y/N]")
        later.type(b"n\r")
        later.wait_for_exit()
        audit = later.screen()
        titles.append(later.emulator.title)
        transcripts.append(bytes(later.transcript))
    assert f"claudebox 0.2.0: sandbox for {box.project}/sub-{HOSTILE_SHOWN}" in audit
    assert audit.splitlines()[-2:] == ["Launch this sandbox? [y/N] n", "claudebox: not launched"]
    assert titles == ["", ""]
    for transcript in transcripts:  # colours and the pty's CRLF aside, nothing a terminal acts on
        text = transcript.replace(b"\r\n", b"\n").decode()
        for code in ("\x1b[1;31m", "\x1b[33m", "\x1b[1m", "\x1b[2m", "\x1b[0m"):
            text = text.replace(code, "")
        assert_printable(text.encode(), "a terminal's transcript")
