"""claudebox: run the Claude Code CLI inside a bubblewrap sandbox that secrets never enter.

The sandbox starts from an empty environment and an empty tmpfs root; only what this module
names goes in: the project (read-write), /nix/store (read-only), the nix daemon socket, a few
read-only /etc files, a private home with Claude's state, and an allowlist of variables.

Layout (top to bottom): constants, the one exception type, frozen values, pure builders
(host facts in, plan out), rendering, the OS edge, the parser, main.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import errno
import fcntl
import grp
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, NoReturn

__version__: Final = "0.1.0"

# --- constants ------------------------------------------------------------------------------

STORE_DIR: Final = "/nix/store"
DAEMON_SOCKET_DIR: Final = "/nix/var/nix/daemon-socket"
DEFAULT_NETWORK: Final = "inet"
NETWORK_TIERS: Final = ("full", "inet", "none")

# inet tier: pasta's link inside the sandbox, in the benchmarking range no LAN uses (RFC 2544).
INET_ADDRESS: Final = "198.18.0.2"
INET_PREFIX: Final = 30
INET_GATEWAY: Final = "198.18.0.1"
INET_DNS: Final = INET_GATEWAY  # pasta relays DNS sent here to the host's resolver
INET_RESOLV_CONF: Final = f"nameserver {INET_DNS}\n"
# Unreachable inside the inet tier whatever the host routes (each with why): RFC 1918, the
# Tailscale/CGNAT range, link-local, multicast and the reserved range with broadcast. The host's
# own addresses and every network it routes other than through a default route join them at
# launch (inet_blocked_set).
INET_BLOCKED: Final[Mapping[str, str]] = {
    "10.0.0.0/8": "(private range)",
    "172.16.0.0/12": "(private range)",
    "192.168.0.0/16": "(private range)",
    "100.64.0.0/10": "(CGNAT and tailnet range)",
    "169.254.0.0/16": "(link-local)",
    "224.0.0.0/4": "(multicast)",
    "240.0.0.0/4": "(reserved, with broadcast)",
}
# The broadcast address of pasta's link: pasta relays what is sent there like any address.
INET_LINK_BROADCAST: Final = "198.18.0.3/32"
# pasta's defaults forward host and namespace loopback ports and map the gateway to the host's
# 127.0.0.1: every one of them is switched off.
PASTA_OPTIONS: Final = (
    "--config-net",
    "--quiet",
    "-t",
    "none",
    "-u",
    "none",
    "-T",
    "none",
    "-U",
    "none",
    "--no-map-gw",
    "-4",
    "-a",
    INET_ADDRESS,
    "-n",
    str(INET_PREFIX),
    "-g",
    INET_GATEWAY,
    "--dns-forward",
    INET_DNS,
)
# The inet setup, run by pasta as root of its user and network namespace (all capabilities
# there): sends the prepared netlink requests (unreachable routes, the nftables rules; see
# inet_netlink_requests), each of which must be acknowledged without error, puts the generated
# data on their file descriptors (pasta closes every inherited fd above 2), then execs bwrap
# with no environment. argv: SPEC -- BWRAP ARGS; SPEC = {"netlink": [[LABEL, PROTOCOL, BASE64],
# ...], "data": {"10": BASE64, ...}}.
INET_SETUP_PROGRAM: Final = """\
import binascii, json, os, signal, socket, struct, sys
try:
    spec = json.loads(sys.argv[1])
    for label, protocol, encoded in spec["netlink"]:
        request = binascii.a2b_base64(encoded)
        expected, offset = 0, 0
        while offset < len(request):  # each message with NLM_F_ACK is answered once
            length, _kind, flags = struct.unpack_from("=IHH", request, offset)
            expected += bool(flags & 4)
            offset += length
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol) as link:
            link.settimeout(10)
            link.send(request)
            while expected:
                reply = link.recv(65536)
                offset = 0
                while offset + 20 <= len(reply):
                    length, kind = struct.unpack_from("=IH", reply, offset)
                    if kind == 2:  # NLMSG_ERROR: 0 acknowledges, else a negative errno
                        (error,) = struct.unpack_from("=i", reply, offset + 16)
                        if error:
                            raise OSError(-error, os.strerror(-error), label)
                        expected -= 1
                    offset += max((length + 3) & ~3, 16)
    for fd, content in spec["data"].items():
        read_end, write_end = os.pipe()
        os.write(write_end, binascii.a2b_base64(content))
        os.close(write_end)
        if read_end != int(fd):
            os.dup2(read_end, int(fd))
            os.close(read_end)
        else:
            os.set_inheritable(read_end, True)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.execve(sys.argv[3], sys.argv[3:], {})
except OSError as error:
    sys.exit(
        f"claudebox: error: the inet tier's setup failed ({error}): it needs netlink routes and "
        "nftables (nf_tables) in the kernel; use --network full or --network none"
    )
"""
# The spec travels in one argv string (MAX_ARG_STRLEN is 128 KiB).
INET_SPEC_LIMIT: Final = 120_000

# Netlink (linux/netlink.h, rtnetlink.h, fib_rules.h, netfilter/nf_tables.h): what the route
# reader and the inet setup's requests use.
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_DUMP_INTR: Final = 0x10
NLM_F_DUMP: Final = 0x300
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
NLM_F_APPEND: Final = 0x800
NLA_F_NESTED: Final = 0x8000
NLA_TYPE_MASK: Final = 0x3FFF
NETLINK_ROUTE: Final = 0
NETLINK_NETFILTER: Final = 12
RTM_NEWLINK: Final = 16
RTM_GETLINK: Final = 18
RTM_NEWADDR: Final = 20
RTM_GETADDR: Final = 22
RTM_NEWROUTE: Final = 24
RTM_GETROUTE: Final = 26
RTM_NEWRULE: Final = 32
RTM_GETRULE: Final = 34
IFLA_IFNAME: Final = 3
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_GATEWAY: Final = 5
RTA_MULTIPATH: Final = 9
RTA_TABLE: Final = 15
RTA_VIA: Final = 18
RTA_NH_ID: Final = 30
RTN_UNICAST: Final = 1
RTN_LOCAL: Final = 2
RTN_UNREACHABLE: Final = 7
RTPROT_KERNEL: Final = 2
RTPROT_STATIC: Final = 4
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
RT_TABLE_MAIN: Final = 254
RT_TABLE_LOCAL: Final = 255
ROUTE_TABLE_NAMES: Final[Mapping[int, str]] = {253: "default", 254: "main", 255: "local"}
FRA_PRIORITY: Final = 6
FRA_TABLE: Final = 15
FRA_L3MDEV: Final = 19
FR_ACT_TO_TBL: Final = 1
NFNL_SUBSYS_NFTABLES: Final = 10
NFNL_MSG_BATCH_BEGIN: Final = 0x10
NFNL_MSG_BATCH_END: Final = 0x11
NFT_MSG_NEWTABLE: Final = 0
NFT_MSG_NEWCHAIN: Final = 3
NFT_MSG_NEWRULE: Final = 6
NFPROTO_IPV4: Final = 2
NFPROTO_IPV6: Final = 10
NFTA_TABLE_NAME: Final = 1
NFTA_CHAIN_TABLE: Final = 1
NFTA_CHAIN_NAME: Final = 3
NFTA_CHAIN_HOOK: Final = 4
NFTA_CHAIN_POLICY: Final = 5
NFTA_CHAIN_TYPE: Final = 7
NFTA_HOOK_HOOKNUM: Final = 1
NFTA_HOOK_PRIORITY: Final = 2
NFTA_RULE_TABLE: Final = 1
NFTA_RULE_CHAIN: Final = 2
NFTA_RULE_EXPRESSIONS: Final = 4
NFTA_LIST_ELEM: Final = 1
NFTA_EXPR_NAME: Final = 1
NFTA_EXPR_DATA: Final = 2
NFTA_DATA_VALUE: Final = 1
NFTA_DATA_VERDICT: Final = 2
NFTA_VERDICT_CODE: Final = 1
NFT_REG_VERDICT: Final = 0
NFT_REG_1: Final = 1
NF_INET_LOCAL_OUT: Final = 3
NF_DROP: Final = 0
NF_ACCEPT: Final = 1
NFT_META_OIF: Final = 5
NFT_PAYLOAD_NETWORK_HEADER: Final = 1
NFT_CMP_EQ: Final = 0
LOOPBACK_IFINDEX: Final = 1  # lo is the first device of every network namespace
IPV4_DESTINATION_OFFSET: Final = 16
NFT_TABLE: Final = "claudebox"
NFT_CHAIN: Final = "output"
NETLINK_DUMP_ATTEMPTS: Final = 3  # a dump the kernel marks interrupted (NLM_F_DUMP_INTR) is retried

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

# New in the git directory, these make git read config elsewhere (claudebox reports them).
GIT_DIR_WATCHED: Final = ("commondir", "config.worktree")
# In each linked worktree's admin directory (.git/worktrees/NAME/): re-bound read-only.
WORKTREE_PROTECTED: Final = ("config.worktree", "commondir")

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

# Profiles: ~/.claudebox/profiles/NAME.json
PROFILE_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]+")
PROFILE_VARIABLE: Final = "CLAUDEBOX_PROFILE"
DEFAULT_PROFILE: Final = "default"
PROFILE_KEYS: Final = (
    "description",
    "extends",
    "network",
    "env",
    "extra_env_passthrough",
    "mounts",
    "packages",
    "allow_secret_mounts",
)
MOUNT_KEYS: Final = ("src", "dst", "mode")
NIX_ATTR_PATTERN: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
# A profile mount may not land on or inside these (the sandbox's own machinery).
RESERVED_MOUNT_TARGETS: Final = ("/nix", "/proc", "/dev", "/etc/claude-code")

# Nix: profile packages resolve against one nixpkgs, outside the sandbox, with a cache.
NIXPKGS_VARIABLE: Final = "CLAUDEBOX_NIXPKGS"
NIX_FLAGS: Final = ("--extra-experimental-features", "nix-command flakes")
PACKAGE_CACHE_VERSION: Final = 1
REGISTRY_FILES: Final = ("~/.config/nix/registry.json", "/etc/nix/registry.json")

GIT_DEFAULT_NAME: Final = "Claude (claudebox)"
GIT_DEFAULT_EMAIL: Final = "claude@claudebox.invalid"

# File descriptors carrying generated data into bwrap (the same numbers in --dry-run output).
FIRST_DATA_FD: Final = 10
PR_SET_PDEATHSIG: Final = 1
# bwrap keeps the caller's session keyring, whose keys are readable inside: the child joins a
# new, empty one first (keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL); machine -> syscall number).
KEYCTL_SYSCALLS: Final[Mapping[str, int]] = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING: Final = 1
ENOSYS: Final = 38  # a kernel without keyrings: nothing to isolate

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

CHECK_TIMEOUT: Final = 15.0  # seconds for each probe --check starts
# --check's enforcement probe: run inside a throwaway sandbox by the store Python claudebox runs
# with. argv: SPEC = {"canaries": [paths], "marker": str, "addresses": [private addresses]}.
# Prints one JSON report: what it could see, reach and inject.
ENFORCEMENT_PROBE: Final = """\
import errno, fcntl, json, os, socket, sys, termios
spec = json.loads(sys.argv[1])
marker = spec["marker"].encode()
environ = [name for name in ("own environment",) if marker in repr(os.environ).encode()]
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            if marker in handle.read():
                environ.append(f"/proc/{pid}/environ")
    except OSError:
        pass
routes = {}
for address in spec["addresses"]:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(3)
    try:
        probe.connect((address, 9))
        routes[address] = "connected"
    except socket.timeout:
        routes[address] = "timed out"
    except OSError as error:
        routes[address] = errno.errorcode.get(error.errno or 0, str(error))
    finally:
        probe.close()
controller, terminal = os.openpty()
child = os.fork()
if child == 0:
    try:
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
        fcntl.ioctl(terminal, termios.TIOCSTI, b" ")
        os._exit(0)
    except OSError as error:
        os._exit(error.errno or 255)
