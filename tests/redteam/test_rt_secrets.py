"""Red team, secrets: nothing secret of the host is readable from inside.

The marker is handed to every probe in two halves ($1 $2) and joined inside, so no process's
command line carries it whole: a hit anywhere, /proc/*/cmdline included, is a leak.
"""

from __future__ import annotations

import grp
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from harness import BUSYBOX_STORE, PYTHON, Box
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
    escape this suite found. claudebox starts the sandbox with a new, empty one, and the
    keyring system calls fail inside (EPERM, the seccomp filter)."""
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
    assert result.stdout.splitlines()[-1] == "keyring errno 1"  # EPERM


KEYS = f"{HELPER}/keys"
EPERM_LINE = "keys errno 1"


def keys_on_host(box: Box, *operations: str) -> list[str]:
    """The keys helper's lines for `operations`, run outside as the test user."""
    result = subprocess.run(
        box.as_user([KEYS, *operations]),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.splitlines()


def host_keys(box: Box) -> dict[str, str]:
    """The host's /proc/keys as the test user reads it: serial (0x...) -> description."""
    listed = {}
    for line in on_host(box, "cat /proc/keys").splitlines():
        fields = line.split(maxsplit=8)
        listed["0x" + fields[0]] = fields[8].rsplit(":", 1)[0]
    return listed


def serial_of(listed: dict[str, str], description: str) -> str:
    [serial] = [serial for serial, named in listed.items() if named == description]
    return serial


@pytest.mark.parametrize("network", TIERS)
def test_the_host_users_keyrings_stay_outside(box: Box, network: str) -> None:
    """The host user's keyring (_uid.UID, what @u is outside) and a host process's named session
    keyring are listed in /proc/keys, and any user namespace of the same user reaches them by
    serial: linked into its own session keyring they are possessed and their keys read, and a
    key added to one appears on the host (the control shows all of it). Inside, /proc/keys and
    /proc/key-users are empty, and add_key, keyctl and request_key fail with EPERM even with
    the host's serials: nothing is read, and nothing planted reaches the host's keyrings."""
    tag = uuid.uuid4().hex[:8]
    user_key, ring, ring_key = f"cb-user-{tag}", f"cb-ring-{tag}", f"cb-session-{tag}"
    user_secret, ring_secret = f"CANARY-{tag}-user", f"CANARY-{tag}-ring"
    [added] = keys_on_host(box, "add", "@u", user_key, user_secret)
    assert added.startswith("keys added "), added
    victim = [KEYS, "session", ring, "add", "@s", ring_key, ring_secret]
    victim += ["exec", f"{BUSYBOX_STORE}/bin/sleep", "600"]
    try:
        with host_process(box, victim):
            deadline = time.monotonic() + 10
            while ring_key not in (listed := host_keys(box)).values():
                assert time.monotonic() < deadline, "the host's session keyring never appeared"
                time.sleep(0.1)
            # @u's serial (not found by name: each user namespace has a _uid.UID of its own)
            [user_ring] = keys_on_host(box, "id", "@u")
            user_ring = f"0x{int(user_ring.removeprefix('keys id ')):08x}"
            assert listed[user_ring] == f"_uid.{box.user.pw_uid}"
            serials = (
                serial_of(listed, ring),
                serial_of(listed, ring_key),
                user_ring,
                serial_of(listed, user_key),
            )
            attack = ["newsession", "link", serials[0], "read", serials[1]]
            attack += ["link", serials[2], "read", serials[3], "request", user_key]
            # The control: the same user outside, from a new session keyring of its own.
            control = keys_on_host(box, *attack, "add", user_ring, f"cb-plant-control-{tag}", "x")
            assert control[1:5] == [
                f"keys linked {serials[0]}",
                f"keys read {serials[1]}: {ring_secret}",
                f"keys linked {serials[2]}",
                f"keys read {serials[3]}: {user_secret}",
            ]
            assert control[5] == f"keys requested {int(serials[3], 16)}"
            assert f"cb-plant-control-{tag}" in host_keys(box).values()
            planted = control[6].removeprefix("keys added ")
            assert keys_on_host(box, "unlink", planted, user_ring) == [f"keys unlinked {planted}"]

            plant = f"cb-plant-{tag}"
            attack += ["add", user_ring, plant, "x", "add", "@u", plant, "x"]
            lists = 'for f in /proc/keys /proc/key-users; do echo "$f $(wc -c < $f)"; done'
            result = box.probe(
                f'{lists}; cat /proc/keys /proc/key-users; exec "$@"',
                KEYS,
                *attack,
                options=tier(network),
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == [
                "/proc/keys 0",
                "/proc/key-users 0",
                *[EPERM_LINE] * 8,
            ]
            assert plant not in host_keys(box).values()
    finally:  # the user keyring outlives the test: what it put there (or a plant) goes
        for serial, name in host_keys(box).items():
            if tag in name:
                keys_on_host(box, "unlink", serial, "@u")


def uuid_line(text: str) -> bool:
    return (
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n", text)
        is not None
    )


HOST_FACTS = """\
cat /etc/passwd; echo --; cat /etc/group; echo --; cat /proc/cmdline; echo --
cat /proc/sys/kernel/random/boot_id; cat /proc/sys/kernel/random/boot_id; echo --
id; whoami; [ -x "${SHELL:-/bin/sh}" ] && echo "shell ${SHELL:-/bin/sh}"
"""


@pytest.mark.parametrize("network", TIERS)
def test_the_hosts_accounts_command_line_and_boot_id_stay_outside(box: Box, network: str) -> None:
    """Inside, /etc/passwd names root and the user only (as the host names the user, with the
    sandbox's home and its shell), /etc/group root's and the user's group, and id and whoami
    still answer; the kernel's command line is empty and the boot id is the session's own (a
    UUID, the same for the session's every read, another the next session). Outside, the same
    user reads every account, the host's command line and its boot id (the control)."""
    host = {
        path: Path(path).read_text()
        for path in ("/etc/passwd", "/proc/cmdline", "/proc/sys/kernel/random/boot_id")
    }
    control = on_host(box, HOST_FACTS).split("--\n")
    assert control[:2] == [host["/etc/passwd"], Path("/etc/group").read_text()]
    assert len(host["/etc/passwd"].splitlines()) > 2  # more than root and the user
    assert control[2:4] == [host["/proc/cmdline"], host["/proc/sys/kernel/random/boot_id"] * 2]
    assert host["/proc/cmdline"].strip()
    user = box.user
    group = grp.getgrgid(user.pw_gid).gr_name
    sessions = [box.probe(HOST_FACTS, options=tier(network)) for _ in range(2)]
    boot_ids = []
    for result in sessions:
        assert result.returncode == 0, result.stderr
        passwd, groups, cmdline, boot_id, identity = result.stdout.split("--\n")
        shell = identity.splitlines()[-1].removeprefix("shell ")
        assert passwd == (
            f"root:x:0:0:root:/root:{shell}\n"
            f"{user.pw_name}:x:{user.pw_uid}:{user.pw_gid}:{user.pw_gecos}:{box.home}:{shell}\n"
        )
        assert groups == f"root:x:0:\n{group}:x:{user.pw_gid}:\n"
        assert identity.splitlines()[:2] == control[4].splitlines()[:2]  # id, whoami
        assert identity.splitlines()[1] == user.pw_name
        assert cmdline == "\n"
        first, second = boot_id[: len(boot_id) // 2], boot_id[len(boot_id) // 2 :]
        assert first == second and uuid_line(first), boot_id
        assert first != host["/proc/sys/kernel/random/boot_id"]
        boot_ids.append(first)
    assert boot_ids[0] != boot_ids[1]
