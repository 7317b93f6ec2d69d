"""Hostile requests to the relay (issue 24, item 5): non-ASCII digits wherever a number is read,
huge heads, slow clients, more connections than the relay serves, clients that never read,
half-closed connections. Each gets an answer or a closed connection and a log line, never a
traceback, and none keeps the relay from stopping. The parsers on their own, then the relay in
this process, on loopback (the integration tests send the same from inside a sandbox)."""

from __future__ import annotations

import os
import re
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_allowlist import relay_for

import claudebox as cb
from claudebox import HttpHead, Refusal

# Digits str.isdigit() takes and int() refuses ("²"), or takes too (Arabic-Indic, full width),
# and ASCII digits past int()'s 4300-digit limit.
ODD_NUMBERS = ["\u00b2", "1\u00b2", "\u0661", "\uff11", "1" * 5000, "0" * 4400 + "1", "1" * 19]


def poll(condition, what: str, bound: float = 10.0) -> None:
    """Wait until `condition()` holds; fail after `bound` seconds."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# --- the parsers ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ODD_NUMBERS)
def test_a_content_length_that_is_no_small_ascii_number_is_refused(number):
    raw = b"POST / HTTP/1.1\r\nContent-Length: " + number.encode()
    assert cb.parse_head(raw, request=True) == Refusal(400, "a bad or repeated Content-Length")
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: " + number.encode()
    assert cb.parse_head(answer, request=False) == Refusal(502, "a bad or repeated Content-Length")


def test_a_content_length_of_eighteen_digits_is_a_length():
    parsed = cb.parse_head(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 18, request=True)
    assert isinstance(parsed, HttpHead)
    assert cb.body_framing(parsed) == ("length", 10**18 - 1)


@pytest.mark.parametrize("number", [*ODD_NUMBERS, "65536", "0", "-1", "+1", " 1", ""])
def test_a_port_of_anything_but_one_to_five_ascii_digits_is_no_authority(number):
    assert cb.port_number(number) is None
    assert cb.host_of(f"far.test:{number}") is None
    refusal = cb.parse_proxy_request(f"CONNECT far.test:{number} HTTP/1.1".encode())
    assert isinstance(refusal, Refusal) and refusal.status == 400
    refusal = cb.parse_proxy_request(f"GET http://far.test:{number}/ HTTP/1.1".encode())
    assert isinstance(refusal, Refusal) and refusal.status == 400


@pytest.mark.parametrize("number", ["\u00b2", "1" * 5000])
def test_the_request_line_as_bytes_the_client_sends(number):
    """What arrives is bytes (UTF-8 here), read as latin-1: still refused, never raised."""
    refusal = cb.parse_proxy_request(b"CONNECT far.test:" + number.encode() + b" HTTP/1.1")
    assert isinstance(refusal, Refusal) and refusal.status == 400


@pytest.mark.parametrize("port", ["\u00b2", "1" * 5000, "\u0663"])
def test_an_allow_entrys_odd_port_is_a_usage_error_not_a_traceback(port):
    with pytest.raises(cb.ClaudeboxError, match="has no valid port") as raised:
        cb.parse_allow_entry(f"example.org:{port}", "--allow-domain", "--allow-domain")
    assert raised.value.exit_code == cb.EXIT_USAGE


def wire_of(data: bytes, *, close: bool = True) -> tuple[cb.Wire, socket.socket]:
    """A Wire reading `data` from a socket pair (the writing end closed when `close`)."""
    reader, writer = socket.socketpair()
    reader.settimeout(10)
    writer.sendall(data)
    if close:
        writer.shutdown(socket.SHUT_WR)
    return cb.Wire(reader), writer


@pytest.mark.parametrize(
    "size",
    [b"\xc2\xb2", b"\xb2", "\u0663".encode(), b"1" * 16, b"1" * 5000, b"+1", b"-1", b"0x1", b""],
)
def test_a_chunk_size_that_is_no_hex_number_ends_the_body(size):
    wire, writer = wire_of(size + b"\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(ConnectionError, match="a malformed chunk size"):
        list(cb.body_pieces(wire, ("chunked", 0)))
    writer.close()


def test_a_head_longer_than_the_limit_is_refused_with_431():
    wire, writer = wire_of(b"GET / HTTP/1.1\r\nX: " + b"a" * cb.PROXY_HEAD_LIMIT)
    with pytest.raises(cb.HeadRefused) as refused:
        wire.head(within=10)
    assert refused.value.refusal.status == 431
    writer.close()


def test_a_head_cut_short_is_refused_and_an_empty_end_is_none():
    wire, writer = wire_of(b"GET / HTTP/1.1\r\nX: 1")
    with pytest.raises(cb.HeadRefused) as refused:
        wire.head(within=10)
    assert refused.value.refusal == Refusal(400, "the connection ended inside a head")
    writer.close()
    assert wire_of(b"")[0].head(within=10) is None


def dribble(writer: socket.socket, stop: threading.Event, interval: float = 0.2) -> None:
    """A client sending one byte of a head that never ends, every `interval` seconds."""
    with writer:
        while not stop.wait(interval):
            try:
                writer.sendall(b"X")
            except OSError:
                return


@pytest.fixture
def stop_dribbling() -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


def test_a_head_trickling_in_is_cut_off_by_a_deadline_for_the_whole_head(stop_dribbling):
    """A timeout per read never fires for a client sending a byte every 0.2 s: the head as a
    whole has a deadline."""
    wire, writer = wire_of(b"GET / HTTP/1.1\r\nX: ", close=False)
    wire.sock.settimeout(5)  # each read: longer than the head's whole deadline below
    threading.Thread(target=dribble, args=(writer, stop_dribbling), daemon=True).start()
    begun = time.monotonic()
    with pytest.raises(cb.HeadRefused) as refused:
        wire.head(within=1)
    assert refused.value.refusal == Refusal(408, "no complete head within 1 s")
    assert time.monotonic() - begun < 10


def test_a_proxy_request_head_trickling_in_is_cut_off(stop_dribbling, monkeypatch):
    monkeypatch.setattr(cb, "PROXY_TIMEOUT", 1.0)
    reader, writer = socket.socketpair()
    threading.Thread(target=dribble, args=(writer, stop_dribbling), daemon=True).start()
    assert cb.read_request_head(reader) == Refusal(408, "no complete request head within 1 s")
    reader.close()


def test_a_proxy_request_head_too_long_cut_short_or_never_sent():
    reader, writer = socket.socketpair()
    threading.Thread(
        target=lambda: writer.sendall(b"GET http://a.test/ HTTP/1.1\r\nX: " + b"a" * 100_000),
        daemon=True,
    ).start()
    assert cb.read_request_head(reader) == Refusal(431, "a request head longer than 64 KiB")
    reader.close()
    writer.close()
    reader, writer = socket.socketpair()
    writer.sendall(b"CONNECT a.test:443 HTTP/1.1\r\n")
    writer.shutdown(socket.SHUT_WR)  # half closed: it may still read the answer
    assert cb.read_request_head(reader) == Refusal(
        400, "the connection ended inside a request head"
    )
    reader.close()
    reader, writer = socket.socketpair()
    writer.close()
    assert cb.read_request_head(reader) is None


def test_a_head_found_in_pieces_is_split_where_it_ends():
    reader, writer = socket.socketpair()
    for piece in (b"CONNECT a.test:443 HTTP/1.1\r", b"\nHost: a\r\n\r", b"\nrest"):
        writer.sendall(piece)
    assert cb.read_request_head(reader) == (b"CONNECT a.test:443 HTTP/1.1\r\nHost: a", b"rest")


# --- the relay in this process ------------------------------------------------------------


class Flood:
    """A server on this process's loopback that sends to every client without end (what a
    client that never reads leaves the relay to carry)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.flood, args=(connection,), daemon=True).start()

    @staticmethod
    def flood(connection: socket.socket) -> None:
        with connection:
            try:
                while True:
                    connection.sendall(b"x" * 65536)
            except OSError:
                return


