"""Red team, the relay (issue 24, items 4 and 5): hostile requests to claudebox's proxy, sent from
inside the allowlist tier's sandbox (the store's python) and, in the full tier, by a process on
the host holding the session's proxy token. Each gets an answer or a closed connection and a
log line; claudebox prints no traceback and ends its session promptly when claude exits, with
thousands of connections, slow clients and clients that never read still open. And a refused
name explains itself where tools print it: the status line.

Test hosts live in the network lab (tests/integration/netlab.py): a server on the "internet"
host (203.0.113.10) sends without end to whoever connects. No name is ever resolved: names are
refused before, and the flood server is an allowed address.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import PYTHON, Box, install_store_program, wait_for
from netlab import NetLab, start_server
from rtlib import install_store_python
from test_allowlist_tier import CURL_STORE

FLOOD_PORT = 8474
FLOOD = f"203.0.113.10:{FLOOD_PORT}"
CROWD = 2000

# argv: ADDRESS PORT. Sends to every client without end. Prints "ready" once listening.
FLOOD_SERVER = r"""
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(64)
print("ready", flush=True)
def flood(connection):
    try:
        while True:
            connection.sendall(b"x" * 65536)
    except OSError:
        pass
while True:
    connection, _ = server.accept()
    threading.Thread(target=flood, args=(connection,), daemon=True).start()
