"""A network lab for the network-tier tests: test hosts in network namespaces the test creates.

Never a real external address, never the machine's resolver. Topology (all documentation or
private ranges; created as root with `ip netns` and veth pairs, removed in teardown):

    host netns ── 198.51.100.1/30 ─ veth ─ 198.51.100.2/30 ── ROUTER netns (forwarding)
       │                                                          │
       │ 192.168.77.1/24                                          │ 203.0.113.1/24, 10.77.0.1/24,
       │                                                          │ 100.64.77.1/24
     veth                                                       veth
       │ 192.168.77.10/24                                         │ 203.0.113.10, 10.77.0.10,
    LAN netns                                                  FAR netns  100.64.77.10

The FAR host plays the internet (203.0.113.10) and, at the same time and with the same server,
a 10.x host and a 100.64/10 (CGNAT/tailnet) host: all three sit behind the router, so only the
inet tier's route blocking can tell them apart. The host reaches them through host routes via
the router (they are not directly connected: the inet tier blocks the host's own subnets). The
LAN host is directly connected. A TCP service on the host's 127.0.0.1 and one on the host's
transfer address 198.51.100.1 stand for the host's own services.

Every server answers one fixed line per connection (`hello <name>`) and closes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness import PYTHON, prerequisite_missing

TCP_PORT = 8471
ROUTED_PREFIXES = ("203.0.113.0/24", "10.77.0.0/24", "100.64.77.0/24")

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

# argv: NAME ADDRESS. A UDP DNS responder on 127.0.0.1:53: NAME -> ADDRESS (A), anything else
# NXDOMAIN. Prints "ready", then every question it answers ("query NAME TYPE").
DNS_SERVER = r"""
import socket, struct, sys
wanted, address = sys.argv[1].lower(), sys.argv[2]
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
    if name == wanted and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(address)
    rcode = 0 if name == wanted else 3
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    server.sendto(header + question + answers, peer)
"""


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
    host_links: list[str] = field(default_factory=list)
    host_routes: list[str] = field(default_factory=list)
    loopback_port: int = TCP_PORT + 1

    def ns(self, role: str) -> str:
        return f"cbnet-{self.tag}-{role}"

    # The services, by what each stands for.
    internet = Target("far", "203.0.113.10")
    private_10 = Target("far", "10.77.0.10")
    cgnat = Target("far", "100.64.77.10")
    lan = Target("lan", "192.168.77.10")
    host_address = Target("host-address", "198.51.100.1")

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
            self.host_loopback,
            Target("host-loopback", "198.18.0.1", self.loopback_port),
        ]

    def in_ns(self, role: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def veth(self, left: str, right: str, left_ns: str | None, right_ns: str) -> None:
        ip("link", "add", left, "type", "veth", "peer", "name", right)
        if left_ns is None:
            self.host_links.append(left)
        else:
            ip("link", "set", left, "netns", left_ns)
        ip("link", "set", right, "netns", right_ns)

    def up(self) -> None:
        for role in ("rt", "far", "lan"):
            ip("netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            ip("-n", self.ns(role), "link", "set", "lo", "up")
        rt, far, lan = self.ns("rt"), self.ns("far"), self.ns("lan")
        # host <-> router (transfer link)
        self.veth(f"cbh{self.tag}", "rt0", None, rt)
        ip("addr", "add", "198.51.100.1/30", "dev", f"cbh{self.tag}")
        ip("link", "set", f"cbh{self.tag}", "up")
        ip("-n", rt, "addr", "add", "198.51.100.2/30", "dev", "rt0")
        ip("-n", rt, "link", "set", "rt0", "up")
        # router <-> far host: the internet, a 10.x and a 100.64/10 address
        self.veth("rt1", "far0", rt, far)
        for router, host in (
            ("203.0.113.1/24", "203.0.113.10/24"),
            ("10.77.0.1/24", "10.77.0.10/24"),
            ("100.64.77.1/24", "100.64.77.10/24"),
        ):
            ip("-n", rt, "addr", "add", router, "dev", "rt1")
            ip("-n", far, "addr", "add", host, "dev", "far0")
        ip("-n", rt, "link", "set", "rt1", "up")
        ip("-n", far, "link", "set", "far0", "up")
        ip("-n", far, "route", "add", "default", "via", "203.0.113.1")
        subprocess.run(
            self.in_ns("rt", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"),
            check=True,
            timeout=20,
        )
        for prefix in ROUTED_PREFIXES:
            ip("route", "add", prefix, "via", "198.51.100.2")
            self.host_routes.append(prefix)
        # host <-> LAN host (directly connected)
        self.veth(f"cbl{self.tag}", "lan0", None, lan)
        ip("addr", "add", "192.168.77.1/24", "dev", f"cbl{self.tag}")
        ip("link", "set", f"cbl{self.tag}", "up")
        ip("-n", lan, "addr", "add", "192.168.77.10/24", "dev", "lan0")
        ip("-n", lan, "link", "set", "lan0", "up")
        ip("-n", lan, "route", "add", "default", "via", "192.168.77.1")
        # the services
        self.servers.append(
            start_server(
                self.in_ns("far", PYTHON, "-c", TCP_SERVER, "0.0.0.0", str(TCP_PORT), "far")
            )
        )
        self.servers.append(
            start_server(
                self.in_ns("lan", PYTHON, "-c", TCP_SERVER, "0.0.0.0", str(TCP_PORT), "lan")
            )
        )
        self.servers.append(
            start_server([PYTHON, "-c", TCP_SERVER, "198.51.100.1", str(TCP_PORT), "host-address"])
        )
        self.servers.append(
            start_server(
                [PYTHON, "-c", TCP_SERVER, "127.0.0.1", str(self.loopback_port), "host-loopback"]
            )
        )

    def down(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                server.kill()
            server.communicate(timeout=10)
        self.servers.clear()
        for prefix in self.host_routes:
            subprocess.run(["ip", "route", "del", prefix], check=False, capture_output=True)
        for link in self.host_links:
            subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)
        for namespace in self.namespaces:
            # pids still inside (none expected): kill them, then drop the namespace
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
