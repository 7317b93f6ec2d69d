"""Record the netlink dumps under tests/unit/netlink/<scenario>/ (run as root: sudo python3 ...).

Each scenario is a network namespace set up here with `ip` (veth pairs whose peers sit in a
second, throwaway namespace), then the four dumps claudebox reads at launch
(claudebox.host_routing_dumps) are written as raw bytes: links.bin, addresses.bin, rules.bin,
routes.bin, and the answers to the route lookups LOOKUPS names, lookup-ADDRESS.bin. Nothing is
added to the machine's own network namespace. The unit tests (test_routing.py) parse these
files; rerun this script only to change a scenario.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

# Scenario -> the `ip` commands run in its namespace ("ns" below; "peer" holds the veth peers).
SCENARIOS = {
    # A laptop: LAN on eth0 with the default route, a WireGuard split route, tailscale's policy
    # table 52 (a subnet route of the tailnet on a public range), a corporate network behind a
    # LAN router that is not the default gateway, a multipath route, an AnyIP range delivered
    # locally, a blackhole, a route in table default, and table 99 no rule looks up.
    "laptop": [
        "link add eth0 type veth peer name p-eth0 netns peer",
        "link add wg0 type veth peer name p-wg0 netns peer",
        "link add tailscale0 type veth peer name p-ts0 netns peer",
        "addr add 192.168.1.23/24 dev eth0",
        "addr add 10.66.66.2/32 dev wg0",
        "addr add 100.101.102.103/32 dev tailscale0",
        "link set eth0 up",
        "link set wg0 up",
        "link set tailscale0 up",
        "route add default via 192.168.1.1 dev eth0",
        "route add 203.0.113.0/24 dev wg0",
        "route add 198.19.0.0/16 via 192.168.1.254 dev eth0",
        "route add 198.18.64.0/18 nexthop via 192.168.1.253 dev eth0"
        " nexthop via 192.168.1.254 dev eth0",
        "route add blackhole 192.0.0.0/24",
        "route add local 198.51.100.200/29 dev lo table local",
        "route add 100.100.100.100/32 dev tailscale0 table 52",
        "route add 100.64.0.0/10 dev tailscale0 table 52",
        "route add 198.51.100.0/25 dev tailscale0 table 52",
        "route add throw 127.0.0.0/8 table 52",
        "route add 198.51.100.224/27 dev eth0 table default",
        "route add 198.51.100.128/26 dev eth0 table 99",
        "rule add priority 5270 lookup 52",
    ],
    # Full-tunnel VPNs: OpenVPN's def1 pair (0.0.0.0/1 + 128.0.0.0/1 via tun0) with the host
    # route to its server, and wg-quick's table 51820 (a default route), its fwmark rule and
    # the suppress_prefixlength rule on main.
    "full-tunnel": [
        "link add eth0 type veth peer name p-eth0 netns peer",
        "link add tun0 type veth peer name p-tun0 netns peer",
        "link add wg1 type veth peer name p-wg1 netns peer",
        "addr add 192.168.1.23/24 dev eth0",
        "addr add 10.8.0.2/24 dev tun0",
        "addr add 10.9.0.2/32 dev wg1",
        "link set eth0 up",
        "link set tun0 up",
        "link set wg1 up",
        "route add default via 192.168.1.1 dev eth0",
        "route add 0.0.0.0/1 via 10.8.0.1 dev tun0",
        "route add 128.0.0.0/1 via 10.8.0.1 dev tun0",
        "route add 198.51.100.7/32 via 192.168.1.1 dev eth0",
        "route add default dev wg1 table 51820",
        "rule add not fwmark 0xca6c lookup 51820 priority 32765",
        "rule add lookup main suppress_prefixlength 0 priority 32764",
    ],
    # A benchmarking lab routed through the LAN: 198.18.0.0/15 covers the inet tier's own
    # link (198.18.0.0/30), which must stay open inside.
    "covering": [
        "link add eth0 type veth peer name p-eth0 netns peer",
        "addr add 192.168.1.23/24 dev eth0",
        "link set eth0 up",
        "route add default via 192.168.1.1 dev eth0",
        "route add 198.18.0.0/15 via 192.168.1.2 dev eth0",
    ],
    # A host network inside the inet tier's own link: an error.
    "overlap": [
        "link add eth0 type veth peer name p-eth0 netns peer",
        "addr add 192.168.1.23/24 dev eth0",
        "link set eth0 up",
        "route add default via 192.168.1.1 dev eth0",
        "route add 198.18.0.2/31 via 192.168.1.2 dev eth0",
    ],
}

# Scenario -> addresses whose route lookup (claudebox.host_route_answer: what the relay asks
# for each connection, here to port 443) is recorded too, as lookup-ADDRESS.bin.
LOOKUPS = {
    "laptop": [
        "8.8.8.8",  # the default route
        "203.0.113.9",  # via wg0
        "198.51.100.9",  # table 52
        "192.168.1.40",  # the LAN, connected
        "192.168.1.23",  # the host's own address
        "192.168.1.255",  # the LAN's broadcast
        "192.0.0.1",  # a blackhole: an error
    ],
    "full-tunnel": [
        "8.8.8.8",  # 0.0.0.0/1 via tun0
        "200.1.2.3",  # 128.0.0.0/1 via tun0
        "198.51.100.7",  # the route to the VPN server
    ],
}

DUMP = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import claudebox
for name, data in claudebox.host_routing_dumps().items():
    with open(f"{{sys.argv[1]}}/{{name}}.bin", "wb") as handle:
        handle.write(data)
for address in sys.argv[2:]:
    with open(f"{{sys.argv[1]}}/lookup-{{address}}.bin", "wb") as handle:
        handle.write(claudebox.host_route_answer(address, 443))
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def record(name: str, commands: list[str]) -> None:
    ns, peer = f"cbrec-{name}", f"cbrec-{name}-peer"
    ip("netns", "add", ns)
    ip("netns", "add", peer)
    try:
        ip("-n", ns, "link", "set", "lo", "up")
        for command in commands:
            ip("-n", ns, *command.replace("netns peer", f"netns {peer}").split())
        target = HERE / name
        target.mkdir(exist_ok=True)
        subprocess.run(
            [
                *("ip", "netns", "exec", ns, sys.executable, "-I", "-c", DUMP, str(target)),
                *LOOKUPS.get(name, ()),
            ],
            check=True,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(["ip", "netns", "del", peer], check=False)


if __name__ == "__main__":
    for scenario, setup in SCENARIOS.items():
        if len(sys.argv) == 1 or scenario in sys.argv[1:]:
            record(scenario, setup)
