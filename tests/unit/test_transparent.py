"""The allowlist tier for tools that ignore the proxy: the resolver's DNS parser and answers,
the TLS ClientHello's server name, the Host check, and the relay carrying connections by name
(in this process, on loopback), with hostile input of every kind."""

from __future__ import annotations

import random
import socket
import ssl
import struct
import time

import pytest
from test_allowlist import NO_CERTIFICATE, Echo, login_of, read_until

import claudebox as cb
from claudebox import AllowRule, Refusal

RULES = (
    AllowRule("allowed.test", (8080,), "test"),
    AllowRule("*.wild.test", (80, 443), "test"),
    AllowRule("203.0.113.10", (80, 443), "test"),
)


def query(name: bytes, qtype: int = 1, *, ident: int = 0x1234, flags: int = 0x0100) -> bytes:
    """A DNS query datagram asking `name` (dotted, as bytes) for `qtype` in class IN."""
    labels = b"".join(bytes([len(label)]) + label for label in name.split(b".") if label)
    return (
        struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def decoded(response: bytes) -> tuple[int, int, int, list[str]]:
    """(id, answer code, questions, A addresses) of a resolver's answer."""
    ident, flags, questions, answers, _ns, _ar = struct.unpack_from("!HHHHHH", response)
    assert flags & 0x8000  # an answer
    offset = 12
    for _ in range(questions):
        while response[offset]:
            offset += 1 + response[offset]
        offset += 5
    addresses = []
    for _ in range(answers):
        pointer, kind, klass, _ttl, length = struct.unpack_from("!HHHIH", response, offset)
        assert (pointer, kind, klass, length) == (0xC00C, 1, 1, 4)
        addresses.append(socket.inet_ntoa(response[offset + 12 : offset + 16]))
        offset += 16
    assert offset == len(response)
    return ident, flags & 0xF, questions, addresses


# --- the resolver --------------------------------------------------------------------------


def test_allowed_names_get_an_address_of_their_own_for_the_session():
    names = cb.SyntheticNames()
    first = cb.answer_dns(query(b"allowed.test"), RULES, names)
    assert decoded(first.response) == (0x1234, 0, 1, ["127.77.0.1"])
    assert first.note == "resolver: allowed.test is 127.77.0.1 inside"
    # Any letter case (the question is echoed as asked), a trailing dot, a wildcard's name.
    again = cb.answer_dns(query(b"ALLOWED.Test.", ident=7), RULES, names)
    assert decoded(again.response) == (7, 0, 1, ["127.77.0.1"]) and again.note == ""
    assert b"\x07ALLOWED\x04Test\x00" in again.response
    wild = cb.answer_dns(query(b"a.wild.test"), RULES, names)
    assert decoded(wild.response)[3] == ["127.77.0.2"]
    assert (names.name_at("127.77.0.1"), names.name_at("127.77.0.2")) == (
        "allowed.test",
        "a.wild.test",
    )
    assert names.name_at("127.0.0.1") is None and names.name_at("127.77.0.3") is None
    # The recursion-desired bit is echoed; every answer is authoritative.
    flags = struct.unpack_from(
        "!H", cb.answer_dns(query(b"allowed.test", flags=0), RULES, names).response, 2
    )[0]
    assert flags & 0x0100 == 0 and flags & 0x0400


def test_other_types_of_an_allowed_name_have_no_data_and_other_names_do_not_exist():
    names = cb.SyntheticNames()
    for qtype in (28, 16, 255):  # AAAA, TXT, ANY
        answer = cb.answer_dns(query(b"allowed.test", qtype), RULES, names)
        assert decoded(answer.response) == (0x1234, cb.DNS_NOERROR, 1, []) and answer.note == ""
    for name, shown in (
        (b"other.test", "other.test"),
        (b"wild.test", "wild.test"),  # a wildcard's own name is not under it
        (b"203.0.113.10", "203.0.113.10"),  # an address rule is no name
        (b"x.allowed.test", "x.allowed.test"),
        (b"a\x1b[2Jb.test", "a\\x1b[2Jb.test"),  # escaped in the log
        (b"", "."),
    ):
        answer = cb.answer_dns(query(name), RULES, names)
        assert decoded(answer.response)[1:] == (cb.DNS_NXDOMAIN, 1, []), name
        assert answer.note == (
            f"refused DNS question {shown} (type 1): not on this session's allowlist"
        )
    # A label holding a dot is not the two labels it reads as.
    dotted = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x0callowed.test\x00\x00\x01\x00\x01"
    assert decoded(cb.answer_dns(dotted, RULES, names).response)[1] == cb.DNS_NXDOMAIN
    assert names.addresses == {}


def test_the_resolver_stops_giving_addresses_at_its_limit(monkeypatch):
    monkeypatch.setattr(cb, "SYNTHETIC_NAMES_LIMIT", 3)
    names = cb.SyntheticNames()
    rules = (AllowRule("*.many.test", (443,), "test"),)
    for index in range(3):
        answer = cb.answer_dns(query(b"n%d.many.test" % index), rules, names)
        assert decoded(answer.response)[3] == [f"127.77.0.{index + 1}"]
    full = cb.answer_dns(query(b"n9.many.test"), rules, names)
    assert decoded(full.response)[1:] == (cb.DNS_SERVFAIL, 1, [])
    assert full.note == "resolver: no address left for n9.many.test (3 names answered this session)"
    assert decoded(cb.answer_dns(query(b"n0.many.test"), rules, names).response)[3] == [
        "127.77.0.1"
    ]
    many = cb.SyntheticNames()
    monkeypatch.setattr(cb, "SYNTHETIC_NAMES_LIMIT", 4096)
    addresses = {many.address_for(f"n{index}.test") for index in range(4096)}
    assert len(addresses) == 4096 and "127.0.0.1" not in addresses
    assert all(address.startswith("127.77.") for address in addresses)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("packet", "code"),
    [
        (b"", None),  # shorter than a header: dropped
        (b"\x12\x34\x01\x00\x00\x01", None),
        (query(b"allowed.test", flags=0x8100), None),  # an answer: never answered
        (query(b"allowed.test", flags=0x2800), cb.DNS_NOTIMP),  # opcode UPDATE
        (query(b"allowed.test")[:-2], cb.DNS_FORMERR),  # no class
        (query(b"allowed.test")[:20], cb.DNS_FORMERR),  # the name cut short
        (struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0) + b"\x00" * 10, cb.DNS_FORMERR),  # two
        (struct.pack("!HHHHHH", 1, 0, 1, 1, 0, 0) + b"\x00" * 5, cb.DNS_FORMERR),  # an answer
        (struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0), cb.DNS_FORMERR),  # no question
        # A pointer to itself (a loop), to the header, past the end; a retired label type.
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", cb.DNS_FORMERR),
        (
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x01a\xc0\x0c\x00\x01\x00\x01",
            cb.DNS_FORMERR,
        ),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xff\xff\x00\x01\x00\x01", cb.DNS_FORMERR),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x41a\x00\x00\x01\x00\x01", cb.DNS_FORMERR),
        # A name longer than 255 bytes, a label longer than the packet.
        (query(b".".join([b"a" * 63] * 5)), cb.DNS_FORMERR),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3fabc", cb.DNS_FORMERR),
    ],
)
def test_malformed_questions_are_dropped_or_refused_alone(packet, code):
    answer = cb.answer_dns(packet, RULES, cb.SyntheticNames())
    if code is None:
        assert answer == cb.DnsAnswer(None, "")
    else:
        assert decoded(answer.response) == (struct.unpack_from("!H", packet)[0], code, 0, [])
        assert answer.note == "refused a malformed DNS question"


