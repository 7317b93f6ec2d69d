"""The allowlist tier and host ports: entries, matching, request parsing, verdicts, the plan,
profiles, the audit; and the relay itself, in this process, on loopback."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from pathlib import Path

import fakehost as fh
import pytest
from test_render import check_golden

import claudebox as cb
from claudebox import AllowRule, Refusal, Tier

DEFAULTS = list(cb.CLAUDE_DOMAINS)
WEB = cb.Profile(
    "web",
    "--profile",
    ("base", "web"),
    allow_domains=(("*.npmjs.org", "base"), ("github.com:22", "web")),
    host_ports=((5432, "base"), (8080, "web")),
)


def allowlist(profile=None, allow=(), host=None, origin="--allow-domain"):
    options = cb.Options(
        tier=Tier.ALLOWLIST, tier_origin=origin, profile=profile, allow_domains=tuple(allow)
    )
    return cb.build_plan(host or fh.make_host(), options)


# --- entries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("example.org", ("example.org", (80, 443))),
        ("Example.ORG.", ("example.org", (80, 443))),
        ("*.GitHub.com", ("*.github.com", (80, 443))),
        ("registry.npmjs.org:8443", ("registry.npmjs.org", (8443,))),
        ("203.0.113.10", ("203.0.113.10", (80, 443))),
        ("203.0.113.10:8080", ("203.0.113.10", (8080,))),
        ("_acme.example.org", ("_acme.example.org", (80, 443))),
        ("localhost", ("localhost", (80, 443))),
    ],
)
def test_entries_are_names_wildcards_or_addresses_with_a_port(text, rule):
    parsed = cb.parse_allow_entry(text, "--allow-domain", "--allow-domain")
    assert (parsed.pattern, parsed.ports) == rule


USAGE = (
    "use a name (example.org), *. and a name for its subdomains (*.example.org) or an IPv4 "
    "address, each optionally with :PORT"
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("example.org:0", "'example.org:0' has no valid port after ':'"),
        ("example.org:0443", "'example.org:0443' has no valid port after ':'"),
        ("example.org:65536", "'example.org:65536' has no valid port after ':'"),
        ("example.org:", "'example.org:' has no valid port after ':'"),
        ("exa mple.org", "'exa mple.org' is not a domain name"),
        ("", "'' is not a domain name"),
        ("*", "'*' is not a domain name"),
        ("https://example.org", "'https://example.org' has no valid port after ':'"),
        ("[::1]", "'[::1]' has no valid port after ':'"),
        ("127.1", "'127.1' is not a domain name"),
        ("0x7f000001", "'0x7f000001' is not a domain name"),
        ("host.123", "'host.123' is not a domain name"),
        ("-bad.example", "'-bad.example' is not a domain name"),
        ("300.1.2.3", "'300.1.2.3' is not an IPv4 address"),
        ("*.1.2.3.4", "'*.1.2.3.4': *. goes with names only"),
    ],
)
def test_bad_entries_are_one_usage_error(text, problem):
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.parse_allow_entry(text, "--allow-domain", "--allow-domain")
    assert info.value.exit_code == 2
    assert str(info.value) == f"--allow-domain: {problem}; {USAGE}"


def test_a_wildcard_over_a_whole_top_level_domain_is_refused():
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.parse_allow_entry("*.com", "--allow-domain", "--allow-domain")
    assert str(info.value) == (
        "--allow-domain: '*.com' would allow every name under .com; name a domain (*.example.com)"
    )


def test_matching_exact_names_wildcards_and_ports():
    exact = AllowRule("example.org", (80, 443), "x")
    wild = AllowRule("*.example.org", (443,), "x")
    assert exact.matches("example.org", 443) and exact.matches("example.org", 80)
    assert not exact.matches("example.org", 8443)
    assert not exact.matches("www.example.org", 443)
    assert wild.matches("www.example.org", 443) and wild.matches("a.b.example.org", 443)
    assert not wild.matches("example.org", 443)  # the wildcard's own name is not included
    assert not wild.matches("evilexample.org", 443)
    assert not wild.matches("www.example.org", 80)


def test_rules_are_claudes_then_the_profiles_then_the_flags_each_once():
    rules = cb.allow_rules(
        cb.Options(profile=WEB, allow_domains=("api.anthropic.com", "Example.org", "example.org"))
    )
    assert [(r.describe(), r.origin) for r in rules] == [
        *((name, "Claude Code's own") for name in DEFAULTS),
        ("*.npmjs.org", "profile base"),
        ("github.com:22", "profile web"),
        ("example.org", "--allow-domain"),
    ]


# --- requests and verdicts ----------------------------------------------------------------


def request(head: str) -> cb.ProxyRequest:
    parsed = cb.parse_proxy_request(head.encode())
    assert isinstance(parsed, cb.ProxyRequest), parsed
    return parsed


def test_connect_and_absolute_requests_parse():
    connect = request("CONNECT API.Example.org.:443 HTTP/1.1\r\nHost: x\r\n")
    assert (connect.method, connect.host, connect.port, connect.target) == (
        "CONNECT",
        "api.example.org",
        443,
        "",
    )
    plain = request("POST http://example.org:8080/v1/x?y=1 HTTP/1.1\nHost: evil.test\n")
    assert (plain.host, plain.port, plain.target, plain.headers) == (
        "example.org",
        8080,
        "/v1/x?y=1",
        (("Host", "evil.test"),),
    )
    assert request("GET http://example.org HTTP/1.0").target == "/"
    assert request("GET HTTP://203.0.113.10/ HTTP/1.1").port == 80


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ("GET / HTTP/1.1\r\nHost: example.org", "not a proxy request: the proxy takes CONNECT"),
        ("GET https://example.org/ HTTP/1.1", "an https:// URL in a plain request"),
        ("CONNECT example.org HTTP/1.1", "CONNECT needs HOST:PORT"),
        ("CONNECT [::1]:443 HTTP/1.1", "CONNECT needs HOST:PORT"),
        ("CONNECT 127.1:443 HTTP/1.1", "CONNECT needs HOST:PORT"),
        ("CONNECT 2130706433:443 HTTP/1.1", "CONNECT needs HOST:PORT"),
        ("GET http://0x7f.1/ HTTP/1.1", "not a host claudebox accepts"),
        ("GET http://user:pw@example.org/ HTTP/1.1", "not a host claudebox accepts"),
        ("GET http://exa%6dple.org/ HTTP/1.1", "not a host claudebox accepts"),
        ("get http://example.org/ HTTP/1.1", "not an HTTP/1 request line"),
        ("GET http://example.org/ HTTP/2", "not an HTTP/1 request line"),
        ("\x16\x03\x01", "not an HTTP/1 request line"),
        ("GET http://example.org/ HTTP/1.1\r\nbad header", "a malformed header line"),
        ("GET http://example.org/ HTTP/1.1\r\n folded: x", "a malformed header line"),
    ],
)
def test_anything_else_is_a_bad_request(head, reason):
    refusal = cb.parse_proxy_request(head.encode())
    assert isinstance(refusal, Refusal) and refusal.status == 400
    assert refusal.reason.startswith(reason), refusal.reason


def test_the_verdict_names_the_rule_or_the_reason():
    rules = cb.allow_rules(cb.Options(allow_domains=("example.org", "203.0.113.10:8080")))
    assert cb.proxy_verdict(request("CONNECT example.org:443 HTTP/1.1"), rules) == rules[-2]
    assert cb.proxy_verdict(request("GET http://203.0.113.10:8080/ HTTP/1.1"), rules) == rules[-1]
    assert cb.proxy_verdict(request("CONNECT example.org:22 HTTP/1.1"), rules) == Refusal(
        403, "port 22 of example.org is not allowed (claudebox allow example.org:22)"
    )
    for host in ("evil.test", "203.0.113.11", "www.example.org"):
        assert cb.proxy_verdict(request(f"CONNECT {host}:443 HTTP/1.1"), rules) == Refusal(
            403, f"{host} is not allowed (claudebox allow {host})"
        )


def test_a_plain_request_goes_on_in_origin_form_with_the_urls_host():
    plain = request(
        "POST http://example.org:8080/v1?x HTTP/1.1\r\nHost: evil.test\r\n"
        "Proxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\nConnection: X-Secret\r\n"
        "X-Secret: 1\r\nContent-Length: 2\r\nUser-Agent: t"
    )
    assert cb.forwarded_head(plain) == (
        b"POST /v1?x HTTP/1.1\r\nHost: example.org:8080\r\nContent-Length: 2\r\n"
        b"User-Agent: t\r\nConnection: close\r\n\r\n"
    )
    assert cb.forwarded_head(request("GET http://example.org/ HTTP/1.0")) == (
        b"GET / HTTP/1.0\r\nHost: example.org\r\nConnection: close\r\n\r\n"
    )


def test_a_refusal_is_a_complete_http_response():
    assert Refusal(403, "no.").response() == (
        b"HTTP/1.1 403 claudebox: no.\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 15\r\nConnection: close\r\n\r\nclaudebox: no.\n"
    )
    for status in (400, 401, 408, 431, 502, 503):
        assert (
            Refusal(status, "x")
            .response()
            .startswith(f"HTTP/1.1 {status} claudebox: x\r\n".encode())
        )


def test_the_reason_is_the_status_lines_phrase_where_tools_print_it():
    """pip ("Tunnel connection failed: 403 …"), busybox wget and Node print the status line's
    phrase, never the body: the phrase is the reason, with the command that allows the name."""
    rules = cb.allow_rules(cb.Options(allow_domains=("example.org",)))
    refused = cb.proxy_verdict(request("CONNECT registry.npmjs.org:443 HTTP/1.1"), rules)
    assert isinstance(refused, Refusal)
    assert refused.response().split(b"\r\n")[0] == (
        b"HTTP/1.1 403 claudebox: registry.npmjs.org is not allowed "
        b"(claudebox allow registry.npmjs.org)"
    )
    port = cb.proxy_verdict(request("CONNECT example.org:8443 HTTP/1.1"), rules)
    assert isinstance(port, Refusal)
    assert (
        port.phrase
        == "claudebox: port 8443 of example.org is not allowed (claudebox allow example.org:8443)"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"CONNECT far.test:\xc2\xb2 HTTP/1.1",  # "²" in UTF-8: two bytes, neither ASCII
        b"CONNECT far.test:\xb2 HTTP/1.1",
        b"GET http://far.test:\xb2/ HTTP/1.1",
        b"GET http://exa\x1b[2Jmple.org/ HTTP/1.1",
        b"GET http://" + b"\xe2\x80\xae" * 100 + b"/ HTTP/1.1",
        b"GET http://example.org/ HTTP/1.1\r\nX-\xff\x1b\r: 1",
        b"CONNECT far.test:" + b"1" * 5000 + b" HTTP/1.1",
        b"CONNECT " + b"a" * 70000 + b":443 HTTP/1.1",
    ],
)
def test_every_phrase_is_one_bounded_line_of_printable_ascii(head):
    """A refusal may quote what the client sent: its phrase never carries a byte a client would
    read as the end of the line, a control character or anything not ASCII, and is bounded."""
    refusal = cb.parse_proxy_request(head)
    assert isinstance(refusal, Refusal) and refusal.status == 400
    line, _, rest = refusal.response().partition(b"\r\n")
    assert line.startswith(b"HTTP/1.1 400 claudebox: ")
    assert all(0x20 <= byte <= 0x7E for byte in line)
    assert len(line) <= len("HTTP/1.1 400 ") + cb.REASON_PHRASE_LIMIT
    assert rest.count(b"\r\n\r\n") == 1  # the body cannot end the head early either


def test_a_long_phrase_is_cut():
    phrase = Refusal(400, "x" * 5000).phrase
    assert len(phrase) == cb.REASON_PHRASE_LIMIT and phrase.endswith("...")
    assert Refusal(400, "ESC… é").phrase == "claudebox: ESC... ?"


@pytest.mark.parametrize(
    "text",
    [
        "\u00b2",
        "1\u00b2",
        "\u0661",
        "\uff11",
        "1" * 5000,
        "0" * 4400 + "1",
        "65536",
        "0",
        "-1",
        "+1",
        " 1",
        "",
    ],
)
def test_a_port_is_one_to_five_ascii_digits(text):
    assert cb.port_number(text) is None
    assert cb.host_of(f"far.test:{text}") is None


def test_ports_parse():
    assert [cb.port_number(text) for text in ("1", "443", "65535", "00443")] == [1, 443, 65535, 443]


@pytest.mark.parametrize("port", ["\u00b2", "1" * 5000, "\u0663"])
def test_an_allow_entrys_odd_port_is_a_usage_error(port):
    with pytest.raises(cb.ClaudeboxError, match="has no valid port") as raised:
        cb.parse_allow_entry(f"example.org:{port}", "--allow-domain", "--allow-domain")
    assert raised.value.exit_code == cb.EXIT_USAGE


def test_a_407_asks_for_the_sessions_proxy_token():
    assert Refusal(407, "this proxy is the session's own").response() == (
        b"HTTP/1.1 407 claudebox: this proxy is the session's own\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b'Proxy-Authenticate: Basic realm="claudebox"\r\n'
        b"Content-Length: 43\r\nConnection: close\r\n\r\n"
        b"claudebox: this proxy is the session's own\n"
    )
    for status in (400, 403, 502):
        assert b"Proxy-Authenticate" not in Refusal(status, "x").response()


def test_the_proxy_never_connects_where_inet_blocks_nor_to_loopback():
    blocked = cb.relay_blocked_set(fh.make_host().routing)
    origins = {
        address: cb.blocked_origin(address, blocked)
        for address in (
            "127.0.0.1",
            "127.8.8.8",
            "0.0.0.0",
            "10.1.2.3",
            "100.100.100.100",
            "169.254.169.254",
            "192.168.1.23",
            "203.0.113.99",
            "224.0.0.251",
            "255.255.255.255",
            "198.18.0.3",
            "93.184.216.34",
        )
    }
    assert origins == {
        "127.0.0.1": "(loopback: the host's own services)",
        "127.8.8.8": "(loopback: the host's own services)",
        "0.0.0.0": "(this network)",
        "10.1.2.3": "(private range)",
        "100.100.100.100": "(CGNAT and tailnet range)",
        "169.254.169.254": "(link-local)",
        "192.168.1.23": "(private range)",
        "203.0.113.99": "(subnet of eth1)",
        "224.0.0.251": "(multicast)",
        "255.255.255.255": "(reserved, with broadcast)",
        "198.18.0.3": None,  # inet's own link is no concern of the proxy's
        "93.184.216.34": None,
    }


def test_a_host_network_on_inets_link_does_not_stop_the_allowlist_tier():
    routing = cb.HostRouting(addresses=(cb.HostAddress("198.18.0.1", 32, "bench0"),))
    blocked = cb.relay_blocked_set(routing)
    assert cb.blocked_origin("198.18.0.1", blocked) == "(address of bench0)"


# --- the stage's netlink requests ---------------------------------------------------------


def test_the_stage_brings_lo_up_and_seals_the_allowlist_and_none_namespaces():
    for plan in (allowlist(), cb.build_plan(fh.make_host(), cb.Options(tier=Tier.NONE))):
        requests = cb.stage_netlink_requests(plan.stage)
        assert [r.label for r in requests] == ["lo up", "nftables rules"]
        assert requests[0].messages == cb.link_up_message(cb.LOOPBACK_IFINDEX, 1)
        everything = cb.nftables_batch([cb.ipaddress.IPv4Network("0.0.0.0/0")])
        assert requests[1].messages == everything
    inet = cb.build_plan(fh.make_host(), cb.Options(profile=WEB))
    labels = [r.label for r in cb.stage_netlink_requests(inet.stage)]
    assert labels[0] == "lo up" and labels[-1] == "nftables rules" and len(labels) > 3
    full = cb.build_plan(fh.make_host(), cb.Options(tier=Tier.FULL))
    assert cb.stage_netlink_requests(full.stage) == ()


def test_link_up_is_an_acknowledged_rtm_newlink_setting_iff_up():
    message = cb.link_up_message(1, 7)
    length, kind, flags, seq = cb.struct.unpack_from("=IHHI", message)
    assert (length, kind, flags, seq) == (32, cb.RTM_NEWLINK, 0x5, 7)
    assert cb.struct.unpack_from("=BxHiII", message, 16) == (0, 0, 1, 1, 1)


# --- the plan -----------------------------------------------------------------------------


def test_the_allowlist_plan():
    plan = allowlist(profile=WEB, allow=("example.org",), host=fh.make_host(pasta=None))
    assert plan.blockers == ()  # no pasta needed
    assert plan.pasta is None
    assert plan.stage.network and plan.stage.sealed and plan.stage.blocked == ()
    assert plan.stage.listen == (3128, 5432, 8080)
    assert "--unshare-net" not in plan.namespace_args  # the stage's namespace is the one
    relay = plan.relay
    assert (relay.tunnel, relay.on_host, relay.host_ports) == (
        cb.Tunnel.LISTED,
        False,
        (5432, 8080),
    )
    assert [rule.describe() for rule in relay.rules][len(DEFAULTS) :] == [
        "*.npmjs.org",
        "github.com:22",
        "example.org",
    ]
    assert relay.log_dir == f"{fh.STATE}/instances/{plan.instance.id}/network-log"
    assert cb.HostSetup(relay.log_dir) in plan.host_setup
    env = {var.name: (var.value, var.origin) for var in plan.env}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        assert env[name] == env[name.lower()] == ("http://127.0.0.1:3128", "sandbox")
    assert env["NO_PROXY"] == env["no_proxy"] == ("localhost,127.0.0.1,::1", "sandbox")
    resolv = next(d for d in plan.data if d.kind is cb.DataKind.RESOLV_CONF)
    assert resolv.content.decode() == cb.ALLOWLIST_RESOLV_CONF
    # Tools that ignore the proxy: 80, 443 and each named port of a name (not a host port's).
    assert plan.stage.transparent == (22, 80, 443) and plan.stage.resolver
    assert plan.stage.spares == cb.TRANSPARENT_SPARES
    assert plan.stage.handed == 3 + 3 + 1 + cb.TRANSPARENT_SPARES
    note = next(d for d in plan.data if d.kind is cb.DataKind.NOTE).content.decode()
    assert "example.org" in note and "127.0.0.1:5432, 127.0.0.1:8080 reach" in note


def test_host_values_of_the_proxy_variables_never_win():
    host = fh.make_host(env={**fh.HOST_ENV, "HTTPS_PROXY": "http://corp:3128"})
    options = cb.Options(tier=Tier.ALLOWLIST, extra_env=("HTTPS_PROXY",))
    for tier in (Tier.ALLOWLIST, Tier.INET, Tier.NONE):
        env = {var.name: var.value for var in cb.build_plan(host, options._replace(tier=tier)).env}
        assert env["HTTPS_PROXY"] == "http://127.0.0.1:3128", tier
    full = cb.build_plan(host, options._replace(tier=Tier.FULL))
    assert [(v.value, v.origin) for v in full.env if v.name == "HTTPS_PROXY"] == [
        ("", cb.LOGIN_ORIGIN)  # the proxy on the host's loopback, set at launch
    ]


def test_host_ports_by_tier():
    inet = cb.build_plan(fh.make_host(), cb.Options(profile=WEB))
    assert inet.relay == cb.Relay(
        cb.Tunnel.UNBLOCKED,
        (),
        (5432, 8080),
        cb.relay_blocked_set(fh.make_host().routing),
        inet.relay.log_dir,
        inet.relay.login,
    )
    assert inet.stage.listen == (3128, 5432, 8080) and not inet.stage.sealed
    for tier, note, listen in (
        (
            Tier.FULL,
            "the profile's host_ports: the full tier reaches all of the host's loopback",
            (),
        ),
        (Tier.NONE, "the profile's host_ports are not forwarded: the network is none", (3128,)),
    ):
        plan = cb.build_plan(fh.make_host(), cb.Options(tier=tier, profile=WEB))
        assert plan.relay.host_ports == () and plan.stage.listen == listen
        assert note in plan.notes
    plan = cb.build_plan(fh.make_host(), cb.Options(profile=WEB._replace(host_ports=())))
    assert plan.relay.host_ports == () and plan.stage.listen == (3128,)
    assert "the profile's allow_domains are not used: the network is inet (default)" in plan.notes


@pytest.mark.parametrize("tier", [Tier.INET, Tier.ALLOWLIST])
def test_the_proxys_own_port_is_no_host_port(tier):
    with pytest.raises(cb.ClaudeboxError) as info:
        options = cb.Options(tier=tier, profile=WEB._replace(host_ports=((3128, "web"),)))
        cb.build_plan(fh.make_host(), options)
    assert info.value.exit_code == cb.EXIT_USAGE
    assert str(info.value) == (
        "host port 3128 is where claudebox's proxy listens inside; remove 3128 from "
        "the profile's host_ports"
    )
    for other in (Tier.FULL, Tier.NONE):  # not forwarded there: nothing to refuse
        options = cb.Options(tier=other, profile=WEB._replace(host_ports=((3128, "web"),)))
        assert cb.build_plan(fh.make_host(), options).relay.host_ports == ()


def test_the_relay_survives_the_stage_spec():
    plan = allowlist(profile=WEB, allow=("example.org:8443",))
    spec = json.loads(cb.render_stage_spec(cb.stage_spec(plan)))
    assert (spec["listen"], spec["sealed"]) == ([3128, 5432, 8080], True)
    assert (spec["transparent"], spec["resolver"], spec["spares"]) == (
        [22, 80, 443, 8443],
        True,
        cb.TRANSPARENT_SPARES,
    )
    assert cb.relay_of_spec(spec["relay"]) == plan.relay
    assert cb.relay_of_spec(spec["relay"]).rules[-1] == AllowRule(
        "example.org", (8443,), "--allow-domain"
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"tunnel": "everything"}, ValueError),
        ({"rules": "x"}, TypeError),
        ({"login": []}, TypeError),
        ({"host_ports": 80}, TypeError),
        ({"blocked": [["10.0.0.0/33", "x"]]}, ValueError),
    ],
)
def test_a_bad_relay_spec_is_refused(change, error):
    spec = cb.relay_spec(allowlist().relay)
    with pytest.raises(error):
        cb.relay_of_spec({**spec, **change})
    del spec["login"]
    with pytest.raises(KeyError):
        cb.relay_of_spec(spec)


def test_the_audit_lists_domains_and_host_ports_in_red():
    plan = allowlist(profile=WEB, allow=("example.org", "pypi.org", "files.pythonhosted.org"))
    text = cb.render_audit(plan, cb.Style(False), fh.HOME)
    assert [line for line in text.splitlines() if len(line) > cb.AUDIT_WIDTH] == []
    check_golden("audit_allowlist.txt", text)
    coloured = cb.render_audit(plan, cb.Style(True), fh.HOME)
    assert "\x1b[1;31m             ! 127.0.0.1:5432 reaches the host's 127.0.0.1:5432 " in coloured
    details = cb.render_audit(plan, cb.Style(False), fh.HOME, verbose=True)
    assert (
        "  the proxy (http://127.0.0.1:3128): Claude's hosts, and the allowed names below"
    ) in details
    assert "    github.com:22 (profile web)" in details
    assert "    127.0.0.0/8 (loopback: the host's own services)" in details


def test_dry_run_allowlist_golden():
    plan = allowlist(profile=WEB, allow=("example.org",))
    check_golden("dry_run_allowlist.txt", cb.render_dry_run(plan, ("python3", "-I", "cb.py")))


def test_dry_run_json_lists_domains_host_ports_and_the_proxy():
    document = json.loads(cb.render_plan_json(allowlist(profile=WEB, allow=("example.org",))))
    assert document["network"] == "allowlist"
    assert document["proxy"]["url"] == "http://127.0.0.1:3128"
    assert {"prefix": "127.0.0.0/8", "origin": "(loopback: the host's own services)"} in (
        document["proxy"]["never_connects_to"]
    )
    assert document["allow_domains"][-1] == {
        "value": "example.org",
        "ports": [80, 443],
        "from": "--allow-domain",
    }
    assert document["host_ports"] == [{"port": 5432, "from": "base"}, {"port": 8080, "from": "web"}]
    assert document["network_log"].endswith("/network-log")
    assert document["proxy"]["reaches"] == "listed"
    inet = json.loads(cb.render_plan_json(cb.build_plan(fh.make_host(), cb.Options())))
    assert (inet["proxy"]["reaches"], inet["allow_domains"], inet["host_ports"]) == (
        "unblocked",
        [],
        [],
    )


# --- the tier: flags, variable, profile ---------------------------------------------------

DOMAINS = cb.Profile("dev", "--profile", ("dev",), allow_domains=(("example.org", "dev"),))


@pytest.mark.parametrize(
    ("flag", "allow", "env", "profile", "chosen"),
    [
        (None, True, {}, None, (Tier.ALLOWLIST, "--allow-domain")),
        ("allowlist", True, {}, None, (Tier.ALLOWLIST, "--network")),
        (None, True, {"CLAUDEBOX_NETWORK": "full"}, None, (Tier.ALLOWLIST, "--allow-domain")),
        (
            None,
            False,
            {"CLAUDEBOX_NETWORK": "allowlist"},
            None,
            (Tier.ALLOWLIST, "CLAUDEBOX_NETWORK"),
        ),
        (None, False, {}, DOMAINS, (Tier.ALLOWLIST, "profile dev")),
        (None, False, {"CLAUDEBOX_NETWORK": "none"}, DOMAINS, (Tier.NONE, "CLAUDEBOX_NETWORK")),
        ("full", False, {}, DOMAINS, (Tier.FULL, "--network")),
    ],
)
def test_choose_tier_with_domains(flag, allow, env, profile, chosen):
    assert cb.choose_tier(flag, env, profile, allow) == chosen


@pytest.mark.parametrize("flag", ["full", "inet", "none"])
def test_allow_domain_with_another_network_is_a_usage_error(flag):
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.choose_tier(flag, {}, None, True)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        f"--allow-domain chooses the allowlist network tier, but --network says {flag}; drop "
        "one of them (--network allowlist --allow-domain NAME is fine)"
    )


PATH = "/home/alice/.claudebox/profiles/dev.json"


def parse(data):
    return cb.parse_profile("dev", PATH, data, "/home/alice", lambda _path: True)


def test_profiles_take_domains_and_host_ports_and_merge_them_by_extends():
    parsed = parse(
        {"allow_domains": ["GitHub.com", "*.npmjs.org:8443"], "host_ports": [5432, 5432]}
    )
    assert (parsed.allow_domains, parsed.host_ports) == (
        ("github.com", "*.npmjs.org:8443"),
        (5432,),
    )
    files = {
        "base": cb.ProfileFile("base", "b", allow_domains=("a.org",), host_ports=(1, 2)),
        "dev": cb.ProfileFile(
            "dev", "d", extends=("base",), allow_domains=("b.org", "a.org"), host_ports=(2, 3)
        ),
    }
    profile = cb.resolve_profile("dev", "--profile", files.__getitem__)
    assert profile.allow_domains == (("a.org", "dev"), ("b.org", "dev"))
    assert profile.host_ports == ((1, "base"), (2, "dev"), (3, "dev"))
    shown = json.loads(cb.profile_json(profile))
    assert shown["allow_domains"] == [
        {"value": "a.org", "from": "dev"},
        {"value": "b.org", "from": "dev"},
    ]
    assert shown["host_ports"][0] == {"value": 1, "from": "base"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"allow_domains": "example.org"}, f"{PATH}: allow_domains: must be a list of strings"),
        (
            {"allow_domains": ["*.org"]},
            f"{PATH}: allow_domains: '*.org' would allow every name under .org; name a domain "
            "(*.example.org)",
        ),
        (
            {"host_ports": [0]},
            f"{PATH}: host_ports: must be a list of TCP port numbers (1 to 65535)",
        ),
        (
            {"host_ports": [True]},
            f"{PATH}: host_ports: must be a list of TCP port numbers (1 to 65535)",
        ),
        (
            {"host_ports": ["80"]},
            f"{PATH}: host_ports: must be a list of TCP port numbers (1 to 65535)",
        ),
        (
            {"host_ports": 80},
            f"{PATH}: host_ports: must be a list of TCP port numbers (1 to 65535)",
        ),
    ],
)
def test_bad_domains_and_host_ports_name_the_file_and_key(data, message):
    with pytest.raises(cb.ClaudeboxError) as info:
        parse(data)
    assert str(info.value) == message


def test_a_profile_chain_naming_another_tier_and_domains_is_an_error():
    files = {
        "base": cb.ProfileFile("base", "b", allow_domains=("a.org",)),
        "dev": cb.ProfileFile("dev", "d", extends=("base",), network=Tier.INET),
    }
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.resolve_profile("dev", "--profile", files.__getitem__)
    assert str(info.value) == (
        "profile dev: allow_domains (from base) need the allowlist network tier, but network is "
        "inet (from dev); remove one of the two"
    )
    files["dev"] = files["dev"]._replace(network=Tier.ALLOWLIST)
    assert cb.resolve_profile("dev", "--profile", files.__getitem__).network == (
        Tier.ALLOWLIST,
        "dev",
    )


# --- the relay, in this process -----------------------------------------------------------


class Echo:
    """A TCP server on the host's loopback: "hello" and then every byte back, per connection;
    it remembers connections that ended."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(connection,), daemon=True).start()

    def echo(self, connection: socket.socket) -> None:
        with connection:
            connection.sendall(b"hello\n")
            while data := connection.recv(4096):
                connection.sendall(data)
        self.closed += 1


