#!/usr/bin/env python3
"""What carrying a connection by name costs, against the proxy: claudebox's RelayServer in
this process, on loopback.

The allowlist tier's two ways for a tool: CONNECT through the proxy (tools that use one), and a
connection to the address the relay's resolver gave the name (tools that ignore proxies; a raw
port, so no ClientHello or Host is peeked at). Against a local TCP server: the median time of a
whole exchange on a new connection (connect, a request line, the answer, the close), direct,
by CONNECT and carried by name (the DNS question asked once, as a tool's resolver caches it);
then large transfers each way, interleaved (download: the server sends; upload: the client
sends), direct, by CONNECT and by name. The relay here is the one a session runs (the same
class, the same threads), minus the sandbox. A benchmark, not a test: nothing is asserted.

    python3 bench/transparent.py [--runs 300] [--mib 256] [--transfers 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import claudebox as cb

CHUNK = b"x" * (1 << 20)


def serve(server: socket.socket) -> None:
    """Per connection: a line "ping", "get N" (send N MiB) or "put N" (read N MiB), answered."""
    while True:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=answer, args=(connection,), daemon=True).start()


def answer(connection: socket.socket) -> None:
    with connection:
        line = b""
        while not line.endswith(b"\n"):
            chunk = connection.recv(1)
            if not chunk:
                return
            line += chunk
        word, _, count = line.decode().strip().partition(" ")
        if word == "get":
            for _ in range(int(count)):
                connection.sendall(CHUNK)
        elif word == "put":
            left = int(count) << 20
            while left > 0 and (chunk := connection.recv(1 << 16)):
                left -= len(chunk)
            connection.sendall(b"done\n")
        else:
            connection.sendall(b"pong\n")


def open_way(way: str, port: int, proxy: int, carried: tuple[str, int]) -> socket.socket:
    if way == "direct":
        return socket.create_connection(("127.0.0.1", port), timeout=30)
    if way == "by name":
        return socket.create_connection(carried, timeout=30)
    connection = socket.create_connection(("127.0.0.1", proxy), timeout=30)
    connection.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += connection.recv(4096)
    return connection


def exchange(connection: socket.socket, line: bytes, *, upload: int = 0) -> int:
    """Send `line` (and `upload` MiB), read the answer to its end; bytes moved."""
    with connection:
        connection.sendall(line)
        for _ in range(upload):
            connection.sendall(CHUNK)
        total = 0
        while chunk := connection.recv(1 << 16):
            total += len(chunk)
        return total + (upload << 20)


def resolve(resolver: int, name: bytes) -> str:
    labels = b"".join(bytes([len(label)]) + label for label in name.split(b"."))
    question = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(question, ("127.0.0.1", resolver))
        return socket.inet_ntoa(client.recv(512)[-4:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=300, help="exchanges per way (default 300)")
    parser.add_argument("--mib", type=int, default=256, help="transfer size (default 256)")
    parser.add_argument("--transfers", type=int, default=5, help="transfers per way (default 5)")
    args = parser.parse_args()
    upstream = socket.create_server(("127.0.0.1", 0))
    port = upstream.getsockname()[1]
    threading.Thread(target=serve, args=(upstream,), daemon=True).start()
    with tempfile.TemporaryDirectory() as scratch:
        login = cb.Login(scratch, (), "", "", "openssl", "0123456789abcdef")
        rules = (cb.AllowRule("localhost", (port,), "bench"),)
        # nothing blocked: the upstream is on loopback (a session refuses loopback)
        relay = cb.Relay(cb.Tunnel.LISTED, rules, (), (), scratch, login)
        proxy_listener = socket.create_server(("127.0.0.1", 0))
        transparent_listener = socket.create_server(("0.0.0.0", 0))
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        resolver.bind(("127.0.0.1", 0))
        server = cb.RelayServer(
            relay,
            [(proxy_listener, cb.PROXY_PORT)],
            cb.LoginSession(login, {}),
            cb.SessionCertificate(b"", b""),
            cb.Transparent([(transparent_listener, port)], resolver, []),
        )
        proxy = proxy_listener.getsockname()[1]
        try:
            start = time.perf_counter()
            address = resolve(resolver.getsockname()[1], b"localhost")
            asked = time.perf_counter() - start
            carried = (address, transparent_listener.getsockname()[1])
            ways = ("direct", "CONNECT", "by name")
            times: dict[str, list[float]] = {way: [] for way in ways}
            for _ in range(args.runs):
                for way in ways:
                    start = time.perf_counter()
                    exchange(open_way(way, port, proxy, carried), b"ping\n")
                    times[way].append(time.perf_counter() - start)
            print(f"the resolver's answer (first question): {asked * 1e6:.0f} us")
            print(f"an exchange on a new connection, median of {args.runs}:")
            medians = {way: statistics.median(values) for way, values in times.items()}
            for way in ways:
                extra = (medians[way] - medians["direct"]) * 1e6
                print(f"  {way:<8} {medians[way] * 1e6:7.0f} us  (+{extra:.0f} us over direct)")
            print(
                "  by name against CONNECT: "
                f"{(medians['by name'] - medians['CONNECT']) * 1e6:+.0f} us"
            )
            for direction, line, upload in (
                ("download", f"get {args.mib}\n".encode(), 0),
                ("upload", f"put {args.mib}\n".encode(), args.mib),
            ):
                rates: dict[str, list[float]] = {way: [] for way in ways}
                for _ in range(args.transfers):
                    for way in ways:
                        start = time.perf_counter()
                        size = exchange(open_way(way, port, proxy, carried), line, upload=upload)
                        rates[way].append(size / (time.perf_counter() - start) / (1 << 20))
                print(f"a {args.mib} MiB {direction}, median of {args.transfers}:")
                for way in ways:
                    print(f"  {way:<8} {statistics.median(rates[way]):7.0f} MiB/s")
        finally:
            server.stop()
            upstream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
