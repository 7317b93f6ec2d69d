"""claudebox: run the Claude Code CLI inside a bubblewrap sandbox that secrets never enter.

The sandbox starts from an empty environment and an empty tmpfs root; only what this module
names goes in: the project (read-write), /nix/store (read-only), the nix daemon socket, a few
read-only /etc files, a private home with Claude's state, and an allowlist of variables.

A launch has two steps. A short stage, in claudebox's own child, enters a new user and mount
namespace (and network namespace for the inet tier) and there pins what the sandbox must not
change: every protected path becomes a mount point (read-only, or pinned so that it cannot be
renamed away), opened without following symlinks. Then bwrap builds the sandbox from that view,
binding host directories by descriptor, so what was checked is what is mounted.

Layout (top to bottom): constants, the one exception type, frozen values, pure builders
(host facts in, plan out), rendering, the OS edge (probing, the stage, the supervisor, the
after-session review), the parser, main.

Records are NamedTuple classes made by RecordType (below), not typing.NamedTuple, whose class
syntax checks every field's annotation as the class is made (3 ms of a launch); typing itself is
never imported on the launch path (tests/integration/test_launch_imports.py guards the list).

Everything claudebox prints passes write_stdout or write_stderr, which make it printable(): a
name or value from the host's files or from a session never acts on the terminal. Renderers
make each value printable() as they place it (it stays on its line, and cannot pass for one of
the audit's colour codes); --dry-run quotes such a word $'...' (shell_quote), so it pastes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import enum
import errno
import fcntl
import itertools
import json
import os
import re
import shlex
import signal
import stat
import struct
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import ipaddress
    import selectors
    import socket
    import ssl
    import subprocess
    from typing import Final, NamedTuple, NoReturn, TextIO
else:
    # What a full-tier launch never needs is imported on first use: every module a launch
    # imports costs it 1-3 ms, and a launch is meant to cost little more than bwrap's own.

    class LazyModule:
        """Stands in for a module until an attribute is read, then becomes it."""

        def __init__(self, name: str) -> None:
            self.name = name

        def __getattr__(self, attribute: str) -> object:
            module = __import__(self.name)
            globals()[self.name] = module
            return getattr(module, attribute)

    ipaddress = LazyModule("ipaddress")
    socket = LazyModule("socket")
    subprocess = LazyModule("subprocess")

    class RecordType(type):
        """typing.NamedTuple's class syntax without its per-field type checks (which compile
        every annotation string: 3 ms of a launch): the same collections.namedtuple class,
        with the body's methods, properties and docstring."""

        def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
            if not bases:
                return super().__new__(cls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", ()))
            record = collections.namedtuple(
                name,
                fields,
                defaults=[namespace[field] for field in fields if field in namespace],
                module=namespace["__module__"],
            )
            for key, value in namespace.items():
                if key not in fields and key not in ("__annotations__", "__module__"):
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=RecordType):
        pass


__version__: Final = "0.2.0"

# --- constants ------------------------------------------------------------------------------

STORE_DIR: Final = "/nix/store"
DAEMON_SOCKET_DIR: Final = "/nix/var/nix/daemon-socket"


# The relay's proxy, in every tier: Claude's own hosts (its login) and, per tier, other names.
# In inet, allowlist and none it listens on the sandbox's own loopback (the stage opens that
# socket inside and hands it over: nothing listens on the host's loopback); in full, which has
# the host's network, on an ephemeral port of the host's loopback, behind a session token.
# allowlist tier: the sandbox's network namespace has only lo; its one way out is this proxy.
PROXY_PORT: Final = 3128
PROXY_URL: Final = f"http://127.0.0.1:{PROXY_PORT}"
PROXY_VARIABLES: Final = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
NO_PROXY_VALUE: Final = "localhost,127.0.0.1,::1"

# Claude's login never enters the sandbox: inside are only this session's placeholders, and
# claudebox's relay (threads of claudebox itself) carries Claude's requests to Anthropic's hosts,
# putting the real credential on them. It terminates TLS for these hosts only, with a
# certificate made for the session (self-signed, name-constrained to them): it enters as
# NODE_EXTRA_CA_CERTS, its key never does. Upstream, the relay verifies the real servers with
# the system CA bundle.
LOGIN_HOSTS: Final[Mapping[str, str]] = {
    "api.anthropic.com": "the API, Claude Code's account and feature requests",
    "platform.claude.com": "OAuth login and token refresh",
    "claude.ai": "claude.ai accounts, remote sessions",
    "mcp-proxy.anthropic.com": "claude.ai's MCP connectors",
}
LOGIN_PORT: Final = 443
# Credential variables: the relay holds the host's value, the sandbox gets a placeholder of the
# same shape; name -> the request header it travels in.
LOGIN_VARIABLES: Final[Mapping[str, str]] = {
    "ANTHROPIC_API_KEY": "x-api-key",
    "ANTHROPIC_AUTH_TOKEN": "authorization",
    "CLAUDE_CODE_OAUTH_TOKEN": "authorization",
}
# The host's gateway for Messages: the relay's upstream (inside, Claude's base URL is the relay).
# Claude treats any base URL but api.anthropic.com as a third-party gateway, so none is set
# inside when the host sets none (Claude then reaches api.anthropic.com by CONNECT).
BASE_URL_VARIABLE: Final = "ANTHROPIC_BASE_URL"
FIRST_PARTY_HOST: Final = "api.anthropic.com"
LOGIN_ORIGIN: Final = "claudebox's login relay"  # an EnvVar origin: its value is set at launch
LOGIN_SUMMARY: Final = "login via claudebox: no token inside"  # the audit says what Claude has
LOGIN_CA_INSIDE: Final = "/etc/claudebox/login-ca.pem"
LOGIN_CA_DAYS: Final = 7  # the session certificate's validity (a session rarely lasts a week)
PROXY_USER: Final = "claudebox"  # full tier: the proxy on the host's loopback wants a session token
OAUTH_HOST: Final = "platform.claude.com"
OAUTH_TOKEN_PATH: Final = "/v1/oauth/token"
OAUTH_REVOKE_PATH: Final = "/v1/oauth/token/revoke"
CREATE_API_KEY_PATH: Final = "/api/oauth/claude_cli/create_api_key"
OAUTH_LOCK_STALE: Final = 10.0  # seconds: an older lock directory is abandoned (Claude's `stale`)
OAUTH_LOCK_ATTEMPTS: Final = 60  # tries, 0.5 s apart, for a lock someone else holds
OAUTH_FRESH_MARGIN: Final = 300.0  # seconds: a host token expiring sooner is refreshed
LOGIN_BODY_LIMIT: Final = 1 << 20  # bytes of a token request or answer the relay reads whole
PROXY_IDLE_TIMEOUT: Final = 300.0  # seconds a kept-alive connection to the relay may idle
UPSTREAM_TIMEOUT: Final = 600.0  # seconds between bytes of an answer (a long model turn streams)
# What a placeholder says about itself: a person who finds one knows where it came from.
PLACEHOLDER_MARK: Final = "claudebox"


# Host variables that may enter the sandbox (when set on the host).
ENV_ALLOWLIST: Final = (
    "HOME",
    "PATH",
    "TERM",
    "EDITOR",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NUMERIC",
    "LC_TIME",
    "TZ",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
    "USER",
    "SHELL",
    "XDG_RUNTIME_DIR",
)
# The home's caches kept per project (inside the instance, never seen by another project): the
# XDG cache (nix's, pip's, go's, uv's, yarn's…), comma's state, npm's and cargo's downloads.
PROJECT_CACHES: Final = (
    (".cache", "cache"),
    (".local/state", "state"),
    (".npm", "npm"),
    (".cargo/registry", "cargo/registry"),
    (".cargo/git", "cargo/git"),
)
# Host variables naming a path that enter resolved into /nix/store, where they lead there (NixOS:
# /run/current-system/sw/lib/locale/locale-archive, TZDIR=/etc/zoneinfo); /run is not inside.
STORE_RESOLVED_ENV: Final = ("LOCALE_ARCHIVE", "TZDIR")
# Claude Code's own settings in the sandbox, set whatever the host or a profile says (verified on
# Claude Code 2.1.197): CLAUDE_CODE_SANDBOXED=1 counts the workspace as trusted, so no "Do you
# trust the files in this folder?" follows claudebox's own question; DISABLE_INSTALLATION_CHECKS=1
# stops the warning, on every start, that ~/.local/bin/claude (the native installer's launcher,
# never inside) is missing; nixpkgs' claude-code wrapper sets the same.
CLAUDE_ENV: Final[Mapping[str, str]] = {
    "CLAUDE_CODE_SANDBOXED": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
}
# Defined by the sandbox itself, whatever the host or a profile says (a host value would point
# at host paths, or be the login the relay holds).
SANDBOX_DEFINED_ENV: Final = (
    "HOME",
    "PATH",
    "SHELL",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "NO_PROXY",
    "no_proxy",
    *PROXY_VARIABLES,
    *(name.lower() for name in PROXY_VARIABLES),
    *LOGIN_VARIABLES,
    BASE_URL_VARIABLE,
    *CLAUDE_ENV,
)
# Variables the sandbox sets for nix that a profile's env adds to rather than replaces: (the
# separator, whether the profile's entries go first). NIX_CONFIG: a later setting wins;
# NIX_PATH: the first entry for a name wins, so <nixpkgs> stays the pin unless a profile names one.
NIX_JOINED_ENV: Final[Mapping[str, tuple[str, bool]]] = {
    "NIX_CONFIG": ("\n", False),
    "NIX_PATH": (":", True),
}
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

# Inside the project: read-only when present (the host later executes or obeys them); created
# during a session, they are reported afterwards.
PROTECTED_PROJECT_PATHS: Final = (
    ".gitmodules",
    ".envrc",
    ".vscode",
    ".idea",
    ".mcp.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".claude/commands",
    ".claude/agents",
    ".claude/skills",
    ".claude/hooks",
)
# What a survey notes in each directory: a repository (a .git, or the directory itself laid out
# as one: git finds a git directory wherever HEAD, objects and refs are), and what the host's
# tools obey there.
GIT_DIR_LAYOUT: Final = frozenset({"HEAD", "objects", "refs"})
SURVEY_NAMES: Final = frozenset(
    {
        ".git",
        "commondir",  # (HEAD and a commondir: the objects and refs are there)
        *GIT_DIR_LAYOUT,
        *(path.split("/")[0] for path in PROTECTED_PROJECT_PATHS),
    }
)
# In every git directory the host's git reads (the repository's, each linked worktree's admin
# directory, each submodule's): config and hooks are read-only; the redirections (commondir:
# read config elsewhere) too.
GIT_DIR_PROTECTED: Final = ("config", "config.worktree", "hooks", "commondir")
# Absent at launch, these are made for the session with text git reads as if there were none
# (commondir "." names the git directory itself; an empty config adds nothing), read-only: what
# a session would write there would act on the host's git while the session runs.
GIT_PLACEHOLDERS: Final[Mapping[str, str | None]] = {"commondir": ".", "config.worktree": ""}
# git configuration a session may write and the host's git may then read unreviewed: keys that
# only describe the repository (everything else, e.g. core.fsmonitor, runs or redirects).
GIT_INERT_KEYS: Final = (
    "core.repositoryformatversion",
    "core.filemode",
    "core.bare",
    "core.logallrefupdates",
    "core.ignorecase",
    "core.precomposeunicode",
    "core.symlinks",
    "core.worktree",  # checked: it must name the git directory's own work tree
    "extensions.objectformat",
    "extensions.worktreeconfig",
    "remote.*.url",
    "remote.*.fetch",
    "remote.*.tagopt",
    "branch.*.remote",
    "branch.*.merge",
    "submodule.*.path",
    "submodule.*.url",
    "submodule.*.active",
    "submodule.*.branch",
    "submodule.*.update",  # checked: a "!command" value runs it
    "submodule.*.ignore",
    "submodule.*.shallow",
)
GIT_SAFE_SUBMODULE_UPDATES: Final = ("checkout", "rebase", "merge", "none")
# A git directory's stores that hold no git directory of a submodule (and may be large).
GIT_DIR_STORES: Final = frozenset({"objects", "refs", "logs", "info", "hooks", "lfs"})
MODULES_DIRECTORY_LIMIT: Final = 10_000
GIT_CONFIG_LIMIT: Final = 1 << 20
GIT_CONFIG_NAMES: Final = frozenset({"config", "config.worktree", ".gitmodules"})
GIT_INCLUDE_LIMIT: Final = 2_000  # git config files with includes read at a launch
GIT_TIMEOUT: Final = 10.0  # seconds for a host git command on what a session wrote
COMMAND_TIMEOUT: Final = 30.0  # seconds for the commands a launch starts together (git, openssl)
# git's index (gitformat-index(5); read-cache.c): an entry is a gitlink when its type bits
# (stat.S_IFMT) are these, whatever its permission bits; git validates no other mode on read.
GIT_INDEX_GITLINK: Final = 0o160000
GIT_INDEX_MAX_BYTES: Final = 256 << 20
GIT_INDEX_VERSIONS: Final = (2, 3, 4)
GIT_HASH_SIZES: Final[Mapping[int, str]] = {20: "sha1", 32: "sha256"}  # name bytes -> hash
GIT_ENTRY_EXTENDED: Final = 0x4000  # entry flags: 16 more bits of flags follow
GIT_ENTRY_NAME_LENGTH: Final = 0xFFF  # entry flags: the name's length, this when longer
GIT_ENTRY_KNOWN_EXTENDED: Final = 0x6000  # intent-to-add, skip-worktree: git dies on others
QUARANTINE_SUFFIX: Final = ".claudebox-quarantined"
# Numbered names tried before a random one: a session can make any number of them beforehand.
QUARANTINE_NUMBERED: Final = 100
# The survey of the project's tree for git repositories (every .git is protected): its bounds.
SURVEY_DIRECTORY_LIMIT: Final = 250_000  # about 2.5 million files: ~3 s the first time
SURVEY_REPOSITORY_LIMIT: Final = 1_000  # each costs a few mounts
SURVEY_COARSE_NS: Final = 2_000_000_000  # file timestamps tick coarsely (and ext3's by second)
SURVEY_FILE_LIMIT: Final = 256 << 20
REVIEW_FINDINGS_SHOWN: Final = 40
ROOT_FILE_LIMIT: Final = 4096 + 1  # an instance's root file: one path (PATH_MAX) and a newline

# Read-only pieces of /etc (bound with -try: any may be absent). /etc/static is NixOS's chain.
# passwd and group are the sandbox's own (passwd_text, group_text): the host's name every account.
ETC_READ_ONLY: Final = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/zoneinfo",
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
# /proc files that name the host's kernel keys or identify the machine's boot, each masked by a
# file of the sandbox's own: /proc/keys and /proc/key-users list every key the user may view
# (the host's keyrings by name and serial: the keyring system calls are refused, their names
# stay outside too); the kernel's command line becomes an empty one and the boot id a random
# UUID, new each session (programs read it to tell a reboot: every session's processes are new).
PROC_KEYS: Final = "/proc/keys"
PROC_KEY_USERS: Final = "/proc/key-users"
PROC_CMDLINE: Final = "/proc/cmdline"
PROC_BOOT_ID: Final = "/proc/sys/kernel/random/boot_id"


class Treatment(enum.Enum):
    """How an entry of ~/.claude appears inside (~/.claude inside is the project's own)."""

    PER_PROJECT = "per-project"  # the project's own, in its instance; the host's stays outside
    READ_ONLY = "read-only"  # the host's entry, bound read-only over the project's
    LAYERED = "layered"  # the host's, rewritten at each launch with the project's changes on top
    OVERLAID = "overlaid"  # the host's below, the project's writes on top (an overlay)
    LOGIN = "login"  # this session's placeholders; the real login stays with claudebox's relay


class Kind(enum.Enum):
    """What a host path is, seen without following symlinks."""

    DIR = "directory"
    FILE = "file"
    LINK = "symlink"
    OTHER = "special file"
    MISSING = "missing"


# ~/.claude inside is the project's own directory (its instance's claude/). The host's entries
# come in read-only over it, but for these: the project keeps its own (transcripts, history,
# caches: never another project's), settings.json is the host's with the project's changes on
# top, plugins/ the host's with the project's own installs over it, and the login is the
# relay's placeholders. An entry not named here is the host's, read-only (whatever else the
# host keeps there).
CLAUDE_STATE_TABLE: Final[Mapping[str, Treatment]] = {
    "projects": Treatment.PER_PROJECT,
    "history.jsonl": Treatment.PER_PROJECT,
    "todos": Treatment.PER_PROJECT,
    "file-history": Treatment.PER_PROJECT,
    "shell-snapshots": Treatment.PER_PROJECT,
    "session-env": Treatment.PER_PROJECT,
    "sessions": Treatment.PER_PROJECT,
    "debug": Treatment.PER_PROJECT,
    "plans": Treatment.PER_PROJECT,
    "paste-cache": Treatment.PER_PROJECT,
    "backups": Treatment.PER_PROJECT,
    "statsig": Treatment.PER_PROJECT,
    "ide": Treatment.PER_PROJECT,
    "tasks": Treatment.PER_PROJECT,
    "telemetry": Treatment.PER_PROJECT,
    ".oauth_refresh.lock": Treatment.PER_PROJECT,  # Claude's own lock of its login refresh
    ".credentials.json": Treatment.LOGIN,
    # Claude writes /config and /model changes here: the project keeps its own on the host's.
    "settings.json": Treatment.LAYERED,
    # Named, so they come in whatever else the host keeps there.
    "CLAUDE.md": Treatment.READ_ONLY,
    "agents": Treatment.READ_ONLY,
    "commands": Treatment.READ_ONLY,
    "skills": Treatment.READ_ONLY,
    "plugins": Treatment.OVERLAID,  # what is installed inside stays with the project
    "hooks": Treatment.READ_ONLY,
    "output-styles": Treatment.READ_ONLY,
    "rules": Treatment.READ_ONLY,
}
CREDENTIALS: Final = ".credentials.json"
# The host's ~/.claude is read at launch up to this many entries, and at most CLAUDE_HOME_SHOWN of
# them come in (each is a mount): a directory a session once flooded costs a launch nothing.
CLAUDE_HOME_SCAN_LIMIT: Final = 4096
CLAUDE_HOME_SHOWN: Final = 64
# Keys of the host's ~/.claude.json that the project's own follows at every launch, unless the
# project changed one (never servers, projects or env values).
CLAUDE_JSON_USER_KEYS: Final = (
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
    "tipsHistory",
    "hasSeenTasksHint",
    "diffTool",
    "autoConnectIde",
    "autoInstallIdeExtension",
    "messageIdleNotifThresholdMs",
    "showExpandedTodos",
)
SESSION_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The treatments of the host's ~/.claude entries that bring something of the host's in.
CLAUDE_FROM_HOST: Final = (Treatment.READ_ONLY, Treatment.OVERLAID, Treatment.LAYERED)
TRANSCRIPTS_READ: Final = 10000  # a project's transcripts counted or searched, at most
LAYERS_FILE: Final = "layers.json"  # in the instance, beside claude/: the host's values last seen
OVERLAY_WORK_SUFFIX: Final = ".work"  # an overlay's work directory, beside its upper one

# Profiles: ~/.claudebox/profiles/NAME.json
PROFILE_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]+")
PROFILE_VARIABLE: Final = "CLAUDEBOX_PROFILE"
NETWORK_VARIABLE: Final = "CLAUDEBOX_NETWORK"
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
    "allow_domains",
    "host_ports",
    "mcp_servers",
)
MOUNT_KEYS: Final = ("src", "dst", "mode")
PROFILE_MAX_BYTES: Final = 1 << 20
PROFILE_MAX_DEPTH: Final = 16  # JSON nesting (a profile is flat; deeper is a mistake)
PROFILE_MAX_EXTENDS: Final = 32
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
# Passed as claude's flag settings (--settings JSON): the audit the user confirmed is the
# permission layer, so Claude's "Bypass Permissions mode" warning (default answer "No, exit") is
# skipped. Claude stores that acceptance in ~/.claude/settings.json, which it would then keep.
CLAUDE_FLAG_SETTINGS: Final[Mapping[str, object]] = {"skipDangerousModePermissionPrompt": True}
# Claude's ~/.claude.json remembers "Do you want to use this API key?" answers by the key's end.
API_KEY_SUFFIX_LENGTH: Final = 20

# File descriptors: generated data from 10, host directories bound by descriptor from 30.
LOGIN_SECRETS_FD: Final = 9  # --stage reads the login's values here (a pasted --dry-run)
FIRST_DATA_FD: Final = 10
FIRST_BIND_FD: Final = 30
# bwrap's options (0.8's and later ones) by how many words follow each (bwrap --help), and those
# whose first word is a descriptor bwrap uses: a pasted --dry-run's stage keeps only these.
BWRAP_OPTION_WORDS: Final[Mapping[str, int]] = {
    option: count
    for count, options in enumerate(
        (
            "--help --version --unshare-all --share-net --unshare-user --unshare-user-try"
            " --unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup"
            " --unshare-cgroup-try --disable-userns --assert-userns-disabled --clearenv"
            " --new-session --die-with-parent --as-pid-1 --level-prefix",
            "--args --userns --userns2 --pidns --sync-fd --seccomp --add-seccomp-fd --block-fd"
            " --userns-block-fd --info-fd --json-status-fd --uid --gid --hostname --chdir"
            " --unsetenv --lock-file --remount-ro --exec-label --file-label --proc --dev --tmpfs"
            " --mqueue --dir --cap-add --cap-drop --perms --size --argv0 --overlay-src"
            " --tmp-overlay --ro-overlay",
            "--bind-fd --ro-bind-fd --file --bind-data --ro-bind-data --setenv --bind --bind-try"
            " --dev-bind --dev-bind-try --ro-bind --ro-bind-try --symlink --chmod",
            "--overlay",
        )
    )
    for option in options.split()
}
BWRAP_DESCRIPTOR_OPTIONS: Final = frozenset(
    "--args --userns --userns2 --pidns --sync-fd --seccomp --add-seccomp-fd --block-fd"
    " --userns-block-fd --info-fd --json-status-fd --bind-fd --ro-bind-fd --file --bind-data"
    " --ro-bind-data".split()
)
COMMAND_DEPTH: Final = 2  # the stage execs bwrap -> bwrap's pid-1 init -> the command
PR_SET_PDEATHSIG: Final = 1

# The launch stage: namespaces and mounts (linux/sched.h, linux/mount.h, statvfs.h).
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWNET: Final = 0x40000000
MS_RDONLY: Final = 0x1
MS_NOSUID: Final = 0x2
MS_NODEV: Final = 0x4
MS_NOEXEC: Final = 0x8
MS_REMOUNT: Final = 0x20
MS_BIND: Final = 0x1000
MS_REC: Final = 0x4000
MS_PRIVATE: Final = 0x40000
# statvfs f_flag bits -> the mount flags a remount must repeat (locked ones may not be dropped).
STATVFS_MOUNT_FLAGS: Final[Mapping[int, int]] = {
    0x1: MS_RDONLY,
    0x2: MS_NOSUID,
    0x4: MS_NODEV,
    0x8: 0x8,  # noexec
    0x10: 0x10,  # synchronous
    0x40: 0x40,  # mandlock
    0x400: 0x400,  # noatime
    0x800: 0x800,  # nodiratime
    0x1000: 0x200000,  # relatime
}

# seccomp: fail ioctl(TIOCSTI) and ioctl(TIOCLINUX) with EPERM (terminal injection), and the
# kernel keyrings' add_key, request_key and keyctl with EPERM too: the host user's keyrings are
# reachable by serial number from any user namespace of the same uid (linking one into the
# sandbox's session keyring gives possession; a key added to one appears on the host). flatpak
# (common/flatpak-run.c) and ai-jail (src/sandbox/seccomp.rs) deny the three with EPERM, as
# Docker's default profile does: programs meet it in every container and fall back.
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
# machine -> ((audit arch, ioctl, (add_key, request_key, keyctl), reject x32 syscalls), ...):
# every ABI the kernel accepts from a process of that machine, native first, with its syscall
# numbers (x86_64: syscall_64.tbl, i386: syscall_32.tbl; aarch64: asm-generic/unistd.h, its
# 32-bit compat: arm's syscall.tbl); any other arch value is killed, never let through.
SECCOMP_ABIS: Final[Mapping[str, tuple[tuple[int, int, tuple[int, int, int], bool], ...]]] = {
    "x86_64": ((0xC000003E, 16, (248, 249, 250), True), (0x40000003, 54, (286, 287, 288), False)),
    "aarch64": (
        (0xC00000B7, 29, (217, 218, 219), False),
        (0x40000028, 54, (309, 310, 311), False),
    ),
}
# bwrap keeps the caller's session keyring, whose keys are readable inside: the child joins a
# new, empty one first (keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL), before the filter applies;
# machine -> the native keyctl's number).
KEYCTL_SYSCALLS: Final[Mapping[str, int]] = {
    machine: abis[0][2][2] for machine, abis in SECCOMP_ABIS.items()
}
KEYCTL_JOIN_SESSION_KEYRING: Final = 1

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
# --check's allowlist probe: argv PORT (the proxy's, inside). Prints one JSON report: the
# proxy's answer to CONNECT for a name on no allowlist, the resolver's answer for it (its
# RCODE) and a direct connection's fate.
ALLOWLIST_PROBE: Final = """\
import errno, json, socket, struct, sys
report = {}
name = b"".join(bytes([len(label)]) + label for label in b"claudebox-check.invalid".split(b"."))
query = struct.pack("!6H", 0x1234, 0x0100, 1, 0, 0, 0) + name + b"\\0" + struct.pack("!2H", 1, 1)
resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
resolver.settimeout(5)
try:
    resolver.sendto(query, ("127.0.0.1", 53))
    answer = resolver.recv(512)
    report["dns"] = answer[3] & 0xF if answer[:2] == query[:2] else "a foreign answer"
except socket.timeout:
    report["dns"] = "timed out"
except OSError as error:
    report["dns"] = errno.errorcode.get(error.errno or 0, str(error))
try:
    proxy = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    proxy.sendall(b"CONNECT claudebox-check.invalid:443 HTTP/1.1\\r\\n\\r\\n")
    reply = b""
    while True:
        chunk = proxy.recv(4096)
        if not chunk:
            break
        reply += chunk
    report["proxy"] = reply.decode(errors="replace")
except OSError as error:
    report["proxy"] = f"error: {error}"
direct = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
direct.settimeout(3)
try:
    direct.connect(("192.0.2.1", 9))
    report["direct"] = "connected"
except socket.timeout:
    report["direct"] = "timed out"
except OSError as error:
    report["direct"] = errno.errorcode.get(error.errno or 0, str(error))
print(json.dumps(report))
"""
# --check's login probe: through $HTTPS_PROXY to api.anthropic.com, TLS verified with the
# session CA inside ($NODE_EXTRA_CA_CERTS), a request with a key claudebox did not issue. Prints
# one JSON report: the proxy's answer, the TLS outcome, the relay's answer.
LOGIN_PROBE: Final = """\
import base64, json, os, socket, ssl, urllib.parse
report = {}
def head(sock):
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")
try:
    proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    sock = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
    auth = ""
    if proxy.username:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        auth = f"Proxy-Authorization: Basic {token}\\r\\n"
    sock.sendall(f"CONNECT api.anthropic.com:443 HTTP/1.1\\r\\n{auth}\\r\\n".encode())
    report["connect"] = head(sock).split("\\r\\n")[0]
    context = ssl.create_default_context(cafile=os.environ["NODE_EXTRA_CA_CERTS"])
    tls = context.wrap_socket(sock, server_hostname="api.anthropic.com")
    report["tls"] = "verified"
    tls.sendall(
        b"GET /api/hello HTTP/1.1\\r\\nHost: api.anthropic.com\\r\\n"
        b"x-api-key: sk-ant-api03-not-issued-by-claudebox\\r\\nConnection: close\\r\\n\\r\\n"
    )
    report["answer"] = head(tls).split("\\r\\n")[0]
except (OSError, KeyError, ValueError) as error:
    report["error"] = str(error)
print(json.dumps(report))
"""
HELP_WIDTH: Final = 92
FISH_PROFILE_LISTING: Final = (
    '\'(ls $HOME/.claudebox/profiles 2>/dev/null | string replace -r "[.]json\\$" "")\''
)
COMPLETION_SHELLS: Final = ("bash", "zsh", "fish")
LAUNCH_QUESTION: Final = "Launch this sandbox? [y/N] "
SECRET_MOUNT_QUESTION: Final = "The profile mounts secret paths (see above). Launch anyway? [y/N] "
EXIT_RUNTIME: Final = 1
EXIT_USAGE: Final = 2
EXIT_MISSING: Final = 127
EXIT_INTERRUPTED: Final = 130
# Writing claudebox's state failed: the fix by errno ({mount}: the file system's mount point);
# any other errno says its reason alone.
STATE_WRITE_FIXES: Final[Mapping[int, str]] = {
    errno.ENOSPC: (
        "no space left on {mount}; free some there (claudebox --gc removes the state of "
        "projects that no longer exist; claudebox --gc --dry-run lists it with sizes)"
    ),
    errno.EDQUOT: (
        "your disk quota on {mount} is used up; free some of it (claudebox --gc removes the "
        "state of projects that no longer exist; claudebox --gc --dry-run lists it with sizes)"
    ),
    errno.EROFS: (
        "{mount} is mounted read-only; claudebox keeps its state in ~/.claudebox, which must "
        "be writable"
    ),
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
}
# The stage's unshare failed: why, by errno ({limits}: the sysctls' values here).
UNSHARE_FAILURES: Final[Mapping[int, str]] = {
    errno.ENOSPC: (
        "a namespace count limit is reached (ENOSPC from unshare with CLONE_NEWUSER: the user "
        "namespaces of one user, counted in this namespace and every one above it, reached "
        "user.max_user_namespaces; the sysctls here: {limits}); end sandboxes or containers "
        "you no longer need, or raise the limit: sysctl -w user.max_user_namespaces=10000"
    ),
    errno.EPERM: (
        "the kernel does not let this user create user namespaces (the sysctls "
        "kernel.unprivileged_userns_clone or kernel.apparmor_restrict_unprivileged_userns, or "
        "a seccomp filter of the container claudebox runs in); allow them, or run claudebox "
        "outside that container"
    ),
    errno.EUSERS: (
        "user namespaces are nested 32 deep here, the kernel's limit; run claudebox outside "
        "the sandbox or container it runs in"
    ),
}
NAMESPACE_LIMITS: Final = ("max_user_namespaces", "max_mnt_namespaces", "max_net_namespaces")


class ClaudeboxError(Exception):
    """The one error type: its message names the cause and the fix; main prints it once."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# === the network: tiers, their blocks, the allowlist and the relay ============================
# One chapter: its constants, its values (a NetworkPolicy per tier: what the tier is, for every
# part of claudebox that decides by tier), its pure builders (plan_network: the plan's network
# part) and its edge (routes, pasta, the stage's sockets, the relay, the control socket). A new
# tier is one NETWORK_POLICIES row plus its edge code.


# --- the network: constants -------------------------------------------------------------------

# inet tier: pasta's link inside the sandbox, in the benchmarking range no LAN uses (RFC 2544).
INET_ADDRESS: Final = "198.18.0.2"
INET_PREFIX: Final = 30
INET_GATEWAY: Final = "198.18.0.1"
INET_DNS: Final = INET_GATEWAY  # pasta relays DNS sent here to the host's resolver
INET_RESOLV_CONF: Final = f"nameserver {INET_DNS}\n"
# Unreachable inside the inet tier whatever the host routes (each with why): RFC 1918, the
# Tailscale/CGNAT range, link-local, multicast and the reserved range with broadcast. The host's
# own addresses and every network it routes other than through a default route join them at
# launch (inet_blocked_set), and while the session runs (RouteWatcher).
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
# 127.0.0.1: every one of them is switched off. -f: stay our child (we reap and kill it).
PASTA_OPTIONS: Final = (
    "--config-net",
    "--quiet",
    "--foreground",
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
PASTA_READY_TIMEOUT: Final = 30.0  # seconds for pasta to configure the sandbox's network
# No resolver inside the none tier (a DNS tunnel is a way out): queries to the
# sandbox's own loopback fail at once (nothing listens there), so clients fall back to the proxy
# without waiting.
NO_RESOLVER_CONF: Final = (
    "# claudebox: no DNS inside; HTTP and HTTPS go through $HTTPS_PROXY\nnameserver 127.0.0.1\n"
)
# allowlist tier: tools that know nothing of proxies. The stage opens a UDP socket on the
# sandbox's 127.0.0.1:53 (the resolver, answered by the relay: allowed names only, each with an
# address of its own in SYNTHETIC_NETWORK; no question ever leaves) and TCP listeners on
# 0.0.0.0 inside for TRANSPARENT_PORTS and each port an allow entry names: a connection's local
# address tells the relay which name it goes to. Spare sockets, unbound, let the relay listen on
# a port allowed while the session runs.
ALLOWLIST_RESOLV_CONF: Final = (
    "# claudebox: names on this session's allowlist resolve here (IPv4), no others\n"
    "nameserver 127.0.0.1\n"
)
RESOLVER_PORT: Final = 53
TRANSPARENT_PORTS: Final = (80, 443)
TRANSPARENT_SPARES: Final = 8  # unbound sockets for ports allowed while the session runs
SYNTHETIC_PREFIX: Final = "127.77."  # 127.77.0.0/16: the resolver's answers (never 127.0.0.1)
SYNTHETIC_NAMES_LIMIT: Final = 4096  # names answered per session; then SERVFAIL, logged
RESOLVER_TTL: Final = 300  # seconds (an answer stays valid for the whole session)
RESOLVER_LOG_LIMIT: Final = 10000  # refused questions logged per session; then one line
DNS_HEADER: Final = struct.Struct("!HHHHHH")  # id, flags, question/answer/authority/extra counts
DNS_QR: Final = 0x8000  # an answer
DNS_AA: Final = 0x0400
DNS_RD: Final = 0x0100
DNS_RA: Final = 0x0080
DNS_NOERROR: Final = 0  # answer codes (RFC 1035 4.1.1)
DNS_FORMERR: Final = 1
DNS_SERVFAIL: Final = 2
DNS_NXDOMAIN: Final = 3
DNS_NOTIMP: Final = 4
DNS_TYPE_A: Final = 1
DNS_CLASS_IN: Final = 1
DNS_NAME_LIMIT: Final = 255  # bytes of a name as sent (RFC 1035 2.3.4)
TLS_HELLO_LIMIT: Final = 32 << 10  # bytes of a ClientHello the relay peeks at before it decides
TLS_HANDSHAKE: Final = 22
TLS_CLIENT_HELLO: Final = 1
TLS_SERVER_NAME: Final = 0  # the server_name extension (RFC 6066 3)
# What Claude Code 2.1.197 itself contacts (read from its binary, and seen at its proxy): every
# allowlist session may reach these. Telemetry (http-intake.logs.us5.datadoghq.com) is left out:
# Claude works without it.
CLAUDE_DOMAINS: Final[Mapping[str, str]] = {
    "api.anthropic.com": "the API, feature flags, usage metrics, API-key login",
    "platform.claude.com": "OAuth login and token refresh",
    "claude.ai": "claude.ai accounts, remote sessions",
    "mcp-proxy.anthropic.com": "claude.ai's MCP connectors",
    "downloads.claude.ai": "the official plugin marketplace",
}
CLAUDE_DOMAINS_ORIGIN: Final = "Claude Code's own"
ALLOW_DEFAULT_PORTS: Final = (80, 443)
# A domain entry: a name, or *. and a name (its subdomains), either with :PORT; or an IPv4
# address. Lower case (entries are folded), labels of letters, digits, - and _.
DOMAIN_LABEL: Final = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
DOMAIN_NAME_PATTERN: Final = re.compile(rf"{DOMAIN_LABEL}(?:\.{DOMAIN_LABEL})*")
IPV4_LITERAL_PATTERN: Final = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# The proxy never connects to what inet blocks, nor to the host's loopback or "this network".
RELAY_BLOCKED: Final[Mapping[str, str]] = {
    "0.0.0.0/8": "(this network)",
    "127.0.0.0/8": "(loopback: the host's own services)",
}
PROXY_HEAD_LIMIT: Final = 64 << 10  # bytes of a request's line and headers
PROXY_TIMEOUT: Final = 30.0  # seconds to send a whole request head, and to connect upstream
RELAY_MAX_CONNECTIONS: Final = 256
RELAY_STALL_TIMEOUT: Final = 600.0  # seconds a relayed side may take nothing before both end
REASON_PHRASE_LIMIT: Final = 600  # characters of a refusal's status line reason phrase
REFUSAL_LINGER: Final = 2.0  # seconds a refused client's further bytes are read and dropped
RELAY_STOP_TIMEOUT: Final = 2.0  # seconds the supervisor waits for relay threads at the end
RELAY_LOGS_KEPT: Final = 20  # per instance; older session logs are removed
RELAY_LOG_PATTERN: Final = re.compile(r"[0-9]{8}-[0-9]{6}-([1-9][0-9]{0,9})\.log")  # TIME-PID
# claudebox allow and claudebox log reach a running session through its supervisor's control
# socket, control-PID.sock in the project's instance directory (which no sandbox sees; 0600):
# one JSON line each way, bounded in size and time on both sides.
CONTROL_SOCKET_PATTERN: Final = re.compile(r"control-([1-9][0-9]{0,9})\.sock")
CONTROL_REQUEST_LIMIT: Final = 4096  # bytes of a request line
CONTROL_ANSWER_LIMIT: Final = 1 << 20  # bytes of an answer line (an allowlist can be long)
CONTROL_TIMEOUT: Final = 5.0  # seconds either side waits for the other's whole line
ALLOW_ORIGIN: Final = "claudebox allow"  # the origin of a rule added while the session runs
LOG_POLL_INTERVAL: Final = 0.2  # seconds claudebox log waits for more of a growing log
LOG_LIVENESS_INTERVAL: Final = 1.0  # seconds between its checks that the session still runs
LOG_LINE_LIMIT: Final = 64 << 10  # bytes of a log line claudebox log holds back for its end
STATUS_PHRASES: Final[Mapping[int, str]] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    502: "Bad Gateway",
}
# Request headers meant for the proxy itself or for one connection (RFC 9110 7.6.1): not sent on.
HOP_BY_HOP_HEADERS: Final = (
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
)
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
IFF_UP: Final = 0x1
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
RTA_IP_PROTO: Final = 27
RTA_DPORT: Final = 29
RTA_NH_ID: Final = 30
RTN_UNICAST: Final = 1
RTN_LOCAL: Final = 2
RTN_BROADCAST: Final = 3
RTN_UNREACHABLE: Final = 7
RTPROT_KERNEL: Final = 2
RTPROT_STATIC: Final = 4
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
RTM_F_LOOKUP_TABLE: Final = 0x1000  # RTM_GETROUTE: the answer names the matched route's table
RTM_F_FIB_MATCH: Final = 0x2000  # RTM_GETROUTE: answer with the route the lookup matched
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
# inet: the supervisor follows the host's routing while a session runs (RouteWatcher). It hears
# of IPv4 address, route and rule changes, waits until none came for ROUTES_QUIET (a VPN adds
# its routes one by one) but no longer than ROUTES_SETTLE, then blocks what the host now routes.
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV4_ROUTE: Final = 0x40
RTMGRP_IPV4_RULE: Final = 0x80
ROUTES_QUIET: Final = 0.01  # seconds
ROUTES_SETTLE: Final = 0.2  # seconds
# The pair a full-tunnel VPN installs (instead of replacing the default route): each half and
# its other half. The VPN adds them one after the other: a half alone is blocked only when its
# other half has not come within ROUTES_HALF_GRACE (a block stays for the session).
PAIR_HALVES: Final[Mapping[str, str]] = {"0.0.0.0/1": "128.0.0.0/1", "128.0.0.0/1": "0.0.0.0/1"}
ROUTES_HALF_GRACE: Final = 0.5  # seconds
ROUTES_READ_ATTEMPTS: Final = 3  # tries, ROUTES_QUIET apart, to read the host's routing
ROUTE_WATCH_PROTOCOLS: Final = (NETLINK_ROUTE, NETLINK_NETFILTER)
ALLOW_CONFIRM_FIX: Final = (
    "run claudebox allow in a terminal: a name is allowed only when you confirm it there"
)


class Tier(enum.Enum):
    """Network tier."""

    FULL = "full"
    INET = "inet"
    ALLOWLIST = "allowlist"
    NONE = "none"


DEFAULT_TIER: Final = Tier.INET
TIER_NAMES: Final = tuple(tier.value for tier in Tier)

# --- the network: values ----------------------------------------------------------------------


class Tunnel(enum.Enum):
    """What the relay's proxy connects to besides Claude's own hosts, by tier."""

    ANY = "any"  # full: wherever the host reaches
    UNBLOCKED = "unblocked"  # inet: anything the tier does not block
    LISTED = "listed"  # allowlist: the allowed names only
    NOTHING = "nothing"  # none: Claude's API only


class NetworkPolicy(NamedTuple):
    """What a network tier is, for every part of claudebox that decides by tier (the plan, the
    audit, the sandbox note, probing the host). No field has a default: a new tier states each,
    and one it forgets is an error at import, never the host's network by omission."""

    meaning: str  # the audit's network line
    note: str  # the sandbox note's network line (Claude reads it inside)
    tunnel: Tunnel  # what the relay's proxy reaches besides Claude's own hosts
    own_namespace: bool  # the stage's own network namespace (else the host's)
    pasta: bool  # pasta attaches to it: the internet through the host's default route
    blocks_routes: bool  # unreachable routes and nftables drops for what the host routes specially
    sealed: bool  # nftables drop every packet that does not stay on lo
    resolv_conf: str | None  # the sandbox's /etc/resolv.conf (None: the host's)
    takes_allowlist: bool  # allow rules (--allow-domain, the profile's allow_domains) apply
    carries_by_name: bool  # allowed names resolve inside; connections to them are carried
    host_ports: str  # why a profile's host_ports are not forwarded ("": they are)
    no_additions: str  # why claudebox allow adds nothing to a running session ("": it does)
    proxy_on_host: bool  # the proxy listens on the host's loopback (behind a session token)
    reads_routing: bool  # the host's routing is read: the relay never connects where it leads
    dangerous: bool  # the audit marks the tier red


NETWORK_POLICIES: Final[Mapping[Tier, NetworkPolicy]] = {
    Tier.FULL: NetworkPolicy(
        meaning="the host's network: its LAN, tailnet and loopback services are reachable",
        note="the host's network (the internet, the LAN and the host's own services).",
        tunnel=Tunnel.ANY,
        own_namespace=False,
        pasta=False,
        blocks_routes=False,
        sealed=False,
        resolv_conf=None,
        takes_allowlist=False,
        carries_by_name=False,
        host_ports="the profile's host_ports: the full tier reaches all of the host's loopback",
        no_additions="the full tier reaches every name already; nothing to allow",
        proxy_on_host=True,
        reads_routing=False,
        dangerous=True,
    ),
    Tier.INET: NetworkPolicy(
        meaning="the internet only: LAN, tailnet, link-local and host services unreachable",
        note="the internet only (IPv4, through pasta): the LAN, the tailnet, link-local\n"
        "  addresses and the host's own services are unreachable, on purpose.",
        tunnel=Tunnel.UNBLOCKED,
        own_namespace=True,
        pasta=True,
        blocks_routes=True,
        sealed=False,
        resolv_conf=INET_RESOLV_CONF,
        takes_allowlist=False,
        carries_by_name=False,
        host_ports="",
        no_additions="the inet tier reaches every public name already; nothing to allow",
        proxy_on_host=False,
        reads_routing=True,
        dangerous=False,
    ),
    Tier.ALLOWLIST: NetworkPolicy(
        meaning="only the domains below, through claudebox (its proxy, or by name for "
        "tools without one); no other address or name",
        note="only the domains listed below, through claudebox: tools that use a\n"
        f"  proxy go through {PROXY_URL} (set in HTTPS_PROXY, HTTP_PROXY and ALL_PROXY);\n"
        "  others reach the same names directly (IPv4 only): these names, and no other, resolve\n"
        "  inside, and connections to them on the ports listed (80 and 443 unless one is named)\n"
        "  are carried by claudebox, which checks the TLS server name or HTTP Host against the\n"
        "  name. No other address or name is reachable. A refused request gets HTTP 403 with\n"
        "  the reason in its status line. Do not look for a way round it (other hosts,\n"
        "  addresses, mirrors or tools): ask the user to run `claudebox allow NAME` (or\n"
        "  NAME:PORT) in another terminal in this project, then try again.",
        tunnel=Tunnel.LISTED,
        own_namespace=True,
        pasta=False,
        blocks_routes=False,
        sealed=True,
        resolv_conf=ALLOWLIST_RESOLV_CONF,
        takes_allowlist=True,
        carries_by_name=True,
        host_ports="",
        no_additions="",
        proxy_on_host=False,
        reads_routing=True,
        dangerous=False,
    ),
    Tier.NONE: NetworkPolicy(
        meaning="none: only Claude's API, through claudebox's relay (the nix daemon still "
        "downloads for you)",
        note="none: only Claude's own API, through claudebox's relay; loopback otherwise.\n"
        "  The nix daemon still downloads.",
        tunnel=Tunnel.NOTHING,
        own_namespace=True,
        pasta=False,
        blocks_routes=False,
        sealed=True,
        resolv_conf=NO_RESOLVER_CONF,
        takes_allowlist=False,
        carries_by_name=False,
        host_ports="the profile's host_ports are not forwarded: the network is none",
        no_additions="the none tier reaches only Claude's own hosts and takes no "
        "additions; start the session with --network allowlist (and --allow-domain NAME) instead",
        proxy_on_host=False,
        reads_routing=True,
        dangerous=False,
    ),
}


class Pasta(NamedTuple):
    """The inet tier's pasta, attached to the stage's namespaces by pid (-f: stays our child)."""

    program: str
    options: tuple[str, ...] = PASTA_OPTIONS

    def argv(self, target_pid: int, pid_file: str) -> list[str]:
        return [self.program, *self.options, "--pid", pid_file, str(target_pid)]


class AllowRule(NamedTuple):
    """One allowlist entry: a name (or *.suffix: its subdomains, or an IPv4 address) and the
    ports the proxy connects to for it."""

    pattern: str
    ports: tuple[int, ...]
    origin: str  # "Claude Code's own", "--allow-domain", "profile NAME"

    def matches(self, host: str, port: int) -> bool:
        if port not in self.ports:
            return False
        if self.pattern.startswith("*."):
            return host.endswith(self.pattern[1:]) and len(host) > len(self.pattern) - 1
        return host == self.pattern

    def describe(self) -> str:
        if self.ports == ALLOW_DEFAULT_PORTS:
            return self.pattern
        return ",".join(f"{self.pattern}:{port}" for port in self.ports)


class Relay(NamedTuple):
    """What the supervisor serves for the sandbox, relaying to the host side: the proxy (Claude's
    login for its own hosts in every tier; per tier, other names: CONNECT and plain HTTP) and the
    host ports (127.0.0.1:PORT inside reaches the host's 127.0.0.1:PORT). Each decision is
    logged."""

    tunnel: Tunnel
    rules: tuple[AllowRule, ...]  # allowlist: the allowed names
    host_ports: tuple[int, ...]
    blocked: tuple[BlockedPrefix, ...]  # the proxy never connects to these addresses
    log_dir: str  # one log per session in here
    login: Login
    on_host: bool = False  # full: the proxy listens on the host's loopback, behind a token

    @property
    def ports(self) -> tuple[int, ...]:
        """The loopback ports inside, in the order the stage hands their listeners over."""
        return () if self.on_host else (PROXY_PORT, *self.host_ports)

    @property
    def tier(self) -> Tier:
        return next(
            tier for tier, policy in NETWORK_POLICIES.items() if policy.tunnel is self.tunnel
        )


class ProxyRequest(NamedTuple):
    """A request the proxy read: CONNECT host:port, or a plain one to an absolute http:// URL."""

    method: str
    host: str  # lower case, no trailing dot
    port: int
    target: str  # the path and query of a plain request ("" for CONNECT)
    version: str
    headers: tuple[tuple[str, str], ...]

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


class Refusal(NamedTuple):
    """What the proxy answers instead of connecting: an HTTP status and the reason (logged)."""

    status: int
    reason: str

    @property
    def phrase(self) -> str:
        """The status line's reason phrase: the reason itself, since that line is what tools
        print (pip, wget, curl -v, Node's statusMessage) and the body is what they drop.
        Printable ASCII only (a reason may quote what the client sent), and bounded."""
        text = "claudebox: " + self.reason.replace("\u2026", "...")
        text = "".join(char if " " <= char <= "~" else "?" for char in text)
        if len(text) > REASON_PHRASE_LIMIT:
            text = text[: REASON_PHRASE_LIMIT - 3] + "..."
        return text

    def response(self) -> bytes:
        body = f"claudebox: {self.reason}\n".encode()
        challenge = (
            f'Proxy-Authenticate: Basic realm="{PROXY_USER}"\r\n' if self.status == 407 else ""
        )
        head = (
            f"HTTP/1.1 {self.status} {self.phrase}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"{challenge}Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode() + body


class HostAddress(NamedTuple):
    """One IPv4 address of the host (RTM_GETADDR): local, or a point-to-point peer."""

    address: str
    prefixlen: int
    device: str


class PolicyRule(NamedTuple):
    """One IPv4 policy routing rule (RTM_GETRULE): what matters is the table it looks up."""

    priority: int
    action: int  # FR_ACT_*: FR_ACT_TO_TBL looks up `table`
    table: int
    l3mdev: bool = False  # the table is the VRF device's: any table may be used


class HostRoute(NamedTuple):
    """One IPv4 route of any table (RTM_GETROUTE)."""

    destination: str  # CIDR
    table: int
    kind: int  # RTN_*
    protocol: int  # RTPROT_*
    scope: int  # RT_SCOPE_*
    nexthops: tuple[tuple[str | None, str | None], ...] = ()  # (gateway, device) each
    nexthop_id: int | None = None  # a nexthop object (RTA_NH_ID) instead of nexthops


class HostRouting(NamedTuple):
    """The host's IPv4 addresses, policy rules and routes of every table, read at launch (and
    by inet's RouteWatcher each time they change)."""

    addresses: tuple[HostAddress, ...] = ()
    rules: tuple[PolicyRule, ...] = ()
    routes: tuple[HostRoute, ...] = ()


class BlockedPrefix(NamedTuple):
    """A destination the inet tier keeps unreachable, and why ("via wg0", "(private range)")."""

    prefix: str
    origin: str

    def describe(self) -> str:
        return f"{self.prefix} {self.origin}"


class NetlinkRequest(NamedTuple):
    """Netlink messages the stage sends on `protocol`; every NLM_F_ACK one must succeed."""

    label: str  # names the request in an error
    protocol: int
    messages: bytes


class RunningSession(NamedTuple):
    """A running session of the project, as its control socket describes it."""

    pid: int  # its claudebox (the supervisor), which answers on the socket
    socket: str  # the control socket's name in the instance directory
    tier: Tier
    allowed: tuple[AllowRule, ...]  # its allowlist now (allowlist tier)


class ProfileEdit(NamedTuple):
    """claudebox allow --save: the profile file and its JSON with the entry added (None: an
    entry there allows it already)."""

    name: str
    path: str
    document: Mapping[str, object] | None
    new: bool  # no such file yet: it is made


class NetworkPart(NamedTuple):
    """The network's part of a plan: the tier's policy, the relay, pasta, what the stage blocks
    and seals, the notes of the audit and why the tier cannot be set up here."""

    policy: NetworkPolicy
    relay: Relay
    pasta: Pasta | None
    blocked: tuple[BlockedPrefix, ...]  # inet's routes and rules inside
    notes: tuple[str, ...]
    blockers: tuple[ClaudeboxError, ...]


class Transparent(NamedTuple):
    """The allowlist tier's sockets for tools that ignore the proxy, as the relay serves them."""

    listeners: list[tuple[socket.socket, int]]  # (listener on 0.0.0.0 inside, its port)
    resolver: socket.socket  # UDP, 127.0.0.1:53 inside
    spares: list[socket.socket]  # unbound TCP sockets of the sandbox's namespace


# --- the network: tiers and the plan's network part -------------------------------------------


def parse_tier(value: str, where: str) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        tiers = ", ".join(tier.value for tier in Tier)
        raise ClaudeboxError(
            f"{where}: unknown network tier {value!r}; use one of {tiers}", EXIT_USAGE
        ) from None


def choose_tier(
    flag: str | None, env: Mapping[str, str], profile: Profile | None, allow_flag: bool = False
) -> tuple[Tier, str]:
    """--network > --allow-domain (allowlist) > CLAUDEBOX_NETWORK > the profile's network >
    the profile's allow_domains (allowlist) > default, with where the answer came from.
    --allow-domain with another --network is a usage error: the flags contradict each other."""
    if flag:
        if allow_flag and not NETWORK_POLICIES[Tier(flag)].takes_allowlist:
            raise ClaudeboxError(
                f"--allow-domain chooses the allowlist network tier, but --network says {flag}; "
                "drop one of them (--network allowlist --allow-domain NAME is fine)",
                EXIT_USAGE,
            )
        return Tier(flag), "--network"
    if allow_flag:
        return Tier.ALLOWLIST, "--allow-domain"
    if env.get(NETWORK_VARIABLE):
        return parse_tier(env[NETWORK_VARIABLE], NETWORK_VARIABLE), NETWORK_VARIABLE
    if profile is not None and profile.network is not None:
        return profile.network[0], f"profile {profile.network[1]}"
    if profile is not None and profile.allow_domains:
        return Tier.ALLOWLIST, f"profile {profile.allow_domains[0][1]}"
    return DEFAULT_TIER, "default"


def network_blockers(host: HostFacts, policy: NetworkPolicy) -> tuple[ClaudeboxError, ...]:
    """Why the tier cannot be set up on this host (pasta and its device)."""
    blockers = []
    if policy.pasta:
        if host.pasta is None:
            blockers.append(
                ClaudeboxError(
                    "pasta not found on PATH: the inet network tier needs pasta; install passt "
                    "(nixpkgs/Debian: passt) or choose another tier with --network full (or "
                    "none)",
                    EXIT_MISSING,
                )
            )
        elif host.tun_error:  # (without pasta, its device is beside the point)
            blockers.append(
                ClaudeboxError(
                    f"/dev/net/tun is not usable ({host.tun_error}): pasta needs it for the inet "
                    "network tier; load the tun module (modprobe tun) and make /dev/net/tun "
                    "read-writable (0666), or choose another tier with --network full (or none)"
                )
            )
    return tuple(blockers)


def plan_blocked(host: HostFacts, tier: Tier) -> tuple[BlockedPrefix, ...]:
    """What inet's routes and rules block (the host's routing is there: plan_relay checked)."""
    if not NETWORK_POLICIES[tier].blocks_routes or host.routing is None:
        return ()
    return inet_blocked_set(host.routing)


def plan_relay(host: HostFacts, options: Options, instance: Instance) -> Relay:
    """The relay of every tier: Claude's login for its own hosts, what the tier lets the proxy
    reach besides, and the host ports (inet and allowlist)."""
    tier = options.tier
    policy = NETWORK_POLICIES[tier]
    profile = options.profile
    host_ports = tuple(port for port, _origin in profile.host_ports) if profile else ()
    if policy.host_ports:
        host_ports = ()
    if PROXY_PORT in host_ports:
        raise ClaudeboxError(
            f"host port {PROXY_PORT} is where claudebox's proxy listens inside; "
            f"remove {PROXY_PORT} from the profile's host_ports",
            EXIT_USAGE,
        )
    blocked: tuple[BlockedPrefix, ...] = ()
    if policy.reads_routing:
        if host.routing is None:
            raise ClaudeboxError(
                f"cannot read the host's IPv4 routing over netlink ({host.routing_error}): the "
                f"{tier.value} tier's relay refuses every network the host routes specially and "
                "will not start without knowing them; use --network full"
            )
        blocked = relay_blocked_set(host.routing)
    values = login_values(host.env, options.profile)
    login = Login(
        claude_dir=host.claude_home.dir,
        variables=tuple(name for name in LOGIN_VARIABLES if name in values),
        upstream=login_upstream(values),
        ca_bundle=host.system_ca_bundle or "",
        openssl=host.openssl or "openssl",
        instance=instance.id,
        account=account_of(host.claude_home.json),
    )
    return Relay(
        tunnel=policy.tunnel,
        rules=allow_rules(options) if policy.takes_allowlist else (),
        host_ports=host_ports,
        blocked=blocked,
        log_dir=instance.network_log,
        login=login,
        on_host=policy.proxy_on_host,
    )


def relay_notes(options: Options) -> list[str]:
    """What the chosen tier leaves unused of the profile's network keys."""
    profile = options.profile
    if profile is None:
        return []
    policy = NETWORK_POLICIES[options.tier]
    notes = []
    if profile.allow_domains and not policy.takes_allowlist:
        notes.append(
            f"the profile's allow_domains are not used: the network is {options.tier.value} "
            f"({options.tier_origin})"
        )
    if profile.host_ports and policy.host_ports:
        notes.append(policy.host_ports)
    return notes


def plan_network(host: HostFacts, options: Options, instance: Instance) -> NetworkPart:
    policy = NETWORK_POLICIES[options.tier]
    return NetworkPart(
        policy=policy,
        relay=plan_relay(host, options, instance),
        pasta=Pasta(host.pasta or "pasta") if policy.pasta else None,
        blocked=plan_blocked(host, options.tier),
        notes=tuple(relay_notes(options)),
        blockers=network_blockers(host, policy),
    )


# --- the network: the inet tier's blocked set: netlink dumps in, prefixes and requests out ----


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
    routes = [
        route_of(payload, links)
        for kind, _flags, payload in netlink_messages(dump)
        if kind == RTM_NEWROUTE
    ]
    return tuple(route for route in routes if route is not None)


def route_of(payload: bytes, links: Mapping[int, str]) -> HostRoute | None:
    """The route of one RTM_NEWROUTE message's payload; None when it is not IPv4."""
    if len(payload) < 12:
        raise ValueError("an RTM_NEWROUTE message is cut short")
    family, dst_len, _src, _tos, table, protocol, scope, route_type = struct.unpack_from(
        "=8B", payload
    )
    if family != socket.AF_INET:
        return None
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
    return HostRoute(
        destination=str(ipaddress.IPv4Network(f"{destination}/{dst_len}", strict=False)),
        table=u32_of(attributes[RTA_TABLE]) if RTA_TABLE in attributes else table,
        kind=route_type,
        protocol=protocol,
        scope=scope,
        nexthops=tuple(hops),
        nexthop_id=u32_of(attributes[RTA_NH_ID]) if RTA_NH_ID in attributes else None,
    )


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
    if route.kind in (RTN_LOCAL, RTN_BROADCAST):
        on = f" on {devices[0]}" if devices else ""
        what = "local to the host" if route.kind == RTN_LOCAL else "a broadcast address"
        return f"{table}({what}{on})"
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
    return destination == "0.0.0.0/0" or PAIR_HALVES.get(destination, "") in table_destinations


def route_lookup_message(address: str, port: int, seq: int) -> bytes:
    """RTM_GETROUTE for a TCP connection to ADDRESS:PORT with RTM_F_FIB_MATCH: the kernel looks
    it up as for a connection of this process (policy rules, its uid, no mark, the protocol and
    port) and answers with the route that matched (`ip route get fibmatch ADDRESS ipproto tcp
    dport PORT`), or an error when none would carry it."""
    flags = RTM_F_FIB_MATCH | RTM_F_LOOKUP_TABLE
    rtmsg = struct.pack("=8BI", socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, flags)
    attributes = (
        netlink_attribute(RTA_DST, ipaddress.IPv4Address(address).packed)
        + netlink_attribute(RTA_IP_PROTO, bytes([socket.IPPROTO_TCP]))
        + netlink_attribute(RTA_DPORT, struct.pack("!H", port))
    )
    return netlink_message(RTM_GETROUTE, NLM_F_REQUEST, seq, rtmsg + attributes)


def parse_route_answer(answer: bytes, links: Mapping[int, str]) -> HostRoute:
    """The route of the kernel's answer to route_lookup_message. OSError: the host has no
    route to the address (ENETUNREACH; or an unreachable, prohibit or blackhole route's
    error); ValueError: malformed or cut short."""
    if len(answer) < 16:
        raise ValueError(f"a route lookup's answer of {len(answer)} bytes")
    length, kind = struct.unpack_from("=IH", answer)
    if length < 16 or length > len(answer):
        raise ValueError(f"a route lookup's answer claims {length} bytes")
    payload = answer[16:length]
    if kind == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", payload) if len(payload) >= 4 else (0,)
        if error:
            raise OSError(-error, os.strerror(-error))
    route = route_of(payload, links) if kind == RTM_NEWROUTE else None
    if route is None:
        raise ValueError(f"a route lookup answered with a message of type {kind}")
    return route


def looked_up_origin(route: HostRoute, table_destinations: Container[str]) -> str | None:
    """Why the relay never connects through `route`, the route the host's lookup matched for an
    address (route_origin), or None when it is the host's way to the internet: a unicast
    default-like route (is_default_like; `table_destinations`: the destinations of its table,
    needed only for a half of the 0.0.0.0/1 + 128.0.0.0/1 pair). Local and broadcast
    addresses, and every other route, are what the inet tier blocks (inet_blocked_set)."""
    if route.kind == RTN_UNICAST and is_default_like(route.destination, table_destinations):
        return None
    return route_origin(route)


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


def inet_blocked_set(routing: HostRouting, *, inet_link: bool = True) -> tuple[BlockedPrefix, ...]:
    """What the inet tier keeps unreachable, each with its origin: INET_BLOCKED and the inet
    link's broadcast, then the host's own addresses, every destination the host routes other
    than through a default route (is_default_like) in every table its policy rules use, and
    the subnets of its addresses; a prefix a broader one covers is left out, loopback always.
    ClaudeboxError: a host network overlaps the inet link (`inet_link`: the set is for inet,
    with its link; else for the allowlist proxy, which has none)."""
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
        if inet_link and network.overlaps(link) and network.prefixlen >= link.prefixlen:
            raise ClaudeboxError(
                f"the host network {network} {origin} overlaps the inet tier's own link "
                f"{link}; use --network full or --network none on this host"
            )
        kept.add(network)
        extra.append(BlockedPrefix(str(network), origin))
    extra.sort(key=lambda item: ipaddress.IPv4Network(item.prefix))
    if not inet_link:
        return (*fixed, *extra)
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


def nftables_batch(dropped: Sequence[ipaddress.IPv4Network], *, append_only: bool = False) -> bytes:
    """One nftables transaction: `table ip claudebox`, whose output chain accepts what leaves
    through lo and drops every other packet to a `dropped` network, and `table ip6 claudebox`,
    whose output chain drops all but lo. Unlike routes, a filter on the output hook also stops
    what the kernel sends without a route lookup: multicast and broadcast with
    IP_MULTICAST_IF, SO_BINDTODEVICE, IP_PKTINFO or a bound source address, and unicast to a
    device it was told to use (the kernel then assumes the destination is on that link).
    `append_only`: only the drop rules, appended to the IPv4 chain made before."""
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

    if append_only:
        return b"".join(
            [
                netlink_message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, next(seq), batch_header),
                *(
                    rule(NFPROTO_IPV4, nft_destination_in(network), nft_verdict(NF_DROP))
                    for network in dropped
                ),
                netlink_message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, next(seq), batch_header),
            ]
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
    routed, dropped = inet_routed_and_dropped(blocked)
    requests = [
        NetlinkRequest(f"route {network}", NETLINK_ROUTE, unreachable_route_message(network, 1))
        for network in routed
    ]
    requests.append(NetlinkRequest("nftables rules", NETLINK_NETFILTER, nftables_batch(dropped)))
    return tuple(requests)


def inet_routed_and_dropped(
    blocked: Sequence[BlockedPrefix],
) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """(the networks given unreachable routes, those nftables drops): `blocked`, merged, but
    the inet link (a blocked network inside it is not routed; one covering it is dropped
    around it: its connected route, more specific, wins over the unreachable one)."""
    link = ipaddress.IPv4Network(f"{INET_GATEWAY}/{INET_PREFIX}", strict=False)
    networks = [ipaddress.IPv4Network(item.prefix) for item in blocked]
    routed = ipaddress.collapse_addresses(n for n in networks if not n.subnet_of(link))
    dropped: list[ipaddress.IPv4Network] = []
    for network in networks:
        if network != link and network.prefixlen < link.prefixlen and link.subnet_of(network):
            dropped += network.address_exclude(link)
        else:
            dropped.append(network)
    return list(routed), list(ipaddress.collapse_addresses(dropped))


def inet_update_requests(added: Sequence[BlockedPrefix]) -> tuple[NetlinkRequest, ...]:
    """What the supervisor sends into a running inet sandbox's network namespace when the host
    routes more (RouteWatcher): the drop rules for `added` (prefixes no earlier block covers),
    appended to the chain inet_netlink_requests made (what makes the block whole), then their
    unreachable routes (connections to them fail at once)."""
    if not added:
        return ()
    routed, dropped = inet_routed_and_dropped(added)
    batch = nftables_batch(dropped, append_only=True)
    return (
        NetlinkRequest("nftables rules", NETLINK_NETFILTER, batch),
        *(
            NetlinkRequest(f"route {network}", NETLINK_ROUTE, unreachable_route_message(network, 1))
            for network in routed
        ),
    )


def inet_cut_requests() -> tuple[NetlinkRequest, ...]:
    """What cuts a running inet sandbox off every network but its lo when its blocks could not
    follow the host: a rule dropping every packet that does not leave through lo, then
    unreachable routes for the two halves of the internet (connections fail at once). Only
    the rule is needed: the routes may fail (a half already blocked)."""
    everything = ipaddress.IPv4Network("0.0.0.0/0")
    return (
        NetlinkRequest(
            "nftables rules", NETLINK_NETFILTER, nftables_batch([everything], append_only=True)
        ),
        *(
            NetlinkRequest(
                f"route {half}",
                NETLINK_ROUTE,
                unreachable_route_message(ipaddress.IPv4Network(half), 1),
            )
            for half in PAIR_HALVES
        ),
    )


def link_up_message(index: int, seq: int) -> bytes:
    """RTM_NEWLINK: set the device `index` up (acknowledged)."""
    ifinfomsg = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
    return netlink_message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg)


def stage_netlink_requests(stage: Stage) -> tuple[NetlinkRequest, ...]:
    """What the stage sends in its new network namespace: lo up (the listeners it hands over
    live there; pasta would do it, but only after the stage opened them), inet's routes and
    rules, and for allowlist nftables rules dropping every packet that does not stay on lo."""
    requests: list[NetlinkRequest] = []
    if stage.listen or stage.sealed:
        requests.append(
            NetlinkRequest("lo up", NETLINK_ROUTE, link_up_message(LOOPBACK_IFINDEX, 1))
        )
    if stage.blocked:
        requests += inet_netlink_requests(stage.blocked)
    if stage.sealed:
        everything = [ipaddress.IPv4Network("0.0.0.0/0")]
        requests.append(
            NetlinkRequest("nftables rules", NETLINK_NETFILTER, nftables_batch(everything))
        )
    return tuple(requests)


# --- the network: the allowlist tier and host ports: entries, requests, verdicts --------------


def is_number(text: str) -> bool:
    """ASCII digits only (str.isdigit also takes "²", which int() refuses)."""
    return bool(text) and text.isascii() and text.isdigit()


def port_number(text: str) -> int | None:
    """A TCP port (1-65535, ASCII digits) or None; never int() of an unbounded string (past
    4300 digits it raises)."""
    return int(text) if is_number(text) and len(text) <= 5 and 0 < int(text) < 65536 else None


def chunk_size(line: bytes) -> int:
    """A chunked body's size line (hex digits, then extensions); ValueError otherwise."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 15 or any(c not in b"0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"a malformed chunk size ({line[:20]!r})")
    return int(digits, 16)


def parse_allow_entry(text: str, where: str, origin: str) -> AllowRule:
    """One --allow-domain or allow_domains entry: NAME, *.NAME (its subdomains) or an IPv4
    address, each optionally with :PORT (else ports 80 and 443); folded to lower case."""
    entry = text.strip().lower()
    name, colon, port_text = entry.rpartition(":") if ":" in entry else (entry, "", "")
    wildcard = name.startswith("*.")
    bare = name.removeprefix("*.").removesuffix(".")
    usage = (
        "use a name (example.org), *. and a name for its subdomains (*.example.org) or an "
        "IPv4 address, each optionally with :PORT"
    )
    port = port_number(port_text)
    if colon and (port is None or port_text[0] == "0"):
        raise ClaudeboxError(f"{where}: {text!r} has no valid port after ':'; {usage}", EXIT_USAGE)
    ports = (port,) if port is not None else ALLOW_DEFAULT_PORTS
    if IPV4_LITERAL_PATTERN.fullmatch(bare):
        try:
            ipaddress.IPv4Address(bare)
        except ValueError:
            raise ClaudeboxError(
                f"{where}: {text!r} is not an IPv4 address; {usage}", EXIT_USAGE
            ) from None
        if wildcard:
            raise ClaudeboxError(f"{where}: {text!r}: *. goes with names only; {usage}", EXIT_USAGE)
        return AllowRule(bare, ports, origin)
    if not DOMAIN_NAME_PATTERN.fullmatch(bare) or len(bare) > 253 or numeric_name(bare):
        raise ClaudeboxError(f"{where}: {text!r} is not a domain name; {usage}", EXIT_USAGE)
    if wildcard and "." not in bare:
        raise ClaudeboxError(
            f"{where}: {text!r} would allow every name under .{bare}; name a domain "
            f"(*.example.{bare})",
            EXIT_USAGE,
        )
    return AllowRule(f"*.{bare}" if wildcard else bare, ports, origin)


def allow_rules(options: Options) -> tuple[AllowRule, ...]:
    """Claude Code's own domains, then the profile's, then --allow-domain's; one rule per
    entry (the first origin named wins)."""
    rules = [AllowRule(name, ALLOW_DEFAULT_PORTS, CLAUDE_DOMAINS_ORIGIN) for name in CLAUDE_DOMAINS]
    profile = options.profile
    entries = (
        [(entry, f"profile {origin}") for entry, origin in profile.allow_domains] if profile else []
    )
    entries += [(entry, "--allow-domain") for entry in options.allow_domains]
    for entry, origin in entries:
        rules.append(parse_allow_entry(entry, origin, origin))
    unique: dict[tuple[str, tuple[int, ...]], AllowRule] = {}
    for rule in rules:
        unique.setdefault((rule.pattern, rule.ports), rule)
    return tuple(unique.values())


def relay_blocked_set(routing: HostRouting) -> tuple[BlockedPrefix, ...]:
    """Where the proxy never connects: what inet blocks on this host (without inet's own link),
    the host's loopback and "this network"."""
    fixed = [BlockedPrefix(prefix, origin) for prefix, origin in RELAY_BLOCKED.items()]
    return (*fixed, *inet_blocked_set(routing, inet_link=False))


def blocked_origin(address: str, blocked: Sequence[BlockedPrefix]) -> str | None:
    """Why `address` is one the proxy never connects to ("(private range)"), or None."""
    ip = ipaddress.IPv4Address(address)
    return next((b.origin for b in blocked if ip in ipaddress.IPv4Network(b.prefix)), None)


def host_of(authority: str) -> tuple[str, int | None] | None:
    """(host, port) of an authority (HOST or HOST:PORT; a name or an IPv4 address); None when
    it is neither (IPv6, user information, anything odd)."""
    host, colon, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
    port = port_number(port_text)
    if colon and port is None:
        return None
    host = host.lower().removesuffix(".")
    if IPV4_LITERAL_PATTERN.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
    elif not DOMAIN_NAME_PATTERN.fullmatch(host) or len(host) > 253 or numeric_name(host):
        return None
    return host, port


def numeric_name(name: str) -> bool:
    """Whether the resolver would take `name` for an address (127.1, 2130706433, 0x7f.1):
    such names are refused, only dotted quads are addresses here."""
    try:
        socket.inet_aton(name)
    except OSError:
        return is_number(name.rpartition(".")[2])
    return True


def parse_proxy_request(head: bytes) -> ProxyRequest | Refusal:
    """A request head (up to its blank line) as the proxy reads it: `CONNECT HOST:PORT`, or a
    method and an absolute http:// URL; anything else is refused (400)."""
    text = head.decode("latin-1")
    line, *header_lines = [item.removesuffix("\r") for item in text.split("\n")]
    parts = line.split(" ")
    if (
        len(parts) != 3
        or not re.fullmatch(r"[A-Z]+", parts[0])
        or not parts[2].startswith("HTTP/1.")
    ):
        return Refusal(400, "not an HTTP/1 request line")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for header in filter(None, header_lines):
        name, colon, value = header.partition(":")
        if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            return Refusal(400, f"a malformed header line ({header[:40]!r})")
        headers.append((name, value.strip()))
    if method == "CONNECT":
        found = host_of(target)
        if found is None or found[1] is None:
            return Refusal(
                400, f"CONNECT needs HOST:PORT with a name or an IPv4 address, not {target[:80]!r}"
            )
        return ProxyRequest(method, found[0], found[1], "", version, tuple(headers))
    scheme, separator, rest = target.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return Refusal(
            400,
            "not a proxy request: the proxy takes CONNECT HOST:PORT (for https) and absolute "
            "http:// URLs",
        )
    if scheme.lower() == "https":
        return Refusal(400, "an https:// URL in a plain request: the client must use CONNECT")
    authority, slash, path = rest.partition("/")
    found = host_of(authority)
    if found is None:
        return Refusal(400, f"not a host claudebox accepts: {authority[:80]!r}")
    return ProxyRequest(
        method, found[0], found[1] or 80, slash + path or "/", version, tuple(headers)
    )


def proxy_verdict(request: ProxyRequest, rules: Sequence[AllowRule]) -> AllowRule | Refusal:
    """The rule that allows the request's host and port, or why not (403)."""
    rule = next((rule for rule in rules if rule.matches(request.host, request.port)), None)
    if rule is not None:
        return rule
    if any(rule.matches(request.host, port) for rule in rules for port in rule.ports):
        return Refusal(
            403,
            f"port {request.port} of {request.host} is not allowed (claudebox allow "
            f"{request.host}:{request.port})",
        )
    return Refusal(403, f"{request.host} is not allowed (claudebox allow {request.host})")


def covering_rule(rule: AllowRule, rules: Sequence[AllowRule]) -> AllowRule | None:
    """The one rule of `rules` that already allows all `rule` does (each of its ports), or None."""
    wildcard = rule.pattern.startswith("*.")
    for existing in rules:
        if not set(rule.ports) <= set(existing.ports):
            continue
        if existing.pattern == rule.pattern:
            return existing
        if not wildcard and existing.matches(rule.pattern, rule.ports[0]):
            return existing
        if (
            wildcard
            and existing.pattern.startswith("*.")
            and rule.pattern.endswith(existing.pattern[1:])
        ):
            return existing  # *.a.example.org under *.example.org
    return None


def rule_words(rule: AllowRule) -> str:
    """An allowlist entry as a question names it: "*.example.org (every name under
    example.org), ports 80 and 443"."""
    what = rule.pattern
    if what.startswith("*."):
        what = f"{what} (every name under {what[2:]})"
    ports = " and ".join(map(str, rule.ports))
    return f"{what}, port{'s' if len(rule.ports) > 1 else ''} {ports}"


def allow_question(
    rule: AllowRule, project: str, sessions: Sequence[int], profile: tuple[str, bool] | None
) -> str:
    """What claudebox allow asks: the entry, the project, the sessions it goes to and the
    profile it is saved to ((path, whether the file is new), or None)."""
    parts = []
    if sessions:
        pids = ", ".join(map(str, sessions))
        runs = "sessions" if len(sessions) > 1 else "session"
        parts.append(f"in the running {runs} of {project} (claudebox pid {pids})")
    if profile is not None:
        path, new = profile
        parts.append(f"{'in a new profile' if new else 'in the profile'} {path}")
    return f"Allow {rule_words(rule)} {' and '.join(parts)}? [y/N] "


def profile_with_entry(
    document: Mapping[str, object], rule: AllowRule, where: str
) -> dict[str, object] | None:
    """A profile's JSON with `rule` added to its allow_domains (its other keys as they were),
    or None when an entry there already allows it. `document` passed parse_profile."""
    entries = document.get("allow_domains", [])
    listed = entries if isinstance(entries, list) else []
    present = [parse_allow_entry(str(entry), where, where) for entry in listed]
    if covering_rule(rule, present) is not None:
        return None
    return {**document, "allow_domains": [*listed, rule.describe()]}


def forwarded_head(request: ProxyRequest) -> bytes:
    """A plain request as the proxy sends it on: origin form, Host from the URL (never the
    client's own), no header meant for the proxy or the connection, one request per
    connection."""
    named = {
        token.strip().lower()
        for name, value in request.headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    host = request.host if request.port == 80 else request.authority
    lines = [f"{request.method} {request.target} {request.version}", f"Host: {host}"]
    lines += [
        f"{name}: {value}"
        for name, value in request.headers
        if name.lower() not in (*HOP_BY_HOP_HEADERS, "host") and name.lower() not in named
    ]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


# --- the network: tools that ignore proxies: the resolver, names, TLS and Host ----------------


def transparent_ports(rules: Sequence[AllowRule], taken: Container[int]) -> tuple[int, ...]:
    """The TCP ports the allowlist tier listens on inside for tools that ignore the proxy: 80,
    443 and each port a name's entry names, but not one already `taken` (the proxy's, a host
    port's)."""
    named = {
        port
        for rule in rules
        if not IPV4_LITERAL_PATTERN.fullmatch(rule.pattern)
        for port in rule.ports
    }
    return tuple(sorted(port for port in {*TRANSPARENT_PORTS, *named} if port not in taken))


def name_allowed(name: str, rules: Sequence[AllowRule]) -> bool:
    """Whether some entry allows `name` (a host name, lower case), on any of its ports."""
    return any(rule.matches(name, port) for rule in rules for port in rule.ports)


class SyntheticNames:
    """The resolver's answers: each allowed name asked for gets an address of its own in
    127.77.0.0/16 (from 127.77.0.1 on), kept for the session, and the relay reads the name back
    from the address a connection goes to. At most SYNTHETIC_NAMES_LIMIT names."""

    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def address_for(self, name: str) -> str | None:
        """`name`'s address (made on first use); None when the session has used them all."""
        address = self.addresses.get(name)
        if address is None and len(self.addresses) < SYNTHETIC_NAMES_LIMIT:
            index = len(self.addresses) + 1
            address = f"{SYNTHETIC_PREFIX}{index >> 8}.{index & 255}"
            self.names[address] = name
            self.addresses[name] = address
        return address

    def name_at(self, address: str) -> str | None:
        return self.names.get(address)


class DnsQuery(NamedTuple):
    """A question the resolver read. `name` is None when it is no host name (other bytes than
    letters, digits, - and _ in a label, an address-like name); `shown` is how it was asked,
    printable."""

    ident: int
    recursion: bool  # the RD bit, echoed
    question: bytes  # as asked (letter case kept), echoed
    name: str | None
    shown: str
    qtype: int
    qclass: int


def parse_dns_query(packet: bytes) -> DnsQuery | int | None:
    """One DNS query datagram, read strictly: the query, an answer code to give alone
    (DNS_FORMERR, DNS_NOTIMP), or None (not worth an answer: shorter than a header, or itself
    an answer). One question, no answer or authority records; no compression pointer (the
    question's name is the message's first, so a pointer could only point back into the
    header)."""
    if len(packet) < DNS_HEADER.size:
        return None
    _ident, flags, questions, answers, authority, _extra = DNS_HEADER.unpack_from(packet)
    if flags & DNS_QR:
        return None
    if (flags >> 11) & 0xF:  # an opcode other than QUERY
        return DNS_NOTIMP
    if questions != 1 or answers or authority:
        return DNS_FORMERR
    offset, labels = DNS_HEADER.size, []
    while True:
        if offset >= len(packet):
            return DNS_FORMERR
        length = packet[offset]
        if length & 0xC0:  # a pointer (0xC0) or a label type RFC 6891 retired
            return DNS_FORMERR
        offset += 1
        if length == 0:
            break
        if offset + length > len(packet) or offset - DNS_HEADER.size + length >= DNS_NAME_LIMIT:
            return DNS_FORMERR
        labels.append(packet[offset : offset + length])
        offset += length
    if offset + 4 > len(packet):
        return DNS_FORMERR
    qtype, qclass = struct.unpack_from("!HH", packet, offset)
    folded = [label.lower() for label in labels]
    text = ".".join(label.decode("latin-1") for label in folded)
    shown = printable(".".join(label.decode("latin-1") for label in labels))
    hostname = (
        all(re.fullmatch(DOMAIN_LABEL, label.decode("latin-1")) for label in folded)
        and bool(folded)
        and len(text) <= 253
        and not numeric_name(text)
    )
    return DnsQuery(
        ident=_ident,
        recursion=bool(flags & DNS_RD),
        question=packet[DNS_HEADER.size : offset + 4],
        name=text if hostname else None,
        shown=shown or ".",
        qtype=qtype,
        qclass=qclass,
    )


def dns_response(
    query: DnsQuery | None, ident: int, code: int, address: str | None = None
) -> bytes:
    """The resolver's answer: `code`, the question echoed (when there is one), and an A record
    for it when `address` is given."""
    flags = DNS_QR | DNS_AA | DNS_RA | code | (DNS_RD if query and query.recursion else 0)
    record = b""
    if query is not None and address is not None:
        record = struct.pack(
            "!HHHIH", 0xC000 | DNS_HEADER.size, DNS_TYPE_A, DNS_CLASS_IN, RESOLVER_TTL, 4
        ) + bytes(int(part) for part in address.split("."))
    header = DNS_HEADER.pack(ident, flags, 1 if query else 0, 1 if record else 0, 0, 0)
    return header + (query.question if query else b"") + record


class DnsAnswer(NamedTuple):
    """What the resolver sends back (None: nothing) and what it logs ("": nothing)."""

    response: bytes | None
    note: str


def answer_dns(packet: bytes, rules: Sequence[AllowRule], names: SyntheticNames) -> DnsAnswer:
    """The resolver: an allowed name's A question gets its synthetic address; its other
    questions (AAAA, ...) no data; any other name NXDOMAIN. Nothing is ever asked elsewhere."""
    query = parse_dns_query(packet)
    if query is None:
        return DnsAnswer(None, "")
    ident = DNS_HEADER.unpack_from(packet)[0]
    if isinstance(query, int):
        return DnsAnswer(dns_response(None, ident, query), "refused a malformed DNS question")
    if query.name is None or not name_allowed(query.name, rules):
        return DnsAnswer(
            dns_response(query, ident, DNS_NXDOMAIN),
            f"refused DNS question {query.shown} (type {query.qtype}): not on this session's "
            "allowlist",
        )
    if query.qtype != DNS_TYPE_A or query.qclass != DNS_CLASS_IN:
        return DnsAnswer(dns_response(query, ident, DNS_NOERROR), "")  # IPv4 only
    known = query.name in names.addresses
    address = names.address_for(query.name)
    if address is None:
        return DnsAnswer(
            dns_response(query, ident, DNS_SERVFAIL),
            f"resolver: no address left for {query.name} ({SYNTHETIC_NAMES_LIMIT} names "
            "answered this session)",
        )
    note = "" if known else f"resolver: {query.name} is {address} inside"
    return DnsAnswer(dns_response(query, ident, DNS_NOERROR, address), note)


class ByteReader:
    """Reads a TLS message's fields in order; ValueError past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def done(self) -> bool:  # (a method: mypy would take a property for constant)
        return self.offset >= len(self.data)

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise ValueError("a length past the end of the ClientHello")
        self.offset += count
        return self.data[self.offset - count : self.offset]

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, size: int) -> bytes:
        """A field behind its length of `size` bytes."""
        return self.take(self.number(size))


def tls_server_name(data: bytes) -> str | None:
    """The server name (SNI) of the TLS ClientHello `data` starts with: "" when it names none,
    None when `data` holds only its beginning. ValueError: not a ClientHello, or a malformed
    one (a length past its end, an extension twice, two names, a name that is no host name)."""
    handshake, offset = b"", 0
    while True:
        if len(data) < offset + 5:
            return None
        kind, major, length = struct.unpack_from("!BBxH", data, offset)
        if kind != TLS_HANDSHAKE or major != 3 or not 0 < length <= 1 << 14:
            raise ValueError("not a TLS handshake record")
        if len(data) < offset + 5 + length:
            return None
        handshake += data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if len(handshake) < 4:
            continue
        if handshake[0] != TLS_CLIENT_HELLO:
            raise ValueError("not a ClientHello")
        size = int.from_bytes(handshake[1:4], "big")
        if size > TLS_HELLO_LIMIT:
            raise ValueError(f"a ClientHello of {size} bytes")
        if len(handshake) >= 4 + size:
            return client_hello_name(handshake[4 : 4 + size])


def client_hello_name(body: bytes) -> str:
    """The server name of a ClientHello's body ("": none); ValueError when malformed."""
    hello = ByteReader(body)
    hello.take(2 + 32)  # version, random
    hello.vector(1)  # session id
    hello.vector(2)  # cipher suites
    hello.vector(1)  # compression methods
    if hello.done():
        return ""
    extensions = ByteReader(hello.vector(2))
    if not hello.done():
        raise ValueError("bytes after the ClientHello's extensions")
    seen: set[int] = set()
    name = ""
    while not extensions.done():
        kind = extensions.number(2)
        payload = extensions.vector(2)
        if kind in seen:
            raise ValueError(f"extension {kind} twice")
        seen.add(kind)
        if kind != TLS_SERVER_NAME:
            continue
        outer = ByteReader(payload)
        entries = ByteReader(outer.vector(2))
        if not outer.done() or entries.done():
            raise ValueError("a malformed server_name extension")
        while not entries.done():
            name_type = entries.number(1)
            value = entries.vector(2)
            if name_type != 0:
                continue  # no other type is defined; a server ignores one it does not know
            if name:
                raise ValueError("two server names")
            found = host_of(value.decode("latin-1"))
            if found is None or found[1] is not None or value.endswith(b".") or not value:
                shown = printable(value.decode("latin-1"))[:80]
                raise ValueError(f"a server name that is no host name ({shown!r})")
            if IPV4_LITERAL_PATTERN.fullmatch(found[0]):
                raise ValueError("an address as the server name")
            name = found[0]
    return name


def transparent_http_verdict(head: bytes, name: str) -> Refusal | None:
    """A request that came to `name`'s port 80 without the proxy: None when its head asks for
    that name (Host, and an origin-form target), else why not (403)."""
    parsed = parse_head(head, request=True)
    if isinstance(parsed, Refusal):
        return parsed
    hosts = [value for field, value in parsed.headers if field.lower() == "host"]
    if len(hosts) != 1:
        return Refusal(400, "a request needs exactly one Host field")
    found = host_of(hosts[0])
    if found is None or found[0] != name or found[1] not in (None, 80):
        return Refusal(
            403, f"this connection goes to {name}:80, its Host names {printable(hosts[0])[:80]}"
        )
    if not parsed.line[1].startswith("/") and parsed.line[1] != "*":
        return Refusal(403, f"a connection to {name}:80 takes paths only, not URLs")
    return None


# --- the network: rendering -------------------------------------------------------------------

TUNNEL_MEANING: Final[Mapping[Tunnel, str]] = {
    Tunnel.ANY: "Claude's hosts, and anything else the host reaches",
    Tunnel.UNBLOCKED: "Claude's hosts, and anything the inet tier does not block",
    Tunnel.LISTED: "Claude's hosts, and the allowed names below",
    Tunnel.NOTHING: "Claude's hosts only",
}


def inet_blocked_beyond_fixed(blocked: Iterable[BlockedPrefix]) -> list[BlockedPrefix]:
    """What this host adds to the fixed ranges (its addresses, subnets and routed networks)."""
    return [
        item
        for item in blocked
        if item.prefix not in (*INET_BLOCKED, *RELAY_BLOCKED, INET_LINK_BROADCAST)
    ]


def render_relay(plan: SandboxPlan, style: Style, level: int = 0) -> list[str]:
    """The audit's allowed domains (by origin) and host ports (red: the host's own services);
    condensed (see audit_lines) from level 3."""
    relay = plan.relay
    lines: list[str] = []
    origins = dict.fromkeys(rule.origin for rule in relay.rules)
    if origins and level >= AUDIT_LEVELS:
        names = [rule.describe() for rule in relay.rules]
        lines += fill("", [clip(f"{len(names)} names allowed: {' '.join(names)}")])
        origins = {}
    for origin in origins:
        names = [rule.describe() for rule in relay.rules if rule.origin == origin]
        if level >= 3:
            lines += fill("", [clip(f"({origin}) {' '.join(names)}")])
        else:
            lines += fill("", [*names[:-1], f"{names[-1]} ({origin})"])
    return lines + render_host_ports(plan, style, level)


def render_host_ports(
    plan: SandboxPlan, style: Style, level: int = 0, label: str = ""
) -> list[str]:
    """The host's loopback ports reachable inside, in red: one line each, one for all from
    level 4; `label` on the first."""
    origin_of = dict(plan.profile.host_ports) if plan.profile else {}
    ports = [
        f"{port} (profile {origin_of[port]})" if port in origin_of else str(port)
        for port in plan.relay.host_ports
    ]
    if ports and level >= 4:
        text = f"! the host's 127.0.0.1 at the same port inside: {', '.join(ports)}"
        return [style.red(line) for line in fill(label, [text])]
    lines: list[str] = []
    for port in plan.relay.host_ports:
        text = f"! 127.0.0.1:{port} reaches the host's 127.0.0.1:{port}"
        text += f" (profile {origin_of[port]})" if port in origin_of else ""
        lines += [style.red(line) for line in fill("" if lines else label, [text])]
    return lines


def relay_spec(relay: Relay) -> dict[str, object]:
    return {
        "tunnel": relay.tunnel.value,
        "rules": [[rule.pattern, list(rule.ports), rule.origin] for rule in relay.rules],
        "host_ports": list(relay.host_ports),
        "blocked": [list(item) for item in relay.blocked],
        "log_dir": relay.log_dir,
        "on_host": relay.on_host,
        "login": relay.login._asdict(),
    }


# --- the network: the OS edge: routes, pasta and the stage's sockets --------------------------


def tun_error() -> str | None:
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC))
    except OSError as error:
        return error.strerror or str(error)
    return None


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


def host_route_answer(address: str, port: int) -> bytes:
    """The kernel's answer to route_lookup_message for ADDRESS:PORT, in claudebox's network
    namespace. OSError when netlink fails."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as link:
        link.settimeout(10)
        link.send(route_lookup_message(address, port, 1))
        return link.recv(65536)


def host_route_origin(address: str, port: int) -> str | None:
    """Why the host's routing at this moment makes ADDRESS:PORT one the relay never connects to
    (looked_up_origin of the route its lookup matches), or None: the host reaches it by its way
    to the internet. OSError: the host has no route to it, or netlink failed; ValueError:
    unexpected netlink data."""
    answer = host_route_answer(address, port)
    route = parse_route_answer(answer, {})
    destinations: set[str] = set()
    if route.kind == RTN_UNICAST and route.destination in PAIR_HALVES:  # is its pair there?
        rtmsg = struct.pack("=8BI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        table = parse_routes(netlink_dump(RTM_GETROUTE, rtmsg), {})
        destinations = {r.destination for r in table if r.table == route.table}
    if looked_up_origin(route, destinations) is None:
        return None
    names = {index: name for index, name in socket.if_nameindex()}  # (the answer has indexes)
    return looked_up_origin(parse_route_answer(answer, names), destinations)


def send_netlink_requests(requests: Sequence[NetlinkRequest]) -> None:
    """Send each request on its netlink protocol; every message asking for an acknowledgement
    must get one without error (the stage is root of its user and network namespace)."""
    for request in requests:
        try:
            with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, request.protocol) as link:
                link.settimeout(10)
                exchange_netlink(link, request.messages)
        except OSError as error:
            raise ClaudeboxError(
                f"the network tier's setup failed ({request.label}: {error.strerror or error}): "
                "it needs netlink routes and nftables (nf_tables) in the kernel; use --network "
                "full or --network none"
            ) from error


def exchange_netlink(link: socket.socket, messages: bytes) -> None:
    """Send `messages` on `link` (with a timeout set); OSError unless every message asking for
    an acknowledgement gets one without error."""
    expected, offset = 0, 0
    while offset < len(messages):  # each message with NLM_F_ACK is answered once
        length, _kind, flags = struct.unpack_from("=IHH", messages, offset)
        expected += bool(flags & NLM_F_ACK)
        offset += length
    link.send(messages)
    while expected:
        reply = link.recv(65536)
        offset = 0
        while offset + 20 <= len(reply):
            length, kind = struct.unpack_from("=IH", reply, offset)
            if kind == NLMSG_ERROR:  # 0 acknowledges, else a negative errno
                (error,) = struct.unpack_from("=i", reply, offset + 16)
                if error:
                    raise OSError(-error, os.strerror(-error))
                expected -= 1
            offset += max((length + 3) & ~3, 16)


def open_listeners(ports: Sequence[int]) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 of the stage's network namespace (they stay in it when
    handed to the supervisor, which serves them from the host's)."""
    listeners = []
    for port in ports:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        listeners.append(listener)
    return listeners


def open_transparent(stage: Stage) -> list[socket.socket]:
    """The allowlist tier's sockets for tools that ignore the proxy, in the stage's network
    namespace: a listener on 0.0.0.0 for each transparent port, the resolver's UDP socket on
    127.0.0.1:53, then the spares (unbound: the relay binds one when a port is allowed)."""
    made = []
    for port in stage.transparent:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(128)
        made.append(listener)
    if stage.resolver:
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        resolver.bind(("127.0.0.1", RESOLVER_PORT))
        made.append(resolver)
    made += [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(stage.spares)]
    return made


def start_pasta(pasta: Pasta, target: int, runtime_dir: str) -> subprocess.Popen[bytes]:
    """pasta attached to the stage's namespaces; returns once it configured them."""
    fifo = os.path.join(runtime_dir, f"pasta-{os.getpid()}.pid")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    os.mkfifo(fifo, 0o600)
    try:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        parent = os.getpid()

        libc = Libc()

        def die_with_claudebox() -> None:
            libc.lib.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(EXIT_RUNTIME)

        try:
            process = subprocess.Popen(
                pasta.argv(target, fifo), env={}, preexec_fn=die_with_claudebox
            )
        except OSError as error:
            os.close(reader)
            raise ClaudeboxError(
                f"cannot start {pasta.program}: {error.strerror}", EXIT_MISSING
            ) from error
        try:
            wait_readable(reader, process)
        finally:
            os.close(reader)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fifo)
    return process


def wait_readable(reader: int, process: subprocess.Popen[bytes]) -> None:
    """Until pasta writes its pid (initialised), exits, or PASTA_READY_TIMEOUT passes."""
    import select

    pidfd = os.pidfd_open(process.pid)
    try:
        poller = select.poll()
        poller.register(reader, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + PASTA_READY_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            events = dict(poller.poll(max(remaining, 0) * 1000)) if remaining > 0 else {}
            if reader in events and os.read(reader, 64):
                return
            if pidfd in events or process.poll() is not None or remaining <= 0:
                process.kill()
                process.wait()
                raise ClaudeboxError(
                    f"pasta did not set up the inet tier's network (exit {process.returncode}); "
                    "run claudebox --check, or choose another tier with --network full (or none)"
                )
    finally:
        os.close(pidfd)


def served_sockets(
    stage: Stage, sockets: Sequence[socket.socket], ports: Sequence[int]
) -> tuple[list[tuple[socket.socket, int]], Transparent | None]:
    """The sockets the stage handed over, in its order (open_listeners, open_transparent), as
    the relay serves them: the loopback listeners with their ports, and the transparent part."""
    if len(sockets) != stage.handed:
        raise ClaudeboxError(
            f"the launch stage handed over {len(sockets)} sockets instead of {stage.handed}; "
            "report it"
        )
    listeners = list(zip(sockets[: len(ports)], ports, strict=True))
    if not stage.resolver:
        return listeners, None
    after = len(ports) + len(stage.transparent)
    transparent = list(zip(sockets[len(ports) : after], stage.transparent, strict=True))
    return listeners, Transparent(transparent, sockets[after], list(sockets[after + 1 :]))


class RouteWatcher:
    """inet: while the session runs, what the host comes to route joins what the sandbox cannot
    reach. A thread of claudebox hears the host's IPv4 address, route and rule changes
    (rtnetlink multicast; changes it missed, ENOBUFS, count as one), reads the host's routing
    again once they settle, and blocks every prefix inet_blocked_set now lists that no block
    covers yet (inet_update_requests), sending into the sandbox's namespace on the netlink
    sockets the stage opened there (`links`: protocol -> socket). What the host stops routing
    stays blocked. When following fails, the sandbox is cut off every network but its lo
    (inet_cut_requests; Claude keeps its login through the relay), and when even that fails
    the session is ended (`session`: the stage's pid): a sandbox never runs on with less
    blocked than the user was shown. `failure` then says what happened (after the session,
    claudebox says it), and the network log (`note`) says it at once. stop() never waits."""

    def __init__(
        self,
        links: Mapping[int, socket.socket],
        blocked: Sequence[BlockedPrefix],
        session: int,
        note: Callable[[str], None],
    ) -> None:
        import threading

        self.links = links
        for link in links.values():
            link.settimeout(10)
        self.covered = CoveredNetworks()
        for item in blocked:
            self.covered.add(ipaddress.IPv4Network(item.prefix))
        self.session = os.pidfd_open(session)  # (signals the stage, never a reused pid)
        self.note = note
        self.failure: str | None = None
        self.half_since: float | None = None  # when a lone half of the pair came
        self.wake_r, self.wake_w = os.pipe()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name="routes", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"x")
        os.close(self.wake_w)

    def run(self) -> None:
        import selectors

        groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE
        try:
            with (
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as host,
                selectors.DefaultSelector() as selector,
            ):
                host.bind((0, groups))
                host.setblocking(False)
                selector.register(host, selectors.EVENT_READ)
                selector.register(self.wake_r, selectors.EVENT_READ)
                # The first look is at once: the host may have changed since the launch read it.
                due: float | None = time.monotonic()  # when to read the host's routing
                first: float | None = None  # the first change heard since the last reading
                while not self.stopping and self.failure is None:
                    timeout = None if due is None else max(due - time.monotonic(), 0)
                    for key, _events in selector.select(timeout):
                        if key.fileobj is not host:
                            return
                        if self.drain(host):
                            now = time.monotonic()
                            first = now if first is None else first
                            due = min(now + ROUTES_QUIET, first + ROUTES_SETTLE)
                    if due is not None and time.monotonic() >= due:
                        first = None
                        due = self.update()
        except Exception as error:  # a bug or an unusable socket: never a traceback
            if not self.stopping:
                self.fail(f"the route watcher stopped ({error})")
        finally:
            os.close(self.wake_r)
            os.close(self.session)
            for link in self.links.values():
                link.close()

    def drain(self, host: socket.socket) -> bool:
        """Read every change notice waiting on `host`; whether there was one (a lost one too)."""
        heard = False
        while True:
            try:
                if not host.recv(65536):
                    return heard
            except BlockingIOError:
                return heard
            except OSError as error:
                if error.errno != errno.ENOBUFS:  # (ENOBUFS: notices were lost)
                    raise
            heard = True

    def update(self) -> float | None:
        """Block what the host routes now and no block covers; when a lone half of the pair
        waits for its other half, the time to look again."""
        routing, why = read_host_routing()
        for _attempt in range(ROUTES_READ_ATTEMPTS - 1):
            if routing is not None:
                break
            time.sleep(ROUTES_QUIET)
            routing, why = read_host_routing()
        if routing is None:
            self.fail(f"cannot read the host's routing ({why})")
            return None
        try:
            blocked = inet_blocked_set(routing)
        except ClaudeboxError as error:
            self.fail(str(error))
            return None
        added = [
            item for item in blocked if not self.covered.cover(ipaddress.IPv4Network(item.prefix))
        ]
        now, again = time.monotonic(), None
        if any(item.prefix in PAIR_HALVES for item in added):
            self.half_since = self.half_since or now
            if now < self.half_since + ROUTES_HALF_GRACE:
                added = [item for item in added if item.prefix not in PAIR_HALVES]
                again = self.half_since + ROUTES_HALF_GRACE
        else:
            self.half_since = None
        try:
            for request in inet_update_requests(added):
                self.send(request)
        except OSError as error:
            self.fail(f"cannot block what the host now routes ({error.strerror or error})")
            return None
        for item in added:
            self.covered.add(ipaddress.IPv4Network(item.prefix))
            self.note(f"routes: the host now routes {item.describe()}: blocked inside")
        return again

    def send(self, request: NetlinkRequest) -> None:
        """`request` on the socket of its protocol, after any answer left from an earlier one."""
        link = self.links[request.protocol]
        link.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while link.recv(65536):
                pass
        link.settimeout(10)
        exchange_netlink(link, request.messages)

    def fail(self, reason: str) -> None:
        """Cut the sandbox off (inet_cut_requests: its rule must hold), else end the session."""
        when = time.strftime("%H:%M:%S")
        self.note(f"routes: {reason}; cutting the sandbox off every network but claudebox's proxy")
        cut, *routes = inet_cut_requests()
        try:
            self.send(cut)
        except OSError as error:
            self.note(f"routes: cutting failed too ({error.strerror or error}): ending the session")
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.session, signal.SIGKILL)
            self.failure = (
                f"the host's routing changed at {when} and the inet sandbox could not follow "
                f"({reason}), nor be cut off: the session was ended"
            )
            return
        for request in routes:  # (only makes connections fail at once)
            with contextlib.suppress(OSError):
                self.send(request)
        self.failure = (
            f"the host's routing changed at {when} and the inet sandbox could not follow "
            f"({reason}): it was cut off every network but claudebox's proxy; see its network log"
        )


# --- the network: the OS edge: the relay (the proxy, host ports, names carried) ---------------


def open_relay_log(log_dir: str) -> TextIO:
    """A new log for this session in `log_dir` (0600), the oldest beyond RELAY_LOGS_KEPT gone."""
    path = os.path.join(log_dir, time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}.log")
    try:
        make_private_dirs(log_dir)
        with contextlib.suppress(OSError):
            old = sorted(name for name in os.listdir(log_dir) if name.endswith(".log"))
            for name in old[: max(len(old) - RELAY_LOGS_KEPT + 1, 0)]:
                os.unlink(os.path.join(log_dir, name))
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
    except OSError as error:
        raise state_write_error(f"create {path}", path, error) from error
    return open(fd, "a", encoding="utf-8", errors="replace", buffering=1)


def read_request_head(connection: socket.socket) -> tuple[bytes, bytes] | Refusal | None:
    """(the head up to its blank line, what came after it); None when the client closed
    before sending anything; or why not: the head is longer than PROXY_HEAD_LIMIT, did not
    arrive within PROXY_TIMEOUT in all (a client sending a byte now and then is cut off
    too), or was cut short."""
    data = bytearray()
    searched = 0  # what was searched already (a head that trickles in is searched once)
    deadline = time.monotonic() + PROXY_TIMEOUT
    while True:
        end = data.find(b"\r\n\r\n", max(searched - 3, 0))
        if end >= 0:
            return bytes(data[:end]), bytes(data[end + 4 :])
        bare = data.find(b"\n\n", max(searched - 1, 0))
        if bare >= 0:
            return bytes(data[:bare]), bytes(data[bare + 2 :])
        searched = len(data)
        if len(data) > PROXY_HEAD_LIMIT:
            return Refusal(431, f"a request head longer than {PROXY_HEAD_LIMIT >> 10} KiB")
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            connection.settimeout(left)
            chunk = connection.recv(65536)
        except TimeoutError:
            return Refusal(408, f"no complete request head within {PROXY_TIMEOUT:.0f} s")
        if not chunk:
            return Refusal(400, "the connection ended inside a request head") if data else None
        data += chunk


def relay_bytes(client: socket.socket, upstream: socket.socket) -> tuple[int, int, str]:
    """Copy both ways until both sides have ended (each end passed on as a half close);
    (bytes to upstream, bytes to the client, why it was cut off or ""). Any error ends both,
    and so does a side that takes nothing for RELAY_STALL_TIMEOUT (a client that never reads
    would hold its thread for good)."""
    import selectors

    counts = {client: 0, upstream: 0}  # bytes received from each
    peer = {client: upstream, upstream: client}
    for side in peer:
        side.settimeout(RELAY_STALL_TIMEOUT)
    with selectors.DefaultSelector() as selector:
        for side in peer:
            selector.register(side, selectors.EVENT_READ, side)
        open_sides = 2
        while open_sides:
            for key, _events in selector.select():
                side = stalling = key.data
                try:
                    data = side.recv(65536)
                    while data and getattr(side, "pending", lambda: 0)():  # TLS: decrypted
                        data += side.recv(65536)  # bytes select cannot see
                    if data:
                        stalling = peer[side]
                        stalling.sendall(data)
                        counts[side] += len(data)
                        continue
                    peer[side].shutdown(socket.SHUT_WR)
                except TimeoutError:
                    who = "the client" if stalling is client else "the server"
                    stalled = f"cut off: {who} stalled for {RELAY_STALL_TIMEOUT:.0f} s"
                    return counts[client], counts[upstream], stalled
                except OSError:
                    return counts[client], counts[upstream], ""
                selector.unregister(side)
                open_sides -= 1
    return counts[client], counts[upstream], ""


def peek_client(connection: socket.socket, limit: int, complete: Callable[[bytes], bool]) -> bytes:
    """What the client sent first, up to `limit` bytes, read without taking it (the server
    gets it as sent), once `complete` says it is whole or the client stopped sending. Waits up
    to the connection's timeout in all; TimeoutError after."""
    deadline = time.monotonic() + (connection.gettimeout() or PROXY_TIMEOUT)
    seen = -1
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        connection.settimeout(remaining)
        data = connection.recv(limit, socket.MSG_PEEK)  # returns at once while any byte waits
        if not data or len(data) >= limit or complete(data):
            return data
        if len(data) == seen:
            time.sleep(0.005)
        seen = len(data)


def hello_complete(data: bytes) -> bool:
    try:
        return tls_server_name(data) is not None
    except ValueError:
        return True


def head_complete(data: bytes) -> bool:
    return b"\r\n\r\n" in data or b"\n\n" in data


def first_bytes_verdict(connection: socket.socket, name: str, port: int) -> Refusal | None:
    """Whether what a client sends first to `name`:`port` without the proxy asks for that
    name: port 443's TLS server name, port 80's HTTP Host; other ports carry anything."""
    if port == 443:
        data = peek_client(connection, TLS_HELLO_LIMIT + 1024, hello_complete)
        try:
            server_name = tls_server_name(data)
        except ValueError as error:
            return Refusal(403, f"not a TLS ClientHello on port 443 ({error})")
        if server_name is None:
            return Refusal(400, "no complete TLS ClientHello")
        if server_name and server_name != name:
            return Refusal(
                403, f"this connection goes to {name}, its TLS server name is {server_name}"
            )
        return None
    if port == 80:
        data = peek_client(connection, PROXY_HEAD_LIMIT, head_complete)
        ends = [index for index in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if index >= 0]
        if not ends:
            return Refusal(400, "no complete request head")
        return transparent_http_verdict(data[: min(ends)], name)
    return None


class RelayServer:
    """The supervisor's side of the sandbox's relay (a Relay): the proxy (Claude's login for its
    own hosts; per tier, other names) and the host ports, served by threads of claudebox itself,
    so nothing of it can outlive the session; stop() closes every socket and waits for the
    threads (daemon threads: a name lookup that hangs cannot keep claudebox from exiting).
    Starts serving at once. `listeners`: (socket, port inside; PROXY_PORT: the proxy)."""

    def __init__(
        self,
        relay: Relay,
        listeners: Sequence[tuple[socket.socket, int]],
        login: LoginSession,
        certificate: SessionCertificate,
        transparent: Transparent | None = None,
    ) -> None:
        import selectors
        import threading

        self.relay = relay
        self.rules = relay.rules  # rules_now(): what the session allows at this moment
        self.listeners = dict(listeners)
        self.names = SyntheticNames()  # the resolver's answers (allowlist)
        self.transparent_ports: set[int] = set()
        self.resolver = transparent.resolver if transparent else None
        self.spares = list(transparent.spares) if transparent else []
        self.added: list[socket.socket] = []  # transparent listeners for the accept loop
        self.resolver_notes = 0
        for listener, port in transparent.listeners if transparent else ():
            self.listeners[listener] = port
            self.transparent_ports.add(port)
        self.log = open_relay_log(relay.log_dir)
        self.lock = threading.Lock()
        self.active: set[socket.socket] = set()
        self.handlers: set[threading.Thread] = set()
        self.wake_r, self.wake_w = os.pipe()
        # A descriptor to give up when claudebox has no other (EMFILE): the pending connection
        # is then accepted and closed, rather than left for the loop to find again at once.
        self.reserve: int | None = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.shed_count = 0  # connections closed unserved since the last log line about it
        self.shed_noted = 0.0
        self.stopping = False
        self.login = login
        self.certificate = certificate
        self.tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None  # (server, client)
        self.tls_lock = threading.Lock()
        login.exchange, login.note = self.exchange, self.note
        allowed = " ".join(rule.describe() for rule in relay.rules) or "-"
        ports = " ".join(map(str, relay.host_ports)) or "-"
        carried = " ".join(map(str, sorted(self.transparent_ports))) or "-"
        self.note(
            f"session {os.getpid()}, claudebox {__version__}: proxy reaches "
            f"{TUNNEL_MEANING[relay.tunnel]}; allowed {allowed}; host ports {ports}; "
            f"carried by name {carried}"
        )
        selector = selectors.DefaultSelector()  # made here: the loop has nothing left to open
        for listener in [*self.listeners, *filter(None, [self.resolver])]:
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ, listener)
        selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.acceptor = threading.Thread(
            target=self.accept_loop, args=(selector,), name="relay", daemon=True
        )
        self.acceptor.start()

    def note(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.lock:
            with contextlib.suppress(OSError, ValueError):
                self.log.write(f"{stamp} {line}\n")

    def allow(self, rule: AllowRule) -> AllowRule | None:
        """Add `rule` to the allowlist of the running session (claudebox allow); the rule that
        already allows what it does (then nothing changes), or None once added. Where the relay
        carries connections by name, each of its ports is carried from now on too."""
        with self.lock:
            covering = covering_rule(rule, self.rules)
            if covering is None:
                self.rules = (*self.rules, rule)
        if covering is not None:
            return covering
        self.note(f"added {rule.describe()} to the allowlist ({rule.origin})")
        if self.resolver is not None:
            for port in rule.ports:
                self.listen_transparent(port)
        return None

    def accept_loop(self, selector: selectors.BaseSelector) -> None:
        import threading

        with selector:
            while not self.stopping:
                for key, _events in selector.select():
                    if key.data is None:
                        if not self.register_added(selector):
                            return  # stop() woke it
                        continue
                    if key.data is self.resolver:
                        self.answer_questions()
                        continue
                    listener = key.data
                    port = self.listeners[listener]
                    try:
                        connection, _address = listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    except OSError as error:
                        self.shed(listener, port, error.strerror or str(error))
                        continue
                    connection.setblocking(True)
                    with self.lock:
                        crowded = len(self.handlers) >= RELAY_MAX_CONNECTIONS
                    if crowded:
                        connection.close()
                        self.note_shed(port, f"{RELAY_MAX_CONNECTIONS} open already")
                        continue
                    handler = threading.Thread(
                        target=self.handle, args=(connection, port), name="relay", daemon=True
                    )
                    with self.lock:
                        self.handlers.add(handler)
                        self.active.add(connection)
                    try:
                        handler.start()
                    except RuntimeError:  # no thread to be had (memory, a pids limit)
                        with self.lock:
                            self.handlers.discard(handler)
                        self.forget(connection)
                        self.note_shed(port, "claudebox cannot start a thread")

    def shed(self, listener: socket.socket, port: int, reason: str) -> None:
        """accept() failed (EMFILE, ENFILE, ENOMEM…): the connection is still pending and the
        listener still readable. Accept it with the reserve descriptor and close it; else wait
        a moment (on the stop pipe) rather than spin."""
        import select

        self.note_shed(port, f"cannot accept ({reason})")
        if self.reserve is not None:
            os.close(self.reserve)
            self.reserve = None
            with contextlib.suppress(OSError):
                listener.accept()[0].close()
            with contextlib.suppress(OSError):
                self.reserve = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            return
        select.select([self.wake_r], [], [], 0.1)
        with contextlib.suppress(OSError):
            self.reserve = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def note_shed(self, port: int, reason: str) -> None:
        """A connection closed unserved: logged, at most once a second (a flood of them would
        otherwise fill the host's disk), with how many more there were."""
        self.shed_count += 1
        now = time.monotonic()
        if now - self.shed_noted >= 1:
            more = f" (and {self.shed_count - 1} more since)" if self.shed_count > 1 else ""
            self.note(f"closed a connection to port {port} unserved: {reason}{more}")
            self.shed_count, self.shed_noted = 0, now

    def handle(self, connection: socket.socket, port: int) -> None:
        import threading

        try:
            if port == PROXY_PORT:
                self.serve_proxy(connection)
            elif port in self.transparent_ports:
                self.serve_transparent(connection, port)
            else:
                self.serve_host_port(connection, port)
        except (OSError, ClaudeboxError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self.note(f"connection to port {port} ended: {reason}")
        except Exception as error:  # a bug, on input from inside: logged, never a traceback
            self.note(f"connection to port {port} ended: internal error ({error!r})")
        finally:
            self.forget(connection)
            with self.lock:
                self.handlers.discard(threading.current_thread())

    def forget(self, item: socket.socket) -> None:
        with self.lock:
            self.active.discard(item)
        item.close()

    def open_upstream(self, address: str, port: int) -> socket.socket:
        """A connection to ADDRESS:PORT from the host's side (stop() shuts it down; the caller
        forgets it when done)."""
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with self.lock:
            self.active.add(upstream)
        try:
            upstream.settimeout(PROXY_TIMEOUT)
            upstream.connect((address, port))
        except OSError:
            self.forget(upstream)
            raise
        return upstream

    def serve_host_port(self, connection: socket.socket, port: int) -> None:
        try:
            upstream = self.open_upstream("127.0.0.1", port)
        except OSError as error:
            self.note(f"host port {port}: the host's side refused ({error.strerror or error})")
            return
        try:
            self.note(f"host port {port}: connected")
            sent, received, cut = relay_bytes(connection, upstream)
        finally:
            self.forget(upstream)
        ending = f" ({cut})" if cut else ""
        self.note(f"host port {port}: closed, {sent} bytes sent, {received} received{ending}")

    def refuse(self, connection: socket.socket, what: str, refusal: Refusal) -> None:
        """Answer `refusal`, then close: on a plain connection, after reading (and dropping)
        what the client still sends for a moment, so that closing with its bytes unread does
        not reset the connection before the client has read the answer."""
        import select

        self.note(f"refused {what}: {refusal.reason}")
        with contextlib.suppress(OSError):
            connection.settimeout(PROXY_TIMEOUT)
            connection.sendall(refusal.response())
            if type(connection) is not socket.socket:  # TLS: closed as it is
                return
            connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + REFUSAL_LINGER
            left, drained = REFUSAL_LINGER, 0
            while drained < PROXY_HEAD_LIMIT * 4 and left > 0:
                if not select.select([connection], [], [], left)[0]:
                    break
                chunk = connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
                left = deadline - time.monotonic()

    def serve_proxy(self, connection: socket.socket) -> None:
        read = read_request_head(connection)
        if read is None:
            self.note("a connection to the proxy closed before a request")
            return
        if isinstance(read, Refusal):
            self.refuse(connection, "a request", read)
            return
        connection.settimeout(PROXY_TIMEOUT)
        head, rest = read
        target = head.split(b" ", 2)[1:2]
        if target and target[0].startswith(b"/"):  # origin form: Claude's base URL, the relay
            self.serve_gateway(connection, head, rest)
            return
        request = parse_proxy_request(head)
        if isinstance(request, Refusal):
            self.refuse(connection, "a request", request)
            return
        what = f"{request.method} {request.authority}"
        if self.relay.on_host and not self.proxy_authorized(request):
            self.refuse(connection, what, Refusal(407, "this proxy is the session's own"))
            return
        if request.host in LOGIN_HOSTS:
            self.serve_login_host(connection, request, rest)
            return
        if request.method == "CONNECT":
            reply, first = b"HTTP/1.1 200 Connection established\r\n\r\n", rest
        else:
            reply, first = b"", forwarded_head(request) + rest
        self.carry(
            connection,
            request,
            what,
            reply,
            first,
            lambda refusal: self.refuse(connection, what, refusal),
        )

    def carry(
        self,
        connection: socket.socket,
        request: ProxyRequest,
        what: str,
        reply: bytes,
        first: bytes,
        refuse: Callable[[Refusal], None],
    ) -> None:
        """The request's connection, if the tier allows it: `reply` to the client and `first`
        upstream once connected, then both ways until both ends close; else `refuse`."""
        verdict = self.tunnel_verdict(request)
        if isinstance(verdict, Refusal):
            refuse(verdict)
            return
        opened = self.connect(request)
        if isinstance(opened, Refusal):
            refuse(opened)
            return
        upstream, address = opened
        try:
            self.note(f"allowed {what} -> {address} ({verdict.describe()}, {verdict.origin})")
            connection.sendall(reply)
            upstream.sendall(first)
            sent, received, cut = relay_bytes(connection, upstream)
        finally:
            self.forget(upstream)
        ending = f" ({cut})" if cut else ""
        self.note(f"closed {what}: {sent} bytes sent, {received} received{ending}")

    # Tools that ignore the proxy (allowlist): the resolver, and connections carried by name.

    def rules_now(self) -> tuple[AllowRule, ...]:
        """The session's allow rules at this moment (the resolver and every verdict read them
        here: rules added while the session runs apply at once)."""
        return self.rules

    def answer_questions(self) -> None:
        """The questions waiting at the resolver's socket, answered here: never forwarded."""
        assert self.resolver is not None
        for _ in range(64):  # then the listeners get their turn
            try:
                packet, peer = self.resolver.recvfrom(4096)
            except OSError:  # none left (EAGAIN), or the socket closed
                return
            answer = answer_dns(packet, self.rules_now(), self.names)
            if answer.response is not None:
                with contextlib.suppress(OSError):
                    self.resolver.sendto(answer.response, peer)
            if answer.note:
                self.resolver_notes += 1
                if self.resolver_notes < RESOLVER_LOG_LIMIT:
                    self.note(answer.note)
                elif self.resolver_notes == RESOLVER_LOG_LIMIT:
                    self.note(f"resolver: {RESOLVER_LOG_LIMIT} lines logged; no more this session")

    def listen_transparent(self, port: int) -> bool:
        """Carry `port` inside by name too (a port allowed while the session runs): a spare
        socket bound to 0.0.0.0:PORT in the sandbox's namespace. False, logged, when no spare
        is left or the port is taken there; True when it is carried already."""
        with self.lock:
            if port in self.transparent_ports:
                return True
            taken = port in self.listeners.values()
            spare = self.spares.pop() if self.spares and not taken else None
        if spare is None:
            why = "it is another of claudebox's ports" if taken else "no spare socket is left"
            self.note(f"port {port} is not carried by name: {why}")
            return False
        try:
            spare.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            spare.bind(("0.0.0.0", port))
            spare.listen(128)
            spare.setblocking(False)
        except OSError as error:
            spare.close()
            self.note(f"port {port} is not carried by name: {error.strerror or error}")
            return False
        with self.lock:
            self.listeners[spare] = port
            self.transparent_ports.add(port)
            self.added.append(spare)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"a")
        self.note(f"port {port} is carried by name from now on")
        return True

    def register_added(self, selector: selectors.BaseSelector) -> bool:
        """The listeners listen_transparent made, served from now on; False: stop() woke the
        accept loop."""
        import selectors

        try:
            woken = os.read(self.wake_r, 4096)
        except OSError:
            return False
        with self.lock:
            added, self.added = self.added, []
        for listener in added:
            selector.register(listener, selectors.EVENT_READ, listener)
        return b"x" not in woken

    def serve_transparent(self, connection: socket.socket, port: int) -> None:
        """A connection from a tool that ignores the proxy: its destination's address is the
        name the resolver answered; the TLS server name (443) or the HTTP Host (80) must agree.
        Then the same verdict, connection and log as a CONNECT to NAME:PORT."""
        address = connection.getsockname()[0]
        name = self.names.name_at(address)
        if name is None:
            self.note(
                f"refused a connection to {address}:{port}: not an address the resolver gave "
                "(only names on the allowlist are reached, by name)"
            )
            return
        what = f"connection to {name}:{port}"

        def refuse(refusal: Refusal) -> None:
            if port == 80:
                self.refuse(connection, what, refusal)
            else:  # no HTTP to answer in
                self.note(f"refused {what}: {refusal.reason}")

        connection.settimeout(PROXY_TIMEOUT)
        try:
            refusal = first_bytes_verdict(connection, name, port)
        except TimeoutError:
            refusal = Refusal(400, f"nothing complete sent within {PROXY_TIMEOUT:.0f} s")
        if refusal is not None:
            refuse(refusal)
            return
        request = ProxyRequest("CONNECT", name, port, "", "HTTP/1.1", ())
        if name in LOGIN_HOSTS:
            if port != LOGIN_PORT:
                refuse(
                    Refusal(403, f"Claude's hosts are reached over https only (port {LOGIN_PORT})")
                )
                return
            self.terminate_login(connection, name)
            return
        self.carry(connection, request, what, b"", b"", refuse)

    def proxy_authorized(self, request: ProxyRequest) -> bool:
        """full: whether the request carries this session's token (HTTPS_PROXY's user info)."""
        import binascii
        import hmac

        value = next((v for n, v in request.headers if n.lower() == "proxy-authorization"), "")
        scheme, _, encoded = value.partition(" ")
        try:
            given = binascii.a2b_base64(encoded.strip()) if scheme.lower() == "basic" else b""
        except binascii.Error:
            given = b""
        expected = f"{PROXY_USER}:{self.login.proxy_token}".encode()
        return hmac.compare_digest(given, expected)

    def tunnel_verdict(self, request: ProxyRequest) -> AllowRule | Refusal:
        """Whether the tier lets the proxy reach a name other than Claude's own."""
        tunnel = self.relay.tunnel
        if tunnel is Tunnel.LISTED:
            return proxy_verdict(request, self.rules_now())
        if tunnel is Tunnel.NOTHING:
            return Refusal(
                403,
                f"the none tier reaches only Claude's own hosts ({', '.join(LOGIN_HOSTS)}); "
                "choose another tier (claudebox --network inet) to reach more",
            )
        return AllowRule(request.host, (request.port,), TUNNEL_MEANING[tunnel])

    def connect(self, request: ProxyRequest) -> tuple[socket.socket, str] | Refusal:
        """A connection to the request's host, resolved here (never by the client), to the
        first of its addresses the tier may reach."""
        found = self.resolve(request.host, request.port, gateway=False)
        if isinstance(found, Refusal):
            return found
        failure = ""
        for address in found:
            try:
                return self.open_upstream(address, request.port), address
            except OSError as error:
                failure = f"{address}:{request.port}: {error.strerror or error}"
        return Refusal(502, f"cannot connect to {request.host} ({failure})")

    def resolve(self, host: str, port: int, *, gateway: bool) -> list[str] | Refusal:
        """`host`'s IPv4 addresses the relay may connect to (a gateway the user named: all)."""
        if IPV4_LITERAL_PATTERN.fullmatch(host):
            addresses = [host]
        else:
            try:
                found = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
            except OSError as error:
                return Refusal(
                    502, f"cannot resolve {host} on the host ({error.strerror or error})"
                )
            addresses = list(dict.fromkeys(str(item[4][0]) for item in found))
        if not addresses:
            return Refusal(502, f"cannot resolve {host} on the host (no IPv4 address)")
        if gateway:
            return addresses
        origins = {address: self.blocked_origin(address, port) for address in addresses}
        for address, origin in origins.items():
            if origin is not None:
                self.note(f"{host} resolves to {address} {origin}: never connected to")
        usable = [address for address, origin in origins.items() if origin is None]
        if not usable:
            return Refusal(
                403,
                f"{host} resolves to {addresses[0]} {origins[addresses[0]]}: the "
                f"{self.relay.tier.value} tier never connects to private, link-local, "
                "loopback or the host's own networks",
            )
        return usable

    def blocked_origin(self, address: str, port: int) -> str | None:
        """Why the relay never connects to ADDRESS:PORT (blocked_origin), or None: in the
        launch's blocked set (the fixed ranges, what the host routed then), or what the host
        routes other than to the internet at this moment (host_route_origin). A relay that
        blocks nothing (full's) looks nothing up."""
        origin = blocked_origin(address, self.relay.blocked)
        if origin is not None or not self.relay.blocked:
            return origin
        try:
            return host_route_origin(address, port)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            return f"(the host's route lookup answered: {reason})"

    # Claude's login: TLS ends here for its own hosts; requests pass one by one.

    def prepare_tls(self) -> None:
        """Make the TLS contexts now, on a thread of their own, while Claude starts: ssl's
        import and the system CA bundle cost ~30 ms of CPU, which Claude's first request to
        its hosts would otherwise wait for (the request makes them if this has not, and
        reports why not if they cannot be made)."""
        import threading

        def make() -> None:
            with contextlib.suppress(Exception):
                self.contexts()

        threading.Thread(target=make, name="tls", daemon=True).start()

    def contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """(the server context with the session's certificate, the client context that
        verifies Anthropic's servers with the system CA bundle), made once."""
        import ssl

        with self.tls_lock:  # (not self.lock: making them takes a while)
            if self.tls is None:
                server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server.set_alpn_protocols(["http/1.1"])
                files = []
                try:
                    for pem in (self.certificate.chain, self.certificate.key):
                        fd = os.memfd_create("claudebox-login", os.MFD_CLOEXEC)
                        files.append(fd)
                        os.write(fd, pem)
                    server.load_cert_chain(fd_path(files[0]), fd_path(files[1]))
                finally:
                    for fd in files:
                        os.close(fd)
                client = ssl.create_default_context(cafile=self.relay.login.ca_bundle or None)
                client.set_alpn_protocols(["http/1.1"])
                self.tls = (server, client)
            return self.tls

    def serve_login_host(
        self, connection: socket.socket, request: ProxyRequest, rest: bytes
    ) -> None:
        what = f"{request.method} {request.authority}"
        if request.method != "CONNECT" or request.port != LOGIN_PORT or rest:
            self.refuse(
                connection,
                what,
                Refusal(
                    403, f"Claude's hosts are reached over https only (CONNECT HOST:{LOGIN_PORT})"
                ),
            )
            return
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.terminate_login(connection, request.host)

    def terminate_login(self, connection: socket.socket, host: str) -> None:
        """TLS for one of Claude's hosts ends here, with the session's certificate."""
        server, _client = self.contexts()
        connection.settimeout(PROXY_TIMEOUT)  # the whole handshake (ssl's own deadline)
        tls = server.wrap_socket(connection, server_side=True)
        with self.lock:
            self.active.add(tls)
        try:
            self.serve_login(Wire(tls), Upstream("https", host, LOGIN_PORT))
        finally:
            self.forget(tls)

    def serve_gateway(self, connection: socket.socket, head: bytes, rest: bytes) -> None:
        """Claude's base URL inside (the host sets ANTHROPIC_BASE_URL): on to that gateway."""
        if not self.relay.login.upstream:
            self.refuse(
                connection,
                "a request",
                Refusal(400, "not a proxy request: this is claudebox's proxy ($HTTPS_PROXY)"),
            )
            return
        upstream = upstream_of_url(self.relay.login.upstream)
        self.serve_login(Wire(connection, head + b"\r\n\r\n" + rest), upstream)

    def open_login_upstream(self, upstream: Upstream) -> Wire:
        found = self.resolve(upstream.host, upstream.port, gateway=upstream.gateway)
        if isinstance(found, Refusal):
            raise ClaudeboxError(found.reason)
        failure: OSError | None = None
        for address in found:
            try:
                sock = self.open_upstream(address, upstream.port)
                break
            except OSError as error:
                failure = error
        else:
            raise ClaudeboxError(f"cannot connect to {upstream.authority} ({failure})")
        if upstream.scheme == "https":
            _server, client = self.contexts()
            try:
                wrapped = client.wrap_socket(sock, server_hostname=upstream.host)
            except OSError as error:
                self.forget(sock)
                raise ClaudeboxError(f"TLS with {upstream.authority} failed ({error})") from error
            with self.lock:
                self.active.discard(sock)
                self.active.add(wrapped)
            sock = wrapped
        sock.settimeout(UPSTREAM_TIMEOUT)
        return Wire(sock)

    def exchange(self, upstream: Upstream, head: HttpHead, body: bytes) -> tuple[HttpHead, bytes]:
        """One request of the relay's own (a token refresh) and its whole answer."""
        link = self.open_login_upstream(upstream)
        try:
            link.sock.sendall(head.render() + body)
            answer = self.read_answer(link, head.line[0])
            return answer, read_body(link, body_framing(answer, method=head.line[0]))
        finally:
            self.forget(link.sock)

    def read_answer(self, link: Wire, method: str, client: socket.socket | None = None) -> HttpHead:
        """The next final answer's head (interim 1xx answers passed on to `client`)."""
        while True:
            raw = link.head()
            if raw is None:
                raise ConnectionError("the server closed without answering")
            answer = parse_head(raw, request=False)
            if isinstance(answer, Refusal):
                raise ConnectionError(answer.reason)
            if 100 <= answer.status < 200 and answer.status != 101:
                if client is not None:
                    client.sendall(answer.render())
                continue
            return answer

    def serve_login(self, client: Wire, upstream: Upstream) -> None:
        """Claude's requests to one of Anthropic's hosts (or the host's gateway), one by one on
        a kept-alive connection: each placeholder swapped for the real credential, any other
        credential refused; token requests answered here; answers streamed back."""
        link: Wire | None = None
        try:
            while True:
                client.sock.settimeout(PROXY_IDLE_TIMEOUT)
                try:
                    raw = client.head(within=PROXY_TIMEOUT)
                except HeadRefused as refused:
                    self.refuse(client.sock, f"a request to {upstream.authority}", refused.refusal)
                    return
                if raw is None:
                    return
                client.sock.settimeout(PROXY_TIMEOUT)
                head = parse_head(raw, request=True)
                if isinstance(head, Refusal) or not head.line[1].startswith("/"):
                    refusal = head if isinstance(head, Refusal) else Refusal(400, "not origin form")
                    self.refuse(client.sock, f"a request to {upstream.authority}", refusal)
                    return
                method, target, _version = head.line
                path = target.split("?", 1)[0]
                what = f"{method} {upstream.authority}{path}"
                token_request = method == "POST" and path in (OAUTH_TOKEN_PATH, OAUTH_REVOKE_PATH)
                if token_request and upstream.host == OAUTH_HOST and not upstream.gateway:
                    self.answer_token_request(client, head, path, what)
                    if head.closes:
                        return
                    continue
                swapped = self.login.swap(head)
                if isinstance(swapped, Refusal):
                    self.note(f"refused login {what}: {swapped.reason}")
                    client.sock.sendall(
                        json_answer(swapped.status, api_error(swapped), swapped.phrase)
                    )
                    return
                outgoing, used = swapped
                if upstream.gateway and self.relay.on_host and not used:
                    refusal = Refusal(403, "the session's gateway takes only its own requests")
                    self.note(f"refused login {what}: {refusal.reason}")
                    client.sock.sendall(
                        json_answer(refusal.status, api_error(refusal), refusal.phrase)
                    )
                    return
                rewrite = (
                    not upstream.gateway
                    and upstream.host == FIRST_PARTY_HOST
                    and method == "POST"
                    and path == CREATE_API_KEY_PATH
                )
                outgoing = outgoing.with_headers(
                    ("host", *(("accept-encoding",) if rewrite else ())),
                    [("Host", upstream.authority)]
                    + ([("Accept-Encoding", "identity")] if rewrite else []),
                )
                outgoing = outgoing._replace(
                    line=(method, upstream.prefix + target, outgoing.line[2])
                )
                if link is None or link_closed(link):
                    if link is not None:
                        self.forget(link.sock)
                    link = self.open_login_upstream(upstream)
                link.sock.sendall(outgoing.render())
                copy_body(client, link.sock, body_framing(head))
                answer = self.read_answer(link, method, client.sock)
                if not upstream.gateway:  # a session cookie would be a login of its own inside
                    answer = answer.with_headers(("set-cookie", "set-cookie2"), [])
                if answer.status == 401:
                    self.login.failed.update(used)
                self.note(f"login {what} -> {answer.status}")
                if rewrite and answer.status == 200:
                    document = self.login.api_key(
                        json_object(read_body(link, body_framing(answer, method=method)))
                    )
                    client.sock.sendall(json_answer(200, document))
                else:
                    guard = SecretGuard(used)
                    guard.check(answer.render())
                    client.sock.sendall(answer.render())
                    if answer.status == 101:  # a protocol of its own now (a WebSocket)
                        client.sock.sendall(link.data)
                        link.sock.sendall(client.data)
                        relay_bytes(client.sock, link.sock)
                        return
                    copy_body(link, client.sock, body_framing(answer, method=method), guard)
                if (
                    head.closes
                    or answer.closes
                    or body_framing(answer, method=method)[0] == "close"
                ):
                    return
        except ClaudeboxError as error:
            self.note(f"login request to {upstream.authority} failed: {error}")
            with contextlib.suppress(OSError):
                failed = Refusal(502, str(error))
                client.sock.sendall(json_answer(502, api_error(failed), failed.phrase))
        finally:
            if link is not None:
                self.forget(link.sock)

    def answer_token_request(self, client: Wire, head: HttpHead, path: str, what: str) -> None:
        """Claude's OAuth token requests, answered here: a refresh or a login on the host's
        file (LoginSession.token); a revoke leaves the host's login as it is."""
        body = read_body(client, body_framing(head))
        if path == OAUTH_REVOKE_PATH:
            status, document = 200, dict[str, object]()
        else:
            status, document = self.login.token(json_object(body))
        client.sock.sendall(json_answer(status, document))
        self.note(f"login {what} -> {status} (answered by claudebox)")

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"x")
        self.acceptor.join(RELAY_STOP_TIMEOUT)
        with self.lock:
            unused = [*self.listeners, *filter(None, [self.resolver]), *self.spares]
        for listener in unused:
            listener.close()
        with self.lock:
            for item in self.active:
                with contextlib.suppress(OSError):
                    item.shutdown(socket.SHUT_RDWR)
            handlers = list(self.handlers)
        deadline = time.monotonic() + RELAY_STOP_TIMEOUT
        for handler in handlers:
            handler.join(max(deadline - time.monotonic(), 0))
        for fd in (self.wake_r, self.wake_w, self.reserve):
            if fd is not None:
                os.close(fd)
        if self.shed_count:
            self.note(f"closed {self.shed_count} more connections unserved")
        self.note("session ended")
        with self.lock:
            self.log.close()


def link_closed(link: Wire) -> bool:
    """Whether a kept-alive upstream connection was closed by its server meanwhile."""
    import select

    if link.data:
        return False
    readable, _w, _x = select.select([link.sock], [], [], 0)
    if not readable:
        return False
    try:
        return not link.sock.recv(1, socket.MSG_PEEK)
    except (OSError, ValueError):
        return True


# --- the network: the OS edge: the control socket (claudebox allow, claudebox log) ------------


def control_address(directory_fd: int, name: str) -> str:
    """A unix socket address for `name` in the directory open at `directory_fd` (a path through
    /proc/self/fd: never longer than sun_path holds, however deep the home)."""
    return f"/proc/self/fd/{directory_fd}/{name}"


def read_line(connection: socket.socket, limit: int, timeout: float) -> bytes | None:
    """One line (without its newline) within `timeout` seconds in all, or None: the peer
    closed first, or sent more than `limit` bytes. TimeoutError when the time is up."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        if len(data) > limit:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no whole line in time")
        connection.settimeout(remaining)
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    line = data.partition(b"\n")[0]
    return line if len(line) <= limit else None


def peer_credentials(connection: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a unix socket (SO_PEERCRED)."""
    pid, uid, _gid = struct.unpack(
        "=3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    )
    return pid, uid


def sweep_control_sockets(directory_fd: int, own: str) -> None:
    """Remove the control sockets killed sessions left: nothing listens on them any more."""
    for name in os.listdir(directory_fd):
        if name == own or not CONTROL_SOCKET_PATTERN.fullmatch(name):
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.setblocking(False)  # a full backlog (a stopped session) answers EAGAIN
            try:
                probe.connect(control_address(directory_fd, name))
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    if stat.S_ISSOCK(os.lstat(name, dir_fd=directory_fd).st_mode):
                        os.unlink(name, dir_fd=directory_fd)
            except OSError:
                pass


class ControlServer:
    """A running session's control socket, control-PID.sock in the instance directory (never
    in the sandbox's view), 0600: claudebox allow asks for the session's state and adds a rule;
    claudebox log checks the session still runs. One thread of the supervisor serves one
    connection at a time, each a JSON line each way within CONTROL_TIMEOUT, and answers only
    processes of the user's own uid (SO_PEERCRED). stop() removes the socket."""

    def __init__(self, directory: str, relay: RelayServer) -> None:
        import threading

        self.relay = relay
        self.path = os.path.join(directory, f"control-{os.getpid()}.sock")
        self.listener, self.identity = self.bind(directory, os.path.basename(self.path))
        self.wake_r, self.wake_w = os.pipe()
        self.stopping = False
        self.serving: socket.socket | None = None  # the connection being answered
        self.thread = threading.Thread(target=self.serve, name="control", daemon=True)
        self.thread.start()

    @staticmethod
    def bind(directory: str, name: str) -> tuple[socket.socket, tuple[int, int]]:
        """The listening socket, bound under a temporary name, made 0600 and listening before
        it is renamed to `name`: a control-*.sock that refuses a connection is a dead one."""
        directory_fd = os.open(
            directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sweep_control_sockets(directory_fd, name)
            temporary = f"{name}.new"
            for leftover in (temporary, name):  # an earlier session with our pid, killed
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover, dir_fd=directory_fd)
            listener.bind(control_address(directory_fd, temporary))
            os.chmod(temporary, 0o600, dir_fd=directory_fd)
            listener.listen(8)
            os.rename(temporary, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
            info = os.lstat(name, dir_fd=directory_fd)
        except BaseException:
            listener.close()
            raise
        finally:
            os.close(directory_fd)
        return listener, (info.st_dev, info.st_ino)

    def serve(self) -> None:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ, self.listener)
            selector.register(self.wake_r, selectors.EVENT_READ, None)
            while not self.stopping:
                for key, _events in selector.select():
                    if key.data is None:
                        return
                    try:
                        connection, _address = self.listener.accept()
                    except OSError:
                        continue
                    self.serving = connection
                    with connection:
                        self.serve_one(connection)
                    self.serving = None

    def serve_one(self, connection: socket.socket) -> None:
        try:
            peer, uid = peer_credentials(connection)
            if uid != os.getuid():
                self.relay.note(f"control: refused a connection from uid {uid}")
                return
            line = read_line(connection, CONTROL_REQUEST_LIMIT, CONTROL_TIMEOUT)
            if line is None:  # closed at once (claudebox log's check), or too long
                return
            answer = self.answer(line, peer)
            connection.settimeout(CONTROL_TIMEOUT)
            connection.sendall(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass
        except Exception as error:  # a bug: logged, never a traceback, the session goes on
            self.relay.note(f"control: internal error ({error!r})")

    def answer(self, line: bytes, peer: int) -> dict[str, object]:
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("op") not in ("status", "allow"):
            return {"error": "not a request claudebox understands (op: status or allow)"}
        tier = self.relay.relay.tier
        if request["op"] == "status":
            allowed = [[r.pattern, list(r.ports), r.origin] for r in self.relay.rules_now()]
            return {"session": os.getpid(), "tier": tier.value, "allowed": allowed}
        refusal = NETWORK_POLICIES[tier].no_additions
        if refusal:
            return {"error": refusal}
        entry = request.get("entry")
        if not isinstance(entry, str):
            return {"error": "allow needs an entry (a string)"}
        try:
            rule = parse_allow_entry(entry, ALLOW_ORIGIN, ALLOW_ORIGIN)
        except ClaudeboxError as error:
            return {"error": str(error)}
        covering = self.relay.allow(rule._replace(origin=f"{ALLOW_ORIGIN}, pid {peer}"))
        if covering is not None:
            return {"already": covering.describe(), "origin": covering.origin}
        return {"added": rule.describe()}

    def stop(self) -> None:
        """Stop serving and remove the socket (when it is still this session's)."""
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"x")
        serving = self.serving
        if serving is not None:  # a slow client does not hold the end of the session
            with contextlib.suppress(OSError):
                serving.shutdown(socket.SHUT_RDWR)
        self.thread.join(RELAY_STOP_TIMEOUT)
        with contextlib.suppress(OSError):
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self.identity:
                os.unlink(self.path)
        self.listener.close()
        for fd in (self.wake_r, self.wake_w):
            os.close(fd)


def start_control(directory: str, relay: RelayServer) -> ControlServer | None:
    """The session's control socket; without one (noted in its log) the session runs all the
    same, and claudebox allow and claudebox log do not find it."""
    try:
        return ControlServer(directory, relay)
    except OSError as error:
        relay.note(
            f"no control socket in {directory} ({error.strerror or error}): claudebox allow "
            "and claudebox log cannot reach this session"
        )
        return None


def ask_session(
    directory_fd: int, name: str, pid: int, request: Mapping[str, object]
) -> dict[str, object] | None:
    """The answer of the session whose control socket is `name` (its claudebox's pid `pid`),
    or None: nothing listens there (a session that ended), or another process does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(CONTROL_TIMEOUT)
        try:
            connection.connect(control_address(directory_fd, name))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        except OSError as error:
            raise ClaudeboxError(
                f"cannot reach the session of pid {pid} ({error.strerror or error}); "
                "try again, or end that session"
            ) from error
        if peer_credentials(connection) != (pid, os.getuid()):
            return None
        answer: object = None
        reason = "not a JSON object"
        try:
            connection.sendall(json.dumps(request).encode() + b"\n")
            line = read_line(connection, CONTROL_ANSWER_LIMIT, CONTROL_TIMEOUT)
            if line is None:
                reason = "no answer line"
            answer = json.loads(line) if line is not None else None
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
        except ValueError:
            pass
    if not isinstance(answer, dict):
        raise ClaudeboxError(
            f"the session of pid {pid} gave no answer claudebox understands ({reason}); is its "
            "claudebox stopped (Ctrl-Z)? resume it (fg) and try again"
        )
    return answer


def session_of(name: str, pid: int, answer: Mapping[str, object]) -> RunningSession:
    """A status answer as a RunningSession; ValueError, TypeError or KeyError when it is not one."""
    allowed = answer["allowed"]
    if not isinstance(allowed, list) or answer["session"] != pid:
        raise TypeError("allowed must be a list, session the socket's pid")
    return RunningSession(
        pid,
        name,
        Tier(answer["tier"]),
        tuple(
            AllowRule(str(pattern), tuple(int(port) for port in ports), str(origin))
            for pattern, ports, origin in allowed
        ),
    )


def open_instance_directory(instance: Instance) -> int | None:
    """The instance directory, opened (never a link); None when the project has none yet."""
    try:
        return os.open(instance.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ClaudeboxError(f"cannot read {instance.dir}: {error.strerror}") from error


def running_sessions(instance: Instance) -> list[RunningSession]:
    """The project's sessions that answer on their control sockets."""
    directory_fd = open_instance_directory(instance)
    if directory_fd is None:
        return []
    sessions = []
    try:
        for name in sorted(os.listdir(directory_fd)):
            found = CONTROL_SOCKET_PATTERN.fullmatch(name)
            if not found:
                continue
            info = os.lstat(name, dir_fd=directory_fd)
            if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
                continue
            pid = int(found.group(1))
            answer = ask_session(directory_fd, name, pid, {"op": "status"})
            if answer is None:
                continue
            try:
                sessions.append(session_of(name, pid, answer))
            except (ValueError, TypeError, KeyError) as error:
                raise ClaudeboxError(
                    f"the session of pid {pid} gave no answer claudebox understands ({error}); "
                    "is it an older claudebox? end it and start it again"
                ) from error
    finally:
        os.close(directory_fd)
    return sessions


def session_running(instance: Instance, session: RunningSession) -> bool:
    """Whether the session still listens on its control socket."""
    directory_fd = open_instance_directory(instance)
    if directory_fd is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.setblocking(False)
            probe.connect(control_address(directory_fd, session.socket))
            return peer_credentials(probe)[0] == session.pid
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:  # (its backlog full, say): it is there
        return True
    finally:
        os.close(directory_fd)


def allow_while_running(
    instance: Instance, rule: AllowRule, edit: ProfileEdit | None, home: str
) -> int:
    """claudebox allow: `rule` goes to the project's running allowlist sessions (and `edit`, the
    profile, is saved) once the person confirms on this terminal."""
    sessions = running_sessions(instance)
    project = printable(instance.root)
    if not sessions:
        raise ClaudeboxError(
            f"no claudebox session of {project} is running (claudebox allow adds to a running "
            "session of the project in the current directory); cd into the project, or start "
            "its session first",
            EXIT_USAGE,
        )
    takers = [s for s in sessions if not NETWORK_POLICIES[s.tier].no_additions]
    if not takers:
        other = sessions[0]
        raise ClaudeboxError(
            f"the session of {project} (claudebox pid {other.pid}) runs in the "
            f"{other.tier.value} network tier: {NETWORK_POLICIES[other.tier].no_additions}",
            EXIT_USAGE,
        )
    missing = []
    for session in takers:
        covering = covering_rule(rule, session.allowed)
        if covering is None:
            missing.append(session.pid)
        else:
            write_stderr(
                f"claudebox: {rule.describe()} is allowed in session {session.pid} already "
                f"({covering.describe()}, {covering.origin})\n"
            )
    if edit is not None and edit.document is None:
        write_stderr(f"claudebox: profile {edit.name} allows {rule.describe()} already\n")
    saving = edit if edit is not None and edit.document is not None else None
    if not missing and saving is None:
        return 0
    profile = (printable(tilde(saving.path, home)), saving.new) if saving else None
    question = allow_question(rule, project, missing, profile)
    if not confirm(question, what="claudebox allow", fix=ALLOW_CONFIRM_FIX):
        write_stderr("claudebox: nothing changed\n")
        return EXIT_USAGE
    for pid in missing:
        answer = add_to_session(instance, pid, rule)
        if answer is None or "error" in answer:
            reason = answer["error"] if answer else "it ended meanwhile"
            raise ClaudeboxError(f"session {pid} did not take {rule.describe()}: {reason}")
        write_stderr(f"claudebox: session {pid} allows {rule.describe()} from now on\n")
    if saving is not None:
        save_profile(saving)
        write_stderr(f"claudebox: saved {rule.describe()} in profile {saving.name}\n")
    return 0


def add_to_session(instance: Instance, pid: int, rule: AllowRule) -> dict[str, object] | None:
    """The session's answer to adding `rule`; None when it no longer runs."""
    directory_fd = open_instance_directory(instance)
    if directory_fd is None:
        return None
    try:
        request = {"op": "allow", "entry": rule.describe()}
        return ask_session(directory_fd, f"control-{pid}.sock", pid, request)
    finally:
        os.close(directory_fd)


def relay_logs(log_dir: str) -> list[tuple[str, int]]:
    """The network logs in `log_dir` as (name, its session's pid), oldest first."""
    try:
        names = sorted(os.listdir(log_dir))
    except OSError:
        return []
    return [
        (name, int(found.group(1)))
        for name in names
        if (found := RELAY_LOG_PATTERN.fullmatch(name))
    ]


def follow_log(instance: Instance) -> int:
    """claudebox log: the newest running session's network log, followed until that session
    ends (or Ctrl-C); with no session running, the newest log as it is."""
    logs = relay_logs(instance.network_log)
    sessions = {session.pid: session for session in running_sessions(instance)} if logs else {}
    followed = next(((n, sessions[pid]) for n, pid in reversed(logs) if pid in sessions), None)
    if followed is not None:
        name, session = followed
        print_log(
            os.path.join(instance.network_log, name), lambda: session_running(instance, session)
        )
        return 0
    if not logs:
        raise ClaudeboxError(
            f"no network log of {printable(instance.root)} yet: each session writes one; start "
            "claudebox in this project (or cd into the project whose log you want)",
            EXIT_USAGE,
        )
    name = logs[-1][0]
    write_stderr(
        f"claudebox: no session of {printable(instance.root)} is running; its last network log "
        f"({printable(name)}):\n"
    )
    print_log(os.path.join(instance.network_log, name), None)
    return 0


def print_log(path: str, running: Callable[[], bool] | None) -> None:
    """Print the log at `path` line by line, each made printable() (a session chooses the
    names it asks for); while `running()` says so, wait for more, like tail -f."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise ClaudeboxError(f"cannot read {path}: {error.strerror}") from error
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ClaudeboxError(f"{path} is not a regular file; a network log is (move it aside)")
        pending = b""
        ended = running is None
        checked = time.monotonic()
        while True:
            chunk = os.read(fd, 65536)
            if chunk:
                lines, newline, pending = (pending + chunk).rpartition(b"\n")
                if newline:
                    write_stdout(os.fsdecode(lines + newline))
                if len(pending) > LOG_LINE_LIMIT:
                    write_stdout(os.fsdecode(pending) + "\n")
                    pending = b""
                continue
            if ended:
                break
            if running is not None and time.monotonic() - checked >= LOG_LIVENESS_INTERVAL:
                ended = not running()  # (then one more read: the lines it wrote last)
                checked = time.monotonic()
                continue
            time.sleep(LOG_POLL_INTERVAL)
        if pending:
            write_stdout(os.fsdecode(pending) + "\n")
    finally:
        os.close(fd)


def profile_edit(state_dir: str, name: str, home: str, rule: AllowRule) -> ProfileEdit:
    """claudebox allow --save NAME: the profile with `rule` added to its allow_domains, checked
    first as a launch reads it (a profile that fails to load is refused, never rewritten); a
    profile that does not exist yet is made (the question says so)."""
    check_profile_name(name, "--save")
    path = os.path.join(profiles_dir(state_dir), f"{name}.json")
    if not os.path.lexists(path):
        for private in (state_dir, profiles_dir(state_dir)):
            if os.path.lexists(private):
                check_private(private, os.getuid())
        return ProfileEdit(name, path, {"allow_domains": [rule.describe()]}, new=True)
    if os.path.islink(path):
        raise ClaudeboxError(
            f"--save: {path} is a symlink (made by home-manager?); claudebox writes only a "
            "profile file of its own: add the entry where that profile is made",
            EXIT_USAGE,
        )
    load_profile_file(state_dir, name, home, os.getuid())
    document = parse_json_document(path, read_profile_bytes(path))
    if not isinstance(document, dict):  # (load_profile_file refused that already)
        raise ClaudeboxError(f"{path}: (top level): must be a JSON object", EXIT_USAGE)
    network = document.get("network")
    if network not in (None, Tier.ALLOWLIST.value):
        raise ClaudeboxError(
            f"--save: profile {name} sets network {network}, and allow_domains need the "
            "allowlist tier; save the entry to another profile",
            EXIT_USAGE,
        )
    edited = profile_with_entry(document, rule, f"{path}: allow_domains")
    return ProfileEdit(name, path, edited, new=False)


def save_profile(edit: ProfileEdit) -> None:
    """Write the edited profile in place by rename (0600): a reader sees the old or the new."""
    if edit.document is None:
        return
    data = (json.dumps(edit.document, indent=2) + "\n").encode()
    try:
        make_private_dirs(os.path.dirname(edit.path))
        write_atomic(edit.path, data, replace=not edit.new)
    except OSError as error:
        raise state_write_error(f"update {edit.path}", edit.path, error) from error


# --- the network: the OS edge: --check's pasta ------------------------------------------------


def check_inet(pasta: str | None) -> list[CheckResult]:
    """pasta, /dev/net/tun, and pasta actually starting with the inet tier's options."""
    alternative = "or use --network full (or none)"
    if pasta is None:
        return [CheckResult("pasta", False, "not found on PATH", f"install passt {alternative}")]
    results = [CheckResult("pasta", True, pasta)]
    problem = tun_error()
    if problem is not None:
        results.append(
            CheckResult(
                "/dev/net/tun",
                False,
                f"not usable ({problem})",
                f"modprobe tun; chmod 0666 /dev/net/tun; {alternative}",
            )
        )
        return results
    results.append(CheckResult("/dev/net/tun", True, "usable"))
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


# --- values ---------------------------------------------------------------------------------


class Entry(NamedTuple):
    """A host path as the edge saw it, without following symlinks."""

    path: str
    kind: Kind
    target: str = ""  # a symlink's text
    resolved: str = ""  # where a symlink leads (real path), "" when nowhere
    resolved_kind: Kind = Kind.MISSING  # what it leads to


class MountOp(enum.Enum):
    """A bwrap filesystem option."""

    TMPFS = "--tmpfs"
    PROC = "--proc"
    DEV = "--dev"
    BIND = "--bind"
    RO_BIND = "--ro-bind"
    BIND_TRY = "--bind-try"
    RO_BIND_TRY = "--ro-bind-try"
    BIND_FD = "--bind-fd"  # a host path the stage opened without following symlinks
    RO_BIND_FD = "--ro-bind-fd"
    DATA = "--ro-bind-data"  # generated bytes from a descriptor
    WRITABLE_DATA = "--bind-data"  # the same, writable (a copy in bwrap's own tmpfs)
    SYMLINK = "--symlink"


FD_OPS: Final = (MountOp.BIND_FD, MountOp.RO_BIND_FD, MountOp.DATA, MountOp.WRITABLE_DATA)
WRITABLE_OPS: Final = (MountOp.BIND, MountOp.BIND_TRY, MountOp.BIND_FD)
BIND_OPS: Final = (*WRITABLE_OPS, MountOp.RO_BIND, MountOp.RO_BIND_TRY, MountOp.RO_BIND_FD)


class Mount(NamedTuple):
    """One bwrap filesystem operation: what --dry-run prints, the audit shows and bwrap gets."""

    op: MountOp
    dst: str
    src: str = ""  # the host path (for fd binds: what the stage opens), or a symlink's target
    fd: int = -1

    def to_args(self) -> list[str]:
        if self.op in (MountOp.TMPFS, MountOp.PROC, MountOp.DEV):
            return [self.op.value, self.dst]
        if self.op in FD_OPS:
            return [self.op.value, str(self.fd), self.dst]
        return [self.op.value, self.src, self.dst]

    @property
    def writable(self) -> bool:
        return self.op in WRITABLE_OPS

    def describe(self) -> str:
        if self.op in (MountOp.TMPFS, MountOp.PROC, MountOp.DEV):
            return f"{self.op.value.removeprefix('--')} {self.dst}"
        if self.op is MountOp.SYMLINK:
            return f"link {self.dst} -> {self.src}"
        mode = "rw" if self.writable or self.op is MountOp.WRITABLE_DATA else "ro"
        if self.op in (MountOp.DATA, MountOp.WRITABLE_DATA):
            return f"{mode} {self.dst} (generated)"
        source = f" <- {self.src}" if self.src != self.dst else ""
        return f"{mode} {self.dst}{source}"


class Pin(NamedTuple):
    """A mount the stage makes in its own namespace before bwrap runs: `path` onto itself (a
    mount point cannot be renamed or removed; read-only when asked), or `source` over it."""

    path: str
    kind: Kind  # what `path` must be, checked without following symlinks
    read_only: bool
    source: str = ""  # a directory bound over `path` (a per-project store); "": path itself
    reason: str = ""
    upper: str = ""  # an overlay: `source` read-only below, this directory taking the writes

    def describe(self) -> str:
        if self.upper:
            return f"rw {self.path} <- {self.source} (writes to {self.upper})"
        if self.source:
            return f"{'ro' if self.read_only else 'rw'} {self.path} <- {self.source}"
        if self.kind is Kind.LINK:
            return f"pinned symlink {self.path}"
        return f"{'ro' if self.read_only else 'pinned'} {self.path}"


class Opened(NamedTuple):
    """A host path the stage opens without following symlinks, at `fd`, for bwrap --bind-fd."""

    fd: int
    path: str


class Stage(NamedTuple):
    """claudebox's child before it execs bwrap: a user and mount namespace (and a network
    namespace for inet, which pasta joins, and for allowlist), what inet blocks, pins,
    descriptors, and the loopback ports whose listening sockets it hands to the supervisor."""

    network: bool
    blocked: tuple[BlockedPrefix, ...]  # inet: unreachable routes and nftables drop rules
    pins: tuple[Pin, ...]
    opened: tuple[Opened, ...]
    listen: tuple[int, ...] = ()  # 127.0.0.1 ports inside whose listeners the supervisor serves
    sealed: bool = False  # allowlist: nftables drop every packet that does not stay on lo
    transparent: tuple[int, ...] = ()  # allowlist: 0.0.0.0 ports inside, carried by name
    resolver: bool = False  # allowlist: a UDP socket on 127.0.0.1:53 inside, the relay answers
    spares: int = 0  # allowlist: unbound TCP sockets, for ports allowed while the session runs

    @property
    def handed(self) -> int:
        """How many sockets the stage hands the supervisor for the relay: the listeners
        (`listen`, then `transparent`), the resolver's, then the spares (inet's netlink
        sockets follow them: follows_routes)."""
        return len(self.listen) + len(self.transparent) + self.resolver + self.spares

    @property
    def follows_routes(self) -> bool:
        """inet: the stage hands the supervisor netlink sockets of the sandbox's namespace
        (ROUTE_WATCH_PROTOCOLS), with which its RouteWatcher blocks what the host routes later."""
        return bool(self.blocked)


class Login(NamedTuple):
    """Claude's login as the relay holds it. No value is here: the relay reads the host's
    credentials file for each request and the variables' values at launch."""

    claude_dir: str  # the host's ~/.claude: its .credentials.json and its refresh lock
    variables: tuple[str, ...]  # credential variables the host sets: placeholders inside
    upstream: str  # the host's ANTHROPIC_BASE_URL ("": Claude reaches api.anthropic.com itself)
    ca_bundle: str  # the system CA bundle the relay verifies Anthropic's servers with
    openssl: str  # makes the session's certificate
    instance: str  # the instance id: an API-key placeholder ends alike in the project's sessions
    account: str = ""  # the host's account (its ~/.claude.json): a login inside for another
    # account stays in that session, never replacing yours

    @property
    def credentials(self) -> str:
        return os.path.join(self.claude_dir, CREDENTIALS)


class DataKind(enum.Enum):
    GITCONFIG = "gitconfig"
    NOTE = "sandbox note"
    SECCOMP = "seccomp filter"
    RESOLV_CONF = "resolv.conf"
    REGISTRY = "nix registry"
    ENV = "environment"  # --setenv arguments bwrap reads with --args (never on an argv)
    LOGIN_ENV = "login environment"  # the same, made at launch: placeholders, the proxy's URL
    LOGIN_CA = "login CA certificate"  # made at launch: the session's CA
    CREDENTIALS = "login placeholders"  # made at launch: ~/.claude/.credentials.json inside
    BOOT_ID = "boot id"  # made at launch: a new one each session
    PASSWD = "passwd"
    GROUP = "group"
    KEYS = "kernel keys (none)"
    KEY_USERS = "kernel key users (none)"
    CMDLINE = "kernel command line (empty)"


# Made by whoever launches (a session, or a pasted --dry-run's --stage), never by the plan.
LAUNCH_DATA: Final = (
    DataKind.LOGIN_ENV,
    DataKind.LOGIN_CA,
    DataKind.CREDENTIALS,
    DataKind.BOOT_ID,
)


class DataInput(NamedTuple):
    """Bytes bwrap reads from a file descriptor (generated files, the seccomp program)."""

    fd: int
    content: bytes
    kind: DataKind


class HostSetup(NamedTuple):
    """A directory or file claudebox creates on the host before launch (never overwrites). A
    mount point (in claudebox's own state, where sessions write) must be a directory or a
    regular file: anything else found there is moved aside first (a planted symlink too)."""

    path: str
    content: str | None = None  # None: a directory
    mount_point: bool = False
    replace: bool = False  # a file of claudebox's own, rewritten at each launch

    def render(self) -> str:
        path = shell_quote(self.path)
        if self.replace:  # (its content can hold the host's values: not printed)
            return f": claudebox rewrites {path} at launch"
        make = (
            f"mkdir -p -m 700 {path}"
            if self.content is None
            else f"[ -e {path} ] || (umask 077 && printf %s {shell_quote(self.content)} > {path})"
        )
        if not self.mount_point:
            return make
        test = "-d" if self.content is None else "-f"
        aside = shell_quote(self.path + QUARANTINE_SUFFIX)
        return (
            f"{{ [ -L {path} ] || {{ [ -e {path} ] && [ ! {test} {path} ]; }}; }} && "
            f'mv -- {path} {aside}-"$$"; {make}'
        )


class Instance(NamedTuple):
    """Per-project state, keyed by the canonical project root."""

    id: str
    root: str
    dir: str

    @property
    def claude_store(self) -> str:
        """~/.claude inside."""
        return os.path.join(self.dir, "claude")

    @property
    def claude_json(self) -> str:
        """~/.claude.json inside (also seen as ~/.claude/.claude.json: the same file)."""
        return os.path.join(self.dir, "claude", ".claude.json")

    @property
    def nix_cache(self) -> str:
        return os.path.join(self.dir, "cache", "nix")

    @property
    def local_state(self) -> str:
        return os.path.join(self.dir, "state")

    @property
    def network_log(self) -> str:
        """The relay's logs, one per session (open_relay_log)."""
        return os.path.join(self.dir, "network-log")


class GitLayout(NamedTuple):
    """The project as git sees it, after claudebox checked git's answer."""

    top: str  # bound read-write: the current directory or one of its ancestors
    canonical_root: str  # instance key: the main worktree's root (worktrees share)
    git_dir: str  # the (common) git directory: config, hooks, objects; "" outside git
    outside: bool  # git_dir lies outside `top` (a linked worktree's or submodule's)
    hooks_path: str = ""  # core.hooksPath, resolved (husky's .husky and the like)
    program: str = ""  # the host's git, which found all this
    hooks_local: bool = False  # the hooksPath is the repository's own (else ~/.gitconfig's)
    user_hooks: str = ""  # core.hooksPath in your own git config, as written there


class Walk(NamedTuple):
    """A protected path and the steps from its root down to it, each seen without following
    symlinks; the walk stops at the first step that is a symlink or missing."""

    root: str
    relative: str
    steps: tuple[Entry, ...]
    create: bool = False  # git's own hooks directory: created when absent, then read-only
    pin_only: bool = False  # a git directory: pinned (it cannot be replaced), not read-only
    placeholder: str | None = None  # when absent: made with this text for the session (one
    # git reads as if there were none), read-only, so the session cannot make it; removed after
    judged_as: str = ""  # made in a session, judged as git's file of this name ("hooks")

    @property
    def path(self) -> str:
        return os.path.join(self.root, self.relative)


class Survey(NamedTuple):
    """Every directory of the project's tree, for every git repository in it: a survey reuses
    what an earlier one saw of a directory unchanged since (the same inode and ctime: the
    ctime changes with every entry made, removed or renamed in it, and no process can set it
    back), so a launch reads one lstat per directory and lists only those that changed."""

    top: str
    directories: Mapping[str, tuple[int, int]]  # "" (the top), "a/b" -> (inode, ctime_ns)
    marked: Mapping[str, tuple[str, ...]]  # directory -> the SURVEY_NAMES in it (any kind)
    unreadable: tuple[str, ...]  # directories that could not be listed
    taken_ns: int  # when it began (time.time_ns)
    listed: int = 0  # directories listed anew (the rest came from the earlier survey)
    cut: bool = False  # stopped at SURVEY_DIRECTORY_LIMIT
    reopened: tuple[tuple[str, int], ...] = ()  # made listable to be surveyed (the mode it had)

    @property
    def repositories(self) -> tuple[str, ...]:
        """Directories below the top holding a .git, sorted."""
        return tuple(sorted(rel for rel, names in self.marked.items() if rel and ".git" in names))


class ClaudeHome(NamedTuple):
    """The host's ~/.claude (what of it could come in) and ~/.claude.json."""

    dir: str
    entries: tuple[Entry, ...]  # top level, sorted by name, at most CLAUDE_HOME_SHOWN of them
    json: Mapping[str, object]
    left_out: int = 0  # entries that could come in beyond those (counted up to the scan limit)
    scan_cut: bool = False  # the scan stopped at its limit: more than left_out stay outside


class Layers(NamedTuple):
    """The files the project keeps on top of the host's (settings.json, .claude.json): what
    they hold now (None: no such file) and the host's values when they were last written."""

    host_settings: Mapping[str, object]  # the host's ~/.claude/settings.json ({}: none)
    settings: Mapping[str, object] | None  # the project's ~/.claude/settings.json
    claude_json: Mapping[str, object] | None  # the project's ~/.claude.json
    seen: Mapping[str, Mapping[str, object]] | None  # LAYERS_FILE (None: never written)


class Account(NamedTuple):
    """The user as the host's NSS names them (for the sandbox's own passwd and group)."""

    name: str
    gecos: str
    group: str  # the primary group's name


class HostFacts(NamedTuple):
    """Everything the builders need to know about the host, read once at the edge."""

    env: Mapping[str, str]
    uid: int
    gid: int
    euid: int
    home: str
    cwd: str
    git: GitLayout
    machine: str
    path_dirs: tuple[str, ...]  # host PATH entries, each resolved (real path), existing only
    claude: str | None  # real path of the claude executable, None when not found
    bwrap: str | None
    pasta: str | None
    tools: Mapping[str, str]  # "bash"/"sh"/"env" -> path inside the store
    ca_bundle: str | None  # what the sandbox's programs verify with (a path seen inside)
    system_ca_bundle: str | None  # what the host's own do: the relay verifies Anthropic with it
    openssl: str | None
    git_name: str | None
    git_email: str | None
    etc_present: frozenset[str]  # the ETC_READ_ONLY paths that exist
    claude_home: ClaudeHome
    layers: Layers
    protected: tuple[Walk, ...]  # project and git paths the host later executes or obeys
    state_dir: str  # ~/.claudebox
    account: Account
    other_session: bool = False  # another claudebox session of this project holds its lock
    resolved_secret_paths: tuple[str, ...] = ()  # where symlinked secret paths really are
    # inet: the host's addresses, policy rules and routes, None when they could not be read.
    routing: HostRouting | None = HostRouting()
    routing_error: str | None = None  # why not
    userns_blocker: str | None = None  # why user namespaces cannot work here
    tun_error: str | None = None  # why /dev/net/tun cannot be opened
    survey: Survey | None = None  # the project's tree, for the git repositories in it
    store_env: Mapping[str, str] = {}  # STORE_RESOLVED_ENV that lead into the store: resolved
    # claudebox's own code inside the project (the sandbox can change what the host runs next)
    claudebox_checkout: str | None = None


class ProfileMount(NamedTuple):
    src: str
    dst: str
    mode: str  # "ro" or "rw"
    origin: str  # the profile that declared it


class ProfileFile(NamedTuple):
    """One validated profile file, before `extends` is resolved."""

    name: str
    path: str
    description: str | None = None
    extends: tuple[str, ...] = ()
    network: Tier | None = None
    env: tuple[tuple[str, str], ...] = ()
    extra_env_passthrough: tuple[str, ...] = ()
    mounts: tuple[ProfileMount, ...] = ()
    packages: tuple[str, ...] = ()
    allow_secret_mounts: bool | None = None
    allow_domains: tuple[str, ...] = ()
    host_ports: tuple[int, ...] = ()
    mcp_servers: tuple[str, ...] = ()


class Profile(NamedTuple):
    """A resolved profile: its chain (parents first) merged, each value with its origin."""

    name: str
    chosen_by: str  # "--profile", "CLAUDEBOX_PROFILE" or "default"
    chain: tuple[str, ...]
    description: tuple[str, str] | None = None  # (value, origin)
    network: tuple[Tier, str] | None = None
    env: tuple[tuple[str, str, str], ...] = ()  # (name, value, origin)
    extra_env_passthrough: tuple[tuple[str, str], ...] = ()  # (name, origin)
    mounts: tuple[ProfileMount, ...] = ()
    packages: tuple[tuple[str, str], ...] = ()  # (attribute, origin)
    allow_secret_mounts: tuple[bool, str] = (False, "built-in default")
    allow_domains: tuple[tuple[str, str], ...] = ()  # (entry, origin)
    host_ports: tuple[tuple[int, str], ...] = ()  # (port, origin)
    mcp_servers: tuple[tuple[str, str], ...] = ()  # (name in the host's ~/.claude.json, origin)


class Options(NamedTuple):
    claude_args: tuple[str, ...] = ()
    tier: Tier = DEFAULT_TIER
    tier_origin: str = "default"
    shell: bool = False
    profile: Profile | None = None
    package_paths: tuple[str, ...] = ()  # resolved profile packages (store paths), in order
    nixpkgs: str | None = None  # CLAUDEBOX_NIXPKGS: the pinned nixpkgs for nix shell and comma
    extra_env: tuple[str, ...] = ()  # CLAUDEBOX_EXTRA_ENV names
    allow_domains: tuple[str, ...] = ()  # --allow-domain entries (the profile's: in profile)


class EnvVar(NamedTuple):
    name: str
    value: str
    origin: str  # "host", "sandbox", "profile", CLAUDEBOX_EXTRA_ENV or "profile NAME"

    @property
    def looks_secret(self) -> bool:
        return looks_secret(self.name)


class ClaudeView(NamedTuple):
    """One entry of ~/.claude as the audit shows it."""

    name: str
    treatment: Treatment
    note: str = ""  # e.g. "symlink into /nix/store", "unclassified"


class SandboxPlan(NamedTuple):
    """The complete sandbox: what --dry-run prints, what the audit shows, what runs.

    The process chain: the stage (claudebox's child) execs bwrap, whose pid-1 init runs the
    command (COMMAND_DEPTH levels below the stage); pasta (inet) runs beside it."""

    bwrap: str
    namespace_args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    mounts: tuple[Mount, ...]
    data: tuple[DataInput, ...]
    chdir: str
    command: tuple[str, ...]
    stage: Stage
    pasta: Pasta | None
    relay: Relay
    host_setup: tuple[HostSetup, ...]
    instance: Instance
    tier: Tier
    tier_origin: str
    project: str
    claude_view: tuple[ClaudeView, ...]
    own_settings: tuple[str, ...]  # settings.json keys the project has of its own
    mcp_in: tuple[tuple[str, str], ...]  # the host's MCP servers brought in (server, profile)
    mcp_out: tuple[str, ...]  # the host's MCP servers that stay outside
    mcp_env: tuple[tuple[str, str], ...]  # (server, variable): values they bring in
    profile: Profile | None
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    blockers: tuple[ClaudeboxError, ...]  # why this plan cannot launch here (--dry-run: warns)
    secret_mounts: tuple[str, ...]  # profile mount sources that are or hold secret paths
    watched: tuple[str, ...]  # protected paths absent at launch: created ones are reviewed
    placeholders: tuple[HostSetup, ...] = ()  # git files made for the session, removed after

    @property
    def argv(self) -> list[str]:
        args = [self.bwrap, *self.namespace_args, "--clearenv"]
        args += ["--args", str(self.data_fd(DataKind.ENV))]
        args += ["--args", str(self.data_fd(DataKind.LOGIN_ENV))]
        for mount in self.mounts:
            args += mount.to_args()
        args += ["--chdir", self.chdir, "--seccomp", str(self.seccomp_fd), "--", *self.command]
        return args

    def data_fd(self, kind: DataKind) -> int:
        return next(d.fd for d in self.data if d.kind is kind)

    @property
    def seccomp_fd(self) -> int:
        return self.data_fd(DataKind.SECCOMP)

    @property
    def writable(self) -> tuple[Mount, ...]:
        return tuple(m for m in self.mounts if m.writable)


class GcEntry(NamedTuple):
    instance_dir: str
    root: str | None  # None: no usable root or lock file (corrupt)
    size: int
    verdict: str  # "remove", "in use", "kept", "corrupt"
    sessions: int = 0  # Claude's transcripts in it
    last_used: float = 0.0  # when the newest was written (0: never)


class CheckResult(NamedTuple):
    name: str
    ok: bool
    detail: str
    hint: str = ""
    warning: bool = False


class OptionSpec(NamedTuple):
    flags: tuple[str, ...]
    help: str
    choices: tuple[str, ...] | None  # None: a flag; (): a free value (a profile name)


class Finding(NamedTuple):
    """Something a session left behind that the host may later run or obey."""

    path: str
    what: str  # what it is and why it matters
    moved_to: str = ""  # where claudebox moved it aside ("" : left in place)


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


def sha256_hex(data: bytes) -> str:
    return digest("sha256", data).hex()


def digest(name: str, data: bytes | memoryview) -> bytes:
    """hashlib's sha1 or sha256, of small data without loading OpenSSL (hashlib's import costs
    a launch 3 ms; CPython's own _sha1, _sha256 or _sha2 hash a MiB in as long, OpenSSL's in a
    tenth of it)."""
    if len(data) < 1 << 20:
        for module in (f"_{name}", "_sha2"):  # _sha1, _sha256 up to 3.11, _sha2 from 3.12
            with contextlib.suppress(ImportError, AttributeError):
                return bytes(getattr(__import__(module), name)(data).digest())
    return bytes(__import__("hashlib").new(name, data).digest())


def instance_for(canonical_root: str, state_dir: str) -> Instance:
    digest = sha256_hex(os.fsencode(canonical_root))[:16]
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
    if path == "/":
        raise ClaudeboxError(f"{what} is /; run claudebox from a project directory", EXIT_USAGE)
    if path == host.home:
        raise ClaudeboxError(
            f"{what} is your home directory ({host.home}), which holds your keys; "
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
    generated: Mapping[str, str | None],
    literal: Sequence[tuple[str, str]] = (),
) -> tuple[EnvVar, ...]:
    """Allowlisted host values, then (name, origin) passed through, literals, sandbox values
    (None: set at launch by the login relay, never part of the plan)."""
    variables: dict[str, EnvVar] = {}
    for name in ENV_ALLOWLIST:
        if name in host.env and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], "host")
    for name, origin in passthrough:
        if name in host.env and name not in variables and name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, host.env[name], origin)
    for name, value in literal:
        if name not in SANDBOX_DEFINED_ENV:
            variables[name] = EnvVar(name, value, "profile")
    for name, made in generated.items():
        origin = "sandbox" if made is not None else LOGIN_ORIGIN
        variables[name] = EnvVar(name, made or "", origin)
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


def passwd_field(value: str) -> str:
    """`value` as one field of a passwd or group line (no colon, newline or control character)."""
    return "".join(c for c in value if c != ":" and c.isprintable())


def passwd_text(host: HostFacts) -> str:
    """The sandbox's /etc/passwd: root and the user (named as the host names them, with the
    sandbox's home and a shell it has), no other account of the host's."""
    shell = host.tools.get("bash", "/bin/sh")
    account = host.account
    entries = {
        0: ("root", 0, "root", "/root"),
        host.uid: (account.name, host.gid, account.gecos, host.home),
    }
    return "".join(
        f"{passwd_field(name)}:x:{uid}:{gid}:{passwd_field(gecos)}:{passwd_field(home)}:{shell}\n"
        for uid, (name, gid, gecos, home) in sorted(entries.items())
    )


def group_text(host: HostFacts) -> str:
    """The sandbox's /etc/group: root's and the user's primary group, without members."""
    entries = {0: "root", host.gid: host.account.group}
    return "".join(f"{passwd_field(name)}:x:{gid}:\n" for gid, name in sorted(entries.items()))


def boot_id_text(random: bytes) -> bytes:
    """A boot id as the kernel prints one (a version 4 UUID and a newline) from 16 random bytes."""
    uuid = bytearray(random[:16])
    uuid[6] = uuid[6] & 0x0F | 0x40
    uuid[8] = uuid[8] & 0x3F | 0x80
    digits = uuid.hex()
    parts = (digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:])
    return ("-".join(parts) + "\n").encode()


def sandbox_note_text(project: str, home: str, tier: Tier, relay: Relay) -> str:
    network_line = NETWORK_POLICIES[tier].note
    if NETWORK_POLICIES[tier].takes_allowlist:
        network_line += "\n  Allowed: " + " ".join(rule.describe() for rule in relay.rules) + "."
        taken = ", ".join(map(str, transparent_ports(relay.rules, relay.ports)))
        network_line += f"\n  TCP ports {taken} inside are claudebox's (no server of yours there)."
    if relay.host_ports:
        ports = ", ".join(f"127.0.0.1:{port}" for port in relay.host_ports)
        network_line += f"\n  {ports} reach the same ports of the host's own loopback."
    protected = ", ".join((".git/config", ".git/hooks", *PROTECTED_PROJECT_PATHS))
    return (
        "# You are running inside claudebox\n\n"
        f"This Claude Code session runs in a bubblewrap sandbox (claudebox {__version__}).\n\n"
        f"- Visible: the project at {project} (read-write), /nix/store (read-only),\n"
        f"  a private /tmp and a private home ({home}) holding only ~/.claude, ~/.claude.json,\n"
        "  ~/.gitconfig and this project's own ~/.cache/nix and ~/.local/state.\n"
        "- Not visible: the rest of the user's home (SSH and GPG keys, cloud credentials), other\n"
        "  projects, host processes and the host's environment variables. Do not look for them.\n"
        f"- Read-only inside the project when present: {protected}.\n"
        f"- Network: {network_line}\n"
        "- Claude's login stays with claudebox: the tokens and keys inside are placeholders that\n"
        "  work only through its proxy ($HTTPS_PROXY); keep the proxy variables as they are.\n"
        "- There is no sudo and no system package manager. Get a tool for one command with\n"
        "  `, <tool> ...` (comma) or `nix shell nixpkgs#<package> -c <command>`.\n"
        "- Anything written outside the project (except ~/.claude) is gone when the session ends.\n"
    )


def follow_host(
    host: Mapping[str, object],
    seen: Mapping[str, object],
    current: Mapping[str, object],
    names: Iterable[str],
) -> dict[str, object]:
    """`current` with each of `names` the project has not changed since the host's values were
    last `seen` set to the host's value now (or removed with it): host changes arrive, the
    project's own changes stay."""
    result = dict(current)
    for name in sorted(set(names)):
        changed = (name in current) != (name in seen) or current.get(name) != seen.get(name)
        if changed:
            continue
        if name in host:
            result[name] = host[name]
        else:
            result.pop(name, None)
    return result


def own_changes(seen: Mapping[str, object], current: Mapping[str, object]) -> list[str]:
    """The keys a project changed against the host's values it last saw."""
    return sorted(k for k in {*seen, *current} if seen.get(k, ...) != current.get(k, ...))


class LayersPart(NamedTuple):
    setup: tuple[HostSetup, ...]
    own: tuple[str, ...]  # the settings the project has of its own
    mcp_in: tuple[tuple[str, str], ...]  # (server, profile) brought in from the host's
    mcp_out: tuple[str, ...]  # the host's servers that stay outside
    mcp_env: tuple[tuple[str, str], ...]  # (server, variable): values brought in with them
    warnings: tuple[str, ...]


def host_mcp_servers(
    claude_json: Mapping[str, object], directories: Sequence[str]
) -> dict[str, object]:
    """The MCP servers the host's ~/.claude.json names: user scope, then the project's own
    (Claude keys those by the directory it ran in: the project's root, or where it started)."""
    found: dict[str, object] = {}
    projects = claude_json.get("projects")
    scopes = [claude_json.get("mcpServers")]
    for directory in directories:
        local = projects.get(directory) if isinstance(projects, dict) else None
        scopes.append(local.get("mcpServers") if isinstance(local, dict) else None)
    for servers in scopes:
        if isinstance(servers, dict):
            found.update({str(name): config for name, config in servers.items()})
    return found


def plan_layers(host: HostFacts, instance: Instance, profile: Profile | None) -> LayersPart:
    """The project's settings.json and ~/.claude.json, rewritten from the host's with the
    project's own changes on top (what it changed since the last launch stays its own), with
    the host's MCP servers a profile names (mcp_servers); not while another session of the
    project runs (Claude rewrites them: an update would be lost)."""
    layers = host.layers
    settings_path = os.path.join(instance.claude_store, "settings.json")
    seen = layers.seen or {}
    old_settings = seen.get("settings.json", layers.settings or {})
    old_json = seen.get(".claude.json")
    current_json = layers.claude_json or {}
    if old_json is None:  # never layered (a new project, or an older claudebox's): as seen
        old_json = {k: current_json[k] for k in CLAUDE_JSON_USER_KEYS if k in current_json}
    host_json = host.claude_home.json
    settings_now = follow_host(
        layers.host_settings,
        old_settings,
        layers.settings or {},
        {*layers.host_settings, *old_settings},
    )
    servers = host_mcp_servers(host_json, [host.git.canonical_root, host.git.top, host.cwd])
    chosen = dict(profile.mcp_servers) if profile else {}
    warnings = [
        f"profile {origin} names the MCP server {name!r}, which your ~/.claude.json does not "
        "have; check the name (claude mcp list)"
        for name, origin in chosen.items()
        if name not in servers
    ]
    brought = {name: servers[name] for name in chosen if name in servers}
    host_layer: dict[str, object] = {
        k: host_json[k] for k in CLAUDE_JSON_USER_KEYS if k in host_json
    }
    json_now = follow_host(host_layer, old_json, current_json, CLAUDE_JSON_USER_KEYS)
    # Each server is a layer of its own: the project's own servers stay beside the host's.
    seen_servers = old_json.get("mcpServers")
    seen_servers = seen_servers if isinstance(seen_servers, dict) else {}
    current_servers = current_json.get("mcpServers")
    servers_now = follow_host(
        brought,
        seen_servers,
        current_servers if isinstance(current_servers, dict) else {},
        {*brought, *seen_servers},
    )
    json_now.pop("mcpServers", None)
    if servers_now or "mcpServers" in current_json:
        json_now["mcpServers"] = servers_now
    host_layer["mcpServers"] = brought
    own = tuple(own_changes(layers.host_settings, settings_now))
    warnings += at_most(unseen_commands(settings_now, host.home, (STORE_DIR, host.git.top)))
    inside = [name for name in servers_now if name in servers]
    part = LayersPart(
        (),
        own,
        tuple((name, chosen.get(name, "")) for name in inside),
        tuple(sorted(set(servers) - set(inside))),
        tuple(
            (name, str(key))
            for name, config in servers_now.items()
            if isinstance(config, dict) and isinstance(config.get("env"), dict)
            for key in config["env"]
        ),
        tuple(warnings),
    )
    if host.other_session:
        return part
    seen_now = {"settings.json": dict(layers.host_settings), ".claude.json": host_layer}
    steps = [HostSetup(os.path.join(instance.dir, LAYERS_FILE), json_text(seen_now), replace=True)]
    if settings_now != layers.settings and (settings_now or layers.settings is not None):
        steps.append(HostSetup(settings_path, json_text(settings_now), True, replace=True))
    if json_now != layers.claude_json:
        steps.append(HostSetup(instance.claude_json, json_text(json_now), True, replace=True))
    return part._replace(setup=tuple(steps))


def settings_commands(settings: Mapping[str, object]) -> list[tuple[str, str]]:
    """(where, command) of each command a settings file makes Claude run: hooks, statusLine."""
    found: list[tuple[str, str]] = []
    hooks = settings.get("hooks")
    for event, groups in hooks.items() if isinstance(hooks, dict) else ():
        for group in groups if isinstance(groups, list) else ():
            entries = group.get("hooks") if isinstance(group, dict) else None
            for entry in entries if isinstance(entries, list) else ():
                command = entry.get("command") if isinstance(entry, dict) else None
                if isinstance(command, str):
                    found.append((f"the {event} hook", command))
    status = settings.get("statusLine")
    command = status.get("command") if isinstance(status, dict) else None
    if isinstance(command, str):
        found.append(("the statusLine", command))
    return found


def unseen_commands(settings: Mapping[str, object], home: str, visible: Sequence[str]) -> list[str]:
    """Warnings for settings commands whose program is a path the sandbox cannot see (a
    script in ~/bin): inside they would fail with "not found"."""
    warnings = []
    for where, command in settings_commands(settings):
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        program = words[0] if words else ""
        if program.startswith("~/"):
            program = home + program[1:]
        for variable in ("$HOME/", "${HOME}/"):
            if program.startswith(variable):
                program = home + "/" + program[len(variable) :]
        claude_home = os.path.join(home, ".claude")
        if os.path.isabs(program) and not any(
            is_within(program, root) for root in (*visible, claude_home)
        ):
            warnings.append(
                f"{where} in your settings runs {program}, which the sandbox cannot see; "
                "use a program from /nix/store or one in ~/.claude"
            )
    return warnings


def json_text(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


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


def seccomp_filter(machine: str) -> bytes:
    """The sandbox's seccomp program: ioctl(TIOCSTI/TIOCLINUX) and the keyring system calls
    (add_key, request_key, keyctl) fail with EPERM, in every ABI of the machine; unknown ABIs
    are killed."""
    abis = SECCOMP_ABIS.get(machine)
    if abis is None:
        supported = ", ".join(SECCOMP_ABIS)
        raise ClaudeboxError(
            f"no seccomp filter for machine {machine!r} (supported: {supported}); "
            "claudebox will not start a sandbox without it"
        )
    program: list[tuple[int, int, str, str] | str] = [(BPF_LD_W_ABS, SECCOMP_DATA_ARCH, "", "")]
    for number, (arch, ioctl_nr, keyring_nrs, reject_x32) in enumerate(abis):
        program += [f"abi{number}", (BPF_JEQ_K, arch, "", f"abi{number + 1}")]
        program.append((BPF_LD_W_ABS, SECCOMP_DATA_NR, "", ""))
        if reject_x32:
            program.append((BPF_JGE_K, X32_SYSCALL_BIT, "deny", ""))
        program += [(BPF_JEQ_K, nr, "deny", "") for nr in keyring_nrs]
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


def path_depth(path: str) -> int:
    return 0 if path == "/" else path.rstrip("/").count("/")


def order_mounts(mounts: Iterable[Mount], pinned: Iterable[str] = ()) -> tuple[Mount, ...]:
    """Parents before children (stable), one operation per destination (the last wins), and
    descriptors numbered in that order from FIRST_BIND_FD for the host paths bound by them.
    A bind that brings the stage's pins (host paths) along goes as late as its parents allow,
    and its children with it: bwrap 0.8 reads the whole mount table again for each operation,
    and every pin is a line in it."""
    by_dst: dict[str, Mount] = {}
    for mount in mounts:
        by_dst.pop(mount.dst, None)
        by_dst[mount.dst] = mount
    by_depth = sorted(by_dst.values(), key=lambda mount: path_depth(mount.dst))
    holding_pins: set[str] = set()  # every directory with a pin below it
    for pin in pinned:
        parent = os.path.dirname(pin)
        while parent not in holding_pins:
            holding_pins.add(parent)
            parent = os.path.dirname(parent)
    late: dict[str, bool] = {}
    for mount in by_depth:
        carries_pins = mount.op in BIND_OPS and mount.src in holding_pins
        late[mount.dst] = carries_pins or any(
            late[other] for other in late if is_within(mount.dst, other)
        )
    ordered = sorted(by_depth, key=lambda mount: late[mount.dst])
    numbered: list[Mount] = []
    next_fd = FIRST_BIND_FD
    for mount in ordered:
        if mount.op in (MountOp.BIND_FD, MountOp.RO_BIND_FD):
            mount = mount._replace(fd=next_fd)
            next_fd += 1
        numbered.append(mount)
    return tuple(numbered)


def order_pins(pins: Iterable[Pin]) -> tuple[Pin, ...]:
    """Parents before children; one pin per path (read-only beats pinned, a source beats both)."""
    by_path: dict[str, Pin] = {}
    for pin in pins:
        known = by_path.get(pin.path)
        if known is None or (not known.source and (pin.source or pin.read_only)):
            by_path[pin.path] = pin
    return tuple(sorted(by_path.values(), key=lambda pin: path_depth(pin.path)))


def link_note(entry: Entry, writable: Sequence[str]) -> str:
    """How a symlink the sandbox sees (pinned, never followed by a bind) reads in the audit."""
    if entry.resolved and is_within(entry.resolved, STORE_DIR):
        return "symlink into /nix/store, readable"
    if entry.resolved and any(is_within(entry.resolved, root) for root in writable):
        return f"symlink to {entry.target} (inside the project)"
    return f"symlink to {entry.target}, not followed"


class ClaudePart(NamedTuple):
    mounts: tuple[Mount, ...]
    pins: tuple[Pin, ...]
    setup: tuple[HostSetup, ...]
    view: tuple[ClaudeView, ...]
    warnings: tuple[str, ...]


def plan_claude_home(host: HostFacts, instance: Instance, writable: Sequence[str]) -> ClaudePart:
    """~/.claude inside is the project's own directory (its instance's claude/): what Claude and
    the agent write there stays with the project and never reaches the host's ~/.claude. The
    host's entries come in read-only over it, each pinned by the stage from its host path (a
    home-manager symlink into /nix/store as what it leads to), but for the project's own ones,
    plugins/ (overlaid) and settings.json (plan_layers) (CLAUDE_STATE_TABLE). The login is this
    session's placeholders, a file bwrap writes from the launch's data (a pinned mount point:
    Claude's refresh writes it in place)."""
    home = host.claude_home
    store = instance.claude_store
    credentials = os.path.join(store, CREDENTIALS)
    mounts = [
        Mount(MountOp.BIND_FD, os.path.join(host.home, ".claude"), store),
        Mount(MountOp.BIND_FD, os.path.join(host.home, ".claude.json"), instance.claude_json),
    ]
    setup = [
        HostSetup(store, mount_point=True),
        HostSetup(instance.claude_json, "{}\n", mount_point=True),
        HostSetup(credentials, "", mount_point=True),
    ]
    pins = [Pin(credentials, Kind.FILE, False, reason="the login's mount point")]
    view: list[ClaudeView] = []
    warnings: list[str] = []
    for entry in home.entries:
        name = os.path.basename(entry.path)
        treatment = CLAUDE_STATE_TABLE.get(name, Treatment.READ_ONLY)
        if treatment not in CLAUDE_FROM_HOST:
            continue
        if treatment is Treatment.LAYERED:  # (plan_layers writes the project's own)
            note = f"symlink to {entry.target}, read by claudebox" if entry.target else ""
            view.append(ClaudeView(name, treatment, note))
            continue
        source, kind = entry.path, entry.kind
        if entry.kind is Kind.LINK:
            note = link_note(entry, writable)
            if not is_within(entry.resolved, STORE_DIR):
                view.append(ClaudeView(name, Treatment.READ_ONLY, f"{note}: left out"))
                continue
            if entry.resolved_kind not in (Kind.DIR, Kind.FILE):
                reached = entry.resolved_kind.value
                view.append(
                    ClaudeView(name, Treatment.READ_ONLY, f"symlink to a {reached}: left out")
                )
                continue
            source, kind = entry.resolved, entry.resolved_kind
        elif entry.kind not in (Kind.DIR, Kind.FILE):
            view.append(ClaudeView(name, Treatment.READ_ONLY, f"{entry.kind.value}: left out"))
            continue
        else:
            note = ""
        point = os.path.join(store, name)
        setup.append(HostSetup(point, None if kind is Kind.DIR else "", mount_point=True))
        if treatment is Treatment.OVERLAID and kind is Kind.DIR:
            upper = os.path.join(instance.dir, f"{name}-own")
            setup += [HostSetup(upper), HostSetup(upper + OVERLAY_WORK_SUFFIX)]
            reason = "the host's, with the project's own on top"
            pins.append(Pin(point, kind, False, source, reason, upper))
            view.append(ClaudeView(name, Treatment.OVERLAID, note))
            continue
        pins.append(Pin(point, kind, True, source, "the host's, read-only"))
        view.append(ClaudeView(name, Treatment.READ_ONLY, note))
    if home.left_out:
        warnings.append(
            f"{'at least ' if home.scan_cut else ''}{home.left_out} more entries of "
            f"{tilde(home.dir, host.home)} stay outside (at "
            f"most {CLAUDE_HOME_SHOWN} come in); move what Claude needs into fewer entries"
        )
    return ClaudePart(tuple(mounts), tuple(pins), tuple(setup), tuple(view), tuple(warnings))


class ProjectPart(NamedTuple):
    pins: tuple[Pin, ...]
    setup: tuple[HostSetup, ...]
    watched: tuple[str, ...]
    placeholders: tuple[HostSetup, ...]  # made for the session, removed after it


def missing_directories(first_missing: str, path: str) -> list[str]:
    """The directories from `first_missing` down to `path`'s parent (none when `path` is the
    first one missing)."""
    if path == first_missing:
        return []
    below = os.path.relpath(path, first_missing).split("/")
    return [os.path.join(first_missing, *below[:depth]) for depth in range(len(below))]


def plan_protected(walks: Sequence[Walk], writable: Sequence[str]) -> ProjectPart:
    """Each protected path read-only and every directory above it pinned (a mount point cannot
    be renamed and recreated); a symlink on the way is pinned, never followed, and refused when
    it leads back into the writable project (the host would follow it to what the sandbox
    writes). Absent paths are watched: the review after the session reports them."""
    pins: list[Pin] = []
    setup: list[HostSetup] = []
    watched: list[str] = []
    placeholders: list[HostSetup] = []
    for walk in walks:
        *above, last = walk.steps
        pins += [Pin(step.path, Kind.DIR, False, reason="pinned") for step in above]
        if last.kind is Kind.LINK:
            if last.resolved and any(is_within(last.resolved, root) for root in writable):
                raise ClaudeboxError(
                    f"{last.path} is a symlink to {last.target}, inside the project: the host's "
                    "git, editor or claude would follow it to files the sandbox can change; "
                    f"replace it by what it points to, or remove it (rm {shell_quote(last.path)})",
                    EXIT_USAGE,
                )
            pins.append(Pin(last.path, Kind.LINK, False, reason="symlink, not followed"))
        elif last.kind is Kind.MISSING:
            gaps = missing_directories(last.path, walk.path)
            if walk.create and (last.path == walk.path or walk.judged_as == "hooks"):
                # git's own layout (else hooks could appear); a core.hooksPath directory with
                # what is missing above it, pinned
                setup.append(HostSetup(walk.path))
                pins += [Pin(path, Kind.DIR, False, reason="pinned") for path in gaps]
                pins.append(Pin(walk.path, Kind.DIR, True, reason="read-only"))
            elif walk.placeholder is not None and (
                last.path == walk.path or walk.judged_as == "config"
            ):  # (a file a config includes: with the directories missing above it, removed too)
                placeholders += [HostSetup(path) for path in gaps]
                placeholders.append(HostSetup(walk.path, walk.placeholder))
                pins += [Pin(path, Kind.DIR, False, reason="pinned") for path in gaps]
                pins.append(Pin(walk.path, Kind.FILE, True, reason="read-only placeholder"))
            else:
                watched.append(last.path)
        elif walk.pin_only and last.kind is Kind.DIR:
            pins.append(Pin(last.path, Kind.DIR, False, reason="pinned"))
        else:
            pins.append(Pin(last.path, last.kind, True, reason="read-only"))
    made = tuple(dict.fromkeys(placeholders))
    return ProjectPart(tuple(pins), (*setup, *made), tuple(dict.fromkeys(watched)), made)


# --- Claude's login through the relay: placeholders, credentials, HTTP heads ---------------


class HostLogin(NamedTuple):
    """The OAuth login in the host's ~/.claude/.credentials.json, as the relay uses it now."""

    access: str
    refresh: str
    expires_at: int  # milliseconds since the epoch (0: not said)
    fields: Mapping[str, object]  # what else of claudeAiOauth may be shown (OAUTH_SHOWN_FIELDS)


# claudeAiOauth's fields a placeholder file inside repeats (Claude behaves by them); the tokens
# themselves never enter, nor does anything else of the host's file (MCP servers' tokens).
OAUTH_SHOWN_FIELDS: Final = ("scopes", "subscriptionType", "rateLimitTier", "clientId")


def host_login_of(document: Mapping[str, object]) -> HostLogin | None:
    """The OAuth login in a credentials file's JSON, or None (logged out, or not Claude's)."""
    oauth = document.get("claudeAiOauth")
    if not isinstance(oauth, dict):
        return None
    access, refresh = oauth.get("accessToken"), oauth.get("refreshToken")
    if not isinstance(access, str) or not access or not isinstance(refresh, str):
        return None
    expires = oauth.get("expiresAt")
    fields = {key: oauth[key] for key in OAUTH_SHOWN_FIELDS if key in oauth}
    return HostLogin(access, refresh, expires if isinstance(expires, int) else 0, fields)


TOKEN_PREFIX: Final = re.compile(r"sk-ant-[a-z]{2,8}[0-9]{0,4}-")  # sk-ant-oat01-, sk-ant-api03-


def make_placeholder(real: str, entropy: bytes, suffix: str = "") -> str:
    """A stand-in in `real`'s shape: its kind's prefix (sk-ant-oat01-; nothing else of it),
    the mark, random hex, `suffix`."""
    found = TOKEN_PREFIX.match(real)
    prefix = found.group() if found else ""
    return f"{prefix}{PLACEHOLDER_MARK}-{entropy.hex()}{suffix}"


def api_key_suffix(real: str, instance: str) -> str:
    """The last API_KEY_SUFFIX_LENGTH characters of an API key's placeholder, alike in every
    session of one project (Claude remembers its "use this key?" answer by them), and nothing
    of the real key: a digest."""
    return sha256_hex(f"claudebox api key {instance} {real}".encode())[:API_KEY_SUFFIX_LENGTH]


def inside_credentials(login: HostLogin | None, access: str, refresh: str) -> bytes:
    """~/.claude/.credentials.json inside: the host's login in shape, placeholders for tokens."""
    if login is None:
        return b"{}\n"
    oauth = {**login.fields, "accessToken": access, "refreshToken": refresh}
    if login.expires_at:
        oauth["expiresAt"] = login.expires_at
    return (json.dumps({"claudeAiOauth": oauth}, indent=2) + "\n").encode()


def updated_credentials(
    document: Mapping[str, object], answer: Mapping[str, object], now: float
) -> dict[str, object] | None:
    """The host's credentials file after an OAuth token answer (refresh or login): its other
    keys kept, claudeAiOauth's tokens, expiry and scopes from the answer; None when the answer
    holds no tokens."""
    access, refresh = answer.get("access_token"), answer.get("refresh_token")
    expires_in = answer.get("expires_in")
    if not isinstance(access, str) or not access:
        return None
    previous = document.get("claudeAiOauth")
    oauth = dict(previous) if isinstance(previous, dict) else {}
    oauth["accessToken"] = access
    if isinstance(refresh, str) and refresh:
        oauth["refreshToken"] = refresh
    if isinstance(expires_in, int):
        oauth["expiresAt"] = int(now * 1000) + expires_in * 1000
    scope = answer.get("scope")
    if isinstance(scope, str) and scope.split():
        oauth["scopes"] = scope.split()
    return {**document, "claudeAiOauth": oauth}


class HttpHead(NamedTuple):
    """A request or response head as the relay parsed it: the start line's three parts
    (method, target, version; or version, status, reason) and the header fields."""

    line: tuple[str, str, str]
    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name), None)

    def render(self) -> bytes:
        lines = [" ".join(self.line).rstrip(), *(f"{n}: {v}" for n, v in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def with_headers(self, drop: Container[str], add: Sequence[tuple[str, str]]) -> HttpHead:
        """This head without the fields named in `drop` (lower case), then `add`."""
        kept = [(n, v) for n, v in self.headers if n.lower() not in drop]
        return self._replace(headers=(*kept, *add))

    @property
    def status(self) -> int:
        return int(self.line[1])

    @property
    def closes(self) -> bool:
        """Whether the connection ends after this message (HTTP/1.0, or Connection: close)."""
        tokens = (self.get("connection") or "").lower().replace(" ", "").split(",")
        version = self.line[2] if self.line[0][:5] != "HTTP/" else self.line[0]
        return "close" in tokens or version == "HTTP/1.0"


CONTENT_LENGTH_DIGITS: Final = 18  # a body's size fits in 63 bits (and int() never sees more)
HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What no HTTP head may hold (RFC 9110 5.5 allows HTAB alone): the relay logs what it reads.
CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_head(raw: bytes, *, request: bool) -> HttpHead | Refusal:
    """An HTTP/1 head (without its blank line), read strictly: what the relay passes on must
    mean the same to both ends (one Content-Length, or chunked alone; no folded lines)."""
    text = raw.decode("latin-1")
    first, *rest = [line.removesuffix("\r") for line in text.split("\n")]
    if CONTROL_CHARACTER.search(text.replace("\r\n", "\n").replace("\n", "")):
        return Refusal(400 if request else 502, "a control character (CR, NUL, ESC…) in a head")
    if request:
        parts = first.split(" ")
        if (
            len(parts) != 3
            or not re.fullmatch(r"[A-Z]+", parts[0])
            or parts[2] not in ("HTTP/1.0", "HTTP/1.1")
        ):
            return Refusal(400, "not an HTTP/1 request line")
        line = (parts[0], parts[1], parts[2])
    else:
        version, _, after = first.partition(" ")
        status, _, reason = after.partition(" ")
        if not version.startswith("HTTP/1.") or not (is_number(status) and len(status) == 3):
            return Refusal(502, "the server's answer is not HTTP/1")
        line = (version, status, reason)
    headers: list[tuple[str, str]] = []
    for item in rest:
        name, colon, value = item.partition(":")
        if not colon or not HEADER_NAME.fullmatch(name):
            return Refusal(400 if request else 502, f"a malformed header line ({item[:40]!r})")
        headers.append((name, value.strip()))
    head = HttpHead(line, tuple(headers))
    lengths = {v for n, v in headers if n.lower() == "content-length"}
    encodings = [v.lower() for n, v in headers if n.lower() == "transfer-encoding"]
    if len(lengths) > 1 or any(
        not is_number(length) or len(length) > CONTENT_LENGTH_DIGITS for length in lengths
    ):
        return Refusal(400 if request else 502, "a bad or repeated Content-Length")
    if encodings and (encodings != ["chunked"] or lengths):
        return Refusal(400 if request else 502, "a Transfer-Encoding other than chunked alone")
    return head


def body_framing(head: HttpHead, *, method: str = "") -> tuple[str, int]:
    """How the body after `head` ends: ("none", 0), ("length", N), ("chunked", 0) or, for an
    answer of neither, ("close", 0). `method`: the request's, for an answer."""
    answer = head.line[0].startswith("HTTP/")
    if answer and (method == "HEAD" or head.status < 200 or head.status in (204, 304)):
        return "none", 0
    if head.get("transfer-encoding"):
        return "chunked", 0
    length = head.get("content-length")
    if length is not None:
        return "length", int(length)
    return ("close", 0) if answer else ("none", 0)


def json_answer(status: int, document: Mapping[str, object], reason: str = "") -> bytes:
    """A complete JSON answer from the relay itself."""
    body = json.dumps(document).encode()
    phrase = reason or STATUS_PHRASES.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def api_error(refusal: Refusal) -> dict[str, object]:
    """A refusal in the shape of Anthropic's API errors (Claude Code shows the message)."""
    kind = {401: "authentication_error", 403: "permission_error"}.get(
        refusal.status, "invalid_request_error"
    )
    return {"type": "error", "error": {"type": kind, "message": f"claudebox: {refusal.reason}"}}


def bearer_of(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Upstream(NamedTuple):
    """Where the relay sends Claude's requests: an Anthropic host (https, port 443), or the
    host's gateway (ANTHROPIC_BASE_URL, with its path as a prefix)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""
    gateway: bool = False  # the user's own: reached wherever it is (the tier's blocks aside)

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def upstream_of_url(url: str) -> Upstream:
    """The gateway a (checked: login_upstream) base URL names."""
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    found = host_of(authority)
    if found is None:
        raise ValueError(f"not a base URL: {url!r}")
    scheme = scheme.lower()
    port = found[1] or (443 if scheme == "https" else 80)
    return Upstream(scheme, found[0], port, (slash + path).rstrip("/"), gateway=True)


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
    network_value = data.get("network")
    network = None
    if network_value is not None:
        if not isinstance(network_value, str) or network_value not in TIER_NAMES:
            error("network", f"must be one of {', '.join(TIER_NAMES)}")
        network = Tier(network_value)
    env_value = data.get("env", {})
    if not isinstance(env_value, dict) or not all(isinstance(v, str) for v in env_value.values()):
        error("env", "must be an object whose values are strings")
    for variable in env_value:
        if not ENV_NAME_PATTERN.fullmatch(variable):
            error(f"env.{variable}", "is not a variable name")
        if variable in SANDBOX_DEFINED_ENV and variable != BASE_URL_VARIABLE:
            error(f"env.{variable}", "is set by the sandbox itself and cannot be overridden")
        if "\0" in env_value[variable]:
            error(f"env.{variable}", "holds a NUL character, which no variable can")
        if looks_secret(variable):
            error(
                f"env.{variable}",
                "looks like a secret; never store one in a file: name it in "
                "extra_env_passthrough and set it on the host",
            )
        if variable in NIX_JOINED_ENV and "access-tokens" in env_value[variable].lower():
            error(
                f"env.{variable}",
                "holds access-tokens, a secret; never store one in a file (the sandbox's nix "
                "settings are printed and enter the sandbox): remove it from the profile",
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
    allow_domains = tuple(
        parse_allow_entry(entry, f"{path}: allow_domains", name).describe()
        for entry in names("allow_domains", data.get("allow_domains", []))
    )
    host_ports = data.get("host_ports", [])
    if not isinstance(host_ports, list) or not all(
        type(port) is int and 0 < port < 65536 for port in host_ports
    ):
        error("host_ports", "must be a list of TCP port numbers (1 to 65535)")
    mcp_servers = names("mcp_servers", data.get("mcp_servers", []))
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
        allow_domains=allow_domains,
        host_ports=tuple(dict.fromkeys(host_ports)),
        mcp_servers=mcp_servers,
    )


def resolve_profile(name: str, chosen_by: str, load: Callable[[str], ProfileFile]) -> Profile:
    """Depth-first over `extends` (parents first, later wins), each profile read and walked
    once (a shared ancestor, a diamond, is not walked again: that was exponential); a cycle is
    an error naming it."""
    chain: list[ProfileFile] = []
    done: set[str] = set()

    def visit(current: str, path: tuple[str, ...]) -> None:
        if current in path:
            cycle = " -> ".join([*path[path.index(current) :], current])
            raise ClaudeboxError(f"profile extends form a cycle: {cycle}", EXIT_USAGE)
        if current in done:
            return
        done.add(current)
        if len(path) >= PROFILE_MAX_EXTENDS:
            raise ClaudeboxError(
                f"profile {name!r} extends more than {PROFILE_MAX_EXTENDS} levels deep "
                f"({' -> '.join(path[:3])} -> …); flatten the chain",
                EXIT_USAGE,
            )
        loaded = load(current)
        for parent in loaded.extends:
            visit(parent, (*path, current))
        chain.append(loaded)

    visit(name, ())
    description: tuple[str, str] | None = None
    network: tuple[Tier, str] | None = None
    allow: tuple[bool, str] = (False, "built-in default")
    env: dict[str, tuple[str, str, str]] = {}
    passthrough: dict[str, tuple[str, str]] = {}
    mounts: dict[str, ProfileMount] = {}
    packages: dict[str, tuple[str, str]] = {}
    domains: dict[str, tuple[str, str]] = {}
    host_ports: dict[int, tuple[int, str]] = {}
    servers: dict[str, tuple[str, str]] = {}
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
        domains.update({entry: (entry, item.name) for entry in item.allow_domains})
        host_ports.update({port: (port, item.name) for port in item.host_ports})
        servers.update({server: (server, item.name) for server in item.mcp_servers})
    if network is not None and not NETWORK_POLICIES[network[0]].takes_allowlist and domains:
        first = next(iter(domains.values()))
        raise ClaudeboxError(
            f"profile {name}: allow_domains (from {first[1]}) need the allowlist network tier, "
            f"but network is {network[0].value} (from {network[1]}); remove one of the two",
            EXIT_USAGE,
        )
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
        allow_domains=tuple(domains.values()),
        host_ports=tuple(host_ports.values()),
        mcp_servers=tuple(servers.values()),
    )


def profile_json(profile: Profile) -> str:
    """--show-profile: the resolved profile, each value with the profile it came from."""

    def valued(pair: tuple[object, str] | None) -> object:
        return None if pair is None else {"value": pair[0], "from": pair[1]}

    document = {
        "name": profile.name,
        "chain": list(profile.chain),
        "description": valued(profile.description),
        "network": None
        if profile.network is None
        else {"value": profile.network[0].value, "from": profile.network[1]},
        "env": {name: {"value": value, "from": origin} for name, value, origin in profile.env},
        "extra_env_passthrough": [
            {"value": name, "from": origin} for name, origin in profile.extra_env_passthrough
        ],
        "mounts": [
            {"src": m.src, "dst": m.dst, "mode": m.mode, "from": m.origin} for m in profile.mounts
        ],
        "packages": [{"value": name, "from": origin} for name, origin in profile.packages],
        "allow_secret_mounts": valued(profile.allow_secret_mounts),
        "allow_domains": [
            {"value": entry, "from": origin} for entry, origin in profile.allow_domains
        ],
        "host_ports": [{"value": port, "from": origin} for port, origin in profile.host_ports],
        "mcp_servers": [{"value": name, "from": origin} for name, origin in profile.mcp_servers],
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


def pinned_nixpkgs(nixpkgs: str) -> str:
    """The path a `path:` flake reference names: <nixpkgs> inside (nix-shell -p)."""
    return nixpkgs.removeprefix("path:").partition("?")[0]


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
    if mount.dst == host.home or is_within(host.git.top, mount.dst):
        raise ClaudeboxError(
            f"{where} would hide the private home or the project; mount below them instead",
            EXIT_USAGE,
        )
    protected = [os.path.join(host.home, ".claude"), os.path.join(host.home, ".claude.json")]
    protected += [walk.path for walk in host.protected]
    if host.git.git_dir:
        protected.append(host.git.git_dir)
    for path in protected:
        if is_within(mount.dst, path) or is_within(path, mount.dst):
            raise ClaudeboxError(f"{where} would cover the protected path {path}", EXIT_USAGE)


def is_secret_mount(src: str, host: HostFacts) -> bool:
    return src in ("/", host.home) or any(
        is_within(secret, src) or is_within(src, secret) for secret in host_secret_paths(host)
    )


def plan_system(host: HostFacts) -> list[Mount]:
    """The empty root and what every sandbox gets: the store, the daemon socket, /etc pieces."""
    mounts = [
        Mount(MountOp.TMPFS, "/"),
        Mount(MountOp.PROC, "/proc"),
        Mount(MountOp.DEV, "/dev"),
        Mount(MountOp.TMPFS, "/tmp"),
        Mount(MountOp.RO_BIND, STORE_DIR, STORE_DIR),
        Mount(MountOp.BIND_TRY, DAEMON_SOCKET_DIR, DAEMON_SOCKET_DIR),
    ]
    mounts += [Mount(MountOp.RO_BIND_TRY, p, p) for p in ETC_READ_ONLY if p in host.etc_present]
    for name, link in (("env", "/usr/bin/env"), ("sh", "/bin/sh")):
        if name in host.tools:
            mounts.append(Mount(MountOp.SYMLINK, link, host.tools[name]))
    return mounts


def plan_data(
    host: HostFacts, options: Options, network: NetworkPart, env: Sequence[EnvVar]
) -> tuple[DataInput, ...]:
    """Generated files (those over /proc files included), the environment and the seccomp
    program, each on its own descriptor from FIRST_DATA_FD; the launch data (LAUNCH_DATA) is
    made at launch, empty here."""
    note = sandbox_note_text(host.git.top, host.home, options.tier, network.relay)
    items = [
        (DataKind.ENV, env_arguments(var for var in env if var.origin != LOGIN_ORIGIN)),
        *((kind, b"") for kind in LAUNCH_DATA),
        (DataKind.GITCONFIG, os.fsencode(gitconfig_text(host.git_name, host.git_email))),
        (DataKind.NOTE, os.fsencode(note)),
        (DataKind.SECCOMP, seccomp_filter(host.machine)),
        (DataKind.PASSWD, os.fsencode(passwd_text(host))),
        (DataKind.GROUP, os.fsencode(group_text(host))),
        (DataKind.KEYS, b""),
        (DataKind.KEY_USERS, b""),
        (DataKind.CMDLINE, b"\n"),
    ]
    if network.policy.resolv_conf is not None:
        items.append((DataKind.RESOLV_CONF, network.policy.resolv_conf.encode()))
    registry = nix_registry_json(options.nixpkgs) if options.nixpkgs else None
    if registry is not None:
        items.append((DataKind.REGISTRY, registry.encode()))
    return tuple(
        DataInput(FIRST_DATA_FD + i, content, kind) for i, (kind, content) in enumerate(items)
    )


def env_arguments(variables: Iterable[EnvVar]) -> bytes:
    """bwrap's --setenv arguments for `variables`, NUL-separated (read with --args FD: values
    are never on bwrap's command line, which every local user can read)."""
    words = [word for var in variables for word in ("--setenv", var.name, var.value)]
    if any("\0" in word for word in words):
        raise ClaudeboxError("a variable's value holds a NUL character; remove it", EXIT_USAGE)
    return b"".join(os.fsencode(word) + b"\0" for word in words)


def data_mounts(host: HostFacts, data: Sequence[DataInput]) -> list[Mount]:
    where = {
        DataKind.GITCONFIG: os.path.join(host.home, ".gitconfig"),
        DataKind.NOTE: SANDBOX_NOTE_PATH,
        DataKind.RESOLV_CONF: "/etc/resolv.conf",
        DataKind.REGISTRY: os.path.join(host.home, ".config", "nix", "registry.json"),
        DataKind.LOGIN_CA: LOGIN_CA_INSIDE,
        DataKind.PASSWD: "/etc/passwd",
        DataKind.GROUP: "/etc/group",
        DataKind.KEYS: PROC_KEYS,
        DataKind.KEY_USERS: PROC_KEY_USERS,
        DataKind.CMDLINE: PROC_CMDLINE,
        DataKind.BOOT_ID: PROC_BOOT_ID,
    }
    mounts = [
        Mount(MountOp.DATA, where[item.kind], fd=item.fd) for item in data if item.kind in where
    ]
    credentials = os.path.join(host.home, ".claude", CREDENTIALS)
    mounts += [
        Mount(MountOp.WRITABLE_DATA, credentials, fd=item.fd)
        for item in data
        if item.kind is DataKind.CREDENTIALS
    ]
    return mounts


def plan_home(host: HostFacts, instance: Instance) -> tuple[list[Mount], list[HostSetup]]:
    """A private tmpfs home; the caches in it (nix's and comma's, the package managers') kept
    per project (PROJECT_CACHES), so a session does not download again what the last one did."""
    mounts = [Mount(MountOp.TMPFS, host.home)]
    setup = [
        HostSetup(host.state_dir),
        HostSetup(os.path.dirname(instance.dir)),
        HostSetup(instance.dir),
        HostSetup(os.path.join(instance.dir, "root"), instance.root + "\n"),
    ]
    for inside, kept in PROJECT_CACHES:
        mounts.append(
            Mount(
                MountOp.BIND_FD, os.path.join(host.home, inside), os.path.join(instance.dir, kept)
            )
        )
        setup.append(HostSetup(os.path.join(instance.dir, kept), mount_point=True))
    # (nix's, inside the cache: not a mount point, but where a session writes just the same)
    setup.append(HostSetup(instance.nix_cache, mount_point=True))
    return mounts, setup


def plan_project(host: HostFacts) -> tuple[list[Mount], tuple[str, ...]]:
    """The project read-write, and a linked worktree's or submodule's git directory."""
    check_exposable(host.git.top, "the project directory", host)
    mounts = [Mount(MountOp.BIND_FD, host.git.top, host.git.top)]
    writable = [host.git.top]
    if host.git.outside:
        check_exposable(host.git.git_dir, "the repository's git directory", host)
        mounts.append(Mount(MountOp.BIND_FD, host.git.git_dir, host.git.git_dir))
        writable.append(host.git.git_dir)
    return mounts, tuple(writable)


def plan_claude_binary(host: HostFacts) -> tuple[list[Mount], list[str], list[str]]:
    """(mounts, PATH additions, notes) for the claude executable."""
    if host.claude is None or is_within(host.claude, os.path.join(host.home, ".claude")):
        return [], [], []
    if is_within(host.claude, STORE_DIR):
        return [], [os.path.dirname(host.claude)], []
    install_dir = os.path.dirname(host.claude)
    check_exposable(install_dir, "claude's install directory", host)
    note = f"claude lives outside /nix/store: {install_dir} is mounted read-only"
    return [Mount(MountOp.RO_BIND_FD, install_dir, install_dir)], [], [note]


def plan_profile_mounts(host: HostFacts, profile: Profile | None) -> tuple[list[Mount], list[str]]:
    """(mounts, sources that are or hold secret paths); the edge resolved each source."""
    mounts: list[Mount] = []
    secret: list[str] = []
    for mount in profile.mounts if profile else ():
        check_profile_mount(mount, host)
        op = MountOp.BIND_FD if mount.mode == "rw" else MountOp.RO_BIND_FD
        mounts.append(Mount(op, mount.dst, mount.src))
        if is_secret_mount(mount.src, host):
            secret.append(mount.src)
    return mounts, secret


def login_values(env: Mapping[str, str], profile: Profile | None) -> dict[str, str]:
    """The credential variables and the base URL as the host sets them (a profile's literal
    value wins): what the relay holds, and what never enters."""
    names = (*LOGIN_VARIABLES, BASE_URL_VARIABLE)
    values = {name: env[name] for name in names if env.get(name)}
    for name, value, _origin in profile.env if profile else ():
        if name in names:
            values[name] = value
    return values


def account_of(claude_json: Mapping[str, object]) -> str:
    """The account a ~/.claude.json says Claude is logged in with ("" when it says none)."""
    account = claude_json.get("oauthAccount")
    uuid = account.get("accountUuid") if isinstance(account, dict) else None
    return uuid if isinstance(uuid, str) else ""


def login_upstream(values: Mapping[str, str]) -> str:
    """The host's ANTHROPIC_BASE_URL as the relay's upstream for Messages: "" when unset or
    Anthropic's own (Claude then reaches api.anthropic.com by CONNECT, as a first party)."""
    url = values.get(BASE_URL_VARIABLE, "").strip()
    if not url:
        return ""
    scheme, separator, rest = url.partition("://")
    authority = rest.partition("/")[0]
    found = host_of(authority) if separator and scheme.lower() in ("http", "https") else None
    if found is None:
        raise ClaudeboxError(
            f"{BASE_URL_VARIABLE} is not an http:// or https:// URL with a host name or an IPv4 "
            f"address ({url[:80]!r}); fix it or unset it",
            EXIT_USAGE,
        )
    if scheme.lower() == "https" and found[0] == FIRST_PARTY_HOST and found[1] in (None, 443):
        return ""
    return url.rstrip("/")


def login_environment(tier: Tier, values: Mapping[str, str]) -> dict[str, str | None]:
    """The variables the login relay defines inside: proxies (upper case for Claude Code, lower
    for curl and wget), the session CA, placeholders for the credential variables the host sets,
    and Claude's base URL when the host has a gateway. None: set at launch (a placeholder, or
    the full tier's proxy on an ephemeral host port)."""
    proxy = None if NETWORK_POLICIES[tier].proxy_on_host else PROXY_URL
    env: dict[str, str | None] = {"NO_PROXY": NO_PROXY_VALUE, "no_proxy": NO_PROXY_VALUE}
    for name in PROXY_VARIABLES:
        env[name] = env[name.lower()] = proxy
    env["NODE_EXTRA_CA_CERTS"] = LOGIN_CA_INSIDE
    for name in LOGIN_VARIABLES:
        if name in values:
            env[name] = None
    if login_upstream(values):
        env[BASE_URL_VARIABLE] = proxy
    return env


def plan_environment(
    host: HostFacts, options: Options, path_dirs: Sequence[str]
) -> tuple[tuple[EnvVar, ...], list[str]]:
    """(variables, warnings)."""
    warnings = []
    generated: dict[str, str | None] = {
        "HOME": host.home,
        "PATH": ":".join(path_dirs),
        "TMPDIR": "/tmp",
        "XDG_RUNTIME_DIR": "/tmp",
        # bwrap creates /nix/var/nix writable for the mount of the socket, and nix would take
        # that for a local store of its own (and fail on the read-only /nix/store).
        "NIX_REMOTE": "daemon",
        **CLAUDE_ENV,
        **host.store_env,
    }
    if "bash" in host.tools:
        generated["SHELL"] = host.tools["bash"]
    else:
        warnings.append("no bash found in the store part of PATH: SHELL is unset inside")
    if host.ca_bundle:
        generated["NIX_SSL_CERT_FILE"] = host.ca_bundle
        generated["SSL_CERT_FILE"] = host.ca_bundle
    generated.update(login_environment(options.tier, login_values(host.env, options.profile)))
    # `nix shell nixpkgs#…` and comma, as the sandbox note promises, whether or not the host's
    # nix.conf (NixOS: off by default) turns the features on; added to the user's own list.
    nix_config = ["extra-experimental-features = nix-command flakes"]
    if options.nixpkgs:
        generated["COMMA_NIXPKGS_FLAKE"] = options.nixpkgs
        if nix_registry_json(options.nixpkgs) is not None:
            # nix loads the global registry (a download) before it looks in the user's, and
            # fails where it cannot fetch it (--network none): the pin is the global one too.
            registry = os.path.join(host.home, ".config", "nix", "registry.json")
            nix_config.append(f"flake-registry = {registry}")
            generated["NIX_PATH"] = f"nixpkgs={pinned_nixpkgs(options.nixpkgs)}"
    generated["NIX_CONFIG"] = "\n".join(nix_config)
    profile = options.profile
    passthrough = [(name, EXTRA_ENV_VARIABLE) for name in options.extra_env]
    literal: list[tuple[str, str]] = []
    if profile is not None:
        passthrough += [
            (name, f"profile {origin}") for name, origin in profile.extra_env_passthrough
        ]
        literal = [(name, value) for name, value, _origin in profile.env]
    # A host value passed through is not joined: it may hold access-tokens, and the sandbox's
    # values are printed (a profile's env is refused one).
    given = dict(literal)
    for name, (separator, profile_first) in NIX_JOINED_ENV.items():
        ours, theirs = generated.get(name), given.get(name)
        if ours and theirs:
            generated[name] = separator.join([theirs, ours] if profile_first else [ours, theirs])
    for name, origin in passthrough:
        if name in NIX_JOINED_ENV and name in generated and name in host.env:
            warnings.append(
                f"{name} from {origin} is not passed in: claudebox sets it inside (a "
                "profile's env adds to it)"
            )
    env = build_env(host, passthrough, generated, literal)
    for var in env:
        if var.origin not in ("host", "sandbox", "profile", LOGIN_ORIGIN) and var.looks_secret:
            warnings.append(f"{var.name} looks like a secret and is passed in by {var.origin}")
    return env, warnings


def claude_command(claude: str, claude_args: Sequence[str]) -> tuple[str, ...]:
    """claude with permissions skipped (the sandbox is the permission layer) and, as flag
    settings, the answers to the questions claudebox's own audit already asked."""
    return (claude, "--dangerously-skip-permissions", *claude_arguments(claude_args))


def claude_arguments(claude_args: Sequence[str]) -> tuple[str, ...]:
    """claude's arguments after --dangerously-skip-permissions: claudebox's flag settings, then
    the user's. Claude reads only the last --settings before a `--`, so CLAUDE_FLAG_SETTINGS is
    merged into each --settings JSON object the user passes (the user's own keys win); a settings
    FILE is passed unchanged and then replaces claudebox's (its author can add the keys)."""
    args = list(claude_args)
    index = 0
    while index < len(args) and args[index] != "--":
        arg = args[index]
        if arg == "--settings" and index + 1 < len(args):
            args[index + 1] = merged_flag_settings(args[index + 1])
            index += 1
        elif arg.startswith("--settings="):
            args[index] = "--settings=" + merged_flag_settings(arg.removeprefix("--settings="))
        index += 1
    ours = json.dumps(CLAUDE_FLAG_SETTINGS, separators=(",", ":"))
    return ("--settings", ours, *args)


def merged_flag_settings(value: str) -> str:
    """A --settings value with CLAUDE_FLAG_SETTINGS added when it is a JSON object (as Claude
    decides: it starts with { and ends with }); anything else (a path, broken JSON) as it was."""
    text = value.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return value
    try:
        settings = json.loads(text)
    except (ValueError, RecursionError):
        return value
    if not isinstance(settings, dict):
        return value
    return json.dumps({**CLAUDE_FLAG_SETTINGS, **settings}, separators=(",", ":"))


def api_key_answer(
    host_claude_json: Mapping[str, object],
    instance_claude_json: Mapping[str, object],
    api_key: str | None,
    placeholder_suffix: str,
) -> dict[str, object] | None:
    """The instance's .claude.json given the host's answer to "Do you want to use this API key?"
    for `api_key`, the key the relay holds, as the answer for its placeholder (which ends in
    `placeholder_suffix`); None when there is nothing to add (the host never answered, or Claude
    inside already has an answer, which stays)."""
    if not api_key:
        return None
    real = api_key[-API_KEY_SUFFIX_LENGTH:]
    suffix = placeholder_suffix

    def answers(document: Mapping[str, object]) -> dict[str, object]:
        responses = document.get("customApiKeyResponses")
        return dict(responses) if isinstance(responses, dict) else {}

    def listed(responses: Mapping[str, object], answer: str) -> list[object]:
        value = responses.get(answer)
        return list(value) if isinstance(value, list) else []

    host = answers(host_claude_json)
    answer = next((a for a in ("approved", "rejected") if real in listed(host, a)), None)
    inside = answers(instance_claude_json)
    if answer is None or any(suffix in listed(inside, a) for a in ("approved", "rejected")):
        return None
    responses = {"approved": listed(inside, "approved"), "rejected": listed(inside, "rejected")}
    responses[answer].append(suffix)
    return {**instance_claude_json, "customApiKeyResponses": {**inside, **responses}}


def plan_command(host: HostFacts, options: Options) -> tuple[str, ...]:
    if options.shell:
        if "bash" not in host.tools:
            raise ClaudeboxError("--shell needs bash in the store part of PATH", EXIT_MISSING)
        return (host.tools["bash"],)
    return claude_command(host.claude or "claude", options.claude_args)


def plan_namespaces(host: HostFacts) -> tuple[str, ...]:
    """bwrap's namespaces. The network is the stage's: its own namespace (inet, allowlist, none:
    the relay's listener is in it) or the host's (full)."""
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
        "--uid",
        str(host.uid),
        "--gid",
        str(host.gid),
    ]
    return tuple(namespaces)


def plan_blockers(host: HostFacts, options: Options) -> tuple[ClaudeboxError, ...]:
    """Why this plan cannot launch on this host (--dry-run shows them as warnings)."""
    blockers = []
    if host.bwrap is None:
        blockers.append(
            ClaudeboxError("bwrap (bubblewrap) not found on PATH; install bubblewrap", EXIT_MISSING)
        )
    if host.claude is None and not options.shell:
        blockers.append(
            ClaudeboxError(
                "claude not found on PATH; install Claude Code (nixpkgs claude-code) or add it "
                "to PATH",
                EXIT_MISSING,
            )
        )
    if host.euid == 0:
        blockers.append(
            ClaudeboxError(
                "claudebox is running as root, and claude refuses --dangerously-skip-permissions "
                "as root; run claudebox as your own user",
                EXIT_USAGE,
            )
        )
    if host.userns_blocker:
        blockers.append(ClaudeboxError(host.userns_blocker))
    config_dir = host.env.get("CLAUDE_CONFIG_DIR", "")
    own = os.path.join(host.home, ".claude")
    named = host.home + config_dir[1:] if config_dir.startswith("~/") else config_dir
    if config_dir and os.path.normpath(named) != own:
        blockers.append(
            ClaudeboxError(
                f"CLAUDE_CONFIG_DIR is set ({config_dir}; home-manager's "
                "programs.claude-code.configDir sets it): claudebox brings your Claude login and "
                "settings from ~/.claude only, and would start Claude without them; unset it for "
                "claudebox (env -u CLAUDE_CONFIG_DIR claudebox), or keep that home at ~/.claude",
                EXIT_USAGE,
            )
        )
    if host.openssl is None:
        blockers.append(
            ClaudeboxError(
                "openssl not found on PATH: claudebox's login relay makes each session's "
                "certificate with it (Claude's login never enters the sandbox); install openssl "
                "(nixpkgs/Debian: openssl)",
                EXIT_MISSING,
            )
        )
    if host.system_ca_bundle is None:
        blockers.append(
            ClaudeboxError(
                "no system CA bundle found ($SSL_CERT_FILE, $NIX_SSL_CERT_FILE or "
                "/etc/ssl/certs/ca-certificates.crt): claudebox's login relay verifies "
                "Anthropic's servers with it; install ca-certificates (NixOS: security.pki)",
                EXIT_MISSING,
            )
        )
    return tuple(blockers)


def build_plan(host: HostFacts, options: Options) -> SandboxPlan:
    """Host facts and options in, the complete sandbox out; every refusal is decided here."""
    instance = instance_for(host.git.canonical_root, host.state_dir)
    project_mounts, writable = plan_project(host)
    protected = plan_protected(host.protected, writable)
    home_mounts, setup = plan_home(host, instance)
    claude = plan_claude_home(host, instance, writable)
    layers = plan_layers(host, instance, options.profile)
    binary_mounts, claude_path, notes = plan_claude_binary(host)
    profile_mounts, secret_mounts = plan_profile_mounts(host, options.profile)
    network = plan_network(host, options, instance)
    relay = network.relay
    path_dirs = [
        *dict.fromkeys(
            [
                *(os.path.join(path, "bin") for path in options.package_paths),
                *sandbox_path_dirs(host.path_dirs),
                *claude_path,
            ]
        )
    ]
    env, warnings = plan_environment(host, options, path_dirs)
    data = plan_data(host, options, network, env)
    warnings = [*claude.warnings, *layers.warnings, *warnings]
    warnings += [
        f"profile {m.origin} mounts {m.src}, which is or holds a secret path"
        for m in (options.profile.mounts if options.profile else ())
        if m.src in secret_mounts
    ]
    if host.claudebox_checkout:
        warnings.append(
            f"the project holds claudebox itself ({host.claudebox_checkout}): the sandbox can "
            "change it, and the next python3 claudebox.py (or build) from it runs that code on "
            "the host; review what changed (git diff) before running it, or run an installed "
            "claudebox"
        )
    if host.other_session:
        notes.append("another claudebox session of this project is running (state is shared)")
    if options.nixpkgs and not any(item.kind is DataKind.REGISTRY for item in data):
        notes.append(f"nix shell nixpkgs#… uses the host registry, not {options.nixpkgs}")
    notes += network.notes
    setup.append(HostSetup(relay.log_dir))
    pins = order_pins([*claude.pins, *protected.pins])
    mounts = order_mounts(
        [
            *plan_system(host),
            *home_mounts,
            *claude.mounts,
            *data_mounts(host, data),
            *project_mounts,
            *binary_mounts,
            *profile_mounts,
        ],
        (pin.path for pin in pins),
    )
    listed = network.policy.carries_by_name  # tools that ignore the proxy reach its names too
    stage = Stage(
        network=network.policy.own_namespace,
        blocked=network.blocked,
        pins=pins,
        opened=tuple(
            Opened(m.fd, m.src) for m in mounts if m.op in (MountOp.BIND_FD, MountOp.RO_BIND_FD)
        ),
        listen=relay.ports,
        sealed=network.policy.sealed,
        transparent=transparent_ports(relay.rules, relay.ports) if listed else (),
        resolver=listed,
        spares=TRANSPARENT_SPARES if listed else 0,
    )
    return SandboxPlan(
        bwrap=host.bwrap or "bwrap",
        namespace_args=plan_namespaces(host),
        env=env,
        mounts=mounts,
        data=data,
        chdir=host.cwd,
        command=plan_command(host, options),
        stage=stage,
        pasta=network.pasta,
        relay=relay,
        host_setup=(*setup, *claude.setup, *layers.setup, *protected.setup),
        instance=instance,
        tier=options.tier,
        tier_origin=options.tier_origin,
        project=host.git.top,
        claude_view=claude.view,
        own_settings=layers.own,
        mcp_in=layers.mcp_in,
        mcp_out=layers.mcp_out,
        mcp_env=layers.mcp_env,
        profile=options.profile,
        notes=tuple(notes),
        warnings=tuple(warnings),
        blockers=(*plan_blockers(host, options), *network.blockers),
        secret_mounts=tuple(secret_mounts),
        watched=protected.watched,
        placeholders=protected.placeholders,
    )


# --- git's index: its bytes in, its entries out ----------------------------------------------
# Read as git's read-cache.c (do_read_index, create_from_disk, check_ce_order) and split-index.c
# (read_link_extension, merge_base_index) read it. ValueError for what git refuses, and for what
# git never writes (a wrong checksum, a name without its NUL, entries out of order or twice):
# git reads some of that, and claudebox would rather stop than read it otherwise.


# An entry of git's index: (name, stage, mode), in the order git sorts entries by; the stage is
# 0, or 1-3 in a merge conflict. A plain tuple: as records, the 100,000 entries of a large
# repository's index would cost a launch some 50 ms of garbage collection.
IndexEntry = tuple[bytes, int, int]


class SplitLink(NamedTuple):
    """A split index's `link` extension: the shared index it builds on (sharedindex.<hex> of
    its checksum, beside it), and the EWAH bitmaps (64-bit words) of the shared index's entries
    it deletes and of those it replaces."""

    shared: bytes
    deleted: tuple[int, ...]
    replaced: tuple[int, ...]


class GitIndex(NamedTuple):
    """git's index file as parse_index read it."""

    version: int
    hash_size: int  # bytes of an object name: 20 (SHA-1) or 32 (SHA-256)
    entries: tuple[IndexEntry, ...]
    link: SplitLink | None  # None: its entries are the whole index
    checksum: bytes  # its last bytes: zeros under index.skipHash


def parse_index(data: bytes, hash_size: int = 0) -> GitIndex:
    """git's index file. Its object names are `hash_size` bytes long, or when that is 0, as
    long as its checksum says: the SHA-1 or SHA-256 of all before it, or with no checksum
    (zeros: index.skipHash) as long as makes its entries and extensions end exactly there.
    ValueError: why git would refuse it, or that its checksum is wrong (git checks it only in
    fsck, but never writes a wrong one)."""
    if data[:4] != b"DIRC":
        raise ValueError("it does not start as git's index does")
    sizes = [size for size in GIT_HASH_SIZES if hash_size in (0, size) and len(data) >= 12 + size]
    if not sizes:
        raise ValueError("it is cut short")
    version = struct.unpack_from(">I", data, 4)[0]
    if version not in GIT_INDEX_VERSIONS:
        raise ValueError(f"it is version {version}; git reads versions 2 to 4")
    for size in sizes:
        if data[-size:] == digest(GIT_HASH_SIZES[size], memoryview(data)[:-size]):
            return parse_index_as(data, version, size)
    parsed, reasons = [], []
    for size in sizes:
        if not any(data[-size:]):
            try:
                parsed.append(parse_index_as(data, version, size))
            except ValueError as error:
                reasons.append(error)
    if len(parsed) == 1:
        return parsed[0]
    if parsed:
        raise ValueError("it has no checksum and reads with SHA-1 and SHA-256 object names")
    raise reasons[0] if reasons else ValueError("its checksum is wrong (damaged, or not git's)")


def parse_index_as(data: bytes, version: int, hash_size: int) -> GitIndex:
    """The index in `data`, its object names `hash_size` bytes long: entries, then extensions
    (each a 4-byte signature and a 32-bit size) that end exactly at the checksum."""
    end = len(data) - hash_size
    count = struct.unpack_from(">I", data, 8)[0]
    entries, starts, offset = parse_index_entries(data, end, version, count, hash_size)
    entries_end, link, signatures = offset, None, set()
    while offset < end:
        if offset + 8 > end:
            raise ValueError(f"it ends inside an extension's header at byte {offset}")
        signature, size = data[offset : offset + 4], struct.unpack_from(">I", data, offset + 4)[0]
        name = signature.decode("ascii", "backslashreplace")
        payload, offset = data[offset + 8 : offset + 8 + size], offset + 8 + size
        if offset > end:
            raise ValueError(f"its {name} extension runs past its end")
        if signature in signatures:
            raise ValueError(f"it has two {name} extensions")
        signatures.add(signature)
        if signature == b"link":
            link = parse_link(payload, hash_size)
        elif signature == b"EOIE" and payload[:4] != struct.pack(">I", entries_end):
            raise ValueError("its EOIE extension does not say where its entries end")
        elif signature == b"IEOT":
            check_entry_blocks(payload, starts)
        elif signature != b"sdir" and not b"A"[0] <= signature[0] <= b"Z"[0]:
            raise ValueError(f"it has an extension git does not know ({name})")
    if {b"link", b"sdir"} <= signatures:
        raise ValueError("it is both a split and a sparse index, which git refuses")
    return GitIndex(version, hash_size, tuple(entries), link, data[end:])


def parse_index_entries(
    data: bytes, end: int, version: int, count: int, hash_size: int
) -> tuple[list[IndexEntry], list[int], int]:
    """`count` entries from byte 12 on; the offset of each (-1 where a reader of a block of
    entries could not start: its name continues the one before); the offset after the last.
    An entry: 40 bytes of stat data and mode, an object name, 16 bits of flags (32 when
    extended), a name NUL-padded to a multiple of 8 bytes (git reads no padding, nor does
    this); from version 4 on, a varint of how many bytes of the previous entry's name to drop,
    and what follows what is left, NUL-ended."""
    entries: list[IndexEntry] = []
    starts: list[int] = []
    offset, previous = 12, b""
    flags_at = 40 + hash_size
    mode_and_flags = struct.Struct(f">24xI{flags_at - 28}xH").unpack_from
    for number in range(count):
        if offset + flags_at + 4 > end:
            raise ValueError(f"it ends inside entry {number}")
        mode, flags = mode_and_flags(data, offset)
        name_at = offset + flags_at + 2
        if flags & GIT_ENTRY_EXTENDED:  # in any version: git reads them so
            if struct.unpack_from(">H", data, name_at)[0] & ~GIT_ENTRY_KNOWN_EXTENDED:
                raise ValueError(f"its entry {number} has flags git does not know")
            name_at += 2
        kept = 0
        if version == 4:
            strip, name_at = read_index_varint(data, name_at, end, len(previous))
            kept = len(previous) - strip
        nul = data.find(b"\0", name_at, end)
        if nul < 0:
            raise ValueError(f"it ends inside entry {number}'s name")
        name = previous[:kept] + data[name_at:nul] if kept else data[name_at:nul]
        length = flags & GIT_ENTRY_NAME_LENGTH  # git reads that many bytes of name, not to NUL
        if length != len(name) and not length == GIT_ENTRY_NAME_LENGTH <= len(name):
            raise ValueError(f"its entry {number}'s name is not as long as its flags say")
        starts.append(-1 if kept else offset)
        offset = nul + 1 if version == 4 else offset + ((name_at - offset + len(name) + 8) & ~7)
        entries.append((name, flags >> 12 & 3, mode))
        previous = name
    return entries, starts, offset


def read_index_varint(data: bytes, offset: int, end: int, limit: int) -> tuple[int, int]:
    """git's offset varint (varint.c: 7 bits a byte, one more than the bytes before), and the
    offset after it; ValueError when above `limit`."""
    value, byte = -1, 0x80
    while byte & 0x80:
        if offset >= end:
            raise ValueError("it ends inside an entry's name")
        byte = data[offset]
        value = (value + 1) << 7 | byte & 0x7F
        offset += 1
        if value > limit:
            raise ValueError("an entry drops more of the name before it than there is")
    return value, offset


def check_entry_blocks(payload: bytes, starts: Sequence[int]) -> None:
    """The IEOT extension (version, then each block's offset and number of entries): git may
    read its blocks in threads, each without the name before it, so they must start where
    entries start (`starts`, as read in one pass), and hold them all."""
    if len(payload) < 12 or len(payload) % 8 != 4 or payload[:4] != b"\0\0\0\1":
        raise ValueError("its IEOT extension is not version 1 with whole blocks")
    first = 0
    for offset, number in struct.iter_unpack(">II", payload[4:]):
        if first >= len(starts) or starts[first] != offset:
            raise ValueError(f"its IEOT extension has a block at byte {offset}, not at an entry")
        first += number
    if first != len(starts):
        raise ValueError(f"its IEOT extension's blocks hold {first} entries, not {len(starts)}")


def parse_link(payload: bytes, hash_size: int) -> SplitLink | None:
    """The `link` extension: the shared index's checksum, then the delete and replace bitmaps;
    None when that checksum is zeros (git then reads the entries alone)."""
    shared = payload[:hash_size]
    if len(shared) < hash_size:
        raise ValueError("its link extension is cut short")
    if len(payload) == hash_size:
        if any(shared):
            raise ValueError("its link extension has no bitmaps")  # git would crash
        return None
    deleted, offset = parse_ewah(payload, hash_size)
    replaced, offset = parse_ewah(payload, offset)
    if offset != len(payload):
        raise ValueError("its link extension has bytes after its bitmaps")
    return SplitLink(shared, deleted, replaced) if any(shared) else None


def parse_ewah(payload: bytes, offset: int) -> tuple[tuple[int, ...], int]:
    """An EWAH bitmap as git writes it (ewah_io.c): its size in bits, its number of 64-bit
    words, the words, the position of its last marker word (neither position nor size read);
    and the offset after it. A marker word: bit 0, how many words of that bit follow (bits
    1-32), then how many literal words (bits 33-63)."""
    if offset + 8 > len(payload):
        raise ValueError("its link extension ends inside a bitmap")
    count = struct.unpack_from(">I", payload, offset + 4)[0]
    after = offset + 8 + 8 * count + 4
    if after > len(payload):
        raise ValueError("its link extension ends inside a bitmap")
    words = struct.unpack_from(f">{count}Q", payload, offset + 8)
    marker = 0
    while marker < count:
        marker += 1 + (words[marker] >> 33)
    if marker > count:
        raise ValueError("a bitmap in its link extension has more literal words than words")
    return words, after


def ewah_positions(words: Sequence[int], limit: int) -> Iterator[int]:
    """The positions of the bits set in an EWAH bitmap (ewah_bitmap.c ewah_each_bit), in
    order; ValueError at one not below `limit` (git dies there)."""
    position = marker = 0
    while marker < len(words):
        run = (words[marker] >> 1 & 0xFFFFFFFF) * 64
        if words[marker] & 1 and run:
            if position + run > limit:
                raise link_past(max(position, limit), limit)
            yield from range(position, position + run)
        position += run
        literals = words[marker] >> 33
        for word in words[marker + 1 : marker + 1 + literals]:
            while word:
                bit = position + (word & -word).bit_length() - 1
                if bit >= limit:
                    raise link_past(bit, limit)
                yield bit
                word &= word - 1
            position += 64
        marker += 1 + literals


def link_past(position: int, limit: int) -> ValueError:
    return ValueError(f"its link extension names shared entry {position} of {limit}")


def resolve_index(index: GitIndex, shared: GitIndex | None) -> tuple[IndexEntry, ...]:
    """The entries git works with: the index's own, or a split index's merged into those of the
    shared index its link names (merge_base_index): the first N replace the shared entries at
    the N positions of the replace bitmap (their names dropped: the shared entries'), those in
    the delete bitmap go, the rest are added. ValueError: what git refuses, entries out of order
    among them (check_ce_order); and two of the same name and stage, which git never writes."""
    if index.link is None:
        check_index_order(index.entries)
        return index.entries
    if shared is None or shared.checksum != index.link.shared:
        raise ValueError("its shared index is not the one its link extension names")
    base = list(shared.entries)
    replaced = 0
    for position in ewah_positions(index.link.replaced, len(base)):
        if replaced == len(index.entries):
            raise ValueError("its link extension replaces more entries than it has")
        name, stage, mode = index.entries[replaced]
        if name:
            raise ValueError(f"its entry {replaced} replaces a shared one but has a name")
        base[position] = (base[position][0], stage, mode)
        replaced += 1
    deleted = frozenset(ewah_positions(index.link.deleted, len(base)))
    kept = [entry for position, entry in enumerate(base) if position not in deleted]
    check_index_order(kept)  # git bisects them to add entries: only then as this does
    merged = {(name, stage): (name, stage, mode) for name, stage, mode in kept}
    for number, (name, stage, mode) in enumerate(index.entries[replaced:], replaced):
        if not name:
            raise ValueError(f"its entry {number} is added but has no name")
        if stage == 0 and (name, 0) not in merged:  # a resolved conflict
            for conflicted in (1, 2, 3):
                merged.pop((name, conflicted), None)
        merged[name, stage] = (name, stage, mode)
    entries = tuple(sorted(merged.values()))
    check_index_order(entries)
    return entries


def check_index_order(entries: Sequence[IndexEntry]) -> None:
    """git's order (check_ce_order): by name, then stage; a name at stage 0 at no other."""
    for (name_before, stage_before, _), (name, stage, _) in itertools.pairwise(entries):
        if (name_before, stage_before) >= (name, stage) or (
            name_before == name and not stage_before
        ):
            raise ValueError(f"its entries are not in git's order (at {os.fsdecode(name)!r})")


# --- rendering ------------------------------------------------------------------------------

AUDIT_WIDTH: Final = 80
AUDIT_LABEL: Final = 13  # "  variables  ": the label column
# Names from files a session writes (its settings, its MCP servers) the audit lists, at most.
AUDIT_NAMES_SHOWN: Final = 12


def printable(text: str, keep: str = "") -> str:
    """`text` safe to print: each code point a terminal acts on or does not show (a control
    such as ESC, CR or BEL, a bidi override or another format character, a line separator, a
    private or unassigned one) becomes a visible escape such as \\x1b, \\r or \\u202e, and a
    byte that was not UTF-8 (os.fsdecode's surrogate escape) \\xNN. Letters, marks, numbers,
    punctuation and symbols of every script stay, and so does each character of `keep`. A
    backslash stays too: what printable() makes is left as it is by printable()."""
    stripped = text
    for char in keep:
        stripped = stripped.replace(char, "")
    if stripped.isprintable():
        return text
    return "".join(
        char
        if char.isprintable() or char in keep
        else f"\\x{ord(char) - 0xDC00:02x}"
        if "\udc80" <= char <= "\udcff"
        else repr(char)[1:-1]
        for char in text
    )


def shell_quote(word: str) -> str:
    """shlex.quote, but a word holding what printable() escapes (newlines and tabs aside) is
    quoted $'...', each such character as the bytes it stands for (\\xNN): the terminal shows
    escapes, and bash, pasting it, gets the word's very bytes (whatever its locale)."""
    if printable(word, keep="\n\t") == word:
        return shlex.quote(word)
    body = "".join(
        "\\" + char
        if char in "\\'"
        else char
        if char.isprintable()
        else "".join(
            f"\\x{byte:02x}"
            for byte in char.encode(
                "utf-8", "surrogateescape" if "\udc80" <= char <= "\udcff" else "surrogatepass"
            )
        )
        for char in word
    )
    return f"$'{body}'"


def shell_join(words: Iterable[str]) -> str:
    return " ".join(shell_quote(word) for word in words)


def mask(value: str) -> str:
    return f"<masked, {len(value)} chars>"


# Style's codes: with colour, the edge (terminal_bytes) lets these through and nothing else like
# them; every value inside was made printable() when the text was rendered.
STYLE_CODE: Final = re.compile("(\x1b\\[(?:1;31|33|1|2|0)m)")


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def red(self, text: str) -> str:
        return f"\033[1;31m{text}\033[0m" if self.colour else text

    def yellow(self, text: str) -> str:
        return f"\033[33m{text}\033[0m" if self.colour else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text

    def dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self.colour else text


def tilde(path: str, home: str) -> str:
    return "~" + path[len(home) :] if is_within(path, home) else path


def fill(label: str, items: Sequence[str], width: int = AUDIT_WIDTH) -> list[str]:
    """`label`, then the items wrapped into the value column: an item stays on one line when
    it fits there, else it breaks at its spaces. Each item is made printable() first."""
    room = width - AUDIT_LABEL
    words = []
    for item in map(printable, items):
        words += [item.replace(" ", "\0")] if len(item) <= room else item.split(" ")
    lines: list[str] = []
    current = f"  {label:<{AUDIT_LABEL - 2}}"
    for word in words:
        if len(current) > AUDIT_LABEL and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = " " * AUDIT_LABEL + word
        else:
            current += ("" if len(current) <= AUDIT_LABEL else " ") + word
    lines.append(current)
    return [line.replace("\0", " ") for line in lines]


def clip(text: str, room: int = AUDIT_WIDTH - AUDIT_LABEL) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def at_most(items: Sequence[str], limit: int = AUDIT_NAMES_SHOWN) -> list[str]:
    """`items`, the first `limit` of them and how many more when there are more."""
    more = len(items) - limit
    return [*items[:limit], f"… and {more} more"] if more > 0 else list(items)


def shown_command(command: Sequence[str]) -> str:
    """The command as the audit shows it: claude (whatever its file is called, e.g. a version
    number) or the shell, without the flag settings (--details shows all)."""
    words = list(command)
    if words[1:2] == ["--dangerously-skip-permissions"]:
        words[0] = "claude"
        if words[2:3] == ["--settings"]:
            del words[2:4]
    else:
        words[0] = os.path.basename(words[0])
    return clip(printable(shell_join(words)))


AUDIT_BLOCKED_LINES: Final = 6  # the summary names at most this many; --details all
AUDIT_ROWS: Final = 23  # an 80x24 terminal less the question's line
AUDIT_LEVELS: Final = 5  # how far render_audit condenses (audit_lines says what each level does)
AUDIT_SYSTEM_LINE: Final = "tmpfs / /tmp ~, /proc /dev, ro /nix/store /etc, the nix daemon"


def read_only_host_mounts(plan: SandboxPlan) -> list[tuple[Mount, str]]:
    """Host directories or files bound read-only beyond the system's (profile mounts, claude's
    install directory), each with the profile that named it ("" for claudebox's own)."""
    origins = {m.dst: m.origin for m in plan.profile.mounts} if plan.profile else {}
    return [(m, origins.get(m.dst, "")) for m in plan.mounts if m.op is MountOp.RO_BIND_FD]


def writable_lines(plan: SandboxPlan, home: str) -> list[tuple[str, bool]]:
    """(line, dangerous) for everything the sandbox can write beyond the project itself."""
    lines: list[tuple[str, bool]] = []
    for mount in sorted(plan.writable, key=lambda mount: path_depth(mount.dst)):  # not bwrap's
        if mount.dst == plan.project:
            continue
        if mount.dst == DAEMON_SOCKET_DIR:
            lines.append(("the nix daemon's socket (it builds and downloads for you)", False))
        elif mount.src and is_within(mount.src, plan.instance.dir):
            continue  # this project's own state, summarised below
        elif plan.profile and any(m.dst == mount.dst for m in plan.profile.mounts):
            origin = next(m.origin for m in plan.profile.mounts if m.dst == mount.dst)
            lines.append((f"{tilde(mount.src, home)} (profile {origin})", True))
        else:
            lines.append((f"{tilde(mount.src, home)} (git directory)", True))
    lines.append((f"this project's own state ({tilde(plan.instance.dir, home)})", False))
    return lines


def render_audit(
    plan: SandboxPlan, style: Style, home: str, *, verbose: bool = False, rows: int = AUDIT_ROWS
) -> str:
    """What enters, for the launch question: plumbing condensed on top, the facts that decide
    (network, what is writable, secrets, profile, warnings) right above the question. Within
    `rows` lines (the question is the next one): each level condenses more, never what is red
    (dangerous) nor a warning; warnings that alone do not fit are counted (--details: all)."""
    if verbose:
        return "\n".join(audit_lines(plan, style, home, 0, verbose=True)) + "\n"
    lines: list[str] = []
    for level in range(AUDIT_LEVELS + 1):
        lines = audit_lines(plan, style, home, level)
        if len(lines) <= rows:
            return "\n".join(lines) + "\n"
    warnings = len(plan.warnings)  # the last lines, one each at the last level
    kept = min(max(rows - (len(lines) - warnings) - 1, 0), warnings)
    lines = lines[: len(lines) - warnings + kept]
    more = f"… and {warnings - kept} more warnings (--details shows them)"
    lines += [style.red(item) for item in fill("" if kept else "warning", [more])]
    return "\n".join(lines) + "\n"


def audit_lines(
    plan: SandboxPlan, style: Style, home: str, level: int, *, verbose: bool = False
) -> list[str]:
    """The audit condensed to `level` (0: in full), the plumbing first: level 1 condenses it,
    2 gives it one line; 3 gives the allowed names of each origin, each note and each profile
    fact one line; 4 counts the notes and what is unreachable and puts the host ports on one
    line; 5 (AUDIT_LEVELS) puts every allowed name on one line, what is writable on at most
    three and each warning on one."""
    out = [style.bold(f"claudebox {__version__}: sandbox for {printable(plan.chdir)}")]
    out += render_everything(plan, home) if verbose else render_plumbing(plan, home, level)
    out.append("")
    out += fill("command", [shown_command(plan.command)])
    policy = NETWORK_POLICIES[plan.tier]
    danger = "! " if policy.dangerous else ""
    tier_line = f"{danger}{plan.tier.value} ({plan.tier_origin}): {policy.meaning}"
    out += [style.red(line) if policy.dangerous else line for line in fill("network", [tier_line])]
    out += render_relay(plan, style, level)
    beyond = inet_blocked_beyond_fixed(
        plan.stage.blocked or (plan.relay.blocked if policy.takes_allowlist else ())
    )
    limit = AUDIT_BLOCKED_LINES if level < 4 else 1
    shown = beyond if len(beyond) <= limit else beyond[: limit - 1]
    for item in shown:
        out += fill("", [clip(f"unreachable {item.describe()}")])
    if len(shown) < len(beyond):
        out += fill("", [f"… and {len(beyond) - len(shown)} more unreachable (--details)"])
    out += render_writable(plan, style, home, level)
    secrets = [
        f"{var.name} ({var.origin})"
        for var in plan.env
        if var.looks_secret and var.origin != LOGIN_ORIGIN
    ]
    secrets += at_most([f"{key} (MCP server {server})" for server, key in plan.mcp_env])
    if secrets:
        out += fill("secrets", secrets if level < 3 else [clip(", ".join(secrets))])
    mounted = [
        f"{tilde(m.src, home)} (read-only{', profile ' + origin if origin else ''})"
        for m, origin in read_only_host_mounts(plan)
    ]
    if mounted:
        out += fill("mounted", mounted if level < 3 else [clip(", ".join(mounted))])
    for source in plan.secret_mounts:
        out += [
            style.red(item) for item in fill("secrets", [f"! {source} (mounted by the profile)"])
        ]
    if plan.profile is not None:
        profile = plan.profile
        chain = " -> ".join(profile.chain)
        described = f": {profile.description[0]}" if profile.description else ""
        text = f"{profile.name} ({profile.chosen_by}; {chain}){described}"
        out += fill("profile", [text if level < 3 else clip(text)])
        if profile.packages:
            names = [name for name, _origin in profile.packages]
            out += fill("packages", names if level < 3 else [clip(" ".join(names))])
    notes = [note.replace(home + "/", "~/") for note in plan.notes]
    if notes and level >= 4:
        out += fill("notes", [f"{len(notes)} (--details shows them)"])
    else:
        for note in notes:
            out += fill("note", [note if level < 3 else clip(note)])
    for warning in plan.warnings:
        line = fill("warning", [warning if level < AUDIT_LEVELS else clip(warning)])
        out += [style.red(item) for item in line]
    return out


def render_writable(plan: SandboxPlan, style: Style, home: str, level: int) -> list[str]:
    """The project, then what else the sandbox can write (red: a host directory)."""
    others = writable_lines(plan, home)
    if level >= AUDIT_LEVELS:  # the red ones on one line, the others on another
        red = [text for text, dangerous in others if dangerous]
        rest = [text for text, dangerous in others if not dangerous]
        others = [(clip(", ".join(red)), True)] if red else []
        others += [(clip(", ".join(rest)), False)] if rest else []
    out: list[str] = []
    for text, dangerous in [(f"{plan.project} (the project)", False), *others]:
        line = fill("writable" if not out else "", [("! " if dangerous else "") + text])
        out += [style.red(item) if dangerous else item for item in line]
    return out


def render_summary(plan: SandboxPlan, style: Style, home: str) -> str:
    """What --yes prints instead of the audit: one line (the project, the tier, the profile,
    how much more comes in; longer than the screen is wide only with a long path), then in
    full what the audit paints red and what a careful user checks even when confirming by
    flag: the secrets that enter, and every warning."""
    policy = NETWORK_POLICIES[plan.tier]
    facts = [f"{plan.tier.value} ({plan.tier_origin})"]
    if plan.profile is not None:
        facts.append(f"profile {plan.profile.name}")
    counted = (
        ("read-only mount", len(read_only_host_mounts(plan))),
        (
            "allowed name",
            sum(1 for rule in plan.relay.rules if rule.origin != CLAUDE_DOMAINS_ORIGIN),
        ),
        ("package", len(plan.profile.packages) if plan.profile else 0),
        ("note", len(plan.notes)),
    )
    facts += [f"{count} {what}{'s' if count > 1 else ''}" for what, count in counted if count]
    out = [
        f"claudebox {__version__}: sandbox for {printable(tilde(plan.chdir, home))}: "
        f"{printable(', '.join(facts))} (--details: the audit)"
    ]
    if policy.dangerous:
        tier_line = f"! {plan.tier.value} ({plan.tier_origin}): {policy.meaning}"
        out += [style.red(line) for line in fill("network", [tier_line])]
    out += render_host_ports(plan, style, label="" if policy.dangerous else "network")
    red = [text for text, dangerous in writable_lines(plan, home) if dangerous]
    for index, text in enumerate(red):
        out += [style.red(line) for line in fill("" if index else "writable", ["! " + text])]
    secrets = [
        f"{var.name} ({var.origin})"
        for var in plan.env
        if var.looks_secret and var.origin != LOGIN_ORIGIN
    ]
    secrets += at_most([f"{key} (MCP server {server})" for server, key in plan.mcp_env])
    if secrets:
        out += fill("secrets", secrets)
    for source in plan.secret_mounts:
        out += [
            style.red(item) for item in fill("secrets", [f"! {source} (mounted by the profile)"])
        ]
    for warning in plan.warnings:
        out += [style.red(item) for item in fill("warning", [warning])]
    return "\n".join(out) + "\n"


def login_words(login: Login) -> list[str]:
    """What Claude's login is inside, for the audit (its variables hold placeholders)."""
    return ["login via claudebox: no token or key inside" if login.variables else LOGIN_SUMMARY]


def render_plumbing(plan: SandboxPlan, home: str, level: int = 0) -> list[str]:
    """The sandbox's fixed parts: condensed from level 1, on one line from level 2."""
    read_only = [
        v
        for v in plan.claude_view
        if v.treatment is Treatment.READ_ONLY and not v.note.endswith("left out")
    ]
    links = [v for v in plan.claude_view if v.note.startswith("symlink")]
    protected = sum(1 for p in plan.stage.pins if is_within(p.path, plan.project))
    project_links = [
        p.path for p in plan.stage.pins if p.kind is Kind.LINK and is_within(p.path, plan.project)
    ]
    names = sorted(var.name for var in plan.env)
    details = "(--details shows every mount, pin and value)"
    if level >= 2:
        parts = [f"tmpfs / ~, own ~/.claude, {len(names)} variables"]
        parts += [f"{protected} paths protected"] if protected else []
        pinned = len(links) + len(project_links)
        parts += [f"{pinned} symlinks pinned"] if pinned else []
        return fill("sandbox", [clip(", ".join(parts)), details])
    lines = fill("system", system_words(plan) if level < 1 else [AUDIT_SYSTEM_LINE])
    layered = [v.name for v in plan.claude_view if v.treatment is Treatment.OVERLAID]
    claude = [f"~/.claude: this project's own, {len(read_only)} of yours read-only"]
    claude += [f"{', '.join(layered)} with its own on top"] if layered else []
    lines += fill("claude", [", ".join(claude) if level < 1 else clip(", ".join(claude))])
    if plan.own_settings:
        lines += fill("", [clip("settings of its own: " + ", ".join(plan.own_settings))])
    lines += fill("", login_words(plan.relay.login))
    mcp = [
        f"{name} (profile {origin})" if origin else f"{name} (the project's own)"
        for name, origin in plan.mcp_in
    ]
    if plan.mcp_out:
        outside = f"{len(plan.mcp_out)} of yours outside (a profile's mcp_servers brings one in): "
        mcp.append(clip(outside + ", ".join(plan.mcp_out)))
    if mcp:
        lines += fill("mcp", mcp if level < 1 else [clip(", ".join(mcp))])
    named = [fit_symlink(f"~/.claude/{view.name}", view.note) for view in links]
    named += [fit_symlink(os.path.relpath(p, plan.project), "") for p in project_links]
    for index, text in enumerate(named):  # a session may have planted one: each is named
        lines += fill("symlinks" if index == 0 else "", [text])
    if protected:
        lines += fill("protected", [f"{protected} paths in the project pinned or read-only"])
    if level >= 1:
        return lines + fill("variables", [f"{len(names)} {details}"])
    lines += fill("variables", [*names[:12], *(["…"] if len(names) > 12 else [])])
    lines += fill("", [details])
    return lines


def system_words(plan: SandboxPlan) -> list[str]:
    """The system part of the sandbox, in full: what /etc holds, and what is generated."""
    etc = [m.dst.removeprefix("/etc/") for m in plan.mounts if m.op is MountOp.RO_BIND_TRY]
    generated = [
        m.dst.removeprefix("/etc/")
        for m in plan.mounts
        if m.op is MountOp.DATA and m.dst in ("/etc/passwd", "/etc/group", "/etc/resolv.conf")
    ]
    if etc and generated:
        etc[-1] += ","
    etc += ["generated:", *generated] if generated else []
    return [
        "tmpfs / /tmp ~,",
        "/proc, /dev, /nix/store (ro), the nix daemon socket,",
        "/etc (ro):",
        *etc,
    ]


def fit_symlink(name: str, note: str, room: int = AUDIT_WIDTH - AUDIT_LABEL) -> str:
    """One pinned symlink in the value column: the middle of a long target gives way."""
    name, note = printable(name), printable(note)
    if note.startswith("symlink to "):
        target, _, rest = note.removeprefix("symlink to ").rpartition(", ")
        if not target:
            target, rest = note.removeprefix("symlink to "), ""
        tail = f" ({rest})" if rest else ""
        spare = room - len(f"{name} -> {tail}")
        if len(target) > spare > 8:
            half = (spare - 1) // 2
            target = target[:half] + "…" + target[len(target) - (spare - 1 - half) :]
        return clip(f"{name} -> {target}{tail}")
    return clip(f"{name}: {note or 'symlink, not followed'}")


def render_everything(plan: SandboxPlan, home: str) -> list[str]:
    """--verbose: every mount, pin, variable and ~/.claude entry."""
    lines = ["  mounts"]
    lines += [f"    {mount.describe()}" for mount in plan.mounts]
    lines.append("  pinned in claudebox's namespace before bwrap")
    lines += [f"    {pin.describe()}" for pin in plan.stage.pins]
    if plan.stage.blocked:
        lines.append("  unreachable inside (routes and nftables)")
        lines += [f"    {item.describe()}" for item in plan.stage.blocked]
    relay = plan.relay
    where = "on the host's loopback, behind a session token" if relay.on_host else PROXY_URL
    lines.append(f"  the proxy ({where}): {TUNNEL_MEANING[relay.tunnel]}")
    lines += [f"    {name} (Claude's login: TLS ends at claudebox)" for name in LOGIN_HOSTS]
    if relay.login.upstream:
        lines.append(f"    Claude's base URL: the relay, on to {relay.login.upstream}")
    lines += [f"    {rule.describe()} ({rule.origin})" for rule in relay.rules]
    if relay.blocked:
        lines.append("  the proxy never connects to")
        lines += [f"    {item.describe()}" for item in relay.blocked]
    lines.append(f"  connections logged in {relay.log_dir}")
    lines.append(f"  env ({len(plan.env)})")
    for var in plan.env:
        if var.origin == LOGIN_ORIGIN:
            value = "(set at launch: a placeholder, or the proxy's address)"
        else:
            value = mask(var.value) if var.looks_secret else var.value
        lines.append(f"    {var.name}={value}  [{var.origin}]")
    lines.append(f"  command: {shell_join(plan.command)}")
    lines.append("  ~/.claude")
    for view in plan.claude_view:
        note = f" ({view.note})" if view.note else ""
        lines.append(f"    {view.name}: {view.treatment.value}{note}")
    if plan.own_settings:  # (every one: --details is asked for, the file is bounded)
        lines.append(f"    settings of its own: {', '.join(plan.own_settings)}")
    return [printable(line) for line in lines]


def stage_spec(plan: SandboxPlan) -> dict[str, object]:
    """The stage as --stage takes it (and --dry-run --json shows it)."""
    return {
        "network": plan.stage.network,
        "blocked": [list(item) for item in plan.stage.blocked],
        "pins": [
            [p.path, p.kind.value, p.read_only, p.source, *([p.upper] if p.upper else [])]
            for p in plan.stage.pins
        ],
        "opened": [[item.fd, item.path] for item in plan.stage.opened],
        "pasta": [plan.pasta.program, *plan.pasta.options] if plan.pasta else None,
        "runtime_dir": plan.instance.dir,
        "listen": list(plan.stage.listen),
        "sealed": plan.stage.sealed,
        **(
            {
                "transparent": list(plan.stage.transparent),
                "resolver": True,
                "spares": plan.stage.spares,
            }
            if plan.stage.resolver
            else {}
        ),
        "launch_data": {item.kind.name: item.fd for item in plan.data if item.kind in LAUNCH_DATA},
        "relay": relay_spec(plan.relay),
    }


def render_stage_spec(spec: Mapping[str, object], indent: str = " ") -> str:
    """The stage spec as JSON with one pin, descriptor or relay rule per line."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            items = f",\n{indent} ".join(json.dumps(item) for item in value)
            lines.append(f'"{key}": [\n{indent} {items}\n{indent}]')
        elif isinstance(value, dict):
            lines.append(f'"{key}": {render_stage_spec(value, indent + "  ")}')
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + indent + f",\n{indent}".join(lines) + "\n" + indent[:-1] + "}"


def render_dry_run(plan: SandboxPlan, launcher: Sequence[str]) -> str:
    """Host preparation, then the stage and bwrap one option per line, as a script bash runs
    (bash_here_document); pasted into bash or zsh, the same sandbox. `launcher`: how to run
    this claudebox (python and its script). No value of a variable that enters is on a command
    line: the environment is bwrap's --args data, printed by bash's own printf (a builtin),
    values from the environment as "$NAME"; the login's values reach the stage likewise, on
    LOGIN_SECRETS_FD."""
    lines = [step.render() for step in plan.host_setup]
    spec = render_stage_spec(stage_spec(plan))
    chunks: list[str] = [shell_join(["env", "-i", *launcher, "--stage", spec, "--"])]
    args = plan.argv
    chunks.append(shell_quote(args[0]))
    namespace = list(plan.namespace_args)
    index = 0
    while index < len(namespace):
        width = 2 if namespace[index] in ("--hostname", "--uid", "--gid") else 1
        chunks.append(shell_join(namespace[index : index + width]))
        index += width
    chunks.append("--clearenv")
    chunks += [f"--args {plan.data_fd(kind)}" for kind in (DataKind.ENV, DataKind.LOGIN_ENV)]
    chunks += [shell_join(mount.to_args()) for mount in plan.mounts]
    chunks.append(shell_join(["--chdir", plan.chdir, "--seccomp", str(plan.seccomp_fd)]))
    chunks.append(shell_join(["--", *plan.command]))
    inputs = []
    for item in plan.data:
        if item.kind is DataKind.ENV:
            variables = [var for var in plan.env if var.origin != LOGIN_ORIGIN]
            words = [word for var in variables for word in ("--setenv", var.name, shell_value(var))]
            inputs.append(f"{item.fd}< <(printf '%s\\0' {' '.join(words)})")
        elif item.kind not in LAUNCH_DATA:
            inputs.append(f"{item.fd}< <({printf_command(item.content)})")
    secrets = login_secret_words(plan)
    if secrets:
        inputs.append(f"{LOGIN_SECRETS_FD}< <(printf '%s\\0' {' '.join(secrets)})")
    chunks.append(" ".join(inputs))
    return bash_here_document("\n".join([*lines, " \\\n  ".join(chunks)]) + "\n")


def bash_here_document(script: str) -> str:
    """`script` for bash, whichever shell it is pasted into (zsh cannot parse a redirection of
    descriptor 10 and up, and the data is there): bash reads it from a quoted here-document on
    descriptor 3, so the terminal stays standard input and "$NAME" is expanded by bash, from
    its environment (a variable set but not exported in the pasting shell counts as unset)."""
    lines = set(script.split("\n"))
    end = "CLAUDEBOX"
    while end in lines:  # (a line of the data could be the word itself)
        end += "_"
    return f"bash /dev/fd/3 3<<'{end}'\n{script}{end}\n"


def shell_value(var: EnvVar) -> str:
    """A variable's value as a pasted --dry-run says it: what the environment gave, as the
    pasting shell's own "$NAME"; what claudebox or a profile set, quoted."""
    if var.origin in ("sandbox", "profile"):
        return shell_quote(var.value)
    return f'"${var.name}"'


def login_secret_words(plan: SandboxPlan) -> list[str]:
    """NAME VALUE words for the login's variables (the stage reads them from LOGIN_SECRETS_FD):
    "$NAME" from the pasting shell, or a profile's literal value."""
    literal = {name: value for name, value, _o in plan.profile.env} if plan.profile else {}
    names = [*plan.relay.login.variables]
    if plan.relay.login.upstream:
        names.append(BASE_URL_VARIABLE)
    return [
        word
        for name in names
        for word in (name, shell_quote(literal[name]) if name in literal else f'"${name}"')
    ]


def render_plan_json(plan: SandboxPlan) -> str:
    """--dry-run --json: the plan for scripts; secret-looking values masked, argv included."""
    relay = plan.relay
    document = {
        "version": __version__,
        "network": plan.tier.value,
        "network_from": plan.tier_origin,
        "instance": {"id": plan.instance.id, "root": plan.instance.root, "dir": plan.instance.dir},
        "project": plan.project,
        "profile": plan.profile.name if plan.profile else None,
        "cwd": plan.chdir,
        "command": list(plan.command),
        "env": [
            {
                "name": var.name,
                "value": None
                if var.origin == LOGIN_ORIGIN
                else mask(var.value)
                if var.looks_secret
                else var.value,
                "origin": var.origin,
            }
            for var in plan.env
        ],
        "mounts": [
            {
                "op": m.op.value.removeprefix("--"),
                "mode": "rw" if m.writable or m.op is MountOp.WRITABLE_DATA else "ro",
                "dst": m.dst,
                "src": m.src or None,
                "fd": m.fd if m.fd >= 0 else None,
                "describe": m.describe(),
            }
            for m in plan.mounts
        ],
        "stage": stage_spec(plan),
        "inet_blocked": [
            {"prefix": item.prefix, "origin": item.origin, "fixed": item not in beyond}
            for item in plan.stage.blocked
            for beyond in [inet_blocked_beyond_fixed(plan.stage.blocked)]
        ],
        "proxy": {
            "url": None if relay.on_host else PROXY_URL,  # full: an ephemeral host port
            "reaches": relay.tunnel.value,
            "login_hosts": list(LOGIN_HOSTS),
            "never_connects_to": [
                {"prefix": item.prefix, "origin": item.origin} for item in relay.blocked
            ],
        },
        "login": {
            "placeholders": list(relay.login.variables),
            "credentials": relay.login.credentials,
            "upstream": relay.login.upstream or None,
        },
        "allow_domains": [
            {"value": rule.describe(), "ports": list(rule.ports), "from": rule.origin}
            for rule in relay.rules
        ],
        "host_ports": [
            {"port": port, "from": origin}
            for port in relay.host_ports
            for origin in [dict(plan.profile.host_ports if plan.profile else ()).get(port)]
        ],
        "network_log": relay.log_dir,
        "claude": [
            {"name": v.name, "treatment": v.treatment.value, "note": v.note}
            for v in plan.claude_view
        ],
        "generated": [
            {
                "fd": d.fd,
                "what": d.kind.value,
                "bytes": None if d.kind in LAUNCH_DATA else len(d.content),
            }
            for d in plan.data
        ],
        "argv": plan.argv,
        "watched": list(plan.watched),
        "notes": list(plan.notes),
        "warnings": [*plan.warnings, *(str(blocker) for blocker in plan.blockers)],
    }
    return json.dumps(document, indent=2) + "\n"


def printf_command(content: bytes) -> str:
    """A shell command printing exactly `content` (octal escapes for binary data)."""
    if b"\0" not in content:
        try:
            return f"printf %s {shell_quote(content.decode())}"
        except UnicodeDecodeError:
            pass
    return "printf '" + "".join(f"\\{byte:03o}" for byte in content) + "'"


def render_findings(findings: Sequence[Finding]) -> str:
    """One warning line each; past REVIEW_FINDINGS_SHOWN (a session can leave thousands),
    those moved aside first, then a count."""
    ordered = list(findings)
    if len(ordered) > REVIEW_FINDINGS_SHOWN:
        ordered.sort(key=lambda finding: not finding.moved_to)
    lines = []
    for finding in ordered[:REVIEW_FINDINGS_SHOWN]:
        moved = (
            f"; moved it to {printable(finding.moved_to)} (move it back only if you trust it)"
            if finding.moved_to
            else ""
        )
        lines.append(f"claudebox: warning: the session {printable(finding.what)}{moved}")
    hidden = ordered[REVIEW_FINDINGS_SHOWN:]
    if hidden:
        moved_count = sum(1 for finding in hidden if finding.moved_to)
        lines.append(
            f"claudebox: warning: the session left {len(hidden)} more like these ({moved_count} "
            f"moved aside: their names end in {QUARANTINE_SUFFIX}); look before running git there"
        )
    return "".join(line + "\n" for line in lines)


def render_gc(entries: Sequence[GcEntry], *, removed: bool) -> str:
    lines = []
    for entry in entries:
        size = human_size(entry.size)
        name = printable(os.path.basename(entry.instance_dir))
        root = printable(entry.root or "")
        if entry.verdict == "remove":
            verb = "removed" if removed else "would remove"
            used = (
                f", {entry.sessions} session(s), the last on "
                + time.strftime("%Y-%m-%d", time.localtime(entry.last_used))
                if entry.sessions
                else ", no session"
            )
            lines.append(f"{verb} {name} ({size}{used}): {root} no longer exists")
        elif entry.verdict == "in use":
            lines.append(f"skipped {name} ({size}): {root} is gone but a session is running")
        elif entry.verdict == "corrupt":
            lines.append(
                f"corrupt {name} ({size}): no usable root or lock file; inspect "
                f"{printable(entry.instance_dir)} and remove it by hand"
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


# --- the OS edge: probing -------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    check: bool,
    cwd: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The one way host commands (git, nix, probes) run: captured, text, no stdin but
    `input_text`.

    A timeout gives exit status 124 and says so on stderr, like timeout(1)."""
    try:
        return subprocess.run(
            argv,
            check=check,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            input=input_text,
            timeout=timeout,
            env=env,
            errors="surrogateescape",
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout:.0f}s")


class Ran(NamedTuple):
    returncode: int  # 127: it could not be started
    stdout: str
    stderr: str


class Running(NamedTuple):
    """Host commands started at once, each (pid, stdout, stderr) or None if it could not start:
    the caller probes on meanwhile, then finish_together waits for the slowest."""

    started: tuple[tuple[int, int, int] | None, ...]


def start_together(commands: Sequence[Sequence[str]]) -> Running:
    """posix_spawn, not subprocess: a launch then imports no subprocess (2 ms)."""
    started: list[tuple[int, int, int] | None] = []
    for argv in commands:
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, err_write, 2),
        ]
        try:
            pid = os.posix_spawn(
                argv[0],
                list(argv),
                os.environ,
                file_actions=actions,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores them; exec keeps that
            )
        except OSError:
            os.close(out_read)
            os.close(err_read)
            started.append(None)
        else:
            started.append((pid, out_read, err_read))
        finally:
            os.close(out_write)
            os.close(err_write)
    return Running(tuple(started))


def finish_together(running: Running, timeout: float = COMMAND_TIMEOUT) -> list[Ran]:
    """Each command's result; one still running after `timeout` seconds is killed (124)."""
    import select

    chunks: dict[int, list[bytes]] = {}
    poller = select.poll()
    for item in running.started:
        for fd in item[1:] if item else ():
            poller.register(fd, select.POLLIN)
            chunks[fd] = []
    unread = set(chunks)
    deadline = time.monotonic() + timeout
    while unread:
        ready = poller.poll(max(0.0, deadline - time.monotonic()) * 1000)
        if not ready:
            break
        for fd, _event in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                poller.unregister(fd)
                os.close(fd)
                unread.discard(fd)
    for fd in unread:
        os.close(fd)
    results = []
    for item in running.started:
        if item is None:
            results.append(Ran(127, "", "cannot start"))
            continue
        pid, out, err = item
        if {out, err} & unread:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        text = [b"".join(chunks[fd]).decode(errors="surrogateescape") for fd in (out, err)]
        if {out, err} & unread:
            results.append(Ran(124, text[0], f"timed out after {timeout:.0f}s"))
        else:
            results.append(Ran(os.waitstatus_to_exitcode(status), *text))
    return results


def inspect(path: str) -> Entry:
    """What `path` is, without following a symlink (and where a symlink leads)."""
    try:
        info = os.lstat(path)
    except OSError:
        return Entry(path, Kind.MISSING)
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = ""
        resolved = os.path.realpath(path)
        try:
            reached = kind_of(os.lstat(resolved).st_mode)
        except OSError:
            return Entry(path, Kind.LINK, target)
        return Entry(path, Kind.LINK, target, resolved, reached)
    if stat.S_ISDIR(info.st_mode):
        return Entry(path, Kind.DIR)
    return Entry(path, Kind.FILE if stat.S_ISREG(info.st_mode) else Kind.OTHER)


def walk(
    root: str, relative: str, create: bool = False, seen: dict[str, Entry] | None = None
) -> Walk:
    """The steps from `root` down to `relative`; `seen` remembers what this survey inspected."""
    steps: list[Entry] = []
    path = root.rstrip("/")
    for part in relative.split("/"):
        path = f"{path}/{part}"  # (os.path.join costs more than this survey's lstat calls)
        entry = seen.get(path) if seen is not None else None
        if entry is None:
            entry = inspect(path)
            if seen is not None:
                seen[path] = entry
        steps.append(entry)
        if entry.kind is not Kind.DIR:
            break
    return Walk(root, relative, tuple(steps), create)


def read_small(path: str, limit: int = 1 << 16) -> str | None:
    """A small regular file's text, never following a final symlink; None when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    finally:
        os.close(fd)


def gitfile_target(dot_git: str) -> str | None:
    """The real path a `.git` file points at (`gitdir: X`, relative to its directory)."""
    text = read_small(dot_git)
    if text is None or not text.startswith("gitdir: "):
        return None
    target = text.removeprefix("gitdir: ").rstrip("\r\n")  # git keeps any other whitespace
    if "\0" in target:
        return None  # (no path holds one: git cannot follow it either)
    return os.path.realpath(os.path.join(os.path.dirname(dot_git), target))


def pointer(path: str, base: str) -> str | None:
    """The real path a git pointer file (commondir, gitdir) names, relative to `base` (git
    drops only the line ends: a trailing space is part of the path)."""
    text = read_small(path)
    if not text or "\0" in text:
        return None
    return os.path.realpath(os.path.join(base, text.rstrip("\r\n")))


class GitProbe(NamedTuple):
    top: str
    common: str
    git_dir: str


GIT_CONFIG_KEYS: Final = r"^(user\.(name|email)|core\.hookspath)$"
LOCAL_SCOPES: Final = ("local", "worktree", "command")  # the repository's own (not ~/.gitconfig)


def git_probe(cwd: str, git: str) -> tuple[GitProbe | None, dict[str, str]]:
    return git_probe_result(start_git_probe(cwd, git))


def start_git_probe(cwd: str, git: str) -> Running:
    """git's answer for `cwd` (work tree, common and own git directory) and the few config
    values claudebox uses (identity, core.hooksPath): two git commands, run at once."""
    return start_together(
        [
            [
                git,
                "-C",
                cwd,
                "rev-parse",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-common-dir",
                "--absolute-git-dir",
            ],
            [git, "-C", cwd, "config", "--null", "--show-scope", "--get-regexp", GIT_CONFIG_KEYS],
        ]
    )


def git_probe_result(running: Running) -> tuple[GitProbe | None, dict[str, str]]:
    layout, config = finish_together(running, GIT_TIMEOUT)
    if 124 in (layout.returncode, config.returncode):
        raise ClaudeboxError(
            f"git did not answer within {GIT_TIMEOUT:.0f} s about this directory: a FIFO or "
            "a hung file system where git reads (its HEAD, config or index?); look for one "
            "(find .git -maxdepth 2 -type p) and move it aside"
        )
    values: dict[str, str] = {}
    words = config.stdout.split("\0")
    for scope, record in zip(words[0::2], words[1::2], strict=False):
        key, _, value = record.partition("\n")
        if value.strip():
            values[key] = value.strip()  # (the later scope wins, as in git)
            values[f"{key}@{'local' if scope in LOCAL_SCOPES else 'user'}"] = value.strip()
    lines = layout.stdout.splitlines()
    if layout.returncode != 0 or len(lines) != 3:
        return None, values
    top, common, git_dir = (os.path.realpath(line) for line in lines)
    return GitProbe(top, common, git_dir), values


def git_layout(
    cwd: str,
    git: str | None,
    probe: GitProbe | None,
    hooks: str = "",
    *,
    hooks_local: bool = False,
    user_hooks: str = "",
) -> GitLayout:
    """The project as git sees it from `cwd`, checked: git's answer may come from files a
    session wrote (a .git file, commondir, core.worktree), so claudebox binds read-write only
    the current directory or an ancestor whose own .git agrees with git, and another git
    directory only when it belongs to that work tree (a linked worktree or a submodule, each
    pointing back at it)."""
    if git is None or probe is None:
        return GitLayout(cwd, cwd, "", False)
    top, common = probe.top, probe.common
    hooks_path = os.path.realpath(os.path.join(top, os.path.expanduser(hooks))) if hooks else ""
    found = GitLayout(top, top, "", False, hooks_path, git, hooks_local, user_hooks)
    if not is_within(cwd, top):
        raise ClaudeboxError(
            f"git says the work tree of {cwd} is {top} (a core.worktree setting or a .git file "
            f"in {probe.git_dir}); claudebox binds only the current directory or one of its "
            "ancestors read-write; remove that setting, or run claudebox from the work tree",
            EXIT_USAGE,
        )
    skipped = skipped_dot_git(cwd, top, probe.git_dir)
    if skipped:
        raise ClaudeboxError(
            f"git says the work tree of {cwd} is {top}, past {skipped}, which git does not take "
            "for a repository (a session may have broken it); claudebox binds no work tree above "
            f"a .git; repair or remove {skipped}, or run claudebox from {top}",
            EXIT_USAGE,
        )
    dot_git = inspect(os.path.join(top, ".git"))
    canonical = os.path.dirname(common) if os.path.basename(common) == ".git" else top
    if dot_git.kind is Kind.MISSING or (dot_git.kind is Kind.DIR and probe.git_dir != dot_git.path):
        raise ClaudeboxError(foreign_work_tree(git, cwd, probe, dot_git), EXIT_USAGE)
    if dot_git.kind is Kind.DIR:
        if common != dot_git.path:
            raise ClaudeboxError(
                f"{dot_git.path}/commondir points git at {common}: not a normal repository "
                "(a session may have planted it); remove that file",
                EXIT_USAGE,
            )
        return found._replace(canonical_root=canonical, git_dir=common, outside=False)
    if dot_git.kind is Kind.FILE:
        target = gitfile_target(dot_git.path)
        if target is None or target != probe.git_dir:
            raise ClaudeboxError(
                f"{dot_git.path} is not a gitdir pointer git agrees with; fix or remove it",
                EXIT_USAGE,
            )
        if is_within(target, top):
            if not is_within(common, top):
                raise ClaudeboxError(
                    f"{target}/commondir points git at {common}, outside {top}: not a normal "
                    "repository (a session may have planted it); remove that file",
                    EXIT_USAGE,
                )
            return found._replace(canonical_root=canonical, git_dir=common, outside=False)
        if belongs_to(git, target, common, top):
            return found._replace(canonical_root=canonical, git_dir=common, outside=True)
        raise ClaudeboxError(
            f"{dot_git.path} points git at {target}, which is neither a linked worktree "
            "(git worktree add) nor a submodule of an enclosing repository pointing back at "
            f"{top}; claudebox will not give the sandbox write access to it; run claudebox "
            "where the repository's .git directory is, or fix the .git file",
            EXIT_USAGE,
        )
    raise ClaudeboxError(
        f"{dot_git.path} is a {dot_git.kind.value}: git's own directory or a gitdir pointer "
        "belongs there; replace or remove it",
        EXIT_USAGE,
    )


def skipped_dot_git(cwd: str, top: str, git_dir: str) -> str:
    """A .git in a directory from `cwd` up to the work tree `top` (its own excluded) that git
    passed over ("": none; git stops at its own, `git_dir` or a pointer to it). A session that
    breaks its project's .git would otherwise widen the next launch's bind to an enclosing
    repository."""
    while cwd != top and is_within(cwd, top):
        path = os.path.join(cwd, ".git")
        entry = inspect(path)
        if (entry.resolved or path) == git_dir or (
            entry.kind is Kind.FILE and gitfile_target(path) == git_dir
        ):
            return ""
        if entry.kind is not Kind.MISSING:
            return path
        cwd = os.path.dirname(cwd)
    return ""


def foreign_work_tree(git: str, cwd: str, probe: GitProbe, dot_git: Entry) -> str:
    """Why git's work tree (`probe.top`) is not bound: its own .git (`dot_git`) is missing or
    another directory than git's; the message names the config that says so, when one does."""
    top, git_dir = probe.top, probe.git_dir
    whose = (
        "which has no .git of its own"
        if dot_git.kind is Kind.MISSING
        else f"whose .git is not git's directory {git_dir}"
    )
    configs = (f"{git_dir}/config.worktree", f"{probe.common}/config", f"{git_dir}/config")
    for config in dict.fromkeys(configs):
        value = git_config_value(git, config, "core.worktree")
        if value is not None and os.path.realpath(os.path.join(git_dir, value)) == top:
            return (
                f"git says the work tree of {cwd} is {top}, {whose}: core.worktree in {config} "
                "points there (a session may have planted it); claudebox binds a work tree only "
                f"with its own .git; run git config --file {shell_quote(config)} --unset "
                f"core.worktree, or run claudebox from {top}"
            )
    return (
        f"git says the work tree of {cwd} is {top}, {whose} (GIT_DIR or GIT_WORK_TREE in the "
        f"environment, or core.worktree in a file {git_dir}/config includes); claudebox binds a "
        f"work tree only with its own .git; unset that, or run claudebox from {top}"
    )


def belongs_to(git: str, git_dir: str, common: str, top: str) -> bool:
    """Whether `git_dir` is `top`'s own git directory: a linked worktree's admin directory
    (COMMON/worktrees/NAME, its commondir naming COMMON, its gitdir naming TOP/.git) or an
    absorbed submodule's (SUPER/.git/modules/…, its core.worktree naming TOP)."""
    if os.path.dirname(git_dir) == os.path.join(common, "worktrees"):
        return pointer(os.path.join(git_dir, "commondir"), git_dir) == common and pointer(
            os.path.join(git_dir, "gitdir"), git_dir
        ) == os.path.join(top, ".git")
    superproject, marker, _rest = git_dir.partition("/.git/modules/")
    if not marker or common != git_dir or not is_within(top, superproject):
        return False
    worktree = git_config_value(git, os.path.join(git_dir, "config"), "core.worktree")
    return worktree is not None and os.path.realpath(os.path.join(git_dir, worktree)) == top


def git_config_value(git: str, config: str, key: str) -> str | None:
    """One key of a git config file, parsed by git itself (no includes, outside any repo)."""
    for name, value in git_config_entries(git, config) or ():
        if name == key.lower():
            return value
    return None


def git_config_entries(git: str, config: str) -> list[tuple[str, str]] | None:
    """Every (key, value) of a git config file, by git itself; None when it is not a regular
    file or git cannot read it. git reads the text claudebox read, never the path (a FIFO
    there would hang it), with no includes, outside any repository."""
    text = read_small(config, GIT_CONFIG_LIMIT + 1)
    if text is None or len(text.encode("utf-8", "surrogateescape")) > GIT_CONFIG_LIMIT:
        return None  # (git would read all of it: what claudebox did not read, it cannot judge)
    return git_config_text_entries(git, text)


def git_config_text_entries(git: str, text: str) -> list[tuple[str, str]] | None:
    """Every (key, value) of a git config's text, by git itself; None when git cannot read it."""
    result = run(
        [git, "config", "--no-includes", "--file", "-", "--null", "--list"],
        check=False,
        cwd="/",
        timeout=GIT_TIMEOUT,
        input_text=text,
    )
    if result.returncode != 0:
        return None
    entries = []
    for record in filter(None, result.stdout.split("\0")):
        key, _, value = record.partition("\n")
        entries.append((key, value))
    return entries


def index_gitlinks(index: str) -> list[str]:
    """Paths of the gitlinks (submodules) in git's index file `index`, read here (git reading
    it could run the repository's core.fsmonitor), with the shared index of a split index; none
    when it is missing. ClaudeboxError when it cannot be read as git reads it."""
    try:
        data = read_index_bytes(index)
        if data is None:
            return []
        parsed = parse_index(data)
        shared = None
        if parsed.link is not None:
            name = f"sharedindex.{parsed.link.shared.hex()}"
            try:
                shared_data = read_index_bytes(os.path.join(os.path.dirname(index), name))
                if shared_data is None:
                    raise ValueError("it is missing")
                shared = parse_index(shared_data, parsed.hash_size)
            except ValueError as error:
                raise ValueError(f"its shared index {name}: {error}") from None
        entries = resolve_index(parsed, shared)
    except ValueError as error:
        raise ClaudeboxError(
            f"cannot read git's index {index}: {error}; git read-tree HEAD writes a new one from "
            "the last commit (what is staged is lost, the work tree is kept; remove the index "
            "first if it is not a file)",
            EXIT_USAGE,
        ) from None
    return [
        os.fsdecode(name) for name, _, mode in entries if stat.S_IFMT(mode) == GIT_INDEX_GITLINK
    ]


def read_index_bytes(path: str) -> bytes | None:
    """A git index file's bytes (a regular file, read without blocking or following a link, at
    most GIT_INDEX_MAX_BYTES); None when it is missing, ValueError when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(
            "it is a symlink" if error.errno == errno.ELOOP else error.strerror or str(error)
        ) from None
    try:
        info = os.fstat(fd)
        kind = kind_of(info.st_mode)
        if kind is not Kind.FILE:
            raise ValueError(f"it is a {kind.value}, not a file")
        too_large = f"it is larger than {GIT_INDEX_MAX_BYTES >> 20} MiB"
        if info.st_size > GIT_INDEX_MAX_BYTES:
            raise ValueError(too_large)
        chunks, size = [], 0
        while chunk := os.read(fd, max(info.st_size + 1 - size, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
            if size > GIT_INDEX_MAX_BYTES:  # it grew since
                raise ValueError(too_large)
        return b"".join(chunks)
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    finally:
        os.close(fd)


def survey_tree(top: str, earlier: Survey | None = None, *, reopen: bool = False) -> Survey:
    """The project's directories, parent first, never through a symlink. `earlier`'s record
    of a directory is reused when its inode and ctime are unchanged and it had not changed
    within SURVEY_COARSE_NS before that survey began (timestamps are coarse): its entries are
    the same, so its subdirectories are those recorded below it, and only a directory that
    changed is listed again (what is new below it is surveyed afresh)."""
    taken_ns = time.time_ns()
    tally = SurveyTally(reopen)
    if earlier is None or earlier.top != top or "" not in earlier.directories:
        tally.visit(top, [""])
        return tally.survey(top, taken_ns)
    trust_before = earlier.taken_ns - SURVEY_COARSE_NS
    recorded = earlier.directories
    had_marks = earlier.marked
    # relative -> None (unchanged: its recorded subdirectories are its own), or the names
    # of the subdirectories it holds now (listed again)
    reached: dict[str, set[str] | None] = {}
    fresh: list[str] = []
    lstat = os.lstat
    try:
        top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return SurveyTally(reopen).visited(top, [""], taken_ns)
    try:
        for relative, known in recorded.items():
            if relative:
                parent, _, name = relative.rpartition("/")
                holds = reached.get(parent, UNREACHED)
                if holds is UNREACHED or (holds is not None and name not in holds):
                    continue  # below a directory gone, unreadable, or no longer holding it
                if name in NOT_NAMES or relative[0] == "/":
                    return SurveyTally(reopen).visited(top, [""], taken_ns)  # not claudebox's
            try:
                info = lstat(relative or ".", dir_fd=top_fd)  # (a path from top costs more)
            except OSError:
                tally.unread(relative)
                continue
            seen = (info.st_ino, info.st_ctime_ns)
            if seen == known and seen[1] < trust_before and stat.S_ISDIR(info.st_mode):
                reached[relative] = None
                tally.directories[relative] = seen
                marks = had_marks.get(relative)
                if marks:
                    tally.marked[relative] = marks
                continue
            path = f"{top}/{relative}" if relative else top
            subdirs = tally.listing(relative, path, info)
            if subdirs is not None:
                reached[relative] = set(subdirs)
                prefix = f"{relative}/" if relative else ""
                fresh += [prefix + n for n in subdirs if prefix + n not in recorded]
    finally:
        os.close(top_fd)
    tally.visit(top, fresh)
    return tally.survey(top, taken_ns)


class SurveyTally:
    """What a survey found so far (survey_tree's working state)."""

    def __init__(self, reopen: bool = False) -> None:
        self.directories: dict[str, tuple[int, int]] = {}
        self.marked: dict[str, tuple[str, ...]] = {}
        self.unreadable: list[str] = []
        self.listed = 0
        self.reopen = reopen  # make a directory of the user's that cannot be listed listable
        self.reopened: list[tuple[str, int]] = []  # (directory, the mode it had)

    def unread(self, relative: str) -> None:
        self.unreadable.append(relative)
        self.directories[relative] = UNREAD

    def listing(self, relative: str, path: str, info: os.stat_result) -> list[str] | None:
        """Its subdirectories, listed now (None: not a directory, or unreadable)."""
        if not stat.S_ISDIR(info.st_mode):
            return None  # replaced since its parent was listed
        self.listed += 1
        try:
            subdirs, marks = list_directory(path)
        except PermissionError:
            if not self.reopen or info.st_uid != os.getuid():
                self.unread(relative)
                return None
            try:
                os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_IRUSR | stat.S_IXUSR)
                subdirs, marks = list_directory(path)
            except OSError:
                self.unread(relative)
                return None
            self.reopened.append((relative, stat.S_IMODE(info.st_mode)))
            info = os.lstat(path)
        except OSError:
            self.unread(relative)
            return None
        self.directories[relative] = (info.st_ino, info.st_ctime_ns)
        if marks:
            self.marked[relative] = marks
        return subdirs

    def visit(self, top: str, pending: list[str]) -> None:
        """Every directory at and below `pending`, listed, without recursion."""
        while pending and len(self.directories) < SURVEY_DIRECTORY_LIMIT:
            relative = pending.pop()
            path = f"{top}/{relative}" if relative else top
            try:
                info = os.lstat(path)
            except OSError:
                self.unread(relative)
                continue
            prefix = f"{relative}/" if relative else ""
            pending += [prefix + name for name in self.listing(relative, path, info) or ()]

    def visited(self, top: str, pending: list[str], taken_ns: int) -> Survey:
        self.visit(top, pending)
        return self.survey(top, taken_ns)

    def survey(self, top: str, taken_ns: int) -> Survey:
        cut = len(self.directories) >= SURVEY_DIRECTORY_LIMIT
        unreadable = tuple(self.unreadable)
        return Survey(
            top,
            self.directories,
            self.marked,
            unreadable,
            taken_ns,
            self.listed,
            cut,
            tuple(self.reopened),
        )


UNREACHED: Final[set[str]] = set()  # (a sentinel: compared by identity)
NOT_NAMES: Final = frozenset({"", ".", "..", ".git"})
UNREAD: Final = (-1, -1)  # a directory the survey could not list: listed again next time


def list_directory(path: str) -> tuple[list[str], tuple[str, ...]]:
    """The directories in `path` (never through a symlink, never into a .git), and the
    SURVEY_NAMES it holds."""
    subdirs = []
    marks = []
    with os.scandir(path) as entries:
        for entry in entries:
            name = entry.name
            if name in SURVEY_NAMES:
                marks.append(name)
            if name != ".git" and entry.is_dir(follow_symlinks=False):
                subdirs.append(name)
    return subdirs, tuple(sorted(marks))


def survey_file(instance_dir: str, top: str) -> str:
    """Where the last survey of `top` is kept (claudebox's own, never bound inside)."""
    return os.path.join(instance_dir, f"survey-{sha256_hex(os.fsencode(top))[:16]}.json")


def load_survey(path: str, top: str) -> Survey | None:
    """The survey saved at `path`, None when there is none or it does not parse."""
    text = read_small(path, SURVEY_FILE_LIMIT)
    if text is None:
        return None
    try:
        document = json.loads(text)
        relatives, inodes, ctimes = document["rel"], document["ino"], document["ctime"]
        marked = document["marked"]
        if (
            document["top"] != top
            or relatives[:1] != [""]
            or len(set(map(len, (relatives, inodes, ctimes)))) != 1
        ):
            return None
        if not all(isinstance(relative, str) for relative in relatives):
            return None
        if not isinstance(marked, dict):
            return None
        marks = {str(rel): tuple(map(str, names)) for rel, names in marked.items()}
        # (no value is converted: one that is not an int never matches a directory again)
        directories = dict(zip(relatives, zip(inodes, ctimes, strict=True), strict=True))
        return Survey(top, directories, marks, (), int(document["taken_ns"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def save_survey(path: str, survey: Survey) -> None:
    """Kept for the next survey, in columns (the quickest JSON to read back); a failure to
    write costs only time."""
    directories = survey.directories
    document = {
        "top": survey.top,
        "taken_ns": survey.taken_ns,
        "rel": list(directories),
        "ino": [seen[0] for seen in directories.values()],
        "ctime": [seen[1] for seen in directories.values()],
        "marked": survey.marked,
    }
    with contextlib.suppress(OSError):
        write_atomic(path, json.dumps(document, separators=(",", ":")).encode(), replace=True)


def git_dir_walks(
    root: str, prefix: str, seen: dict[str, Entry] | None = None, problems: list[str] | None = None
) -> list[Walk]:
    """The protected surface of one git directory (ROOT/PREFIX): its config, hooks and
    redirections, each linked worktree's admin files, each submodule git directory's. A
    directory that cannot be listed is named in `problems` (the caller refuses or reports)."""
    seen = {} if seen is None else seen
    problems = [] if problems is None else problems
    base = os.path.join(root, prefix)
    admin = os.path.basename(os.path.dirname(os.path.normpath(base))) == "worktrees"
    common = os.path.dirname(os.path.dirname(os.path.normpath(base))) if admin else base
    placeholders = {
        "commondir": None if admin else GIT_PLACEHOLDERS["commondir"],
        "config.worktree": worktree_config_placeholder(common),
    }
    walks = [
        walk(root, os.path.join(prefix, name), name == "hooks", seen)._replace(
            placeholder=placeholders.get(name)
        )
        for name in GIT_DIR_PROTECTED
    ]
    admin_placeholder = worktree_config_placeholder(base)
    for name in subdirectory_names(os.path.join(base, "worktrees"), problems):
        for item in ("commondir", "config.worktree", "gitdir"):
            walks.append(
                walk(root, os.path.join(prefix, "worktrees", name, item), seen=seen)._replace(
                    placeholder=admin_placeholder if item == "config.worktree" else None
                )
            )
    for module in module_git_dirs(os.path.join(base, "modules"), problems):
        module_placeholders = {
            "commondir": GIT_PLACEHOLDERS["commondir"],
            "config.worktree": worktree_config_placeholder(os.path.join(base, "modules", module)),
        }
        for name in GIT_DIR_PROTECTED:
            relative = os.path.join(prefix, "modules", module, name)
            walks.append(
                walk(root, relative, name == "hooks", seen)._replace(
                    placeholder=module_placeholders.get(name)
                )
            )
    return walks


def covered_by_git_dir_walk(target: str, git_dir: str) -> bool:
    """Whether git_dir_walks of `git_dir` walks the git directory `target` already: one of its
    linked worktrees' admin directories, or a module git directory module_git_dirs finds."""
    if os.path.dirname(target) == os.path.join(git_dir, "worktrees"):
        return inspect(f"{target}/commondir").kind is Kind.FILE  # (else a git dir of its own)
    modules = os.path.join(git_dir, "modules")
    if not is_within(target, modules) or target == modules:
        return False
    parts = os.path.relpath(target, modules).split("/")
    return not GIT_DIR_STORES & set(parts) and inspect(f"{target}/HEAD").kind is not Kind.MISSING


def worktree_config_placeholder(common: str) -> str | None:
    """config.worktree's placeholder for git directories sharing `common`: git reads that file
    only with extensions.worktreeConfig, in the common config (read-only inside, so the session
    cannot turn it on); none is needed when it is off (a mount each costs launch time)."""
    text = read_small(os.path.join(common, "config"), GIT_CONFIG_LIMIT) or ""
    return GIT_PLACEHOLDERS["config.worktree"] if "worktreeconfig" in text.lower() else None


def subdirectory_names(directory: str, problems: list[str]) -> list[str]:
    """The sorted names in a directory that may be absent (then none)."""
    if inspect(directory).kind is not Kind.DIR:
        return []
    try:
        return sorted(os.listdir(directory))
    except OSError as error:
        problems.append(f"{directory} ({error.strerror})")
        return []


def module_git_dirs(modules: str, problems: list[str]) -> list[str]:
    """The submodule git directories below .git/modules (names may hold slashes; a module may
    have modules of its own), relative to it: every directory holding a HEAD, found without
    recursion or following a link, skipping a git directory's own object and ref stores."""
    found: list[str] = []
    pending = [""]
    visited = 0
    while pending:
        relative = pending.pop()
        visited += 1
        if visited > MODULES_DIRECTORY_LIMIT:
            problems.append(f"{modules} (more than {MODULES_DIRECTORY_LIMIT} directories)")
            break
        try:
            with os.scandir(os.path.join(modules, relative)) as entries:
                names = {entry.name: entry.is_dir(follow_symlinks=False) for entry in entries}
        except FileNotFoundError:
            continue
        except OSError as error:
            problems.append(f"{os.path.join(modules, relative)} ({error.strerror})")
            continue
        git_dir = "HEAD" in names and relative != ""
        if git_dir:
            found.append(relative)
        for name, is_dir in sorted(names.items(), reverse=True):
            if is_dir and not (git_dir and name in GIT_DIR_STORES):
                pending.append(os.path.join(relative, name))
    return found


def laid_out_as_git_dir(names: Container[str]) -> bool:
    """Whether git takes a directory holding these names for a git directory (setup.c's
    is_git_directory: a HEAD, and objects and refs here or in its commondir)."""
    return "HEAD" in names and ("commondir" in names or ("objects" in names and "refs" in names))


def protected_walks(
    git: GitLayout,
    repositories: Sequence[str] = (),
    problems: list[str] | None = None,
    guarded: Mapping[str, Iterable[str]] | None = None,
) -> tuple[Walk, ...]:
    """Everything in and around the project the host later executes or obeys: the project's
    own files and git directory, every other repository in its tree (`repositories`, the
    directories below the top holding a .git: nested clones, submodules, linked worktrees),
    and the PROTECTED_PROJECT_PATHS of every directory below the top that holds one
    (`guarded`: directory -> the names it holds, as a survey notes them)."""
    top = git.top
    problems = [] if problems is None else problems
    seen: dict[str, Entry] = {}  # each path inspected once in this survey
    walks = [walk(top, relative, seen=seen) for relative in PROTECTED_PROJECT_PATHS]
    for directory, names in (guarded or {}).items():
        present = set(names)
        walks += [
            walk(top, f"{directory}/{relative}", seen=seen)
            for relative in PROTECTED_PROJECT_PATHS
            if directory and relative.split("/")[0] in present
        ]
        if directory and laid_out_as_git_dir(present):  # a git directory not named .git
            walks += git_dir_walks(top, directory, seen, problems)
    if not git.git_dir:  # a repository the session creates is reviewed like one that existed
        walks.append(walk(top, ".git", seen=seen))
        if inspect(os.path.join(top, ".git")).kind is Kind.DIR:
            walks += git_dir_walks(top, ".git", seen, problems)
    elif git.outside:
        walks += git_dir_walks(git.git_dir, "", seen, problems)
        walks.append(walk(top, ".git", seen=seen))
    else:
        walks += git_dir_walks(top, os.path.relpath(git.git_dir, top), seen, problems)
    git_dirs: dict[str, str | None] = {}  # each checkout's git directory, read once
    for relative in repositories:
        dot_git = walk(top, f"{relative}/.git", seen=seen)._replace(pin_only=True)
        walks.append(dot_git)
        last = dot_git.steps[-1]
        git_dirs[relative] = None
        if last.path != dot_git.path:
            continue  # a symlink or a gap on the way: pinned, nothing below it is git's
        if last.kind is Kind.DIR:
            git_dirs[relative] = last.path
            walks += git_dir_walks(top, f"{relative}/.git", seen, problems)
        elif last.kind is Kind.FILE:
            git_dirs[relative] = gitfile_target(last.path)
            walks += gitfile_target_walks(git, git_dirs[relative], seen, problems)
    hooks_path = git.hooks_path
    if hooks_path:
        walks += hooks_walks(git, hooks_path, git.hooks_local, seen)
    walks += checkout_hooks_walks(git, git_dirs, seen)
    walks += config_reference_walks(git, walks, seen, problems)
    return tuple(dict.fromkeys(walks))


def hooks_walks(git: GitLayout, hooks: str, local: bool, seen: dict[str, Entry]) -> list[Walk]:
    """The hooks directory a core.hooksPath names, where the sandbox could write it: made when
    absent and the repository's own config names it (as .git/hooks), read-only."""
    for root in (git.top, git.git_dir):
        if root and is_within(hooks, root) and hooks != root:
            relative = os.path.relpath(hooks, root)
            return [walk(root, relative, local, seen)._replace(judged_as="hooks")]
    return []


def checkout_hooks_walks(
    git: GitLayout, git_dirs: Mapping[str, str | None], seen: dict[str, Entry]
) -> list[Walk]:
    """The hooks directory git uses in each other checkout of the project (`git_dirs`: each
    checkout's git directory, None when it has none git would use): its core.hooksPath (asked
    of git where its configs mention one or include another; else yours) is taken from the top
    of the checkout, as git runs hooks there."""
    walks: list[Walk] = []
    for relative, git_dir in git_dirs.items():
        checkout = f"{git.top}/{relative}"
        if not git_dir or inspect(git_dir).kind is not Kind.DIR:
            continue
        common = pointer(f"{git_dir}/commondir", git_dir) or git_dir
        configs = (f"{git_dir}/config", f"{common}/config", f"{git_dir}/config.worktree")
        texts = " ".join((read_small(path, GIT_CONFIG_LIMIT) or "").lower() for path in configs)
        value, local = git.user_hooks, False
        if git.program and ("hookspath" in texts or "include" in texts):
            value, local = checkout_hooks_path(git.program, checkout, git.user_hooks)
        if value:
            target = os.path.realpath(os.path.join(checkout, os.path.expanduser(value)))
            walks += hooks_walks(git, target, local, seen)
    return walks


def checkout_hooks_path(program: str, checkout: str, user_hooks: str) -> tuple[str, bool]:
    """core.hooksPath as git in `checkout` reads it (git config runs nothing), and whether the
    repository's own config sets it."""
    result = run(
        [
            program,
            "-C",
            checkout,
            "config",
            "--null",
            "--show-scope",
            "--get-all",
            "core.hookspath",
        ],
        check=False,
        timeout=GIT_TIMEOUT,
    )
    words = result.stdout.split("\0")
    found = [(scope, value) for scope, value in zip(words[0::2], words[1::2], strict=False)]
    if not found:
        return user_hooks, False
    scope, value = found[-1]
    return value.strip(), scope in LOCAL_SCOPES


def config_reference_walks(
    git: GitLayout, walks: Sequence[Walk], seen: dict[str, Entry], problems: list[str]
) -> list[Walk]:
    """The files the git configs among `walks` include, where the sandbox could write them
    (absent: an empty placeholder); they may include more. Every config is read; git is asked
    only of those that mention an include, and at most GIT_INCLUDE_LIMIT times."""
    pending = collections.deque(
        w.path
        for w in walks
        if os.path.basename(w.relative) in ("config", "config.worktree")
        and w.steps[-1].path == w.path
        and w.steps[-1].kind is Kind.FILE
    )
    found: list[Walk] = []
    read: set[str] = set()
    asked = 0
    while pending and git.program:
        config = pending.popleft()
        if config in read:
            continue
        read.add(config)
        if "include" not in (read_small(config, GIT_CONFIG_LIMIT) or "").lower():
            continue  # (most configs: no git command run)
        asked += 1
        if asked > GIT_INCLUDE_LIMIT:
            problems.append(f"{config} (more than {GIT_INCLUDE_LIMIT} configs with includes)")
            break
        for key, value in git_config_entries(git.program, config) or ():
            included = key == "include.path" or (
                key.startswith("includeif.") and key.endswith(".path")
            )
            if not included or not value:
                continue
            base = os.path.dirname(config)
            target = os.path.realpath(os.path.join(base, os.path.expanduser(value)))
            root = next(
                (r for r in (git.top, git.git_dir) if r and is_within(target, r) and target != r),
                None,
            )
            if root is None:
                continue  # outside what the sandbox can write
            relative = os.path.relpath(target, root)
            found.append(
                walk(root, relative, seen=seen)._replace(placeholder="", judged_as="config")
            )
            pending.append(target)
    return found


def gitfile_target_walks(
    git: GitLayout, target: str | None, seen: dict[str, Entry], problems: list[str]
) -> list[Walk]:
    """The surface of the git directory a .git file in the project names, where the sandbox
    can write it (in the project, or in the common git directory bound beside it)."""
    if target is None or inspect(target).kind is not Kind.DIR:
        return []
    if git.git_dir and covered_by_git_dir_walk(target, git.git_dir):
        return []  # (the repository's own walk covers its modules and worktrees)
    for root in (git.top, git.git_dir):
        if root and is_within(target, root) and target != root:
            return git_dir_walks(root, os.path.relpath(target, root), seen, problems)
    return []


def read_json_object(path: str) -> Mapping[str, object]:
    return read_json_document(path) or {}


def read_json_document(path: str) -> Mapping[str, object] | None:
    """A JSON object in a regular file (never through a final link); None when there is no
    such file, {} when it holds no JSON object."""
    text = read_small(path, 16 << 20)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def which(name: str, env: Mapping[str, str]) -> str | None:
    """`name` on the host's PATH (as the environment claudebox was given has it)."""
    return find_in(env.get("PATH", os.defpath).split(os.pathsep), name)


def find_in(directories: Iterable[str], name: str) -> str | None:
    for directory in directories:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def probe_claude_home(home: str) -> ClaudeHome:
    """The host's ~/.claude entries that could bring the host's in (CLAUDE_FROM_HOST: the named
    ones first, then others up to CLAUDE_HOME_SHOWN), read without following links; never more
    than CLAUDE_HOME_SCAN_LIMIT names are read, whatever a session once left there."""
    link = os.path.join(home, ".claude")
    directory = os.path.realpath(link) if os.path.isdir(link) else link
    named = [n for n, t in CLAUDE_STATE_TABLE.items() if t in CLAUDE_FROM_HOST]
    others: list[str] = []
    scan_cut = False
    try:
        with os.scandir(directory) as listing:
            for count, item in enumerate(listing):
                if count >= CLAUDE_HOME_SCAN_LIMIT:
                    scan_cut = True
                    break
                if item.name not in CLAUDE_STATE_TABLE:
                    others.append(item.name)
    except OSError:
        pass
    room = max(CLAUDE_HOME_SHOWN - len(named), 0)
    others.sort()
    entries = [inspect(os.path.join(directory, name)) for name in [*named, *others[:room]]]
    claude_json = read_json_object(os.path.join(home, ".claude.json"))
    return ClaudeHome(
        directory,
        tuple(sorted((e for e in entries if e.kind is not Kind.MISSING), key=lambda e: e.path)),
        claude_json,
        max(len(others) - room, 0),
        scan_cut,
    )


def probe_layers(claude_home: ClaudeHome, instance: Instance) -> Layers:
    """The host's settings.json (through its links: yours), and the project's own files, which
    sessions write (never through a link, regular files only)."""
    host_settings = os.path.realpath(os.path.join(claude_home.dir, "settings.json"))
    seen = read_json_document(os.path.join(instance.dir, LAYERS_FILE))
    return Layers(
        host_settings=read_json_object(host_settings),
        settings=read_json_document(os.path.join(instance.claude_store, "settings.json")),
        claude_json=read_json_document(instance.claude_json),
        seen=None
        if seen is None
        else {name: value for name, value in seen.items() if isinstance(value, dict)},
    )


def probe_host(
    env: Mapping[str, str],
    tier: Tier,
    cwd: str | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> HostFacts:
    """The host as the builders need it for a session of `tier` (nothing else is read).
    git answers on another core while the rest is read (and `meanwhile` runs)."""
    home = os.path.realpath(env.get("HOME") or os.path.expanduser("~"))
    cwd = current_directory(cwd)
    host_path = env.get("PATH", os.defpath)
    programs = {name: which(name, env) for name in PROGRAMS}
    git = programs["git"]
    running = start_git_probe(cwd, git) if git else None
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
    ca_bundle = next((path for path in CA_BUNDLE_CANDIDATES if os.path.isfile(path)), None)
    if ca_bundle is None:
        nix_bundle = os.path.realpath(env.get("NIX_SSL_CERT_FILE", "/nonexistent"))
        ca_bundle = (
            nix_bundle if is_within(nix_bundle, STORE_DIR) and os.path.isfile(nix_bundle) else None
        )
    claude_home = probe_claude_home(home)
    resolved_secret_paths = resolve_secret_paths(home, env)
    if meanwhile is not None:
        meanwhile()
    probe, git_config = git_probe_result(running) if running else (None, {})
    layout = git_layout(
        cwd,
        git,
        probe,
        git_config.get("core.hookspath", ""),
        hooks_local="core.hookspath@local" in git_config,
        user_hooks=git_config.get("core.hookspath@user", ""),
    )
    git_name, git_email = git_config.get("user.name"), git_config.get("user.email")
    state_dir = state_dir_of(home)
    claude = programs["claude"]
    instance = instance_for(layout.canonical_root, state_dir)
    secrets = (*secret_paths(home, env), *resolved_secret_paths)
    refused = layout.top in ("/", home) or any(  # (the plan refuses it: nothing to look at)
        is_within(secret, layout.top) or is_within(layout.top, secret) for secret in secrets
    )
    survey = (
        Survey(layout.top, {}, {}, (), 0)
        if refused
        else survey_project(layout.top, survey_file(instance.dir, layout.top))
    )
    policy = NETWORK_POLICIES[tier]
    routing, routing_error = read_host_routing() if policy.reads_routing else (HostRouting(), None)
    return HostFacts(
        env=dict(env),
        uid=os.getuid(),
        gid=os.getgid(),
        euid=os.geteuid(),
        home=home,
        cwd=cwd,
        git=layout,
        machine=os.uname().machine,
        path_dirs=path_dirs,
        claude=os.path.realpath(claude) if claude else None,
        bwrap=programs["bwrap"],
        pasta=programs["pasta"],
        tools=tools,
        ca_bundle=ca_bundle,
        system_ca_bundle=next(
            (
                path
                for path in (env.get("SSL_CERT_FILE"), env.get("NIX_SSL_CERT_FILE"), ca_bundle)
                if path and os.path.isabs(path) and os.path.isfile(path)
            ),
            None,
        ),
        openssl=programs["openssl"],
        git_name=git_name,
        git_email=git_email,
        etc_present=frozenset(path for path in ETC_READ_ONLY if os.path.lexists(path)),
        claude_home=claude_home,
        layers=probe_layers(claude_home, instance),
        protected=launch_walks(layout, survey),
        state_dir=state_dir,
        account=host_account(os.getuid(), os.getgid(), env),
        other_session=instance_in_use(instance.dir),
        resolved_secret_paths=resolved_secret_paths,
        routing=routing,
        routing_error=routing_error,
        userns_blocker=userns_blocker(),
        tun_error=tun_error() if policy.pasta else None,
        survey=survey,
        store_env=store_resolved_env(env),
        claudebox_checkout=claudebox_checkout(layout.top, os.path.realpath(__file__)),
    )


def current_directory(cwd: str | None = None) -> str:
    """The real path of `cwd` (the current directory), or why not."""
    try:
        return os.path.realpath(cwd or os.getcwd())
    except FileNotFoundError as error:
        raise ClaudeboxError("the current directory no longer exists; cd into a project") from error
    except OSError as error:  # a symlink on its way replaced while realpath read it
        raise ClaudeboxError(
            f"{error.filename or 'the current directory'} changed while claudebox was starting "
            f"({error.strerror}); run claudebox again"
        ) from error


def state_dir_of(home: str) -> str:
    """~/.claudebox, its real path when it is a link to a directory."""
    state_link = os.path.join(home, ".claudebox")
    return os.path.realpath(state_link) if os.path.isdir(state_link) else state_link


def current_instance(env: Mapping[str, str]) -> Instance:
    """The instance of the project here, found as a launch finds it (git's answer checked)."""
    home = os.path.realpath(env.get("HOME") or os.path.expanduser("~"))
    cwd = current_directory()
    git = which("git", env)
    probe = git_probe(cwd, git)[0] if git else None
    return instance_for(git_layout(cwd, git, probe).canonical_root, state_dir_of(home))


def store_resolved_env(env: Mapping[str, str]) -> dict[str, str]:
    """The STORE_RESOLVED_ENV the host sets that lead into /nix/store, resolved there."""
    resolved = {}
    for name in STORE_RESOLVED_ENV:
        value = env.get(name, "")
        real = os.path.realpath(value) if os.path.isabs(value) else ""
        if is_within(real, STORE_DIR) and real != STORE_DIR and os.path.exists(real):
            resolved[name] = real
    return resolved


def host_account(uid: int, gid: int, env: Mapping[str, str]) -> Account:
    """The user's name, full name and primary group as the host's NSS gives them (USER, or
    the uid, when it has no entry; the user's name for a group it cannot name)."""
    import grp
    import pwd

    try:
        entry = pwd.getpwuid(uid)
        name, gecos = entry.pw_name, entry.pw_gecos
    except KeyError:
        name, gecos = env.get("USER") or str(uid), ""
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = name
    return Account(name, gecos, group)


def survey_project(top: str, saved: str) -> Survey:
    """The project's tree now (from the saved survey where unchanged); refused when it is more
    than claudebox bounds its work to."""
    survey = survey_tree(top, load_survey(saved, top))
    for relative in survey.unreadable:
        path = os.path.join(top, relative)
        with contextlib.suppress(OSError):  # (deeper than a path can name: git cannot work there)
            info = os.lstat(path)
            if info.st_uid == os.getuid() or os.access(path, os.W_OK):
                raise ClaudeboxError(
                    f"cannot list {printable(path)} (mode {stat.S_IMODE(info.st_mode):04o}): "
                    "claudebox looks for git repositories in every directory of the project, "
                    "and the sandbox could write in this one; give yourself access back (chmod "
                    f"u+rx {shell_quote(path)}) or remove it"
                )
    if survey.cut:
        raise ClaudeboxError(
            f"{top} holds more than {SURVEY_DIRECTORY_LIMIT} directories: claudebox protects "
            "every git repository in the project and looks for them in each; run claudebox in "
            "a smaller directory (a repository's own, not the directory above many)"
        )
    if len(survey.repositories) > SURVEY_REPOSITORY_LIMIT:
        raise ClaudeboxError(
            f"{top} holds {len(survey.repositories)} git repositories (more than "
            f"{SURVEY_REPOSITORY_LIMIT}, each protected by its own mounts), e.g. "
            f"{printable(os.path.join(top, survey.repositories[0]))}; run claudebox in a "
            "smaller directory"
        )
    return survey


def launch_walks(git: GitLayout, survey: Survey) -> tuple[Walk, ...]:
    """protected_walks for a launch: a git directory claudebox cannot list is refused (what is
    in it could not be protected)."""
    problems: list[str] = []
    walks = protected_walks(git, survey.repositories, problems, survey.marked)
    if problems:
        raise ClaudeboxError(
            f"cannot list {printable(problems[0])}, part of a git directory in the project: "
            "claudebox protects what git reads there; give yourself access back (chmod u+rwx) "
            "or remove it"
        )
    return walks


PROGRAMS: Final = ("git", "claude", "bwrap", "pasta", "openssl")


def resolve_secret_paths(home: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """Where symlinked secret paths lead (~/.ssh -> /persist/ssh): those are secret too."""
    resolved = (os.path.realpath(path) for path in secret_paths(home, env))
    return tuple(sorted(set(resolved) - set(secret_paths(home, env))))


def claudebox_checkout(top: str, own_source: str) -> str | None:
    """claudebox's own code inside the project at `top`, which the sandbox writes: this very
    module (or the zipapp holding it) when it runs from there, else a checkout's claudebox.py
    at the top (its docstring or the flake.nix beside it names claudebox)."""
    if is_within(own_source, top):
        return own_source
    module = os.path.join(top, "claudebox.py")
    if not os.path.lexists(module):
        return None
    head = read_small(module, 64) or ""
    if head.startswith('"""claudebox') or "claudebox" in (
        read_small(os.path.join(top, "flake.nix")) or ""
    ):
        return module
    return None


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
            f"{path} is group- or world-writable; run chmod go-w {shell_quote(path)}", EXIT_USAGE
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
    data = parse_json_document(path, read_profile_bytes(path))
    return parse_profile(name, path, data, home, os.path.exists)


def read_profile_bytes(path: str) -> bytes:
    """A profile's bytes: a regular file (a FIFO or device would hang or never end), bounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ClaudeboxError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ClaudeboxError(
                f"{path} is not a regular file; a profile is a JSON file (replace it by one)",
                EXIT_USAGE,
            )
        if info.st_size > PROFILE_MAX_BYTES:
            raise ClaudeboxError(
                f"{path} is larger than {PROFILE_MAX_BYTES} bytes; a profile is a small JSON file",
                EXIT_USAGE,
            )
        return os.read(fd, PROFILE_MAX_BYTES + 1)
    except OSError as error:
        raise ClaudeboxError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from error
    finally:
        os.close(fd)


def parse_json_document(path: str, data: bytes) -> object:
    """JSON, refused when not UTF-8, invalid, or nested deeper than a profile ever is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClaudeboxError(f"{path}: not UTF-8 text ({error.reason})", EXIT_USAGE) from error
    depth = deepest = 0
    for char in text:  # brackets inside strings count too: only ever an overestimate
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > PROFILE_MAX_DEPTH:
        raise ClaudeboxError(
            f"{path}: JSON nested {deepest} levels deep (a profile needs at most 3); fix the file",
            EXIT_USAGE,
        )
    try:
        return json.loads(text)
    except ValueError as error:
        raise ClaudeboxError(f"{path}: not valid JSON ({error})", EXIT_USAGE) from error


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
    """The resolved profile, each mount source resolved to its real path (the user named it:
    the stage then opens that path without following any symlink)."""
    uid = os.getuid()
    profile = resolve_profile(name, chosen_by, lambda n: load_profile_file(state_dir, n, home, uid))
    mounts = tuple(m._replace(src=os.path.realpath(m.src)) for m in profile.mounts)
    return profile._replace(mounts=mounts)


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
        return f"no profiles in {printable(profiles_dir(state_dir))}\n"
    lines = []
    for name in names:
        try:
            profile = load_profile(name, "listing", state_dir, home)
        except ClaudeboxError as error:
            lines.append(f"{printable(name)}\tinvalid: {printable(str(error))}")
            continue
        description = profile.description[0] if profile.description else ""
        lines.append(f"{printable(name)}\tok\t{printable(description)}")
    return "\n".join(lines) + "\n"


# An instance's lock is opened without blocking (a FIFO there would hang) or following a link.
LOCK_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def instance_in_use(instance_dir: str) -> bool:
    """Whether a session holds the instance's lock (read-only probe: creates nothing)."""
    try:
        fd = os.open(os.path.join(instance_dir, "lock"), LOCK_OPEN_FLAGS)
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
            make_private_dirs(instance_dir)
            fd = os.open(path, LOCK_OPEN_FLAGS | os.O_CREAT, 0o600)
        except OSError as error:
            raise state_write_error(f"create {path}", path, error) from error
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise ClaudeboxError(f"could not lock {path}: it keeps disappearing (a concurrent --gc?)")


def directory_size(path: str) -> int:
    """The bytes of the files below `path` (what --gc frees), at any depth."""
    total = 0

    def enter(fd: int) -> list[str]:
        nonlocal total
        subdirectories = []
        with os.scandir(fd) as listing:
            for entry in listing:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if not stat.S_ISDIR(info.st_mode):
                        total += info.st_size
                    elif info.st_mode & 0o500 == 0o500:  # (one a session locked: not entered)
                        subdirectories.append(entry.name)
        return subdirectories

    with contextlib.suppress(OSError):
        descend(path, enter, lambda _fd, _name: None)
    return total


def read_root(instance_dir: str) -> str | None:
    """The project root an instance belongs to: its root file holds one absolute path (read
    without blocking or following a link, and no more of it than a path can be)."""
    text = read_small(os.path.join(instance_dir, "root"), ROOT_FILE_LIMIT)
    root = text.strip() if text else ""
    return root if os.path.isabs(root) and "\0" not in root and "\n" not in root else None


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
        try:
            fd = os.open(os.path.join(instance_dir, "lock"), LOCK_OPEN_FLAGS | os.O_CREAT, 0o600)
        except OSError:
            entries.append(GcEntry(instance_dir, None, size, "corrupt"))
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                entries.append(GcEntry(instance_dir, root, size, "in use"))
                continue
            sessions = transcripts(os.path.join(instance_dir, "claude"))
            last = max((when for _path, when in sessions), default=0.0)
            if remove:
                remove_tree(instance_dir)
            entries.append(GcEntry(instance_dir, root, size, "remove", len(sessions), last))
        finally:
            os.close(fd)
    return entries


def remove_tree(path: str) -> None:
    """rm -r an instance of claudebox's own (no session runs: its lock is held), whatever a
    session left in it: directories it (or overlayfs) made unreadable, any depth, any width."""

    def enter(fd: int) -> list[str]:
        subdirectories = emptied_of_all_but_directories(fd)
        for name in subdirectories:
            os.chmod(name, 0o700, dir_fd=fd)  # a directory (listed without following)
        return subdirectories

    try:
        os.chmod(path, 0o700)
        descend(path, enter, lambda fd, name: os.rmdir(name, dir_fd=fd))
        os.rmdir(path)
    except OSError as error:
        raise ClaudeboxError(
            f"cannot remove {path}: {error.strerror}; remove it by hand "
            f"(rm -rf {shell_quote(path)})"
        ) from error


def descend(
    path: str, enter: Callable[[int], list[str]], leave: Callable[[int, str], object]
) -> None:
    """Walk the directories below `path` one open at a time and by name (never through a
    link): no recursion, no descriptor per level, no limit on depth or a path's length, for
    trees a session made. `enter(fd)` is given each directory and names the subdirectories to
    walk into; `leave(fd, name)` runs in a directory when its subdirectory `name` is done."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        pending = [enter(fd)]
        below: list[str] = []  # the names from `path` down to where fd is
        while True:
            if pending[-1]:
                name = pending[-1].pop()
                child = os.open(name, flags, dir_fd=fd)
                os.close(fd)
                fd = child
                below.append(name)
                pending.append(enter(fd))
                continue
            pending.pop()
            if not below:
                return
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            leave(fd, below.pop())
    finally:
        os.close(fd)


def emptied_of_all_but_directories(fd: int) -> list[str]:
    """Unlink what the directory `fd` holds but its subdirectories, and name those."""
    with os.scandir(fd) as listing:
        entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing]
    for name, _ in (entry for entry in entries if not entry[1]):
        os.unlink(name, dir_fd=fd)
    return [name for name, is_directory in entries if is_directory]


def transcripts(claude_store: str, slug: str | None = None) -> list[tuple[str, float]]:
    """Claude's session transcripts (projects/SLUG/UUID.jsonl) in a project's ~/.claude and
    when each was written: names a session wrote, matched, never followed through a link; at
    most TRANSCRIPTS_READ names are read, directories included."""
    found: list[tuple[str, float]] = []
    budget = TRANSCRIPTS_READ
    projects = os.path.join(claude_store, "projects")
    top = open_directory(projects)
    if top is None:
        return found
    try:
        directories = []
        with os.scandir(top) as listing:
            for _, entry in zip(range(budget), listing, strict=False):
                budget -= 1
                if (slug is None or entry.name == slug) and entry.is_dir(follow_symlinks=False):
                    directories.append(entry.name)
        for name in directories:
            fd = open_directory(name, top)
            if fd is None:
                continue
            try:
                with os.scandir(fd) as listing:
                    for _, item in zip(range(budget), listing, strict=False):
                        budget -= 1
                        stem = item.name.removesuffix(".jsonl")
                        if stem != item.name and SESSION_ID.fullmatch(stem):
                            info = item.stat(follow_symlinks=False)
                            if stat.S_ISREG(info.st_mode):
                                found.append(
                                    (os.path.join(projects, name, item.name), info.st_mtime)
                                )
            except OSError:
                continue
            finally:
                os.close(fd)
    except OSError:
        pass
    finally:
        os.close(top)
    return found


def open_directory(path: str, dir_fd: int | None = None) -> int | None:
    """A directory's fd, never through a final link; None when it is not one (or is gone)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, dir_fd=dir_fd)
    except OSError:
        return None


def transcript_slug(cwd: str) -> str:
    """Claude Code's directory name for a working directory's transcripts."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def resume_hint(claude_store: str, cwd: str, since: float) -> str:
    """The line that tells how to resume the session that just ended, claudebox's way (Claude's
    own hint names `claude --resume`, which the host's claude cannot: the transcript is the
    project's)."""
    newest = max(
        ((when, path) for path, when in transcripts(claude_store, transcript_slug(cwd))),
        default=None,
    )
    if newest is None or newest[0] < since - 1:
        return ""
    session = os.path.basename(newest[1])[: -len(".jsonl")]
    return f"claudebox: resume this session with: claudebox --resume {session}\n"


def move_instance(old_dir: str, env: Mapping[str, str], state_dir: str) -> str:
    """--take-history OLD_DIR: the project here takes the instance of the one that was at
    OLD_DIR (its transcripts renamed for the new path, its root file rewritten), when this
    project has none of its own yet and no session of the old one runs."""
    old_root = os.path.normpath(os.path.abspath(old_dir))
    host = probe_host(env, Tier.FULL)
    old = instance_for(old_root, host.state_dir)
    new = instance_for(host.git.canonical_root, host.state_dir)
    if old.id == new.id:
        raise ClaudeboxError(f"{old_root} is this project; nothing to take", EXIT_USAGE)
    if not os.path.isdir(old.dir) or os.path.islink(old.dir):
        raise ClaudeboxError(
            f"no claudebox state for {old_root} (no {old.dir}); name the directory the project "
            "was in when claudebox last ran there",
            EXIT_USAGE,
        )
    if os.path.lexists(new.dir):
        raise ClaudeboxError(
            f"this project already has claudebox state ({new.dir}); move it away first if the "
            f"history of {old_root} should replace it",
            EXIT_USAGE,
        )
    try:
        lock = os.open(os.path.join(old.dir, "lock"), LOCK_OPEN_FLAGS | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # every session holds LOCK_SH
            except BlockingIOError:
                raise ClaudeboxError(
                    f"a session of {old_root} is running; end it first", EXIT_USAGE
                ) from None
            # The root file names the new path before the move, so that --gc never takes the
            # instance for a gone project's; as it was again if the move fails.
            root_file = os.path.join(old.dir, "root")
            was = read_small(root_file)
            write_atomic(root_file, os.fsencode(new.root + "\n"), replace=True)
            try:
                os.rename(old.dir, new.dir)
            except OSError:
                if was is not None:
                    write_atomic(root_file, os.fsencode(was), replace=True)
                raise
        finally:
            os.close(lock)
    except OSError as error:
        raise state_write_error(f"move {old.dir} to {new.dir}", new.dir, error) from error
    try:
        rename_transcripts(new.claude_store, old_root, new.root)
    except OSError as error:
        raise ClaudeboxError(
            f"took {old.dir} as {new.dir}, but renaming its transcripts for the new path failed: "
            f"{error.strerror}; --resume offers only the sessions it renamed"
        ) from error
    return f"took the history of {old_root} ({old.id}) for {new.root} ({new.id})\n"


def rename_transcripts(claude_store: str, old_root: str, new_root: str) -> None:
    """A moved project's transcripts and ~/.claude.json entries under its new path: Claude
    keys both by the working directory (the root, or a directory below it that still exists
    at the new place; a slug cannot tell `a/b` from `a-b`, so the new tree decides)."""
    old_slug, new_slug = transcript_slug(old_root), transcript_slug(new_root)
    below = {transcript_slug(os.path.join(new_root, d)): d for d in directories_below(new_root)}
    projects = open_directory(os.path.join(claude_store, "projects"))  # a session's: no link
    if projects is not None:
        try:
            with os.scandir(projects) as listing:
                read = zip(range(TRANSCRIPTS_READ), listing, strict=False)
                names = [entry.name for _, entry in read]
            for name in names:
                if name == old_slug:
                    renamed = new_slug
                elif name.startswith(old_slug + "-") and new_slug + name[len(old_slug) :] in below:
                    renamed = new_slug + name[len(old_slug) :]  # a directory of the project
                else:
                    continue  # (a linked worktree beside it, say: it did not move)
                try:
                    os.lstat(renamed, dir_fd=projects)
                except FileNotFoundError:
                    os.rename(name, renamed, src_dir_fd=projects, dst_dir_fd=projects)
        finally:
            os.close(projects)
    path = os.path.join(claude_store, ".claude.json")
    document = read_json_document(path)
    entries = document.get("projects") if document else None
    if document is None or not isinstance(entries, dict):
        return
    moved = {
        (new_root + key[len(old_root) :] if is_within(key, old_root) else key): value
        for key, value in entries.items()
    }
    write_atomic(path, json_text({**document, "projects": moved}).encode(), replace=True)


def directories_below(root: str, limit: int = 2000) -> list[str]:
    """Relative paths of directories below `root`, breadth first, at most `limit`."""
    found: list[str] = []
    queue = [""]
    while queue and len(found) < limit:
        current = queue.pop(0)
        try:
            with os.scandir(os.path.join(root, current)) as listing:
                for item in listing:
                    if item.is_dir(follow_symlinks=False) and not item.name.startswith("."):
                        found.append(os.path.join(current, item.name))
                        queue.append(found[-1])
        except OSError:
            continue
    return found[:limit]


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
        make_private_dirs(os.path.dirname(path))
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cache = read_json_object(path)
            entries = cache.get("entries") if cache.get("version") == PACKAGE_CACHE_VERSION else {}
            merged = dict(entries) if isinstance(entries, dict) else {}
            for attribute, paths in new.items():
                merged[package_cache_key(nixpkgs, attribute)] = list(paths)
            document = {"version": PACKAGE_CACHE_VERSION, "entries": merged}
            write_atomic(path, json.dumps(document, indent=1).encode(), replace=True)
        finally:
            os.close(lock)
    except OSError as error:
        write_stderr(
            f"claudebox: warning: {printable(f'package cache {path} not updated: {error}')}\n"
        )


def resolve_packages(
    attributes: Sequence[str], nixpkgs: str, home: str, env: Mapping[str, str], *, save: bool
) -> tuple[str, ...]:
    """Store paths of the profile's packages, in order: from the cache, else `nix build`."""
    if not attributes:
        return ()
    cache_path = os.path.join(home, ".claudebox", "cache", "packages.json")
    identity_ = nixpkgs_identity(nixpkgs, home)
    resolved = cached_packages(read_json_object(cache_path), identity_, attributes, os.path.exists)
    missing = [attribute for attribute in attributes if attribute not in resolved]
    nix = which("nix", env) if missing else None
    for attribute in missing:
        write_stderr(f"claudebox: resolving {attribute} …\n")
        if nix is None:
            raise ClaudeboxError(
                "nix not found on PATH: profile packages are built with nix; install nix "
                "or remove packages from the profile",
                EXIT_MISSING,
            )
        installable = f"{nixpkgs}#{attribute}"
        result = run([nix, *NIX_FLAGS, "build", "--no-link", "--json", installable], check=False)
        paths = nix_build_outputs(result.stdout)
        if result.returncode != 0 or not paths or not all(is_within(p, STORE_DIR) for p in paths):
            for line in result.stderr.strip().splitlines()[-20:]:
                write_stderr(f"  nix: {printable(line)}\n")
            raise ClaudeboxError(
                f"package {attribute!r} could not be built from {nixpkgs} (nix build exited "
                f"{result.returncode}); check the attribute name in the profile"
            )
        write_stderr(f"claudebox: {attribute} -> {printable(' '.join(paths))}\n")
        resolved[attribute] = paths
    if missing and save:
        store_package_cache(cache_path, identity_, {a: resolved[a] for a in missing})
    return tuple(path for attribute in attributes for path in resolved[attribute])


def nix_build_outputs(stdout: str) -> tuple[str, ...]:
    """Output paths from `nix build --json` (nix 2.4 and later): [{"outputs": {NAME: PATH}}]."""
    try:
        built = json.loads(stdout or "[]")
    except ValueError:
        return ()
    paths: list[str] = []
    for item in built if isinstance(built, list) else []:
        outputs = item.get("outputs") if isinstance(item, dict) else None
        if isinstance(outputs, dict):
            paths += [path for path in outputs.values() if isinstance(path, str)]
    return tuple(paths)


def make_private_dirs(path: str) -> None:
    """mkdir -p where every directory made is 0700 from the start (not only the last)."""
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)


def mount_point(path: str) -> str:
    """Where the file system holding `path` (or its nearest existing directory) is mounted."""
    current = os.path.abspath(path)
    try:
        while not os.path.exists(current):
            current = os.path.dirname(current)
        device = os.stat(current).st_dev
        while current != "/" and os.stat(os.path.dirname(current)).st_dev == device:
            current = os.path.dirname(current)
    except OSError:
        return path
    return current


def state_write_error(action: str, path: str, error: OSError) -> ClaudeboxError:
    """Writing claudebox's state at `path` failed (`action`: "create PATH", say): the reason,
    and the fix its errno needs."""
    fix = STATE_WRITE_FIXES.get(error.errno or 0)
    reason = error.strerror or str(error)
    if fix is None:
        return ClaudeboxError(f"cannot {action}: {reason}")
    return ClaudeboxError(f"cannot {action}: {reason}; {fix.format(mount=mount_point(path))}")


def unshare_error(error: OSError) -> ClaudeboxError:
    """The stage's unshare failed: the reason, and for a known errno what it means here."""
    reason = UNSHARE_FAILURES.get(error.errno or 0)
    cause = os.strerror(error.errno) if error.errno else str(error)
    if reason is None:
        return ClaudeboxError(f"cannot create the sandbox's namespaces (unshare: {cause})")
    limits = []
    for name in NAMESPACE_LIMITS:
        with contextlib.suppress(OSError):
            with open(f"/proc/sys/user/{name}", encoding="ascii") as handle:
                limits.append(f"user.{name} = {handle.read(32).strip()}")
    return ClaudeboxError(
        f"cannot create the sandbox's namespaces (unshare: {cause}): "
        f"{reason.format(limits=', '.join(limits) or 'unreadable')}"
    )


def write_atomic(path: str, data: bytes, *, replace: bool) -> None:
    """Write a temporary file beside `path` (0600) and rename it into place; `replace=False`
    never overwrites an existing file. The temporary file never outlives a failure."""
    temporary = f"{path}.claudebox-{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb") as out:
            out.write(data)
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails when `path` exists: never replaced
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def make_private(directory: str) -> None:
    """chmod 700 a directory of claudebox's own that a session (or an older claudebox) opened
    to others or closed to its owner (a session's `chmod 000 ~/.claude`); never a link."""
    info = os.lstat(directory)
    if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)  # (a directory a session cannot swap: a mount point inside)


def prepare_host(steps: Iterable[HostSetup], state_dir: str) -> None:
    """Create what is missing (directories 0700, files 0600); never replaces an existing file.
    claudebox's own state directories are made private if an older version left them open."""
    for step in steps:
        try:
            if step.mount_point:
                wanted = stat.S_ISDIR if step.content is None else stat.S_ISREG
                with contextlib.suppress(FileNotFoundError):
                    if not wanted(os.lstat(step.path).st_mode):
                        quarantine(step.path)  # a session's: kept aside, never followed
            if step.content is None:
                make_private_dirs(step.path)
                if is_within(step.path, state_dir):  # an older claudebox or a session (its
                    make_private(step.path)  # ~/.claude is one) may have opened it up
            elif step.replace:
                write_atomic(step.path, os.fsencode(step.content), replace=True)
            elif not os.path.lexists(step.path):
                with contextlib.suppress(FileExistsError):
                    write_atomic(step.path, os.fsencode(step.content), replace=False)
        except OSError as error:
            raise state_write_error(f"create {step.path}", step.path, error) from error


def confirm(
    prompt: str,
    *,
    what: str = "the launch",
    fix: str = "review it with --dry-run, then pass --yes",
) -> bool:
    """Ask on the controlling terminal itself, never stdin: yes only for a line saying y or
    yes. Keys typed before the question are discarded (an Enter pressed out of habit answers
    nothing); the line is read in canonical mode with echo, so the person sees and can edit it.
    End of file (Ctrl-D) is no; Ctrl-C raises KeyboardInterrupt (the terminal's ISIG sends SIGINT
    to our process group), which main turns into exit 130. The terminal's mode is restored."""
    import termios

    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise ClaudeboxError(f"no terminal to confirm {what} on; {fix}", EXIT_USAGE) from error
    try:
        saved = termios.tcgetattr(tty)
        asking = list(saved)
        asking[0] |= termios.ICRNL  # iflag: Enter (CR) ends the line
        asking[3] |= termios.ICANON | termios.ECHO | termios.ECHOE | termios.ISIG  # lflag
        termios.tcsetattr(tty, termios.TCSANOW, asking)
        try:
            termios.tcflush(tty, termios.TCIFLUSH)
            os.write(tty, os.fsencode(prompt))
            answer = os.read(tty, 1024)
            if not answer.endswith(b"\n"):  # end of file: the cursor still follows the prompt
                os.write(tty, b"\n")
        except KeyboardInterrupt:
            os.write(tty, b"\n")
            raise
        finally:
            termios.tcsetattr(tty, termios.TCSADRAIN, saved)
    except (OSError, termios.error) as error:  # e.g. EIO: claudebox runs in the background
        reason = error.strerror if isinstance(error, OSError) else error.args[-1]
        raise ClaudeboxError(
            f"cannot read an answer from the terminal ({reason}); {fix}", EXIT_USAGE
        ) from error
    finally:
        os.close(tty)
    return answer.decode(errors="replace").strip().lower() in ("y", "yes")


def copy_api_key_answer(
    path: str, host_claude_json: Mapping[str, object], api_key: str, placeholder_suffix: str
) -> None:
    """Write the host's answer for the API key into the instance's .claude.json at `path`, for
    its placeholder (see api_key_answer). Call it only while no session of the project runs: the
    file is replaced by rename, which a running sandbox's bind of the old file would not see."""
    current = read_json_object(path)
    if not current:
        return  # missing or unreadable: Claude inside asks, as it would have
    updated = api_key_answer(host_claude_json, current, api_key, placeholder_suffix)
    if updated is None:
        return
    try:
        write_atomic(path, (json.dumps(updated, indent=2) + "\n").encode(), replace=True)
    except OSError as error:
        raise state_write_error(f"update {path}", path, error) from error


# --- the OS edge: the launch stage and the supervisor -----------------------------------------


class Libc:
    """The few libc calls the stage needs (ctypes, loaded once)."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)

    def check(self, result: int, what: str) -> None:
        if result != 0:
            error = self.ctypes.get_errno()
            raise OSError(error, f"{what}: {os.strerror(error)}")

    def unshare(self, flags: int) -> None:
        self.check(self.lib.unshare(self.ctypes.c_int(flags)), "unshare")

    def mount(
        self,
        source: str | None,
        target: str,
        flags: int,
        fstype: str | None = None,
        data: str | None = None,
    ) -> None:
        encoded = os.fsencode(source) if source is not None else None
        kind = os.fsencode(fstype) if fstype is not None else None
        options = os.fsencode(data) if data is not None else None
        self.check(
            self.lib.mount(encoded, os.fsencode(target), kind, self.ctypes.c_ulong(flags), options),
            f"mount {target}",
        )


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


class StrictOpener:
    """Opens paths one component at a time from /, never following a symlink, and keeps the
    directories it verified on the way (a stage opens hundreds of paths below the same few).
    A directory the stage pins is replaced by its pin: later walks below it go through it."""

    def __init__(self, floor: int = 3) -> None:
        self.directories: dict[str, int] = {}
        self.floor = floor  # the lowest descriptor it keeps (the plan's own lie below)

    def directory(self, path: str, requested: str = "") -> int:
        known = self.directories.get(path)
        if known is not None:
            return known
        if path == "/":
            fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            fd = self.child(path, allow_link=False, requested=requested or path)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                os.close(fd)
                raise ClaudeboxError(
                    f"{path} is not a directory now (it was not when claudebox looked: "
                    "something is changing it); run claudebox again"
                )
        # Kept above the descriptors the plan numbers: the stage moves bind sources onto those.
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, self.floor)
        os.close(fd)
        self.directories[path] = high
        return high

    def open(self, path: str, *, allow_link: bool = False) -> int:
        """A new O_PATH descriptor of `path` (the caller closes it); `allow_link`: the last
        component may be a symlink, opened itself."""
        return self.child(os.path.normpath(path), allow_link=allow_link)

    def child(self, path: str, *, allow_link: bool, requested: str = "") -> int:
        """`path` below its verified parent; an error names `requested` (what the caller asked
        for) when a component is missing, or the component that turned into a symlink."""
        if path == "/":
            return os.dup(self.directory("/"))
        parent = self.directory(os.path.dirname(path), requested or path)
        try:
            fd = os.open(
                os.path.basename(path), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
            )
        except OSError as error:
            raise ClaudeboxError(
                f"{requested or path} changed while claudebox was starting ({error.strerror}); "
                "run it again"
            ) from error
        if stat.S_ISLNK(os.fstat(fd).st_mode) and not allow_link:
            os.close(fd)
            raise ClaudeboxError(
                f"{path} is a symlink now (it was not when claudebox looked: something is "
                "changing it); run claudebox again"
            )
        return fd

    def replace(self, path: str, fd: int) -> None:
        """`path` (a directory) is now `fd`, the root of the mount that pins it."""
        old = self.directories.pop(path, None)
        if old is not None:
            os.close(old)
        self.directories[path] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, self.floor)

    def close(self) -> None:
        for fd in self.directories.values():
            os.close(fd)
        self.directories.clear()


def open_strict(path: str, *, allow_link: bool = False) -> int:
    """An O_PATH descriptor of `path`, walked from / one component at a time, never following
    a symlink (`allow_link`: the last component may be one, opened itself)."""
    opener = StrictOpener()
    try:
        return opener.open(path, allow_link=allow_link)
    finally:
        opener.close()


def kind_of(mode: int) -> Kind:
    if stat.S_ISLNK(mode):
        return Kind.LINK
    if stat.S_ISDIR(mode):
        return Kind.DIR
    return Kind.FILE if stat.S_ISREG(mode) else Kind.OTHER


def stage_pin(libc: Libc, pin: Pin, opener: StrictOpener, where: str = "") -> None:
    """Mount `pin.source` (or the path itself) onto pin.path, at `where` when the stage holds
    its copy elsewhere, by descriptors; then remount it nosuid, nodev (bwrap then leaves it
    alone) and read-only when asked."""
    where = where or pin.path
    if pin.upper and stage_overlay(libc, pin, opener, where):
        return
    if pin.upper:  # no overlay on this kernel: the host's, read-only, as any other entry
        pin = pin._replace(upper="", read_only=True)
    target = opener.open(where, allow_link=pin.kind is Kind.LINK)
    source = opener.open(pin.source) if pin.source else target
    try:
        found = kind_of(os.fstat(target).st_mode)
        wanted = pin.kind if pin.kind is not Kind.MISSING else found
        if found is not wanted:
            raise ClaudeboxError(
                f"{pin.path} is a {found.value} now, not the {wanted.value} claudebox saw; "
                "run claudebox again"
            )
        identity = os.fstat(source)
        pin_mount(libc, pin, fd_path(source), fd_path(target), MS_BIND | MS_REC)
    finally:
        if source != target:
            os.close(source)
        os.close(target)
    mounted = opener.open(where, allow_link=pin.kind is Kind.LINK)
    try:
        now = os.fstat(mounted)
        if (now.st_dev, now.st_ino) != (identity.st_dev, identity.st_ino):
            raise ClaudeboxError(f"{pin.path} changed while claudebox pinned it; run it again")
        current = os.statvfs(fd_path(mounted)).f_flag
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if pin.read_only else 0)
        for bit, flag in STATVFS_MOUNT_FLAGS.items():
            if current & bit:
                flags |= flag
        pin_mount(libc, pin, None, fd_path(mounted), flags)
        if stat.S_ISDIR(now.st_mode):
            opener.replace(where, mounted)
    finally:
        os.close(mounted)


def stage_overlay(libc: Libc, pin: Pin, opener: StrictOpener, where: str) -> bool:
    """An overlay at `where`: the host's `pin.source` below, read-only, the project's
    `pin.upper` (and its work directory beside it) taking the writes; False when this kernel
    cannot mount one unprivileged (Linux 5.11 and userxattr) or a path cannot be said to it."""
    work = pin.upper + OVERLAY_WORK_SUFFIX
    if any(c in path for path in (pin.source, pin.upper, work) for c in ",:\\"):
        return False
    target = opener.open(where)
    try:
        if not stat.S_ISDIR(os.fstat(target).st_mode):
            raise ClaudeboxError(f"{pin.path} is not a directory now; run claudebox again")
        options = f"lowerdir={pin.source},upperdir={pin.upper},workdir={work},userxattr"
        libc.mount("overlay", fd_path(target), MS_NOSUID | MS_NODEV, "overlay", options)
    except OSError:
        return False
    finally:
        os.close(target)
    mounted = opener.open(where)
    try:
        opener.replace(where, mounted)
    finally:
        os.close(mounted)
    return True


def pin_mount(libc: Libc, pin: Pin, source: str | None, target: str, flags: int) -> None:
    """One mount of a pin; a failure means the path changed under it (a rename, a removal)."""
    try:
        libc.mount(source, target, flags)
    except OSError as error:
        raise ClaudeboxError(
            f"{pin.path} changed while claudebox pinned it ({error.strerror}); run it again"
        ) from error


def stage_opened(libc: Libc, opened: Sequence[tuple[int, Opened]], staging: str) -> dict[str, str]:
    """Each host path bwrap binds (already opened without following symlinks, at the given
    descriptor) bound into a tmpfs over the directory `staging` (made if missing) that only
    this namespace has; bwrap gets that copy at the plan's descriptor. bwrap turns a --bind-fd
    descriptor back into its path and binds the path (it cannot bind another namespace's
    descriptor), then compares: a rename between the two by anyone made it fail with a raw
    `bwrap: Race condition binding dirfd`. Paths in this tmpfs change for no one else.
    Returns where each path's copy is (the pins then go there, each once)."""
    copies: dict[str, str] = {}
    if not opened:
        return copies
    with contextlib.suppress(FileExistsError):
        os.mkdir(staging, 0o700)
    libc.mount("tmpfs", staging, MS_NOSUID | MS_NODEV | MS_NOEXEC, "tmpfs")
    root = open_strict(staging)
    try:
        for fd, item in opened:
            name = str(item.fd)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(name, 0o700, dir_fd=root)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=root))
            point = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root)
            try:
                libc.mount(fd_path(fd), fd_path(point), MS_BIND | MS_REC)
            finally:
                os.close(point)
            staged = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root)
            os.dup2(staged, item.fd)
            os.close(staged)
            copies[item.path] = os.path.join(staging, name)
    finally:
        os.close(root)
    return copies


def staged_path(path: str, copies: Mapping[str, str]) -> str:
    """Where `path` is in the stage's copies (the innermost copy holding it), else itself."""
    holders = [source for source in copies if is_within(path, source)]
    if not holders:
        return path
    source = max(holders, key=len)
    return copies[source] + path[len(source.rstrip("/")) :]


def enter_stage(stage: Stage, uid: int, gid: int, runtime_dir: str) -> None:
    """In the launch's child: its own user and mount namespace (and network namespace), what
    inet blocks, the pins, then each host path bwrap binds at its descriptor (through
    RUNTIME_DIR/stage: see stage_opened)."""
    libc = Libc()
    try:
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | (CLONE_NEWNET if stage.network else 0))
    except OSError as error:
        raise unshare_error(error) from error
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
            handle.write(text)
    libc.mount(None, "/", MS_REC | MS_PRIVATE)
    send_netlink_requests(stage_netlink_requests(stage))
    # The host paths bwrap binds are copied (bound) into the stage's tmpfs first, and the pins
    # are made in those copies: each pin exists once, which keeps bwrap's work linear.
    floor = max([FIRST_BIND_FD, *(item.fd for item in stage.opened)]) + 1
    opener = StrictOpener(floor)
    staged: list[tuple[int, Opened]] = []
    try:
        for item in stage.opened:  # held above the plan's numbers until they are in place
            fd = opener.open(item.path)
            staged.append((fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor), item))
            os.close(fd)
        copies = stage_opened(libc, staged, os.path.join(runtime_dir, "stage"))
        for pin in stage.pins:
            stage_pin(libc, pin, opener, staged_path(pin.path, copies))
    finally:
        opener.close()
        for fd, _item in staged:
            os.close(fd)


def bwrap_descriptors(argv: Sequence[str]) -> tuple[int, ...]:
    """The descriptors bwrap's `argv` names (BWRAP_DESCRIPTOR_OPTIONS), read as bwrap reads its
    options: up to `--` or the first word that is not one (the command). An unknown option, one
    short of its words or a descriptor not in plain digits ends the reading: bwrap refuses
    what follows or finds its descriptors closed. Those named only in --args data are not kept."""
    found: list[int] = []
    index = 1
    while index < len(argv):
        option = argv[index]
        count = BWRAP_OPTION_WORDS.get(option)
        if count is None or index + count >= len(argv):
            break
        if option in BWRAP_DESCRIPTOR_OPTIONS:
            word = argv[index + 1]
            if not (word.isascii() and word.isdigit()):
                break
            found.append(int(word))
        index += count + 1
    return tuple(dict.fromkeys(found))


def keep_only(fds: Iterable[int]) -> None:
    """Close every descriptor above 2 but `fds` (nothing else of claudebox's reaches inside)."""
    keep = sorted(set(fds))
    low = 3
    for fd in [*keep, 1 << 20]:
        if fd >= low:
            os.closerange(low, fd)
        low = max(low, fd + 1)


def fresh_session_keyring(libc: Libc, machine: str) -> None:
    """A new, empty session keyring for the sandbox (the user's stays outside)."""
    number = KEYCTL_SYSCALLS.get(machine)
    if number is None:
        raise ClaudeboxError(
            f"no keyring isolation for machine {machine!r} (supported: "
            f"{', '.join(KEYCTL_SYSCALLS)}); claudebox will not start a sandbox without it"
        )
    ctypes = libc.ctypes
    option = ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING)
    if libc.lib.syscall(ctypes.c_long(number), option, ctypes.c_void_p(None)) < 0:
        error = ctypes.get_errno()
        if error != errno.ENOSYS:  # a kernel without keyrings: nothing to isolate
            raise ClaudeboxError(
                f"cannot give the sandbox its own session keyring ({os.strerror(error)}); report it"
            )


class Launch(NamedTuple):
    """What the supervisor starts: the stage, which execs `argv` (bwrap), and pasta beside it;
    the relay (Claude's login, the proxy, host ports) it serves itself."""

    stage: Stage
    argv: tuple[str, ...]
    pasta: Pasta | None
    data: tuple[DataInput, ...]  # written to pipes at their descriptors (LAUNCH_DATA: made now)
    keep: tuple[int, ...]  # descriptors the stage passes on (data, bind sources)
    runtime_dir: str  # where pasta's pid FIFO goes
    relay: Relay
    secrets: Mapping[str, str]  # the login variables' values (never in a plan or on an argv)
    command_depth: int = COMMAND_DEPTH  # the command's place below the stage (signals go there)
    control_dir: str = ""  # the session's control socket goes here ("": none, as for --check)


def launch_of(plan: SandboxPlan, secrets: Mapping[str, str]) -> Launch:
    keep = (*(d.fd for d in plan.data), *(o.fd for o in plan.stage.opened))
    return Launch(
        plan.stage,
        tuple(plan.argv),
        plan.pasta,
        plan.data,
        keep,
        plan.instance.dir,
        plan.relay,
        secrets,
        control_dir=plan.instance.dir,
    )


class LoginLaunch(NamedTuple):
    """The login's part of a launch, made before the stage forks: the session, its
    certificate, the full tier's listener on the host's loopback, and the launch data."""

    session: LoginSession
    certificate: SessionCertificate
    listener: socket.socket | None
    data: tuple[DataInput, ...]


def prepare_login(launch: Launch, certificate: Running | None = None) -> LoginLaunch:
    """Placeholders, the session's certificate (its keys made meanwhile when `certificate` was
    started early) and (full) the proxy's host listener, and the launch data that hands them to
    the sandbox (LAUNCH_DATA, with the session's boot id)."""
    relay = launch.relay
    session = LoginSession(relay.login, launch.secrets)
    openssl = relay.login.openssl
    certificate_made = finish_session_certificate(
        openssl, certificate or start_session_certificate(openssl)
    )
    env, credentials = session.inside()
    listener = None
    if relay.on_host:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        proxy = f"http://{PROXY_USER}:{session.proxy_token}@127.0.0.1:{port}"
        for name in PROXY_VARIABLES:
            env[name] = env[name.lower()] = proxy
        if relay.login.upstream:
            env[BASE_URL_VARIABLE] = f"http://127.0.0.1:{port}"
    made = {
        DataKind.LOGIN_ENV: env_arguments(EnvVar(n, v, LOGIN_ORIGIN) for n, v in env.items()),
        DataKind.LOGIN_CA: certificate_made.chain,
        DataKind.CREDENTIALS: credentials,
        DataKind.BOOT_ID: boot_id_text(os.urandom(16)),
    }
    data = tuple(
        item._replace(content=made[item.kind]) if item.kind in made else item
        for item in launch.data
    )
    return LoginLaunch(session, certificate_made, listener, data)


def stage_child(
    launch: Launch, parent: int, report_pipe: int, control_socket: int, output: int | None
) -> NoReturn:
    """The forked child: never returns. Errors go to the report pipe (claudebox prints them).
    The control socket (-1: none) hands the supervisor what pasta and the relay need."""
    # Out of the way of the descriptors the plan numbers (data from 10, binds from 30).
    report = fcntl.fcntl(report_pipe, fcntl.F_DUPFD_CLOEXEC, 1000)
    if control_socket >= 0:
        control_socket = fcntl.fcntl(control_socket, fcntl.F_DUPFD_CLOEXEC, 1000)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores them; exec keeps that
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        libc = Libc()
        libc.lib.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # claudebox killed: we go too
        if os.getppid() != parent:
            os._exit(EXIT_RUNTIME)
        if output is not None:
            os.dup2(output, 1)
            os.dup2(output, 2)
        fresh_session_keyring(libc, os.uname().machine)
        for item in launch.data:  # (a file, not a pipe: no size makes the write wait)
            made = os.memfd_create(item.kind.name, os.MFD_CLOEXEC)
            os.write(made, item.content)
            os.lseek(made, 0, os.SEEK_SET)
            os.dup2(made, item.fd)
            os.close(made)
        import resource  # a stage pinning hundreds of paths keeps a descriptor per directory

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        enter_stage(launch.stage, os.getuid(), os.getgid(), launch.runtime_dir)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # the sandbox gets the user's
        if launch.pasta is not None or launch.stage.listen:
            # "r" (and the listeners, then inet's netlink sockets): pasta may attach, the relay
            # may serve, the route watcher may add blocks; then "g".
            with socket.socket(fileno=control_socket) as control:
                listeners = open_listeners(launch.stage.listen) + open_transparent(launch.stage)
                if launch.stage.follows_routes:
                    listeners += [
                        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
                        for protocol in ROUTE_WATCH_PROTOCOLS
                    ]
                socket.send_fds(control, [b"r"], [item.fileno() for item in listeners])
                for listener in listeners:
                    listener.close()
                if control.recv(1) != b"g":
                    os._exit(EXIT_RUNTIME)
        keep_only([report, *launch.keep])
        try:
            os.execve(launch.argv[0], list(launch.argv), {})
        except OSError as error:
            raise ClaudeboxError(
                f"cannot start {launch.argv[0]}: {error.strerror}", EXIT_MISSING
            ) from error
    except BaseException as error:
        code = error.exit_code if isinstance(error, ClaudeboxError) else EXIT_RUNTIME
        try:
            os.write(report, struct.pack("=B", code) + os.fsencode(str(error))[:4000])
        finally:
            os._exit(code)


def supervise(launch: Launch, output: int | None = None, certificate: Running | None = None) -> int:
    """Start the chain and stay as a thin supervisor: bwrap forwards no signal to the command,
    so claudebox does. Returns the command's exit status (128+N when killed by signal N).
    `certificate`: the session certificate's openssl runs, started early."""
    login = prepare_login(launch, certificate)
    launch = launch._replace(data=login.data)
    report_r, report_w = os.pipe()
    handshake = launch.pasta is not None or bool(launch.stage.listen)
    # full needs no control socket: its relay listens on the host's loopback
    control, control_child = (
        socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if handshake else (None, None)
    )
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        if control is not None:
            control.close()
        child_fd = control_child.fileno() if control_child is not None else -1
        stage_child(launch, parent, report_w, child_fd, output)
    os.close(report_w)
    if control_child is not None:
        control_child.close()
    pasta: subprocess.Popen[bytes] | None = None
    relay: RelayServer | None = None
    watcher: RouteWatcher | None = None
    control_server: ControlServer | None = None
    forwarded = {"target": pid}

    def forward(signum: int, _frame: object) -> None:
        target = sandboxed_command_pid(pid, launch.command_depth) or forwarded["target"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    try:
        if control is not None:
            links = len(ROUTE_WATCH_PROTOCOLS) if launch.stage.follows_routes else 0
            message, fds, _flags, _address = socket.recv_fds(
                control, 1, launch.stage.handed + links
            )
            listeners = [socket.socket(fileno=fd) for fd in fds]
            if message == b"r":
                if launch.pasta is not None:  # first: Popen's preexec_fn wants no threads yet
                    pasta = start_pasta(launch.pasta, pid, launch.runtime_dir)
                kept = len(listeners) - links
                served, transparent = served_sockets(
                    launch.stage, listeners[:kept], launch.relay.ports
                )
                relay = RelayServer(
                    launch.relay, served, login.session, login.certificate, transparent
                )
                if links:
                    handed = dict(zip(ROUTE_WATCH_PROTOCOLS, listeners[kept:], strict=True))
                    watcher = RouteWatcher(handed, launch.stage.blocked, pid, relay.note)
                if launch.control_dir:  # before "g": it is there once the sandbox runs
                    control_server = start_control(launch.control_dir, relay)
                listeners = []
                control.sendall(b"g")
                relay.prepare_tls()  # (after "g": its import would hold the launch up)
            for listener in listeners:
                listener.close()
            control.close()
        elif login.listener is not None:
            served = [(login.listener, PROXY_PORT)]
            relay = RelayServer(launch.relay, served, login.session, login.certificate)
            if launch.control_dir:
                control_server = start_control(launch.control_dir, relay)
            relay.prepare_tls()
        failure = b""
        while chunk := os.read(report_r, 4096):
            failure += chunk
        _, status = os.waitpid(pid, 0)
        if failure:  # the stage's exit code, then its message
            raise ClaudeboxError(os.fsdecode(failure[1:]) or "the launch failed", failure[0])
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code
    except BaseException:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(report_r)
        if control is not None:
            control.close()
        if pasta is not None:  # killed, not awaited: its namespace's teardown takes ~20 ms
            pasta.kill()  # and the session's status is known now (init reaps it)
        if watcher is not None:  # (first: the relay's stop closes the log it notes in)
            watcher.stop()
        if relay is not None:
            relay.stop()
        elif login.listener is not None:
            login.listener.close()
        if watcher is not None and watcher.failure:
            write_stderr(f"claudebox: warning: {watcher.failure}\n")
        if control_server is not None:  # after the log's last line: claudebox log reads it
            control_server.stop()
        if login.session.logged_host_in:  # whose account it is, only the person can tell
            credentials = launch.relay.login.credentials
            write_stderr(render_findings([Finding(credentials, logged_in_what(credentials))]))
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def sandboxed_command_pid(root_pid: int, levels: int) -> int | None:
    """The host pid of the process `levels` first children below root_pid, once it runs."""
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


# --- the OS edge: Claude's login on the relay's side ------------------------------------------


class SessionCertificate(NamedTuple):
    """The relay's TLS certificate for Claude's hosts, made for one session: a self-signed CA,
    name-constrained to LOGIN_HOSTS, that is its own server certificate. The certificate enters
    the sandbox (the one trust anchor Claude adds); the key stays in claudebox's memory."""

    chain: bytes
    key: bytes


def certificate_command(openssl: str) -> list[str]:
    """openssl making the session's certificate; it prints the key, then the certificate (no
    key is ever in a file or on a command line)."""
    names = list(LOGIN_HOSTS)
    return [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "-",
        "-days",
        str(LOGIN_CA_DAYS),
        "-subj",
        "/CN=claudebox login relay (one session)",
        "-addext",
        "subjectAltName=" + ",".join(f"DNS:{name}" for name in names),
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-addext",
        "nameConstraints=critical," + ",".join(f"permitted;DNS:{name}" for name in names),
    ]


def start_session_certificate(openssl: str) -> Running:
    """The session certificate, made while the host is probed (and the audit read)."""
    return start_together([certificate_command(openssl)])


def finish_session_certificate(openssl: str, running: Running) -> SessionCertificate:
    (made,) = finish_together(running)
    if made.returncode != 0:
        detail = made.stderr.strip().splitlines()[-1:] or ["it could not start"]
        raise ClaudeboxError(
            f"cannot make the login relay's certificate: {openssl} failed ({detail[0]}); "
            "claudebox needs OpenSSL 3 (`openssl version`)"
        )
    key, chain = split_pem(made.stdout.encode())
    return SessionCertificate(chain, key)


def make_session_certificate(openssl: str) -> SessionCertificate:
    return finish_session_certificate(openssl, start_session_certificate(openssl))


def split_pem(pem: bytes) -> tuple[bytes, bytes]:
    """(the private key, the certificate) of openssl's `-keyout -` output."""
    cut = pem.find(b"-----BEGIN CERTIFICATE-----")
    if cut <= 0 or b"PRIVATE KEY-----" not in pem[:cut]:
        raise ClaudeboxError("openssl printed no key and certificate; claudebox needs OpenSSL 3")
    return pem[:cut], pem[cut:]


@contextlib.contextmanager
def claude_refresh_lock(claude_dir: str) -> Iterator[None]:
    """Claude Code's own lock around a login refresh (read from Claude Code 2.1.197): the
    directory ~/.claude/.oauth_refresh.lock (proper-lockfile: abandoned when its mtime is older
    than 10 s, renewed while held), then the legacy ~/.claude.lock. Neither the host's claude
    nor another session's relay refreshes meanwhile: a refresh token works once."""
    import threading

    make_private_dirs(claude_dir)
    lock = os.path.join(claude_dir, ".oauth_refresh.lock")
    legacy = os.path.realpath(claude_dir) + ".lock"
    for _attempt in range(OAUTH_LOCK_ATTEMPTS):
        if take_lock_dir(lock):
            if take_lock_dir(legacy):
                break
            with contextlib.suppress(OSError):
                os.rmdir(lock)
        time.sleep(0.5)
    else:
        raise ClaudeboxError(
            f"another process held Claude's login lock ({lock}) for "
            f"{OAUTH_LOCK_ATTEMPTS // 2} s; is a claude refreshing its login?"
        )
    held = threading.Event()

    def renew() -> None:
        while not held.wait(OAUTH_LOCK_STALE / 3):
            with contextlib.suppress(OSError):
                os.utime(lock)
                os.utime(legacy)

    keeper = threading.Thread(target=renew, name="login-lock", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        held.set()
        keeper.join()
        for path in (legacy, lock):
            with contextlib.suppress(OSError):
                os.rmdir(path)


def take_lock_dir(path: str) -> bool:
    """mkdir as proper-lockfile takes a lock; one abandoned for OAUTH_LOCK_STALE is removed."""
    for _attempt in range(2):
        try:
            os.mkdir(path, 0o700)
            return True
        except FileExistsError:
            try:
                age = time.time() - os.lstat(path).st_mtime
            except OSError:
                continue  # released meanwhile
            if age <= OAUTH_LOCK_STALE:
                return False
            with contextlib.suppress(OSError):
                os.rmdir(path)
    return False


class HeadRefused(ConnectionError):
    """A head the relay does not read on (too long, too slow, cut short), with its answer."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class Wire:
    """Buffered reads of one side of a relayed HTTP connection (a socket, or TLS over one)."""

    def __init__(self, sock: socket.socket, data: bytes = b"") -> None:
        self.sock = sock
        self.data = data

    def more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.data += chunk
        return bool(chunk)

    def head(self, within: float | None = None) -> bytes | None:
        """The next head without its blank line; None when the connection ended before one.
        `within`: seconds the whole head may take once its first byte is in (a client's
        head); the socket's own timeout applies to each read otherwise."""
        searched, deadline = 0, None
        while (end := self.data.find(b"\r\n\r\n", max(searched - 3, 0))) < 0:
            searched = len(self.data)
            if len(self.data) > PROXY_HEAD_LIMIT:
                refusal = Refusal(431, f"a head longer than {PROXY_HEAD_LIMIT >> 10} KiB")
                raise HeadRefused(refusal)
            if within is not None and self.data:
                if deadline is None:
                    deadline = time.monotonic() + within
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HeadRefused(Refusal(408, f"no complete head within {within:.0f} s"))
                self.sock.settimeout(left)
            try:
                more = self.more()
            except TimeoutError:
                if deadline is None:
                    raise
                raise HeadRefused(Refusal(408, f"no complete head within {within:.0f} s")) from None
            if not more:
                if self.data.strip():
                    raise HeadRefused(Refusal(400, "the connection ended inside a head"))
                return None
        head, self.data = self.data[:end], self.data[end + 4 :]
        return head

    def take(self, limit: int) -> bytes:
        """Up to `limit` bytes (reading once when none are buffered); b"": the end."""
        if not self.data:
            self.more()
        chunk, self.data = self.data[:limit], self.data[limit:]
        return chunk

    def line(self) -> bytes:
        while (end := self.data.find(b"\n")) < 0:
            if len(self.data) > 8192 or not self.more():
                raise ConnectionError("a chunked body's line is cut short or too long")
        line, self.data = self.data[: end + 1], self.data[end + 1 :]
        return line


class SecretGuard:
    """Stops an answer that would carry a real credential into the sandbox (kept across the
    chunks an answer arrives in)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [secret.encode() for secret in secrets if len(secret) >= 16]
        self.keep = max((len(secret) for secret in self.secrets), default=1) - 1
        self.tail = b""

    def check(self, data: bytes) -> None:
        if not self.secrets:
            return
        window = self.tail + data
        if any(secret in window for secret in self.secrets):
            raise ConnectionError("an answer carried a real credential: cut off")
        self.tail = window[-self.keep :] if self.keep else b""


def body_pieces(source: Wire, framing: tuple[str, int]) -> Iterator[tuple[bytes, bytes]]:
    """One message's body as it arrives: (bytes as framed on the wire, the data in them)."""
    kind, length = framing

    def exactly(count: int) -> Iterator[tuple[bytes, bytes]]:
        while count:
            chunk = source.take(min(count, 65536))
            if not chunk:
                raise ConnectionError("the connection ended inside a body")
            yield chunk, chunk
            count -= len(chunk)

    if kind == "length":
        yield from exactly(length)
    elif kind == "chunked":
        while True:
            line = source.line()
            try:
                size = chunk_size(line)
            except ValueError as error:
                raise ConnectionError(str(error)) from None
            yield line, b""
            if size == 0:
                while (trailer := source.line()).strip():
                    yield trailer, b""
                yield trailer, b""
                return
            yield from exactly(size)
            if source.line() not in (b"\r\n", b"\n"):
                raise ConnectionError("a chunk's data does not end where its size says")
            yield b"\r\n", b""
    elif kind == "close":
        while chunk := source.take(65536):
            yield chunk, chunk


def copy_body(
    source: Wire, sink: socket.socket, framing: tuple[str, int], guard: SecretGuard | None = None
) -> int:
    """Pass one message's body on as it arrives, framed as it came; returns its size."""
    copied = 0
    for framed, _data in body_pieces(source, framing):
        if guard is not None:
            guard.check(framed)
        sink.sendall(framed)
        copied += len(framed)
    return copied


def read_body(source: Wire, framing: tuple[str, int]) -> bytes:
    """One message's whole body (chunked: decoded), up to LOGIN_BODY_LIMIT bytes."""
    too_large = ConnectionError("a body too large for the login relay")
    if framing[0] == "length" and framing[1] > LOGIN_BODY_LIMIT:
        raise too_large
    body = b""
    for _framed, data in body_pieces(source, framing):
        body += data
        if len(body) > LOGIN_BODY_LIMIT:
            raise too_large
    return body


def json_object(data: bytes) -> dict[str, object]:
    try:
        value = json.loads(data or b"{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


class LoginSession:
    """One session's side of Claude's login: the placeholders handed to the sandbox and what
    each stands for. Real values come from the host's credentials file, read for each request
    (the host's claude may have refreshed meanwhile), and from the variables' values; a token
    refresh or a login inside happens here, on the host's file, under Claude's own lock."""

    def __init__(self, login: Login, values: Mapping[str, str]) -> None:
        import threading

        self.login = login
        self.values = dict(values)
        # The relay's, once it serves (RelayServer sets them): its HTTPS client and its log.
        self.exchange: Callable[[Upstream, HttpHead, bytes], tuple[HttpHead, bytes]] | None = None
        self.note: Callable[[str], None] = lambda _line: None
        self.lock = threading.Lock()
        self.issued: dict[str, tuple[str, str]] = {}  # placeholder -> (kind, detail)
        self.failed: set[str] = set()  # real access tokens an upstream answered 401 to
        self.kept: HostLogin | None = None  # a login inside for another account: this session's
        self.logged_host_in = False  # a login inside went to a host that had none: said after
        self.proxy_token = os.urandom(16).hex()  # full: the proxy on the host's loopback

    def issue(self, kind: str, real: str, detail: str = "", suffix: str = "") -> str:
        token = make_placeholder(real, os.urandom(24), suffix)
        with self.lock:
            self.issued[token] = (kind, detail)
        return token

    def host_login(self) -> HostLogin | None:
        """The login in use: the host's file, read now, or one made inside and kept here."""
        return self.kept or host_login_of(read_json_object(self.login.credentials))

    def inside(self) -> tuple[dict[str, str], bytes]:
        """The credential variables' placeholders and ~/.claude/.credentials.json inside."""
        env = {}
        for name in self.login.variables:
            real = self.values.get(name, "")
            suffix = (
                api_key_suffix(real, self.login.instance) if name == "ANTHROPIC_API_KEY" else ""
            )
            env[name] = self.issue("variable", real, name, suffix)
        host = self.host_login()
        if host is None:
            return env, inside_credentials(None, "", "")
        access = self.issue("access", host.access)
        refresh = self.issue("refresh", host.refresh)
        return env, inside_credentials(host, access, refresh)

    def real_for(self, token: str, header: str) -> str | Refusal:
        with self.lock:
            kind, detail = self.issued.get(token, ("", ""))
        if kind == "variable" and LOGIN_VARIABLES[detail] == header:
            real = self.values.get(detail)
            if not real:
                return Refusal(401, f"{detail} had no value when this session started")
            return real
        if kind == "api-key" and header == "x-api-key":
            return detail
        if kind == "access" and header == "authorization":
            host = self.host_login()
            if host is None:
                return Refusal(401, "no Claude login on the host any more; log in again (/login)")
            return host.access
        return Refusal(
            403,
            "a credential claudebox did not issue: Anthropic's hosts get only this session's "
            "login from inside the sandbox",
        )

    def swap(self, head: HttpHead) -> tuple[HttpHead, list[str]] | Refusal:
        """`head` with each placeholder replaced by what it stands for, and the real values;
        any other credential is refused."""
        headers: list[tuple[str, str]] = []
        used: list[str] = []
        for name, value in head.headers:
            lower = name.lower()
            if lower == "cookie":
                return Refusal(403, "cookies to Anthropic's hosts are not passed on")
            if lower in ("authorization", "x-api-key"):
                token = bearer_of(value) if lower == "authorization" else value.strip()
                real = self.real_for(token or "", lower)
                if isinstance(real, Refusal):
                    return real
                used.append(real)
                value = f"Bearer {real}" if lower == "authorization" else real
            elif lower in ("proxy-authorization", "proxy-connection"):
                continue
            headers.append((name, value))
        return head._replace(headers=tuple(headers)), used

    def token(self, body: Mapping[str, object]) -> tuple[int, dict[str, object]]:
        """An answer to Claude's POST /v1/oauth/token from inside: a refresh against the
        host's login (upstream only when it needs one), or a login's code exchanged there."""
        grant = body.get("grant_type")
        if grant == "refresh_token":
            token = body.get("refresh_token")
            with self.lock:
                known = isinstance(token, str) and self.issued.get(token, ("",))[0] == "refresh"
            if not known:
                return 400, oauth_error("a refresh token claudebox did not issue")
            return self.refresh(body)
        if grant == "authorization_code":
            return self.log_in(body)
        return 400, oauth_error(f"a {str(grant)[:40]!r} grant is not passed on")

    def refresh(self, body: Mapping[str, object]) -> tuple[int, dict[str, object]]:
        with claude_refresh_lock(self.login.claude_dir):
            host = self.host_login()
            if host is None:
                return 400, oauth_error("no Claude login on the host; log in again (/login)")
            extra: dict[str, object] = {}
            stale = host.access in self.failed
            if stale or host.expires_at / 1000 - time.time() < OAUTH_FRESH_MARGIN:
                request = {
                    "grant_type": "refresh_token",
                    "refresh_token": host.refresh,
                    **{k: body[k] for k in ("client_id", "scope") if k in body},
                }
                status, answer = self.post_token(request)
                if status != 200:
                    return status, answer
                fresh = self.store(answer)
                if fresh is None:
                    return 502, oauth_error("the token answer held no tokens")
                host = fresh
                extra = {
                    k: v for k, v in answer.items() if k not in ("access_token", "refresh_token")
                }
                self.note("login: refreshed the host's token")
            else:
                self.note("login: the host's token is fresh, no refresh needed")
        return 200, self.placeholders_answer(host, extra)

    def log_in(self, body: Mapping[str, object]) -> tuple[int, dict[str, object]]:
        """A login inside (/login): the code is exchanged as sent; the sandbox gets
        placeholders. The tokens go to the host's file when the host has no login or this is
        its account; another account's login stays with this session (the agent could log in
        an account of its own: the host's Claude must never start using it)."""
        status, answer = self.post_token(dict(body))
        if status != 200:
            return status, answer
        account = answer.get("account")
        uuid = account.get("uuid") if isinstance(account, dict) else None
        with claude_refresh_lock(self.login.claude_dir):
            current = host_login_of(read_json_object(self.login.credentials))
            if current is None or (self.login.account and uuid == self.login.account):
                host = self.store(answer)
                self.kept = None
                self.logged_host_in = self.logged_host_in or current is None
                self.note("login: a login inside; its tokens went to the host's credentials")
            else:
                host = self.keep(answer)
                self.note("login: a login inside for another account: kept for this session")
        if host is None:
            return 502, oauth_error("the token answer held no tokens")
        extra = {k: v for k, v in answer.items() if k not in ("access_token", "refresh_token")}
        return 200, self.placeholders_answer(host, extra)

    def placeholders_answer(
        self, host: HostLogin, extra: Mapping[str, object]
    ) -> dict[str, object]:
        scopes = host.fields.get("scopes")
        return {
            **extra,
            "token_type": "Bearer",
            "access_token": self.issue("access", host.access),
            "refresh_token": self.issue("refresh", host.refresh),
            "expires_in": max(int(host.expires_at / 1000 - time.time()), 0),
            "scope": " ".join(map(str, scopes)) if isinstance(scopes, list) else "",
        }

    def post_token(self, request: Mapping[str, object]) -> tuple[int, dict[str, object]]:
        body = json.dumps(request).encode()
        head = HttpHead(
            ("POST", OAUTH_TOKEN_PATH, "HTTP/1.1"),
            (
                ("Host", OAUTH_HOST),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Accept-Encoding", "identity"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ),
        )
        try:
            if self.exchange is None:
                raise ClaudeboxError("the relay is not serving")
            answer, data = self.exchange(Upstream("https", OAUTH_HOST, LOGIN_PORT), head, body)
        except (OSError, ClaudeboxError) as error:
            return 502, oauth_error(f"cannot reach {OAUTH_HOST} ({error})")
        return answer.status, json_object(data)

    def keep(self, answer: Mapping[str, object]) -> HostLogin | None:
        """The answer's login, held for this session only."""
        updated = updated_credentials({}, answer, time.time())
        self.kept = host_login_of(updated) if updated is not None else None
        return self.kept

    def store(self, answer: Mapping[str, object]) -> HostLogin | None:
        """The host's credentials file with the answer's tokens (by rename, as Claude writes
        it; the caller holds Claude's lock); the login it now holds. A login kept for the
        session is refreshed in memory instead."""
        if self.kept is not None:
            return self.keep(answer)
        path = self.login.credentials
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            self.note(f"login: {path} is not a regular file; not written")
            return None
        document = read_json_object(path)
        updated = updated_credentials(document, answer, time.time())
        if updated is None:
            return None
        write_atomic(path, (json.dumps(updated, indent=2) + "\n").encode(), replace=True)
        return host_login_of(updated)

    def api_key(self, answer: Mapping[str, object]) -> dict[str, object]:
        """create_api_key's answer with a placeholder for the key it made (kept here for the
        session: a Console login inside lasts as long as the session)."""
        real = answer.get("raw_key")
        if not isinstance(real, str) or not real:
            return dict(answer)
        return {**answer, "raw_key": self.issue("api-key", real, real)}


def logged_in_what(credentials: str) -> str:
    """The after-session warning when a login inside went to a host that had none."""
    return (
        f"logged Claude in on your host ({credentials}), which had no login: your own claude "
        "now uses that account; check it (claude, then /status) and log out if it is not yours"
    )


def oauth_error(reason: str) -> dict[str, object]:
    return {"error": "invalid_grant", "error_description": f"claudebox: {reason}"}


# --- the OS edge: what a session left behind -------------------------------------------------


class Snapshot(NamedTuple):
    """The launch-time state of everything the review looks at after the session."""

    present: Mapping[str, tuple[int, int, int]]  # protected path -> (mode, inode, mtime_ns)
    taken: float  # when (a path whose inode changed before it was not made by the session)
    configs: Mapping[str, str] = {}  # protected git config -> its text (put back if replaced)


def identity(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_mode, info.st_ino, info.st_mtime_ns)


def take_snapshot(host: HostFacts) -> Snapshot:
    present = {}
    for path in dict.fromkeys(step.path for walk_ in host.protected for step in walk_.steps):
        found = identity(path)  # each path once: walks below one git directory share steps
        if found is not None:
            present[path] = found
    configs = {}
    for walk_ in host.protected:
        if walk_.path in present and acts_as(walk_) in GIT_CONFIG_NAMES:
            text = read_small(walk_.path, GIT_CONFIG_LIMIT)
            if text is not None:
                configs[walk_.path] = text
    return Snapshot(present, time.time(), configs)


def acts_as(walk_: Walk) -> str:
    """The git file a protected path is to git: its name, or the role that gave it its walk."""
    return walk_.judged_as or os.path.basename(walk_.relative)


def replaced(path: str, launched: tuple[int, int, int]) -> bool:
    """Whether `path` is another file than at launch: the host replaced it (a rename over it
    detaches the sandbox's read-only view: the sandbox could write the new one)."""
    now = identity(path)
    return now is not None and (
        now[1] != launched[1] or stat.S_IFMT(now[0]) != stat.S_IFMT(launched[0])
    )


def changed_since(path: str, moment: float) -> bool:
    """Whether `path` was made, renamed or changed at or after `moment` (its ctime, which no
    process can set back)."""
    try:
        return os.lstat(path).st_ctime >= moment - 1
    except OSError:
        return False


def git_config_inert(git: str, path: str, git_dir: str, top: str) -> tuple[bool, str]:
    """(inert, why not): a git config file whose keys only describe the repository."""
    entries = git_config_entries(git, path)
    if entries is None:
        return False, "not a git config git can read"
    return entries_inert(entries, git_dir, top)


def entries_inert(entries: Iterable[tuple[str, str]], git_dir: str, top: str) -> tuple[bool, str]:
    """(inert, why not): git config entries that only describe the repository."""
    for key, value in entries:
        section, _, rest = key.partition(".")
        subsection, _, name = rest.rpartition(".")
        pattern = f"{section}.*.{name}" if subsection else key
        if pattern not in GIT_INERT_KEYS:
            return False, key
        if key == "core.worktree" and not is_within(
            os.path.realpath(os.path.join(git_dir, value)), top
        ):
            return False, f"core.worktree = {value}"
        if name == "update" and value not in GIT_SAFE_SUBMODULE_UPDATES:
            return False, f"{key} = {value}"
    return True, ""


def judge_created(path: str, git: GitLayout, judged_as: str = "") -> str | None:
    """Why a git file the session created would make the host's git run or read something
    else (None: inert, left in place; "": reported, left in place); `judged_as`: the git file
    it acts as where its name does not say (a core.hooksPath directory, an included config)."""
    name = judged_as or os.path.basename(path)
    parent = os.path.dirname(path)
    git_files = (".git", "commondir", "config", "config.worktree", "hooks", "gitdir", ".gitmodules")
    if name in git_files and os.path.islink(path):
        return f"a symlink to {os.readlink(path)}"
    if name == ".git":
        if os.path.isdir(path):
            return ""  # a new repository: reported; its config and hooks are judged on their own
        target = gitfile_target(path)
        if target and (is_within(target, git.git_dir or "//") or in_git_dir(target, git.top)):
            return None  # a git directory whose own files are judged
        return f"a .git file sending git to {target or 'an unreadable place'}"
    if name == "commondir":
        target = pointer(path, parent)
        grandparent = os.path.dirname(os.path.dirname(parent))
        if os.path.basename(os.path.dirname(parent)) == "worktrees" and target == grandparent:
            return None
        if target == os.path.realpath(parent):
            return None  # "." (a copy of a placeholder): the git directory itself
        return f"a commondir sending git to {target}"
    if name in ("config", "config.worktree", ".gitmodules"):
        inert, key = git_config_inert(git.program or "git", path, parent, git.top)
        if not inert:
            return f"git configuration the host's git would obey ({key})"
        return "" if name == ".gitmodules" else None
    if name == "hooks":
        try:
            hooks = os.listdir(path)
        except OSError:
            hooks = ["?"]
        active = [hook for hook in hooks if not hook.endswith(".sample")]
        return f"git hooks ({', '.join(sorted(active))})" if active else None
    if name == "gitdir":
        return None
    return ""  # not a git file: reported, left in place


def in_git_dir(path: str, top: str) -> bool:
    """Whether `path` lies in a .git directory of the project (one the review walks)."""
    return is_within(path, top) and "/.git/" in f"{path}/"[len(top.rstrip("/")) :]


def quarantine(path: str) -> str:
    """Move `path` aside (never deleted); returns where it went. A parent the session made
    read-only (it is the user's) is opened for the move and closed again."""
    target = path + QUARANTINE_SUFFIX
    number = 1
    while os.path.lexists(target):
        number += 1
        tail = number if number <= QUARANTINE_NUMBERED else os.urandom(8).hex()
        target = f"{path}{QUARANTINE_SUFFIX}-{tail}"
    try:
        os.rename(path, target)
    except PermissionError:
        parent = os.path.dirname(path)
        info = os.lstat(parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise
        os.chmod(parent, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)
        try:
            os.rename(path, target)
        finally:
            os.chmod(parent, stat.S_IMODE(info.st_mode))
    return target


def review_session(host: HostFacts, before: Snapshot) -> list[Finding]:
    """After the session: the protected paths it created in every git repository of the
    project, each judged on its own (git files that would make the host's git run something
    are moved aside; an error on one is reported and the review goes on). What the session
    wrote is read without blocking or following a link, and host commands on it time out."""
    git = host.git
    earlier = host.survey or Survey(git.top, {}, {}, (), 0)
    survey = survey_tree(git.top, earlier, reopen=True)
    findings = unreadable_findings(survey, earlier)
    git_dirs = [git.git_dir or os.path.join(git.top, ".git")]
    git_dirs += [os.path.join(git.top, rel, ".git") for rel in survey.repositories]
    git_dirs += [
        os.path.join(git.top, rel)
        for rel, names in survey.marked.items()
        if laid_out_as_git_dir(set(names))
    ]
    for path, mode in reopen_git_directories(git_dirs):
        what = f"left {path} unlistable (mode {mode:04o}): claudebox made it listable again"
        findings.append(Finding(path, f"{what} (chmod u+rx) to review what is in it"))
    problems: list[str] = []
    walks = protected_walks(git, survey.repositories, problems, survey.marked)
    findings += [
        Finding(
            problem,
            f"left {problem} unlisted: claudebox could not review what git reads there; "
            "look before running git in that repository",
        )
        for problem in problems
    ]
    checked: set[str] = set()
    for walk_ in walks:
        last = walk_.steps[-1]
        path = last.path
        if last.kind is Kind.MISSING or path in checked:
            continue
        checked.add(path)
        if path not in before.present:
            findings += review_path(path, git, walk_.judged_as)
        elif replaced(path, before.present[path]):
            findings += review_replaced(path, git, walk_, before.configs.get(path))
    surveyed = (os.path.dirname(w.path) for w in walks if w.relative.endswith("commondir"))
    for git_dir in dict.fromkeys(surveyed):
        findings += review_git_files(git_dir, before.taken)
    if survey.listed and not survey.cut:  # (listing nothing anew, it learnt nothing new)
        save_survey(
            survey_file(instance_for(git.canonical_root, host.state_dir).dir, git.top), survey
        )
    return findings


def review_replaced(path: str, git: GitLayout, walk_: Walk, launched: str | None) -> list[Finding]:
    """A protected path replaced while the session ran (a `git config`, `git branch -u` or
    `git remote add` on the host rewrites .git/config so): the sandbox could write the new
    file. A config is judged by what it holds beyond what it held at launch; one that would
    make the host's git run something is moved aside and the launch's put back."""
    if launched is None:
        return review_path(path, git, walk_.judged_as)
    program = git.program or "git"
    now = git_config_entries(program, path)
    then = set(git_config_text_entries(program, launched) or ())
    added = [entry for entry in now or () if entry not in then]
    inert, key = (
        entries_inert(added, os.path.dirname(path), git.top)
        if now is not None
        else (
            False,
            "not a git config git can read",
        )
    )
    if inert:
        return []  # what was added only describes the repository (an upstream, a remote)
    what = (
        f"could write {path} once it was replaced on the host while the session ran (a rename "
        "there detaches the sandbox's read-only view of it): it holds git configuration the "
        f"host's git would obey ({key})"
    )
    finding = moved_aside(path, what)
    if finding.moved_to:
        try:
            write_atomic(path, os.fsencode(launched), replace=False)
        except OSError as error:
            return [
                finding._replace(what=f"{what}; cannot put back the launch's ({error.strerror})")
            ]
        return [finding._replace(what=f"{what}; put back the config it had at launch")]
    return [finding]


def reopen_git_directories(git_dirs: Iterable[str]) -> list[tuple[str, int]]:
    """The directories of git's the review reads (each git directory, its worktrees and their
    admin directories, its modules) that the session left unlistable: yours, made listable
    again (u+rx); each with the mode it had."""
    reopened: list[tuple[str, int]] = []
    pending = [(path, "git") for path in git_dirs]
    visited = 0
    while pending and visited < MODULES_DIRECTORY_LIMIT:
        path, role = pending.pop()
        visited += 1
        try:
            info = os.lstat(path)
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if mode & LISTABLE != LISTABLE:
            try:
                os.chmod(path, mode | LISTABLE)
            except OSError:
                continue
            reopened.append((path, mode))
        if role == "git":
            pending += [(f"{path}/worktrees", "worktrees"), (f"{path}/modules", "modules")]
            continue
        try:
            names = os.listdir(path)
        except OSError:
            continue
        pending += [
            (f"{path}/{name}", "admin" if role == "worktrees" else "modules")
            for name in names
            if role != "admin" and name not in GIT_DIR_STORES
        ]
    return reopened


LISTABLE: Final = stat.S_IRUSR | stat.S_IXUSR


def reason_of(error: Exception) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error)


def remove_placeholders(made: Sequence[HostSetup], walks: Iterable[Walk], lock: int) -> None:
    """What this launch made for the session (placeholders, the directories made for them),
    where it still holds what was made, once no other session of the project runs (its
    protection holds them: a removal would detach it); and a commondir "." a launch that never
    ended left (never one of yours: it names the git directory itself). One left reads as if
    absent."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    for step in reversed(made):
        with contextlib.suppress(OSError):
            if step.content is None:
                os.rmdir(step.path)  # (only when empty)
            elif read_small(step.path) == step.content:
                os.unlink(step.path)
    commondir = GIT_PLACEHOLDERS["commondir"]
    for walk_ in walks:
        if walk_.placeholder == commondir and read_small(walk_.path) == commondir:
            with contextlib.suppress(OSError):
                os.unlink(walk_.path)


def review_path(path: str, git: GitLayout, judged_as: str = "") -> list[Finding]:
    """A protected path that exists after the session and was not one at launch: made in the
    session, or made earlier where nothing looked and now reached (a rename, a new pointer)."""
    try:
        verdict = judge_created(path, git, judged_as)
    except (OSError, ValueError) as error:
        return [Finding(path, f"created {path}, which claudebox cannot read ({reason_of(error)})")]
    if verdict is None:
        return []
    if not verdict:
        return [
            Finding(
                path,
                f"created {path}: git, direnv, an editor or claude outside the sandbox may "
                "run what it says; review it",
            )
        ]
    return [moved_aside(path, f"created {path}: {verdict}")]


def moved_aside(path: str, what: str) -> Finding:
    try:
        return Finding(path, what, quarantine(path))
    except OSError as error:
        return Finding(
            path,
            f"{what}; claudebox could not move it aside ({error.strerror}): remove it before "
            "running git there",
        )


def review_git_files(git_dir: str, since: float) -> list[Finding]:
    """git's HEAD and index in a git directory: what git opens in every command must be a
    regular file (HEAD may be a symlink) git can read, or the host's git hangs on it."""
    findings = []
    for name in ("HEAD", "index"):
        path = os.path.join(git_dir, name)
        entry = inspect(path)
        if entry.kind is Kind.MISSING or not changed_since(path, since):
            continue
        if entry.kind is Kind.OTHER or (name == "index" and entry.kind is not Kind.FILE):
            kind = "symlink" if entry.kind is Kind.LINK else entry.kind.value
            what = f"left a {kind} at {path}, where git's {name} belongs (git would hang on it)"
            findings.append(moved_aside(path, what))
        elif name == "index":
            try:
                index_gitlinks(path)
            except ClaudeboxError as error:
                findings.append(Finding(path, f"left {error}"))
    return findings


def unreadable_findings(survey: Survey, earlier: Survey) -> list[Finding]:
    """Directories of the project the review could not list and the launch could (or that
    are new): what is in them was not reviewed."""
    known = set(earlier.unreadable)
    fresh = [os.path.join(survey.top, rel) for rel in survey.unreadable if rel not in known]
    reopened = []
    for relative, mode in survey.reopened:
        path = os.path.join(survey.top, relative)
        what = f"left {path} unlistable (mode {mode:04o}): claudebox made it listable again"
        reopened.append(Finding(path, f"{what} (chmod u+rx) to review what is in it"))
    findings = [
        Finding(
            path,
            f"left {path} unreadable: claudebox could not review it for git repositories; "
            "look before running git there",
        )
        for path in fresh[:AUDIT_NAMES_SHOWN]
    ]
    findings = [*reopened, *findings]
    if len(fresh) > AUDIT_NAMES_SHOWN:
        findings.append(
            Finding(
                survey.top, f"left {len(fresh) - AUDIT_NAMES_SHOWN} more unreadable directories"
            )
        )
    if survey.cut:
        findings.append(
            Finding(
                survey.top,
                f"left more than {SURVEY_DIRECTORY_LIMIT} directories in {survey.top}: "
                "claudebox reviewed those it reached",
            )
        )
    return findings


# --- --check -------------------------------------------------------------------------------


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
        found = which(name, env)
        lines.append(
            f"{name}: {program_version(found)} ({found})" if found else f"{name}: not found"
        )
    return "\n".join(lines) + "\n"


def check_host(env: Mapping[str, str]) -> list[CheckResult]:
    results: list[CheckResult] = []
    bwrap = which("bwrap", env)
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
        results += check_inet(which("pasta", env))
    socket_path = os.path.join(DAEMON_SOCKET_DIR, "socket")
    results.append(
        CheckResult(
            "nix daemon socket",
            os.path.exists(socket_path),
            socket_path,
            "start the nix daemon (NixOS: nix.enable = true) so nix shell and comma work inside",
        )
    )
    claude = which("claude", env)
    results.append(
        CheckResult(
            "claude",
            claude is not None,
            os.path.realpath(claude) if claude else "not found on PATH",
            "install Claude Code (nixpkgs: claude-code) or add it to PATH",
        )
    )
    openssl = which("openssl", env)
    results.append(
        CheckResult(
            "openssl",
            openssl is not None,
            f"{program_version(openssl)} ({openssl})" if openssl else "not found on PATH",
            "install openssl: the login relay makes each session's certificate with it",
        )
    )
    home = env.get("HOME") or os.path.expanduser("~")
    state_dir = os.path.join(home, ".claudebox")
    existing = state_dir if os.path.exists(state_dir) else home
    writable = os.access(existing, os.W_OK | os.X_OK)
    results.append(
        CheckResult(
            "state directory",
            writable,
            f"{state_dir} is writable" if writable else f"{existing} is not writable",
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
    results += check_nix_inside(env)
    return results


def enforcement_results(report: Mapping[str, object], tier: Tier) -> list[CheckResult]:
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
    if NETWORK_POLICIES[tier].blocks_routes and isinstance(routes, dict):
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
    import tempfile

    pasta = which("pasta", env)
    tier = Tier.INET if pasta and tun_error() is None else Tier.NONE
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
        canary_env = {
            **env,
            "HOME": home,
            "CLAUDEBOX_CHECK_CANARY": marker,
            "ANTHROPIC_API_KEY": f"sk-ant-api03-{marker}",  # the relay's; inside a placeholder
        }
        host = probe_host(canary_env, tier, cwd=project)
        blocked = (
            inet_blocked_set(host.routing or HostRouting())
            if NETWORK_POLICIES[tier].blocks_routes
            else ()
        )
        networks = [ipaddress.IPv4Network(item.prefix) for item in blocked]
        spec = {
            "canaries": canaries,
            "marker": marker,
            "addresses": [
                str(next(iter(network.hosts()), network.network_address))
                for network in networks
                if not network.is_multicast and not network.is_reserved
            ],
        }
        probe = (python, "-I", "-S", "-c", ENFORCEMENT_PROBE, json.dumps(spec))
        report = run_check_probe(host, tier, probe, "sandbox")
        if isinstance(report, CheckResult):
            return [report]
        results = [
            CheckResult(
                "sandbox", True, f"a throwaway sandbox ran the probe (network {tier.value})"
            ),
            *enforcement_results(report, tier),
        ]
        proxy_probe = (python, "-I", "-S", "-c", ALLOWLIST_PROBE, str(PROXY_PORT))
        host = probe_host(canary_env, Tier.ALLOWLIST, cwd=project)
        proxy_report = run_check_probe(host, Tier.ALLOWLIST, proxy_probe, "sandbox: allowlist")
        if isinstance(proxy_report, CheckResult):
            return [*results, proxy_report]
        results += allowlist_results(proxy_report)
        login_probe = (python, "-I", "-S", "-c", LOGIN_PROBE)
        host = probe_host(canary_env, Tier.NONE, cwd=project)
        login_report = run_check_probe(host, Tier.NONE, login_probe, "sandbox: login relay")
        if isinstance(login_report, CheckResult):
            return [*results, login_report]
        return [*results, *login_results(login_report)]


def run_check_probe(
    host: HostFacts, tier: Tier, probe: tuple[str, ...], name: str, nixpkgs: str | None = None
) -> Mapping[str, object] | CheckResult:
    """A throwaway sandbox of `tier`, planned and started like a session's, running `probe`
    instead of claude: the JSON object it printed last, or a failed check named `name`."""
    import tempfile

    with tempfile.TemporaryFile() as output:
        try:
            options = Options(tier=tier, nixpkgs=nixpkgs)
            plan = build_plan(host, options)._replace(command=probe)
            if plan.blockers:
                raise plan.blockers[0]
            prepare_host(plan.host_setup, host.state_dir)
            launch = launch_of(plan, login_values(host.env, None))._replace(control_dir="")
            status = supervise_with_timeout(launch, output.fileno(), CHECK_TIMEOUT * 2)
        except ClaudeboxError as error:
            return CheckResult(name, False, f"cannot start one: {error}", "see above")
        output.seek(0)
        text = output.read().decode(errors="replace").strip()
    try:
        report = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        report = None
    if not isinstance(report, dict):
        lines = [line for line in text.splitlines() if "AVX2" not in line]
        return CheckResult(
            name,
            False,
            f"the probe failed (exit {status}): {' / '.join(lines[-3:])}",
            "see the lines above",
        )
    return report


# What nix inside a sandbox sees: `nix eval` runs only with nix-command on, getFlake exists only
# with flakes on, and getFlake "nixpkgs" resolves through the registry (only asked when pinned:
# unpinned, nix would download the global registry).
NIX_CHECK_EXPRESSION: Final = (
    "{ flakes = builtins ? getFlake; nixPath = builtins.nixPath; "
    'registry = if PINNED && builtins ? getFlake then (builtins.getFlake "nixpkgs").outPath '
    "else null; }"
)


def check_nix_inside(env: Mapping[str, str]) -> list[CheckResult]:
    """A throwaway sandbox (network none) with a session's nix settings (NIX_CONFIG, NIX_PATH,
    the registry) asks nix what it sees: the experimental features and where nixpkgs is."""
    if os.geteuid() == 0:
        return []  # (the user line says why)
    found = which("nix", env)
    nix = os.path.realpath(found) if found else None
    if nix is None or not is_within(nix, STORE_DIR):
        return [
            CheckResult(
                "sandbox: nix",
                True,
                "skipped: no nix from /nix/store on PATH (inside, PATH keeps only those)",
                warning=True,
            )
        ]
    import tempfile

    nixpkgs = env.get(NIXPKGS_VARIABLE) or None
    pinned = nixpkgs is not None and nix_registry_json(nixpkgs) is not None
    expression = NIX_CHECK_EXPRESSION.replace("PINNED", "true" if pinned else "false")
    probe = (nix, "eval", "--impure", "--json", "--expr", expression)
    with tempfile.TemporaryDirectory(prefix="claudebox-check-") as scratch:
        home = os.path.join(scratch, "home")
        project = os.path.join(home, "project")
        os.makedirs(project, mode=0o700)
        host = probe_host({**env, "HOME": home}, Tier.NONE, cwd=project)
        report = run_check_probe(host, Tier.NONE, probe, "sandbox: nix", nixpkgs)
    if isinstance(report, CheckResult):
        return [report]
    return nix_results(report, nixpkgs if pinned else None)


def nix_results(report: Mapping[str, object], nixpkgs: str | None) -> list[CheckResult]:
    """--check: what nix inside reported, judged (pure). nixpkgs: the pinned `path:` reference."""
    results = [
        CheckResult(
            "sandbox: nix",
            report.get("flakes") is True,
            "nix inside has nix-command and flakes on (nix shell, nix run, comma)"
            if report.get("flakes") is True
            else "nix inside runs, but flakes are off: nix shell nixpkgs#… and comma fail",
            "claudebox sets them in NIX_CONFIG inside; report it",
        )
    ]
    if nixpkgs is None:
        results.append(
            CheckResult(
                "sandbox: nixpkgs",
                True,
                f"not pinned ({NIXPKGS_VARIABLE} is unset): nix-shell -p and <nixpkgs> find no "
                "nixpkgs inside, nix shell nixpkgs#… uses the global registry (a download); "
                "the Nix-built claudebox pins the flake's",
                warning=True,
            )
        )
        return results
    path = pinned_nixpkgs(nixpkgs)
    search = report.get("nixPath")
    entries = search if isinstance(search, list) else []
    found = [e.get("path") for e in entries if isinstance(e, dict) and e.get("prefix") == "nixpkgs"]
    registry = report.get("registry")
    ok = found[:1] == [path] and registry == path
    results.append(
        CheckResult(
            "sandbox: nixpkgs",
            ok,
            f"<nixpkgs> (nix-shell -p) and the registry's nixpkgs (nix shell nixpkgs#…) are {path}"
            if ok
            else f"inside, <nixpkgs> is {found[0] if found else 'not found'} and the registry's "
            f"nixpkgs {registry or 'not found'}, not {path}",
            "claudebox sets NIX_PATH and the registry inside; report it",
        )
    )
    return results


def allowlist_results(report: Mapping[str, object]) -> list[CheckResult]:
    """--check: the allowlist probe's report, judged (pure)."""
    reply = str(report.get("proxy", ""))
    refused = reply.startswith("HTTP/1.1 403 claudebox: claudebox-check.invalid is not allowed")
    direct = report.get("direct")
    dns = report.get("dns")
    first_line = reply.splitlines()[0] if reply else "no answer"
    return [
        CheckResult(
            "sandbox: allowlist proxy",
            refused,
            "the proxy answers inside and refuses a name not on the allowlist (HTTP 403)"
            if refused
            else f"the proxy did not refuse a name not on the allowlist: {first_line}",
            "the allowlist tier's proxy is not working; report it (see SECURITY.md)",
        ),
        CheckResult(
            "sandbox: allowlist names",
            dns == DNS_NXDOMAIN,
            "a name on no allowlist does not resolve inside (NXDOMAIN), and no question leaves"
            if dns == DNS_NXDOMAIN
            else f"the resolver inside did not refuse a name on no allowlist ({dns})",
            "the allowlist tier's resolver is not working; report it (see SECURITY.md)",
        ),
        CheckResult(
            "sandbox: allowlist routes",
            direct == "ENETUNREACH",
            "allowlist: no route out but the proxy (a direct connection: ENETUNREACH)"
            if direct == "ENETUNREACH"
            else f"allowlist: a direct connection was not refused by the missing route ({direct})",
            "the allowlist tier's namespace has a way out; report it (see SECURITY.md)",
        ),
    ]


def login_results(report: Mapping[str, object]) -> list[CheckResult]:
    """--check: the login probe's report, judged (pure)."""
    answer = str(report.get("answer", ""))
    ok = (
        str(report.get("connect", "")).startswith("HTTP/1.1 200")
        and report.get("tls") == "verified"
        and answer.startswith("HTTP/1.1 403")
    )
    detail = (
        "inside, api.anthropic.com's TLS ends at the relay (the session's CA) and a key "
        "claudebox did not issue is refused (HTTP 403)"
        if ok
        else "the login relay's chain failed inside: "
        + "; ".join(f"{k}: {v}" for k, v in report.items())
    )
    return [
        CheckResult(
            "sandbox: login relay",
            ok,
            detail,
            "Claude inside could not use your login; report it (see SECURITY.md)",
        )
    ]


def supervise_with_timeout(launch: Launch, output: int, timeout: float) -> int:
    def expired(_signum: int, _frame: object) -> None:
        raise ClaudeboxError(f"the probe did not finish within {timeout:.0f}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return supervise(launch, output)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
    import grp

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


def render_checks(results: Sequence[CheckResult], style: Style) -> str:
    lines = []
    for result in results:
        name, detail, hint = (
            printable(result.name),
            printable(result.detail),
            printable(result.hint),
        )
        if result.warning:
            lines.append(style.red(f"warn {name}: {detail}"))
        elif result.ok:
            lines.append(f"ok   {name}: {detail}")
        else:
            lines.append(style.red(f"FAIL {name}: {detail}; fix: {hint}"))
    return "\n".join(lines) + "\n"


# --- parser and main ------------------------------------------------------------------------


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A fixed width, so --help reads the same everywhere (the README carries a copy)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=HELP_WIDTH, max_help_position=30)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claudebox",
        usage=(
            "claudebox [CLAUDEBOX OPTIONS] [CLAUDE ARGS ...]\n"
            "       claudebox allow NAME[:PORT] [--save PROFILE]\n"
            "       claudebox log"
        ),
        description=(
            "Run Claude Code (claude --dangerously-skip-permissions) in a bubblewrap sandbox:\n"
            "an empty environment plus an allowlist, the project read-write, /nix/store\n"
            "read-only, and nothing else of your home. Any other argument goes to claude\n"
            "unchanged; everything after -- goes to claude verbatim.\n"
            "\n"
            "commands (the first argument; claudebox -- allow gives claude the word allow):\n"
            "  allow NAME[:PORT]       the running allowlist session of this project reaches NAME\n"
            "                          from now on, once you confirm here; --save PROFILE: that\n"
            "                          profile's allow_domains too\n"
            "  log                     follow the network log of this project's running session"
        ),
        epilog=(
            "examples:\n"
            "  claudebox                        audit, confirm, start claude in this project\n"
            "  claudebox -y -p 'fix the tests'  no question; claude gets -p 'fix the tests'\n"
            "  claudebox --network none         only Claude's API (no other network)\n"
            "  claudebox --allow-domain pypi.org --allow-domain files.pythonhosted.org\n"
            "                                   only those and Claude's own domains, by a proxy\n"
            "  claudebox --profile web          add what ~/.claudebox/profiles/web.json names\n"
            "  claudebox --dry-run              print the sandbox command, run nothing\n"
            "  claudebox --shell                a bash in the very sandbox claude would get\n"
            "  claudebox --check                check bwrap, pasta, namespaces, nix, claude\n"
            "  claudebox --resume ID            resume a session (Claude's own flags: -c, -r)\n"
            f"  {EXTRA_ENV_VARIABLE}=GH_HOST claudebox   pass one more host variable in"
        ),
        formatter_class=HelpFormatter,
        allow_abbrev=False,
        add_help=False,
    )
    launch_group = parser.add_argument_group("launch")
    launch_group.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="skip the question: one summary line, not the audit",
    )
    launch_group.add_argument(
        "--network",
        choices=TIER_NAMES,
        default=None,
        metavar="TIER",
        help=f"network tier: {', '.join(TIER_NAMES[:-1])} or {TIER_NAMES[-1]} (default "
        f"{DEFAULT_TIER.value}; env {NETWORK_VARIABLE})",
    )
    launch_group.add_argument(
        "--allow-domain",
        action="append",
        metavar="NAME",
        help="the allowlist tier: reach NAME (*.NAME: its subdomains; NAME:PORT) over HTTP(S) "
        "through claudebox's proxy; repeatable",
    )
    launch_group.add_argument(
        "--profile",
        metavar="NAME",
        help=f"profile ~/.claudebox/profiles/NAME.json (env {PROFILE_VARIABLE})",
    )
    launch_group.add_argument(
        "--shell", action="store_true", help="run an interactive bash in the same sandbox"
    )
    launch_group.add_argument(
        "--details",
        action="store_true",
        help="the audit shows every mount, pin and variable value",
    )
    launch_group.add_argument("--stage", metavar="SPEC", help=argparse.SUPPRESS)
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
        "--take-history",
        metavar="OLD_DIR",
        help="this project takes the Claude history and state of the project that was at "
        "OLD_DIR (moved or renamed)",
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
    parser.set_defaults(command=None)
    return parser


def build_command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of `claudebox allow` or `claudebox log` (SESSION_COMMANDS)."""
    if name == "allow":
        parser = argparse.ArgumentParser(
            prog="claudebox allow",
            usage="claudebox allow NAME[:PORT] [--save PROFILE]",
            description=(
                "Add NAME (*.NAME: its subdomains; NAME:PORT; an IPv4 address) to the allowlist\n"
                "of this project's running session, from now on, once you confirm on this\n"
                "terminal. Run it in the project's directory, in another terminal."
            ),
            formatter_class=HelpFormatter,
            allow_abbrev=False,
        )
        parser.add_argument("entry", metavar="NAME[:PORT]", help="what the session may reach")
        parser.add_argument(
            "--save",
            metavar="PROFILE",
            help="add it to ~/.claudebox/profiles/PROFILE.json's allow_domains too (made if "
            "missing)",
        )
    else:
        parser = argparse.ArgumentParser(
            prog="claudebox log",
            usage="claudebox log",
            description=(
                "Follow the network log of this project's running session (its newest) until\n"
                "the session ends or Ctrl-C; with none running, print the last session's log."
            ),
            formatter_class=HelpFormatter,
            allow_abbrev=False,
        )
    parser.set_defaults(command=name)
    return parser


def parser_options(parser: argparse.ArgumentParser) -> list[OptionSpec]:
    """Every option of the parser, for the completion scripts."""
    options = []
    for action in parser._actions:  # argparse keeps no public list of its actions
        if action.option_strings and action.help != argparse.SUPPRESS:
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
    """Completions generated from the parser; --profile completes the profile files' names, and
    a first word the SESSION_COMMANDS (allow's --save a profile's name too)."""
    options = parser_options(parser)
    listing = 'ls "$HOME/.claudebox/profiles" 2>/dev/null | sed -n "s/[.]json$//p"'
    commands = " ".join(SESSION_COMMANDS)
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
            "        --profile|--show-profile|--save) "
            f'COMPREPLY=($(compgen -W "$({listing})" -- "$cur")); return;;\n'
            "    esac\n"
            f"    local words='{words}'\n"
            f'    [ "$COMP_CWORD" = 1 ] && words="{commands} $words"\n'
            '    COMPREPLY=($(compgen -W "$words" -- "$cur"))\n'
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
            + f" \\\n  '1::command:({commands})' \\\n  '*::claude argument:_default'\n"
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
    # (builtins only: fish's function library may be missing, as in a Nix build's fish)
    first = "test (count (commandline -opc)) -eq 1"
    lines.append(f"complete -c claudebox -n '{first}' -f -a '{commands}'")
    lines.append(
        "complete -c claudebox -n 'contains -- allow (commandline -opc)' -l save -x -a "
        f"{FISH_PROFILE_LISTING}"
    )
    return "\n".join(lines) + "\n"


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(claudebox and claude options, what follows -- verbatim)."""
    if "--" in argv:
        cut = list(argv).index("--")
        return list(argv[:cut]), list(argv[cut + 1 :])
    return list(argv), []


def edit_distance(left: str, right: str) -> int:
    """Optimal string alignment distance (a swap of neighbours counts once)."""
    rows = [list(range(len(right) + 1))]
    for i, a in enumerate(left, 1):
        row = [i]
        for j, b in enumerate(right, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a != b))
            if i > 1 and j > 1 and a == right[j - 2] and left[i - 2] == b:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def near_miss(argument: str, parser: argparse.ArgumentParser) -> str | None:
    """The claudebox option `argument` (not one of ours, so bound for claude) was probably
    meant to be: a typo or a prefix of exactly one."""
    if not argument.startswith("--") or len(argument) < 4:
        return None
    name = argument.split("=", 1)[0]
    ours = [
        flag for option in parser_options(parser) for flag in option.flags if flag.startswith("--")
    ]
    typed = name[2:]
    for flag in ours:
        limit = 1 if len(flag) - 2 < 6 else 2
        if edit_distance(typed, flag[2:]) <= limit:
            return flag
    prefixed = [flag for flag in ours if flag.startswith(name)]
    return prefixed[0] if len(prefixed) == 1 and len(typed) >= 3 else None


def terminal_bytes(text: str, colour: bool) -> bytes:
    """What claudebox writes: `text` made printable() but for its newlines and tabs, and, with
    `colour`, Style's codes (the renderers made each value in them printable() already)."""
    if not colour:
        return os.fsencode(printable(text, keep="\n\t"))
    pieces = STYLE_CODE.split(text)  # a code at each odd index
    return os.fsencode(
        "".join(
            piece if odd % 2 else printable(piece, keep="\n\t") for odd, piece in enumerate(pieces)
        )
    )


def write_stdout(text: str, *, colour: bool = False) -> None:
    """Everything claudebox prints passes here or through write_stderr (terminal_bytes)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(terminal_bytes(text, colour))
    sys.stdout.buffer.flush()


def write_stderr(text: str, *, colour: bool = False) -> None:
    sys.stderr.flush()
    sys.stderr.buffer.write(terminal_bytes(text, colour))
    sys.stderr.buffer.flush()


def colour_enabled(env: Mapping[str, str]) -> bool:
    return sys.stderr.isatty() and "NO_COLOR" not in env


def session_plan(
    args: argparse.Namespace, env: Mapping[str, str], claude_args: Sequence[str]
) -> tuple[SandboxPlan, HostFacts]:
    home = os.path.realpath(env.get("HOME") or os.path.expanduser("~"))
    state_dir = os.path.join(home, ".claudebox")
    selected = select_profile(args.profile, env, state_dir)
    profile = load_profile(*selected, state_dir, home) if selected else None
    tier, origin = choose_tier(args.network, env, profile, bool(args.allow_domain))
    nixpkgs = env.get(NIXPKGS_VARIABLE) or "nixpkgs"
    packages = [name for name, _origin in profile.packages] if profile else []
    options = Options(
        claude_args=tuple(claude_args),
        tier=tier,
        tier_origin=origin,
        shell=args.shell,
        profile=profile,
        package_paths=resolve_packages(packages, nixpkgs, home, env, save=not args.dry_run),
        nixpkgs=env.get(NIXPKGS_VARIABLE),
        extra_env=parse_extra_env(env.get(EXTRA_ENV_VARIABLE, "")),
        allow_domains=tuple(args.allow_domain or ()),
    )
    host = probe_host(env, tier, meanwhile=None if args.dry_run else load_ctypes)
    return build_plan(host, options), host


def load_ctypes() -> None:
    """The stage's ctypes (2.5 ms to import), loaded while git answers on another core."""
    with contextlib.suppress(ImportError):  # the stage reports it
        import ctypes  # noqa: F401


def own_launcher() -> list[str]:
    """How a pasted --dry-run runs this claudebox again (for its --stage)."""
    script = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else "claudebox"
    return [sys.executable or "python3", "-I", script]


def dry_run(args: argparse.Namespace, env: Mapping[str, str], claude_args: Sequence[str]) -> int:
    plan, _host = session_plan(args, env, claude_args)
    for problem in (*plan.warnings, *(str(blocker) for blocker in plan.blockers)):
        write_stderr(f"claudebox: warning: {printable(problem)}\n")
    write_stdout(render_plan_json(plan) if args.json else render_dry_run(plan, own_launcher()))
    return 0


def launch_session(
    args: argparse.Namespace, env: Mapping[str, str], claude_args: Sequence[str]
) -> int:
    openssl = which("openssl", env)
    early = Early(start_session_certificate(openssl) if openssl else None)  # made meanwhile
    try:
        return launch_planned_session(args, env, claude_args, early)
    finally:
        left = early.take()
        if left is not None:  # the launch stopped before it needed them
            finish_together(left)


class Early:
    """Host commands started early for a later step, which takes them once."""

    def __init__(self, running: Running | None) -> None:
        self.running = running

    def take(self) -> Running | None:
        running, self.running = self.running, None
        return running


def launch_planned_session(
    args: argparse.Namespace, env: Mapping[str, str], claude_args: Sequence[str], early: Early
) -> int:
    plan, host = session_plan(args, env, claude_args)
    if plan.blockers:
        raise plan.blockers[0]
    home = host.home
    style = Style(colour_enabled(env))
    profile = plan.profile
    unconfirmed_secrets = bool(plan.secret_mounts) and not (
        profile is not None and profile.allow_secret_mounts[0]
    )
    if args.yes and not args.details and not unconfirmed_secrets:  # confirmed already
        write_stderr(render_summary(plan, style, home), colour=style.colour)
    else:
        write_stderr(render_audit(plan, style, home, verbose=args.details), colour=style.colour)
    if unconfirmed_secrets and args.yes:
        write_stderr(
            'claudebox: the profile mounts secret paths without "allow_secret_mounts": true, '
            "so --yes is not enough: confirm on the terminal\n"
        )
    if unconfirmed_secrets or not args.yes:
        question = SECRET_MOUNT_QUESTION if unconfirmed_secrets else LAUNCH_QUESTION
        if not confirm(question):
            write_stderr("claudebox: not launched\n")
            return EXIT_USAGE
    lock = lock_instance(plan.instance.dir)
    try:
        prepare_host(plan.host_setup, host.state_dir)
        if host.survey is not None and host.survey.listed:
            save_survey(survey_file(plan.instance.dir, host.git.top), host.survey)
        secrets = login_values(host.env, plan.profile)
        api_key = secrets.get("ANTHROPIC_API_KEY")
        if api_key and not host.other_session:
            suffix = api_key_suffix(api_key, plan.instance.id)
            copy_api_key_answer(plan.instance.claude_json, host.claude_home.json, api_key, suffix)
        before = take_snapshot(host)
        try:
            return supervise(launch_of(plan, secrets), certificate=early.take())
        finally:
            write_stderr(render_findings(review_session(host, before)))
            remove_placeholders(plan.placeholders, host.protected, lock)
            if not args.shell:
                write_stderr(resume_hint(plan.instance.claude_store, plan.chdir, before.taken))
    finally:
        os.close(lock)


def stage_command(spec_text: str, argv: Sequence[str]) -> int:
    """--stage SPEC -- BWRAP …: what a pasted --dry-run runs (the same launch as a session)."""
    try:
        spec = json.loads(spec_text)
        pins = tuple(
            Pin(str(path), Kind(kind), bool(read_only), str(source), upper=str(upper[0]))
            if upper
            else Pin(str(path), Kind(kind), bool(read_only), str(source))
            for path, kind, read_only, source, *upper in spec["pins"]
        )
        opened = tuple(Opened(int(fd), str(path)) for fd, path in spec["opened"])
        blocked = tuple(
            BlockedPrefix(str(ipaddress.IPv4Network(prefix)), str(origin))
            for prefix, origin in spec["blocked"]
        )
        listen = tuple(int(port) for port in spec.get("listen", ()))
        stage = Stage(
            bool(spec["network"]),
            blocked,
            pins,
            opened,
            listen,
            bool(spec.get("sealed")),
            transparent=tuple(int(port) for port in spec.get("transparent", ())),
            resolver=bool(spec.get("resolver")),
            spares=int(spec.get("spares", 0)),
        )
        pasta_argv = [str(word) for word in spec["pasta"] or ()]
        pasta = Pasta(pasta_argv[0], tuple(pasta_argv[1:])) if pasta_argv else None
        runtime_dir = str(spec["runtime_dir"])
        relay = relay_of_spec(spec["relay"])
        made = tuple(
            DataInput(int(fd), b"", DataKind[str(kind)]) for kind, fd in spec["launch_data"].items()
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ClaudeboxError(
            f"--stage: not a stage spec ({error}); paste the whole --dry-run output", EXIT_USAGE
        ) from error
    if not argv:
        raise ClaudeboxError("--stage: nothing to run after --", EXIT_USAGE)
    secrets = read_login_secrets()
    named = bwrap_descriptors(argv)
    made_here = {item.fd for item in opened} | {item.fd for item in made}
    # The pasting shell's other descriptors (a directory, a key it holds) stop here.
    keep_only(fd for fd in named if fd not in made_here)
    keep = (*named, *made_here)
    launch = Launch(
        stage, tuple(argv), pasta, made, keep, runtime_dir, relay, secrets, control_dir=runtime_dir
    )
    return supervise(launch)


def read_login_secrets() -> dict[str, str]:
    """The login's NAME\\0VALUE\\0 pairs a pasted --dry-run hands --stage on LOGIN_SECRETS_FD
    (none when it is not open); the descriptor is closed."""
    try:
        os.fstat(LOGIN_SECRETS_FD)
    except OSError:
        return {}
    data = b""
    try:
        while chunk := os.read(LOGIN_SECRETS_FD, 65536):
            data += chunk
    finally:
        os.close(LOGIN_SECRETS_FD)
    words = os.fsdecode(data).split("\0")
    pairs = zip(words[0::2], words[1::2], strict=False)
    return {name: value for name, value in pairs if name and value}


def relay_of_spec(spec: Mapping[str, object]) -> Relay:
    """The relay a stage spec names (relay_spec's inverse); ValueError, KeyError, TypeError."""
    rules = spec["rules"]
    blocked = spec["blocked"]
    host_ports = spec["host_ports"]
    login = spec["login"]
    if not isinstance(rules, list) or not isinstance(blocked, list):
        raise TypeError("relay rules and blocked must be lists")
    if not isinstance(host_ports, list) or not isinstance(login, dict):
        raise TypeError("relay host_ports must be a list, login an object")
    return Relay(
        tunnel=Tunnel(spec["tunnel"]),
        rules=tuple(
            AllowRule(str(pattern), tuple(int(port) for port in ports), str(origin))
            for pattern, ports, origin in rules
        ),
        host_ports=tuple(int(port) for port in host_ports),
        blocked=tuple(
            BlockedPrefix(str(ipaddress.IPv4Network(prefix)), str(origin))
            for prefix, origin in blocked
        ),
        log_dir=str(spec["log_dir"]),
        login=Login(
            claude_dir=str(login["claude_dir"]),
            variables=tuple(str(name) for name in login["variables"]),
            upstream=str(login["upstream"]),
            ca_bundle=str(login["ca_bundle"]),
            openssl=str(login["openssl"]),
            instance=str(login["instance"]),
            account=str(login.get("account", "")),
        ),
        on_host=bool(spec["on_host"]),
    )


class Command(NamedTuple):
    """What the command line asks for, once parsed and checked."""

    args: argparse.Namespace
    env: Mapping[str, str]
    claude_args: tuple[str, ...]
    parser: argparse.ArgumentParser

    @property
    def home(self) -> str:
        return os.path.realpath(self.env.get("HOME") or os.path.expanduser("~"))

    @property
    def state_dir(self) -> str:
        return os.path.join(self.home, ".claudebox")


def parse_command(argv: Sequence[str], env: Mapping[str, str]) -> Command:
    if argv and argv[0] in SESSION_COMMANDS:
        parser = build_command_parser(argv[0])
        return Command(parser.parse_args(argv[1:]), env, (), parser)
    ours, verbatim = split_argv(argv)
    parser = build_parser()
    args, passthrough = parser.parse_known_args(ours)
    if args.stage is None:
        for argument in passthrough:
            meant = near_miss(argument, parser)
            if meant:
                raise ClaudeboxError(
                    f"unknown option {argument.split('=', 1)[0]}; did you mean {meant}? "
                    f"(options for claude itself go after --: claudebox -- {argument})",
                    EXIT_USAGE,
                )
    if args.json and not args.dry_run:
        raise ClaudeboxError("--json goes with --dry-run (claudebox --dry-run --json)", EXIT_USAGE)
    if args.gc and (passthrough or verbatim):
        got = shell_join([*passthrough, *verbatim])
        raise ClaudeboxError(f"--gc takes no claude arguments (got {got})", EXIT_USAGE)
    claude_args = (*passthrough, *verbatim) if args.stage is None else tuple(verbatim)
    return Command(args, env, claude_args, parser)


def show_versions(command: Command) -> int:
    write_stdout(render_versions(command.env))
    return 0


def show_completions(command: Command) -> int:
    write_stdout(completion_script(command.args.completions, command.parser))
    return 0


def run_checks(command: Command) -> int:
    results = check_host(command.env)
    style = Style(colour_enabled(command.env))
    write_stdout(render_checks(results, style), colour=style.colour)
    return 0 if all(result.ok for result in results) else EXIT_RUNTIME


def collect_garbage(command: Command) -> int:
    remove = not command.args.dry_run
    write_stdout(render_gc(garbage_collect(command.state_dir, remove=remove), removed=remove))
    return 0


def take_history(command: Command) -> int:
    write_stdout(move_instance(command.args.take_history, command.env, command.state_dir))
    return 0


def show_profile_list(command: Command) -> int:
    write_stdout(list_profiles(command.state_dir, command.home))
    return 0


def show_profile(command: Command) -> int:
    name = command.args.show_profile
    write_stdout(
        profile_json(load_profile(name, "--show-profile", command.state_dir, command.home))
    )
    return 0


def allow_entry(command: Command) -> int:
    rule = parse_allow_entry(command.args.entry, ALLOW_ORIGIN, ALLOW_ORIGIN)
    save = command.args.save
    edit = profile_edit(command.state_dir, save, command.home, rule) if save else None
    return allow_while_running(current_instance(command.env), rule, edit, command.home)


def show_log(command: Command) -> int:
    try:
        return follow_log(current_instance(command.env))
    except BrokenPipeError:  # claudebox log | head: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_stage(command: Command) -> int:
    return stage_command(command.args.stage, command.claude_args)


def show_dry_run(command: Command) -> int:
    return dry_run(command.args, command.env, command.claude_args)


def run_session(command: Command) -> int:
    return launch_session(command.args, command.env, command.claude_args)


# Which function answers the command line: the first option set wins; a session otherwise.
COMMANDS: Final[tuple[tuple[str, Callable[[Command], int]], ...]] = (
    ("stage", run_stage),
    ("version", show_versions),
    ("completions", show_completions),
    ("check", run_checks),
    ("gc", collect_garbage),
    ("take_history", take_history),
    ("list_profiles", show_profile_list),
    ("show_profile", show_profile),
    ("dry_run", show_dry_run),
)


# The commands a first argument names (claudebox -- allow: the word goes to claude).
SESSION_COMMANDS: Final[Mapping[str, Callable[[Command], int]]] = {
    "allow": allow_entry,
    "log": show_log,
}


def _main(argv: Sequence[str]) -> int:
    command = parse_command(argv, dict(os.environ))
    if command.args.command is not None:
        return SESSION_COMMANDS[command.args.command](command)
    for option, answer in COMMANDS:
        value = getattr(command.args, option)
        if value is not None and value is not False:
            return answer(command)
    return run_session(command)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except ClaudeboxError as error:
        write_stderr(f"claudebox: error: {printable(str(error))}\n")
        return error.exit_code
    except KeyboardInterrupt:
        write_stderr("\n")
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("CLAUDEBOX_DEBUG") == "1":
            raise
        write_stderr(
            f"claudebox: error: internal error ({printable(f'{type(error).__name__}: {error}')}); "
            "re-run with CLAUDEBOX_DEBUG=1 and report it\n"
        )
        return EXIT_RUNTIME


def console_main() -> None:
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # nothing is left to clean up: skip the interpreter's teardown


if __name__ == "__main__":
    console_main()