NO_CERTIFICATE = cb.SessionCertificate(b"", b"")  # TLS is made on first use: never here


def login_of(tmp_path: Path) -> cb.Login:
    return cb.Login(str(tmp_path / "claude"), (), "", "", "openssl", "0123456789abcdef")


def relay_for(
    tmp_path: Path, echo: Echo, port: int, tunnel=cb.Tunnel.LISTED, on_host=False
) -> tuple[cb.RelayServer, list[int]]:
    """A RelayServer whose "sandbox" listeners are ephemeral ports of this process's loopback;
    localhost is allowed on the echo server's port and nothing is blocked (the test's upstream
    is on loopback: in a session the proxy refuses loopback)."""
    rule = AllowRule("localhost", (echo.port,), "test")
    rules = (rule,) if tunnel is cb.Tunnel.LISTED else ()
    login = login_of(tmp_path)
    relay = cb.Relay(tunnel, rules, (port,), (), str(tmp_path / "log"), login, on_host)
    ports = relay.ports or (cb.PROXY_PORT,)
    listeners = [(socket.create_server(("127.0.0.1", 0)), inside) for inside in ports]
    session = cb.LoginSession(login, {})
    server = cb.RelayServer(relay, listeners, session, NO_CERTIFICATE)
    return server, [item.getsockname()[1] for item, _inside in listeners]


