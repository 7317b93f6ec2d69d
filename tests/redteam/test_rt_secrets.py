"""Red team, secrets: nothing secret of the host is readable from inside.

The marker is handed to every probe in two halves ($1 $2) and joined inside, so no process's
command line carries it whole: a hit anywhere, /proc/*/cmdline included, is a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from harness import PYTHON, Box
from rtlib import HELPER, TIERS, host_process, on_host, tier, unix_server

SECRET_FILES = (
    ".ssh/id_ed25519",
    ".ssh/config",
    ".gnupg/private-keys-v1.d/key.key",
    ".aws/credentials",
    ".config/gcloud/application_default_credentials.json",
    ".config/sops/age/keys.txt",
    ".age/key.txt",
    ".netrc",
    ".git-credentials",
    ".docker/config.json",
    ".kube/config",
    ".password-store/bank.gpg",
    "other-project/.env",
)

# Reads each path given after the two marker halves; prints "read PATH" for each hit.
READ_EACH = r"""
m="$1$2"; shift 2
for f in "$@"; do grep -q -- "$m" "$f" 2>/dev/null && echo "read $f"; done
echo read-done
"""

# Walks every file but /proc /sys /dev, then every process's environ and cmdline and what each
# /proc/PID/root shows at $3, then its own environment: prints each place the marker is found.
WALK = r"""
m="$1$2"
# /nix/store is world-readable on the host, not a secret, and large (the real nix tests build
# into it): it is not walked.
find / -path /proc -prune -o -path /sys -prune -o -path /dev -prune -o -path /nix/store -prune \
    -o -type f -print 2>/dev/null | while read -r f; do grep -l -- "$m" "$f" 2>/dev/null; done
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline /proc/1/environ /proc/1/cmdline; do
    tr '\0' '\n' < "$f" 2>/dev/null | grep -q -- "$m" && echo "$f"
done
for r in /proc/[0-9]*/root /proc/1/root; do
    grep -q -- "$m" "$r$3" 2>/dev/null && echo "$r$3"
done
env | grep -q -- "$m" && echo own-env
echo walk-done
"""


def halves(marker: str) -> tuple[str, str]:
    middle = len(marker) // 2
    return marker[:middle], marker[middle:]


def plant(box: Box, marker: str) -> list[str]:
    paths = []
    for relative in SECRET_FILES:
        path = box.write(box.home / relative, f"{marker} in {relative}\n")
        paths.append(str(path))
    return paths


def test_secret_files_in_home_are_unreadable(box: Box) -> None:
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    paths = plant(box, marker)
    control = on_host(box, READ_EACH, *halves(marker), *paths)
    assert control.split("\n")[:-2] == [f"read {path}" for path in paths]
    result = box.probe(READ_EACH, *halves(marker), *paths)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "read-done\n"


def test_a_walk_of_everything_finds_only_the_planted_control(box: Box) -> None:
    """A bounded walk of / plus /proc/*/environ, /proc/*/cmdline, /proc/*/root and /proc/1."""
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    plant(box, marker)
    secret = str(box.home / ".ssh" / "id_ed25519")
    box.write(box.project / "control.txt", f"{marker} control\n")
    victim_env = {"PATH": "/usr/bin:/bin", "LEAK": marker}
    with host_process(
        box, ["/bin/sh", "-c", "sleep 300; exit 0", marker], env=victim_env
    ) as victim:
        # Control: outside, the host process's environ, cmdline and root all give it away.
        control = on_host(
            box,
            'm="$1$2"; tr "\\0" "\\n" < /proc/$3/environ | grep -q -- "$m" && echo environ; '
            'tr "\\0" "\\n" < /proc/$3/cmdline | grep -q -- "$m" && echo cmdline; '
            'grep -q -- "$m" /proc/$3/root$4 && echo root',
            *halves(marker),
            str(victim.pid),
            secret,
        )
        assert control.split() == ["environ", "cmdline", "root"]
        result = box.probe(
            WALK,
            *halves(marker),
            secret,
            env={"AWS_SECRET_ACCESS_KEY": marker, "GITHUB_TOKEN": marker, "OTHER": marker},
            timeout=180,
        )
        assert victim.poll() is None
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(box.project / "control.txt"), "walk-done"]


@pytest.mark.parametrize("network", TIERS)
def test_secret_named_host_variables_stay_out(box: Box, network: str) -> None:
    """Also /proc/1/environ: bwrap's own environment (full and none start bwrap directly)."""
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    names = (
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "OPENAI_API_KEY",
        "NPM_TOKEN",
        "VAULT_TOKEN",
        "DATABASE_PASSWORD",
        "SSH_AUTH_SOCK",
        "GPG_AGENT_INFO",
        "KUBECONFIG",
        "DOCKER_AUTH_CONFIG",
        "PLAIN_SETTING",
    )
    snippet = (
        'm="$1$2"; env | grep -q -- "$m" && echo own-env; '
        "for f in /proc/[0-9]*/environ; do "
        'tr "\\0" "\\n" < "$f" 2>/dev/null | grep -q -- "$m" && echo "$f"; done; '
        "echo ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY:+set}"
    )
    env = dict.fromkeys(names, marker)
    env["ANTHROPIC_API_KEY"] = "sk-ant-control"  # control: the one allowlisted key does enter
    result = box.probe(snippet, *halves(marker), env=env, options=tier(network))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ANTHROPIC_API_KEY=set"]