_, status = os.waitpid(child, 0)
tiocsti = os.waitstatus_to_exitcode(status)
print(json.dumps({
    "visible": [path for path in spec["canaries"] if os.path.lexists(path)],
    "environ": environ,
    "routes": routes,
    "tiocsti": "ok" if tiocsti == 0 else errno.errorcode.get(tiocsti, str(tiocsti)),
}))
"""
HELP_WIDTH: Final = 92
FISH_PROFILE_LISTING: Final = (
    '\'(ls $HOME/.claudebox/profiles 2>/dev/null | string replace -r "[.]json\\$" "")\''
)
COMPLETION_SHELLS: Final = ("bash", "zsh", "fish")
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
class HostAddress:
    """One IPv4 address of the host (RTM_GETADDR): local, or a point-to-point peer."""

    address: str
    prefixlen: int
    device: str


@dataclass(frozen=True)
class PolicyRule:
    """One IPv4 policy routing rule (RTM_GETRULE): what matters is the table it looks up."""

    priority: int
    action: int  # FR_ACT_*: FR_ACT_TO_TBL looks up `table`
    table: int
    l3mdev: bool = False  # the table is the VRF device's: any table may be used


@dataclass(frozen=True)
class HostRoute:
    """One IPv4 route of any table (RTM_GETROUTE)."""

    destination: str  # CIDR
    table: int
    kind: int  # RTN_*
    protocol: int  # RTPROT_*
    scope: int  # RT_SCOPE_*
    nexthops: tuple[tuple[str | None, str | None], ...] = ()  # (gateway, device) each
    nexthop_id: int | None = None  # a nexthop object (RTA_NH_ID) instead of nexthops


@dataclass(frozen=True)
class HostRouting:
    """The host's IPv4 addresses, policy rules and routes of every table, read once at launch."""

    addresses: tuple[HostAddress, ...] = ()
    rules: tuple[PolicyRule, ...] = ()
    routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class BlockedPrefix:
    """A destination the inet tier keeps unreachable, and why ("via wg0", "(private range)")."""

    prefix: str
    origin: str

    def describe(self) -> str:
        return f"{self.prefix} {self.origin}"


@dataclass(frozen=True)
class NetlinkRequest:
    """Netlink messages the inet setup sends on `protocol`; every NLM_F_ACK one must succeed."""

    label: str  # names the request in an error
    protocol: int
    messages: bytes


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
    resolved_secret_paths: tuple[str, ...] = ()  # where symlinked secret paths really are
    git_protected: tuple[str, ...] = ()  # existing hooks/config of submodules and worktrees
    pasta: str | None = None  # the inet tier's pasta, None when not found
    python: str = "python3"  # this interpreter: runs the inet route setup
    # The host's addresses, policy rules and routes; None when they could not be read (why:
    # routing_error).
    routing: HostRouting | None = HostRouting()
    routing_error: str | None = None
    dot_git: str | None = None  # the project's own .git: "dir", "file" (a gitdir pointer), None


@dataclass(frozen=True)
class ProfileMount:
    src: str
    dst: str
    mode: str  # "ro" or "rw"
    origin: str  # the profile that declared it


@dataclass(frozen=True)
class ProfileFile:
    """One validated profile file, before `extends` is resolved."""

    name: str
    path: str
    description: str | None = None
    extends: tuple[str, ...] = ()
    network: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    extra_env_passthrough: tuple[str, ...] = ()
    mounts: tuple[ProfileMount, ...] = ()
    packages: tuple[str, ...] = ()
    allow_secret_mounts: bool | None = None


@dataclass(frozen=True)
class Profile:
    """A resolved profile: its chain (parents first) merged, each value with its origin."""

    name: str
    chosen_by: str  # "--profile", "CLAUDEBOX_PROFILE" or "default"
    chain: tuple[str, ...]
    description: tuple[str, str] | None = None  # (value, origin)
    network: tuple[str, str] | None = None
    env: tuple[tuple[str, str, str], ...] = ()  # (name, value, origin)
    extra_env_passthrough: tuple[tuple[str, str], ...] = ()  # (name, origin)
    mounts: tuple[ProfileMount, ...] = ()
    packages: tuple[tuple[str, str], ...] = ()  # (attribute, origin)
    allow_secret_mounts: tuple[bool, str] = (False, "built-in default")


@dataclass(frozen=True)
class Options:
    claude_args: tuple[str, ...] = ()
    network: str = DEFAULT_NETWORK
    shell: bool = False
    profile: Profile | None = None
    package_paths: tuple[str, ...] = ()  # resolved profile packages (store paths), in order
    nixpkgs: str | None = None  # CLAUDEBOX_NIXPKGS: the pinned nixpkgs for nix shell and comma


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
    profile: Profile | None = None
    secret_mounts: tuple[str, ...] = ()  # profile mount sources that are or hold secret paths
    # inet: pasta and the route setup, which execs bwrap (argv) and carries the data itself.
    launcher: tuple[str, ...] = ()
    inet_blocked: tuple[BlockedPrefix, ...] = ()  # inet: what stays unreachable, with origins
    # Host paths the host later runs or obeys that a bind cannot protect while absent: the
    # ones a session creates are named afterwards (see session_created).
    watched: tuple[str, ...] = ()

    @property
    def command_line(self) -> list[str]:
        """Everything that runs: the launcher (inet) followed by bwrap."""
        return [*self.launcher, *self.argv]

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


@dataclass(frozen=True)
class GcEntry:
    instance_dir: str
    root: str | None  # None: no readable root file (corrupt)
    size: int
    verdict: str  # "remove", "in use", "kept", "corrupt"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    warning: bool = False


@dataclass(frozen=True)
class OptionSpec:
    flags: tuple[str, ...]
    help: str
    choices: tuple[str, ...] | None  # None: a flag; (): a free value (a profile name)


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
    digest = hashlib.sha256(os.fsencode(canonical_root)).hexdigest()[:16]
    return Instance(digest, canonical_root, os.path.join(state_dir, "instances", digest))


def is_within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def secret_paths(home: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The secret paths by name (the edge adds where their symlinks lead: HostFacts)."""
    paths = [os.path.join(home, rel) for rel in SECRET_HOME_PATHS]
    paths += SECRET_SYSTEM_PATHS
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isabs(runtime_dir):
        paths.append(os.path.normpath(runtime_dir))
    return tuple(paths)


def host_secret_paths(host: HostFacts) -> tuple[str, ...]:
    return (*secret_paths(host.home, host.env), *host.resolved_secret_paths)


def check_exposable(path: str, what: str, host: HostFacts) -> None:
    """Refuse to mount `path` when that would expose $HOME, / or a secret path."""
    home = host.home
    if path == "/":
        raise ClaudeboxError(f"{what} is /; run claudebox from a project directory", EXIT_USAGE)
    if path == home:
        raise ClaudeboxError(
            f"{what} is your home directory ({home}), which holds your keys; "
            "run claudebox from a project directory",
            EXIT_USAGE,
        )
    for secret in host_secret_paths(host):
        if is_within(secret, path) or is_within(path, secret):
            raise ClaudeboxError(
                f"{what} {path} would expose {secret}; run claudebox from a project directory "
                "that neither contains nor lies inside a secret path",
                EXIT_USAGE,
            )


def protected_paths(project: str, git_dir: str) -> list[str]:
    """Where PROTECTED_PROJECT_PATHS are: .git/... inside the (common) git directory."""
    paths = []
    for relative in PROTECTED_PROJECT_PATHS:
        if relative.startswith(".git/"):
            paths.append(os.path.join(git_dir, relative.removeprefix(".git/")))
        else:
            paths.append(os.path.join(project, relative))
    return paths


def sandbox_path_dirs(path_dirs: Iterable[str]) -> tuple[str, ...]:
    """Only directories inside the store, de-duplicated, order kept."""
    kept: list[str] = []
    for directory in path_dirs:
        if is_within(directory, STORE_DIR) and directory != STORE_DIR and directory not in kept:
            kept.append(directory)
    return tuple(kept)


def build_env(
    host: HostFacts,
    passthrough: Sequence[tuple[str, str]],
    generated: Mapping[str, str],
    literal: Sequence[tuple[str, str]] = (),
) -> tuple[EnvVar, ...]:
    """Allowlisted host values, then (name, origin) passed through, literals, sandbox values."""
    variables: dict[str, EnvVar] = {}
    for name in ENV_ALLOWLIST:
        if name in host.env and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], "host")
    for name, origin in passthrough:
        if name in host.env and name not in variables and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], origin)
    for name, value in literal:
        variables[name] = EnvVar(name, value, "profile")
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
        "inet": "the internet only (IPv4, through pasta): the LAN, the tailnet, link-local\n"
        "  addresses and the host's own services are unreachable, on purpose.",
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


# --- the inet tier's blocked set: netlink dumps in, prefixes and requests out -------------------


def netlink_messages(dump: bytes) -> list[tuple[int, int, bytes]]:
    """(type, flags, payload) of each message of a netlink reply, up to NLMSG_DONE.
    ValueError: malformed or cut short; OSError: the kernel answered with an error."""
    messages: list[tuple[int, int, bytes]] = []
    offset = 0
    while offset + 16 <= len(dump):
        length, kind, flags = struct.unpack_from("=IHH", dump, offset)
        if length < 16 or offset + length > len(dump):
            raise ValueError(f"a netlink message at byte {offset} claims {length} bytes")
        payload = dump[offset + 16 : offset + length]
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            (error,) = struct.unpack_from("=i", payload) if len(payload) >= 4 else (0,)
            if error:
                raise OSError(-error, os.strerror(-error))
            if kind == NLMSG_DONE:
                return messages
        else:
            messages.append((kind, flags, payload))
        offset += (length + 3) & ~3
    raise ValueError("a netlink dump ends without NLMSG_DONE")


def netlink_attributes(data: bytes) -> dict[int, bytes]:
    """Attribute type -> payload (the first of each type; the nested flag masked off)."""
    attributes: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4 or offset + length > len(data):
            raise ValueError(f"a netlink attribute at byte {offset} claims {length} bytes")
        attributes.setdefault(kind & NLA_TYPE_MASK, data[offset + 4 : offset + length])
        offset += (length + 3) & ~3
    return attributes


def ipv4_text(raw: bytes) -> str:
    if len(raw) != 4:
        raise ValueError(f"an IPv4 address of {len(raw)} bytes")
    return socket.inet_ntoa(raw)


def u32_of(raw: bytes) -> int:
    if len(raw) < 4:
        raise ValueError(f"a 32-bit attribute of {len(raw)} bytes")
    value: int = struct.unpack_from("=I", raw)[0]
    return value


def parse_links(dump: bytes) -> dict[int, str]:
    """Interface index -> name, from an RTM_GETLINK dump."""
    links = {}
    for kind, _flags, payload in netlink_messages(dump):
        if kind != RTM_NEWLINK:
            continue
        if len(payload) < 16:
            raise ValueError("an RTM_NEWLINK message is cut short")
        (index,) = struct.unpack_from("=i", payload, 4)
        name = netlink_attributes(payload[16:]).get(IFLA_IFNAME, b"").split(b"\0")[0]
        links[index] = name.decode(errors="replace") or f"if{index}"
    return links


def parse_addresses(dump: bytes, links: Mapping[int, str]) -> tuple[HostAddress, ...]:
    """The IPv4 addresses (local, and a point-to-point peer) of an RTM_GETADDR dump."""
    found: list[HostAddress] = []
    for kind, _flags, payload in netlink_messages(dump):
        if kind != RTM_NEWADDR:
            continue
        if len(payload) < 8:
            raise ValueError("an RTM_NEWADDR message is cut short")
        family, prefixlen, _flags, _scope, index = struct.unpack_from("=BBBBi", payload)
        if family != socket.AF_INET:
            continue
        attributes = netlink_attributes(payload[8:])
        for key in (IFA_LOCAL, IFA_ADDRESS):
            if key in attributes:
                device = links.get(index, f"if{index}")
                found.append(HostAddress(ipv4_text(attributes[key]), prefixlen, device))
    return tuple(dict.fromkeys(found))


def parse_rules(dump: bytes) -> tuple[PolicyRule, ...]:
    """The IPv4 policy rules of an RTM_GETRULE dump; none on a kernel without policy routing
    (it answers EOPNOTSUPP and uses the local and main tables)."""
    try:
        messages = netlink_messages(dump)
    except OSError as error:
        if error.errno == errno.EOPNOTSUPP:
            return ()
        raise
    rules = []
    for kind, _flags, payload in messages:
        if kind != RTM_NEWRULE:
            continue
        if len(payload) < 12:
            raise ValueError("an RTM_NEWRULE message is cut short")
        family, _dst, _src, _tos, table, _r1, _r2, action = struct.unpack_from("=8B", payload)
        if family != socket.AF_INET:
            continue
        attributes = netlink_attributes(payload[12:])
        rules.append(
            PolicyRule(
                priority=u32_of(attributes[FRA_PRIORITY]) if FRA_PRIORITY in attributes else 0,
                action=action,
                table=u32_of(attributes[FRA_TABLE]) if FRA_TABLE in attributes else table,
                l3mdev=attributes.get(FRA_L3MDEV, b"\0")[:1] not in (b"", b"\0"),
            )
        )
    return tuple(rules)


def gateway_of(attributes: Mapping[int, bytes]) -> str | None:
    """RTA_GATEWAY, or RTA_VIA (an IPv6 next hop for an IPv4 route, RFC 5549)."""
    if RTA_GATEWAY in attributes:
        return ipv4_text(attributes[RTA_GATEWAY])
    via = attributes.get(RTA_VIA)
    if via is None:
        return None
    if len(via) < 2:
        raise ValueError("an RTA_VIA attribute is cut short")
    (family,) = struct.unpack_from("=H", via)
    if family == socket.AF_INET6 and len(via) >= 18:
        return socket.inet_ntop(socket.AF_INET6, via[2:18])
    return ipv4_text(via[2:6])


def parse_routes(dump: bytes, links: Mapping[int, str]) -> tuple[HostRoute, ...]:
    """The IPv4 routes of an RTM_GETROUTE dump (of every table)."""
    routes = []
    for kind, _flags, payload in netlink_messages(dump):
        if kind != RTM_NEWROUTE:
            continue
        if len(payload) < 12:
            raise ValueError("an RTM_NEWROUTE message is cut short")
        family, dst_len, _src, _tos, table, protocol, scope, route_type = struct.unpack_from(
            "=8B", payload
        )
        if family != socket.AF_INET:
            continue
        attributes = netlink_attributes(payload[12:])
        destination = ipv4_text(attributes[RTA_DST]) if RTA_DST in attributes else "0.0.0.0"
        hops: list[tuple[str | None, str | None]] = []
        multipath = attributes.get(RTA_MULTIPATH, b"")
        offset = 0
        while offset + 8 <= len(multipath):  # struct rtnexthop, then its attributes
            length, _hop_flags, _hops, index = struct.unpack_from("=HBBi", multipath, offset)
            if length < 8 or offset + length > len(multipath):
                raise ValueError(f"an RTA_MULTIPATH next hop claims {length} bytes")
            hop = netlink_attributes(multipath[offset + 8 : offset + length])
            hops.append((gateway_of(hop), links.get(index, f"if{index}")))
            offset += (length + 3) & ~3
        if not multipath:
            gateway = gateway_of(attributes)
            oif = attributes.get(RTA_OIF)
            device = links.get(u32_of(oif), f"if{u32_of(oif)}") if oif else None
            if gateway or device:
                hops.append((gateway, device))
        routes.append(
            HostRoute(
                destination=str(ipaddress.IPv4Network(f"{destination}/{dst_len}", strict=False)),
                table=u32_of(attributes[RTA_TABLE]) if RTA_TABLE in attributes else table,
                kind=route_type,
                protocol=protocol,
                scope=scope,
                nexthops=tuple(hops),
                nexthop_id=u32_of(attributes[RTA_NH_ID]) if RTA_NH_ID in attributes else None,
            )
        )
    return tuple(routes)


def parse_routing(links: bytes, addresses: bytes, rules: bytes, routes: bytes) -> HostRouting:
    """HostRouting from the four raw dumps (RTM_GETLINK, GETADDR, GETRULE, GETROUTE)."""
    names = parse_links(links)
    return HostRouting(
        addresses=parse_addresses(addresses, names),
        rules=parse_rules(rules),
        routes=parse_routes(routes, names),
    )


def routing_tables(routing: HostRouting) -> list[int]:
    """The tables the policy rules look up, in rule order (local and main without rules); a
    VRF (l3mdev) rule may look up any table, so then every table that has routes."""
    if not routing.rules:
        return [RT_TABLE_LOCAL, RT_TABLE_MAIN]
    ordered = sorted(routing.rules, key=lambda rule: rule.priority)
    tables = [rule.table for rule in ordered if rule.action == FR_ACT_TO_TBL and rule.table]
    if any(rule.l3mdev for rule in ordered):
        tables += sorted({route.table for route in routing.routes})
    return list(dict.fromkeys(tables))


def route_origin(route: HostRoute) -> str:
    """Where a blocked prefix came from: "via wg0", "table 52 via tailscale0", "(connected to
    eth0)", "via 192.168.1.254 (eth0)"."""
    table = (
        ""
        if route.table == RT_TABLE_MAIN
        else f"table {ROUTE_TABLE_NAMES.get(route.table, str(route.table))} "
    )
    devices = [device for _gateway, device in route.nexthops if device]
    if route.kind == RTN_LOCAL:
        on = f" on {devices[0]}" if devices else ""
        return f"{table}(local to the host{on})"
    if route.nexthop_id is not None:
        return f"{table}via nexthop {route.nexthop_id}"
    if (
        route.protocol == RTPROT_KERNEL
        and route.scope == RT_SCOPE_LINK
        and len(devices) == 1
        and route.nexthops[0][0] is None
    ):
        return f"{table}(connected to {devices[0]})"
    hops = [
        f"{gateway} ({device})" if gateway and device else gateway or device or "?"
        for gateway, device in route.nexthops
    ]
    return f"{table}via {', '.join(hops) or '?'}"