@pytest.fixture
def flood() -> Iterator[Flood]:
    server = Flood()
    yield server
    server.server.close()


def log_of(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in sorted((tmp_path / "log").iterdir()))


def answer_of(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """The status line the proxy answers `request` with, or b"" when it only closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        if half_close:
            client.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n" not in data and (chunk := client.recv(65536)):
            data += chunk
    return data.split(b"\r\n", 1)[0]


HOSTILE_REQUESTS = [
    ("CONNECT far.test:\u00b2 HTTP/1.1\r\n\r\n".encode(), b"HTTP/1.1 400 claudebox: CONNECT needs"),
    (b"CONNECT far.test:" + b"1" * 5000 + b" HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 claudebox: CONNECT"),
    (
        "GET http://far.test:\u00b2/ HTTP/1.1\r\n\r\n".encode(),
        b"HTTP/1.1 400 claudebox: not a host",
    ),
    (b"GET http://far.test:" + b"9" * 5000 + b"/ HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 claudebox: not"),
    (
        b"CONNECT far.test:443 HTTP/1.1\r\nHost: far.test:\xb2\r\n\r\n",
        b"HTTP/1.1 403 claudebox: far",
    ),
    (b"GET http://a.test/ HTTP/1.1\r\nX: " + b"a" * 70_000, b"HTTP/1.1 431 claudebox: a request"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"HTTP/1.1 400 claudebox: not an"),
    (b"GET /\x1b]0;owned\x07 HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 claudebox: not a proxy request"),
]


@pytest.mark.parametrize(("request_bytes", "status_line"), HOSTILE_REQUESTS)
def test_a_hostile_request_gets_an_answer_and_a_log_line(
    tmp_path, flood, request_bytes, status_line
):
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    try:
        answer = answer_of(proxy, request_bytes)
    finally:
        server.stop()
    assert answer.startswith(status_line), answer
    assert all(0x20 <= byte <= 0x7E for byte in answer)
    log = log_of(tmp_path)
    assert "refused " in log, log
    assert "internal error" not in log, log


def test_a_half_closed_client_gets_its_answer(tmp_path, flood):
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    try:
        cut = answer_of(proxy, b"CONNECT far.test:443 HTTP/1.1\r\n", half_close=True)
        whole = answer_of(proxy, b"CONNECT far.test:443 HTTP/1.1\r\n\r\n", half_close=True)
        with socket.create_connection(("127.0.0.1", proxy), timeout=10) as silent:
            silent.shutdown(socket.SHUT_WR)
            assert silent.recv(4096) == b""
    finally:
        server.stop()
    assert cut == b"HTTP/1.1 400 claudebox: the connection ended inside a request head"
    assert whole == b"HTTP/1.1 403 claudebox: far.test is not allowed (claudebox allow far.test)"
    poll(lambda: "closed before a request" in log_of(tmp_path), "no log line")


def test_a_slow_client_is_cut_off_whatever_it_trickles(
    tmp_path, monkeypatch, stop_dribbling, flood
):
    monkeypatch.setattr(cb, "PROXY_TIMEOUT", 1.0)
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
    writer = client.dup()
    threading.Thread(target=dribble, args=(writer, stop_dribbling), daemon=True).start()
    try:
        answer = client.recv(4096)  # the read's own timeout: 10 s
    finally:
        client.close()
        server.stop()
    assert answer.startswith(b"HTTP/1.1 408 claudebox: no complete request head within 1 s\r\n")
    assert "refused a request: no complete request head within 1 s" in log_of(tmp_path)


def test_connections_beyond_the_limit_are_closed_and_logged_once_a_second(
    tmp_path, monkeypatch, flood
):
    monkeypatch.setattr(cb, "RELAY_MAX_CONNECTIONS", 4)
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    served = [socket.create_connection(("127.0.0.1", proxy), timeout=10) for _ in range(4)]
    poll(lambda: len(server.handlers) == 4, "the first four are not served")
    crowd = [socket.create_connection(("127.0.0.1", proxy), timeout=10) for _ in range(200)]
    try:
        assert [client.recv(4096) for client in crowd] == [b""] * 200  # closed, not left open
    finally:
        for client in (*served, *crowd):
            client.close()
        server.stop()
    log = log_of(tmp_path)
    lines = [line for line in log.splitlines() if "unserved: 4 open already" in line]
    assert 1 <= len(lines) <= 20, log  # not one per connection: a flood fills no disk
    assert re.search(r"\(and \d+ more since\)|closed \d+ more connections unserved", log), log


def thread_cpu_seconds(stat: int) -> float:
    """The CPU time of the thread whose /proc/self/task/TID/stat is open as `stat`."""
    fields = os.pread(stat, 4096, 0).decode().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / 100  # clock ticks: USER_HZ is 100 on Linux


def test_out_of_descriptors_the_relay_closes_the_connection_and_does_not_spin(tmp_path, flood):
    """accept() failing with EMFILE leaves the connection pending and the listener readable:
    a loop that only retries spins at 100% of a CPU and the client waits for ever. With its
    reserve descriptor the relay closes each such connection; without one (the system's
    table full: ENFILE) it waits between attempts."""
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    clients = [socket.socket() for _ in range(4)]  # their descriptors before the limit
    stat = os.open(f"/proc/self/task/{server.acceptor.native_id}/stat", os.O_RDONLY)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    assert server.reserve is not None and server.reserve < lowest_free
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
        for client in clients[:3]:
            client.settimeout(10)
            client.connect(("127.0.0.1", proxy))
        assert [client.recv(4096) for client in clients[:3]] == [b""] * 3
        poll(lambda: server.reserve is not None, "the reserve is not taken again")
        os.close(server.reserve)  # as if it were gone too
        server.reserve = None
        clients[3].connect(("127.0.0.1", proxy))  # pending: the listener stays readable
        before = thread_cpu_seconds(stat)
        time.sleep(2)
        spent = thread_cpu_seconds(stat) - before
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        os.close(stat)
    try:
        assert spent < 1, f"the accept loop used {spent:.2f} s of CPU in 2 s"
        poll(lambda: len(server.handlers) == 1, "the pending connection is not served after")
    finally:
        for client in clients:
            client.close()
        server.stop()
    log = log_of(tmp_path)
    assert "unserved: cannot accept (Too many open files)" in log, log


def test_a_client_that_never_reads_is_cut_off_when_nothing_moves(tmp_path, monkeypatch, flood):
    monkeypatch.setattr(cb, "RELAY_STALL_TIMEOUT", 1.0)
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        client.sendall(f"CONNECT localhost:{flood.port} HTTP/1.1\r\n\r\n".encode())
        poll(
            lambda: "(cut off: the client stalled for 1 s)" in log_of(tmp_path),
            "the tunnel of a client that never reads was not cut off",
        )
    finally:
        client.close()
        server.stop()
    assert f"closed CONNECT localhost:{flood.port}: " in log_of(tmp_path)


def test_the_relay_stops_promptly_whatever_its_clients_do(tmp_path, flood, stop_dribbling):
    """Clients that never read (their tunnels blocked on a full buffer), slow clients, silent
    ones and more than the relay serves, all open when the session ends."""
    server, (proxy, _forwarded) = relay_for(tmp_path, flood, 1)
    clients = []
    for _ in range(40):
        client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        client.sendall(f"CONNECT localhost:{flood.port} HTTP/1.1\r\n\r\n".encode())
        clients.append(client)
    for _ in range(40):
        client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        threading.Thread(target=dribble, args=(client.dup(), stop_dribbling), daemon=True).start()
        clients.append(client)
    clients += [socket.create_connection(("127.0.0.1", proxy), timeout=10) for _ in range(300)]
    poll(lambda: len(server.handlers) == cb.RELAY_MAX_CONNECTIONS, "not every slot is taken")
    poll(lambda: log_of(tmp_path).count("allowed CONNECT") == 40, "the tunnels are not open")
    time.sleep(0.5)  # the tunnels' buffers fill
    begun = time.monotonic()
    server.stop()
    took = time.monotonic() - begun
    for client in clients:
        client.close()
    assert took < 10, f"stop() took {took:.1f} s"
    poll(lambda: not server.handlers, "relay threads outlive stop()")
    assert log_of(tmp_path).endswith("session ended\n")
