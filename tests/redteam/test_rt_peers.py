"""Red team, the peers' techniques: what other sandboxes' test suites attack, ported here.

The peer suites (facts from their tests, not their code): nono (tests/integration/), ai-jail
(tests/sandbox_escape.rs and the deny list of src/sandbox/seccomp.rs), Anthropic's
sandbox-runtime (test/sandbox/), agent-sandbox.nix (tests/), Codex's Linux sandbox
(codex-rs/linux-sandbox/tests), landrun (test.sh), bubblewrap (tests/test-run.sh,
tests/try-syscall.c) and flatpak (tests/test-run.sh, tests/test-seccomp.sh). The kernel keyrings
(enumerate /proc/keys, link by serial, plant) are in test_rt_secrets.py.

Each test names the suite its technique comes from. Each first runs the technique outside as
the same user (the positive control) or, where the kernel refuses it to that user even there,
shows what the host allows, then runs it inside: in every tier where the tier changes what it
meets (network namespaces, the inet stage), grouped into one sandbox run per tier. The syscalls
busybox cannot make are in tests/integration/helpers/peers.c (one verdict line each).

claudebox's seccomp filter denies less than ai-jail's: only TIOCSTI/TIOCLINUX and the keyring
calls. What it does not deny is asserted to give the sandbox no more than the host gives the
user (io_uring sees only the sandbox's files; bpf, userfaultfd and perf answer as outside), and
what would reach outside (mounts, setns, raw sockets, handles, devices) fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from harness import BASH_STORE, PYTHON, Box, host_git, instance_dir
from netlab import NetLab, start_server
from rtlib import HELPER, SH, TIERS, host_process, on_host, tier
from sessionlib import brief, clean_outcome
from test_allowlist_tier import ALLOWED, curl_store, net_box, session_log, web

__all__ = ["curl_store", "net_box", "web"]  # the allowlist lab's fixtures, used below

PEERS = f"{HELPER}/peers"


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex[:8]}"


def halves(marker: str) -> tuple[str, str]:
    return marker[: len(marker) // 2], marker[len(marker) // 2 :]


def run_as_user(box: Box, argv: list[str], **kwargs: object) -> str:
    """ARGV as the test user outside any sandbox (no shell): its stdout."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        box.as_user(argv),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
        **kwargs,
    ).stdout


def verdicts(output: str) -> dict[str, str]:
    """The helper's lines as NAME -> the rest ("ok", "errno 1", "read: ...")."""
    found = {}
    for line in output.splitlines():
        name, _, rest = line.partition(" ")
        found[name] = rest
    return found


# argv: PORT LINE. An AF_VSOCK stream server on any CID that sends LINE to each client.
VSOCK_SERVER = r"""
import socket, sys
server = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
server.bind((socket.VMADDR_CID_ANY, int(sys.argv[1])))
server.listen(4)
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    connection.sendall(sys.argv[2].encode() + b"\n")
    connection.close()
"""

# Inside: $1 the helper, $2 the secret's host path, $3 $4 its file handle, $5 a vsock port.
KERNEL = r"""
p=$1
$p io_uring "$2"
$p bpf; $p userfaultfd; $p perf
$p byhandle . "$3" "$4"
mkdir -p mnt; $p mount mnt .git/hooks
$p setns 1
$p sockets
$p mknod node
$p vsock 1 "$5"
"""

MOUNT_CALLS = ("mount-tmpfs", "fsopen", "open_tree", "remount-rw", "umount", "pivot_root", "chroot")
RAW_SOCKETS = ("packet", "raw4", "raw6")
AS_ON_THE_HOST = (
    "bpf-prog",
    "bpf-map",
    "userfaultfd",
    "userfaultfd-user",
    "perf-self",
    "perf-cpu",
    "mknod-char",
    "mknod-block",
    "vsock",
)


