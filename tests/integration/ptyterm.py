"""A person at a terminal: a pty whose far end is a program's controlling terminal, its output
read through a real terminal emulator (pyte), keys typed into it.

Assertions look at `screen()`, the lines a person sees (cursor movements, erasures and redraws
already applied), never at the raw byte stream. The program gets the pty as its stdin, stdout,
stderr AND controlling terminal (setsid + TIOCSCTTY), so /dev/tty, job control and the
terminal's signal keys behave as on a desktop: Ctrl-C makes the kernel send SIGINT to the
foreground process group, a resize sends SIGWINCH.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

try:
    import pyte
except ImportError:  # requirements-dev.txt; the `terminal` users report it as a prerequisite
    pyte = None
HAVE_EMULATOR = pyte is not None

CTRL_C = b"\x03"
CTRL_D = b"\x04"
ENTER = b"\r"  # what the Enter key sends; the terminal's ICRNL makes it a newline


class Emulator(pyte.Screen if pyte else object):
    """pyte's screen, answering the terminal's status queries (cursor position, device
    attributes) the way a terminal does: TUIs wait for those answers."""

    def __init__(self, columns: int, lines: int, answer: Callable[[bytes], None]) -> None:
        super().__init__(columns, lines)
        self.answer = answer

    def write_process_input(self, data: str) -> None:
        self.answer(data.encode())


class Terminal:
    """One program on a pty of `columns` x `lines`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        columns: int = 80,
        lines: int = 24,
    ) -> None:
        if pyte is None:
            raise RuntimeError("pyte is not installed (pip install -r requirements-dev.txt)")
        self.master, follower = os.openpty()
        set_window_size(self.master, columns, lines)
        self.emulator = Emulator(columns, lines, self.type)
        self.stream = pyte.ByteStream(self.emulator)
        self.transcript = bytearray()  # everything the program wrote, for failure messages
        self.lines_seen: set[str] = set()  # every line any screen showed, however briefly
        self.closed = False
        try:
            self.process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=follower,
                stdout=follower,
                stderr=follower,
                start_new_session=True,  # setsid() runs before preexec_fn
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
        finally:
            os.close(follower)

    # --- what a person sees ---------------------------------------------------------------

    def screen(self) -> str:
        """The visible lines, trailing blanks removed."""
        return "\n".join(line.rstrip() for line in self.emulator.display).rstrip("\n")

    def pump(self, timeout: float) -> bool:
        """Read what the program wrote within `timeout` into the emulator; False once closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError as error:  # EIO: every process holding the follower has closed it
            if error.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.closed = True
            return False
        self.transcript += data
        self.stream.feed(data)
        self.lines_seen.update(line.rstrip() for line in self.emulator.display)
        return True

    def ever_showed(self, text: str) -> list[str]:
        """The lines ever on the screen that contained `text`."""
        return sorted(line for line in self.lines_seen if text in line)

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """Until `condition(screen)` holds; the screen then. Fails with the screen otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                state = "closed" if self.closed else f"still open after {timeout}s"
                raise AssertionError(f"never saw {what} (terminal {state}); screen:\n{self}")
            self.pump(min(remaining, 0.2))

    def wait_for_text(self, text: str, timeout: float = 60) -> str:
        return self.wait_for(lambda screen: text in screen, repr(text), timeout)

    def wait_for_exit(self, timeout: float = 60) -> int:
        """Drain the terminal until the program has ended and nothing holds the terminal open
        any more (a process left behind fails here); the program's exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None or not self.closed:
            if time.monotonic() > deadline:
                holder = "the program" if self.process.poll() is None else "a leftover process"
                raise AssertionError(f"{holder} still holds the terminal; screen:\n{self}")
            self.pump(0.1)
        return self.process.returncode

    # --- what a person does ---------------------------------------------------------------

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def resize(self, columns: int, lines: int) -> None:
        """The window changes size: the kernel sends SIGWINCH to the foreground group."""
        self.emulator.resize(lines, columns)
        set_window_size(self.master, columns, lines)

    def close(self) -> None:
        """Kill the program's process group if it is still running; release the pty."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        width = self.emulator.columns
        border = "+" + "-" * width + "+"
        rows = [f"|{line:<{width}}|" for line in self.emulator.display]
        return "\n".join([border, *rows, border])


def set_window_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