"""

# argv: HOST PORT TOKEN FLOOD. Sends each hostile request once (never with the token) and
# prints "NAME: STATUS LINE" (or "NAME: closed"); then holds what a session must survive:
# tunnels to FLOOD that never read (with the token, when one is given), clients sending a byte
# of a head every second and CROWD silent connections. Prints "crowd closed N" (how many the
# relay closed unserved) and "holding"; then holds them until killed.
ATTACK = r"""
import base64, resource, socket, sys, threading, time
host, port, token, flood = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
crowd_size = int(sys.argv[5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def answer(data, half_close=False):
    with socket.create_connection((host, port), timeout=20) as client:
        client.sendall(data)
        if half_close:
            client.shutdown(socket.SHUT_WR)
        got = b""
        try:
            while b"\r\n" not in got and (chunk := client.recv(65536)):
                got += chunk
        except OSError as error:
            return f"error {error!r}"
    return got.split(b"\r\n")[0].decode("ascii", "replace") or "closed"

attacks = [
    ("superscript port", "CONNECT far.test:\u00b2 HTTP/1.1\r\n\r\n".encode()),
    ("5000-digit port", b"CONNECT far.test:" + b"1" * 5000 + b" HTTP/1.1\r\n\r\n"),
    ("superscript url port", "GET http://far.test:\u00b2/ HTTP/1.1\r\n\r\n".encode()),
    ("superscript host port", "CONNECT far.test:443 HTTP/1.1\r\nHost: far.test:\u00b2\r\n\r\n"
        .encode()),
    ("superscript length", "GET http://far.test/ HTTP/1.1\r\nContent-Length: \u00b2\r\n\r\n"
        .encode()),
    ("huge head", b"GET http://far.test/ HTTP/1.1\r\nX: " + b"a" * 100_000),
    ("tls to the proxy", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
]
for name, data in attacks:
    print(f"{name}: {answer(data)}", flush=True)
print(f"half closed: {answer(b'CONNECT far.test:443 HTTP/1.1', half_close=True)}", flush=True)

held = []
auth = base64.b64encode(f"claudebox:{token}".encode()).decode() if token else ""
header = f"Proxy-Authorization: Basic {auth}\r\n" if auth else ""
for _ in range(40):  # tunnels whose client never reads
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect((host, port))
    client.sendall(f"CONNECT {flood} HTTP/1.1\r\n{header}\r\n".encode())
    held.append(client)

def dribble(client):
    try:
        while True:
            client.sendall(b"G")
            time.sleep(1)
    except OSError:
        pass

for _ in range(40):  # slow clients
    client = socket.create_connection((host, port))
    threading.Thread(target=dribble, args=(client,), daemon=True).start()
    held.append(client)
time.sleep(1)
crowd = [socket.create_connection((host, port)) for _ in range(crowd_size)]
deadline = time.monotonic() + 20
closed = set()
while len(closed) < crowd_size - 256 and time.monotonic() < deadline:
    for index, client in enumerate(crowd):
        if index in closed:
            continue
        try:
            if client.recv(1, socket.MSG_DONTWAIT) == b"":
                closed.add(index)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(index)
    time.sleep(0.2)
print(f"crowd closed: {len(closed)}", flush=True)
print("holding", flush=True)
time.sleep(3600)
"""

EXPECTED = {
    "superscript port": "HTTP/1.1 400 claudebox: CONNECT needs HOST:PORT with a name or an IPv4",
    "5000-digit port": "HTTP/1.1 400 claudebox: CONNECT needs HOST:PORT with a name or an IPv4",
    "superscript url port": "HTTP/1.1 400 claudebox: not a host claudebox accepts",
    "huge head": "HTTP/1.1 431 claudebox: a request head longer than 64 KiB",
    "tls to the proxy": "HTTP/1.1 400 claudebox: ",
    "half closed": "HTTP/1.1 400 claudebox: the connection ended inside a request head",
}


@pytest.fixture(scope="module")
def flood(lab: NetLab) -> Iterator[None]:
    server = start_server(lab.in_ns("far", PYTHON, "-c", FLOOD_SERVER, "0.0.0.0", str(FLOOD_PORT)))
    try:
        yield
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def store_python(fixture_store: None) -> str:
    return str(install_store_python())


@pytest.fixture(scope="module")
def store_curl(fixture_store: None) -> str:
    install_store_program("curl", CURL_STORE, patch_libraries=True)
    subprocess.run(["chmod", "-R", "a+rX", str(CURL_STORE)], check=True)
    return f"{CURL_STORE}/bin/curl"


def session_log(box: Box) -> str:
    logs = sorted((box.home / ".claudebox" / "instances").glob("*/network-log/*.log"))
    assert logs, "no network log"
    return logs[-1].read_text()


def answers(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def ends_promptly(process: subprocess.Popen[str], after: Path) -> tuple[int, str]:
    """claudebox's exit code and stderr once `after` exists (claude exits then): it must end
    within 10 s, whatever its relay's clients still hold."""
    wait_for(after, timeout=120, process=process)
    deadline = time.monotonic() + 10
    while process.poll() is None:
        assert time.monotonic() < deadline, "claudebox did not end within 10 s of claude"
        time.sleep(0.05)
    assert process.stderr is not None
    return process.returncode, process.stderr.read()


def check_attacks(output: str, *, allowlist: bool) -> None:
    got = answers(output)
    for name, status_line in EXPECTED.items():
        assert got[name].startswith(status_line), (name, got)
        assert got[name].isascii() and got[name].isprintable(), got[name]
    refused_name = (
        "HTTP/1.1 403 claudebox: far.test is not allowed (claudebox allow far.test)"
        if allowlist
        else "HTTP/1.1 407 claudebox: this proxy is the session's own"
    )
    assert got["superscript host port"] == refused_name
    assert got["superscript length"].startswith(refused_name[:13])
    closed = int(got["crowd closed"])
    assert closed >= CROWD - 256, got  # beyond the relay's 256: closed, not left hanging


def check_log(log: str) -> None:
    for line in (
        "refused a request: CONNECT needs HOST:PORT",
        "refused a request: a request head longer than 64 KiB",
        "refused a request: the connection ended inside a request head",
        "unserved: 256 open already",
        "session ended",
    ):
        assert line in log, (line, log[-3000:])
    assert "internal error" not in log


def test_hostile_requests_from_inside_the_allowlist_tier(
    box: Box, lab: NetLab, flood: None, store_python: str
) -> None:
    box.write(box.project / "attack.py", ATTACK, 0o644)
    snippet = (
        f"{store_python} attack.py 127.0.0.1 3128 '' {FLOOD} {CROWD} > attack.out 2>&1 & "
        "while ! grep -q holding attack.out; do sleep 0.2; done; touch attacked"
    )
    process = box.start(
        "--yes",
        "--allow-domain",
        FLOOD,
        snippet,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        code, stderr = ends_promptly(process, box.project / "attacked")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    check_attacks((box.project / "attack.out").read_text(), allowlist=True)
    log = session_log(box)
    check_log(log)
    assert f"allowed CONNECT {FLOOD} -> 203.0.113.10" in log


def test_the_full_tiers_proxy_on_the_host_survives_a_host_process_holding_it(
    box: Box, lab: NetLab, flood: None
) -> None:
    """In the full tier the proxy listens on the host's loopback: any host process may send it
    anything, and one holding the session's token may hold tunnels open. claudebox still ends
    its session promptly when claude exits."""
    snippet = (
        'echo "$HTTPS_PROXY" > proxy-url; touch ready; '
        "while [ ! -e attacked ]; do sleep 0.1; done; touch ending"
    )
    process = box.start(
        "--yes",
        "--network",
        "full",
        snippet,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    attacker = None
    try:
        wait_for(box.project / "ready", process=process)
        proxy = urlsplit((box.project / "proxy-url").read_text().strip())
        assert proxy.hostname == "127.0.0.1" and proxy.port and proxy.password
        argv = [PYTHON, "-c", ATTACK, "127.0.0.1", str(proxy.port), proxy.password, FLOOD]
        attacker = subprocess.Popen(
            box.as_user([*argv, str(CROWD)]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert attacker.stdout is not None
        output = ""
        while "holding" not in output:
            line = attacker.stdout.readline()
            assert line, output
            output += line
        (box.project / "attacked").touch()
        code, stderr = ends_promptly(process, box.project / "ending")
    finally:
        for running in (process, attacker):
            if running is not None and running.poll() is None:
                running.kill()
                running.wait(timeout=10)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    check_attacks(output, allowlist=False)
    log = session_log(box)
    check_log(log)
    assert f"allowed CONNECT {FLOOD} -> 203.0.113.10" in log


def test_a_refused_name_explains_itself_where_tools_print_it(
    box: Box, lab: NetLab, store_python: str, store_curl: str
) -> None:
    """The status line's phrase names the command that allows the name: pip's urllib prints
    it, busybox wget prints the status line, curl -v shows it (plain curl: only the code)."""
    urllib = (
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('https://npm.claudebox.test/', timeout=20)\n"
        "except Exception as error:\n"
        "    print(error)\n"
    )
    box.write(box.project / "fetch.py", urllib, 0o644)
    snippet = "; ".join(
        [
            f"{store_python} fetch.py",
            "wget -q -O - http://npm.claudebox.test/ 2>&1",
            f"{store_curl} -sS -v https://other.claudebox.test:8443/ 2>&1 | grep '^< HTTP'",
            f"{store_curl} -sS https://npm.claudebox.test/ 2>&1",
        ]
    )
    result = box.run("--yes", "--allow-domain", "other.claudebox.test", snippet, timeout=120)
    allow = "claudebox: npm.claudebox.test is not allowed (claudebox allow npm.claudebox.test)"
    assert result.stdout.splitlines() == [
        f"<urlopen error Tunnel connection failed: 403 {allow}>",
        f"wget: server returned error: HTTP/1.1 403 {allow}",
        "< HTTP/1.1 403 claudebox: port 8443 of other.claudebox.test is not allowed (claudebox "
        "allow other.claudebox.test:8443)",
        "curl: (56) CONNECT tunnel failed, response 403",
    ], result.stderr
    assert "refused CONNECT npm.claudebox.test:443: npm.claudebox.test is not allowed" in (
        session_log(box)
    )
