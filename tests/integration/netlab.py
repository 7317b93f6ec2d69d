"""A network lab for the network-tier tests: test hosts in network namespaces the test creates.

Never a real external address, never the machine's resolver, and nothing in the machine's own
network namespace: the "host" claudebox runs on is a namespace too (the harness enters it for
every test that uses the lab fixture), with routes the lab sets. Topology (documentation,
benchmarking or private ranges; created as root with `ip netns` and veth pairs made inside the
namespaces; removed in teardown):

                          default route
    HOST netns ─ up0 198.51.100.1/30 ── rt0 198.51.100.2/30 ─ ROUTER netns (forwarding)
     │  │                                                          │ rt1: 203.0.113.1/24,
     │  │ lan0 192.168.77.1/24                                     │ 10.77.0.1/24, 100.64.77.1/24
     │  │ (and 224.0.0.0/4: multicast goes to the LAN)             │
     │  └── lan0 192.168.77.10/24 LAN netns               far0 FAR netns: 203.0.113.10,
     │                                                    10.77.0.10, 100.64.77.10
     │ wg0 100.96.0.1/30
     └──── wg0 100.96.0.2/30 VPN netns: 198.51.100.130 and 198.19.52.10 on its lo
             HOST routes 198.51.100.128/25 via 100.96.0.2 (a public-range network behind a
             gateway that is not the default one) and 198.19.52.0/24 dev wg0 only in table 52,
             which the rule `priority 5270 lookup 52` uses (a prefix of a policy table)

The FAR host plays the internet (203.0.113.10, reached only through the default route) and, with
the same server, a 10.x and a 100.64/10 (CGNAT/tailnet) host: all three sit behind the router,
so only the inet tier's blocking can tell them apart. The LAN host is directly connected and
runs a multicast listener. A TCP service on HOST's 127.0.0.1 and one on its transfer address
198.51.100.1 stand for the host's own services.

Every TCP server answers one fixed line per connection (`hello <name>`) and closes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness import PYTHON, prerequisite_missing

TCP_PORT = 8471
# The system CA bundle (Debian's ca-certificates): what host-side programs verify with.
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# argv: BIND_ADDRESS PORT NAME. Prints "ready" once listening.
TCP_SERVER = r"""
import socket, sys
address, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen(64)
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    try:
        connection.sendall(f"hello {name}\n".encode())
    except OSError:
        pass
    connection.close()
"""

# argv: NAME ADDRESS [NAME ADDRESS ...]. A UDP DNS responder on 127.0.0.1:53: each NAME ->
# its ADDRESS (A), anything else NXDOMAIN. Prints "ready", then every question it answers
# ("query NAME TYPE").
DNS_SERVER = r"""
import socket, struct, sys
records = {name.lower(): address for name, address in zip(sys.argv[1::2], sys.argv[2::2])}
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    data, peer = server.recvfrom(4096)
    try:
        ident = struct.unpack("!H", data[:2])[0]
        labels, index = [], 12
        while data[index]:
            labels.append(data[index + 1 : index + 1 + data[index]].decode())
            index += 1 + data[index]
        qtype = struct.unpack("!H", data[index + 1 : index + 3])[0]
        question = data[12 : index + 5]
    except (IndexError, struct.error, UnicodeDecodeError):
        continue
    name = ".".join(labels).lower()
    print(f"query {name} {qtype}", flush=True)
    answers = b""
    if name in records and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(records[name])
    rcode = 0 if name in records else 3
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    server.sendto(header + question + answers, peer)
"""


# argv: FILE GROUP:PORT... A UDP listener on the LAN host that joins each multicast GROUP on
# its interface and appends every datagram it receives to FILE ("PAYLOAD from SOURCE").
# Prints "ready" once listening.
MULTICAST_LISTENER = r"""
import select, socket, sys
path, listeners = sys.argv[1], []
for spec in sys.argv[2:]:
    group, port = spec.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((group, int(port)))
    membership = socket.inet_aton(group) + socket.inet_aton("192.168.77.10")
    listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    listeners.append(listener)
print("ready", flush=True)
while True:
    for listener in select.select(listeners, [], [])[0]:
        data, peer = listener.recvfrom(2048)
        with open(path, "a") as log:
            log.write(f"{data.decode(errors='replace')} from {peer[0]}\n")
