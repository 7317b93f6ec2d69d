#!/usr/bin/env python3
"""The allowlist proxy's own cost: claudebox's RelayServer, in this process, on loopback.

Against a local HTTP server: the median time of a whole request on a new connection, direct,
through the proxy as a plain request, and through a CONNECT tunnel; and the throughput of one
large download, direct and through a tunnel. The relay here is the one a session runs (the
same class, the same threads), minus the sandbox: what it adds to a request, not the network.
A benchmark, not a test: nothing is asserted.

    python3 bench/proxy.py [--runs 200] [--mib 256]
"""

from __future__ import annotations

import argparse
import http.server
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import claudebox as cb

CHUNK = b"x" * (1 << 20)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        size = int(self.path.strip("/") or 0) << 20
        self.send_response(200)
        self.send_header("Content-Length", str(size or 3))
        self.send_header("Connection", "close")
        self.end_headers()
        if not size:
            self.wfile.write(b"ok\n")
        for _ in range(size >> 20):
            self.wfile.write(CHUNK)


def fetch(port: int, path: str, via: int | None, connect: bool) -> int:
    """Bytes of the whole response to GET PATH on the server at PORT (through the proxy at
    VIA: a plain request, or CONNECT first)."""
    with socket.create_connection(("127.0.0.1", via or port), timeout=30) as connection:
        if via and connect:
            connection.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += connection.recv(4096)
        target = f"http://localhost:{port}{path}" if via and not connect else path
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        total = 0
        while chunk := connection.recv(1 << 16):
            total += len(chunk)
        return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=200, help="requests per way (default 200)")
    parser.add_argument("--mib", type=int, default=256, help="download size (default 256)")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as scratch:
        rule = cb.AllowRule("localhost", (port,), "bench")
        login = cb.Login(scratch, (), "", "", "openssl", "0123456789abcdef")
        # nothing blocked: the upstream is on loopback (a session refuses loopback)
        relay = cb.Relay(cb.Tunnel.LISTED, (rule,), (), (), scratch, login)
        listener = socket.create_server(("127.0.0.1", 0))
        proxy = listener.getsockname()[1]
        relay_server = cb.RelayServer(
            relay,
            [(listener, cb.PROXY_PORT)],
            cb.LoginSession(login, {}),
            cb.SessionCertificate(b"", b""),
        )
        ways = {"direct": (None, False), "plain": (proxy, False), "CONNECT": (proxy, True)}
        try:
            times: dict[str, list[float]] = {way: [] for way in ways}
            for _ in range(args.runs):
                for way, (via, connect) in ways.items():
                    start = time.perf_counter()
                    fetch(port, "/", via, connect)
                    times[way].append(time.perf_counter() - start)
            print(f"a request on a new connection, median of {args.runs}:")
            direct = statistics.median(times["direct"])
            for way, values in times.items():
                median = statistics.median(values)
                print(f"  {way:<8} {median * 1e6:7.0f} us  (+{(median - direct) * 1e6:.0f} us)")
            print(f"a {args.mib} MiB download:")
            for way in ("direct", "CONNECT"):
                via, connect = ways[way]
                start = time.perf_counter()
                size = fetch(port, f"/{args.mib}", via, connect)
                rate = size / (time.perf_counter() - start) / (1 << 20)
                print(f"  {way:<8} {rate:7.0f} MiB/s")
        finally:
            relay_server.stop()
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
