"""A real Nix for the tests: Debian's nix-daemon, a stand-in nixpkgs, a store-shaped nix.

The daemon serves /nix/var/nix/daemon-socket/socket as on NixOS (root, its build sandbox on, no
build users, no substituters). A test session starts it when none answers and stops it when the
last test session using it ends; a daemon it did not start is used and never stopped. Sessions
count themselves with a shared flock on /nix/var/nix/claudebox-tests/daemon.lock.

The stand-in nixpkgs (tests/nix/stand-in-nixpkgs) is copied into a directory together with the
static busybox that builds its derivations (and, for the flake check, host programs with their
libraries), then into the store by the real nix, as the test user: its flake reference
`path:/nix/store/…-source?narHash=…` is what claudebox's flake sets as CLAUDEBOX_NIXPKGS.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    BUSYBOX_STORE,
    REPO,
    install_store_program,
    prerequisite_missing,
)

DAEMON_SOCKET = Path("/nix/var/nix/daemon-socket/socket")
DAEMON_STATE = Path("/nix/var/nix/claudebox-tests")
# A nix from the host, store-shaped (libraries beside it): the sandbox's `nix shell` runs it.
NIX_STORE = Path("/nix/store/9k2bz4xw0q7ljc5sd8mrg1n6yh3pa0fv-claudebox-test-nix")
NIX_FLAGS = ("--extra-experimental-features", "nix-command flakes")
STAND_INS = REPO / "tests" / "nix"

# A NixOS daemon's defaults where they matter here: the build sandbox on with /bin/sh in it,
# the test user untrusted. No nixbld group (Debian's nix-bin creates none) and no binary cache.
DAEMON_CONFIG = """\
build-users-group =
experimental-features = nix-command flakes
sandbox = true
sandbox-paths = /bin/sh={busybox}
substituters =
"""


def daemon_answers() -> bool:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(DAEMON_SOCKET))
    except OSError:
        return False
    finally:
        connection.close()
    return True


def process_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def start_daemon() -> None:
    nix_daemon = shutil.which("nix-daemon", path="/usr/bin:/bin")
    busybox = shutil.which("busybox", path="/usr/bin:/bin")
    if nix_daemon is None or busybox is None:
        prerequisite_missing("nix-daemon (Debian: nix-bin) and busybox-static are needed")
        return
    log = (DAEMON_STATE / "daemon.log").open("a")
    process = subprocess.Popen(
        [nix_daemon],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/root",
            "NIX_CONFIG": DAEMON_CONFIG.format(busybox=os.path.realpath(busybox)),
        },
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    (DAEMON_STATE / "daemon.pid").write_text(f"{process.pid} {process_start_time(process.pid)}\n")
    deadline = time.monotonic() + 30
    while not daemon_answers():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"nix-daemon did not start: {(DAEMON_STATE / 'daemon.log').read_text()[-2000:]}"
            )
        time.sleep(0.05)


def stop_started_daemon() -> None:
    """Stop the daemon a test session started (its pid file says so), with its workers."""
    pid_file = DAEMON_STATE / "daemon.pid"
    try:
        pid_text, start = pid_file.read_text().split()
    except (OSError, ValueError):
        return  # not started by a test session: never stopped
    pid = int(pid_text)
    if process_start_time(pid) == start:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while process_start_time(pid) == start and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # ours to reap when this session started it
            except ChildProcessError:
                pass
            time.sleep(0.05)
    pid_file.unlink()
    if not daemon_answers():
        DAEMON_SOCKET.unlink(missing_ok=True)  # the one it created; a dead socket misleads --check


@contextmanager
def running_daemon() -> Iterator[None]:
    if os.geteuid() != 0:
        if not daemon_answers():
            prerequisite_missing(f"no nix daemon answers on {DAEMON_SOCKET} (root starts one)")
        yield
        return
    DAEMON_STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(DAEMON_STATE / "daemon.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not daemon_answers():
            start_daemon()
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield
    finally:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another test session still uses the daemon: the last one stops it
        else:
            stop_started_daemon()
        os.close(lock)


# What nix installs as links to itself (one program, named by argv[0]) that the tests run.
NIX_PROGRAMS = ("nix-shell", "nix-build", "nix-instantiate", "nix-store", "nix-env")


def install_store_nix() -> None:
    if not (NIX_STORE / "bin" / "nix").exists():
        install_store_program("nix", NIX_STORE, patch_libraries=True)
        subprocess.run(["chmod", "-R", "a+rX", str(NIX_STORE)], check=True)
    for name in NIX_PROGRAMS:
        if not (NIX_STORE / "bin" / name).is_symlink():
            (NIX_STORE / "bin" / name).symlink_to("nix")


@dataclass(frozen=True)
class NixUser:
    """Runs nix as the test user (through the daemon), with a home of its own."""

    user: pwd.struct_passwd
    home: Path

    def argv(self, args: Sequence[str]) -> list[str]:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = [
                "/usr/bin/setpriv",
                f"--reuid={self.user.pw_uid}",
                f"--regid={self.user.pw_gid}",
                "--clear-groups",
                "--",
            ]
        return [*prefix, *args]

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

    def nix(
        self, *args: str, cwd: Path | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(["nix", *NIX_FLAGS, *args]),
            env=self.env(),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def store_ref(self, directory: Path, *args: str) -> str:
        """Copy a flake directory into the store: its `path:/nix/store/…?narHash=…` reference."""
        result = self.nix("flake", "metadata", "--json", *args, f"path:{directory}")
        assert result.returncode == 0, result.stderr
        metadata = json.loads(result.stdout)
        return f"path:{metadata['path']}?narHash={metadata['locked']['narHash']}"

    def build(self, installable: str, *args: str) -> list[str]:
        result = self.nix("build", "--no-link", "--json", *args, installable)
        assert result.returncode == 0, result.stderr
        return [path for entry in json.loads(result.stdout) for path in entry["outputs"].values()]


def readable_tree(root: Path) -> None:
    subprocess.run(["chmod", "-R", "u+w,a+rX", str(root)], check=True)


def materialize_nixpkgs(destination: Path, *, host_programs: bool, session: str = "") -> Path:
    """The stand-in nixpkgs with its busybox and bash (bashInteractive: nix-shell's shell), and
    the other host programs: a directory nix can import. A `session` string makes its stub
    packages new store paths."""
    shutil.copytree(STAND_INS / "stand-in-nixpkgs", destination)
    if session:
        (destination / "session").write_text(session)
    busybox = destination / "busybox" / "bin" / "busybox"
    busybox.parent.mkdir(parents=True)
    shutil.copy2(BUSYBOX_STORE / "bin" / "busybox", busybox)
    copy_host_program(destination / "host" / "bash", "bash")
    if host_programs:
        copy_host_programs(destination / "host")
    readable_tree(destination)
    return destination


def copy_host_program(tree: Path, program: str | Path, name: str | None = None) -> None:
    source = Path(shutil.which(str(program), path="/usr/bin:/bin") or program).resolve()
    target = tree / "bin" / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    add_libraries(tree, source)


def add_libraries(tree: Path, binary: Path) -> None:
    """What `ldd` says a program or library loads, into tree/lib (the loader also as ld.so)."""
    ldd = subprocess.run(["ldd", str(binary)], check=False, capture_output=True, text=True)
    for line in ldd.stdout.splitlines():
        words = line.split()
        library = words[2] if len(words) > 2 and words[1] == "=>" else words[0]
        if library.startswith("/"):
            target = tree / "lib" / Path(library).name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(library, target)
            if "/ld-linux" in library and not (tree / "lib" / "ld.so").exists():
                shutil.copy2(library, tree / "lib" / "ld.so")


# Parts of the standard library no check imports (Debian's copy is 54 MB, this leaves ~20 MB).
STDLIB_UNUSED = (
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "site-packages",
    "dist-packages",
    "config-*",
)
PYTHON_PACKAGES = ("pytest", "shiv", "mypy")


def copy_host_programs(host: Path) -> None:
    """zsh, fish, git, shellcheck, bwrap, openssl (Debian), ruff (the venv), python3 with
    the venv's pytest, shiv and mypy: what the flake's checks and its package's launch run."""
    for name in ("zsh", "shellcheck", "openssl"):
        copy_host_program(host / name, name)
    shutil.copy2("/usr/lib/ssl/openssl.cnf", host / "openssl" / "openssl.cnf")  # its OPENSSLDIR's
    copy_host_program(host / "bubblewrap", "bwrap")
    copy_host_program(host / "git", "git")
    shutil.copytree("/usr/share/git-core/templates", host / "git" / "share/git-core/templates")
    builtins = subprocess.run(
        ["git", "--list-cmds=builtins"], check=True, capture_output=True, text=True
    ).stdout
    (host / "git" / "builtins").write_text(builtins)  # each also runs as git-NAME
    scripts = host / "git" / "scripts"  # git submodule, git-sh-setup, ...: shell, not ELF
    scripts.mkdir()
    for helper in Path("/usr/lib/git-core").iterdir():
        if helper.is_file() and not helper.is_symlink():
            with helper.open("rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    shutil.copy2(helper, scripts / helper.name)
    copy_host_program(host / "fish", "fish")
    shutil.copytree("/usr/share/fish", host / "fish" / "share" / "fish")  # found via ../share
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        prerequisite_missing(f"ruff beside {sys.executable} (requirements-dev.txt)")
    copy_host_program(host / "ruff", ruff)
    copy_python(host)


def copy_python(host: Path) -> None:
    tree = host / "python3"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy_host_program(tree, os.path.realpath(sys._base_executable), version)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, tree / "lib" / version, ignore=shutil.ignore_patterns(*STDLIB_UNUSED))
    for extension in (tree / "lib" / version / "lib-dynload").glob("*.so"):
        add_libraries(tree, extension)
    for package in PYTHON_PACKAGES:
        target = host / "python-packages" / package
        scripts = []
        for distribution in distribution_closure(package):
            scripts += [
                f"{entry.name} {entry.value}\n"
                for entry in distribution.entry_points
                if entry.group == "console_scripts"
            ]
            for file in distribution.files or ():
                source = Path(str(distribution.locate_file(file)))
                if "__pycache__" in file.parts or file.parts[0].startswith(".."):
                    continue
                destination = target / "site" / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
                if source.suffix == ".so":
                    add_libraries(tree, source)
        (target / "console-scripts").write_text("".join(sorted(scripts)))


def distribution_closure(name: str) -> list[importlib.metadata.Distribution]:
    """A distribution and what it requires (unconditionally or for this Python), installed."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        try:
            distribution = importlib.metadata.distribution(current)
        except importlib.metadata.PackageNotFoundError:
            continue
        key = distribution.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = distribution
        for requirement in distribution.requires or ():
            requirement_name, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            match = re.match(r"[A-Za-z0-9._-]+", requirement_name.strip())
            if match:
                pending.append(match.group(0))
    return list(seen.values())


@dataclass(frozen=True)
class NixLab:
    """What the nix tests use: the test user's nix, the stand-in nixpkgs in the store."""

    user: NixUser
    nixpkgs: str  # path:/nix/store/…-source?narHash=…
    nixpkgs_dir: Path  # the materialized directory it was imported from

    @property
    def nixpkgs_store(self) -> str:
        return self.nixpkgs.removeprefix("path:").partition("?")[0]


@pytest.fixture(scope="session")
def nix_daemon(fixture_store: None) -> Iterator[None]:
    if shutil.which("nix", path="/usr/bin:/bin") is None:
        prerequisite_missing("nix (Debian: nix-bin) is not installed")
    with running_daemon():
        yield


@pytest.fixture(scope="session")
def nixlab(nix_daemon: None, test_user: pwd.struct_passwd) -> Iterator[NixLab]:
    if os.geteuid() == 0:
        install_store_nix()
    elif not (NIX_STORE / "bin" / "nix").exists():
        prerequisite_missing("the store-shaped nix is installed by running the tests as root")
    root = Path(tempfile.mkdtemp(prefix="claudebox-nixlab-", dir="/tmp"))
    root.chmod(0o755)
    home = root / "home"
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, test_user.pw_uid, test_user.pw_gid)
    user = NixUser(test_user, home)
    try:
        # Packages no earlier session built: the first launch of a test really builds them.
        nixpkgs_dir = materialize_nixpkgs(
            root / "nixpkgs", host_programs=False, session=f"test session {uuid.uuid4()}"
        )
        yield NixLab(user, user.store_ref(nixpkgs_dir), nixpkgs_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
