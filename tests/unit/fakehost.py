"""A fixed, synthetic HostFacts: the pure builders' input for unit tests.

The project is a git repository whose protected paths are walked the way protected_walks walks
them (cb.walk over a synthetic tree instead of the disk): test_fakehost.py checks that the
synthetic walks equal the real ones over the same tree built in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import claudebox as cb

HOME = "/home/alice"
PROJECT = f"{HOME}/src/proj"
CWD = f"{PROJECT}/sub"
STATE = f"{HOME}/.claudebox"
CLAUDE_DIR = f"{HOME}/.claude"
BASH_BIN = "/nix/store/" + "a" * 32 + "-bash-5.2p37/bin"
COREUTILS_BIN = "/nix/store/" + "b" * 32 + "-coreutils-9.5/bin"
CLAUDE_BIN = "/nix/store/" + "c" * 32 + "-claude-code-2.1.197/bin"
CLAUDE = f"{CLAUDE_BIN}/claude"
BWRAP = "/nix/store/" + "d" * 32 + "-bubblewrap-0.10.0/bin/bwrap"
PASTA = "/nix/store/" + "f" * 32 + "-passt-2025_05_03/bin/pasta"
OPENSSL = "/nix/store/" + "9" * 32 + "-openssl-3.4.1-bin/bin/openssl"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ETC_PRESENT = frozenset({"/etc/resolv.conf", "/etc/hosts", "/etc/passwd", "/etc/static"})
FULL = cb.Options(tier=cb.Tier.FULL, tier_origin="--network")
# The proxy variables the relay sets, in both cases.
PROXY_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")

# The inet tier's blocked set on any host, as the audit describes it (before the host's own).
INET_FIXED_BLOCKED = [
    "10.0.0.0/8 (private range)",
    "172.16.0.0/12 (private range)",
    "192.168.0.0/16 (private range)",
    "100.64.0.0/10 (CGNAT and tailnet range)",
    "169.254.0.0/16 (link-local)",
    "224.0.0.0/4 (multicast)",
    "240.0.0.0/4 (reserved, with broadcast)",
    "198.18.0.3/32 (the inet link's broadcast)",
]

HOST_ENV = {
    "HOME": HOME,
    "PATH": f"/run/wrappers/bin:{HOME}/.local/bin:/run/current-system/sw/bin",
    "SHELL": "/run/current-system/sw/bin/bash",
    "TMPDIR": "/run/user/1000/tmp",
    "XDG_RUNTIME_DIR": "/run/user/1000",
    "NIX_SSL_CERT_FILE": "/etc/ssl/certs/host-bundle.crt",
    "SSL_CERT_FILE": "/etc/ssl/certs/host-bundle.crt",
    "TERM": "xterm-256color",
    "LANG": "en_US.UTF-8",
    "USER": "alice",
    "EDITOR": "vim",
    "ANTHROPIC_API_KEY": "sk-ant-api03-canary",
    "AWS_SECRET_ACCESS_KEY": "aws-canary",
    "GITHUB_TOKEN": "ghp_canary",
    "SSH_AUTH_SOCK": "/run/user/1000/ssh-agent",
    "GH_HOST": "github.example.org",
}

# What exists in the project (relative path -> Kind, or a symlink as (target, resolved) when it
# leads nowhere, else (target, resolved, the kind of what it leads to)).
Tree = Mapping[str, cb.Kind | tuple[str, str] | tuple[str, str, cb.Kind]]
PROJECT_TREE: Tree = {
    "sub": cb.Kind.DIR,
    ".git": cb.Kind.DIR,
    ".git/hooks": cb.Kind.DIR,
    ".git/config": cb.Kind.FILE,
    ".envrc": cb.Kind.FILE,
    ".claude": cb.Kind.DIR,
    ".claude/settings.json": cb.Kind.FILE,
}

# ~/.claude: name -> Kind, or a symlink as in Tree. probe_claude_home reports only the entries
# that bring the host's in: read-only, overlaid or layered (claude_home below drops the others).
CLAUDE_ENTRIES: Tree = {
    ".credentials.json": cb.Kind.FILE,
    "settings.json": cb.Kind.FILE,
    "projects": cb.Kind.DIR,
    "plugins": cb.Kind.DIR,
    "mystery": cb.Kind.DIR,
    "notes.txt": cb.Kind.FILE,
}
HOST_SETTINGS = {"theme": "dark", "model": "opus"}  # the host's ~/.claude/settings.json
CLAUDE_JSON = {
    "theme": "dark",
    "hasCompletedOnboarding": True,
    "userID": "u-123",
    "mcpServers": {"db": {"env": {"DB_PASSWORD": "canary"}}},
    "projects": {"/home/alice/other": {"history": ["secret prompt"]}},
    "customApiKeyResponses": {"approved": ["abc"]},
}
# The user keys of CLAUDE_JSON: what the project's ~/.claude.json follows.
HOST_USER_KEYS = {"hasCompletedOnboarding": True, "theme": "dark", "userID": "u-123"}
# The state table's names that bring the host's in, read-only, overlaid or layered (test_plan
# checks which): each keeps its room among the CLAUDE_HOME_SHOWN entries.
FROM_HOST_NAMED = [n for n, t in cb.CLAUDE_STATE_TABLE.items() if t in cb.CLAUDE_FROM_HOST]


def entry(path: str, kind: cb.Kind | tuple[str, str] | tuple[str, str, cb.Kind] | None) -> cb.Entry:
    if kind is None:
        return cb.Entry(path, cb.Kind.MISSING)
    if isinstance(kind, tuple):
        if len(kind) == 2:
            target, resolved = kind
            assert not resolved, f"{path}: a symlink that leads somewhere names what it reaches"
            return cb.Entry(path, cb.Kind.LINK, target)
        target, resolved, reached = kind
        return cb.Entry(path, cb.Kind.LINK, target, resolved, reached)
    return cb.Entry(path, kind)


def fake_walk(tree: Tree, root: str, relative: str, create: bool = False) -> cb.Walk:
    """cb.walk over `tree` (absolute paths) instead of the disk."""
    steps = []
    path = root
    for part in relative.split("/"):
        path = os.path.join(path, part)
        step = entry(path, tree.get(path))
        steps.append(step)
        if step.kind is not cb.Kind.DIR:
            break
    return cb.Walk(root, relative, tuple(steps), create)


def under(top: str, tree: Tree) -> Tree:
    """`tree` (paths relative to `top`) with absolute paths."""
    return {os.path.join(top, relative): kind for relative, kind in tree.items()}


def git_dir_walks(tree: Tree, root: str, prefix: str) -> list[cb.Walk]:
    """cb.git_dir_walks for a git directory without worktrees or modules."""
    return [
        fake_walk(tree, root, os.path.join(prefix, name), name == "hooks")._replace(
            placeholder=cb.GIT_PLACEHOLDERS["commondir"] if name == "commondir" else None
        )  # (config.worktree: no placeholder while extensions.worktreeConfig is off)
        for name in cb.GIT_DIR_PROTECTED
    ]


def project_walks(top: str, tree: Tree) -> tuple[cb.Walk, ...]:
    """protected_walks for a repository with its .git directory in `top` (no worktrees,
    submodules or core.hooksPath), or for a directory outside git when `tree` (relative to
    `top`) has no .git directory."""
    absolute = under(top, tree)
    walks = [fake_walk(absolute, top, rel) for rel in cb.PROTECTED_PROJECT_PATHS]
    if tree.get(".git") is not cb.Kind.DIR:
        return (*walks, fake_walk(absolute, top, ".git"))
    return (*walks, *git_dir_walks(absolute, top, ".git"))


def claude_home(
    home: str = HOME, entries: Tree = CLAUDE_ENTRIES, json: Mapping[str, object] | None = None
) -> cb.ClaudeHome:
    """What probe_claude_home reports for a ~/.claude holding `entries` (name -> Kind): the
    entries that bring something of the host's in, read-only, overlaid or layered (the named
    ones, then others by name up to CLAUDE_HOME_SHOWN in all), sorted by path; the project's
    own and the login stay out."""
    others = sorted(name for name in entries if name not in cb.CLAUDE_STATE_TABLE)
    room = max(cb.CLAUDE_HOME_SHOWN - len(FROM_HOST_NAMED), 0)
    shown = [name for name in FROM_HOST_NAMED if name in entries] + others[:room]
    found = tuple(entry(f"{home}/.claude/{name}", entries[name]) for name in sorted(shown))
    left_out = max(len(others) - room, 0)
    return cb.ClaudeHome(f"{home}/.claude", found, CLAUDE_JSON if json is None else json, left_out)


def git_layout(top: str, tree: Tree) -> cb.GitLayout:
    if tree.get(".git") is cb.Kind.DIR:
        return cb.GitLayout(top, top, f"{top}/.git", False)
    return cb.GitLayout(top, top, "", False)


def make_host(
    project: str | None = None,
    cwd: str | None = None,
    tree: Tree = PROJECT_TREE,
    home: str = HOME,
    **changes: object,
) -> cb.HostFacts:
    """The synthetic host: its home at `home`, its project at `project` (default
    HOME/src/proj) holding `tree` (relative paths), the current directory `cwd` (default:
    PROJECT/sub when the tree has it, else the project); `changes` replace other fields."""
    project = project or f"{home}/src/proj"
    if cwd is None:
        cwd = f"{project}/sub" if tree.get("sub") is cb.Kind.DIR else project
    host = cb.HostFacts(
        env={**HOST_ENV, "HOME": home},
        uid=1000,
        gid=100,
        euid=1000,
        home=home,
        cwd=cwd,
        git=git_layout(project, tree),
        machine="x86_64",
        path_dirs=(
            "/run/wrappers/bin",
            f"{HOME}/.local/bin",
            BASH_BIN,
            COREUTILS_BIN,
            BASH_BIN,
            "/nix/store",
            "/usr/bin",
        ),
        claude=CLAUDE,
        bwrap=BWRAP,
        pasta=PASTA,
        tools={"bash": f"{BASH_BIN}/bash", "sh": f"{BASH_BIN}/sh", "env": f"{COREUTILS_BIN}/env"},
        ca_bundle=CA_BUNDLE,
        system_ca_bundle=CA_BUNDLE,
        openssl=OPENSSL,
        git_name="Alice Liddell",
        git_email="alice@example.org",
        etc_present=ETC_PRESENT,
        claude_home=claude_home(home),
        layers=cb.Layers(host_settings=HOST_SETTINGS, settings=None, claude_json=None, seen=None),
        protected=project_walks(project, tree),
        state_dir=f"{home}/.claudebox",
        account=cb.Account("alice", "Alice Liddell,,,", "users"),
        routing=cb.HostRouting(
            addresses=(
                cb.HostAddress("127.0.0.1", 8, "lo"),
                cb.HostAddress("192.168.1.23", 24, "eth0"),
                cb.HostAddress("203.0.113.7", 24, "eth1"),
            )
        ),
    )
    return host._replace(**changes)


# --- helpers of the edge's tests ---------------------------------------------------------------


def names_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name os.scandir gives claudebox from now on (the list grows as they are read)."""
    read: list[str] = []
    scandir = os.scandir

    class Counted:
        def __init__(self, path: str) -> None:
            self.listing = scandir(path)

        def __iter__(self):
            for item in self.listing:
                read.append(item.name)
                yield item

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *_exc: object) -> None:
            self.listing.close()

    monkeypatch.setattr(cb.os, "scandir", Counted)
    return read


def tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under root: kind, mode, mtime (a listing that any creation would change)."""
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        out[str(path.relative_to(root))] = (kind, st.st_mode, st.st_mtime_ns)
    return out


PRINTER = """\
import os, sys, json
def read(fd):
    try:
        return os.read(fd, 1 << 20).hex()
    except OSError:
        return None  # not open
json.dump({"argv": sys.argv[1:], "data": {fd: read(fd) for fd in range(9, 30)}}, sys.stdout)
"""


def bash_script(text: str) -> str:
    """The script a --dry-run text hands bash: the quoted here-document's body."""
    first, _, rest = text.partition("\n")
    end = first.removeprefix("bash /dev/fd/3 3<<'").removesuffix("'")
    assert first == f"bash /dev/fd/3 3<<'{end}'", first
    assert rest.endswith(f"\n{end}\n"), rest[-200:]
    return rest[: -len(end) - 1]


def pasted_run(
    tmp_path: Path, plan: cb.SandboxPlan, shell_env: Mapping[str, str], shell: str = "bash"
) -> tuple[str, dict[str, object]]:
    """The --dry-run text, and what it hands the launcher (replaced by a printer) pasted into
    `shell` without its host setup: {"argv": its arguments, "data": descriptor (9 to 29) -> its
    data in hex, or None}."""
    printer = tmp_path / "printer"
    printer.write_text(f"#!{sys.executable}\n{PRINTER}")
    printer.chmod(0o755)
    text = cb.render_dry_run(plan, [str(printer)])
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    script = bash_script(text)
    assert script.startswith(setup)
    first, _, rest = text.partition("\n")
    pasted = first + "\n" + rest.replace(setup, "", 1)  # (the setup makes the plan's home)
    env = {**shell_env, "PATH": os.environ["PATH"]}
    out = subprocess.run([shell, "-c", pasted], capture_output=True, text=True, check=True, env=env)
    return text, json.loads(out.stdout)
