"""Red team, namespaces and capabilities: nothing inside holds a capability, nested user
namespaces are refused, and the inet tier's routes and nftables rules survive every attempt to
remove them.

In the inet tier pasta makes its command root with all capabilities of its namespaces; bwrap's
own user namespace (--unshare-user --uid/--gid) drops them before anything of the user runs.
"""

from __future__ import annotations

import errno
import subprocess
import uuid

import pytest
from harness import Box
from rtlib import HELPER, TIERS, on_host, tier

NESTED = (
    "unshare -r id -u; echo r=$?; unshare -rn ip link set lo down; echo rn=$?; "
    "unshare -U true; echo U=$?; unshare -m true; echo m=$?; unshare -n true; echo n=$?"
)


def test_control_the_test_user_may_create_user_namespaces_outside(box: Box) -> None:
    assert on_host(box, "unshare -r id -u; unshare -rn ip link set lo down && echo rn-ok") == (
        "0\nrn-ok\n"
    )


@pytest.mark.parametrize("network", TIERS)
def test_no_capabilities_and_no_nested_namespaces(box: Box, network: str) -> None:
    result = box.probe(
        f"grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status; {NESTED}", options=tier(network)
    )
    lines = result.stdout.splitlines()
    caps = [line.split() for line in lines if line.startswith("Cap")]
    assert caps and all(int(value, 16) == 0 for _, value in caps), caps
    statuses = [line for line in lines if "=" in line]
    assert statuses and all(not line.endswith("=0") for line in statuses), statuses


def test_inet_routes_survive_removal_through_nested_namespaces(box: Box) -> None:
    result = box.probe(
        "ip -4 route > before; "
        "ip route del 10.0.0.0/8; echo del=$?; ip route flush table main; echo flush=$?; "
        "unshare -rn ip route del 100.64.0.0/10; echo nested=$?; "
        "ip link set eth0 down 2>/dev/null; ip addr flush dev lo; echo link=$?; "
        "ip -4 route > after; cmp before after && echo unchanged; grep -c unreachable after",
        options=tier("inet"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("=")[0] for line in lines[:4]] == ["del", "flush", "nested", "link"]
    assert all(not line.endswith("=0") for line in lines[:4]), lines
    assert lines[4] == "unchanged"
    assert int(lines[5]) >= 5  # 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, host nets


def test_inet_nftables_rules_survive_deletion_inside(box: Box) -> None:
    """The nftables tables that drop multicast, broadcast and device-bound sockets cannot be
    deleted from inside: the kernel refuses (EPERM). Control: as root in a fresh network
    namespace the same request reaches nftables, which answers that no such table exists."""
    namespace = f"cbnft-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        control = subprocess.run(
            ["ip", "netns", "exec", namespace, f"{HELPER}/nftdel", "2", "claudebox"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    assert control == f"nftdel errno {errno.ENOENT}\n"
    result = box.probe(
        f"{HELPER}/nftdel 2 claudebox; {HELPER}/nftdel 10 claudebox; "
        f"{HELPER}/netsend x 224.0.0.251 5353 device",
        options=tier("inet"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"nftdel errno {errno.EPERM}\n" * 2 + f"device errno {errno.EPERM}\n"