def test_an_ssh_agent_socket_in_xdg_runtime_dir_is_unreachable(box: Box) -> None:
    runtime = box.mkdir(box.root / "run" / "user" / str(box.user.pw_uid))
    runtime.chmod(0o700)
    agent = runtime / "ssh-agent.socket"
    attack = f"{HELPER}/uconnect {agent}; ls -A {runtime} 2>&1 | head -n 1"
    env = {"XDG_RUNTIME_DIR": str(runtime), "SSH_AUTH_SOCK": str(agent)}
    with unix_server(box, str(agent), "hello agent"):
        assert on_host(box, attack).splitlines()[0] == "uconnect ok: hello agent"
        result = box.probe(attack, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "uconnect errno 2"  # ENOENT: the runtime directory is not there at all
    assert "No such file or directory" in lines[1]


def test_other_projects_transcripts_history_and_todos_are_invisible(box: Box) -> None:
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    claude = box.home / ".claude"
    for relative in (
        "projects/-home-user-other/session.jsonl",
        "history.jsonl",
        "todos/other-agent.json",
        "file-history/abc/1.txt",
        "shell-snapshots/snap.sh",
        "ide/1234.lock",
        "session-env/x/env",
        "paste-cache/p.txt",
    ):
        box.write(claude / relative, f"{marker} {relative}\n")
    box.write(claude / "CLAUDE.md", f"{marker} control: shared read-only\n")
    result = box.probe('grep -rl -- "$1$2" ~/.claude ~/.claude.json; echo done', *halves(marker))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(claude / "CLAUDE.md"), "done"]


def test_host_claude_json_mcp_tokens_and_other_projects_stay_out(box: Box) -> None:
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    host_json = {
        "theme": "control-theme",
        "mcpServers": {"gh": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": marker}}},
        "projects": {"/elsewhere": {"mcpServers": {"db": {"env": {"PW": marker}}}}},
        "customApiKeyResponses": {"approved": [marker]},
    }
    box.write(box.home / ".claude.json", json.dumps(host_json))
    result = box.probe('cat ~/.claude.json; grep -c -- "$1$2" ~/.claude.json', *halves(marker))
    assert result.returncode == 1, result.stderr  # grep -c found nothing
    assert json.loads(result.stdout.rsplit("}", 1)[0] + "}") == {"theme": "control-theme"}


def test_secret_paths_reached_through_symlinks_in_the_project_are_not_there(box: Box) -> None:
    """A symlink in the project leads to the host path, which does not exist inside."""
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    plant(box, marker)
    os.symlink(box.home / ".ssh", box.project / "keys")
    control = on_host(box, 'grep -rl -- "$1$2" keys/; echo done', *halves(marker))
    assert "keys/id_ed25519" in control
    result = box.probe('grep -rl -- "$1$2" keys/ 2>&1; echo done', *halves(marker))
    assert marker not in result.stdout
    assert result.stdout.splitlines()[-1] == "done"
    assert Path(box.project / "keys").is_symlink()


@pytest.mark.parametrize("network", TIERS)
def test_the_session_keyring_stays_outside(box: Box, network: str) -> None:
    """bwrap keeps its caller's session keyring (kerberos KEYRING: caches, keyctl secrets): the
    escape this suite found. claudebox now starts the sandbox with a new, empty one."""
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    keyring = f"{HELPER}/keyring"
    session = [keyring, "add", "claudebox-canary", marker]
    control = subprocess.run(
        box.as_user([*session, keyring, "find", "claudebox-canary"]),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert control.stdout.splitlines()[-1] == f"keyring found: {marker}"
    result = subprocess.run(
        box.as_user(
            [
                *session,
                PYTHON,
                str(box.module),
                "--yes",
                *tier(network),
                f"{keyring} find claudebox-canary",
            ]
        ),
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "keyring errno 126"  # ENOKEY
