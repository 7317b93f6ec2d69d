#!/usr/bin/env python3
"""The relay's route lookup: what checking the host's routing costs each connection it opens.

Per address, the median time of claudebox's per-connection check (RelayServer.blocked_origin:
the launch's blocked set, then a route lookup in the host's routing at that moment), of the
launch-time check alone (blocked_origin, what the relay did before), of the route lookup alone
(host_route_origin: for an address the launch's set blocks, the check never gets there), and,
for scale, of a TCP connection to a listener on this machine's loopback. An address the
host reaches by its default route is the common case; a blocked one also names the devices
(if_nameindex); a half of a full-tunnel VPN's 0.0.0.0/1 + 128.0.0.0/1 pair also reads the
routes of its table. A benchmark, not a test: nothing is asserted, no packet leaves.

    python3 bench/routes.py [--runs 2000] [ADDRESS ...]     # default: 203.0.113.10 127.0.0.1

Run it in the network namespace whose routing you want to measure (`ip netns exec NS ...`).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import claudebox as cb


def median_us(check: Callable[[], object], runs: int) -> float:
    check()  # warm-up: imports, caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        check()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=2000, help="checks per way (default 2000)")
    parser.add_argument("addresses", nargs="*", help="IPv4 addresses to check")
    args = parser.parse_args()
    addresses = args.addresses or ["203.0.113.10", "127.0.0.1"]
    routing, why = cb.read_host_routing()
    if routing is None:
        sys.exit(f"bench: cannot read this host's routing ({why})")
    blocked = cb.relay_blocked_set(routing)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def lookup(address: str) -> str | None:
        try:
            return cb.host_route_origin(address, 443)
        except OSError as error:
            return f"no route: {error.strerror}"

    def tcp_connection() -> None:
        with socket.create_connection(("127.0.0.1", port)):
            pass
        listener.accept()[0].close()

    with tempfile.TemporaryDirectory() as scratch:
        login = cb.Login(scratch, (), "", "", "openssl", "0" * 16)
        relay = cb.Relay(cb.Tunnel.LISTED, (), (), blocked, scratch, login)
        server = cb.RelayServer(
            relay, [], cb.LoginSession(login, {}), cb.SessionCertificate(b"", b"")
        )
        try:
            reference = median_us(tcp_connection, args.runs)
            print(f"median of {args.runs}, in microseconds:")
            print(f"  a TCP connection on loopback (connect, accept, close): {reference:7.1f}")
            for address in addresses:
                origin = server.blocked_origin(address, 443)
                launch = median_us(lambda a=address: cb.blocked_origin(a, blocked), args.runs)
                live = median_us(lambda a=address: server.blocked_origin(a, 443), args.runs)
                alone = median_us(lambda a=address: lookup(a), args.runs)
                print(f"  {address} ({origin or 'reached'}):")
                print(f"    launch-time set only {launch:7.1f}")
                print(
                    f"    with the route lookup {live:7.1f}  (+{live - launch:.1f}, "
                    f"{live / reference:.2f}x a loopback connection)"
                )
                print(f"    the route lookup alone {alone:7.1f}  ({lookup(address) or 'reached'})")
        finally:
            server.stop()
            listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