def is_default_like(destination: str, table_destinations: Container[str]) -> bool:
    """0.0.0.0/0, or one half of the 0.0.0.0/1 + 128.0.0.0/1 pair a full-tunnel VPN installs
    (with its other half in the same table): the internet, whichever way the host reaches it."""
    halves = {"0.0.0.0/1": "128.0.0.0/1", "128.0.0.0/1": "0.0.0.0/1"}
    return destination == "0.0.0.0/0" or halves.get(destination, "") in table_destinations


class CoveredNetworks:
    """IPv4 networks, and whether one of them covers a given network: a lookup per prefix
    length in use, not a scan (hosts with thousands of routes exist)."""

    def __init__(self) -> None:
        self.networks: set[tuple[int, int]] = set()
        self.lengths: set[int] = set()

    def add(self, network: ipaddress.IPv4Network) -> None:
        self.networks.add((int(network.network_address), network.prefixlen))
        self.lengths.add(network.prefixlen)

    def cover(self, network: ipaddress.IPv4Network) -> bool:
        address = int(network.network_address)
        return any(
            (address & (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF, length) in self.networks
            for length in self.lengths
            if length <= network.prefixlen
        )


def inet_blocked_set(routing: HostRouting) -> tuple[BlockedPrefix, ...]:
    """What the inet tier keeps unreachable, each with its origin: INET_BLOCKED and the inet
    link's broadcast, then the host's own addresses, every destination the host routes other
    than through a default route (is_default_like) in every table its policy rules use, and
    the subnets of its addresses; a prefix a broader one covers is left out, loopback always.
    ClaudeboxError: a host network overlaps the inet link."""
    link = ipaddress.IPv4Network(f"{INET_GATEWAY}/{INET_PREFIX}", strict=False)
    fixed = [BlockedPrefix(prefix, origin) for prefix, origin in INET_BLOCKED.items()]
    candidates: list[tuple[ipaddress.IPv4Network, str]] = [
        (ipaddress.IPv4Network(f"{a.address}/32"), f"(address of {a.device})")
        for a in routing.addresses
    ]
    for table in routing_tables(routing):
        routes = [
            route
            for route in routing.routes
            if route.table == table and route.kind in (RTN_UNICAST, RTN_LOCAL)
        ]
        destinations = {route.destination for route in routes if route.kind == RTN_UNICAST}
        for route in routes:
            if route.kind == RTN_UNICAST and is_default_like(route.destination, destinations):
                continue
            candidates.append((ipaddress.IPv4Network(route.destination), route_origin(route)))
    candidates += [
        (
            ipaddress.IPv4Network(f"{a.address}/{a.prefixlen}", strict=False),
            f"(subnet of {a.device})",
        )
        for a in routing.addresses
    ]
    kept = CoveredNetworks()
    for item in fixed:
        kept.add(ipaddress.IPv4Network(item.prefix))
    extra: list[BlockedPrefix] = []
    # Broadest first (stable: for one prefix the first origin listed wins).
    for network, origin in sorted(candidates, key=lambda candidate: candidate[0].prefixlen):
        if network.is_loopback or kept.cover(network):
            continue
        if network.overlaps(link) and network.prefixlen >= link.prefixlen:
            raise ClaudeboxError(
                f"the host network {network} {origin} overlaps the inet tier's own link "
                f"{link}; use --network full or --network none on this host"
            )
        kept.add(network)
        extra.append(BlockedPrefix(str(network), origin))
    extra.sort(key=lambda item: ipaddress.IPv4Network(item.prefix))
    return (*fixed, BlockedPrefix(INET_LINK_BROADCAST, "(the inet link's broadcast)"), *extra)


def netlink_attribute(kind: int, payload: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def netlink_nest(kind: int, *attributes: bytes) -> bytes:
    return netlink_attribute(kind | NLA_F_NESTED, b"".join(attributes))


def netlink_message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def unreachable_route_message(network: ipaddress.IPv4Network, seq: int) -> bytes:
    """RTM_NEWROUTE: `unreachable NETWORK` in the main table (acknowledged; fails if present)."""
    rtmsg = struct.pack(
        "=8BI",
        socket.AF_INET,
        network.prefixlen,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        RT_SCOPE_UNIVERSE,
        RTN_UNREACHABLE,
        0,
    )
    destination = netlink_attribute(RTA_DST, network.network_address.packed)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
    return netlink_message(RTM_NEWROUTE, flags, seq, rtmsg + destination)


def nft_u32(kind: int, value: int) -> bytes:
    return netlink_attribute(kind, struct.pack("!I", value))


def nft_string(kind: int, text: str) -> bytes:
    return netlink_attribute(kind, text.encode() + b"\0")


def nft_expression(name: str, *attributes: bytes) -> bytes:
    return netlink_nest(
        NFTA_LIST_ELEM,
        nft_string(NFTA_EXPR_NAME, name),
        netlink_nest(NFTA_EXPR_DATA, *attributes),
    )


def nft_value(kind: int, value: bytes) -> bytes:
    return netlink_nest(kind, netlink_attribute(NFTA_DATA_VALUE, value))


def nft_verdict(verdict: int) -> bytes:
    """immediate: the verdict register gets NF_DROP or NF_ACCEPT."""
    return nft_expression(
        "immediate",
        nft_u32(1, NFT_REG_VERDICT),  # NFTA_IMMEDIATE_DREG
        netlink_nest(2, netlink_nest(NFTA_DATA_VERDICT, nft_u32(NFTA_VERDICT_CODE, verdict))),
    )


def nft_compare(value: bytes) -> bytes:
    """cmp: register 1 equals `value` (NFTA_CMP_SREG, NFTA_CMP_OP, NFTA_CMP_DATA)."""
    return nft_expression("cmp", nft_u32(1, NFT_REG_1), nft_u32(2, NFT_CMP_EQ), nft_value(3, value))


def nft_output_is_loopback() -> bytes:
    """meta oif (NFTA_META_DREG, NFTA_META_KEY), then cmp: the output device is lo."""
    return nft_expression("meta", nft_u32(1, NFT_REG_1), nft_u32(2, NFT_META_OIF)) + nft_compare(
        struct.pack("=I", LOOPBACK_IFINDEX)
    )


def nft_destination_in(network: ipaddress.IPv4Network) -> bytes:
    """payload (the IPv4 destination into register 1), bitwise (& netmask), cmp (== network)."""
    load = nft_expression(
        "payload",
        nft_u32(1, NFT_REG_1),  # NFTA_PAYLOAD_DREG
        nft_u32(2, NFT_PAYLOAD_NETWORK_HEADER),  # NFTA_PAYLOAD_BASE
        nft_u32(3, IPV4_DESTINATION_OFFSET),  # NFTA_PAYLOAD_OFFSET
        nft_u32(4, 4),  # NFTA_PAYLOAD_LEN
    )
    mask = nft_expression(
        "bitwise",
        nft_u32(1, NFT_REG_1),  # NFTA_BITWISE_SREG
        nft_u32(2, NFT_REG_1),  # NFTA_BITWISE_DREG
        nft_u32(3, 4),  # NFTA_BITWISE_LEN
        nft_value(4, network.netmask.packed),  # NFTA_BITWISE_MASK
        nft_value(5, bytes(4)),  # NFTA_BITWISE_XOR
    )
    return load + mask + nft_compare(network.network_address.packed)


def nftables_batch(dropped: Sequence[ipaddress.IPv4Network]) -> bytes:
    """One nftables transaction: `table ip claudebox`, whose output chain accepts what leaves
    through lo and drops every other packet to a `dropped` network, and `table ip6 claudebox`,
    whose output chain drops all but lo. Unlike routes, a filter on the output hook also stops
    what the kernel sends without a route lookup: multicast and broadcast with
    IP_MULTICAST_IF, SO_BINDTODEVICE, IP_PKTINFO or a bound source address, and unicast to a
    device it was told to use (the kernel then assumes the destination is on that link)."""
    seq = iter(range(1, 1 << 30))
    batch_header = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(NFNL_SUBSYS_NFTABLES))
    create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    append = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND

    def nft(kind: int, flags: int, family: int, *attributes: bytes) -> bytes:
        body = struct.pack("=BBH", family, 0, 0) + b"".join(attributes)
        return netlink_message((NFNL_SUBSYS_NFTABLES << 8) | kind, flags, next(seq), body)

    def table_and_chain(family: int, policy: int) -> bytes:
        return nft(NFT_MSG_NEWTABLE, create, family, nft_string(NFTA_TABLE_NAME, NFT_TABLE)) + nft(
            NFT_MSG_NEWCHAIN,
            create,
            family,
            nft_string(NFTA_CHAIN_TABLE, NFT_TABLE),
            nft_string(NFTA_CHAIN_NAME, NFT_CHAIN),
            netlink_nest(
                NFTA_CHAIN_HOOK,
                nft_u32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT),
                nft_u32(NFTA_HOOK_PRIORITY, 0),
            ),
            nft_u32(NFTA_CHAIN_POLICY, policy),
            nft_string(NFTA_CHAIN_TYPE, "filter"),
        )

    def rule(family: int, *expressions: bytes) -> bytes:
        return nft(
            NFT_MSG_NEWRULE,
            append,
            family,
            nft_string(NFTA_RULE_TABLE, NFT_TABLE),
            nft_string(NFTA_RULE_CHAIN, NFT_CHAIN),
            netlink_nest(NFTA_RULE_EXPRESSIONS, *expressions),
        )

    messages = [
        netlink_message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, next(seq), batch_header),
        table_and_chain(NFPROTO_IPV4, NF_ACCEPT),
        rule(NFPROTO_IPV4, nft_output_is_loopback(), nft_verdict(NF_ACCEPT)),
        *(
            rule(NFPROTO_IPV4, nft_destination_in(network), nft_verdict(NF_DROP))
            for network in dropped
        ),
        table_and_chain(NFPROTO_IPV6, NF_DROP),
        rule(NFPROTO_IPV6, nft_output_is_loopback(), nft_verdict(NF_ACCEPT)),
        netlink_message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, next(seq), batch_header),
    ]
    return b"".join(messages)