@pytest.fixture
def vsock_port(box: Box) -> Iterator[int]:
    """A vsock listener of the test user's on the host (any CID): the port."""
    port = 40000 + int(uuid.uuid4().hex[:4], 16) % 20000
    with host_process(box, [PYTHON, "-c", VSOCK_SERVER, str(port), "hello vsock"], ready=True):
        yield port


@pytest.mark.parametrize("network", TIERS)
def test_kernel_interfaces_the_peers_deny_give_the_sandbox_nothing_of_the_host(
    box: Box, network: str, vsock_port: int
) -> None:
    """One sandbox run per tier, each technique one verdict line.

    - io_uring (ai-jail: seccomp_blocks_io_uring_setup; its deny list): a ring's
      IORING_OP_OPENAT is not seen by seccomp filters. Outside it reads ~/.ssh's key; inside
      the ring works (claudebox's filter does not deny it) and finds no such file.
    - bpf, userfaultfd, perf_event_open (ai-jail's deny list; seccomp_blocks_bpf): kernel attack
      surface. The host's sysctls decide (unprivileged_bpf_disabled, unprivileged_userfaultfd,
      perf_event_paranoid); the sandbox gets exactly what the user gets outside, no more.
    - open_by_handle_at (ai-jail's deny list; the "shocker" escape): a handle of ~/.ssh's key
      made outside opens it for root (the control) and not for the user; inside, through the
      project's mount of the same filesystem, EPERM.
    - mount, fsopen, open_tree, a read-write remount and an unmount of the read-only
      .git/hooks, pivot_root, chroot (ai-jail: seccomp_blocks_mount; bubblewrap's and flatpak's
      try-syscall chroot): all work outside in a user namespace of the user's own (the
      control); inside all fail with EPERM.
    - setns into pid 1's namespaces (ai-jail's deny list: setns): outside the user enters a
      namespace of its own process (the control); inside pid 1 is bwrap's init, and entering
      any of its namespaces that differ fails.
    - AF_PACKET and raw IPv4/IPv6 sockets (Codex: sandbox_blocks_ping; ai-jail's SOCK_RAW
      rule): work outside in the user's own network namespace (the control); inside, EPERM in
      every tier (the namespace's owner is not the sandbox's user namespace).
    - mknod of devices (sandbox-runtime: special file types): refused to the user outside
      too, even in a user namespace of its own; inside the same EPERM.
    - AF_VSOCK (not namespaced by the kernel): the sandbox gets what the host gets when it
      connects to a vsock listener of the user's on the local CID. On a kernel without the
      vsock loopback transport (as on the machine these tests were written on) that is no
      connection outside either."""
    marker = canary()
    secret = box.write(box.home / ".ssh" / "id_ed25519", f"{marker} key\n")
    host_git(box, "init", "-q", cwd=box.project)
    handle = run_as_user(box, [PEERS, "handle", str(secret)]).split()
    assert handle[0] == "handle", handle
    # The controls.
    outside = verdicts(
        on_host(box, KERNEL, PEERS, str(secret), handle[1], handle[2], str(vsock_port))
    )
    assert outside["io_uring"] == f"read: {marker} key"
    assert outside["byhandle"] == "errno 1"
    root = subprocess.run(
        [PEERS, "byhandle", str(box.project), *handle[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert root.stdout == f"byhandle read: {marker} key\n"  # the handle is good: root reads it
    hooks = box.mkdir(box.root / "ro")
    in_own_namespaces = verdicts(
        on_host(
            box,
            f"unshare -rm sh -c 'mount --bind {hooks} {hooks} && "
            f"mount -o remount,ro,bind {hooks} && {PEERS} mount mnt {hooks}'; "
            f"unshare -rn {PEERS} sockets",
        )
    )
    assert [in_own_namespaces[name] for name in (*MOUNT_CALLS, *RAW_SOCKETS)] == ["ok"] * 10
    with host_process(box, ["/usr/bin/unshare", "-rn", "/bin/sleep", "300"]) as own:
        for _ in range(50):  # until it runs in its namespaces
            entered = verdicts(run_as_user(box, [PEERS, "setns", str(own.pid)]))
            if entered.get("setns-net") == "ok":
                break
            subprocess.run(["sleep", "0.1"], check=True)
    assert (entered["setns-user"], entered["setns-net"]) == ("ok", "ok")

    result = box.probe(
        KERNEL, PEERS, str(secret), *handle[1:], str(vsock_port), options=tier(network)
    )
    assert result.returncode == 0, brief(result.stderr)
    inside = verdicts(result.stdout)
    assert inside["io_uring"] in ("open errno 2", "errno 1"), inside  # no such file inside
    assert inside["byhandle"] == "errno 1"
    assert {name: inside[name] for name in MOUNT_CALLS} == dict.fromkeys(MOUNT_CALLS, "errno 1")
    entries = {name: value for name, value in inside.items() if name.startswith("setns-")}
    assert len(entries) == 8 and "ok" not in entries.values(), entries
    assert {name: inside[name] for name in RAW_SOCKETS} == dict.fromkeys(RAW_SOCKETS, "errno 1")
    assert {name: inside[name] for name in AS_ON_THE_HOST} == {
        name: outside[name] for name in AS_ON_THE_HOST
    }
    assert inside["ping4"] != "ok" or outside["ping4"] == "ok"


INJECTION_VARIABLES = (
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "NODE_OPTIONS",
    "NODE_PATH",
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PERL5OPT",
    "PERL5LIB",
    "RUBYOPT",
    "RUBYLIB",
    "GIT_CONFIG_PARAMETERS",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
)

# Inside (and in the control): $1 $2 the marker's halves, $3 the store's bash. Prints the
# descriptors of its own, "leak FD TARGET" for any descriptor of any process (pid 1, bwrap's
# init, included) through which the marker is read, each injection variable in its environment
# or any process's, and what the store's bash runs first.
INHERITED = r"""
m="$1$2"
echo "fds $(ls /proc/self/fd | tr '\n' ' ')"
for f in /proc/[0-9]*/fd/*; do
    { timeout 2 cat "$f"; cat "$f"/* "$f"/.ssh/*; } 2>/dev/null | grep -q -- "$m" && echo "leak $f"
done
for v in VARIABLES; do
    env | grep -q "^$v=" && echo "env $v"
    for e in /proc/[0-9]*/environ; do
        tr '\0' '\n' < "$e" 2>/dev/null | grep -q "^$v=" && echo "environ $v $e"
    done
done
"$3" -c 'echo bash-ran'
echo done
""".replace("VARIABLES", " ".join(INJECTION_VARIABLES))


@pytest.mark.parametrize("network", TIERS)
def test_the_launching_shells_descriptors_and_injection_variables_stay_outside(
    box: Box, network: str
) -> None:
    """The shell that launches claudebox holds descriptors (its home, /, a key; a low and a
    high number) and exports injection variables: LD_PRELOAD, NODE_OPTIONS, BASH_ENV,
    PYTHONSTARTUP, ... (nono: test_env_sanitization.sh; the pasted --dry-run's shell is
    integration/test_sandbox.py's). Outside, a child of that shell reads the key through them,
    has every variable and its bash runs BASH_ENV's script (the control). Inside, no process's
    descriptor (bwrap's init, pid 1, included: its descriptors are what bubblewrap holds for
    the sandbox) leads to the key, and no variable is in any environment. (PYTHONHOME is not
    among them: it stops claudebox's own Python on the host, as it would any Python there.)"""
    marker = canary()
    key = box.write(box.home / ".ssh" / "id_ed25519", f"{marker} key\n")
    script = box.write(box.root / "bash-env.sh", f"echo {marker} from BASH_ENV\n", 0o644)
    values = {name: f"/nonexistent/{name.lower()}" for name in INJECTION_VARIABLES}
    values["BASH_ENV"] = str(script)
    held = f'exec 3<{box.home} 7</ 9<{key} 63<{box.home}/.ssh; exec "$@"'
    bash = f"{BASH_STORE}/bin/bash"
    control = run_as_user(
        box,
        [SH, "-c", held, "held", SH, "-c", INHERITED, "control", *halves(marker), bash],
        env=box.env(values),
        cwd=box.project,
    )
    leaks = {line.rsplit("/", 1)[1] for line in control.splitlines() if line.startswith("leak")}
    assert leaks == {"3", "9", "63"}, control
    assert {f"env {name}" for name in INJECTION_VARIABLES} <= set(control.splitlines())
    assert f"{marker} from BASH_ENV" in control.splitlines()
    launch = box.as_user(
        [
            SH,
            "-c",
            held,
            "held",
            PYTHON,
            str(box.module),
            "--yes",
            *tier(network),
            INHERITED,
            *halves(marker),
            bash,
        ]
    )
    result = subprocess.run(
        launch,
        env=box.env(values),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, brief(result.stderr)
    lines = result.stdout.splitlines()
    assert lines[1:] == ["bash-ran", "done"], result.stdout
    fds = set(lines[0].split()[1:])
    assert fds <= {"0", "1", "2", "3"}, fds  # (3: the directory ls reads)


# --- the network: IPv6, IPv4-mapped addresses, ICMP -------------------------------------------

V6_SERVER = r"""
import socket, sys
server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(16)
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    connection.sendall(b"hello lan6\n")
    connection.close()
"""
LAN6, HOST6, V6_PORT = "fd77:77::10", "fd77:77::1", 8475


@pytest.fixture
def lab6(lab: NetLab) -> Iterator[NetLab]:
    """The lab with an IPv6 LAN (fd77:77::/64 on lan0) and a service on the LAN host's
    [fd77:77::10]:8475."""
    for role, address in (("host", HOST6), ("lan", LAN6)):
        subprocess.run(
            lab.in_ns(role, "ip", "-6", "addr", "add", f"{address}/64", "dev", "lan0", "nodad"),
            check=True,
            timeout=20,
        )
    server = start_server(lab.in_ns("lan", PYTHON, "-c", V6_SERVER, LAN6, str(V6_PORT)))
    try:
        yield lab
    finally:
        server.kill()
        server.wait(timeout=10)
        for role, address in (("host", HOST6), ("lan", LAN6)):
            subprocess.run(
                lab.in_ns(role, "ip", "-6", "addr", "del", f"{address}/64", "dev", "lan0"),
                check=False,
                timeout=20,
            )


def mapped(address: str) -> str:
    return f"::ffff:{address}"


@pytest.mark.parametrize("network", ["inet", "allowlist", "none"])
def test_ipv6_ipv4_mapped_addresses_and_icmp_reach_nothing_blocked(
    box: Box, lab: NetLab, lab6: NetLab, network: str
) -> None:
    """IPv6 to the LAN, the LAN, the host and its loopback as IPv4-mapped IPv6 addresses
    (::ffff:a.b.c.d on an AF_INET6 socket: routed as IPv4), and ICMP echo to the LAN and the
    internet (Codex: sandbox_blocks_ping; sandbox-runtime: network restrictions across
    protocols). Outside, the user reaches every service by these addresses and root's raw
    socket gets the LAN's echo reply (the control; the user's own ping socket is refused by
    net.ipv4.ping_group_range). Inside, none is reached; in inet the internet host answers the
    mapped address (the tier works)."""
    targets = [
        (LAN6, V6_PORT),
        (mapped(lab.lan.address), lab.lan.port),
        (mapped(lab.private_10.address), lab.private_10.port),
        (mapped(lab.host_address.address), lab.host_address.port),
        (mapped("127.0.0.1"), lab.loopback_port),
    ]
    snippet = "; ".join(f"{PEERS} tcp {address} {port}" for address, port in targets)
    snippet += f"; {PEERS} tcp {mapped(lab.internet.address)} {lab.internet.port}"
    snippet += f"; {PEERS} ping {lab.lan.address}; {PEERS} ping {lab.internet.address}"
    outside = on_host(box, snippet).splitlines()
    assert outside[:5] == [
        "tcp read: hello lan6",
        "tcp read: hello lan",
        "tcp read: hello far",
        "tcp read: hello host-address",
        "tcp read: hello host-loopback",
    ], outside
    assert outside[5] == "tcp read: hello far"
    root_ping = subprocess.run(
        lab.in_ns("host", PEERS, "ping", lab.lan.address),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert root_ping[1] == "ping-raw reply"
    result = box.probe(snippet, options=tier(network), timeout=120)
    assert result.returncode == 0, brief(result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == 10, lines
    reached = [line for line in lines[:5] if not line.startswith(("tcp errno", "tcp timeout"))]
    assert reached == [], lines
    assert lines[5] == ("tcp read: hello far" if network == "inet" else "tcp errno 101"), lines
    assert [line for line in lines[6:] if line.endswith("reply")] == [], lines


# --- the allowlist proxy's name edge cases ----------------------------------------------------

# Each request is sent to the proxy as it stands (HTTP/1.1, one per connection).
EDGE_REQUESTS = {
    "trailing dot": f"CONNECT {ALLOWED}.:443",
    "case": f"CONNECT {ALLOWED.upper()}:443",
    "plain trailing dot": f"GET http://{ALLOWED}./dot",
    "plain case": f"GET http://{ALLOWED.upper()}/case",
    "userinfo naming the listed name": f"GET http://{ALLOWED}@192.168.77.10:8471/",
    "userinfo with a port": f"GET http://{ALLOWED}:80@lan.claudebox.test:8471/",
    "userinfo in CONNECT": f"CONNECT {ALLOWED}@lan.claudebox.test:443",
    "a fragment before @": f"GET http://lan.claudebox.test:8471#@{ALLOWED}/",
    "decimal address": "GET http://3232255242:8471/",
    "hexadecimal address": "GET http://0xc0a84d0a:8471/",
    "short loopback": "GET http://127.1:8472/",
    "decimal loopback CONNECT": "CONNECT 2130706433:8472",
    "[::1]": "CONNECT [::1]:8472",
    "[::ffff:127.0.0.1]": "GET http://[::ffff:127.0.0.1]:8472/",
    "[::ffff:192.168.77.10]": "GET http://[::ffff:c0a8:4d0a]:8471/",
}

# $@: requests. Prints, per request, the proxy's status line and the last line it sent.
SEND_EACH = r"""
for request in "$@"; do
    host=${request#* http://}; host=${host#CONNECT }; host=${host%%/*}
    reply=$(printf '%s HTTP/1.1\r\nHost: %s\r\n\r\n' "$request" "$host" \
        | timeout 10 nc -w 5 127.0.0.1 3128 | tr -d '\r')
    echo "$(echo "$reply" | head -n 1) | $(echo "$reply" | tail -n 1)"
done
"""

# Outside (the control): what clients make of the same URLs without a proxy.
CONTROL_URLS = {
    "userinfo naming the listed name": f"http://{ALLOWED}@192.168.77.10:8471/",
    "decimal address": "http://3232255242:8471/",
    "hexadecimal address": "http://0xc0a84d0a:8471/",
    "short loopback": "http://127.1:8472/",
    "[::ffff:127.0.0.1]": "http://[::ffff:127.0.0.1]:8472/",
}


def test_the_allowlist_proxys_name_edge_cases_reach_only_the_listed_host(
    net_box: Box, lab: NetLab
) -> None:
    """A trailing dot, other case, user information naming the listed name, names the
    resolver reads as addresses (decimal, hexadecimal, 127.1) and IPv6 literals ([::1],
    ::ffff:), end to end through the real proxy with ALLOWED listed (sandbox-runtime:
    wildcard domain pattern matching, blocked domains; Codex: managed_proxy). Outside,
    curl takes each trick to the LAN or the host's loopback service (the control). Through the
    proxy none reaches either: each is refused (4xx) or reaches the listed host itself."""
    control = [
        run_as_user(
            net_box,
            ["/usr/bin/curl", "-sS", "--http0.9", "--max-time", "5", "--noproxy", "*", url],
            env=net_box.env(),
            cwd=net_box.project,
        ).strip()
        for url in CONTROL_URLS.values()
    ]
    assert control == ["hello lan"] * 3 + ["hello host-loopback"] * 2
    result = net_box.run(
        "--yes",
        "--allow-domain",
        ALLOWED,
        SEND_EACH,
        *EDGE_REQUESTS.values(),
        timeout=180,
    )
    assert result.returncode == 0, brief(result.stderr)
    answers = dict(zip(EDGE_REQUESTS, result.stdout.splitlines(), strict=True))
    tunnel = "HTTP/1.1 200 Connection established | HTTP/1.1 200 Connection established"
    assert {what: answers[what] for what in list(EDGE_REQUESTS)[:4]} == {
        "trailing dot": tunnel,
        "case": tunnel,
        "plain trailing dot": f"HTTP/1.0 200 OK | hello far via http host={ALLOWED} path=/dot",
        "plain case": f"HTTP/1.0 200 OK | hello far via http host={ALLOWED} path=/case",
    }
    refused = {what: answer.split(" | ")[0] for what, answer in list(answers.items())[4:]}
    assert all(line.startswith("HTTP/1.1 400 claudebox: ") for line in refused.values()), answers
    log = session_log(net_box).splitlines()
    allowed = [line for line in log if line.split(" ", 3)[2:3] == ["allowed"]]
    assert len(allowed) == 4 and all(f"-> {lab.internet.address} " in line for line in allowed), (
        allowed
    )


# --- persisted per-project directories, setuid, hardlinks -------------------------------------

# (the instance's entry, where the sandbox sees it)
PERSISTED = (
    ("cache/nix", "~/.cache/nix"),
    ("state", "~/.local/state"),
    ("npm", "~/.npm"),
    ("claude", "~/.claude"),
)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_symlinks_in_place_of_the_persisted_directories_never_lead_outside(
    box: Box, relative: bool
) -> None:
    """flatpak's "various attempts to escape app directory via symlinks" (CVE-2024-42472,
    GHSA-8688-9x26-hhxj; tests/test-run.sh): the per-app directory a sandbox persists is
    replaced by a symlink to a directory the sandbox must not reach (the test plants it from
    outside, as flatpak's does), and the next run must not write there. Here: the instance's
    cache/nix, state, npm and claude (~/.cache/nix, ~/.local/state, ~/.npm and ~/.claude
    inside). The
    control: bubblewrap binding the planted path writes into the target. claudebox launches
    with each planted link moved aside (kept, never followed) and an empty directory in its
    place; nothing reaches the target, whose canary is never read."""
    marker = canary()
    outside = box.mkdir(box.root / "inaccessible")
    box.write(outside / "secret", f"{marker}\n")
    assert box.probe("true").returncode == 0  # the instance exists
    instance = instance_dir(box.home, box.project)
    for entry, _ in PERSISTED:
        path = instance / entry
        shutil.rmtree(path)
        target = os.path.relpath(outside, path.parent) if relative else str(outside)
        path.symlink_to(target)
        os.lchown(path, box.user.pw_uid, box.user.pw_gid)
    control = run_as_user(
        box,
        [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--bind",
            str(instance / "state"),
            "/mnt",
            SH,
            "-c",
            "echo pwned > /mnt/pwned; cat /mnt/secret",
        ],
    )
    assert control == f"{marker}\n"
    (outside / "pwned").unlink()
    writes = "; ".join(
        f"echo pwned > {inside}/pwned; cat {inside}/secret" for _, inside in PERSISTED
    )
    result = box.probe("echo launched; " + writes + " 2>/dev/null; true")
    outcome = clean_outcome(result, str(instance))
    assert marker not in result.stdout
    assert sorted(os.listdir(outside)) == ["secret"], outcome
    assert result.stdout.startswith("launched\n"), outcome
    for entry, _ in PERSISTED:
        path = instance / entry
        aside = sorted(path.parent.glob(f"{path.name}.claudebox-quarantined*"))
        assert path.is_dir() and not path.is_symlink(), entry
        assert [p.is_symlink() for p in aside] == [True], entry


def test_setuid_and_hardlinks_to_read_only_files_give_nothing(box: Box) -> None:
    """A setuid-root program in the project (sandbox-runtime: privilege escalation attempts;
    Codex: test_no_new_privs_is_enabled) runs as root outside, for the user (the control);
    inside, with no_new_privs, as the user. A hardlink to a read-only protected file (the
    project's .git/config, the host's ~/.claude/CLAUDE.md; sandbox-runtime: special file
    types, a hard link pointing outside) would let the sandbox write it: outside the link is
    made and a write through it changes the file (the control, in another repository);
    inside, EXDEV (another mount), and the files are unchanged."""
    host_git(box, "init", "-q", cwd=box.project)
    box.write(box.home / ".claude" / "CLAUDE.md", "be careful\n")
    config = (box.project / ".git" / "config").read_text()
    setuid = box.project / "setuid-peers"
    shutil.copy(PEERS, setuid)
    os.chown(setuid, 0, 0)
    setuid.chmod(0o4755)
    assert on_host(box, "./setuid-peers ids") == f"ids uid {box.user.pw_uid} euid 0\n"
    other = box.mkdir(box.root / "other")
    host_git(box, "init", "-q", cwd=other)
    control = on_host(box, f"cd {other} && ln .git/config linked && echo '[evil]' >> linked")
    assert control == "" and "[evil]" in (other / ".git" / "config").read_text()
    result = box.probe(
        "./setuid-peers ids; grep NoNewPrivs /proc/self/status; "
        "for f in .git/config ~/.claude/CLAUDE.md; do "
        "ln $f linked 2>&1 && echo '[evil]' >> linked; done; true",
        options=tier("none"),
    )
    assert result.returncode == 0, brief(result.stderr)
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"ids uid {box.user.pw_uid} euid {box.user.pw_uid}", "NoNewPrivs:\t1"]
    assert [line.rsplit(": ", 1)[-1] for line in lines[2:]] == ["Invalid cross-device link"] * 2
    assert (box.project / ".git" / "config").read_text() == config
    assert (box.home / ".claude" / "CLAUDE.md").read_text() == "be careful\n"
    assert not (box.project / "linked").exists()


# --- claude's arguments and the launch refusals ----------------------------------------------

BWRAP_OPTIONS = ("--bind", "/", "/hostroot", "--setenv", "LEAK", "x", "--dev-bind", "/", "/r")
SEE = (
    'printf "%s|" "$@"; echo; test -e /hostroot && echo hostroot; test -e /r && echo r; '
    'echo "LEAK=${LEAK-unset}"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
)


def test_claudes_arguments_are_never_options_of_the_sandbox(box: Box) -> None:
    """bwrap options after claude's command (bubblewrap: "options like --dev-bind are
    defanged by --"), with claudebox's --network after them too. Outside, bwrap given them
    before the command mounts / and sets the variable (the control). Through claudebox they
    reach claude as its arguments, verbatim, and change nothing: no host root, no variable,
    and the none tier's loopback only."""
    control = run_as_user(
        box,
        [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--tmpfs",
            "/tmp",
            "--bind",
            "/",
            "/tmp/hostroot",
            "--setenv",
            "LEAK",
            "x",
            SH,
            "-c",
            'test -e /tmp/hostroot/etc && echo "$LEAK"',
        ],
    )
    assert control == "x\n"
    arguments = [*BWRAP_OPTIONS, "--network", "full", "--shell", "--dry-run", "--"]
    result = box.run("--yes", *tier("none"), "--", SEE, *arguments)
    assert result.returncode == 0, brief(result.stderr)
    assert result.stdout.splitlines() == ["|".join(arguments) + "|", "LEAK=unset", "lo"]
    # The documented contract: before --, claudebox's own options are claudebox's, also where
    # claude would read the word as an option's value (README, Confirmation).
    result = box.probe(SEE, "-p", "--network=full", options=tier("none"))
    assert result.returncode == 0, brief(result.stderr)
    assert result.stdout.splitlines()[:2] == ["-p|", "LEAK=unset"]
    assert "network    ! full (--network)" in result.stderr  # the audit says so, in red


def test_the_launch_refuses_home_a_secret_path_and_a_root_above_home(box: Box) -> None:
    """agent-sandbox.nix: test-home-cwd-confirm.sh and test-git-root-home-denied.sh (a
    repository whose root is $HOME); nono: test_sensitive_paths.sh. The control: a project
    launches. $HOME, a project inside ~/.ssh, a directory above $HOME and a project in a
    repository rooted at $HOME (a dotfiles repository) are refused with one line, and nothing
    runs. (/ is refused too, unit/test_plan.py; launched from /, claudebox first surveys the
    whole filesystem for repositories, so it is not run here.)"""
    assert box.probe("echo launched").stdout == "launched\n"
    inside_ssh = box.mkdir(box.home / ".ssh" / "proj")
    in_home_repo = box.mkdir(box.home / "notes")
    refusals = {}
    for name, cwd in (
        ("home", box.home),
        ("inside ~/.ssh", inside_ssh),
        ("above home", box.root),
        ("repository rooted at home", in_home_repo),
    ):
        if name == "repository rooted at home":
            host_git(box, "init", "-q", cwd=box.home)
        result = box.probe("echo launched", cwd=cwd)
        refusals[name] = (result.returncode, result.stdout, result.stderr.splitlines())
    for name, (returncode, stdout, errors) in refusals.items():
        assert (stdout, len(errors)) == ("", 1), (name, errors)
        assert errors[0].startswith("claudebox: error:"), (name, errors)
        assert returncode == 2, (name, errors)


# --- the descriptors bwrap's init holds --------------------------------------------------------


@pytest.mark.parametrize("network", TIERS)
def test_pid_1_holds_no_descriptor_of_the_host(box: Box, network: str) -> None:
    """bwrap's pid 1 (its init) and the launch stage hold descriptors while the sandbox runs;
    claudebox hands bwrap descriptors of every host path it binds (--bind-fd). Any left open
    in a process inside would open the host's directory through /proc/PID/fd (ai-jail's
    pidfd_getfd in its deny list; bubblewrap's bind-fd). The control: outside, a process of
    the user holding a descriptor on the home gives its key to another through /proc/PID/fd.
    Inside: every descriptor of every process is a pipe, a terminal, /dev/null, a socket,
    an anonymous inode or a path the sandbox sees anyway, and none leads to the key."""
    marker = canary()
    box.write(box.home / ".ssh" / "id_ed25519", f"{marker} key\n")
    holder = [SH, "-c", f"exec 5<{box.home}; echo ready; exec /bin/sleep 300"]
    with host_process(box, holder, ready=True) as process:
        control = on_host(box, f"cat /proc/{process.pid}/fd/5/.ssh/id_ed25519")
    assert control == f"{marker} key\n"
    snippet = (
        'for f in /proc/[0-9]*/fd/*; do echo "$f $(readlink "$f")"; done; '
        'm="$1$2"; for f in /proc/[0-9]*/fd/*; do { timeout 2 cat "$f"; cat "$f"/.ssh/*; } '
        '2>/dev/null | grep -q -- "$m" && echo "leak $f"; done; '
        "echo done"
    )
    result = box.probe(snippet, *halves(marker), options=tier(network))
    assert result.returncode == 0, brief(result.stderr)
    lines = result.stdout.splitlines()
    assert lines[-1] == "done" and not [line for line in lines if line.startswith("leak")]
    targets = {line.split(" ", 1)[1] for line in lines[:-1]}
    harmless = ("pipe:[", "socket:[", "anon_inode:", "/dev/", str(box.project))
    assert [target for target in targets if target and not target.startswith(harmless)] == []
