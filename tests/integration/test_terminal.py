"""The launch question on a real terminal, answered as a person answers it.

claudebox runs on a pty that is its controlling terminal (tests/integration/ptyterm.py); the
screen is read through a terminal emulator and keys are typed into the pty. The probe claude
touches a marker in the project: the marker is the proof that the sandbox ran.
"""

from __future__ import annotations

import pytest
from harness import PYTHON, Box, write_profile
from ptyterm import CTRL_C, CTRL_D, ENTER

QUESTION = "Launch this sandbox? [y/N]"
SECRET_QUESTION = "The profile mounts secret paths (see above). Launch anyway? [y/N]"
MARKER = "launched"
RUN_PROBE = f"touch {MARKER}; echo probe-ran"


@pytest.mark.parametrize("answer", [b"y", b"Yes"])
def test_yes_at_the_question_runs_the_command(box: Box, answer: bytes) -> None:
    with box.terminal(RUN_PROBE) as terminal:
        terminal.wait_for_text(QUESTION)
        assert not (box.project / MARKER).exists()
        terminal.type(answer + ENTER)
        status = terminal.wait_for_exit()
        screen = terminal.screen()
    assert status == 0, screen
    assert (box.project / MARKER).exists()
    # The answer echoes where it was typed; the command's output follows on the terminal.
    assert f"{QUESTION} {answer.decode()}" in screen.splitlines()
    assert screen.splitlines()[-1] == "probe-ran"


@pytest.mark.parametrize(
    "keys", [b"n" + ENTER, ENTER, b"maybe" + ENTER, CTRL_D], ids=["n", "enter", "other", "eof"]
)
def test_anything_but_yes_runs_nothing(box: Box, keys: bytes) -> None:
    with box.terminal(RUN_PROBE) as terminal:
        terminal.wait_for_text(QUESTION)
        terminal.type(keys)
        status = terminal.wait_for_exit()
        screen = terminal.screen()
    assert status == 2, screen
    assert not (box.project / MARKER).exists()
    assert screen.splitlines()[-1] == "claudebox: not launched"
    assert "probe-ran" not in screen


def test_ctrl_c_at_the_question_exits_130(box: Box) -> None:
    with box.terminal(RUN_PROBE) as terminal:
        terminal.wait_for_text(QUESTION)
        terminal.type(CTRL_C)  # the terminal sends SIGINT to claudebox's process group
        status = terminal.wait_for_exit()
        screen = terminal.screen()
    assert status == 130, screen
    assert not (box.project / MARKER).exists()
    assert "Traceback" not in screen
    assert screen.splitlines()[-1] == f"{QUESTION} ^C"


def test_the_answer_comes_from_the_terminal_never_from_stdin(box: Box) -> None:
    """`echo y | claudebox …` answers nothing: the question reads the terminal itself."""
    claudebox = [PYTHON, str(box.module), RUN_PROBE]
    piped = box.as_user(["/bin/sh", "-c", 'echo y | exec "$@"', "sh", *claudebox])
    with box.terminal(argv=piped) as terminal:
        terminal.wait_for_text(QUESTION)
        terminal.type(b"n" + ENTER)
        status = terminal.wait_for_exit()
        screen = terminal.screen()
    assert status == 2, screen
    assert not (box.project / MARKER).exists()


@pytest.mark.parametrize("answer", [b"y", b"n"])
def test_a_secret_mount_asks_even_with_yes(box: Box, answer: bytes) -> None:
    box.write(box.home / ".ssh" / "id_ed25519", "KEY-on-the-host\n")
    write_profile(box, "ssh", {"mounts": [{"src": "~/.ssh", "mode": "ro"}]})
    probe = f"{RUN_PROBE}; cat ~/.ssh/id_ed25519"
    with box.terminal("--yes", "--profile", "ssh", probe, columns=200) as term:
        screen = term.wait_for_text(SECRET_QUESTION)
        assert "--yes is not enough: confirm on the terminal" in screen
        assert "holds a secret path" in screen
        term.type(answer + ENTER)
        status = term.wait_for_exit()
        screen = term.screen()
    if answer == b"y":
        assert status == 0, screen
        assert (box.project / MARKER).exists()
        assert "KEY-on-the-host" in screen
    else:
        assert status == 2, screen
        assert not (box.project / MARKER).exists()
        assert "KEY-on-the-host" not in screen