def inet_netlink_requests(blocked: Sequence[BlockedPrefix]) -> tuple[NetlinkRequest, ...]:
    """What the inet setup sends inside the sandbox's network namespace, as root there: an
    unreachable route for each blocked prefix (applications get EHOSTUNREACH at once), then
    the nftables rules that drop packets to them whatever the sender does (nftables_batch).
    The inet link stays open: a broader blocked prefix covering it is cut around it."""
    link = ipaddress.IPv4Network(f"{INET_GATEWAY}/{INET_PREFIX}", strict=False)
    networks = [ipaddress.IPv4Network(item.prefix) for item in blocked]
    routed = ipaddress.collapse_addresses(n for n in networks if not n.subnet_of(link))
    requests = [
        NetlinkRequest(f"route {network}", NETLINK_ROUTE, unreachable_route_message(network, 1))
        for network in routed
    ]
    dropped: list[ipaddress.IPv4Network] = []
    for network in networks:
        if network != link and network.prefixlen < link.prefixlen and link.subnet_of(network):
            dropped += network.address_exclude(link)
        else:
            dropped.append(network)
    dropped = list(ipaddress.collapse_addresses(dropped))
    requests.append(NetlinkRequest("nftables rules", NETLINK_NETFILTER, nftables_batch(dropped)))
    return tuple(requests)


def build_inet_chain(
    pasta: str, python: str, requests: Sequence[NetlinkRequest], data: Sequence[DataInput]
) -> tuple[str, ...]:
    """pasta [options] -- <inet setup> SPEC --; bwrap's argv follows (see INET_SETUP_PROGRAM)."""
    spec = json.dumps(
        {
            "netlink": [
                [request.label, request.protocol, base64.b64encode(request.messages).decode()]
                for request in requests
            ],
            "data": {str(item.fd): base64.b64encode(item.content).decode() for item in data},
        },
        separators=(",", ":"),
    )
    if len(spec) > INET_SPEC_LIMIT:
        raise ClaudeboxError(
            f"the host routes too many networks specially ({len(requests) - 1} prefixes to "
            "block) for the inet tier's setup; use --network full or --network none"
        )
    return (pasta, *PASTA_OPTIONS, "--", python, "-I", "-S", "-c", INET_SETUP_PROGRAM, spec, "--")


def check_profile_name(name: str, where: str) -> None:
    if not PROFILE_NAME_PATTERN.fullmatch(name):
        raise ClaudeboxError(
            f"{where}: {name!r} is not a profile name; use letters, digits, '.', '_' and '-'",
            EXIT_USAGE,
        )


def expand_path(value: str, home: str) -> str:
    if value == "~" or value.startswith("~/"):
        value = home + value[1:]
    return os.path.normpath(value) if os.path.isabs(value) else value


def parse_profile(
    name: str, path: str, data: object, home: str, exists: Callable[[str], bool]
) -> ProfileFile:
    """Validate one profile file's JSON; every error names the file and the key."""

    def error(key: str, problem: str) -> NoReturn:
        raise ClaudeboxError(f"{path}: {key}: {problem}", EXIT_USAGE)

    def names(key: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            error(key, "must be a list of strings")
        return tuple(value)

    if not isinstance(data, dict):
        error("(top level)", "must be a JSON object")
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        error(unknown[0], f"unknown key (known: {', '.join(PROFILE_KEYS)})")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        error("description", "must be a string")
    extends_value = data.get("extends", [])
    extends = (
        (extends_value,) if isinstance(extends_value, str) else names("extends", extends_value)
    )
    for parent in extends:
        check_profile_name(parent, f"{path}: extends")
    network = data.get("network")
    if network is not None and network not in NETWORK_TIERS:
        error("network", f"must be one of {', '.join(NETWORK_TIERS)}")
    env_value = data.get("env", {})
    if not isinstance(env_value, dict) or not all(isinstance(v, str) for v in env_value.values()):
        error("env", "must be an object whose values are strings")
    for variable in env_value:
        if not ENV_NAME_PATTERN.fullmatch(variable):
            error(f"env.{variable}", "is not a variable name")
        if variable in SANDBOX_DEFINED_ENV:
            error(f"env.{variable}", "is set by the sandbox itself and cannot be overridden")
        if looks_secret(variable):
            error(
                f"env.{variable}",
                "looks like a secret; never store one in a file: name it in "
                "extra_env_passthrough and set it on the host",
            )
    passthrough = names("extra_env_passthrough", data.get("extra_env_passthrough", []))
    for variable in passthrough:
        if not ENV_NAME_PATTERN.fullmatch(variable):
            error("extra_env_passthrough", f"{variable!r} is not a variable name")
    mounts_value = data.get("mounts", [])
    if not isinstance(mounts_value, list):
        error("mounts", 'must be a list of {"src": ..., "dst": ..., "mode": "ro"|"rw"}')
    mounts = []
    for index, item in enumerate(mounts_value):
        key = f"mounts[{index}]"
        if not isinstance(item, dict):
            error(key, 'must be an object {"src": ..., "dst": ..., "mode": "ro"|"rw"}')
        unknown = sorted(set(item) - set(MOUNT_KEYS))
        if unknown:
            error(f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(MOUNT_KEYS)})")
        if item.get("mode") not in ("ro", "rw"):
            error(f"{key}.mode", 'must be "ro" or "rw"')
        ends = {}
        for end in ("src", "dst"):
            raw = item.get(end, item.get("src")) if end == "dst" else item.get(end)
            if not isinstance(raw, str) or not raw:
                error(f"{key}.{end}", "must be a non-empty string")
            ends[end] = expand_path(raw, home)
            if not os.path.isabs(ends[end]):
                error(f"{key}.{end}", f"{raw!r} is not absolute; use /... or ~/...")
        if not exists(ends["src"]):
            error(f"{key}.src", f"{ends['src']} does not exist")
        mounts.append(ProfileMount(ends["src"], ends["dst"], item["mode"], name))
    packages = names("packages", data.get("packages", []))
    for attribute in packages:
        if not NIX_ATTR_PATTERN.fullmatch(attribute):
            error("packages", f"{attribute!r} is not a nixpkgs attribute name")
    allow = data.get("allow_secret_mounts")
    if allow is not None and not isinstance(allow, bool):
        error("allow_secret_mounts", "must be true or false")
    return ProfileFile(
        name=name,
        path=path,
        description=description,
        extends=extends,
        network=network,
        env=tuple(env_value.items()),
        extra_env_passthrough=passthrough,
        mounts=tuple(mounts),
        packages=packages,
        allow_secret_mounts=allow,
    )


def resolve_profile(name: str, chosen_by: str, load: Callable[[str], ProfileFile]) -> Profile:
    """Depth-first over `extends` (parents first, later wins); a cycle is an error naming it."""
    chain: list[ProfileFile] = []

    def visit(current: str, path: tuple[str, ...]) -> None:
        if current in path:
            cycle = " -> ".join([*path[path.index(current) :], current])
            raise ClaudeboxError(f"profile extends form a cycle: {cycle}", EXIT_USAGE)
        loaded = load(current)
        for parent in loaded.extends:
            visit(parent, (*path, current))
        if all(item.name != current for item in chain):
            chain.append(loaded)

    visit(name, ())
    description = network = None
    allow: tuple[bool, str] = (False, "built-in default")
    env: dict[str, tuple[str, str, str]] = {}
    passthrough: dict[str, tuple[str, str]] = {}
    mounts: dict[str, ProfileMount] = {}
    packages: dict[str, tuple[str, str]] = {}
    for item in chain:
        if item.description is not None:
            description = (item.description, item.name)
        if item.network is not None:
            network = (item.network, item.name)
        if item.allow_secret_mounts is not None:
            allow = (item.allow_secret_mounts, item.name)
        env.update({key: (key, value, item.name) for key, value in item.env})
        passthrough.update({key: (key, item.name) for key in item.extra_env_passthrough})
        for mount in item.mounts:
            mounts.pop(mount.dst, None)
            mounts[mount.dst] = mount
        packages.update({attribute: (attribute, item.name) for attribute in item.packages})
    return Profile(
        name=name,
        chosen_by=chosen_by,
        chain=tuple(item.name for item in chain),
        description=description,
        network=network,
        env=tuple(env.values()),
        extra_env_passthrough=tuple(passthrough.values()),
        mounts=tuple(mounts.values()),
        packages=tuple(packages.values()),
        allow_secret_mounts=allow,
    )


def profile_json(profile: Profile) -> str:
    """--show-profile: the resolved profile, each value with the profile it came from."""

    def valued(pair: tuple[object, str] | None) -> object:
        return None if pair is None else {"value": pair[0], "from": pair[1]}

    document = {
        "name": profile.name,
        "chain": list(profile.chain),
        "description": valued(profile.description),
        "network": valued(profile.network),
        "env": {name: {"value": value, "from": origin} for name, value, origin in profile.env},
        "extra_env_passthrough": [
            {"value": name, "from": origin} for name, origin in profile.extra_env_passthrough
        ],
        "mounts": [
            {"src": m.src, "dst": m.dst, "mode": m.mode, "from": m.origin} for m in profile.mounts
        ],
        "packages": [{"value": name, "from": origin} for name, origin in profile.packages],
        "allow_secret_mounts": valued(profile.allow_secret_mounts),
    }
    return json.dumps(document, indent=2) + "\n"


def nix_registry_json(nixpkgs: str) -> str | None:
    """A user registry pinning `nixpkgs` to a path: flake reference (what the flake sets)."""
    if not nixpkgs.startswith("path:"):
        return None
    path, _, query = nixpkgs.removeprefix("path:").partition("?")
    target: dict[str, str | int] = {"type": "path", "path": path}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        target[key] = int(value) if key in ("lastModified", "revCount") else value
    entry = {"from": {"type": "indirect", "id": "nixpkgs"}, "to": target}
    return json.dumps({"version": 2, "flakes": [entry]}, indent=2) + "\n"


def package_cache_key(nixpkgs: str, attribute: str) -> str:
    return f"{nixpkgs}#{attribute}"


def cached_packages(
    cache: Mapping[str, object],
    nixpkgs: str,
    attributes: Sequence[str],
    exists: Callable[[str], bool],
) -> dict[str, tuple[str, ...]]:
    """The attributes the cache answers: every recorded store path still exists."""
    entries = cache.get("entries") if cache.get("version") == PACKAGE_CACHE_VERSION else None
    found: dict[str, tuple[str, ...]] = {}
    if not isinstance(entries, dict):
        return found
    for attribute in attributes:
        paths = entries.get(package_cache_key(nixpkgs, attribute))
        if (
            isinstance(paths, list)
            and paths
            and all(isinstance(p, str) and is_within(p, STORE_DIR) and exists(p) for p in paths)
        ):
            found[attribute] = tuple(paths)
    return found


def check_profile_mount(mount: ProfileMount, host: HostFacts) -> None:
    """A profile may add mounts, never replace the sandbox's own machinery or protected paths."""
    where = f"profile {mount.origin}: mount {mount.dst}"
    if mount.dst == "/" or any(is_within(mount.dst, t) for t in RESERVED_MOUNT_TARGETS):
        raise ClaudeboxError(f"{where} would replace the sandbox's own {mount.dst}", EXIT_USAGE)
    if mount.dst == host.home or is_within(host.project, mount.dst):
        raise ClaudeboxError(
            f"{where} would hide the private home or the project; mount below them instead",
            EXIT_USAGE,
        )
    protected = [os.path.join(host.home, ".claude"), os.path.join(host.home, ".claude.json")]
    protected += [os.path.join(host.project, relative) for relative in PROTECTED_PROJECT_PATHS]
    for path in protected:
        if is_within(mount.dst, path) or is_within(path, mount.dst):
            raise ClaudeboxError(f"{where} would cover the protected path {path}", EXIT_USAGE)