def read_until(connection: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = connection.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_the_relay_tunnels_refuses_forwards_and_stops_without_a_trace(tmp_path):
    echo = Echo()
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for cycle in range(20):
        server, (proxy, forwarded) = relay_for(tmp_path, echo, echo.port)
        tunnel = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        tunnel.sendall(f"CONNECT localhost:{echo.port} HTTP/1.1\r\n\r\nping{cycle}".encode())
        assert read_until(tunnel, f"ping{cycle}".encode()) == (
            f"HTTP/1.1 200 Connection established\r\n\r\nhello\nping{cycle}".encode()
        )
        refused = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        refused.sendall(b"CONNECT localhost:1 HTTP/1.1\r\n\r\n")
        assert read_until(refused, b"\r\n\r\n").startswith(b"HTTP/1.1 403 claudebox: port 1 ")
        host_port = socket.create_connection(("127.0.0.1", forwarded), timeout=10)
        assert read_until(host_port, b"\n") == b"hello\n"
        closed = echo.closed
        server.stop()  # with the tunnel and the forwarded connection still open
        assert tunnel.recv(4096) == b"" and host_port.recv(4096) == b""
        deadline = time.monotonic() + 10
        while echo.closed < closed + 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for connection in (tunnel, refused, host_port):
            connection.close()
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds
    logs = sorted((tmp_path / "log").iterdir())
    assert len(logs) <= cb.RELAY_LOGS_KEPT
    assert oct(logs[-1].stat().st_mode & 0o777) == "0o600"
    text = logs[-1].read_text()
    assert f"allowed CONNECT localhost:{echo.port} -> 127.0.0.1 (localhost:{echo.port}, test)" in (
        text
    )
    assert "refused CONNECT localhost:1: port 1 of localhost is not allowed" in text
    assert f"host port {echo.port}: connected" in text
    assert text.endswith("session ended\n")


def test_the_none_tiers_proxy_reaches_no_other_host(tmp_path):
    echo = Echo()
    server, (proxy, _forwarded) = relay_for(tmp_path, echo, echo.port, cb.Tunnel.NOTHING)
    try:
        refused = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        refused.sendall(f"CONNECT localhost:{echo.port} HTTP/1.1\r\n\r\n".encode())
        answer = read_until(refused, b"to reach more\n")
        assert answer.startswith(b"HTTP/1.1 403 claudebox: the none tier reaches only")
        assert answer.endswith(
            b"\r\n\r\nclaudebox: the none tier reaches only Claude's own hosts (api.anthropic.com, "
            b"platform.claude.com, claude.ai, mcp-proxy.anthropic.com); choose another tier "
            b"(claudebox --network inet) to reach more\n"
        )
        refused.close()
    finally:
        server.stop()
    assert echo.closed == 0


def test_the_full_tiers_proxy_on_the_hosts_loopback_wants_the_sessions_token(tmp_path):
    echo = Echo()
    server, (proxy,) = relay_for(tmp_path, echo, echo.port, cb.Tunnel.ANY, on_host=True)
    token = server.login.proxy_token
    assert len(token) == 32
    try:
        for authorization in (
            "",
            "Basic " + base64.b64encode(b"claudebox:wrong").decode(),
            "Bearer x",
        ):
            client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
            header = f"Proxy-Authorization: {authorization}\r\n" if authorization else ""
            client.sendall(f"CONNECT localhost:{echo.port} HTTP/1.1\r\n{header}\r\n".encode())
            answer = read_until(client, b"\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 407 claudebox: this proxy is the session's own\r\n")
            assert b'Proxy-Authenticate: Basic realm="claudebox"' in answer
            client.close()
        client = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        good = base64.b64encode(f"claudebox:{token}".encode()).decode()
        client.sendall(
            f"CONNECT localhost:{echo.port} HTTP/1.1\r\nProxy-Authorization: Basic {good}\r\n"
            "\r\nping".encode()
        )
        assert read_until(client, b"ping") == (
            b"HTTP/1.1 200 Connection established\r\n\r\nhello\nping"
        )
        client.close()
    finally:
        server.stop()