"""
MULTICAST_GROUPS = ("239.255.255.250:1900", "224.0.0.251:5353")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


def start_server(argv: Sequence[str]) -> subprocess.Popen[str]:
    """Start a server; returns once it printed "ready" (or raises with its stderr)."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"server {argv[-1]} did not start: {err.strip()}")
    return process


def tls_prerequisites() -> None:
    """What a lab with HTTPS servers needs: openssl (its certificates) and the system bundle."""
    if shutil.which("openssl") is None:
        prerequisite_missing("openssl is needed for the lab's certificates")
    if not SYSTEM_BUNDLE.is_file():
        prerequisite_missing(f"{SYSTEM_BUNDLE} is missing (ca-certificates)")


@contextmanager
def resolver_namespace(scratch: Path, ca: Path) -> Iterator[str]:
    """A mount namespace (held by a process of its own) whose /etc/resolv.conf names the lab
    host's responder (127.0.0.1) and whose SYSTEM_BUNDLE is the system bundle plus the
    certificate CA: host-side programs there (claudebox's relay and proxy) resolve with the
    lab's responder and trust the lab's servers, as they would the real ones; the machine's
    own resolver is never asked. Yields /proc/PID/ns/mnt (for Box.mountns); its files go in
    SCRATCH (world-readable)."""
    tls_prerequisites()
    resolv = scratch / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    resolv.chmod(0o644)
    bundle = scratch / "ca-certificates.crt"
    bundle.write_text(SYSTEM_BUNDLE.read_text().rstrip("\n") + "\n" + ca.read_text())
    bundle.chmod(0o644)
    holder = subprocess.Popen(
        [
            "unshare", "-m", "--propagation", "slave", "--", "/bin/sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" "$2" '
            "&& echo ready && exec sleep 3600",
            str(resolv), str(bundle), str(SYSTEM_BUNDLE),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        ready = holder.stdout.readline()  # ends when the holder does, at the latest
        assert ready == "ready\n", f"the mount namespace holder did not start: {ready!r}"
        yield f"/proc/{holder.pid}/ns/mnt"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)


@dataclass
class Target:
    """One TCP service the probe tries: `name` is what its server answers."""

    name: str
    address: str
    port: int = TCP_PORT


@dataclass
class NetLab:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    servers: list[subprocess.Popen[str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    loopback_port: int = TCP_PORT + 1
    multicast_log: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cbnet-")))

    def ns(self, role: str) -> str:
        return f"cbnet-{self.tag}-{role}"

    @property
    def host_ns(self) -> str:
        """The namespace claudebox runs in (the harness enters it: Box.netns)."""
        return self.ns("host")

    # The services, by what each stands for.
    internet = Target("far", "203.0.113.10")
    private_10 = Target("far", "10.77.0.10")
    cgnat = Target("far", "100.64.77.10")
    lan = Target("lan", "192.168.77.10")
    host_address = Target("host-address", "198.51.100.1")
    routed_public = Target("vpn", "198.51.100.130")  # via 100.96.0.2, not the default gateway
    policy_table = Target("vpn", "198.19.52.10")  # only in table 52, used by an ip rule
    # Behind the VPN gateway too, but the host routes nothing there until a test adds a route
    # (LATER_ROUTES) while a session runs.
    later = Target("vpn", "198.19.60.10")

    @property
    def host_loopback(self) -> Target:
        return Target("host-loopback", "127.0.0.1", self.loopback_port)

    @property
    def blocked(self) -> list[Target]:
        """What inet must not reach, each a real listening service; the last is the host's
        loopback through pasta's gateway address (mapped to it without --no-map-gw)."""
        return [
            self.private_10,
            self.cgnat,
            self.lan,
            self.host_address,
            self.routed_public,
            self.policy_table,
            self.host_loopback,
            Target("host-loopback", "198.18.0.1", self.loopback_port),
        ]

    def in_ns(self, role: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def host_ip(self, *args: str) -> None:
        """`ip ARGS` in the host namespace (routes a test adds and removes)."""
        ip("-n", self.host_ns, *args)

    def veth(self, left_ns: str, left: str, right_ns: str, right: str) -> None:
        """A veth pair made inside `left_ns` with its peer moved straight into `right_ns`."""
        ip(
            "-n",
            left_ns,
            "link",
            "add",
            left,
            "type",
            "veth",
            "peer",
            "name",
            right,
            "netns",
            right_ns,
        )
        ip("-n", left_ns, "link", "set", left, "up")
        ip("-n", right_ns, "link", "set", right, "up")

    def multicast_received(self) -> list[str]:
        log = self.multicast_log / "received"
        return log.read_text().splitlines() if log.exists() else []

    def up(self) -> None:
        for role in ("host", "rt", "far", "lan", "vpn"):
            ip("netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            ip("-n", self.ns(role), "link", "set", "lo", "up")
        host, rt, far, lan, vpn = (self.ns(role) for role in ("host", "rt", "far", "lan", "vpn"))
        # host <-> router: the uplink with the default route
        self.veth(host, "up0", rt, "rt0")
        ip("-n", host, "addr", "add", "198.51.100.1/30", "dev", "up0")
        ip("-n", rt, "addr", "add", "198.51.100.2/30", "dev", "rt0")
        ip("-n", host, "route", "add", "default", "via", "198.51.100.2")
        # router <-> far host: the internet, a 10.x and a 100.64/10 address
        self.veth(rt, "rt1", far, "far0")
        for router, far_host in (
            ("203.0.113.1/24", "203.0.113.10/24"),
            ("10.77.0.1/24", "10.77.0.10/24"),
            ("100.64.77.1/24", "100.64.77.10/24"),
        ):
            ip("-n", rt, "addr", "add", router, "dev", "rt1")
            ip("-n", far, "addr", "add", far_host, "dev", "far0")
        ip("-n", far, "route", "add", "default", "via", "203.0.113.1")
        subprocess.run(
            self.in_ns("rt", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"),
            check=True,
            timeout=20,
        )
        # host <-> LAN host (directly connected; multicast leaves there)
        self.veth(host, "lan0", lan, "lan0")
        ip("-n", host, "addr", "add", "192.168.77.1/24", "dev", "lan0")
        ip("-n", lan, "addr", "add", "192.168.77.10/24", "dev", "lan0")
        ip("-n", lan, "route", "add", "default", "via", "192.168.77.1")
        ip("-n", host, "route", "add", "224.0.0.0/4", "dev", "lan0")
        # host <-> VPN gateway: a routed public-range network and a policy table's prefix
        self.veth(host, "wg0", vpn, "wg0")
        ip("-n", host, "addr", "add", "100.96.0.1/30", "dev", "wg0")
        ip("-n", vpn, "addr", "add", "100.96.0.2/30", "dev", "wg0")
        ip("-n", vpn, "addr", "add", "198.51.100.130/32", "dev", "lo")
        ip("-n", vpn, "addr", "add", "198.19.52.10/32", "dev", "lo")
        ip("-n", vpn, "addr", "add", f"{self.later.address}/32", "dev", "lo")
        ip("-n", vpn, "route", "add", "default", "via", "100.96.0.1")
        ip("-n", host, "route", "add", "198.51.100.128/25", "via", "100.96.0.2", "dev", "wg0")
        ip("-n", host, "route", "add", "198.19.52.0/24", "dev", "wg0", "table", "52")
        ip("-n", host, "rule", "add", "priority", "5270", "lookup", "52")
        # the services
        for role in ("far", "lan", "vpn"):
            self.servers.append(
                start_server(
                    self.in_ns(role, PYTHON, "-c", TCP_SERVER, "0.0.0.0", str(TCP_PORT), role)
                )
            )
        for address, port, name in (
            ("198.51.100.1", TCP_PORT, "host-address"),
            ("127.0.0.1", self.loopback_port, "host-loopback"),
        ):
            self.servers.append(
                start_server(self.in_ns("host", PYTHON, "-c", TCP_SERVER, address, str(port), name))
            )
        self.multicast_log.chmod(0o755)
        self.servers.append(
            start_server(
                self.in_ns(
                    "lan",
                    PYTHON,
                    "-c",
                    MULTICAST_LISTENER,
                    str(self.multicast_log / "received"),
                    *MULTICAST_GROUPS,
                )
            )
        )

    def down(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                server.kill()
            server.communicate(timeout=10)
        self.servers.clear()
        for namespace in self.namespaces:
            # pids still inside (none expected): kill them, then drop the namespace (and with
            # it every veth end inside)
            pids = subprocess.run(
                ["ip", "netns", "pids", namespace], check=False, capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
        self.namespaces.clear()
        shutil.rmtree(self.multicast_log, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(fixture_store: None) -> Iterator[NetLab]:
    """The lab for a test module (import this fixture); torn down even on failure."""
    reason = lab_prerequisite()
    if reason:
        prerequisite_missing(reason)
    if shutil.which("pasta", path="/usr/local/bin:/usr/bin:/bin") is None:
        prerequisite_missing("pasta is not installed (sudo make test installs Debian 13's)")
    network_lab = NetLab()
    try:
        network_lab.up()
        yield network_lab
    finally:
        network_lab.down()


def lab_prerequisite() -> str | None:
    """Why the lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "the network lab needs root (ip netns, veth pairs)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


# A probe snippet: for each "ADDRESS PORT" argument pair, prints "ADDRESS:PORT <reply or FAIL>".
CONNECT_ALL = r"""
while [ "$#" -ge 2 ]; do
    reply=$(timeout 8 nc -w 3 "$1" "$2" </dev/null 2>/dev/null | head -n 1)
    echo "$1:$2 ${reply:-FAIL}"
    shift 2
done
"""


# The ways the host comes to route LATER's network while a session runs (`ip` argument lists
# for the host namespace: the change, then how to undo it): a route through the VPN gateway, a
# new table with a policy rule, an address on the VPN link (its subnet becomes connected).
LATER_ROUTES = {
    "route": [
        ("route add 198.19.60.0/24 via 100.96.0.2 dev wg0", "route del 198.19.60.0/24"),
    ],
    "table-and-rule": [
        ("route add 198.19.60.0/24 dev wg0 table 60", "route del 198.19.60.0/24 table 60"),
        ("rule add priority 5260 lookup 60", "rule del priority 5260"),
    ],
    "address": [("addr add 198.19.60.1/24 dev wg0", "addr del 198.19.60.1/24 dev wg0")],
}

# A session snippet that connects on request until a file `stop` appears: for each file `ask`
# holding "ADDRESS PORT" (or "CONNECT ADDRESS PORT": a CONNECT through claudebox's proxy), the
# first 400 bytes of the reply, lines joined by "|" (FAIL: none), go to a file `answer`.
ASK_LOOP = r"""
touch ready
while [ ! -e stop ]; do
    if [ -e ask ]; then
        set -- $(cat ask)
        rm -f ask
        if [ "$1" = CONNECT ]; then
            reply=$(printf 'CONNECT %s:%s HTTP/1.1\r\n\r\n' "$2" "$3" \
                | timeout 8 nc -w 3 127.0.0.1 3128 2>/dev/null | head -c 400 | tr '\r\n' ' |')
        else
            reply=$(timeout 8 nc -w 3 "$1" "$2" </dev/null 2>/dev/null \
                | head -c 400 | tr '\r\n' ' |')
        fi
        echo "${reply:-FAIL}" > answer.tmp && mv answer.tmp answer
    fi
    usleep 5000
done
"""


def ask(project: Path, request: str, timeout: float = 30) -> str:
    """One request to a session running ASK_LOOP in `project`, and its answer."""
    answer = project / "answer"
    answer.unlink(missing_ok=True)
    (project / "ask.tmp").write_text(request + "\n")
    (project / "ask.tmp").chmod(0o644)
    (project / "ask.tmp").rename(project / "ask")
    deadline = time.monotonic() + timeout
    while not answer.exists():
        assert time.monotonic() < deadline, f"no answer to {request!r}"
        time.sleep(0.002)
    return answer.read_text().strip()


def connect_arguments(targets: Sequence[Target]) -> list[str]:
    arguments: list[str] = []
    for target in targets:
        arguments += [target.address, str(target.port)]
    return arguments


def parse_replies(stdout: str) -> dict[str, str]:
    replies = {}
    for line in stdout.splitlines():
        key, _, reply = line.partition(" ")
        if ":" in key:
            replies[key] = reply
    return replies


def key(target: Target) -> str:
    return f"{target.address}:{target.port}"


def leftover_processes(marker: str) -> list[str]:
    """Live processes (not zombies) whose command line or cwd mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "stat").read_text()
            if status.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
        except OSError:
            continue
        if marker in cmdline or marker in cwd:
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found