def is_secret_mount(src: str, host: HostFacts) -> bool:
    return src in ("/", host.home) or any(
        is_within(secret, src) or is_within(src, secret) for secret in host_secret_paths(host)
    )


def build_plan(host: HostFacts, options: Options, extra_env: Sequence[str]) -> SandboxPlan:
    if options.network not in NETWORK_TIERS:
        raise ClaudeboxError(
            f"unknown network tier {options.network!r}; use one of {', '.join(NETWORK_TIERS)}",
            EXIT_USAGE,
        )
    check_exposable(host.project, "the project directory", host)
    instance = instance_for(host.canonical_root, host.state_dir)
    notes: list[str] = []
    warnings: list[str] = []
    if host.other_session:
        notes.append("another claudebox session of this project is running (state is shared)")

    path_dirs = list(sandbox_path_dirs(host.path_dirs))
    nix_cache = os.path.join(host.state_dir, "cache", "nix")
    comma_state = os.path.join(host.state_dir, "cache", "state")
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
        Mount("bind", os.path.join(host.home, ".cache", "nix"), nix_cache),
        Mount("bind", os.path.join(host.home, ".local", "state"), comma_state),
    ]
    if host.claude is None:
        warnings.append("claude was not found on PATH: install Claude Code or add it to PATH")
    elif is_within(host.claude, STORE_DIR):
        claude_bin = os.path.dirname(host.claude)
        if claude_bin not in path_dirs:
            path_dirs.append(claude_bin)
    elif not is_within(host.claude, os.path.join(host.home, ".claude")):  # else: in ~/.claude
        install_dir = os.path.dirname(host.claude)
        check_exposable(install_dir, "claude's install directory", host)
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
        HostSetup(os.path.dirname(nix_cache)),
        HostSetup(nix_cache),
        HostSetup(comma_state),
    ]

    data: tuple[DataInput, ...] = (
        DataInput(
            FIRST_DATA_FD, os.fsencode(gitconfig_text(host.git_name, host.git_email)), "gitconfig"
        ),
        DataInput(
            FIRST_DATA_FD + 1,
            os.fsencode(sandbox_note_text(host.project, host.home, options.network)),
            "sandbox note",
        ),
        DataInput(FIRST_DATA_FD + 2, tiocsti_filter(host.machine), "seccomp"),
    )
    mounts += [
        Mount("ro-bind-data", os.path.join(host.home, ".gitconfig"), fd=data[0].fd),
        Mount("ro-bind-data", SANDBOX_NOTE_PATH, fd=data[1].fd),
        Mount("bind", host.project, host.project),
    ]
    if options.network == "inet":  # DNS goes to pasta's --dns-forward address
        data += (DataInput(FIRST_DATA_FD + 3, INET_RESOLV_CONF.encode(), "resolv.conf"),)
        mounts.append(Mount("ro-bind-data", "/etc/resolv.conf", fd=data[-1].fd))
    if host.git_common_dir and not is_within(host.git_common_dir, host.project):
        check_exposable(host.git_common_dir, "the repository's git directory", host)
        mounts.append(Mount("bind", host.git_common_dir, host.git_common_dir))
    secret_mounts: list[str] = []
    for mount in options.profile.mounts if options.profile else ():
        check_profile_mount(mount, host)
        mounts.append(Mount("bind" if mount.mode == "rw" else "ro-bind", mount.dst, mount.src))
        if is_secret_mount(mount.src, host):
            secret_mounts.append(mount.src)
            warnings.append(
                f"profile {mount.origin} mounts {mount.src}, which is or holds a secret path"
            )
    git_dir = host.git_common_dir or os.path.join(host.project, ".git")
    # The project's .git: a mount point cannot be renamed (a new .git with its own config and
    # hooks would replace it otherwise); a gitdir pointer file is read-only.
    dot_git = os.path.join(host.project, ".git")
    if host.dot_git is not None:
        mounts.append(Mount("bind" if host.dot_git == "dir" else "ro-bind", dot_git, dot_git))
    hooks = os.path.join(git_dir, "hooks")
    if (host.dot_git == "dir" or host.git_common_dir) and hooks not in host.existing:
        host_setup.append(HostSetup(hooks))  # git's own layout: else hooks could be created
        mounts.append(Mount("ro-bind", hooks, hooks))
    for path in protected_paths(host.project, git_dir):
        if path in host.existing:
            mounts.append(Mount("ro-bind", path, path))
    mounts += [Mount("ro-bind", path, path) for path in host.git_protected]

    package_bins = [os.path.join(path, "bin") for path in options.package_paths]
    path_dirs = [*dict.fromkeys([*package_bins, *path_dirs])]
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
    if options.nixpkgs:
        generated["COMMA_NIXPKGS_FLAKE"] = options.nixpkgs
        registry = nix_registry_json(options.nixpkgs)
        if registry is None:
            notes.append(f"nix shell nixpkgs#… uses the host registry, not {options.nixpkgs}")
        else:
            item = DataInput(data[-1].fd + 1, registry.encode(), "nix registry")
            data += (item,)
            registry_path = os.path.join(host.home, ".config", "nix", "registry.json")
            mounts.append(Mount("ro-bind-data", registry_path, fd=item.fd))
    profile = options.profile
    passthrough = [(name, EXTRA_ENV_VARIABLE) for name in extra_env]
    literal: list[tuple[str, str]] = []
    if profile is not None:
        passthrough += [
            (name, f"profile {origin}") for name, origin in profile.extra_env_passthrough
        ]
        literal = [(name, value) for name, value, _origin in profile.env]
    env = build_env(host, passthrough, generated, literal)
    for var in env:
        if var.origin not in ("host", "sandbox", "profile") and var.looks_secret:
            warnings.append(f"{var.name} looks like a secret and is passed in by {var.origin}")

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
    launcher: tuple[str, ...] = ()
    inet_blocked: tuple[BlockedPrefix, ...] = ()
    if options.network == "none":
        namespaces.append("--unshare-net")
    elif options.network == "inet":
        # bwrap runs as uid 0 of pasta's namespace: its own user namespace mapped back to the
        # user's ids drops every capability, so nothing inside can remove the routes.
        namespaces += ["--uid", str(host.uid), "--gid", str(host.gid)]
        if host.routing is None:
            raise ClaudeboxError(
                f"cannot read the host's IPv4 routing over netlink ({host.routing_error}): the "
                "inet tier blocks every network the host routes specially and will not start "
                "without knowing them; use --network full or --network none"
            )
        inet_blocked = inet_blocked_set(host.routing)
        if host.pasta is None:
            warnings.append(
                "pasta was not found on PATH: the inet tier needs it "
                "(install passt, or use --network full)"
            )
        launcher = build_inet_chain(
            host.pasta or "pasta", host.python, inet_netlink_requests(inet_blocked), data
        )
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
        launcher=launcher,
        inet_blocked=inet_blocked,
        profile=options.profile,
        secret_mounts=tuple(secret_mounts),
        watched=(
            dot_git,
            *protected_paths(host.project, git_dir),
            *(os.path.join(git_dir, name) for name in GIT_DIR_WATCHED),
        ),
    )


# --- rendering ------------------------------------------------------------------------------

NETWORK_MEANING: Final[Mapping[str, str]] = {
    "full": "host network: WARNING host loopback services and abstract unix sockets are reachable",
    "inet": "internet only, through pasta (IPv4): LAN, tailnet/CGNAT, link-local, multicast, "
    "the host's own subnets, networks it routes specially and loopback services unreachable",
    "none": "loopback only (the nix daemon still downloads for the sandbox)",
}


def mask(value: str) -> str:
    return f"<masked, {len(value)} chars>"


def render_dry_run(plan: SandboxPlan) -> str:
    """Host preparation, then bwrap one option per line; pasted into bash: the same sandbox."""
    lines = [step.render() for step in plan.host_setup]
    args = plan.argv
    chunks: list[list[str]] = [["env", "-i", args[0]]]  # env -i: see launch()
    if plan.launcher:  # inet: pasta, its options, the route setup and its SPEC, then bwrap
        launcher = list(plan.launcher)
        chunks = [["env", "-i", launcher[0]]]
        i = 1
        while launcher[i] != "--":
            width = PASTA_ARITY.get(launcher[i], 0)
            chunks.append(launcher[i : i + 1 + width])
            i += 1 + width
        chunks += [launcher[i:-2], launcher[-2:-1], ["--", args[0]]]
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            chunks.append(args[i:])
            break
        width = BWRAP_ARITY.get(arg, 0)
        chunks.append(args[i : i + 1 + width])
        i += 1 + width
    # inet: the route setup carries the data in its SPEC and makes the descriptors itself.
    redirections = [
        f"{item.fd}< <({printf_command(item.content)})" for item in plan.data if not plan.launcher
    ]
    if redirections:
        chunks.append(redirections)
    # Secret-looking values are not printed: the pasting shell supplies its own "$NAME".
    from_shell = {var.name for var in plan.env if var.looks_secret and var.origin != "sandbox"}

    def render(chunk: list[str]) -> str:
        if chunk is redirections:
            return " ".join(chunk)
        if chunk[0] == "--setenv" and chunk[1] in from_shell:
            return f'--setenv {chunk[1]} "${chunk[1]}"'
        return shlex.join(chunk)

    body = " \\\n  ".join(render(chunk) for chunk in chunks)
    return "\n".join([*lines, body]) + "\n"


def render_plan_json(plan: SandboxPlan) -> str:
    """--dry-run --json: the plan for scripts; secret-looking values masked, argv included."""
    secret = {var.name for var in plan.env if var.looks_secret}
    beyond_fixed = inet_blocked_beyond_fixed(plan.inet_blocked)
    argv = list(plan.command_line)
    for index in range(len(argv) - 2):
        if argv[index] == "--setenv" and argv[index + 1] in secret:
            argv[index + 2] = mask(argv[index + 2])
    document = {
        "version": __version__,
        "network": plan.network,
        "instance": {"id": plan.instance.id, "root": plan.instance.root, "dir": plan.instance.dir},
        "profile": plan.profile.name if plan.profile else None,
        "cwd": plan.chdir,
        "command": list(plan.command),
        "env": [
            {
                "name": var.name,
                "value": mask(var.value) if var.looks_secret else var.value,
                "origin": var.origin,
            }
            for var in plan.env
        ],
        "mounts": [
            {"op": m.op, "mode": m.mode, "dst": m.dst, "src": m.src or None} for m in plan.mounts
        ],
        "generated": [{"fd": d.fd, "what": d.what, "bytes": len(d.content)} for d in plan.data],
        "inet_blocked": [
            {"prefix": item.prefix, "origin": item.origin, "fixed": item not in beyond_fixed}
            for item in plan.inet_blocked
        ],
        "argv": argv,
        "notes": list(plan.notes),
        "warnings": list(plan.warnings),
    }
    return json.dumps(document, indent=2) + "\n"


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
    "--uid": 1,
    "--gid": 1,
}
PASTA_ARITY: Final[Mapping[str, int]] = {
    "-t": 1,
    "-u": 1,
    "-T": 1,
    "-U": 1,
    "-a": 1,
    "-n": 1,
    "-g": 1,
    "--dns-forward": 1,
}


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def red(self, text: str) -> str:
        return f"\033[31m{text}\033[0m" if self.colour else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text


def audit_mount_lines(plan: SandboxPlan, home: str) -> list[str]:
    """Mounts, grouped: ~/.claude overlays are summarised apart, /etc and protected paths folded."""
    claude_dir = os.path.join(home, ".claude")
    secret = set(plan.secret_mounts)
    groups: dict[str, list[str]] = {}
    lines: list[str] = []
    for mount in plan.mounts:
        if mount.dst.startswith(claude_dir + "/"):
            continue
        if mount.op == "ro-bind-try" and mount.dst.startswith("/etc/"):
            groups.setdefault("ro    /etc:", []).append(mount.dst.removeprefix("/etc/"))
            continue
        if mount.op in ("tmpfs", "proc", "dev"):
            groups.setdefault(f"{mount.mode:<5} ", []).append(mount.dst)
            continue
        if mount.op == "ro-bind" and mount.src == mount.dst and mount.dst != plan.chdir:
            parent = next(
                (
                    m.dst
                    for m in plan.mounts
                    if m.op == "bind" and is_within(mount.dst, m.dst) and m.dst != mount.dst
                ),
                None,
            )
            if parent is not None:
                groups.setdefault(f"ro    in {parent}:", []).append(
                    os.path.relpath(mount.dst, parent)
                )
                continue
        if mount.op in ("ro-bind-data", "bind-data"):
            source = "(generated)"
        elif mount.src and mount.src != mount.dst:
            source = f"<- {mount.src}"
        else:
            source = ""
        line = f"{mount.mode:<5} {mount.dst} {source}".rstrip()
        lines.append(f"SECRET {line}" if mount.src in secret else line)
    return [f"{label} {' '.join(items)}" for label, items in groups.items()] + lines


