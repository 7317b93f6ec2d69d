"""Integration harness: the real claudebox.py, real bwrap, run as an UNPRIVILEGED user.

A NixOS-shaped fixture is installed into the real /nix/store (static busybox, a fake `claude`
probe that runs the shell snippet it is given, a static TIOCSTI helper). Each test gets a fresh
directory under /tmp with a home owned by the test user and a project inside it.

The test user's world looks like NixOS where NixOS differs from Debian (see NIXOS_ENV): its
environment holds LOCALE_ARCHIVE through a /run/current-system-like symlink chain into the
store, TZ, TZDIR=/etc/zoneinfo and NixOS's NIX_PATH; flakes are on only in its own
~/.config/nix/nix.conf (as home-manager's nix.settings writes it); and claudebox runs in a mount
namespace (nixos_etc) whose /etc/zoneinfo and /etc/localtime are NixOS's symlink chains through
/etc/static into the store (the machine's own /etc is never changed). Like home-manager's
activation, which refuses to clobber a file it did not write, every claudebox run through Box
fails its test when it left a new file among the home's dot entries outside ~/.claudebox.

Run as root (CI): the fixture is (re)installed and claudebox runs through `setpriv` as
$CLAUDEBOX_TEST_USER (default cbtest). Under CI=true a missing prerequisite fails, never skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from ptyterm import HAVE_EMULATOR, Terminal

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent / "helpers"
BUSYBOX_STORE = Path("/nix/store/0c7xq5lsj2f4yqnwmzhg7r2y0i9kd4lk-claudebox-test-busybox")
PROBE_STORE = Path("/nix/store/7k2qd1mfw8r4xz0bnj5c9hy3s6vl2ga8-claudebox-test-claude-probe")
HELPER_STORE = Path("/nix/store/2d9ylnq3jzs0ahm4kxbf7wcr6g1i5pv8-claudebox-test-attack-helpers")
GIT_STORE = Path("/nix/store/3f0zmr4kq8sb1hn5ydc7wgj2x6l9a0qt-claudebox-test-git")
BASH_STORE = Path("/nix/store/6j4c09lx3r1ngs2ym5p8f2v7dkzh1qb2-claudebox-test-bash")
# A package only a profile brings in (not on the host PATH): what a fake `nix build` prints.
HELLO_STORE = Path("/nix/store/4g1anr5lr9tc2io6zed8xhk3y7m0b1ru-claudebox-test-hello")
# NixOS's pieces: tzdata, glibc's locale archive, a system (sw -> its system path, which links
# the archive) and /etc/static (etc/zoneinfo -> tzdata).
TZDATA_STORE = Path("/nix/store/5h8c2kq0w1n9z3x7m4rbv6dyl0sa2fj1-claudebox-test-tzdata")
LOCALES_STORE = Path("/nix/store/8m3x1pq7n2v0c9l4k6zd5jrb0hws1ya2-claudebox-test-glibc-locales")
SYSTEM_PATH_STORE = Path("/nix/store/1q9w8f7r6y5c4n3m2k0zjhgdxsbvlpa3-claudebox-test-system-path")
SYSTEM_STORE = Path("/nix/store/0v2x4z6b8n1m3l5k7j9hgfdsqwrypa4c-claudebox-test-nixos-system")
ETC_STORE = Path("/nix/store/9a8s7d6f5g4h3j2k1l0zxcvbnmqwrp5y-claudebox-test-etc")
NIXOS_TIME_ZONE = "Europe/Berlin"  # /etc/localtime's (time.timeZone)
NIXOS_ARCHIVE = "lib/locale/locale-archive"
# What NixOS puts in a user's environment where Debian has nothing, for the variables claudebox
# treats specially; LOCALE_ARCHIVE's /run/current-system is the box's (RUN_CURRENT_SYSTEM).
RUN_CURRENT_SYSTEM = "run/current-system"
NIXOS_ENV = {
    "TZ": "America/New_York",  # a user's own zone (home.sessionVariables), not /etc/localtime's
    "TZDIR": "/etc/zoneinfo",
    "NIX_PATH": "nixpkgs=/nix/var/nix/profiles/per-user/root/channels/nixos"
    ":nixos-config=/etc/nixos/configuration.nix:/nix/var/nix/profiles/per-user/root/channels",
}
# home-manager's nix.settings (NixOS itself leaves the experimental features off).
USER_NIX_CONF = "experimental-features = nix-command flakes\n"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
IN_CI = os.environ.get("CI") == "true"

HOST_GIT = "/usr/bin/git"
# What the sandbox's home holds (`ls -A ~`): claudebox's own entries, the caches kept per project
# and the project itself.
HOME_ENTRIES = [
    ".cache",
    ".cargo",
    ".claude",
    ".claude.json",
    ".gitconfig",
    ".local",
    ".npm",
    "proj",
]
HOST_GIT_SETUP = (
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@t.invalid",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "protocol.file.allow=always",
)

PROBE_SCRIPT = f"""#!{BUSYBOX_STORE}/bin/sh
# Fake claude: checks the injected flag, skips claudebox's flag settings (--settings JSON), then
# runs the snippet it was given.
if [ "$1" != --dangerously-skip-permissions ]; then
    echo "probe: first argument is not --dangerously-skip-permissions: $1" >&2
    exit 99
