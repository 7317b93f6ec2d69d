"""A fixed, synthetic HostFacts: the pure builders' input for unit tests."""

from __future__ import annotations

import dataclasses

import claudebox as cb

HOME = "/home/alice"
PROJECT = f"{HOME}/src/proj"
CWD = f"{PROJECT}/sub"
STATE = f"{HOME}/.claudebox"
BASH_BIN = "/nix/store/" + "a" * 32 + "-bash-5.2p37/bin"
COREUTILS_BIN = "/nix/store/" + "b" * 32 + "-coreutils-9.5/bin"
CLAUDE_BIN = "/nix/store/" + "c" * 32 + "-claude-code-2.1.197/bin"
CLAUDE = f"{CLAUDE_BIN}/claude"
BWRAP = "/nix/store/" + "d" * 32 + "-bubblewrap-0.10.0/bin/bwrap"
PASTA = "/nix/store/" + "f" * 32 + "-passt-2025_05_03/bin/pasta"
PYTHON = "/nix/store/" + "9" * 32 + "-python3-3.12.8/bin/python3"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

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


def make_host(**changes: object) -> cb.HostFacts:
    host = cb.HostFacts(
        env=dict(HOST_ENV),
        uid=1000,
        gid=100,
        home=HOME,
        cwd=CWD,
        project=PROJECT,
        canonical_root=PROJECT,
        git_common_dir=None,
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
        tools={"bash": f"{BASH_BIN}/bash", "sh": f"{BASH_BIN}/sh", "env": f"{COREUTILS_BIN}/env"},
        ca_bundle=CA_BUNDLE,
        git_name="Alice Liddell",
        git_email="alice@example.org",
        existing=frozenset(
            {
                "/etc/resolv.conf",
                "/etc/hosts",
                "/etc/passwd",
                "/etc/static",
                f"{PROJECT}/.git/hooks",
                f"{PROJECT}/.git/config",
                f"{PROJECT}/.envrc",
                f"{PROJECT}/.claude/settings.json",
            }
        ),
        claude_dir_entries={
            ".credentials.json": False,
            "settings.json": False,
            "projects": True,
            "plugins": True,
            "mystery": True,
            "notes.txt": False,
        },
        host_claude_json={
            "theme": "dark",
            "hasCompletedOnboarding": True,
            "userID": "u-123",
            "mcpServers": {"db": {"env": {"DB_PASSWORD": "canary"}}},
            "projects": {"/home/alice/other": {"history": ["secret prompt"]}},
            "customApiKeyResponses": {"approved": ["abc"]},
        },
        state_dir=STATE,
        pasta=PASTA,
        python=PYTHON,
        routing=cb.HostRouting(
            addresses=(
                cb.HostAddress("127.0.0.1", 8, "lo"),
                cb.HostAddress("192.168.1.23", 24, "eth0"),
                cb.HostAddress("203.0.113.7", 24, "eth1"),
            )
        ),
    )
    return dataclasses.replace(host, **changes)  # type: ignore[arg-type]