def inet_blocked_beyond_fixed(blocked: Iterable[BlockedPrefix]) -> list[BlockedPrefix]:
    """What this host adds to the fixed ranges (its addresses, subnets and routed networks)."""
    return [
        item
        for item in blocked
        if item.prefix not in INET_BLOCKED and item.prefix != INET_LINK_BROADCAST
    ]


def render_audit(plan: SandboxPlan, style: Style, home: str) -> str:
    out = [style.bold(f"claudebox {__version__}: what enters the sandbox")]
    out.append(f"  project   {plan.chdir}")
    out.append(f"  instance  {plan.instance.id}  root {plan.instance.root}")
    out.append(f"  command   {shlex.join(plan.command)}")
    out.append(f"  network   {plan.network}: {NETWORK_MEANING[plan.network]}")
    for item in inet_blocked_beyond_fixed(plan.inet_blocked):
        out.append(f"    unreachable {item.describe()}")
    if plan.profile is not None:
        profile = plan.profile
        described = f": {profile.description[0]}" if profile.description else ""
        out.append(
            f"  profile   {profile.name} (by {profile.chosen_by}; {' -> '.join(profile.chain)})"
            f"{described}"
        )
        if profile.packages:
            out.append(f"  packages  {' '.join(name for name, _ in profile.packages)}")
    out.append(f"  env ({len(plan.env)})")
    for var in plan.env:
        value = mask(var.value) if var.looks_secret else var.value
        line = f"    {var.name}={value}  [{var.origin}]"
        flagged = var.looks_secret and var.name != "ANTHROPIC_API_KEY"
        out.append(style.red(line + "  <- secret-looking name") if flagged else line)
    mount_lines = audit_mount_lines(plan, home)
    out.append(f"  mounts ({len(plan.mounts)})")
    for line in mount_lines:
        if line.startswith("SECRET "):
            out.append(style.red(f"    {line.removeprefix('SECRET ')}  <- holds a secret path"))
        else:
            out.append(f"    {line}")
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


# --- the OS edge ----------------------------------------------------------------------------


def run(
    argv: Sequence[str], *, check: bool, cwd: str | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """The one way host commands (git, nix, probes) run: captured, text, no stdin.

    A timeout gives exit status 124 and says so on stderr, like timeout(1)."""
    try:
        return subprocess.run(
            argv,
            check=check,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout:.0f}s")


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
    result = run(
        [git, "config", "--global", "--null", "--get-regexp", r"^user\.(name|email)$"],
        check=False,
    )
    values: dict[str, str] = {}
    for record in result.stdout.split("\0"):
        key, _, value = record.partition("\n")
        if value.strip():
            values[key] = value.strip()
    return values.get("user.name"), values.get("user.email")


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
    candidates += protected_paths(project, git_dir)
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
    routing, routing_error = read_host_routing()
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
        resolved_secret_paths=resolve_secret_paths(home, env),
        git_protected=nested_git_config(git_dir) if git else (),
        pasta=shutil.which("pasta", path=host_path),
        python=sys.executable or "python3",
        routing=routing,
        routing_error=routing_error,
        dot_git=git_entry_kind(os.path.join(project, ".git")),
    )


def git_entry_kind(path: str) -> str | None:
    """What `path` (a .git) is: "dir", "file" (a gitdir pointer), or None (absent, a symlink)."""
    if os.path.islink(path) or not os.path.lexists(path):
        return None
    return "dir" if os.path.isdir(path) else "file"


def netlink_dump(kind: int, header: bytes) -> bytes:
    """The raw reply to one NETLINK_ROUTE dump request (RTM_GET* and its family header), every
    datagram up to NLMSG_DONE or an error; a dump the kernel marks interrupted by a concurrent
    change (NLM_F_DUMP_INTR) is read again. OSError when it cannot be read whole."""
    request = netlink_message(kind, NLM_F_REQUEST | NLM_F_DUMP, 1, header)
    for _attempt in range(NETLINK_DUMP_ATTEMPTS):
        chunks: list[bytes] = []
        interrupted = finished = False
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as link:
            link.settimeout(10)
            link.send(request)
            while not finished:
                chunk, _ancillary, flags, _address = link.recvmsg(65536)
                if flags & socket.MSG_TRUNC:
                    raise OSError(errno.EMSGSIZE, "a netlink reply was truncated")
                if not chunk:
                    raise OSError(errno.EPROTO, "the netlink dump ended early")
                chunks.append(chunk)
                offset = 0
                while offset + 16 <= len(chunk):
                    length, message_kind, message_flags = struct.unpack_from("=IHH", chunk, offset)
                    interrupted |= bool(message_flags & NLM_F_DUMP_INTR)
                    finished |= message_kind in (NLMSG_DONE, NLMSG_ERROR)
                    offset += max((length + 3) & ~3, 16)
        if not interrupted:
            return b"".join(chunks)
    raise OSError(errno.EAGAIN, "the routing tables kept changing while being read")


def host_routing_dumps() -> dict[str, bytes]:
    """The four raw dumps parse_routing reads: links, IPv4 addresses, rules, routes of every
    table (a dump without a table filter lists them all)."""
    rtmsg = struct.pack("=8BI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
    return {
        "links": netlink_dump(RTM_GETLINK, struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)),
        "addresses": netlink_dump(RTM_GETADDR, struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)),
        "rules": netlink_dump(RTM_GETRULE, rtmsg),  # fib_rule_hdr: the same layout
        "routes": netlink_dump(RTM_GETROUTE, rtmsg),
    }


def read_host_routing() -> tuple[HostRouting | None, str | None]:
    """The host's routing (HostFacts.routing), or None and why it could not be read."""
    try:
        return parse_routing(**host_routing_dumps()), None
    except OSError as error:
        return None, error.strerror or str(error)
    except (ValueError, KeyError) as error:
        return None, f"unexpected netlink data: {error}"


def check_private(path: str, uid: int) -> None:
    """Refuse a profile path others could change: not ours, or group/world-writable."""
    real = os.path.realpath(path)
    if is_within(real, STORE_DIR):
        return  # immutable (e.g. written by home-manager)
    try:
        info = os.stat(real)
    except OSError as error:
        raise ClaudeboxError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from error
    if info.st_uid != uid:
        raise ClaudeboxError(
            f"{path} belongs to uid {info.st_uid}, not to you; only your own profiles are read "
            f"(chown it to yourself)",
            EXIT_USAGE,
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ClaudeboxError(
            f"{path} is group- or world-writable; run chmod go-w {shlex.quote(path)}", EXIT_USAGE
        )


def profiles_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "profiles")


def load_profile_file(state_dir: str, name: str, home: str, uid: int) -> ProfileFile:
    """Permission checks first, then the JSON, then validation."""
    check_profile_name(name, "profile")
    path = os.path.join(profiles_dir(state_dir), f"{name}.json")
    if not os.path.lexists(path):
        raise ClaudeboxError(
            f"profile {name!r} not found: {path} does not exist; --list-profiles shows the "
            "profiles there",
            EXIT_USAGE,
        )
    for private in (state_dir, profiles_dir(state_dir), path):
        check_private(private, uid)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except ValueError as error:
        raise ClaudeboxError(f"{path}: not valid JSON ({error})", EXIT_USAGE) from error
    except OSError as error:
        raise ClaudeboxError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from error
    return parse_profile(name, path, data, home, os.path.exists)


def select_profile(
    flag: str | None, env: Mapping[str, str], state_dir: str
) -> tuple[str, str] | None:
    """(name, how it was chosen): the flag wins over CLAUDEBOX_PROFILE over default.json."""
    if flag:
        return flag, "--profile"
    if env.get(PROFILE_VARIABLE):
        return env[PROFILE_VARIABLE], PROFILE_VARIABLE
    if os.path.lexists(os.path.join(profiles_dir(state_dir), f"{DEFAULT_PROFILE}.json")):
        return DEFAULT_PROFILE, "default"
    return None


def load_profile(name: str, chosen_by: str, state_dir: str, home: str) -> Profile:
    uid = os.getuid()
    return resolve_profile(name, chosen_by, lambda n: load_profile_file(state_dir, n, home, uid))


def list_profiles(state_dir: str, home: str) -> str:
    try:
        names = sorted(
            entry.removesuffix(".json")
            for entry in os.listdir(profiles_dir(state_dir))
            if entry.endswith(".json")
        )
    except OSError:
        names = []
    if not names:
        return f"no profiles in {profiles_dir(state_dir)}\n"
    lines = []
    for name in names:
        try:
            profile = load_profile(name, "listing", state_dir, home)
        except ClaudeboxError as error:
            lines.append(f"{name}\tinvalid: {error}")
            continue
        description = profile.description[0] if profile.description else ""
        lines.append(f"{name}\tok\t{description}")
    return "\n".join(lines) + "\n"


def nested_git_config(git_dir: str) -> tuple[str, ...]:
    """Hooks and config of submodule git dirs (.git/modules/**) and per-worktree config files."""
    found: list[str] = []
    for directory, subdirs, files in os.walk(os.path.join(git_dir, "modules")):
        if "HEAD" in files:
            found += [os.path.join(directory, "config")] if "config" in files else []
            found += [os.path.join(directory, "hooks")] if "hooks" in subdirs else []
            subdirs[:] = [name for name in subdirs if name == "modules"]
    found += [os.path.join(git_dir, "config.worktree")]
    try:
        worktrees = os.listdir(os.path.join(git_dir, "worktrees"))
    except OSError:
        worktrees = []
    for name in worktrees:  # commondir: where that worktree's git reads its config
        found += [os.path.join(git_dir, "worktrees", name, entry) for entry in WORKTREE_PROTECTED]
    return tuple(path for path in found if os.path.lexists(path))


def resolve_secret_paths(home: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """Where symlinked secret paths lead (~/.ssh -> /persist/ssh): those are secret too."""
    resolved = (os.path.realpath(path) for path in secret_paths(home, env))
    return tuple(sorted(set(resolved) - set(secret_paths(home, env))))


def nixpkgs_identity(nixpkgs: str, home: str) -> str:
    """What `nixpkgs` means now: for the registry id, the local registry's pin (cache key)."""
    if nixpkgs != "nixpkgs":
        return nixpkgs
    for registry in REGISTRY_FILES:
        flakes = read_json_object(os.path.expanduser(registry.replace("~", home, 1))).get("flakes")
        for entry in flakes if isinstance(flakes, list) else []:
            source = entry.get("from") if isinstance(entry, dict) else None
            if isinstance(source, dict) and source.get("id") == "nixpkgs":
                return "registry:" + json.dumps(entry.get("to"), sort_keys=True)
    return nixpkgs


def store_package_cache(path: str, nixpkgs: str, new: Mapping[str, Sequence[str]]) -> None:
    """Merge under an exclusive lock and replace atomically; a failure only costs a warning."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cache = read_json_object(path)
            entries = cache.get("entries") if cache.get("version") == PACKAGE_CACHE_VERSION else {}
            merged = dict(entries) if isinstance(entries, dict) else {}
            for attribute, paths in new.items():
                merged[package_cache_key(nixpkgs, attribute)] = list(paths)
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as out:
                json.dump({"version": PACKAGE_CACHE_VERSION, "entries": merged}, out, indent=1)
            os.replace(temporary, path)
        finally:
            os.close(lock)
    except OSError as error:
        print(f"claudebox: warning: package cache {path} not updated: {error}", file=sys.stderr)


def resolve_packages(
    attributes: Sequence[str], nixpkgs: str, home: str, env: Mapping[str, str], *, save: bool
) -> tuple[str, ...]:
    """Store paths of the profile's packages, in order: from the cache, else `nix build`."""
    if not attributes:
        return ()
    cache_path = os.path.join(home, ".claudebox", "cache", "packages.json")
    identity = nixpkgs_identity(nixpkgs, home)
    resolved = cached_packages(read_json_object(cache_path), identity, attributes, os.path.exists)
    missing = [attribute for attribute in attributes if attribute not in resolved]
    nix = shutil.which("nix", path=env.get("PATH", os.defpath)) if missing else None
    for attribute in missing:
        print(f"claudebox: resolving {attribute} …", file=sys.stderr)
        if nix is None:
            raise ClaudeboxError(
                "nix not found on PATH: profile packages are built with nix; install nix "
                "or remove packages from the profile",
                EXIT_MISSING,
            )
        installable = f"{nixpkgs}#{attribute}"
        result = run(
            [nix, *NIX_FLAGS, "build", "--no-link", "--print-out-paths", installable], check=False
        )
        paths = tuple(line.strip() for line in result.stdout.splitlines() if line.strip())
        if result.returncode != 0 or not paths or not all(is_within(p, STORE_DIR) for p in paths):
            for line in result.stderr.strip().splitlines()[-20:]:
                print(f"  nix: {line}", file=sys.stderr)
            raise ClaudeboxError(
                f"package {attribute!r} could not be built from {nixpkgs} (nix build exited "
                f"{result.returncode}); check the attribute name in the profile"
            )
        print(f"claudebox: {attribute} -> {' '.join(paths)}", file=sys.stderr)
        resolved[attribute] = paths
    if missing and save:
        store_package_cache(cache_path, identity, {a: resolved[a] for a in missing})
    return tuple(path for attribute in attributes for path in resolved[attribute])


def session_created(watched: Sequence[str], present: Iterable[str]) -> list[str]:
    """Watched paths that exist now and did not at launch (one per new tree: its top)."""
    before = set(present)
    created: list[str] = []
    for path in watched:
        if path not in before and os.path.lexists(path):
            if not any(is_within(path, top) for top in created):
                created.append(path)
    return created


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


def userns_blocker() -> str | None:
    """Why unprivileged user namespaces cannot work here (a sysctl says no), or None."""
    for path, name, wanted in (
        ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces", "10000"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone", "1"),
    ):
        try:
            with open(path, encoding="ascii") as handle:
                value = handle.read().strip()
        except OSError:
            continue
        if value == "0":
            return (
                f"unprivileged user namespaces are disabled ({name} = 0), and every sandbox "
                f"needs them; enable them: sysctl -w {name}={wanted}"
            )
    return None


