"""Red team, network: in the inet and none tiers the LAN, the tailnet/CGNAT range, private
addresses, the host's own addresses and loopback services, the gateway and the host's abstract
unix sockets are unreachable. The full tier reaches them: asserted too, as documentation.

Test hosts live in network namespaces the test creates (tests/integration/netlab.py); the
abstract and path unix sockets are bound by the test on the host. Every read has a timeout.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from harness import PYTHON, Box, wait_for
from netlab import CONNECT_ALL, NetLab, connect_arguments, key
from netlab import parse_replies as replies_of
from rtlib import HELPER, SH, TIERS, host_process, on_host, tier, unix_server


def test_control_the_host_reaches_every_attacked_service(box: Box, lab: NetLab) -> None:
    targets = [lab.internet, *lab.blocked[:-1]]
    stdout = subprocess.run(
        box.as_user([SH, "-c", CONNECT_ALL, "control", *connect_arguments(targets)]),
        env=box.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert replies_of(stdout) == {key(target): f"hello {target.name}" for target in targets}


@pytest.mark.parametrize("network", ["inet", "allowlist", "none"])
def test_lan_cgnat_host_and_gateway_are_unreachable(box: Box, lab: NetLab, network: str) -> None:
    targets = [lab.internet, *lab.blocked]
    result = box.probe(CONNECT_ALL, *connect_arguments(targets), options=tier(network), timeout=180)
    assert result.returncode == 0, result.stderr
    expected = {key(target): "FAIL" for target in lab.blocked}
    # inet's control: the internet host answers through the same sandbox
    expected[key(lab.internet)] = "hello far" if network == "inet" else "FAIL"
    assert replies_of(result.stdout) == expected


@pytest.mark.parametrize("network", TIERS)
def test_abstract_unix_socket_on_the_host(box: Box, network: str) -> None:
    """inet, allowlist and none: a network namespace of their own, so the host's abstract
    sockets (X11's @/tmp/.X11-unix/X0, dbus, ...) are not there. full shares the host's:
    documented."""
    name = f"@claudebox-redteam-{uuid.uuid4().hex[:8]}"
    attack = f"{HELPER}/uconnect {name}"
    with unix_server(box, name, "hello abstract"):
        assert on_host(box, attack) == "uconnect ok: hello abstract\n"
        result = box.probe(attack, options=tier(network))
    assert result.returncode == 0, result.stderr
    if network == "full":
        assert result.stdout == "uconnect ok: hello abstract\n"  # the documented exception
    else:
        assert result.stdout == "uconnect errno 111\n"  # ECONNREFUSED: no such name here


@pytest.mark.parametrize("network", TIERS)
def test_unix_sockets_in_the_hosts_tmp_are_invisible_in_every_tier(box: Box, network: str) -> None:
    """X11's /tmp/.X11-unix and friends: the sandbox's /tmp is its own tmpfs."""
    path = box.mkdir(box.root / ".X11-unix") / "X99"  # a path in the host's /tmp
    attack = f"{HELPER}/uconnect {path}"
    with unix_server(box, str(path), "hello x11"):
        assert on_host(box, attack) == "uconnect ok: hello x11\n"
        result = box.probe(attack, options=tier(network))
    assert result.stdout == "uconnect errno 2\n", result.stderr


def test_inet_listeners_inside_are_not_forwarded_to_the_host(box: Box, lab: NetLab) -> None:
    """pasta's default (-t auto) would bind every port the sandbox listens on, on the host: an
    inbound channel from the LAN. The listener answers the host only if pasta forwards it."""
    port = lab.loopback_port + 7
    ready = box.project / "listening"
    process = box.start(
        "--yes",
        *tier("inet"),
        f"(echo hello inside | timeout 12 nc -l -p {port}) & sleep 1; touch listening; wait",
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(ready)
        time.sleep(2)  # pasta's automatic forwarding scans every second
        connect = f"timeout 5 nc -w 3 127.0.0.1 {port} </dev/null"
        assert on_host(box, f"{connect} || echo FAIL").strip() == "FAIL"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


# argv: PORT. A UDP echo server on the host's 127.0.0.1. Prints "ready" once bound.
UDP_ECHO = r"""
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = server.recvfrom(512)
    server.sendto(b"echo " + data, peer)
"""


def test_inet_host_loopback_udp_services_are_unreachable(box: Box, lab: NetLab) -> None:
    """pasta's default (-U auto) would forward the sandbox's loopback UDP ports to the host's."""
    port = lab.loopback_port + 9
    attack = f"{HELPER}/udpping 127.0.0.1 {port}"
    with host_process(box, [PYTHON, "-c", UDP_ECHO, str(port)], ready=True):
        assert on_host(box, attack) == "udpping reply: echo ping\n"
        time.sleep(1.5)  # pasta's automatic forwarding scans every second
        result = box.probe(attack, options=tier("inet"))
    # ECONNREFUSED: nothing listens on the sandbox's own loopback, nothing forwards it
    assert result.stdout in ("udpping errno 111\n", "udpping timeout\n"), result.stderr


def test_inet_sockets_told_their_device_do_not_bypass_the_blocks(box: Box, lab: NetLab) -> None:
    """With an output device (SO_BINDTODEVICE, unprivileged since Linux 5.7, or IP_PKTINFO) the
    kernel treats an unreachable route as "routing tables are wrong" and sends on the link, and
    pasta answers ARP for any address: routes alone let this reach the LAN (verified). The
    nftables rules inside drop it."""
    attack = f"{HELPER}/netsend"
    targets = [lab.lan, lab.host_address, lab.routed_public, lab.policy_table, lab.private_10]
    control = on_host(box, f"{attack} control {lab.lan.address} {lab.lan.port} tcp-device=lan0")
    assert control == "tcp-device=lan0 reply: hello lan\n"
    snippet = "; ".join(
        f"{attack} x {target.address} {target.port} tcp-device device pktinfo" for target in targets
    )
    result = box.probe(snippet, options=tier("inet"), timeout=180)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 * len(targets), result.stdout
    assert [line.split(" ", 1)[1] for line in lines] == [
        outcome for _ in targets for outcome in ("timeout", "errno 1", "errno 1")
    ], result.stdout
