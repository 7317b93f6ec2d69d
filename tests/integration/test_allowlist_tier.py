"""The allowlist tier and host ports against real bwrap, in the network lab (netlab.py).

The lab's host namespace gets a DNS responder on its 127.0.0.1:53 and, in a mount namespace of
this module's own, a resolv.conf naming it (Box.mountns): claudebox's proxy resolves names
there, as it would with the host's resolver; the machine's own resolver is never asked. The
"internet" host serves plain HTTP on port 80 and HTTPS on 443 with a certificate of a CA this
module makes; a store-shaped curl (the host's, with its libraries) is the client inside.
Every network read is bounded by a timeout.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import test_real_claude as real
from harness import HELPER_STORE, PYTHON, Box, install_store_program
from netlab import (
    ASK_LOOP,
    CONNECT_ALL,
    DNS_SERVER,
    LATER_ROUTES,
    TCP_SERVER,
    NetLab,
    ask,
    connect_arguments,
    key,
    leftover_processes,
    parse_replies,
    resolver_namespace,
    start_server,
    tls_prerequisites,
)

CURL_STORE = Path("/nix/store/8m2kq4x7fz0rj5c1wd9bnhs6ly3ga0vp-claudebox-test-curl")
CURL = f"{CURL_STORE}/bin/curl"
HELPER = f"{HELPER_STORE}/bin"
ALLOWED = "allowed.claudebox.test"
API = "api.claudebox.test"  # the scripted Messages API, on the "internet" host
HOLD_PORT = 8473
claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)

# argv: ADDRESS PORT NAME [CERT KEY]. An HTTP (with CERT and KEY: HTTPS) server answering every
# GET and POST with "hello NAME via SCHEME host=HOST path=PATH". Prints "ready" once listening.
WEB_SERVER = r"""
import http.server, ssl, sys
address, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
scheme = "https" if len(sys.argv) > 4 else "http"
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = f"hello {name} via {scheme} host={self.headers.get('Host')} path={self.path}\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
    do_POST = do_GET
server = http.server.ThreadingHTTPServer((address, port), Handler)
if scheme == "https":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""

# argv: ADDRESS PORT. Accepts connections and holds each open, printing "open" when one comes
# and "closed" when its peer has gone. Prints "ready" once listening.
HOLD_SERVER = r"""
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(16)
print("ready", flush=True)
def hold(connection):
    print("open", flush=True)
    while connection.recv(4096):
        pass
    print("closed", flush=True)
while True:
    connection, _ = server.accept()
    threading.Thread(target=hold, args=(connection,), daemon=True).start()
"""


@dataclass
class Web:
    """The lab's names, servers and the resolver claudebox's proxy asks."""

    lab: NetLab
    ca: Path  # the CA certificate (and the servers' certificate: one self-signed one)
    mountns: str  # /proc/PID/ns/mnt with the lab's resolv.conf
    hold: subprocess.Popen[str]
    names: dict[str, str]
    queries: list[str]  # what the responder was asked ("query NAME TYPE"), as it answers