def check_inet_prerequisites(pasta: str) -> None:
    """The inet tier's pasta and /dev/net/tun; never falls back to a weaker tier."""
    if shutil.which(pasta) is None:
        raise ClaudeboxError(
            f"{pasta} not found on PATH: the inet network tier needs pasta; install passt "
            "(nixpkgs/Debian: passt) or choose another tier with --network full (or none)",
            EXIT_MISSING,
        )
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC))
    except OSError as error:
        raise ClaudeboxError(
            f"/dev/net/tun is not usable ({error.strerror}): pasta needs it for the inet network "
            "tier; load the tun module (modprobe tun) and make /dev/net/tun read-writable (0666), "
            "or choose another tier with --network full (or none)"
        ) from error


def sandboxed_command_pid(root_pid: int, levels: int = 2) -> int | None:
    """The host pid of the command, once it runs, `levels` first children below root_pid:
    bwrap -> its pid-1 init -> the command (2), or pasta -> bwrap -> init -> the command (3)."""
    pid = root_pid
    for _ in range(levels):
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
                children = handle.read().split()
        except OSError:
            return None
        if not children:
            return None
        pid = int(children[0])
    return pid


def die_with(parent: int) -> Callable[[], None]:
    """For the child, before exec: SIGKILL when `parent` dies. pasta has no such option; with it
    a killed claudebox takes pasta along, and bwrap's --die-with-parent then the sandbox."""

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # died before prctl
            os._exit(EXIT_RUNTIME)

    return arrange


def fresh_session_keyring(machine: str) -> Callable[[], None]:
    """For the child, before exec: a new, empty session keyring (the user's stays outside)."""
    number = KEYCTL_SYSCALLS.get(machine)
    if number is None:
        raise ClaudeboxError(
            f"no keyring isolation for machine {machine!r} (supported: "
            f"{', '.join(KEYCTL_SYSCALLS)}); claudebox will not start a sandbox without it"
        )

    def join() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        option = ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING)
        if libc.syscall(ctypes.c_long(number), option, ctypes.c_void_p(None)) < 0:
            error = ctypes.get_errno()
            if error != ENOSYS:
                raise OSError(error, os.strerror(error))

    return join


def spawn(plan: SandboxPlan, output: int | None = None) -> subprocess.Popen[bytes]:
    """Start the plan's command line: the one way a sandbox starts (a session or --check).
    `output`: where the sandbox's stdout and stderr go (None: inherited)."""
    if plan.bwrap == "bwrap" and shutil.which("bwrap") is None:
        raise ClaudeboxError(
            "bwrap (bubblewrap) not found on PATH; install bubblewrap", EXIT_MISSING
        )
    if not plan.command[0].startswith("/"):
        raise ClaudeboxError(
            "claude not found on PATH; install Claude Code (nixpkgs claude-code) or add it to PATH",
            EXIT_MISSING,
        )
    if os.geteuid() == 0:
        raise ClaudeboxError(
            "claudebox is running as root, and claude refuses --dangerously-skip-permissions as "
            "root; run claudebox as your own user",
            EXIT_USAGE,
        )
    blocker = userns_blocker()
    if blocker:
        raise ClaudeboxError(blocker)
    if plan.launcher:
        check_inet_prerequisites(plan.launcher[0])
    join_keyring = fresh_session_keyring(os.uname().machine)
    die = die_with(os.getpid()) if plan.launcher else None

    def prepare_child() -> None:
        join_keyring()
        if die is not None:
            die()

    # inet: the route setup makes the data's descriptors itself (pasta closes inherited ones).
    pipes = [] if plan.launcher else plan.data
    for item in pipes:
        read_end, write_end = os.pipe()
        os.write(write_end, item.content)  # small: fits the pipe buffer
        os.close(write_end)
        os.dup2(read_end, item.fd)
        os.close(read_end)
    try:
        # bwrap's pid-1 init keeps bwrap's own environment, readable inside as /proc/1/environ:
        # bwrap gets none at all (--setenv gives the command its environment); inet: neither do
        # pasta and the route setup, which execs bwrap with an empty environment.
        process = subprocess.Popen(
            plan.command_line,
            env={},
            pass_fds=[item.fd for item in pipes],
            preexec_fn=prepare_child,
            stdout=output,
            stderr=output,
        )
    except OSError as error:
        program = plan.launcher[0] if plan.launcher else plan.bwrap
        raise ClaudeboxError(f"cannot start {program}: {error.strerror}", EXIT_MISSING) from error
    except subprocess.SubprocessError as error:  # raised by prepare_child
        raise ClaudeboxError(
            f"cannot give the sandbox its own session keyring ({error}); report it"
        ) from error
    finally:
        for item in pipes:
            os.close(item.fd)
    return process


def launch(plan: SandboxPlan) -> int:
    """Run bwrap and stay as a thin supervisor: bwrap 0.8 forwards no signal to the command."""
    process = spawn(plan)
    levels = 3 if plan.launcher else 2  # pasta -> bwrap -> init -> the command

    def forward(signum: int, _frame: object) -> None:
        # Before the command runs, signal the chain's top (inet: pasta's child ends pasta too).
        target = (
            sandboxed_command_pid(process.pid, levels)
            or (plan.launcher and sandboxed_command_pid(process.pid, 1))
            or process.pid
        )
        try:
            os.kill(target, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    status = process.wait()
    return status if status >= 0 else 128 - status


# --- --check --------------------------------------------------------------------------------


def program_version(program: str) -> str:
    """`program --version`, first line. On a pty: pasta prints nothing into a pipe."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [program, "--version"], stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
        )
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return "(no version reported)"
    finally:
        os.close(controller)
    lines = [
        line.strip()
        for line in b"".join(chunks).decode(errors="replace").splitlines()
        if line.strip() and "AVX2" not in line
    ]
    return lines[0] if lines else "(no version reported)"


def render_versions(env: Mapping[str, str]) -> str:
    lines = [f"claudebox {__version__}"]
    for name in ("bwrap", "pasta"):
        found = shutil.which(name, path=env.get("PATH", os.defpath))
        lines.append(
            f"{name}: {program_version(found)} ({found})" if found else f"{name}: not found"
        )
    return "\n".join(lines) + "\n"


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
            timeout=CHECK_TIMEOUT,
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
    if os.geteuid() == 0:
        results.append(
            CheckResult("user", False, "running as root", "run claudebox as your own user")
        )
    else:
        results += check_inet(shutil.which("pasta", path=host_path))
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
    results += nix_daemon_trust(read_nix_conf("/etc/nix/nix.conf"), env.get("USER", ""))
    results += check_enforcement(env)
    return results


def enforcement_results(report: Mapping[str, object], network: str) -> list[CheckResult]:
    """--check: the enforcement probe's report, judged (pure)."""
    found = [report.get("visible"), report.get("environ")]
    leaks = [str(item) for items in found if isinstance(items, list) for item in items]
    results = [
        CheckResult(
            "sandbox: secrets",
            not leaks,
            "canary files outside the project and a canary host variable are invisible inside"
            if not leaks
            else f"visible inside: {', '.join(leaks)}",
            "this claudebox does not isolate the sandbox; report it (see SECURITY.md)",
        )
    ]
    routes = report.get("routes")
    if network == "inet" and isinstance(routes, dict):
        open_routes = {a: r for a, r in routes.items() if r not in ("EHOSTUNREACH", "ENETUNREACH")}
        results.append(
            CheckResult(
                "sandbox: private routes",
                not open_routes,
                f"inet: {len(routes)} private and host addresses unreachable"
                if not open_routes
                else "inet: reachable or not refused by a route: "
                + ", ".join(f"{a} ({r})" for a, r in open_routes.items()),
                "the inet tier's unreachable routes are missing; report it (see SECURITY.md)",
            )
        )
    else:
        results.append(
            CheckResult(
                "sandbox: private routes",
                True,
                "skipped: the inet tier is unavailable here (see the pasta lines)",
                warning=True,
            )
        )
    tiocsti = report.get("tiocsti")
    blocked = tiocsti == "EPERM"
    results.append(
        CheckResult(
            "sandbox: terminal injection",
            blocked,
            "TIOCSTI on a terminal inside fails with EPERM (the seccomp filter)"
            if blocked
            else "TIOCSTI on a terminal inside succeeded"
            if tiocsti == "ok"
            else f"TIOCSTI failed with {tiocsti}, not by the seccomp filter (EPERM)",
            "the seccomp filter is not applied; report it (see SECURITY.md)",
        )
    )
    return results


def check_enforcement(env: Mapping[str, str]) -> list[CheckResult]:
    """A throwaway sandbox, planned and started like a session's (a scratch home and project,
    the probe instead of claude), attacks itself: canaries, private routes, TIOCSTI."""
    if os.geteuid() == 0:
        return [CheckResult("sandbox", True, "skipped: running as root", warning=True)]
    python = os.path.realpath(sys.executable or "python3")
    if not is_within(python, STORE_DIR):
        return [
            CheckResult(
                "sandbox",
                True,
                f"skipped: the enforcement probe runs inside with this Python, and {python} is "
                "not in /nix/store (run the Nix-built claudebox to check enforcement)",
                warning=True,
            )
        ]
    pasta = shutil.which("pasta", path=env.get("PATH", os.defpath))
    network = "inet" if pasta and os.access("/dev/net/tun", os.R_OK | os.W_OK) else "none"
    marker = os.urandom(12).hex()
    with tempfile.TemporaryDirectory(prefix="claudebox-check-") as scratch:
        home = os.path.join(scratch, "home")
        project = os.path.join(home, "project")
        canaries = [os.path.join(home, ".ssh", "id_ed25519"), os.path.join(scratch, "canary")]
        for directory in (project, os.path.dirname(canaries[0])):
            os.makedirs(directory, mode=0o700)
        for canary in canaries:
            with open(canary, "w", encoding="utf-8") as handle:
                handle.write(marker)
        probed = probe_host({**env, "HOME": home, "CLAUDEBOX_CHECK_CANARY": marker})
        host = replace(
            probed,
            cwd=project,
            project=project,
            canonical_root=project,
            git_common_dir=None,
            existing=frozenset(path for path in probed.existing if path.startswith("/etc/")),
            git_protected=(),
            dot_git=None,
        )
        plan = build_plan(host, Options(network=network), ())
        blocked = [ipaddress.IPv4Network(item.prefix) for item in plan.inet_blocked]
        spec = {
            "canaries": canaries,
            "marker": marker,
            "addresses": [
                str(next(iter(network.hosts()), network.network_address)) for network in blocked
            ],
        }
        probe = (python, "-I", "-S", "-c", ENFORCEMENT_PROBE, json.dumps(spec))
        plan = replace(plan, command=probe)
        try:
            prepare_host(plan.host_setup)
            process = spawn(plan, subprocess.PIPE)
        except ClaudeboxError as error:
            return [CheckResult("sandbox", False, f"cannot start one: {error}", "see above")]
        try:
            output, _ = process.communicate(timeout=CHECK_TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return [CheckResult("sandbox", False, "the probe timed out", "see the lines above")]
    text = output.decode(errors="replace").strip()
    try:
        report = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        report = None
    if not isinstance(report, dict):
        lines = [line for line in text.splitlines() if "AVX2" not in line]
        return [
            CheckResult(
                "sandbox",
                False,
                f"the probe failed (exit {process.returncode}): {' / '.join(lines[-3:])}",
                "see the lines above",
            )
        ]
    return [
        CheckResult("sandbox", True, f"a throwaway sandbox ran the probe (network {network})"),
        *enforcement_results(report, network),
    ]


def read_nix_conf(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    settings = {}
    for line in lines:
        key, equals, value = line.partition("#")[0].partition("=")
        if equals:
            settings[key.strip()] = value.strip()
    return settings


def nix_daemon_trust(settings: Mapping[str, str], user: str) -> list[CheckResult]:
    """Warnings (not failures): either lets sandboxed code have the daemon run builds its way."""
    results = []
    trusted = settings.get("trusted-users", "root").split()
    groups = [g.gr_name for g in grp.getgrall() if user in g.gr_mem] if user else []
    if user and (user in trusted or "*" in trusted or any(f"@{g}" in trusted for g in groups)):
        results.append(
            CheckResult(
                "nix trust",
                True,
                f"{user} is in nix trusted-users: code in the sandbox can make the daemon "
                "use any substituter or settings (remove yourself from nix.settings.trusted-users)",
                warning=True,
            )
        )
    if settings.get("sandbox") == "false":
        results.append(
            CheckResult(
                "nix build sandbox",
                True,
                "the nix daemon builds with sandbox = false: a build requested from inside "
                "runs unconfined as the build user",
                warning=True,
            )
        )
    return results


def check_inet(pasta: str | None) -> list[CheckResult]:
    """pasta, /dev/net/tun, and pasta actually starting with the inet tier's options."""
    alternative = "or use --network full (or none)"
    if pasta is None:
        return [CheckResult("pasta", False, "not found on PATH", f"install passt {alternative}")]
    results = [CheckResult("pasta", True, pasta)]
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC))
        results.append(CheckResult("/dev/net/tun", True, "usable"))
    except OSError as error:
        results.append(
            CheckResult(
                "/dev/net/tun",
                False,
                f"not usable ({error.strerror})",
                f"modprobe tun; chmod 0666 /dev/net/tun; {alternative}",
            )
        )
        return results
    probe = run(
        [pasta, *PASTA_OPTIONS, "--", sys.executable, "-I", "-S", "-c", ""],
        check=False,
        timeout=CHECK_TIMEOUT,
    )
    lines = [line for line in probe.stderr.splitlines() if "AVX2" not in line]
    results.append(
        CheckResult(
            "inet tier",
            probe.returncode == 0,
            "pasta starts a network namespace"
            if probe.returncode == 0
            else " / ".join(lines) or f"pasta exited {probe.returncode}",
            f"check the user namespace sysctls above, {alternative}",
        )
    )
    return results


def render_checks(results: Sequence[CheckResult], style: Style) -> str:
    lines = []
    for result in results:
        if result.warning:
            lines.append(style.red(f"warn {result.name}: {result.detail}"))
        elif result.ok:
            lines.append(f"ok   {result.name}: {result.detail}")
        else:
            lines.append(style.red(f"FAIL {result.name}: {result.detail}; fix: {result.hint}"))
    return "\n".join(lines) + "\n"


# --- parser and main ------------------------------------------------------------------------


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A fixed width, so --help reads the same everywhere (the README carries a copy)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=HELP_WIDTH, max_help_position=30)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claudebox",
        usage="claudebox [CLAUDEBOX OPTIONS] [CLAUDE ARGS ...]",
        description=(
            "Run Claude Code (claude --dangerously-skip-permissions) in a bubblewrap sandbox:\n"
            "an empty environment plus an allowlist, the project read-write, /nix/store\n"
            "read-only, and nothing else of your home. Any other argument goes to claude\n"
            "unchanged; everything after -- goes to claude verbatim."
        ),
        epilog=(
            "examples:\n"
            "  claudebox                        audit, confirm, start claude in this project\n"
            "  claudebox -y -p 'fix the tests'  no question; claude gets -p 'fix the tests'\n"
            "  claudebox --network none         no network at all (loopback only)\n"
            "  claudebox --profile web          add what ~/.claudebox/profiles/web.json names\n"
            "  claudebox --dry-run              print the sandbox command, run nothing\n"
            "  claudebox --shell                a bash in the very sandbox claude would get\n"
            "  claudebox --check                check bwrap, pasta, namespaces, nix, claude\n"
            f"  {EXTRA_ENV_VARIABLE}=GH_HOST claudebox   pass one more host variable in"
        ),
        formatter_class=HelpFormatter,
        allow_abbrev=False,
        add_help=False,
    )
    launch_group = parser.add_argument_group("launch")
    launch_group.add_argument(
        "-y", "--yes", action="store_true", help="skip the audit confirmation"
    )
    launch_group.add_argument(
        "--network",
        choices=NETWORK_TIERS,
        default=None,
        help=f"network tier (default {DEFAULT_NETWORK}; env CLAUDEBOX_NETWORK)",
    )
    launch_group.add_argument(
        "--profile",
        metavar="NAME",
        help=f"profile ~/.claudebox/profiles/NAME.json (env {PROFILE_VARIABLE})",
    )
    launch_group.add_argument(
        "--shell", action="store_true", help="run an interactive bash in the same sandbox"
    )
    inspect_group = parser.add_argument_group("inspect")
    inspect_group.add_argument(
        "--dry-run",
        action="store_true",
        help="print the complete sandbox command and exit; nothing runs or is made",
    )
    inspect_group.add_argument(
        "--json", action="store_true", help="with --dry-run: the plan as JSON, for scripts"
    )
    inspect_group.add_argument(
        "--check", action="store_true", help="probe the host; exit 0 only if all pass"
    )
    inspect_group.add_argument(
        "--list-profiles", action="store_true", help="names and descriptions of the profiles"
    )
    inspect_group.add_argument(
        "--show-profile", metavar="NAME", help="the resolved profile (after extends) as JSON"
    )
    other_group = parser.add_argument_group("other")
    other_group.add_argument(
        "--gc",
        action="store_true",
        help="remove state of projects that no longer exist (with --dry-run: only list)",
    )
    other_group.add_argument(
        "--completions",
        choices=COMPLETION_SHELLS,
        metavar="SHELL",
        help=f"print a completion script ({', '.join(COMPLETION_SHELLS)})",
    )
    other_group.add_argument(
        "--version", action="store_true", help="print versions of claudebox, bwrap and pasta"
    )
    other_group.add_argument("-h", "--help", action="help", help="show this help and exit")
    return parser