def test_random_and_mutated_datagrams_never_raise():
    generator = random.Random(24)
    names = cb.SyntheticNames()
    seeds = [query(b"allowed.test"), query(b"a.wild.test", 28), query(b"other.test")]
    for _ in range(20000):
        packet = bytearray(generator.choice(seeds))
        for _ in range(generator.randrange(1, 6)):
            packet[generator.randrange(len(packet))] = generator.randrange(256)
        packet = (
            packet[: generator.randrange(len(packet) + 1)] if generator.random() < 0.3 else packet
        )
        answer = cb.answer_dns(bytes(packet), RULES, names)
        assert answer.response is None or len(answer.response) <= 12 + 260 + 16
    for _ in range(2000):
        cb.answer_dns(generator.randbytes(generator.randrange(600)), RULES, names)
    assert all(name in ("allowed.test",) or name.endswith(".wild.test") for name in names.addresses)


# --- the TLS server name --------------------------------------------------------------------


def client_hello(server_name: str | None) -> bytes:
    """A real ClientHello, as Python's TLS (OpenSSL) sends it."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    if server_name is None:
        context.check_hostname = False
        tls = context.wrap_bio(incoming, outgoing)
        outgoing.read()
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def hello_with_extensions(extensions: bytes, *, records: int = 1) -> bytes:
    """A ClientHello of our own with these extensions (split over `records` records)."""
    body = b"\x03\x03" + b"\0" * 32 + b"\0" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    size = -(-len(handshake) // records)
    pieces = [handshake[index : index + size] for index in range(0, len(handshake), size)]
    return b"".join(b"\x16\x03\x01" + struct.pack("!H", len(piece)) + piece for piece in pieces)


def sni(*names: bytes, name_type: int = 0) -> bytes:
    entries = b"".join(bytes([name_type]) + struct.pack("!H", len(n)) + n for n in names)
    listed = struct.pack("!H", len(entries)) + entries
    return struct.pack("!HH", 0, len(listed)) + listed


def test_the_server_name_of_a_real_client_hello():
    hello = client_hello("Allowed.Test")
    assert cb.tls_server_name(hello) == "allowed.test"
    assert cb.tls_server_name(client_hello(None)) == ""
    # Every shorter piece of it is only a beginning.
    assert all(cb.tls_server_name(hello[:cut]) is None for cut in range(len(hello)))
    # Bytes after the ClientHello (the client's next record) change nothing.
    assert cb.tls_server_name(hello + b"\x17\x03\x03\x00\x05hello") == "allowed.test"


def test_a_client_hello_over_several_records():
    hello = hello_with_extensions(sni(b"allowed.test"), records=3)
    assert cb.tls_server_name(hello) == "allowed.test"
    assert all(cb.tls_server_name(hello[:cut]) is None for cut in range(len(hello)))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", "not a TLS handshake record"),
        (b"\x16\x03\x01\x00\x00", "not a TLS handshake record"),  # an empty record
        (b"\x16\x03\x01\xff\xff", "not a TLS handshake record"),  # past 16 KiB
        (b"\x16\x02\x00\x00\x04\x01\x00\x00\x00", "not a TLS handshake record"),  # SSL 2
        (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "not a ClientHello"),  # a ServerHello
        (b"\x16\x03\x01\x00\x04\x01\xff\xff\xff", "a ClientHello of 16777215 bytes"),
        (b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", "a length past the end of the ClientHello"),
        (hello_with_extensions(sni(b"a.test") + sni(b"b.test")), "extension 0 twice"),
        (hello_with_extensions(sni(b"a.test", b"b.test")), "two server names"),
        (hello_with_extensions(sni(b"a.test.")), "no host name"),
        (hello_with_extensions(sni(b"")), "no host name"),
        (hello_with_extensions(sni(b"a\x00.test")), "no host name"),
        (hello_with_extensions(sni(b"a.test:443")), "no host name"),
        (hello_with_extensions(sni(b"203.0.113.10")), "an address as the server name"),
        (hello_with_extensions(struct.pack("!HH", 0, 2) + b"\x00\x00"), "malformed server_name"),
        (hello_with_extensions(struct.pack("!HH", 0, 9) + b"\x00\x20"), "a length past the end"),
        (hello_with_extensions(struct.pack("!HH", 9, 0xFFFF)), "a length past the end"),
    ],
)
def test_hostile_client_hellos_are_refused(data, error):
    with pytest.raises(ValueError, match=error):
        cb.tls_server_name(data)


def test_other_name_types_are_skipped_and_bytes_after_the_extensions_refused():
    assert cb.tls_server_name(hello_with_extensions(sni(b"x", name_type=7))) == ""
    hello = bytearray(hello_with_extensions(b""))
    hello += b"\0"  # one byte more in the record and the handshake, after the extensions
    hello[4] += 1
    hello[8] += 1
    with pytest.raises(ValueError, match="bytes after"):
        cb.tls_server_name(bytes(hello))


def test_mutated_client_hellos_never_raise_anything_but_value_error():
    generator = random.Random(3)
    hello = client_hello("allowed.test")
    for _ in range(5000):
        data = bytearray(hello)
        for _ in range(generator.randrange(1, 4)):
            data[generator.randrange(len(data))] = generator.randrange(256)
        try:
            name = cb.tls_server_name(bytes(data))
        except ValueError:
            continue
        assert name is None or name == "" or cb.host_of(name) == (name, None)


# --- the Host on port 80 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (b"GET / HTTP/1.1\r\nHost: allowed.test", None),
        (b"GET /x?y HTTP/1.1\r\nHost: Allowed.Test:80", None),
        (b"GET /x HTTP/1.1\r\nHost: allowed.test.", None),
        (
            b"GET / HTTP/1.1\r\nHost: other.test",
            Refusal(403, "this connection goes to allowed.test:80, its Host names other.test"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: allowed.test:8080",
            Refusal(
                403, "this connection goes to allowed.test:80, its Host names allowed.test:8080"
            ),
        ),
        (b"GET / HTTP/1.0", Refusal(400, "a request needs exactly one Host field")),
        (
            b"GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: other.test",
            Refusal(400, "a request needs exactly one Host field"),
        ),
        (
            b"GET http://other.test/ HTTP/1.1\r\nHost: allowed.test",
            Refusal(403, "a connection to allowed.test:80 takes paths only, not URLs"),
        ),
        (b"\x16\x03\x01\x02\x00", Refusal(400, "a control character (CR, NUL, ESC…) in a head")),
    ],
)
def test_the_host_of_a_request_to_port_80(head, verdict):
    assert cb.transparent_http_verdict(head, "allowed.test") == verdict


# --- the relay, carrying connections by name ------------------------------------------------


def transparent_relay(tmp_path, echo: Echo, *, spares: int = 0):
    """A RelayServer whose "sandbox" is this process's loopback: a resolver socket, and a
    listener on 0.0.0.0 that stands for the echo server's port inside."""
    login = login_of(tmp_path)
    rules = (AllowRule("localhost", (echo.port,), "test"),)
    relay = cb.Relay(cb.Tunnel.LISTED, rules, (), (), str(tmp_path / "log"), login)
    resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    resolver.bind(("127.0.0.1", 0))
    listener = socket.create_server(("0.0.0.0", 0))
    transparent = cb.Transparent(
        [(listener, echo.port)],
        resolver,
        [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(spares)],
    )
    server = cb.RelayServer(relay, [], cb.LoginSession(login, {}), NO_CERTIFICATE, transparent)
    return server, resolver.getsockname()[1], listener.getsockname()[1]


