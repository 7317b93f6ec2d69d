"""Shared pieces of the red-team suite: attack helpers, host-side victims, positive controls.

Every attack runs the real claudebox.py through the integration harness (tests/integration/
harness.py): unprivileged, via `setpriv`, the fake `claude` probe executing the attack with the
fixture store's static busybox and the static helpers compiled from tests/integration/helpers/.
Wherever the attack can run outside a sandbox, its test first runs it there as the same user
(the positive control): a control that fails means the attack itself is broken, not blocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import BUSYBOX_STORE, HELPER_STORE, PYTHON, Box, prerequisite_missing

TIERS = ("full", "inet", "allowlist", "none")
SH = f"{BUSYBOX_STORE}/bin/sh"
HELPER = f"{HELPER_STORE}/bin"

# argv: PATH_OR_@NAME LINE. A unix stream server (by path, or abstract with a leading @) that
# sends LINE to every client. Prints "ready" once listening.
UNIX_SERVER = r"""
import socket, sys
where, line = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind("\0" + where[1:] if where.startswith("@") else where)
server.listen(16)
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    try:
        connection.sendall(line.encode() + b"\n")
    except OSError:
        pass
    connection.close()
"""


def require_pasta(tier: str) -> None:
    if tier == "inet" and shutil.which("pasta", path="/usr/local/bin:/usr/bin:/bin") is None:
        prerequisite_missing("pasta is not installed (sudo make test installs Debian 13's)")


def tier(name: str) -> list[str]:
    require_pasta(name)
    return ["--network", name]


def on_host(box: Box, snippet: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """The positive control: `snippet` with the same busybox sh, as the same user, no sandbox."""
    result = subprocess.run(
        box.as_user([SH, "-c", snippet, "control", *args]),
        env=box.env(env),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result.stdout


@contextmanager
def host_process(
    box: Box, argv: Sequence[str], env: Mapping[str, str] | None = None, *, ready: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """A victim process on the host, running as the test user (killed by its pid afterwards).
    With ready=True, waits for it to print a first line."""
    process = subprocess.Popen(
        box.as_user(list(argv)),
        env=dict(env or {"PATH": "/usr/bin:/bin"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if ready else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        if ready:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        try:  # its own session: the group is the victim and its children, nothing else
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


@contextmanager
def unix_server(box: Box, where: str, line: str) -> Iterator[subprocess.Popen[str]]:
    """A unix socket server on the host (a path, or @NAME: abstract), as the test user."""
    with host_process(box, [PYTHON, "-c", UNIX_SERVER, where, line], ready=True) as server:
        yield server


PYTHON_STORE = Path("/nix/store/7m3bq0v9xk2dj5rf8nw4l1hc6yz2p0ta-claudebox-test-python")
STDLIB_SKIP = ("test", "site-packages", "dist-packages", "__pycache__", "idlelib", "tkinter")


def install_store_python() -> Path:
    """The host's Python made store-shaped (its stdlib, libraries and loader beside it, found by
    DT_RPATH): --check runs its enforcement probe only with a Python that lies in /nix/store."""
    target = PYTHON_STORE / "bin" / "python3"
    if target.exists():
        return target
    if os.geteuid() != 0:
        prerequisite_missing("the store's python is installed by running the tests as root")
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        prerequisite_missing("patchelf is needed for the store's python")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    binary = Path(os.path.realpath(f"/usr/bin/{version}"))
    stdlib = Path(f"/usr/lib/{version}")
    if not binary.exists() or not stdlib.is_dir():
        prerequisite_missing(f"/usr/bin/{version} and {stdlib} are needed for the store's python")
    lib = PYTHON_STORE / "lib"
    shutil.copytree(stdlib, lib / version, ignore=shutil.ignore_patterns(*STDLIB_SKIP))
    loader = None
    for elf in [binary, *(lib / version / "lib-dynload").glob("*.so")]:
        ldd = subprocess.run(["ldd", str(elf)], check=True, capture_output=True, text=True)
        for line in ldd.stdout.splitlines():
            words = line.split()
            library = words[2] if len(words) > 2 and words[1] == "=>" else words[0]
            if library.startswith("/"):
                shutil.copy2(library, lib / Path(library).name)
                if "ld-linux" in library:
                    loader = lib / Path(library).name
    assert loader is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    subprocess.run(
        [
            patchelf,
            "--set-interpreter",
            str(loader),
            "--force-rpath",
            "--set-rpath",
            str(lib),
            str(target),
        ],
        check=True,
    )
    subprocess.run(["chmod", "-R", "a+rX", str(PYTHON_STORE)], check=True)
    return target