@pytest.fixture(scope="module")
def web(lab: NetLab) -> Iterator[Web]:
    tls_prerequisites()
    scratch = Path(tempfile.mkdtemp(prefix="claudebox-web-", dir="/tmp"))
    scratch.chmod(0o755)
    cert, private = scratch / "cert.pem", scratch / "key.pem"
    names = {
        ALLOWED: lab.internet.address,
        API: lab.internet.address,
        "other.claudebox.test": lab.internet.address,
        "www.wild.claudebox.test": lab.internet.address,
        "lan.claudebox.test": lab.lan.address,
        "host.claudebox.test": lab.host_address.address,
        "loopback.claudebox.test": "127.0.0.1",
        "routed.claudebox.test": lab.routed_public.address,
    }
    san = ",".join(f"DNS:{name}" for name in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={ALLOWED}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(private),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    cert.chmod(0o644)
    servers = [
        start_server(lab.in_ns(role, PYTHON, "-c", WEB_SERVER, "0.0.0.0", port, role, *tls))
        for role, port, tls in (
            ("far", "80", ()),
            ("far", "443", (str(cert), str(private))),
            ("lan", "443", (str(cert), str(private))),
        )
    ]
    hold = start_server(lab.in_ns("far", PYTHON, "-c", HOLD_SERVER, "0.0.0.0", str(HOLD_PORT)))
    records = [item for pair in names.items() for item in pair]
    dns = start_server(lab.in_ns("host", PYTHON, "-c", DNS_SERVER, *records))
    queries: list[str] = []
    assert dns.stdout is not None
    threading.Thread(target=lambda: queries.extend(dns.stdout or ()), daemon=True).start()
    try:
        # The host's CA bundle trusts the lab's CA too: claudebox's relay verifies a gateway
        # with it.
        with resolver_namespace(scratch, cert) as mountns:
            yield Web(lab, cert, mountns, hold, names, queries)
    finally:
        for server in (*servers, hold, dns):
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def curl_store(fixture_store: None) -> None:
    install_store_program("curl", CURL_STORE, patch_libraries=True)
    subprocess.run(["chmod", "-R", "a+rX", str(CURL_STORE)], check=True)


@pytest.fixture
def net_box(box: Box, web: Web, curl_store: None) -> Box:
    """A box in the lab's host namespace, resolving names with the lab's responder, with curl
    and the lab's CA certificate (ca.pem in the project)."""
    box.mountns = web.mountns
    shutil.copy(web.ca, box.project / "ca.pem")
    box.chown(box.project / "ca.pem")
    return box


def env(box: Box) -> dict[str, str]:
    return {"PATH": f"{CURL_STORE}/bin:{box.host_path()}"}


def allowlisted(box: Box, snippet: str, *allow: str, timeout: float = 120) -> Any:
    options = [option for name in allow for option in ("--allow-domain", name)]
    result = box.run("--yes", *options, snippet, env=env(box), timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def session_log(box: Box) -> str:
    """The network log of the box's newest session."""
    logs = sorted((box.home / ".claudebox" / "instances").glob("*/network-log/*.log"))
    assert logs, "no network log"
    return logs[-1].read_text()


def curl(*args: str) -> str:
    return f"{CURL} -sS --max-time 10 --cacert ca.pem {' '.join(args)}"


def test_control_the_host_reaches_the_lab_by_name(net_box: Box, web: Web) -> None:
    """Without a sandbox, the same user resolves every lab name through the responder and
    reaches the web servers, the private one too: what the proxy refuses, it refuses."""
    snippet = "; ".join(
        [
            curl(f"https://{ALLOWED}/"),
            curl("http://other.claudebox.test/"),
            curl("https://lan.claudebox.test/"),
        ]
    )
    result = subprocess.run(
        net_box.as_user(["/bin/sh", "-c", snippet]),
        env=net_box.env(env(net_box)),
        cwd=net_box.project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines() == [
        f"hello far via https host={ALLOWED} path=/",
        "hello far via http host=other.claudebox.test path=/",
        "hello lan via https host=lan.claudebox.test path=/",
    ], result.stderr


def test_an_allowed_name_is_reached_by_https_connect_and_plain_http(net_box: Box) -> None:
    snippet = "; ".join(
        [
            curl(f"https://{ALLOWED}/tls"),
            curl(f"http://{ALLOWED}/plain"),
            f"wget -q -O - http://{ALLOWED}/wget",  # busybox wget: http_proxy, lower case
            curl("https://www.wild.claudebox.test/wildcard"),
        ]
    )
    result = allowlisted(net_box, snippet, ALLOWED, "*.wild.claudebox.test")
    assert result.stdout.splitlines() == [
        f"hello far via https host={ALLOWED} path=/tls",
        f"hello far via http host={ALLOWED} path=/plain",
        f"hello far via http host={ALLOWED} path=/wget",
        "hello far via https host=www.wild.claudebox.test path=/wildcard",
    ], result.stderr
    log = session_log(net_box)
    assert f"allowed CONNECT {ALLOWED}:443 -> 203.0.113.10 ({ALLOWED}, --allow-domain)" in log
    assert f"allowed GET {ALLOWED}:80 -> 203.0.113.10" in log
    assert "allowed CONNECT www.wild.claudebox.test:443 -> 203.0.113.10 (*.wild" in log
    assert "/plain" not in log and "/tls" not in log  # names and ports, never paths


def test_names_not_listed_and_raw_addresses_are_refused_with_the_reason(net_box: Box) -> None:
    """Not listed (also a listed wildcard's own name, another port, a raw address): 403 and the
    reason, for CONNECT (curl says the tunnel failed) and for plain HTTP (the body says why)."""
    connect = "printf 'CONNECT %s HTTP/1.1\\r\\n\\r\\n' {} | nc -w 5 127.0.0.1 3128 | tail -n 1"
    snippet = "; ".join(
        [
            connect.format("other.claudebox.test:443"),
            connect.format("wild.claudebox.test:443"),
            connect.format(f"{ALLOWED}:8443"),
            connect.format("203.0.113.10:443"),
            curl("http://other.claudebox.test/"),
            curl("-o /dev/null -w '%{http_connect}'", "https://other.claudebox.test/") + "; echo",
        ]
    )
    result = allowlisted(net_box, snippet, ALLOWED, "*.wild.claudebox.test")
    lines = result.stdout.splitlines()
    assert lines == [
        "claudebox: other.claudebox.test is not allowed (claudebox allow other.claudebox.test)",
        "claudebox: wild.claudebox.test is not allowed (claudebox allow wild.claudebox.test)",
        f"claudebox: port 8443 of {ALLOWED} is not allowed (claudebox allow {ALLOWED}:8443)",
        "claudebox: 203.0.113.10 is not allowed (claudebox allow 203.0.113.10)",
        "claudebox: other.claudebox.test is not allowed (claudebox allow other.claudebox.test)",
        "403",
    ], result.stderr
    assert "CONNECT tunnel failed, response 403" in result.stderr or "403" in lines[-1]
    assert "refused CONNECT other.claudebox.test:443: other.claudebox.test is not" in (
        session_log(net_box)
    )
    # A listed raw address is reachable (no name to resolve).
    result = allowlisted(
        net_box,
        "nc -w 5 127.0.0.1 3128 </dev/null; " + curl("http://203.0.113.10/"),
        "203.0.113.10",
    )
    assert result.stdout.splitlines()[-1] == "hello far via http host=203.0.113.10 path=/"


def test_allowed_names_resolving_to_private_or_host_addresses_are_refused(net_box: Box) -> None:
    """DNS rebinding: a listed name whose address is the LAN, the host's own address, its
    loopback or a network it routes specially is never connected to (the control above
    reaches the same LAN server by the same name)."""
    names = [
        "lan.claudebox.test",
        "host.claudebox.test",
        "loopback.claudebox.test",
        "routed.claudebox.test",
    ]
    snippet = "; ".join(
        curl("-o /dev/null -w '%{http_code}\\n'", f"http://{name}/") for name in names
    )
    snippet += "; " + curl("https://lan.claudebox.test/") + " || echo tunnel refused"
    result = allowlisted(net_box, snippet, *names, "192.168.77.10")
    assert result.stdout.splitlines() == ["403"] * 4 + ["tunnel refused"], result.stderr
    log = session_log(net_box)
    for name, address, origin in (
        ("lan.claudebox.test", "192.168.77.10", "(private range)"),
        ("host.claudebox.test", "198.51.100.1", "(connected to up0)"),
        ("loopback.claudebox.test", "127.0.0.1", "(loopback: the host's own services)"),
        ("routed.claudebox.test", "198.51.100.130", "via 100.96.0.2 (wg0)"),
    ):
        assert f"refused GET {name}:80: {name} resolves to {address} {origin}: the allowlist" in (
            log
        ), log
    # A listed private address is refused all the same.
    result = allowlisted(
        net_box, curl("-o /dev/null -w '%{http_code}'", "http://192.168.77.10/"), "192.168.77.10"
    )
    assert result.stdout == "403"
    assert (
        "refused GET 192.168.77.10:80: 192.168.77.10 resolves to 192.168.77.10 (private range)"
        in session_log(net_box)
    )


def test_direct_tcp_udp_and_dns_fail_inside(net_box: Box, web: Web, lab: NetLab) -> None:
    """Only lo, no route, no resolver: every address fails directly (the internet too), UDP
    too, and a name asked inside never reaches the host's responder."""
    probe = f"probe-{uuid.uuid4().hex[:8]}.claudebox.test"
    snippet = (
        "ip -o link | cut -d: -f2 | tr -d ' '; ip -4 route; echo routes-done; "
        f"{HELPER}/udpping 203.0.113.10 53; {HELPER}/udpping 198.51.100.1 53; "
        f"nslookup {probe} >/dev/null 2>&1 || echo no-dns; "
        f"{HELPER}/nftdel 2 claudebox; {HELPER}/nftdel 10 claudebox; " + CONNECT_ALL
    )
    targets = [lab.internet, *lab.blocked]
    result = net_box.probe(
        snippet, *connect_arguments(targets), options=["--network", "allowlist"], timeout=180
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[: lines.index("routes-done")] == ["lo"]
    after = lines[lines.index("routes-done") + 1 :]
    assert after[:5] == [
        "udpping errno 101",  # ENETUNREACH: no route at all
        "udpping errno 101",
        "no-dns",
        "nftdel errno 1",
        "nftdel errno 1",
    ], result.stdout
    assert parse_replies(result.stdout) == {key(target): "FAIL" for target in targets}
    # Control: the same lookup outside reaches the responder (which logs what it is asked).
    control = f"control-{probe}"
    subprocess.run(
        net_box.as_user(["/bin/sh", "-c", f"nslookup {control} >/dev/null 2>&1"]),
        env=net_box.env(env(net_box)),
        timeout=30,
        check=False,
    )
    deadline = time.monotonic() + 10
    while not any(control in line for line in web.queries):
        assert time.monotonic() < deadline, web.queries
        time.sleep(0.1)
    assert not any(f" {probe} " in line for line in web.queries)


LATER_ORIGINS = {
    "route": "via 100.96.0.2 (wg0)",
    "table-and-rule": "table 60 via wg0",
    "address": "(connected to wg0)",
}


@pytest.mark.parametrize("change", list(LATER_ROUTES))
def test_an_allowed_address_the_host_comes_to_route_specially_is_refused(
    net_box: Box, lab: NetLab, change: str
) -> None:
    """The proxy looks up the host's route for every connection it opens: an allowed address
    the host starts routing while the session runs (through the VPN gateway, by a new table and
    policy rule, or as the subnet of a new address) is refused from then on, with the reason;
    the host itself reaches it (positive control)."""
    later = lab.later
    connect = f"CONNECT {later.address} {later.port}"
    allowed = f"{later.address}:{later.port}"
    with net_box.running(ASK_LOOP, "--allow-domain", allowed) as process:
        # Allowed, and the host routes it by default: tried (the router knows no such network).
        assert ask(net_box.project, connect).startswith("HTTP/1.1 502 ")
        try:
            for command, _undo in LATER_ROUTES[change]:
                lab.host_ip(*command.split())
            added = time.monotonic()
            answers = []
            while not (answer := ask(net_box.project, connect)).startswith("HTTP/1.1 403 "):
                answers.append(answer)
                assert time.monotonic() < added + 1.0, answers
            control = subprocess.run(
                net_box.as_user(
                    ["/bin/sh", "-c", f"nc -w 3 {later.address} {later.port} </dev/null"]
                ),
                env=net_box.env(),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert control.stdout == "hello vpn\n", control.stderr
        finally:
            for _command, undo in reversed(LATER_ROUTES[change]):
                lab.host_ip(*undo.split())
        (net_box.project / "stop").touch()
        assert process.wait(timeout=20) == 0
    assert (
        f"refused CONNECT {allowed}: {later.address} resolves to {later.address} "
        f"{LATER_ORIGINS[change]}: the allowlist tier never connects"
    ) in session_log(net_box)


@pytest.mark.parametrize("network", ["inet", "allowlist"])
def test_a_listed_host_port_is_reachable_and_no_other(
    net_box: Box, lab: NetLab, network: str
) -> None:
    """host_ports: 127.0.0.1:PORT inside is the host's 127.0.0.1:PORT; another port of the
    host's loopback, with a service on it too, stays unreachable; the audit says so in red."""
    other = lab.loopback_port + 11
    net_box.write(
        net_box.home / ".claudebox" / "profiles" / "dev.json",
        json.dumps({"description": "a dev server", "host_ports": [lab.loopback_port]}),
    )
    server = start_server(
        lab.in_ns("host", PYTHON, "-c", TCP_SERVER, "127.0.0.1", str(other), "other")
    )
    try:
        control = subprocess.run(
            net_box.as_user(["/bin/sh", "-c", f"nc -w 3 127.0.0.1 {other} </dev/null"]),
            env=net_box.env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        assert control == "hello other\n"
        result = net_box.run(
            "--yes",
            "--profile",
            "dev",
            "--network",
            network,
            CONNECT_ALL,
            "127.0.0.1",
            str(lab.loopback_port),
            "127.0.0.1",
            str(other),
            env=env(net_box),
            timeout=120,
        )
    finally:
        server.kill()
        server.communicate(timeout=10)
    assert result.returncode == 0, result.stderr
    assert parse_replies(result.stdout) == {
        f"127.0.0.1:{lab.loopback_port}": "hello host-loopback",
        f"127.0.0.1:{other}": "FAIL",
    }
    port = lab.loopback_port
    assert f"! 127.0.0.1:{port} reaches the host's 127.0.0.1:{port} (profile dev)" in result.stderr
    assert f"host port {port}: connected" in session_log(net_box)


def test_an_open_tunnel_ends_with_the_session(net_box: Box, web: Web) -> None:
    """SIGTERM to claudebox while a CONNECT tunnel is open: the session ends, and the far
    end sees the tunnel close (the relay's sockets went with it)."""
    assert web.hold.stdout is not None
    snippet = (
        f"(printf 'CONNECT {ALLOWED}:{HOLD_PORT} HTTP/1.1\\r\\n\\r\\n'; sleep 60) "
        "| nc 127.0.0.1 3128 > tunnel & "
        "while ! grep -q established tunnel; do sleep 0.1; done; touch ready; wait"
    )
    with net_box.running(snippet, "--allow-domain", f"{ALLOWED}:{HOLD_PORT}") as process:
        assert web.hold.stdout.readline() == "open\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM
        assert web.hold.stdout.readline() == "closed\n"
    deadline = time.monotonic() + 10
    while (left := leftover_processes(str(net_box.root))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []


def test_twenty_allowlist_start_stop_cycles_leave_nothing(net_box: Box) -> None:
    for cycle in range(20):
        snippet = (
            f"{curl(f'http://{ALLOWED}/{cycle}')} > got-{cycle}; touch ready-{cycle}; exec sleep 60"
        )
        with net_box.running(snippet, "--allow-domain", ALLOWED, ready=f"ready-{cycle}") as process:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 128 + signal.SIGTERM
        got = (net_box.project / f"got-{cycle}").read_text()
        assert got == f"hello far via http host={ALLOWED} path=/{cycle}\n"
    deadline = time.monotonic() + 10
    while (left := leftover_processes(str(net_box.root))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
    logs = list((net_box.home / ".claudebox" / "instances").glob("*/network-log/*.log"))
    assert len(logs) == 20  # one per session, the oldest beyond 20 removed
    assert all(log.read_text().endswith("session ended\n") for log in logs)


def test_dry_run_json_and_the_audit_list_the_domains(net_box: Box) -> None:
    result = net_box.run(
        "--dry-run", "--json", "--allow-domain", "Example.ORG", "--allow-domain", "*.npmjs.org:8443"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["network"] == "allowlist"
    assert plan["proxy"]["url"] == "http://127.0.0.1:3128"
    assert [item["value"] for item in plan["allow_domains"]][-2:] == [
        "example.org",
        "*.npmjs.org:8443",
    ]
    assert plan["stage"]["sealed"] is True and plan["stage"]["listen"] == [3128]
    bad = net_box.run("--dry-run", "--network", "full", "--allow-domain", "example.org")
    assert bad.returncode == 2
    assert bad.stderr.startswith("claudebox: error: --allow-domain chooses the allowlist")


# --- the real Claude Code through the proxy -------------------------------------------------


@pytest.fixture
def scripted_https_api(web: Web) -> Iterator[real.ScriptedApi]:
    """The scripted Messages API on the "internet" host's 443, over TLS with the lab's
    certificate (api.claudebox.test); the test's own thread serves it from the lab's far
    namespace."""
    api = real.ScriptedApi()
    namespace = f"/run/netns/{web.lab.ns('far')}"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(web.ca, web.ca.parent / "key.pem")

    def make() -> real.QuietServer:
        server = real.QuietServer(("0.0.0.0", 8443), real.make_handler(api))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        return server

    server = real.in_netns(namespace, make)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def test_real_claude_reaches_the_scripted_api_through_the_proxy(
    net_box: Box, claude_store: str, scripted_https_api: real.ScriptedApi
) -> None:
    """Claude Code in the allowlist tier with the host's ANTHROPIC_BASE_URL a gateway
    (https://api.claudebox.test:8443): inside, Claude's base URL is claudebox's relay, which
    carries its Messages requests to the gateway (the name resolved and its certificate
    verified on the host) with the real key; the tool runs inside."""
    api = scripted_https_api
    base_url = f"https://{API}:8443"
    extra = real.with_store_claude(
        net_box,
        real.CLAUDE_ENV,
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-claudebox-allowlist-fake",
            "CLAUDEBOX_EXTRA_ENV": ",".join(n for n in real.CLAUDE_ENV if "DISABLE" in n),
        },
    )
    result = net_box.run(
        "--yes",
        "--network",
        "allowlist",
        "-p",
        "Run the probe.",
        "--output-format",
        "json",
        env=extra,
        timeout=180,
    )
    server_log = "\n".join(f"{e.method} {e.path} -> {e.status}" for e in api.exchanges)
    assert result.returncode == 0, f"{result.stderr}\n--- server\n{server_log}"
    report = json.loads(result.stdout)
    assert (report["is_error"], report["num_turns"], report["result"]) == (
        False,
        2,
        real.FINAL_TEXT,
    )
    messages = api.messages()
    assert len(messages) == 2, server_log
    (block,) = real.tool_results(messages[1].body)
    seen = real.result_text(block)
    assert "HTTPS_PROXY=http://127.0.0.1:3128" in seen
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:3128" in seen
    assert "sk-ant-claudebox-allowlist-fake" not in seen
    assert all(e.headers.get("x-api-key") == "sk-ant-claudebox-allowlist-fake" for e in messages)
    assert (net_box.project / real.PROJECT_FILE).read_text() == real.PROJECT_FILE_CONTENT
    log = session_log(net_box)
    assert f"login POST {API}:8443/v1/messages -> 200" in log
    assert " refused " not in log, log


def test_a_pasted_dry_run_serves_the_proxy_too(net_box: Box) -> None:
    snippet = f"{curl(f'http://{ALLOWED}/pasted')} > got; exit 7"
    dry = net_box.run("--dry-run", "--allow-domain", ALLOWED, snippet, env=env(net_box))
    assert dry.returncode == 0, dry.stderr
    pasted = net_box.paste(dry.stdout)
    assert pasted.returncode == 7, pasted.stderr
    assert (
        net_box.project / "got"
    ).read_text() == f"hello far via http host={ALLOWED} path=/pasted\n"
    assert f"allowed GET {ALLOWED}:80 -> 203.0.113.10" in session_log(net_box)


# --- tools that ignore the proxy: the resolver inside and connections carried by name --------

NO_PROXY_ENV = "unset HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy; "


def direct_curl(*args: str) -> str:
    """curl with no proxy at all (as a tool that knows nothing of proxies)."""
    return curl("--noproxy '*'", *args)


def test_tools_without_proxy_support_reach_an_allowed_name(net_box: Box, web: Web) -> None:
    """With the proxy variables unset, busybox nc (a raw port), curl without a proxy (HTTPS,
    the server's certificate verified) and busybox wget (HTTP; its HTTPS needs an ssl_client
    the fixture lacks) reach an allowed name: it resolves inside, and the relay carries each
    connection to it."""
    snippet = NO_PROXY_ENV + "; ".join(
        [
            f"nc -w 5 {ALLOWED} 8471 </dev/null",
            direct_curl(f"https://{ALLOWED}/tls"),
            f"wget -q -O - http://{ALLOWED}/plain",
        ]
    )
    result = allowlisted(net_box, snippet, ALLOWED, f"{ALLOWED}:8471")
    assert result.stdout.splitlines() == [
        "hello far",
        f"hello far via https host={ALLOWED} path=/tls",
        f"hello far via http host={ALLOWED} path=/plain",
    ], result.stderr
    log = session_log(net_box)
    for port in (8471, 443, 80):
        assert f"allowed connection to {ALLOWED}:{port} -> 203.0.113.10 (" in log, log
    assert f"resolver: {ALLOWED} is 127.77.0.1 inside" in log
    assert "/tls" not in log and "/plain" not in log  # names and ports, never paths


def test_without_the_proxy_other_names_and_addresses_get_nothing_out(
    net_box: Box, web: Web
) -> None:
    """A name not on the allowlist does not resolve inside and its question never leaves (the
    lab's resolver, which hears every question the host asks, hears none of them); a bare
    address, inside or out, reaches nothing."""
    probe = f"probe-{uuid.uuid4().hex[:8]}.claudebox.test"
    asked = len(web.queries)
    snippet = NO_PROXY_ENV + "; ".join(
        [
            f"nslookup {probe} 127.0.0.1 >/dev/null 2>&1 && echo {probe} resolved",
            f"nslookup -type=TXT {probe} 127.0.0.1 >/dev/null 2>&1 && echo TXT resolved",
            "nc -w 3 other.claudebox.test 8471 </dev/null || echo other failed",
            "nc -w 3 203.0.113.10 8471 </dev/null || echo address failed",
            "nc -w 3 203.0.113.10 443 </dev/null || echo address 443 failed",
            f"{direct_curl('https://127.0.0.1/')} 2>/dev/null || echo loopback 443 failed",
            f"{direct_curl(f'https://{ALLOWED}/')} 2>/dev/null || echo not allowed port",
            "echo done",
        ]
    )
    result = allowlisted(net_box, snippet, f"{ALLOWED}:8471")
    assert result.stdout.splitlines() == [
        "other failed",
        "address failed",
        "address 443 failed",
        "loopback 443 failed",
        "not allowed port",
        "done",
    ], result.stderr
    log = session_log(net_box)
    assert f"refused DNS question {probe} (type 1): not on this session's allowlist" in log
    assert "refused a connection to 127.0.0.1:443: not an address the resolver gave" in log
    assert f"refused connection to {ALLOWED}:443: port 443 of {ALLOWED} is not allowed" in log
    # Control: the host's own lookups reach the lab's resolver (it hears what the host asks).
    control = f"control-{probe}"
    subprocess.run(
        net_box.as_user(["/bin/sh", "-c", f"nslookup {control} >/dev/null 2>&1"]),
        env=net_box.env(env(net_box)),
        timeout=30,
        check=False,
    )
    deadline = time.monotonic() + 10
    while not any(control in line for line in web.queries[asked:]):
        assert time.monotonic() < deadline, web.queries
        time.sleep(0.1)
    assert not any(f" {probe} " in line for line in web.queries), web.queries[asked:]
    assert not any("other.claudebox.test" in line for line in web.queries[asked:])


def test_a_server_name_or_host_other_than_the_name_is_refused(net_box: Box) -> None:
    """Domain fronting: a connection to an allowed name's address that asks the server for
    another name (the lab's server would answer for it) is refused, by TLS server name on 443
    and by Host on 80 (HTTP 403); the allowed name itself still works on the same session."""
    fronted = "other.claudebox.test"
    snippet = NO_PROXY_ENV + "; ".join(
        [
            direct_curl(f"--connect-to {fronted}:443:{ALLOWED}:443", f"https://{fronted}/")
            + " 2>/dev/null || echo tls refused",
            direct_curl(
                "-o /dev/null -w '%{http_code}\\n'",
                f"--connect-to {fronted}:80:{ALLOWED}:80",
                f"http://{fronted}/",
            ),
            direct_curl(f"https://{ALLOWED}/ok"),
        ]
    )
    result = allowlisted(net_box, snippet, ALLOWED)
    assert result.stdout.splitlines() == [
        "tls refused",
        "403",
        f"hello far via https host={ALLOWED} path=/ok",
    ], result.stderr
    log = session_log(net_box)
    assert (
        f"refused connection to {ALLOWED}:443: this connection goes to {ALLOWED}, its TLS "
        f"server name is {fronted}"
    ) in log, log
    assert f"refused connection to {ALLOWED}:80: this connection goes to {ALLOWED}:80, its " in (
        log
    )
    assert f"allowed connection to {ALLOWED}:443" in log