fi
shift
if [ "$1" = --settings ]; then
    shift 2
fi
snippet=${{1:-true}}
[ "$#" -gt 0 ] && shift
exec {BUSYBOX_STORE}/bin/sh -c "$snippet" probe "$@"
"""


# A name a session or a file may hold to take over the terminal: ESC sequences (clear the
# screen, set the title, ended by BEL), CR (back to the line's start), a bidi override (U+202E,
# as UTF-8) and a byte that is not UTF-8. HOSTILE_SHOWN: how claudebox prints it (and
# HOSTILE_QUOTED in a shell word, as --dry-run quotes it: $'...', each byte \xNN).
HOSTILE = b"\x1b[2J\x1b]0;owned\x07\rfake\xe2\x80\xaeevil\xff"
HOSTILE_SHOWN = r"\x1b[2J\x1b]0;owned\x07\rfake\u202eevil\xff"
HOSTILE_QUOTED = r"\x1b[2J\x1b]0;owned\x07\x0dfake\xe2\x80\xaeevil\xff"  # in a $'...' word


def assert_printable(output: bytes, what: str = "") -> str:
    """`output` as text: UTF-8 (no raw byte that is not), with nothing a terminal would act on
    or hide but newlines and tabs (no ESC, CR, BEL, bidi control, ...)."""
    text = output.decode("utf-8", "replace")
    assert "\ufffd" not in text, f"{what}: a byte that is not UTF-8 in {output!r}"
    unsafe = sorted({char for char in text if not char.isprintable() and char not in "\n\t"})
    assert unsafe == [], f"{what}: {unsafe} in {text!r}"
    return text


def prerequisite_missing(reason: str) -> None:
    """Fail under CI (a missing prerequisite is a broken CI), skip on a developer machine."""
    if IN_CI:
        pytest.fail(f"integration prerequisite missing under CI: {reason}")
    pytest.skip(f"integration prerequisite missing (fails under CI=true): {reason}")


def install_fixture_store() -> None:
    busybox = shutil.which("busybox")
    gcc = shutil.which("gcc")
    if busybox is None or gcc is None:
        prerequisite_missing("busybox-static and gcc are needed to build the fixture store")
    bin_dir = BUSYBOX_STORE / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / "busybox"
    if not target.exists():
        shutil.copy2(busybox, target)
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True)
    (bin_dir / "bash").unlink(missing_ok=True)  # Debian's busybox has no bash applet
    for applet in applets.stdout.split():
        link = bin_dir / applet
        if applet != "busybox" and not link.is_symlink():
            link.symlink_to("busybox")
    probe = PROBE_STORE / "bin" / "claude"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(PROBE_SCRIPT)
    probe.chmod(0o755)
    helper_bin = HELPER_STORE / "bin"
    helper_bin.mkdir(parents=True, exist_ok=True)
    for source in HELPERS.glob("*.c"):
        subprocess.run(
            [gcc, "-static", "-O2", "-o", str(helper_bin / source.stem), str(source)],
            check=True,
        )
    hello = HELLO_STORE / "bin" / "hello"
    hello.parent.mkdir(parents=True, exist_ok=True)
    hello.write_text(f"#!{BUSYBOX_STORE}/bin/sh\necho 'Hello from the store'\n")
    hello.chmod(0o755)
    install_store_program("git", GIT_STORE)
    install_store_program("bash", BASH_STORE)
    install_nixos_stores()
    # Only the fixture's paths: /nix/var/nix belongs to the nix daemon.
    for directory in ("/nix", "/nix/store"):
        os.chmod(directory, os.stat(directory).st_mode | 0o755)
    stores = (BUSYBOX_STORE, PROBE_STORE, HELPER_STORE, GIT_STORE, BASH_STORE, HELLO_STORE)
    stores += (TZDATA_STORE, LOCALES_STORE, SYSTEM_PATH_STORE, SYSTEM_STORE, ETC_STORE)
    subprocess.run(["chmod", "-R", "a+rX", *map(str, stores)], check=True)


def install_nixos_stores() -> None:
    """tzdata (Debian's zone files), a locale archive (Debian's C.UTF-8 added by localedef), a
    system path linking it, a system whose sw is that path, and an /etc/static with zoneinfo."""
    zoneinfo = Path("/usr/share/zoneinfo")
    localedef = shutil.which("localedef")
    c_utf8 = Path("/usr/lib/locale/C.utf8")
    if not (zoneinfo / NIXOS_TIME_ZONE).exists() or localedef is None or not c_utf8.is_dir():
        prerequisite_missing("tzdata and libc-bin's localedef (with C.utf8) are needed")
        return
    if not (TZDATA_STORE / "share" / "zoneinfo").exists():
        shutil.copytree(zoneinfo, TZDATA_STORE / "share" / "zoneinfo", symlinks=True)
    archive = LOCALES_STORE / NIXOS_ARCHIVE
    if not archive.exists():
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "usr/lib/locale").mkdir(parents=True)
            subprocess.run(
                [localedef, f"--prefix={scratch}", "--add-to-archive", str(c_utf8)],
                check=True,
                capture_output=True,
            )
            archive.parent.mkdir(parents=True)
            shutil.copy2(Path(scratch) / "usr" / NIXOS_ARCHIVE, archive)
    links = {
        SYSTEM_PATH_STORE / NIXOS_ARCHIVE: archive,
        SYSTEM_STORE / "sw": SYSTEM_PATH_STORE,
        ETC_STORE / "etc" / "zoneinfo": TZDATA_STORE / "share" / "zoneinfo",
    }
    for link, target in links.items():
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)


def nixos_etc_script(scratch: Path) -> list[str]:
    """A shell command (argv) that lays NixOS's /etc chains over the /etc of the mount namespace
    it runs in: an overlay whose upper layer (in SCRATCH) holds /etc/static -> the store's etc,
    /etc/zoneinfo -> /etc/static/zoneinfo and /etc/localtime -> /etc/zoneinfo/ZONE. Mounts
    below /etc (a container's resolv.conf, hosts) are bound again on top. Prints `ready`."""
    upper, work, kept = scratch / "upper", scratch / "work", scratch / "kept"
    for directory in (upper, work, kept):
        directory.mkdir(mode=0o755)
    (upper / "static").symlink_to(ETC_STORE / "etc")
    (upper / "zoneinfo").symlink_to("/etc/static/zoneinfo")
    (upper / "localtime").symlink_to(f"/etc/zoneinfo/{NIXOS_TIME_ZONE}")
    below_etc = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if mount_point.startswith("/etc/"):
            below_etc.append(mount_point)
    script = ['set -e; kept="$1"; shift; i=0; for p in "$@"; do']
    script += [
        '  if [ -d "$p" ]; then mkdir "$kept/$i"; else : > "$kept/$i"; fi',
        '  mount --bind "$p" "$kept/$i"; i=$((i + 1)); done',
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc",
        'i=0; for p in "$@"; do mount --bind "$kept/$i" "$p"; i=$((i + 1)); done',
        "echo ready; exec sleep 86400",
    ]
    return ["/bin/sh", "-c", "\n".join(script), "nixos-etc", str(kept), *below_etc]


def copy_libraries(binary: Path, lib_dir: Path) -> Path:
    """Copy what `ldd` says BINARY loads into LIB_DIR; return the copied loader."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    ldd = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    loader = None
    for line in ldd.splitlines():
        words = line.split()
        library = words[2] if len(words) > 2 and words[1] == "=>" else words[0]
        if library.startswith("/"):
            shutil.copy2(library, lib_dir / Path(library).name)
            if "ld-linux" in library:
                loader = lib_dir / Path(library).name
    assert loader is not None, f"no loader in the ldd output of {binary}:\n{ldd}"
    return loader


def install_store_program(name: str, store: Path, *, patch_libraries: bool = False) -> None:
    """A host program made store-shaped as Nix does: its libraries and loader beside it.

    patch_libraries: the copied libraries find their own dependencies there too (a library
    with a RUNPATH of its own, like nix's /usr/lib/nix, does not use the program's)."""
    program = shutil.which(name, path="/usr/bin:/bin")
    patchelf = shutil.which("patchelf")
    if program is None or patchelf is None:
        prerequisite_missing(f"{name} and patchelf are needed for the store's {name}")
        return
    target = store / "bin" / name
    if target.exists():
        return
    loader = copy_libraries(Path(program), store / "lib")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(program, target)
    subprocess.run(
        [
            patchelf,
            "--set-interpreter",
            str(loader),
            "--set-rpath",
            str(store / "lib"),
            str(target),
        ],
        check=True,
    )
    if patch_libraries:
        for library in (store / "lib").iterdir():
            if library != loader:
                subprocess.run(
                    [patchelf, "--set-rpath", str(store / "lib"), str(library)], check=True
                )


@pytest.fixture(scope="session")
def fixture_store() -> None:
    if shutil.which("bwrap") is None:
        prerequisite_missing("bwrap (bubblewrap) is not installed")
    if os.geteuid() == 0:
        install_fixture_store()
    elif not (PROBE_STORE / "bin" / "claude").exists():
        prerequisite_missing("the /nix/store fixture is installed by running the tests as root")


@pytest.fixture(scope="session")
def nixos_etc(fixture_store: None) -> Iterator[str | None]:
    """A mount namespace (held by a process of its own) whose /etc has NixOS's zoneinfo and
    localtime chains: /proc/PID/ns/mnt, the default Box.mountns. None when not root (the
    tests then run in the machine's own namespace)."""
    if os.geteuid() != 0:
        yield None
        return
    scratch = Path(tempfile.mkdtemp(prefix="claudebox-nixos-etc-", dir="/tmp"))
    scratch.chmod(0o755)
    holder = subprocess.Popen(
        ["unshare", "-m", "--propagation", "slave", "--", *nixos_etc_script(scratch)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        ready = holder.stdout.readline()  # ends when the holder does, at the latest
        assert ready == "ready\n", f"the NixOS /etc namespace did not start: {ready!r}"
        yield f"/proc/{holder.pid}/ns/mnt"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def test_user(fixture_store: None) -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.getuid())
    name = os.environ.get("CLAUDEBOX_TEST_USER", "cbtest")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        prerequisite_missing(f"test user {name!r} does not exist (sudo make test creates it)")
        raise


@dataclass
class Box:
    """One test's world: a home owned by the test user, a project, and the claudebox copy."""

    root: Path
    home: Path
    project: Path
    user: pwd.struct_passwd
    # The network namespace claudebox and host-side controls run in: the lab's host (a test
    # using the lab fixture), else the machine's own.
    netns: str | None = None
    # A mount namespace to run in too (a test's own /etc/resolv.conf): /proc/PID/ns/mnt.
    mountns: str | None = None

    @property
    def module(self) -> Path:
        return self.root / "claudebox.py"

    def host_path(self) -> str:
        stores = (BUSYBOX_STORE, PROBE_STORE, HELPER_STORE, GIT_STORE, BASH_STORE)
        return ":".join(
            [*(f"{store}/bin" for store in stores), "/usr/local/bin", "/usr/bin", "/bin"]
        )

    def store_path(self, *programs: str) -> str:
        """The fixture stores' bin directories and a directory with just these host programs:
        a PATH on which anything else (pasta, nix, ...) is missing whatever the host installed."""
        only = self.root / ("only-" + "-".join(programs))
        if not only.exists():
            self.mkdir(only).chmod(0o755)
            for program in programs:
                found = shutil.which(program, path="/usr/local/bin:/usr/bin:/bin")
                assert found is not None, f"{program} is not installed"
                (only / program).symlink_to(found)
        stores = [d for d in self.host_path().split(":") if d.startswith("/nix/store/")]
        return ":".join([*stores, str(only)])

    def chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def write(self, path: Path, content: str, mode: int = 0o600) -> Path:
        """Create a file (and its parents below home/root) owned by the test user."""
        missing = []
        parent = path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o700)
            self.chown(directory)
        path.write_text(content)
        path.chmod(mode)
        self.chown(path)
        return path

    def mkdir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self.chown(path)
        return path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "USER": self.user.pw_name,
            "PATH": self.host_path(),
            "TERM": "xterm",
            "LANG": "C.UTF-8",
            "LOCALE_ARCHIVE": str(self.root / RUN_CURRENT_SYSTEM / "sw" / NIXOS_ARCHIVE),
            **NIXOS_ENV,
        }
        env.update(extra or {})
        return env

    @contextmanager
    def home_unchanged(self, cwd: Path | None) -> Iterator[None]:
        """What home-manager's activation checks: the run leaves no new file among the home's
        dot entries outside ~/.claudebox and the project it ran for (the activation refuses to
        clobber one)."""
        project = session_project(self.home, cwd or self.project)
        before = home_tree(self.home, project)
        yield
        after = home_tree(self.home, project)
        changed = sorted(
            f"{path} ({before.get(path, 'absent')} -> {after.get(path, 'absent')})"
            for path in before.keys() | after.keys()
            if before.get(path) != after.get(path)
        )
        assert changed == [], f"claudebox changed the host home {self.home}: {changed}"

    def command(self, args: Sequence[str], enter_mount: bool = True) -> list[str]:
        return self.as_user([PYTHON, str(self.module), *args], enter_mount)

    def as_user(self, argv: Sequence[str], enter_mount: bool = True) -> list[str]:
        """`argv` as the test user (when run as root), in the box's network namespace and
        (enter_mount) its mount namespace."""
        if os.geteuid() != 0:
            return list(argv)
        namespaces = [f"--net=/run/netns/{self.netns}"] if self.netns else []
        mountns = self.mountns if enter_mount else None
        return [
            *entering(namespaces, mountns),
            "/usr/bin/setpriv",
            f"--reuid={self.user.pw_uid}",
            f"--regid={self.user.pw_gid}",
            "--clear-groups",
            "--",
            *argv,
        ]

    def private_mounts(self) -> list[str]:
        """A command prefix (as root): a private mount namespace made from the box's own (so
        NixOS's /etc holds there too); run the box's command in it with enter_mount=False."""
        private = ["unshare", "-m", "--propagation", "private", "--"]
        return [*entering([], self.mountns), *private]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
        new_session: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """claudebox ARGS, output captured; no controlling terminal unless new_session=False."""
        with self.home_unchanged(cwd):
            return subprocess.run(
                self.command(args),
                env=self.env(env),
                cwd=cwd or self.project,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                start_new_session=new_session,
                check=False,
            )

    def probe(
        self,
        snippet: str,
        *extra: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        options: Sequence[str] = (),
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run `snippet` as the sandboxed claude (through the probe) with --yes."""
        return self.run("--yes", *options, snippet, *extra, env=env, cwd=cwd, timeout=timeout)

    def audit(
        self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        """The audit a launch with ARGS shows before its question (--yes shows a summary): with
        no terminal to ask on, claudebox prints it and stops."""
        result = self.run(*args, env=env, cwd=cwd)
        last = result.stderr.splitlines()[-1:]
        assert result.returncode == 2 and "no terminal to confirm" in "".join(last), result.stderr
        return result.stderr

    def paste(
        self,
        text: str,
        timeout: float = 60,
        shell: str = "/bin/bash",
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `text` (e.g. --dry-run output) in `shell` as the user would by pasting it;
        `stdin`: what the shell's standard input holds (the user's terminal)."""
        with self.home_unchanged(self.project):
            return subprocess.run(
                self.as_user([shell, "-c", text]),
                env=self.env(env),
                cwd=self.project,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=stdin,
                check=False,
            )

    def run_with_bind(
        self,
        source: Path,
        target: str,
        *args: str,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """claudebox ARGS in a private mount namespace where `source` is bound over the host's
        `target` (a test resolv.conf, an unusable /dev/net/tun); needs root."""
        with self.home_unchanged(self.project):
            return self.run_bound(source, target, args, timeout, env)

    def run_bound(
        self,
        source: Path,
        target: str,
        args: Sequence[str],
        timeout: float,
        env: Mapping[str, str] | None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *self.private_mounts(),
                "/bin/sh",
                "-c",
                f'mount --bind "$0" {target} && exec "$@"',
                str(source),
                *self.command(args, enter_mount=False),
            ],
            env=self.env(env),
            cwd=self.project,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    @contextmanager
    def running(
        self, snippet: str, *options: str, ready: str = "ready"
    ) -> Iterator[subprocess.Popen[str]]:
        """A session (`--yes OPTIONS SNIPPET`) once its snippet has touched `ready`; killed
        afterwards if the test left it running."""
        process = self.start(
            "--yes",
            *options,
            snippet,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(self.project / ready, process=process)
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()

    def terminal(
        self,
        *args: str,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        columns: int = 80,
        lines: int = 24,
    ) -> Terminal:
        """claudebox ARGS (or ARGV, a command line that runs it) on a new pty of its own: the
        pty is its controlling terminal, as in a terminal window (see ptyterm)."""
        if not HAVE_EMULATOR:
            prerequisite_missing("pyte, the terminal emulator, is missing (requirements-dev.txt)")
        return Terminal(
            argv if argv is not None else self.command(args),
            env=self.env(env),
            cwd=cwd or self.project,
            columns=columns,
            lines=lines,
        )

    def start(
        self, *args: str, env: Mapping[str, str] | None = None, **popen: object
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self.command(args),
            env=self.env(env),
            cwd=self.project,
            text=True,
            **popen,
        )


@pytest.fixture
def box(
    test_user: pwd.struct_passwd, nixos_etc: str | None, request: pytest.FixtureRequest
) -> Iterator[Box]:
    """A fresh box; with the network lab (a `lab` fixture in the test), it lives in the lab's
    host namespace."""
    netns = request.getfixturevalue("lab").host_ns if "lab" in request.fixturenames else None
    root = Path(tempfile.mkdtemp(prefix="claudebox-it-", dir="/tmp"))
    root.chmod(0o755)
    shutil.copy2(REPO / "claudebox.py", root / "claudebox.py")
    (root / "claudebox.py").chmod(0o644)
    home = root / "home"
    home.mkdir(mode=0o700)
    test_box = Box(
        root=root,
        home=home,
        project=home / "proj",
        user=test_user,
        netns=netns,
        mountns=nixos_etc,
    )
    test_box.chown(home)
    test_box.mkdir(test_box.project)
    test_box.write(home / ".config" / "nix" / "nix.conf", USER_NIX_CONF, mode=0o644)
    (root / RUN_CURRENT_SYSTEM).parent.mkdir()
    (root / RUN_CURRENT_SYSTEM).symlink_to(SYSTEM_STORE)
    try:
        yield test_box
    finally:
        shutil.rmtree(root, ignore_errors=True)


def entering(namespaces: Sequence[str], mountns: str | None) -> list[str]:
    """A command prefix that enters NAMESPACES (nsenter options) and MOUNTNS, keeping the
    working directory. Entering a mount namespace moves to its root, and nsenter's --wd opens
    the directory before it enters (a directory of the old namespace's mounts, where renames
    fail with EXDEV and setuid bits are ignored), so the path is looked up again inside."""
    if mountns is None:
        return ["/usr/bin/nsenter", *namespaces, "--"] if namespaces else []
    options = " ".join(shlex.quote(option) for option in [*namespaces, f"--mount={mountns}"])
    script = f'exec /usr/bin/nsenter {options} -- /usr/bin/env -C "$PWD" "$@"'
    return ["/bin/sh", "-c", script, "entering"]


def session_project(home: Path, cwd: Path) -> Path | None:
    """The project a session started in CWD writes: its git top level (the nearest directory
    with a .git), else CWD; None outside HOME."""
    if not cwd.is_relative_to(home) or cwd == home:
        return None
    for directory in (cwd, *cwd.parents):
        if directory == home:
            break
        if os.path.lexists(directory / ".git"):
            return directory
    return cwd


def home_tree(home: Path, project: Path | None) -> dict[str, str]:
    """Every path below HOME's dot entries (the user's configuration, which home-manager
    manages) but ~/.claudebox, PROJECT and ~/.cache/nix, with its type (a symlink's target).
    The other entries are the tests' projects, their worktrees and mounts, which sessions
    write by design. ~/.cache/nix is the user's nix's own (its eval cache): the nix claudebox
    runs on the host to build a profile's packages is the user's, as `nix shell` would be."""
    tree: dict[str, str] = {}
    skipped = {home / ".claudebox", project, home / ".cache" / "nix"}
    for directory, subdirectories, files in os.walk(home):
        for name in list(subdirectories):
            if Path(directory, name) in skipped or (
                directory == str(home) and not name.startswith(".")
            ):
                subdirectories.remove(name)
        if directory == str(home):
            files = [name for name in files if name.startswith(".")]
        for name in [*subdirectories, *files]:
            path = Path(directory, name)
            if path in skipped:
                continue
            if path == home / ".cache" and (path / "nix").exists():
                continue  # (made for ~/.cache/nix)
            kind = "symlink to " + os.readlink(path) if path.is_symlink() else None
            tree[str(path.relative_to(home))] = kind or ("dir" if path.is_dir() else "file")
    return tree


def host_git(
    box: Box, *args: str, cwd: Path, check: bool = True, setup: bool = True
) -> subprocess.CompletedProcess[str]:
    """The host's real git as the test user (HOME = the fake home, PATH finds /usr/bin/git).
    setup=False runs it as a user would type it (no -c options)."""
    result = subprocess.run(
        box.as_user([HOST_GIT, *(HOST_GIT_SETUP if setup else ()), *args]),
        cwd=cwd,
        env={"HOME": str(box.home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"git {' '.join(args)} in {cwd}: {result.stderr}"
    return result


def wait_for(path: Path, timeout: float = 30, process: subprocess.Popen[str] | None = None) -> None:
    """Until `path` exists; fails at once, with its stderr, if `process` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            error = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"exited {process.returncode} before {path} appeared: {error}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def instance_dir(home: Path, project: Path) -> Path:
    """A project's instance on the host: ~/.claudebox/instances/ID, ID the first 16 hex digits
    of the SHA-256 of the project's path."""
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:16]
    return home / ".claudebox" / "instances" / digest


def files_holding(root: Path, text: str) -> list[Path]:
    """Regular files below ROOT (symlinks not followed) whose content holds TEXT."""
    found = []
    for path in root.rglob("*"):
        if not path.is_symlink() and path.is_file() and text.encode() in path.read_bytes():
            found.append(path)
    return found


def profiles_dir(box: Box) -> Path:
    """~/.claudebox/profiles (and ~/.claudebox), made private and the test user's."""
    state = box.mkdir(box.home / ".claudebox")
    profiles = box.mkdir(state / "profiles")
    for directory in (profiles, state):
        directory.chmod(0o700)
    return profiles


def write_profile(box: Box, name: str, profile: Mapping[str, object]) -> Path:
    """~/.claudebox/profiles/NAME.json holding PROFILE."""
    return box.write(profiles_dir(box) / f"{name}.json", json.dumps(profile))


def run_bytes(
    box: Box,
    *args: str,
    cwd: bytes | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """claudebox ARGS with its output as bytes (a raw byte that is not UTF-8 stays one)."""
    with box.home_unchanged(Path(os.fsdecode(cwd)) if cwd else None):
        return subprocess.run(
            box.command(args),
            env=box.env(env),
            cwd=cwd or box.project,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )


# What a claude.ai login holds (Claude Code 2.1.197 asks for these when it refreshes).
CLAUDE_AI_SCOPES = (
    "user:inference",
    "user:profile",
    "user:sessions:claude_code",
    "user:mcp_servers",
    "user:file_upload",
)
FAR_EXPIRY = 4102444800000  # ms since the epoch (2100): no session refreshes such a login


def oauth_credentials(
    access_token: str,
    refresh_token: str,
    *,
    plan: str = "max",
    expires_at: int = FAR_EXPIRY,
    rate_limit_tier: str | None = None,
) -> str:
    """~/.claude/.credentials.json as Claude Code writes it after a claude.ai login."""
    login: dict[str, object] = {
        "accessToken": access_token,
        "refreshToken": refresh_token,
        "expiresAt": expires_at,
        "scopes": list(CLAUDE_AI_SCOPES),
        "subscriptionType": plan,
    }
    if rate_limit_tier is not None:
        login["rateLimitTier"] = rate_limit_tier
    return json.dumps({"claudeAiOauth": login}, indent=2) + "\n"


def kill_tree(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL) if process.pid else None
        process.wait(timeout=10)


def mark_integration(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.integration)
