"""claudebox: run the Claude Code CLI inside a bubblewrap sandbox that secrets never enter.

The sandbox starts from an empty environment and an empty tmpfs root; only what this module
names goes in: the project (read-write), /nix/store (read-only), the nix daemon socket, a few
read-only /etc files, a private home with Claude's state, and an allowlist of variables.

Layout (top to bottom): constants, the one exception type, frozen values, pure builders
(host facts in, plan out), rendering, the OS edge, the parser, main.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

__version__: Final = "0.1.0"

# --- constants ------------------------------------------------------------------------------

STORE_DIR: Final = "/nix/store"
DAEMON_SOCKET_DIR: Final = "/nix/var/nix/daemon-socket"
DEFAULT_NETWORK: Final = "full"
NETWORK_TIERS: Final = ("full", "none")

# Host variables that may enter the sandbox (when set on the host).
ENV_ALLOWLIST: Final = (
    "HOME",
    "PATH",
    "TERM",
    "EDITOR",
    "LANG",
    "LC_ALL",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
    "ANTHROPIC_API_KEY",
    "USER",
    "SHELL",
    "XDG_RUNTIME_DIR",
)
# Defined by the sandbox itself, whatever the host says (a host value would point at host paths).
SANDBOX_DEFINED_ENV: Final = (
    "HOME",
    "PATH",
    "SHELL",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
)
EXTRA_ENV_VARIABLE: Final = "CLAUDEBOX_EXTRA_ENV"
ENV_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A variable whose name contains one of these has its value masked in the audit.
SECRET_NAME_MARKERS: Final = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "SESSION",
    "COOKIE",
    "PRIVATE",
)

# Relative to $HOME: never mounted; a project that is, holds or lies inside one is refused.
SECRET_HOME_PATHS: Final = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".config/gcloud",
    ".config/sops/age",
    ".age",
    ".netrc",
    ".git-credentials",
    ".docker",
    ".kube",
    ".password-store",
    ".claude",
    ".claudebox",
)
SECRET_SYSTEM_PATHS: Final = ("/var/lib/tailscale",)

# Inside the project: re-bound read-only when present (the host later executes or obeys them).
PROTECTED_PROJECT_PATHS: Final = (
    ".git/hooks",
    ".git/config",
    ".gitmodules",
    ".envrc",
    ".vscode",
    ".idea",
    ".mcp.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".claude/commands",
    ".claude/agents",
)

# Read-only pieces of /etc (bound with -try: any may be absent). /etc/static is NixOS's chain.
ETC_READ_ONLY: Final = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/static",
    "/etc/nix/nix.conf",
    "/etc/nix/registry.json",
)
CA_BUNDLE_CANDIDATES: Final = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/certs/ca-bundle.crt",
)
# Claude Code reads managed instructions from here on Linux; the sandbox's /etc is ours.
SANDBOX_NOTE_PATH: Final = "/etc/claude-code/CLAUDE.md"

# How each entry of the host's ~/.claude appears inside; entries not named here are read-only.
CLAUDE_PER_INSTANCE: Final = "per-project"
CLAUDE_READ_ONLY: Final = "read-only"
CLAUDE_SHARED: Final = "shared"
CLAUDE_STATE_TABLE: Final[Mapping[str, tuple[str, bool]]] = {
    # name: (treatment, is a directory)
    "projects": (CLAUDE_PER_INSTANCE, True),
    "history.jsonl": (CLAUDE_PER_INSTANCE, False),
    "todos": (CLAUDE_PER_INSTANCE, True),
    "file-history": (CLAUDE_PER_INSTANCE, True),
    "shell-snapshots": (CLAUDE_PER_INSTANCE, True),
    "session-env": (CLAUDE_PER_INSTANCE, True),
    "sessions": (CLAUDE_PER_INSTANCE, True),
    "debug": (CLAUDE_PER_INSTANCE, True),
    "plans": (CLAUDE_PER_INSTANCE, True),
    "paste-cache": (CLAUDE_PER_INSTANCE, True),
    "backups": (CLAUDE_PER_INSTANCE, True),
    "statsig": (CLAUDE_PER_INSTANCE, True),
    "ide": (CLAUDE_PER_INSTANCE, True),
    "tasks": (CLAUDE_PER_INSTANCE, True),
    "telemetry": (CLAUDE_PER_INSTANCE, True),
    "settings.json": (CLAUDE_READ_ONLY, False),
    "CLAUDE.md": (CLAUDE_READ_ONLY, False),
    "agents": (CLAUDE_READ_ONLY, True),
    "commands": (CLAUDE_READ_ONLY, True),
    "skills": (CLAUDE_READ_ONLY, True),
    "plugins": (CLAUDE_READ_ONLY, True),
    "hooks": (CLAUDE_READ_ONLY, True),
    "output-styles": (CLAUDE_READ_ONLY, True),
    "rules": (CLAUDE_READ_ONLY, True),
    ".credentials.json": (CLAUDE_SHARED, False),
}
# Seeds for read-only entries missing on the host (else the sandbox could create them there).
CLAUDE_READ_ONLY_SEED: Final[Mapping[str, str]] = {"settings.json": "{}\n", "CLAUDE.md": ""}
# Keys of the host's ~/.claude.json copied into a new instance's own file (no servers, no projects).
CLAUDE_JSON_SEED_KEYS: Final = (
    "theme",
    "hasCompletedOnboarding",
    "lastOnboardingVersion",
    "oauthAccount",
    "userID",
    "bypassPermissionsModeAccepted",
    "editorMode",
    "autoUpdates",
    "installMethod",
    "hasAcknowledgedCostThreshold",
    "firstStartTime",
)

GIT_DEFAULT_NAME: Final = "Claude (claudebox)"
GIT_DEFAULT_EMAIL: Final = "claude@claudebox.invalid"

# File descriptors carrying generated data into bwrap (the same numbers in --dry-run output).
FIRST_DATA_FD: Final = 10

# seccomp: fail ioctl(TIOCSTI) and ioctl(TIOCLINUX) with EPERM (terminal injection).
TIOCSTI: Final = 0x5412
TIOCLINUX: Final = 0x541C
EPERM: Final = 1
SECCOMP_RET_ALLOW: Final = 0x7FFF0000
SECCOMP_RET_ERRNO: Final = 0x00050000
SECCOMP_RET_KILL_PROCESS: Final = 0x80000000
X32_SYSCALL_BIT: Final = 0x40000000
BPF_LD_W_ABS: Final = 0x20
BPF_JEQ_K: Final = 0x15
BPF_JGE_K: Final = 0x35
BPF_RET_K: Final = 0x06
SECCOMP_DATA_NR: Final = 0
SECCOMP_DATA_ARCH: Final = 4
SECCOMP_DATA_ARG1_LOW: Final = 24  # low 32 bits of args[1] on little endian (CVE-2019-10063)
# machine -> ((audit arch, ioctl syscall number, reject x32 syscalls), ...): every ABI the kernel
# accepts from a process of that machine; any other arch value is killed, never let through.
SECCOMP_ABIS: Final[Mapping[str, tuple[tuple[int, int, bool], ...]]] = {
    "x86_64": ((0xC000003E, 16, True), (0x40000003, 54, False)),
    "aarch64": ((0xC00000B7, 29, False), (0x40000028, 54, False)),
}

FORWARDED_SIGNALS: Final = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)

EXIT_RUNTIME: Final = 1
EXIT_USAGE: Final = 2
EXIT_MISSING: Final = 127
EXIT_INTERRUPTED: Final = 130


class ClaudeboxError(Exception):
    """The one error type: its message names the cause and the fix; main prints it once."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    """One bwrap filesystem operation; `op` is the bwrap option without its dashes."""

    op: str
    dst: str
    src: str = ""
    fd: int = -1

    def to_args(self) -> list[str]:
        if self.op in ("tmpfs", "proc", "dev", "dir"):
            return [f"--{self.op}", self.dst]
        if self.op in ("ro-bind-data", "bind-data"):
            return [f"--{self.op}", str(self.fd), self.dst]
        return [f"--{self.op}", self.src, self.dst]

    @property
    def mode(self) -> str:
        if self.op in ("tmpfs", "proc", "dev", "dir"):
            return self.op if self.op != "dir" else "tmpfs"
        if self.op == "symlink":
            return "link"
        return "ro" if self.op.startswith("ro-") else "rw"


@dataclass(frozen=True)
class DataInput:
    """Bytes bwrap reads from a file descriptor (generated files, the seccomp program)."""

    fd: int
    content: bytes
    what: str


@dataclass(frozen=True)
class HostSetup:
    """A directory or file claudebox creates on the host before launch (never overwrites)."""

    path: str
    content: str | None = None  # None: a directory

    def render(self) -> str:
        if self.content is None:
            return f"mkdir -p -m 700 {shlex.quote(self.path)}"
        return (
            f"[ -e {shlex.quote(self.path)} ] || "
            f"(umask 077 && printf %s {shlex.quote(self.content)} > {shlex.quote(self.path)})"
        )


@dataclass(frozen=True)
class Instance:
    """Per-project state: keyed by the canonical project root."""

    id: str
    root: str
    dir: str


@dataclass(frozen=True)
class HostFacts:
    """Everything the builders need to know about the host, read once at the edge."""

    env: Mapping[str, str]
    uid: int
    gid: int
    home: str
    cwd: str
    project: str  # git top level of cwd, or cwd
    canonical_root: str  # instance key: the main worktree root, or project
    git_common_dir: str | None  # bound too when it lies outside the project (linked worktree)
    machine: str
    path_dirs: tuple[str, ...]  # host PATH entries, each resolved (real path), existing only
    claude: str | None  # real path of the claude executable, None when not found
    bwrap: str | None
    tools: Mapping[str, str]  # "bash"/"sh"/"env" -> path inside the store
    ca_bundle: str | None
    git_name: str | None
    git_email: str | None
    existing: frozenset[str]  # candidate paths (protected, /etc) that exist on the host
    claude_dir_entries: Mapping[str, bool]  # host ~/.claude entry -> is a directory
    host_claude_json: Mapping[str, object]
    state_dir: str  # ~/.claudebox
    other_session: bool = False  # another claudebox session of this project holds its lock


@dataclass(frozen=True)
class Options:
    claude_args: tuple[str, ...] = ()
    network: str = DEFAULT_NETWORK
    shell: bool = False


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    origin: str  # "host", "extra" (CLAUDEBOX_EXTRA_ENV) or "sandbox"

    @property
    def looks_secret(self) -> bool:
        return looks_secret(self.name)


@dataclass(frozen=True)
class SandboxPlan:
    """The complete sandbox: what --dry-run prints, what the audit shows, what runs."""

    bwrap: str
    namespace_args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    mounts: tuple[Mount, ...]
    data: tuple[DataInput, ...]
    chdir: str
    command: tuple[str, ...]
    host_setup: tuple[HostSetup, ...]
    instance: Instance
    network: str
    claude_dir_view: tuple[tuple[str, str], ...]  # (entry, treatment) for the audit
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def argv(self) -> list[str]:
        args = [self.bwrap, *self.namespace_args, "--clearenv"]
        for var in self.env:
            args += ["--setenv", var.name, var.value]
        for mount in self.mounts:
            args += mount.to_args()
        args += ["--chdir", self.chdir, "--seccomp", str(self.seccomp_fd), "--", *self.command]
        return args

    @property
    def seccomp_fd(self) -> int:
        return next(d.fd for d in self.data if d.what == "seccomp")


# --- pure builders --------------------------------------------------------------------------


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_NAME_MARKERS)


def parse_extra_env(value: str) -> tuple[str, ...]:
    names: list[str] = []
    for item in value.split(","):
        name = item.strip()
        if not name:
            continue
        if not ENV_NAME_PATTERN.fullmatch(name):
            raise ClaudeboxError(
                f"{EXTRA_ENV_VARIABLE}: {name!r} is not a variable name; "
                f"list names separated by commas, e.g. {EXTRA_ENV_VARIABLE}=GH_HOST,NPM_TAG",
                EXIT_USAGE,
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def instance_for(canonical_root: str, state_dir: str) -> Instance:
    digest = hashlib.sha256(canonical_root.encode()).hexdigest()[:16]
    return Instance(digest, canonical_root, os.path.join(state_dir, "instances", digest))


def is_within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def secret_paths(home: str, env: Mapping[str, str]) -> tuple[str, ...]:
    paths = [os.path.join(home, rel) for rel in SECRET_HOME_PATHS]
    paths += SECRET_SYSTEM_PATHS
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isabs(runtime_dir):
        paths.append(os.path.normpath(runtime_dir))
    return tuple(paths)


def check_exposable(path: str, what: str, home: str, env: Mapping[str, str]) -> None:
    """Refuse to mount `path` when that would expose $HOME, / or a secret path."""
    if path == "/":
        raise ClaudeboxError(f"{what} is /; run claudebox from a project directory", EXIT_USAGE)
    if path == home:
        raise ClaudeboxError(
            f"{what} is your home directory ({home}), which holds your keys; "
            "run claudebox from a project directory",
            EXIT_USAGE,
        )
    for secret in secret_paths(home, env):
        if is_within(secret, path) or is_within(path, secret):
            raise ClaudeboxError(
                f"{what} {path} would expose {secret}; run claudebox from a project directory "
                "that neither contains nor lies inside a secret path",
                EXIT_USAGE,
            )


def sandbox_path_dirs(path_dirs: Iterable[str]) -> tuple[str, ...]:
    """Only directories inside the store, de-duplicated, order kept."""
    kept: list[str] = []
    for directory in path_dirs:
        if is_within(directory, STORE_DIR) and directory != STORE_DIR and directory not in kept:
            kept.append(directory)
    return tuple(kept)


def build_env(
    host: HostFacts, extra_names: Sequence[str], generated: Mapping[str, str]
) -> tuple[EnvVar, ...]:
    variables: dict[str, EnvVar] = {}
    for name in ENV_ALLOWLIST:
        if name in host.env and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], "host")
    for name in extra_names:
        if name in host.env and name not in variables and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], "extra")
    for name, value in generated.items():
        variables[name] = EnvVar(name, value, "sandbox")
    return tuple(sorted(variables.values(), key=lambda var: var.name))


def gitconfig_text(name: str | None, email: str | None) -> str:
    def quoted(value: str) -> str:
        flat = " ".join(value.splitlines())
        return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "[user]\n"
        f"\tname = {quoted(name or GIT_DEFAULT_NAME)}\n"
        f"\temail = {quoted(email or GIT_DEFAULT_EMAIL)}\n"
        "[safe]\n"
        "\tdirectory = *\n"
    )


def sandbox_note_text(project: str, home: str, network: str) -> str:
    network_line = {
        "full": "the host's network (the internet, the LAN and the host's own services).",
        "none": "none: only loopback inside the sandbox. The nix daemon still downloads for you.",
    }[network]
    protected = ", ".join(PROTECTED_PROJECT_PATHS)
    return (
        "# You are running inside claudebox\n\n"
        f"This Claude Code session runs in a bubblewrap sandbox (claudebox {__version__}).\n\n"
        f"- Visible: the project at {project} (read-write), /nix/store (read-only),\n"
        f"  a private /tmp and a private home ({home}) holding only ~/.claude and ~/.gitconfig.\n"
        "- Not visible: the rest of the user's home (SSH and GPG keys, cloud credentials), other\n"
        "  projects, host processes and the host's environment variables. Do not look for them.\n"
        f"- Read-only inside the project when present: {protected}.\n"
        f"- Network: {network_line}\n"
        "- There is no sudo and no system package manager. Get a tool for one command with\n"
        "  `, <tool> ...` (comma) or `nix shell nixpkgs#<package> -c <command>`.\n"
        "- Anything written outside the project (except ~/.claude) is gone when the session ends.\n"
    )


def claude_json_seed(host_claude_json: Mapping[str, object]) -> str:
    seed = {key: host_claude_json[key] for key in CLAUDE_JSON_SEED_KEYS if key in host_claude_json}
    return json.dumps(seed, indent=2, sort_keys=True) + "\n"


def assemble_bpf(program: Sequence[tuple[int, int, str, str] | str]) -> bytes:
    """Classic BPF with symbolic jumps: items are labels or (code, k, jump-true, jump-false)."""
    labels: dict[str, int] = {}
    index = 0
    for item in program:
        if isinstance(item, str):
            labels[item] = index
        else:
            index += 1
    out = bytearray()
    index = 0
    for item in program:
        if isinstance(item, str):
            continue
        code, k, if_true, if_false = item
        jt = labels[if_true] - index - 1 if if_true else 0
        jf = labels[if_false] - index - 1 if if_false else 0
        out += struct.pack("=HBBI", code, jt, jf, k)
        index += 1
    return bytes(out)


def tiocsti_filter(machine: str) -> bytes:
    """A seccomp program failing ioctl(TIOCSTI/TIOCLINUX) with EPERM; unknown ABIs are killed."""
    abis = SECCOMP_ABIS.get(machine)
    if abis is None:
        supported = ", ".join(SECCOMP_ABIS)
        raise ClaudeboxError(
            f"no terminal-injection filter for machine {machine!r} (supported: {supported}); "
            "claudebox will not start a sandbox without it"
        )
    program: list[tuple[int, int, str, str] | str] = [(BPF_LD_W_ABS, SECCOMP_DATA_ARCH, "", "")]
    for number, (arch, ioctl_nr, reject_x32) in enumerate(abis):
        program += [f"abi{number}", (BPF_JEQ_K, arch, "", f"abi{number + 1}")]
        program.append((BPF_LD_W_ABS, SECCOMP_DATA_NR, "", ""))
        if reject_x32:
            program.append((BPF_JGE_K, X32_SYSCALL_BIT, "deny", ""))
        program.append((BPF_JEQ_K, ioctl_nr, "request", "allow"))
    program += [
        f"abi{len(abis)}",
        (BPF_RET_K, SECCOMP_RET_KILL_PROCESS, "", ""),
        "request",
        (BPF_LD_W_ABS, SECCOMP_DATA_ARG1_LOW, "", ""),
        (BPF_JEQ_K, TIOCSTI, "deny", ""),
        (BPF_JEQ_K, TIOCLINUX, "deny", "allow"),
        "deny",
        (BPF_RET_K, SECCOMP_RET_ERRNO | EPERM, "", ""),
        "allow",
        (BPF_RET_K, SECCOMP_RET_ALLOW, "", ""),
    ]
    return assemble_bpf(program)


def order_mounts(mounts: Iterable[Mount]) -> tuple[Mount, ...]:
    """Parents before children (stable), and one operation per destination (the last wins)."""
    by_dst: dict[str, Mount] = {}
    for mount in mounts:
        by_dst.pop(mount.dst, None)
        by_dst[mount.dst] = mount

    def depth(mount: Mount) -> int:
        return 0 if mount.dst == "/" else mount.dst.rstrip("/").count("/")

    return tuple(sorted(by_dst.values(), key=depth))


def claude_mounts(
    host: HostFacts, instance: Instance
) -> tuple[list[Mount], list[HostSetup], list[tuple[str, str]]]:
    """~/.claude: the host directory read-write, per-project stores and read-only config on top."""
    claude_dir = os.path.join(host.home, ".claude")
    store_dir = os.path.join(instance.dir, "claude")
    mounts = [Mount("bind", claude_dir, claude_dir)]
    setup = [HostSetup(claude_dir)]
    view: list[tuple[str, str]] = []
    for name, (treatment, is_dir) in CLAUDE_STATE_TABLE.items():
        inside = os.path.join(claude_dir, name)
        if treatment == CLAUDE_PER_INSTANCE:
            source = os.path.join(store_dir, name)
            setup.append(HostSetup(source) if is_dir else HostSetup(source, ""))
            mounts.append(Mount("bind", inside, source))
        elif treatment == CLAUDE_READ_ONLY:
            if name not in host.claude_dir_entries:
                setup.append(
                    HostSetup(inside) if is_dir else HostSetup(inside, CLAUDE_READ_ONLY_SEED[name])
                )
            mounts.append(Mount("ro-bind", inside, inside))
        view.append((name, treatment))
    for name in sorted(host.claude_dir_entries):
        if name not in CLAUDE_STATE_TABLE:
            inside = os.path.join(claude_dir, name)
            mounts.append(Mount("ro-bind", inside, inside))
            view.append((name, f"{CLAUDE_READ_ONLY} (unclassified)"))
    claude_json = os.path.join(store_dir, ".claude.json")
    setup.append(HostSetup(claude_json, claude_json_seed(host.host_claude_json)))
    mounts.append(Mount("bind", os.path.join(host.home, ".claude.json"), claude_json))
    return mounts, setup, view


def build_plan(host: HostFacts, options: Options, extra_env: Sequence[str]) -> SandboxPlan:
    if options.network not in NETWORK_TIERS:
        raise ClaudeboxError(
            f"unknown network tier {options.network!r}; use one of {', '.join(NETWORK_TIERS)}",
            EXIT_USAGE,
        )
    check_exposable(host.project, "the project directory", host.home, host.env)
    instance = instance_for(host.canonical_root, host.state_dir)
    notes: list[str] = []
    warnings: list[str] = []
    if host.other_session:
        notes.append("another claudebox session of this project is running (state is shared)")

    path_dirs = list(sandbox_path_dirs(host.path_dirs))
    claude = host.claude or "claude"
    mounts: list[Mount] = [
        Mount("tmpfs", "/"),
        Mount("proc", "/proc"),
        Mount("dev", "/dev"),
        Mount("tmpfs", "/tmp"),
        Mount("ro-bind", STORE_DIR, STORE_DIR),
        Mount("bind-try", DAEMON_SOCKET_DIR, DAEMON_SOCKET_DIR),
        *(Mount("ro-bind-try", path, path) for path in ETC_READ_ONLY if path in host.existing),
        Mount("tmpfs", host.home),
    ]
    if host.claude is None:
        warnings.append("claude was not found on PATH: install Claude Code or add it to PATH")
    elif is_within(host.claude, STORE_DIR):
        claude_bin = os.path.dirname(host.claude)
        if claude_bin not in path_dirs:
            path_dirs.append(claude_bin)
    else:
        install_dir = os.path.dirname(host.claude)
        check_exposable(install_dir, "claude's install directory", host.home, host.env)
        mounts.append(Mount("ro-bind", install_dir, install_dir))
        notes.append(f"claude lives outside /nix/store: {install_dir} is mounted read-only")
    for name, link in (("env", "/usr/bin/env"), ("sh", "/bin/sh")):
        if name in host.tools:
            mounts.append(Mount("symlink", link, host.tools[name]))

    claude_dir, setup, claude_view = claude_mounts(host, instance)
    mounts += claude_dir
    host_setup = [
        HostSetup(host.state_dir),
        HostSetup(os.path.dirname(instance.dir)),
        HostSetup(instance.dir),
        HostSetup(os.path.join(instance.dir, "root"), instance.root + "\n"),
        HostSetup(os.path.join(instance.dir, "claude")),
        *setup,
    ]

    data = (
        DataInput(
            FIRST_DATA_FD, gitconfig_text(host.git_name, host.git_email).encode(), "gitconfig"
        ),
        DataInput(
            FIRST_DATA_FD + 1,
            sandbox_note_text(host.project, host.home, options.network).encode(),
            "sandbox note",
        ),
        DataInput(FIRST_DATA_FD + 2, tiocsti_filter(host.machine), "seccomp"),
    )
    mounts += [
        Mount("ro-bind-data", os.path.join(host.home, ".gitconfig"), fd=data[0].fd),
        Mount("ro-bind-data", SANDBOX_NOTE_PATH, fd=data[1].fd),
        Mount("bind", host.project, host.project),
    ]
    if host.git_common_dir and not is_within(host.git_common_dir, host.project):
        check_exposable(host.git_common_dir, "the repository's git directory", host.home, host.env)
        mounts.append(Mount("bind", host.git_common_dir, host.git_common_dir))
    git_dir = host.git_common_dir or os.path.join(host.project, ".git")
    for relative in PROTECTED_PROJECT_PATHS:
        if relative.startswith(".git/"):
            path = os.path.join(git_dir, relative.removeprefix(".git/"))
        else:
            path = os.path.join(host.project, relative)
        if path in host.existing:
            mounts.append(Mount("ro-bind", path, path))

    generated = {
        "HOME": host.home,
        "PATH": ":".join(path_dirs),
        "TMPDIR": "/tmp",
        "XDG_RUNTIME_DIR": "/tmp",
    }
    if "bash" in host.tools:
        generated["SHELL"] = host.tools["bash"]
    else:
        warnings.append("no bash found in the store part of PATH: SHELL is unset inside")
    if host.ca_bundle:
        generated["NIX_SSL_CERT_FILE"] = host.ca_bundle
        generated["SSL_CERT_FILE"] = host.ca_bundle
    env = build_env(host, extra_env, generated)
    for var in env:
        if var.origin == "extra" and var.looks_secret:
            warnings.append(
                f"{var.name} looks like a secret and is passed in by {EXTRA_ENV_VARIABLE}"
            )

    if options.shell:
        if "bash" not in host.tools:
            raise ClaudeboxError("--shell needs bash in the store part of PATH", EXIT_MISSING)
        command: tuple[str, ...] = (host.tools["bash"],)
    else:
        command = (claude, "--dangerously-skip-permissions", *options.claude_args)
    namespaces = [
        "--die-with-parent",
        "--unshare-user",
        "--disable-userns",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "claudebox",
    ]
    if options.network == "none":
        namespaces.append("--unshare-net")
    return SandboxPlan(
        bwrap=host.bwrap or "bwrap",
        namespace_args=tuple(namespaces),
        env=env,
        mounts=order_mounts(mounts),
        data=data,
        chdir=host.cwd,
        command=command,
        host_setup=tuple(host_setup),
        instance=instance,
        network=options.network,
        claude_dir_view=tuple(claude_view),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


# --- rendering ------------------------------------------------------------------------------

NETWORK_MEANING: Final[Mapping[str, str]] = {
    "full": "host network: WARNING host loopback services and abstract unix sockets are reachable",
    "none": "loopback only (the nix daemon still downloads for the sandbox)",
}


def mask(value: str) -> str:
    return f"<masked, {len(value)} chars>"


def render_dry_run(plan: SandboxPlan) -> str:
    """Host preparation, then bwrap one option per line; pasted into bash: the same sandbox."""
    lines = [step.render() for step in plan.host_setup]
    args = plan.argv
    chunks: list[list[str]] = [["env", "-i", args[0]]]  # env -i: see launch()
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            chunks.append(args[i:])
            break
        width = BWRAP_ARITY.get(arg, 0)
        chunks.append(args[i : i + 1 + width])
        i += 1 + width
    redirections = [f"{item.fd}< <({printf_command(item.content)})" for item in plan.data]
    chunks.append(redirections)
    body = " \\\n  ".join(
        shlex.join(chunk) if chunk is not redirections else " ".join(chunk) for chunk in chunks
    )
    return "\n".join([*lines, body]) + "\n"


def printf_command(content: bytes) -> str:
    """A shell command printing exactly `content` (octal escapes for binary data)."""
    if b"\0" not in content:
        try:
            return f"printf %s {shlex.quote(content.decode())}"
        except UnicodeDecodeError:
            pass
    return "printf '" + "".join(f"\\{byte:03o}" for byte in content) + "'"


BWRAP_ARITY: Final[Mapping[str, int]] = {
    "--setenv": 2,
    "--bind": 2,
    "--ro-bind": 2,
    "--bind-try": 2,
    "--ro-bind-try": 2,
    "--symlink": 2,
    "--ro-bind-data": 2,
    "--bind-data": 2,
    "--tmpfs": 1,
    "--proc": 1,
    "--dev": 1,
    "--dir": 1,
    "--chdir": 1,
    "--seccomp": 1,
    "--hostname": 1,
}


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def red(self, text: str) -> str:
        return f"\033[31m{text}\033[0m" if self.colour else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text


def render_audit(plan: SandboxPlan, style: Style) -> str:
    out = [style.bold(f"claudebox {__version__}: what enters the sandbox")]
    out.append(f"  project   {plan.chdir}")
    out.append(f"  instance  {plan.instance.id}  root {plan.instance.root}")
    out.append(f"  command   {shlex.join(plan.command)}")
    out.append(f"  network   {plan.network}: {NETWORK_MEANING[plan.network]}")
    out.append(f"  env ({len(plan.env)})")
    for var in plan.env:
        line = (
            f"    {var.name}={mask(var.value) if var.looks_secret else var.value}  [{var.origin}]"
        )
        out.append(style.red(line) if var.looks_secret and var.origin == "extra" else line)
    out.append(f"  mounts ({len(plan.mounts)})")
    for mount in plan.mounts:
        if mount.op in ("ro-bind-data", "bind-data"):
            source = "(generated)"
        elif mount.src and mount.src != mount.dst:
            source = f"<- {mount.src}"
        else:
            source = ""
        out.append(f"    {mount.mode:<5} {mount.dst} {source}".rstrip())
    out.append("  ~/.claude")
    for treatment in (CLAUDE_PER_INSTANCE, CLAUDE_READ_ONLY, CLAUDE_SHARED):
        names = [name for name, how in plan.claude_dir_view if how == treatment]
        if names:
            out.append(f"    {treatment}: {' '.join(names)}")
    unclassified = [name for name, how in plan.claude_dir_view if how.endswith("(unclassified)")]
    if unclassified:
        out.append(f"    read-only, unclassified: {' '.join(unclassified)}")
    for note in plan.notes:
        out.append(f"  note: {note}")
    for warning in plan.warnings:
        out.append(style.red(f"  warning: {warning}"))
    return "\n".join(out) + "\n"


# --- the OS edge ----------------------------------------------------------------------------


def run(
    argv: Sequence[str], *, check: bool, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The one way host commands (git) run: captured, text, no stdin."""
    return subprocess.run(
        argv, check=check, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def git_layout(cwd: str, git: str | None) -> tuple[str, str, str | None]:
    """(project = git top level or cwd, canonical root, common git dir) for `cwd`."""
    if git is None:
        return cwd, cwd, None
    result = run(
        [git, "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"],
        check=False,
        cwd=cwd,
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2:
        return cwd, cwd, None
    top = os.path.realpath(lines[0])
    common = os.path.realpath(lines[1])
    canonical = os.path.dirname(common) if os.path.basename(common) == ".git" else top
    return top, canonical, common


def git_identity(git: str | None) -> tuple[str | None, str | None]:
    if git is None:
        return None, None
    values: list[str | None] = []
    for key in ("user.name", "user.email"):
        result = run([git, "config", "--global", "--get", key], check=False)
        values.append(result.stdout.strip() or None if result.returncode == 0 else None)
    return values[0], values[1]


def read_json_object(path: str) -> Mapping[str, object]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def find_in(directories: Iterable[str], name: str) -> str | None:
    for directory in directories:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def probe_host(env: Mapping[str, str]) -> HostFacts:
    home = os.path.realpath(env.get("HOME") or os.path.expanduser("~"))
    try:
        cwd = os.path.realpath(os.getcwd())
    except FileNotFoundError as error:
        raise ClaudeboxError("the current directory no longer exists; cd into a project") from error
    host_path = env.get("PATH", os.defpath)
    git = shutil.which("git", path=host_path)
    project, canonical_root, common_dir = git_layout(cwd, git)
    path_dirs = tuple(
        os.path.realpath(entry)
        for entry in host_path.split(os.pathsep)
        if entry and os.path.isdir(entry)
    )
    store_dirs = sandbox_path_dirs(path_dirs)
    tools = {}
    for name in ("bash", "sh", "env"):
        found = find_in(store_dirs, name)
        if found:
            tools[name] = found
    if "sh" not in tools and "bash" in tools:
        tools["sh"] = tools["bash"]
    claude = shutil.which("claude", path=host_path)
    ca_bundle = next((path for path in CA_BUNDLE_CANDIDATES if os.path.isfile(path)), None)
    if ca_bundle is None:
        nix_bundle = os.path.realpath(env.get("NIX_SSL_CERT_FILE", "/nonexistent"))
        ca_bundle = (
            nix_bundle if is_within(nix_bundle, STORE_DIR) and os.path.isfile(nix_bundle) else None
        )
    git_dir = common_dir or os.path.join(project, ".git")
    candidates = [*ETC_READ_ONLY]
    for relative in PROTECTED_PROJECT_PATHS:
        if relative.startswith(".git/"):
            candidates.append(os.path.join(git_dir, relative.removeprefix(".git/")))
        else:
            candidates.append(os.path.join(project, relative))
    existing = frozenset(path for path in candidates if os.path.lexists(path))
    claude_dir = os.path.join(home, ".claude")
    try:
        entries = {
            entry.name: entry.is_dir(follow_symlinks=False) for entry in os.scandir(claude_dir)
        }
    except OSError:
        entries = {}
    git_name, git_email = git_identity(git)
    state_dir = os.path.join(home, ".claudebox")
    return HostFacts(
        env=dict(env),
        uid=os.getuid(),
        gid=os.getgid(),
        home=home,
        cwd=cwd,
        project=project,
        canonical_root=canonical_root,
        git_common_dir=common_dir if common_dir and not is_within(common_dir, project) else None,
        machine=os.uname().machine,
        path_dirs=path_dirs,
        claude=os.path.realpath(claude) if claude else None,
        bwrap=shutil.which("bwrap", path=host_path),
        tools=tools,
        ca_bundle=ca_bundle,
        git_name=git_name,
        git_email=git_email,
        existing=existing,
        claude_dir_entries=entries,
        host_claude_json=read_json_object(os.path.join(home, ".claude.json")),
        state_dir=state_dir,
        other_session=instance_in_use(instance_for(canonical_root, state_dir).dir),
    )


def instance_in_use(instance_dir: str) -> bool:
    """Whether a session holds the instance's lock (read-only probe: creates nothing)."""
    try:
        fd = os.open(os.path.join(instance_dir, "lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def lock_instance(instance_dir: str) -> int:
    """Hold LOCK_SH on the instance for the whole session; --gc never removes a locked one.

    A --gc may remove the directory between our mkdir and our lock: then the locked file is no
    longer the one at the path, and we start again.
    """
    path = os.path.join(instance_dir, "lock")
    for _ in range(5):
        try:
            os.makedirs(instance_dir, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ClaudeboxError(
                f"cannot create {path}: {error.strerror}; check the permissions of {instance_dir}"
            ) from error
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise ClaudeboxError(f"could not lock {path}: it keeps disappearing (a concurrent --gc?)")


@dataclass(frozen=True)
class GcEntry:
    instance_dir: str
    root: str | None  # None: no readable root file (corrupt)
    size: int
    verdict: str  # "remove", "in use", "kept", "corrupt"


def directory_size(path: str) -> int:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


def read_root(instance_dir: str) -> str | None:
    try:
        with open(os.path.join(instance_dir, "root"), encoding="utf-8") as handle:
            root = handle.read().strip()
    except OSError:
        return None
    return root or None


def garbage_collect(state_dir: str, *, remove: bool) -> list[GcEntry]:
    """Instances whose project root is gone; a locked (in-use) one is never touched."""
    instances_dir = os.path.join(state_dir, "instances")
    try:
        names = sorted(os.listdir(instances_dir))
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        instance_dir = os.path.join(instances_dir, name)
        if not os.path.isdir(instance_dir) or os.path.islink(instance_dir):
            continue
        root = read_root(instance_dir)
        size = directory_size(instance_dir)
        if root is None:
            entries.append(GcEntry(instance_dir, None, size, "corrupt"))
            continue
        if os.path.exists(root):
            entries.append(GcEntry(instance_dir, root, size, "kept"))
            continue
        fd = os.open(
            os.path.join(instance_dir, "lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                entries.append(GcEntry(instance_dir, root, size, "in use"))
                continue
            if remove:
                shutil.rmtree(instance_dir)
            entries.append(GcEntry(instance_dir, root, size, "remove"))
        finally:
            os.close(fd)
    return entries


def render_gc(entries: Sequence[GcEntry], *, removed: bool) -> str:
    lines = []
    for entry in entries:
        size = human_size(entry.size)
        name = os.path.basename(entry.instance_dir)
        if entry.verdict == "remove":
            verb = "removed" if removed else "would remove"
            lines.append(f"{verb} {name} ({size}): {entry.root} no longer exists")
        elif entry.verdict == "in use":
            lines.append(f"skipped {name} ({size}): {entry.root} is gone but a session is running")
        elif entry.verdict == "corrupt":
            lines.append(
                f"corrupt {name} ({size}): no root file; inspect {entry.instance_dir} "
                "and remove it by hand"
            )
    freed = sum(entry.size for entry in entries if entry.verdict == "remove")
    kept = sum(1 for entry in entries if entry.verdict != "remove")
    summary = "freed" if removed else "would free"
    lines.append(f"{summary} {human_size(freed)}; {kept} instance(s) kept")
    return "\n".join(lines) + "\n"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def prepare_host(steps: Iterable[HostSetup]) -> None:
    """Create what is missing (0700 / 0600); never replaces an existing file."""
    for step in steps:
        try:
            if step.content is None:
                os.makedirs(step.path, mode=0o700, exist_ok=True)
            elif not os.path.lexists(step.path):
                temporary = f"{step.path}.claudebox-{os.getpid()}"
                with open(
                    os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
                ) as out:
                    out.write(step.content)
                os.replace(temporary, step.path)
        except OSError as error:
            raise ClaudeboxError(
                f"cannot create {step.path}: {error.strerror}; check its permissions"
            ) from error


def confirm(prompt: str) -> bool:
    """Ask on the terminal itself (never stdin); no terminal means no."""
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")
    except OSError as error:
        raise ClaudeboxError(
            "no terminal to confirm the launch on; review it with --dry-run, then pass --yes",
            EXIT_USAGE,
        ) from error
    with tty:
        tty.write(prompt)
        tty.flush()
        answer = tty.readline()
    return answer.strip().lower() in ("y", "yes")


def sandboxed_command_pid(bwrap_pid: int) -> int | None:
    """bwrap -> its pid-1 init -> the command: the host pid of the command, once it runs."""
    pid = bwrap_pid
    for _ in range(2):
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
                children = handle.read().split()
        except OSError:
            return None
        if not children:
            return None
        pid = int(children[0])
    return pid


def launch(plan: SandboxPlan) -> int:
    """Run bwrap and stay as a thin supervisor: bwrap 0.8 forwards no signal to the command."""
    if plan.bwrap == "bwrap" and shutil.which("bwrap") is None:
        raise ClaudeboxError(
            "bwrap (bubblewrap) not found on PATH; install bubblewrap", EXIT_MISSING
        )
    if not plan.command[0].startswith("/"):
        raise ClaudeboxError(
            "claude not found on PATH; install Claude Code (nixpkgs claude-code) or add it to PATH",
            EXIT_MISSING,
        )
    for item in plan.data:
        read_end, write_end = os.pipe()
        os.write(write_end, item.content)  # small: fits the pipe buffer
        os.close(write_end)
        os.dup2(read_end, item.fd)
        os.close(read_end)
    try:
        # bwrap's pid-1 init keeps bwrap's own environment, readable inside as /proc/1/environ:
        # bwrap gets none at all (--setenv gives the command its environment).
        process = subprocess.Popen(plan.argv, env={}, pass_fds=[item.fd for item in plan.data])
    except OSError as error:
        raise ClaudeboxError(
            f"cannot start {plan.bwrap}: {error.strerror}", EXIT_MISSING
        ) from error
    finally:
        for item in plan.data:
            os.close(item.fd)

    def forward(signum: int, _frame: object) -> None:
        target = sandboxed_command_pid(process.pid) or process.pid
        try:
            os.kill(target, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    status = process.wait()
    return status if status >= 0 else 128 - status


# --- --check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""


def check_host(env: Mapping[str, str]) -> list[CheckResult]:
    host_path = env.get("PATH", os.defpath)
    results: list[CheckResult] = []
    bwrap = shutil.which("bwrap", path=host_path)
    if bwrap:
        version = run([bwrap, "--version"], check=False).stdout.strip()
        results.append(CheckResult("bwrap", True, f"{version} ({bwrap})"))
        probe = run(
            [
                bwrap,
                "--unshare-user",
                "--unshare-pid",
                "--ro-bind",
                "/",
                "/",
                "--",
                sys.executable,
                "-c",
                "",
            ],
            check=False,
        )
        results.append(
            CheckResult(
                "user namespaces",
                probe.returncode == 0,
                "unprivileged user namespaces work"
                if probe.returncode == 0
                else probe.stderr.strip(),
                "enable them: sysctl user.max_user_namespaces=10000 "
                "(and kernel.apparmor_restrict_unprivileged_userns=0 where present)",
            )
        )
    else:
        results.append(CheckResult("bwrap", False, "not found on PATH", "install bubblewrap"))
    socket_path = os.path.join(DAEMON_SOCKET_DIR, "socket")
    results.append(
        CheckResult(
            "nix daemon socket",
            os.path.exists(socket_path),
            socket_path,
            "start the nix daemon (NixOS: nix.enable = true) so nix shell and comma work inside",
        )
    )
    claude = shutil.which("claude", path=host_path)
    results.append(
        CheckResult(
            "claude",
            claude is not None,
            os.path.realpath(claude) if claude else "not found on PATH",
            "install Claude Code (nixpkgs: claude-code) or add it to PATH",
        )
    )
    home = env.get("HOME") or os.path.expanduser("~")
    state_dir = os.path.join(home, ".claudebox")
    existing = state_dir if os.path.exists(state_dir) else home
    results.append(
        CheckResult(
            "state directory",
            os.access(existing, os.W_OK | os.X_OK),
            f"{state_dir} is writable"
            if os.access(existing, os.W_OK)
            else f"{existing} is not writable",
            f"make {existing} writable by you",
        )
    )
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti", encoding="ascii") as handle:
            legacy = handle.read().strip()
        detail = (
            f"dev.tty.legacy_tiocsti = {legacy} (claudebox blocks TIOCSTI by seccomp either way)"
        )
    except OSError:
        detail = "dev.tty.legacy_tiocsti not present (claudebox blocks TIOCSTI by seccomp)"
    results.append(CheckResult("terminal injection", True, detail))
    return results


def render_checks(results: Sequence[CheckResult], style: Style) -> str:
    lines = []
    for result in results:
        if result.ok:
            lines.append(f"ok   {result.name}: {result.detail}")
        else:
            lines.append(style.red(f"FAIL {result.name}: {result.detail}; fix: {result.hint}"))
    return "\n".join(lines) + "\n"


# --- parser and main ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claudebox",
        usage="claudebox [CLAUDEBOX OPTIONS] [CLAUDE ARGS ...]",
        description=(
            "Run Claude Code (claude --dangerously-skip-permissions) in a bubblewrap sandbox: "
            "empty environment plus an allowlist, the project read-write, /nix/store read-only, "
            "no access to the rest of your home."
        ),
        epilog=(
            "Any other argument goes to claude unchanged; everything after -- goes verbatim.\n\n"
            "examples:\n"
            "  claudebox                     audit, confirm, then start claude in this project\n"
            "  claudebox -y -p 'fix the tests'\n"
            "  claudebox --dry-run           print the sandbox command without running it\n"
            "  claudebox --check             check bwrap, user namespaces, the nix daemon, claude\n"
            f"  {EXTRA_ENV_VARIABLE}=GH_HOST claudebox   pass one more host variable in"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("-y", "--yes", action="store_true", help="skip the audit confirmation")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the complete sandbox command (shell-quoted) and exit; nothing runs or is made",
    )
    parser.add_argument(
        "--check", action="store_true", help="probe the host and exit 0 only if all pass"
    )
    parser.add_argument(
        "--network",
        choices=NETWORK_TIERS,
        default=None,
        help=f"network tier (default {DEFAULT_NETWORK}; env CLAUDEBOX_NETWORK)",
    )
    parser.add_argument(
        "--gc",
        action="store_true",
        help="remove instance state whose project no longer exists (with --dry-run: only list)",
    )
    parser.add_argument(
        "--shell", action="store_true", help="run an interactive bash in the same sandbox"
    )
    parser.add_argument("--version", action="version", version=f"claudebox {__version__}")
    return parser


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(claudebox and claude options, what follows -- verbatim)."""
    if "--" in argv:
        cut = list(argv).index("--")
        return list(argv[:cut]), list(argv[cut + 1 :])
    return list(argv), []


def colour_enabled(env: Mapping[str, str]) -> bool:
    return sys.stderr.isatty() and "NO_COLOR" not in env


def _main(argv: Sequence[str]) -> int:
    env = dict(os.environ)
    ours, verbatim = split_argv(argv)
    args, passthrough = build_parser().parse_known_args(ours)
    style = Style(colour_enabled(env))
    if args.check:
        results = check_host(env)
        sys.stdout.write(render_checks(results, style))
        return 0 if all(result.ok for result in results) else EXIT_RUNTIME
    if args.gc:
        if passthrough or verbatim:
            raise ClaudeboxError(
                f"--gc takes no claude arguments (got {shlex.join(passthrough + verbatim)})",
                EXIT_USAGE,
            )
        home = env.get("HOME") or os.path.expanduser("~")
        entries = garbage_collect(os.path.join(home, ".claudebox"), remove=not args.dry_run)
        sys.stdout.write(render_gc(entries, removed=not args.dry_run))
        return 0
    network = args.network or env.get("CLAUDEBOX_NETWORK") or DEFAULT_NETWORK
    options = Options(claude_args=(*passthrough, *verbatim), network=network, shell=args.shell)
    extra_env = parse_extra_env(env.get(EXTRA_ENV_VARIABLE, ""))
    plan = build_plan(probe_host(env), options, extra_env)
    if args.dry_run:
        for warning in plan.warnings:
            print(f"claudebox: warning: {warning}", file=sys.stderr)
        sys.stdout.write(render_dry_run(plan))
        return 0
    sys.stderr.write(render_audit(plan, style))
    if not args.yes and not confirm("Launch this sandbox? [y/N] "):
        print("claudebox: not launched", file=sys.stderr)
        return EXIT_USAGE
    lock = lock_instance(plan.instance.dir)
    try:
        prepare_host(plan.host_setup)
        return launch(plan)
    finally:
        os.close(lock)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except ClaudeboxError as error:
        print(f"claudebox: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("CLAUDEBOX_DEBUG") == "1":
            raise
        print(
            f"claudebox: error: internal error ({type(error).__name__}: {error}); "
            "re-run with CLAUDEBOX_DEBUG=1 and report it",
            file=sys.stderr,
        )
        return EXIT_RUNTIME


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