def parser_options(parser: argparse.ArgumentParser) -> list[OptionSpec]:
    """Every option of the parser, for the completion scripts."""
    options = []
    for action in parser._actions:  # argparse keeps no public list of its actions
        if action.option_strings:
            choices = tuple(str(c) for c in action.choices) if action.choices else ()
            options.append(
                OptionSpec(
                    tuple(action.option_strings),
                    (action.help or "").replace("'", "").replace("[", "(").replace("]", ")"),
                    choices if action.nargs != 0 else None,
                )
            )
    return options


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """Completions generated from the parser; --profile completes the profile files' names."""
    options = parser_options(parser)
    listing = 'ls "$HOME/.claudebox/profiles" 2>/dev/null | sed -n "s/[.]json$//p"'
    if shell == "bash":
        words = " ".join(flag for option in options for flag in option.flags)
        cases = "".join(
            f"        {'|'.join(option.flags)}) "
            f"COMPREPLY=($(compgen -W '{' '.join(option.choices)}' -- \"$cur\")); return;;\n"
            for option in options
            if option.choices
        )
        return (
            "# bash completion for claudebox (claudebox --completions bash)\n"
            "_claudebox() {\n"
            '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"\n'
            '    case "$prev" in\n'
            f"{cases}"
            f'        --profile|--show-profile) COMPREPLY=($(compgen -W "$({listing})" -- "$cur"))'
            "; return;;\n"
            "    esac\n"
            f"    COMPREPLY=($(compgen -W '{words}' -- \"$cur\"))\n"
            "}\n"
            "complete -o default -F _claudebox claudebox\n"
        )
    if shell == "zsh":
        specs = []
        for option in options:
            names = "{" + ",".join(option.flags) + "}" if len(option.flags) > 1 else option.flags[0]
            value = ""
            if option.choices:
                value = f":value:({' '.join(option.choices)})"
            elif option.choices is not None:
                value = f":profile:($({listing}))"
            specs.append(f"{names}'[{option.help}]{value}'")  # braces expand unquoted
        return (
            "#compdef claudebox\n"
            "# zsh completion for claudebox (claudebox --completions zsh)\n"
            "_arguments -S \\\n  "
            + " \\\n  ".join(specs)
            + " \\\n  '*::claude argument:_default'\n"
        )
    lines = ["# fish completion for claudebox (claudebox --completions fish)"]
    for option in options:
        parts = ["complete -c claudebox"]
        parts += [f"-s {f[1:]}" if len(f) == 2 else f"-l {f[2:]}" for f in option.flags]
        parts.append(f"-d '{option.help}'")
        if option.choices:
            parts.append(f"-x -a '{' '.join(option.choices)}'")
        elif option.choices is not None:
            parts.append(f"-x -a {FISH_PROFILE_LISTING}")
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(claudebox and claude options, what follows -- verbatim)."""
    if "--" in argv:
        cut = list(argv).index("--")
        return list(argv[:cut]), list(argv[cut + 1 :])
    return list(argv), []


def write_stdout(text: str) -> None:
    """Paths that are not UTF-8 (surrogate escapes from os.getcwd) go out as their bytes."""
    sys.stdout.flush()
    sys.stdout.buffer.write(os.fsencode(text))
    sys.stdout.buffer.flush()


def colour_enabled(env: Mapping[str, str]) -> bool:
    return sys.stderr.isatty() and "NO_COLOR" not in env


def _main(argv: Sequence[str]) -> int:
    env = dict(os.environ)
    ours, verbatim = split_argv(argv)
    parser = build_parser()
    args, passthrough = parser.parse_known_args(ours)
    style = Style(colour_enabled(env))
    if args.version:
        write_stdout(render_versions(env))
        return 0
    if args.completions:
        write_stdout(completion_script(args.completions, parser))
        return 0
    if args.json and not args.dry_run:
        raise ClaudeboxError("--json goes with --dry-run (claudebox --dry-run --json)", EXIT_USAGE)
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
    home = os.path.realpath(env.get("HOME") or os.path.expanduser("~"))
    state_dir = os.path.join(home, ".claudebox")
    if args.list_profiles:
        sys.stdout.write(list_profiles(state_dir, home))
        return 0
    if args.show_profile:
        sys.stdout.write(
            profile_json(load_profile(args.show_profile, "--show-profile", state_dir, home))
        )
        return 0
    selected = select_profile(args.profile, env, state_dir)
    profile = load_profile(*selected, state_dir, home) if selected else None
    network = (
        args.network
        or env.get("CLAUDEBOX_NETWORK")
        or (profile.network[0] if profile and profile.network else None)
        or DEFAULT_NETWORK
    )
    nixpkgs = env.get(NIXPKGS_VARIABLE) or "nixpkgs"
    packages = [name for name, _origin in profile.packages] if profile else []
    package_paths = resolve_packages(packages, nixpkgs, home, env, save=not args.dry_run)
    options = Options(
        claude_args=(*passthrough, *verbatim),
        network=network,
        shell=args.shell,
        profile=profile,
        package_paths=package_paths,
        nixpkgs=env.get(NIXPKGS_VARIABLE),
    )
    extra_env = parse_extra_env(env.get(EXTRA_ENV_VARIABLE, ""))
    plan = build_plan(probe_host(env), options, extra_env)
    if args.dry_run:
        for warning in plan.warnings:
            print(f"claudebox: warning: {warning}", file=sys.stderr)
        write_stdout(render_plan_json(plan) if args.json else render_dry_run(plan))
        return 0
    sys.stderr.write(render_audit(plan, style, home))
    secrets_unconfirmed = bool(plan.secret_mounts) and not (
        profile is not None and profile.allow_secret_mounts[0]
    )
    if secrets_unconfirmed and args.yes:
        print(
            'claudebox: the profile mounts secret paths without "allow_secret_mounts": true, '
            "so --yes is not enough: confirm on the terminal",
            file=sys.stderr,
        )
    if (not args.yes or secrets_unconfirmed) and not confirm("Launch this sandbox? [y/N] "):
        print("claudebox: not launched", file=sys.stderr)
        return EXIT_USAGE
    lock = lock_instance(plan.instance.dir)
    try:
        prepare_host(plan.host_setup)
        present = {path for path in plan.watched if os.path.lexists(path)}
        status = launch(plan)
        for path in session_created(plan.watched, present):
            print(
                f"claudebox: warning: the session created {path}: git, direnv, an editor or "
                "claude outside the sandbox may run what it says; review it",
                file=sys.stderr,
            )
        return status
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