def ask(port: int, name: bytes, qtype: int = 1) -> tuple[int, int, int, list[str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        client.sendto(query(name, qtype), ("127.0.0.1", port))
        return decoded(client.recv(4096))


def ended(connection: socket.socket) -> bool:
    """Whether the relay closed the connection without a byte (a reset: it left what the
    client sent unread)."""
    try:
        return connection.recv(4096) == b""
    except ConnectionResetError:
        return True


def wait_for_log(tmp_path, text: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        logs = sorted((tmp_path / "log").iterdir())
        content = logs[-1].read_text() if logs else ""
        if text in content:
            return content
        assert time.monotonic() < deadline, content
        time.sleep(0.01)


def test_the_relay_answers_names_and_carries_connections_by_name(tmp_path):
    echo = Echo()
    server, resolver, listener = transparent_relay(tmp_path, echo)
    try:
        assert ask(resolver, b"localhost") == (0x1234, 0, 1, ["127.77.0.1"])
        assert ask(resolver, b"localhost", 28)[1:] == (0, 1, [])
        assert ask(resolver, b"exfiltrated.secret.test")[1:] == (cb.DNS_NXDOMAIN, 1, [])
        carried = socket.create_connection(("127.77.0.1", listener), timeout=10)
        carried.sendall(b"ping")
        assert read_until(carried, b"ping") == b"hello\nping"
        carried.close()
        nameless = socket.create_connection(("127.0.0.1", listener), timeout=10)
        assert nameless.recv(4096) == b""  # closed: no name stands behind 127.0.0.1
        nameless.close()
        unknown = socket.create_connection(("127.77.0.9", listener), timeout=10)
        assert unknown.recv(4096) == b""
        unknown.close()
        log = wait_for_log(tmp_path, f"closed connection to localhost:{echo.port}: 4 bytes sent")
    finally:
        server.stop()
    assert (
        f"allowed connection to localhost:{echo.port} -> 127.0.0.1 (localhost:{echo.port}, test)"
        in log
    )
    assert "refused DNS question exfiltrated.secret.test (type 1): not on this session's" in log
    assert f"refused a connection to 127.0.0.1:{echo.port}: not an address the resolver gave" in log
    assert f"refused a connection to 127.77.0.9:{echo.port}: not an address" in log


def test_a_port_allowed_while_the_session_runs_is_carried_from_then_on(tmp_path):
    echo = Echo()
    server, resolver, _listener = transparent_relay(tmp_path, echo, spares=1)
    try:
        assert ask(resolver, b"localhost")[3] == ["127.77.0.1"]
        probe = socket.create_server(("127.0.0.1", 0))
        free = probe.getsockname()[1]
        probe.close()
        assert server.listen_transparent(free)
        assert server.listen_transparent(free)  # already carried
        later = socket.create_connection(("127.77.0.1", free), timeout=10)
        assert later.recv(4096) == b""  # carried, and refused: the rules do not allow the port
        later.close()
        assert not server.listen_transparent(free + 1)  # no spare left
        # The rules are read at each decision: a rule added now applies at once.
        wait_for_log(tmp_path, f"refused connection to localhost:{free}: port {free}")
        server.rules = (*server.rules, AllowRule("localhost", (free,), "added"))
        allowed = socket.create_connection(("127.77.0.1", free), timeout=10)
        # (upstream, localhost:FREE is this listener again: 127.0.0.1 has no name, refused)
        log = wait_for_log(tmp_path, f"allowed connection to localhost:{free} -> 127.0.0.1 (")
        allowed.close()
    finally:
        server.stop()
    assert f"port {free} is carried by name from now on" in log
    assert f"port {free + 1} is not carried by name: no spare socket is left" in log
    assert server.rules_now()[-1].origin == "added"


def test_fronting_and_silence_on_443_are_refused(tmp_path, monkeypatch):
    echo = Echo()
    login = login_of(tmp_path)
    rules = (AllowRule("localhost", (443,), "test"),)
    relay = cb.Relay(cb.Tunnel.LISTED, rules, (), (), str(tmp_path / "log"), login)
    resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    resolver.bind(("127.0.0.1", 0))
    listener = socket.create_server(("0.0.0.0", 0))
    transparent = cb.Transparent([(listener, 443)], resolver, [])
    monkeypatch.setattr(cb, "PROXY_TIMEOUT", 0.5)
    server = cb.RelayServer(relay, [], cb.LoginSession(login, {}), NO_CERTIFICATE, transparent)
    try:
        assert ask(resolver.getsockname()[1], b"localhost")[3] == ["127.77.0.1"]
        port = listener.getsockname()[1]
        fronted = socket.create_connection(("127.77.0.1", port), timeout=10)
        fronted.sendall(client_hello("other.test"))
        assert ended(fronted)
        silent = socket.create_connection(("127.77.0.1", port), timeout=10)
        assert silent.recv(4096) == b""  # closed once PROXY_TIMEOUT passed
        plain = socket.create_connection(("127.77.0.1", port), timeout=10)
        plain.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert ended(plain)
        log = wait_for_log(tmp_path, "not a TLS ClientHello on port 443")
        log = wait_for_log(tmp_path, "nothing complete sent within")
    finally:
        server.stop()
    assert (
        "refused connection to localhost:443: this connection goes to localhost, its TLS server "
        "name is other.test"
    ) in log
    assert echo.closed == 0
