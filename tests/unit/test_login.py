"""Claude's login through the relay: the values the host sets and what enters instead
(placeholders), the credentials file inside and after a refresh, the HTTP heads and bodies the
relay reads strictly, its answers, Claude's refresh lock, and a LoginSession without a network."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakehost import PROXY_ENV

import claudebox as cb
from claudebox import HttpHead, Refusal, Tier

INSTANCE = "0123456789abcdef"
API_KEY = "sk-ant-api03-" + "K" * 80 + "AA"
OAUTH_TOKEN = "sk-ant-oat01-" + "T" * 80 + "AA"
AUTH_TOKEN = "gateway-token-" + "G" * 40
HOST_ACCESS = "sk-ant-oat01-" + "a" * 80 + "AA"
HOST_REFRESH = "sk-ant-ort01-" + "r" * 80 + "AA"
FAR = 4102444800000  # 2100-01-01, in milliseconds


def profile_with(*env: tuple[str, str]) -> cb.Profile:
    """A resolved profile with literal values (parse_profile refuses these names in a file;
    a Profile built otherwise can still carry them)."""
    return cb.Profile("web", "--profile", ("web",), env=tuple((n, v, "web") for n, v in env))


# --- the host's values: login_values, login_upstream, login_environment ---------------------


def test_login_values_are_the_credential_variables_and_the_base_url_the_host_sets():
    env = {
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_AUTH_TOKEN": "",  # set but empty: not a value
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "ANTHROPIC_BASE_URL": "https://gw.example",
        "ANTHROPIC_MODEL": "opus",  # not the login's
        "GITHUB_TOKEN": "ghp_x",
    }
    assert cb.login_values(env, None) == {
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "ANTHROPIC_BASE_URL": "https://gw.example",
    }
    assert cb.login_values({}, None) == {}


def test_a_profiles_literal_login_value_wins():
    profile = profile_with(
        ("ANTHROPIC_AUTH_TOKEN", AUTH_TOKEN), ("ANTHROPIC_API_KEY", "sk-ant-api03-lit"), ("X", "1")
    )
    assert cb.login_values({"ANTHROPIC_API_KEY": API_KEY}, profile) == {
        "ANTHROPIC_API_KEY": "sk-ant-api03-lit",
        "ANTHROPIC_AUTH_TOKEN": AUTH_TOKEN,
    }


@pytest.mark.parametrize(
    ("url", "upstream"),
    [
        ("", ""),
        ("   ", ""),
        ("https://api.anthropic.com", ""),  # Anthropic's own: no gateway
        ("https://api.anthropic.com/", ""),
        ("HTTPS://API.ANTHROPIC.COM.:443", ""),
        ("https://api.anthropic.com:8443", "https://api.anthropic.com:8443"),
        ("http://api.anthropic.com", "http://api.anthropic.com"),  # not as Claude reaches it
        ("https://gw.example/anthropic///", "https://gw.example/anthropic"),
        (" http://10.0.0.5:8080/v1 ", "http://10.0.0.5:8080/v1"),
        ("https://llm.corp.example", "https://llm.corp.example"),
    ],
)
def test_login_upstream(url, upstream):
    assert cb.login_upstream({"ANTHROPIC_BASE_URL": url}) == upstream


def test_no_base_url_is_no_upstream():
    assert cb.login_upstream({}) == ""


@pytest.mark.parametrize(
    "url",
    [
        "gw.example",
        "gw.example:8080",
        "ftp://gw.example",
        "https://",
        "https:///v1",
        "https://user:secret@gw.example",
        "https://[::1]:8080",
        "https://gw.example:0",
        "https://gw.example:99999",
        "https://gw.example:http",
        "https://gw.example?x=1",
        "https://127.1",
        "https://gw_example..com",
        "javascript://alert(1)",
        "https://" + "a" * 300,
    ],
)
def test_a_base_url_that_is_not_a_plain_http_url_is_a_usage_error(url):
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.login_upstream({"ANTHROPIC_BASE_URL": url})
    assert info.value.exit_code == cb.EXIT_USAGE
    assert str(info.value) == (
        "ANTHROPIC_BASE_URL is not an http:// or https:// URL with a host name or an IPv4 "
        f"address ({url.strip()[:80]!r}); fix it or unset it"
    )


def test_login_environment_of_the_full_tier_is_set_at_launch():
    assert cb.login_environment(Tier.FULL, {}) == {
        "NO_PROXY": "localhost,127.0.0.1,::1",
        "no_proxy": "localhost,127.0.0.1,::1",
        **dict.fromkeys(PROXY_ENV),  # an ephemeral port of the host's loopback, with a token
        "NODE_EXTRA_CA_CERTS": "/etc/claudebox/login-ca.pem",
    }
    values = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": "https://gw.example"}
    env = cb.login_environment(Tier.FULL, values)
    assert (env["ANTHROPIC_API_KEY"], env["ANTHROPIC_BASE_URL"]) == (None, None)


@pytest.mark.parametrize("tier", [Tier.INET, Tier.ALLOWLIST, Tier.NONE])
def test_login_environment_of_the_other_tiers_is_the_proxy_inside(tier):
    values = {
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_AUTH_TOKEN": AUTH_TOKEN,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "ANTHROPIC_BASE_URL": "https://gw.example/v1",
    }
    assert cb.login_environment(tier, values) == {
        "NO_PROXY": "localhost,127.0.0.1,::1",
        "no_proxy": "localhost,127.0.0.1,::1",
        **dict.fromkeys(PROXY_ENV, "http://127.0.0.1:3128"),
        "NODE_EXTRA_CA_CERTS": "/etc/claudebox/login-ca.pem",
        "ANTHROPIC_API_KEY": None,  # placeholders, made at launch
        "ANTHROPIC_AUTH_TOKEN": None,
        "CLAUDE_CODE_OAUTH_TOKEN": None,
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:3128",  # Claude's Messages go to the relay
    }
    first_party = cb.login_environment(tier, {"ANTHROPIC_BASE_URL": "https://api.anthropic.com"})
    assert "ANTHROPIC_BASE_URL" not in first_party
    with pytest.raises(cb.ClaudeboxError):
        cb.login_environment(tier, {"ANTHROPIC_BASE_URL": "gw.example"})


# --- the host's login and what enters instead ------------------------------------------------

HOST_CREDENTIALS = {
    "claudeAiOauth": {
        "accessToken": HOST_ACCESS,
        "refreshToken": HOST_REFRESH,
        "expiresAt": FAR,
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max",
        "rateLimitTier": "default_claude_max_5x",
        "isMax": True,  # not among the fields shown inside
    },
    "mcpOAuth": {"server": {"accessToken": "mcp-canary"}},
}
SHOWN = {
    "scopes": ["user:inference", "user:profile"],
    "subscriptionType": "max",
    "rateLimitTier": "default_claude_max_5x",
}


def test_host_login_of_a_credentials_file():
    assert cb.host_login_of(HOST_CREDENTIALS) == cb.HostLogin(HOST_ACCESS, HOST_REFRESH, FAR, SHOWN)
    oauth = HOST_CREDENTIALS["claudeAiOauth"]
    with_client = {"claudeAiOauth": {**oauth, "clientId": "client-1"}}
    assert cb.host_login_of(with_client).fields == {**SHOWN, "clientId": "client-1"}
    undated = {"claudeAiOauth": {**oauth, "expiresAt": "soon"}}
    assert cb.host_login_of(undated).expires_at == 0
    float_dated = {"claudeAiOauth": {**oauth, "expiresAt": 1.5}}
    assert cb.host_login_of(float_dated).expires_at == 0


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"claudeAiOauth": None},
        {"claudeAiOauth": ["x"]},
        {"claudeAiOauth": {"refreshToken": HOST_REFRESH}},
        {"claudeAiOauth": {"accessToken": "", "refreshToken": HOST_REFRESH}},
        {"claudeAiOauth": {"accessToken": 12, "refreshToken": HOST_REFRESH}},
        {"claudeAiOauth": {"accessToken": HOST_ACCESS}},
        {"claudeAiOauth": {"accessToken": HOST_ACCESS, "refreshToken": None}},
        {"primaryApiKey": API_KEY},
    ],
)
def test_no_host_login_in_other_documents(document):
    assert cb.host_login_of(document) is None


def test_a_placeholder_has_the_real_values_shape_and_says_where_it_came_from():
    assert cb.make_placeholder(API_KEY, b"\x00\xff") == "sk-ant-api03-claudebox-00ff"
    assert cb.make_placeholder(HOST_REFRESH, b"\x01") == "sk-ant-ort01-claudebox-01"
    assert cb.make_placeholder(AUTH_TOKEN, b"\x01", "-x") == "claudebox-01-x"  # no sk-ant- shape
    assert cb.make_placeholder("", b"\xab") == "claudebox-ab"
    assert cb.make_placeholder(API_KEY, b"\x02", "s" * 20)[-20:] == "s" * 20


def test_a_placeholder_holds_nothing_of_a_real_key_with_dashes_in_its_secret_part():
    real = "sk-ant-api03-" + "S3cr3t-part_of-the-key" + "-lastAA"
    placeholder = cb.make_placeholder(real, b"\x00")
    assert placeholder == "sk-ant-api03-claudebox-00"
    assert "S3cr3t" not in placeholder


def test_an_api_keys_placeholder_suffix_is_a_digest_alike_in_one_project():
    suffix = cb.api_key_suffix(API_KEY, INSTANCE)
    digest = hashlib.sha256(f"claudebox api key {INSTANCE} {API_KEY}".encode()).hexdigest()
    assert suffix == digest[:20]
    assert len(suffix) == cb.API_KEY_SUFFIX_LENGTH == 20
    assert cb.api_key_suffix(API_KEY, INSTANCE) == suffix
    assert cb.api_key_suffix(API_KEY, "fedcba9876543210") != suffix
    assert cb.api_key_suffix(API_KEY + "x", INSTANCE) != suffix


def test_the_credentials_inside_are_the_hosts_in_shape_with_placeholders():
    login = cb.host_login_of(HOST_CREDENTIALS)
    text = cb.inside_credentials(login, "sk-ant-oat01-claudebox-a", "sk-ant-ort01-claudebox-r")
    assert (
        text
        == (
            json.dumps(
                {
                    "claudeAiOauth": {
                        **SHOWN,
                        "accessToken": "sk-ant-oat01-claudebox-a",
                        "refreshToken": "sk-ant-ort01-claudebox-r",
                        "expiresAt": FAR,
                    }
                },
                indent=2,
            )
            + "\n"
        ).encode()
    )
    for canary in (HOST_ACCESS, HOST_REFRESH, "mcp-canary", "isMax"):
        assert canary.encode() not in text
    undated = login._replace(expires_at=0, fields={})
    assert json.loads(cb.inside_credentials(undated, "a", "r")) == {
        "claudeAiOauth": {"accessToken": "a", "refreshToken": "r"}
    }
    assert cb.inside_credentials(None, "a", "r") == b"{}\n"  # logged out: Claude inside asks


def test_updated_credentials_keep_the_files_other_keys():
    answer = {
        "access_token": "new-access",
        "refresh_token": "new-refresh",
        "expires_in": 3600,
        "scope": "user:inference  user:sessions",
        "token_type": "Bearer",
    }
    assert cb.updated_credentials(HOST_CREDENTIALS, answer, 1000.5) == {
        "claudeAiOauth": {
            **HOST_CREDENTIALS["claudeAiOauth"],
            "accessToken": "new-access",
            "refreshToken": "new-refresh",
            "expiresAt": 1000500 + 3600000,
            "scopes": ["user:inference", "user:sessions"],
        },
        "mcpOAuth": {"server": {"accessToken": "mcp-canary"}},
    }
    # no refresh token, no expiry, an empty scope: the file's stay
    partial = cb.updated_credentials(HOST_CREDENTIALS, {"access_token": "a", "scope": " "}, 0)
    assert partial["claudeAiOauth"] == {**HOST_CREDENTIALS["claudeAiOauth"], "accessToken": "a"}
    # a file without a login (a login inside): a new one
    assert cb.updated_credentials({"claudeAiOauth": "broken"}, {"access_token": "a"}, 0) == {
        "claudeAiOauth": {"accessToken": "a"}
    }
    for broken in ({}, {"access_token": ""}, {"access_token": 5}, {"refresh_token": "r"}):
        assert cb.updated_credentials(HOST_CREDENTIALS, broken, 0) is None


# --- HTTP heads --------------------------------------------------------------------------


def head(raw: bytes, *, request: bool = True) -> HttpHead:
    parsed = cb.parse_head(raw, request=request)
    assert isinstance(parsed, HttpHead), parsed
    return parsed


def test_a_request_head_parsed():
    parsed = head(
        b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.anthropic.com\r\n"
        b"x-api-key:  sk-ant-api03-claudebox-00 \r\nContent-Length: 2\r\nEmpty:"
    )
    assert parsed == HttpHead(
        ("POST", "/v1/messages?beta=true", "HTTP/1.1"),
        (
            ("Host", "api.anthropic.com"),
            ("x-api-key", "sk-ant-api03-claudebox-00"),
            ("Content-Length", "2"),
            ("Empty", ""),
        ),
    )
    assert head(b"GET / HTTP/1.0") == HttpHead(("GET", "/", "HTTP/1.0"), ())
    assert head(b"GET / HTTP/1.1\nHost: x").headers == (("Host", "x"),)  # bare LF lines


def test_an_answer_head_parsed():
    assert head(b"HTTP/1.1 404 Not Found Here\r\nA: 1", request=False) == HttpHead(
        ("HTTP/1.1", "404", "Not Found Here"), (("A", "1"),)
    )
    assert head(b"HTTP/1.0 204", request=False).line == ("HTTP/1.0", "204", "")
    assert head(b"HTTP/1.1 200 ", request=False).line == ("HTTP/1.1", "200", "")


REQUEST_LINE = b"POST / HTTP/1.1\r\n"
ANSWER_LINE = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"get / HTTP/1.1", "not an HTTP/1 request line"),
        (b"GET / HTTP/2", "not an HTTP/1 request line"),
        (b"GET / HTTP/1.2", "not an HTTP/1 request line"),
        (b"GET /", "not an HTTP/1 request line"),
        (b"GET  / HTTP/1.1", "not an HTTP/1 request line"),
        (b"GET / HTTP/1.1 x", "not an HTTP/1 request line"),
        (b"", "not an HTTP/1 request line"),
        (b"\x16\x03\x01\x02\x00", "a control character (CR, NUL, ESC…) in a head"),
        (REQUEST_LINE + b" folded: x", "a malformed header line"),
        (REQUEST_LINE + b"A: 1\r\n\tfolded", "a malformed header line"),
        (REQUEST_LINE + b"no colon", "a malformed header line"),
        (REQUEST_LINE + b"Space : x", "a malformed header line"),
        (REQUEST_LINE + b": x", "a malformed header line"),
        (REQUEST_LINE + b"A: 1\r\n\r\nB: 2", "a malformed header line"),
        (REQUEST_LINE + b"Bad\x00Name: x", "a control character (CR, NUL, ESC…) in a head"),
        (REQUEST_LINE + b"Content-Length: 1\r\nContent-Length: 2", "a bad or repeated Content"),
        (REQUEST_LINE + b"Content-Length: 1,1", "a bad or repeated Content-Length"),
        (REQUEST_LINE + b"Content-Length: +1", "a bad or repeated Content-Length"),
        (REQUEST_LINE + b"Content-Length: -1", "a bad or repeated Content-Length"),
        (REQUEST_LINE + b"Content-Length: 0x10", "a bad or repeated Content-Length"),
        (REQUEST_LINE + b"Content-Length:", "a bad or repeated Content-Length"),
        (REQUEST_LINE + b"Transfer-Encoding: gzip", "a Transfer-Encoding other than chunked"),
        (REQUEST_LINE + b"Transfer-Encoding: gzip, chunked", "a Transfer-Encoding other than"),
        (REQUEST_LINE + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "a Transf"),
        (REQUEST_LINE + b"Transfer-Encoding: chunked\r\nContent-Length: 3", "a Transfer-Encod"),
        (REQUEST_LINE + b"Transfer-Encoding:", "a Transfer-Encoding other than chunked"),
    ],
)
def test_a_request_head_is_read_strictly(raw, reason):
    refusal = cb.parse_head(raw, request=True)
    assert isinstance(refusal, Refusal) and refusal.status == 400
    assert refusal.reason.startswith(reason), refusal.reason
    if raw.startswith(REQUEST_LINE):  # the same in an answer is the server's fault: 502
        answer = cb.parse_head(ANSWER_LINE + raw[len(REQUEST_LINE) :], request=False)
        assert answer == Refusal(502, refusal.reason)


@pytest.mark.parametrize(
    "line",
    [b"HTTP/1.1 2000 OK", b"HTTP/2 200 OK", b"ICY 200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 abc", b""],
)
def test_an_answer_that_is_not_http_1_is_a_bad_gateway(line):
    assert cb.parse_head(line, request=False) == Refusal(502, "the server's answer is not HTTP/1")


def test_allowed_repetitions_and_spellings():
    same = head(REQUEST_LINE + b"Content-Length: 5\r\ncontent-length: 5")
    assert cb.body_framing(same) == ("length", 5)
    chunked = head(REQUEST_LINE + b"transfer-encoding: Chunked ")
    assert cb.body_framing(chunked) == ("chunked", 0)


def test_a_content_length_of_superscript_digits_is_refused():
    """'²' (0xb2) passes isdigit() but not int(): body_framing then raises ValueError, which
    the relay's threads do not catch (a traceback on the user's terminal)."""
    refusal = cb.parse_head(REQUEST_LINE + b"Content-Length: \xb2", request=True)
    assert isinstance(refusal, Refusal) and refusal.status == 400


def test_a_bare_carriage_return_inside_a_head_is_refused():
    """RFC 9112 2.2: a bare CR is invalid (or a space); passed on as it came, a server that
    ends lines at it reads a Content-Length the relay never saw."""
    refusal = cb.parse_head(REQUEST_LINE + b"X: a\rContent-Length: 5", request=True)
    assert isinstance(refusal, Refusal) and refusal.status == 400


@pytest.mark.parametrize("raw", [b"GET /\x1b[2J HTTP/1.1", REQUEST_LINE + b"X: \x1b]0;t\x07"])
def test_an_escape_in_a_head_is_refused_before_the_log_could_print_it(raw):
    refusal = cb.parse_head(raw, request=True)
    assert refusal == Refusal(400, "a control character (CR, NUL, ESC…) in a head")
    assert cb.parse_head(REQUEST_LINE + b"X: a\tb", request=True) == HttpHead(
        ("POST", "/", "HTTP/1.1"), (("X", "a\tb"),)
    )


def test_http_head_values():
    request = HttpHead(
        ("POST", "/v1/messages", "HTTP/1.1"),
        (("Host", "x"), ("X-Api-Key", "k"), ("x-api-key", "second"), ("Connection", "keep-alive")),
    )
    assert request.get("x-api-key") == "k"  # the first; names are matched in lower case
    assert request.get("missing") is None
    assert request.render() == (
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\nx-api-key: second\r\n"
        b"Connection: keep-alive\r\n\r\n"
    )
    assert request.with_headers(("x-api-key", "host"), [("Host", "y"), ("A", "1")]) == HttpHead(
        request.line, (("Connection", "keep-alive"), ("Host", "y"), ("A", "1"))
    )
    assert HttpHead(("HTTP/1.1", "204", ""), ()).render() == b"HTTP/1.1 204\r\n\r\n"
    assert HttpHead(("HTTP/1.1", "401", "Unauthorized"), ()).status == 401


@pytest.mark.parametrize(
    ("line", "connection", "closes"),
    [
        (("GET", "/", "HTTP/1.1"), None, False),
        (("GET", "/", "HTTP/1.1"), "close", True),
        (("GET", "/", "HTTP/1.1"), "Keep-Alive, Close", True),
        (("GET", "/", "HTTP/1.1"), "closed", False),
        (("GET", "/", "HTTP/1.0"), None, True),
        (("GET", "/", "HTTP/1.0"), "keep-alive", True),
        (("HTTP/1.1", "200", "OK"), None, False),
        (("HTTP/1.1", "200", "OK"), "close", True),
        (("HTTP/1.0", "200", "OK"), None, True),
    ],
)
def test_whether_a_message_ends_its_connection(line, connection, closes):
    headers = (("Connection", connection),) if connection else ()
    assert HttpHead(line, headers).closes is closes


@pytest.mark.parametrize(
    ("raw", "method", "framing"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 12", "", ("length", 12)),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked", "", ("chunked", 0)),
        (b"GET / HTTP/1.1", "", ("none", 0)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0", "GET", ("length", 0)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "POST", ("chunked", 0)),
        (b"HTTP/1.1 200 OK", "GET", ("close", 0)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10", "HEAD", ("none", 0)),
        (b"HTTP/1.1 100 Continue", "POST", ("none", 0)),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 10", "GET", ("none", 0)),
        (b"HTTP/1.1 304 Not Modified", "GET", ("none", 0)),
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3", "POST", ("length", 3)),
    ],
)
def test_body_framing(raw, method, framing):
    request = raw.startswith(b"POST") or raw.startswith(b"GET")
    assert cb.body_framing(head(raw, request=request), method=method) == framing


def test_the_relays_own_answers():
    answer = cb.json_answer(403, {"a": "é"})
    assert answer == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        b'{"a": "\\u00e9"}'
    )
    assert cb.json_answer(200, {}, "Fine").startswith(b"HTTP/1.1 200 Fine\r\n")
    assert cb.json_answer(418, {}).startswith(b"HTTP/1.1 418 Error\r\n")
    assert cb.api_error(Refusal(401, "no login")) == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "claudebox: no login"},
    }
    assert cb.api_error(Refusal(403, "x"))["error"]["type"] == "permission_error"
    for status in (400, 502):
        assert cb.api_error(Refusal(status, "x"))["error"]["type"] == "invalid_request_error"
    assert cb.oauth_error("x") == {"error": "invalid_grant", "error_description": "claudebox: x"}


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  BEARER   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
        ("", None),
    ],
)
def test_bearer_of(value, token):
    assert cb.bearer_of(value) == token


@pytest.mark.parametrize(
    ("url", "upstream", "authority"),
    [
        ("https://gw.example", cb.Upstream("https", "gw.example", 443, "", True), "gw.example"),
        ("HTTP://GW.example/v1", cb.Upstream("http", "gw.example", 80, "/v1", True), "gw.example"),
        (
            "http://10.0.0.5:8080/a/b",
            cb.Upstream("http", "10.0.0.5", 8080, "/a/b", True),
            "10.0.0.5:8080",
        ),
        (
            "https://gw.example:443/",
            cb.Upstream("https", "gw.example", 443, "", True),
            "gw.example",
        ),
    ],
)
def test_upstream_of_url(url, upstream, authority):
    assert cb.upstream_of_url(url) == upstream
    assert upstream.authority == authority


def test_anthropics_upstream_and_a_url_with_a_user():
    assert cb.Upstream("https", "api.anthropic.com", 443).authority == "api.anthropic.com"
    with pytest.raises(ValueError, match="not a base URL"):
        cb.upstream_of_url("https://user@gw.example")


def test_env_arguments_are_nul_separated_setenv_words():
    variables = [
        cb.EnvVar("A", "1", "sandbox"),
        cb.EnvVar("EMPTY", "", "host"),
        cb.EnvVar("ODD", 'it\'s "$HOME"\n', "profile"),
        cb.EnvVar("LATIN", "caf\udce9", "host"),  # a host value that is not UTF-8
    ]
    assert cb.env_arguments(variables) == (
        b'--setenv\0A\x001\0--setenv\0EMPTY\0\0--setenv\0ODD\0it\'s "$HOME"\n\0'
        b"--setenv\0LATIN\0caf\xe9\0"
    )
    assert cb.env_arguments([]) == b""


# --- --check's login probe and its judge -----------------------------------------------------


def test_login_results_judge_the_probe():
    good = {
        "connect": "HTTP/1.1 200 Connection established",
        "tls": "verified",
        "answer": "HTTP/1.1 403 Forbidden",
    }
    assert cb.login_results(good) == [
        cb.CheckResult(
            "sandbox: login relay",
            True,
            "inside, api.anthropic.com's TLS ends at the relay (the session's CA) and a key "
            "claudebox did not issue is refused (HTTP 403)",
            "Claude inside could not use your login; report it (see SECURITY.md)",
        )
    ]
    for bad in (
        {**good, "answer": "HTTP/1.1 200 OK"},  # a key the relay did not issue went through
        {**good, "connect": "HTTP/1.1 407 Proxy Authentication Required"},
        {"connect": good["connect"], "error": "certificate verify failed"},
        {},
    ):
        (result,) = cb.login_results(bad)
        assert result.ok is False
        assert result.detail == "the login relay's chain failed inside: " + "; ".join(
            f"{k}: {v}" for k, v in bad.items()
        )


def test_the_login_probe_is_python_that_check_runs_inside():
    compile(cb.LOGIN_PROBE, "LOGIN_PROBE", "exec")
    for needed in ("HTTPS_PROXY", "NODE_EXTRA_CA_CERTS", "CONNECT api.anthropic.com:443"):
        assert needed in cb.LOGIN_PROBE


class FakeLoginProxy:
    """CONNECT, then TLS with the session's certificate, then 403 to any request: what the
    relay does for a key it did not issue. It records the CONNECT head."""

    def __init__(self, certificate: cb.SessionCertificate, tmp_path: Path) -> None:
        (tmp_path / "chain.pem").write_bytes(certificate.chain)
        (tmp_path / "key.pem").write_bytes(certificate.key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connect = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            connection.settimeout(10)
            while b"\r\n\r\n" not in self.connect:
                self.connect += connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self.context.wrap_socket(connection, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(4096)
                tls.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None and os.environ.get("CI") != "true", reason="openssl not installed"
)


@needs_openssl
@pytest.mark.parametrize("user", ["", "claudebox:0123abcd@"])
def test_the_login_probe_passes_against_a_relay_that_refuses_its_key(tmp_path, user):
    certificate = cb.make_session_certificate(OPENSSL or "openssl")
    (tmp_path / "ca.pem").write_bytes(certificate.chain)
    proxy = FakeLoginProxy(certificate, tmp_path)
    env = {
        "HTTPS_PROXY": f"http://{user}127.0.0.1:{proxy.port}",
        "NODE_EXTRA_CA_CERTS": str(tmp_path / "ca.pem"),
    }
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", cb.LOGIN_PROBE],
        env=env,
        capture_output=True,
        check=True,
        timeout=30,
    )
    report = json.loads(out.stdout)
    assert report == {
        "connect": "HTTP/1.1 200 Connection established",
        "tls": "verified",
        "answer": "HTTP/1.1 403 Forbidden",
    }
    assert cb.login_results(report)[0].ok
    token = base64.b64encode(b"claudebox:0123abcd").decode()
    authorization = f"Proxy-Authorization: Basic {token}\r\n".encode()
    assert (authorization in proxy.connect) is bool(user)
    assert proxy.connect.startswith(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\n")


@needs_openssl
def test_the_session_certificate_is_its_own_name_constrained_ca(tmp_path):
    """One self-signed certificate for Claude's hosts: the trust anchor inside and the relay's
    server certificate; it can vouch for no other name, and its key is not in it."""
    certificate = cb.make_session_certificate(OPENSSL or "openssl")
    assert certificate.chain.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" not in certificate.chain
    assert certificate.key.startswith(b"-----BEGIN PRIVATE KEY-----")
    (tmp_path / "ca.pem").write_bytes(certificate.chain)
    text = subprocess.run(
        [OPENSSL or "openssl", "x509", "-noout", "-text", "-in", str(tmp_path / "ca.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CA:TRUE, pathlen:0" in text
    for name in cb.LOGIN_HOSTS:
        assert f"DNS:{name}" in text  # the names and the permitted subtrees

    def hostname(name: str) -> list[str]:
        return ["-verify_hostname", name, str(tmp_path / "ca.pem")]

    def verify(name: str) -> int:
        return subprocess.run(
            [OPENSSL or "openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), *hostname(name)],
            capture_output=True,
            check=False,
        ).returncode

    assert verify("platform.claude.com") == 0
    assert verify("example.org") != 0


def test_a_failing_openssl_is_one_error(tmp_path):
    fake = tmp_path / "openssl"
    fake.write_text("#!/bin/sh\necho 'req: Unknown option or cipher: -CA' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.make_session_certificate(str(fake))
    assert str(info.value) == (
        "cannot make the login relay's certificate: "
        f"{fake} failed (req: Unknown option or cipher: -CA); claudebox needs OpenSSL 3 "
        "(`openssl version`)"
    )
    with pytest.raises(cb.ClaudeboxError, match="openssl printed no key and certificate"):
        cb.split_pem(b"-----BEGIN CERTIFICATE-----\n")


# --- bodies through a Wire -------------------------------------------------------------------


def wire_with(data: bytes) -> cb.Wire:
    """A Wire reading `data` from the other end of a socketpair, which then closes."""
    ours, theirs = socket.socketpair()
    ours.settimeout(10)

    def send() -> None:
        with theirs, contextlib.suppress(OSError):  # the reader may stop early
            theirs.sendall(data)

    threading.Thread(target=send, daemon=True).start()
    return cb.Wire(ours)


def copied(data: bytes, framing, guard=None) -> tuple[int, bytes, bytes]:
    """copy_body from a Wire holding `data`: (its result, what reached the sink, what is left)."""
    source = wire_with(data)
    sink, out = socket.socketpair()
    try:
        count = cb.copy_body(source, sink, framing, guard)
    finally:
        sink.close()
    received = b""
    while chunk := out.recv(65536):
        received += chunk
    out.close()
    rest = source.data + b"".join(iter(lambda: source.sock.recv(65536), b""))
    source.sock.close()
    return count, received, rest


CHUNKED = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\nNEXT"


def test_copy_body_passes_each_framing_on_as_it_came():
    assert copied(b"0123456789NEXT", ("length", 10)) == (10, b"0123456789", b"NEXT")
    whole = CHUNKED[: -len(b"NEXT")]
    assert copied(CHUNKED, ("chunked", 0)) == (len(whole), whole, b"NEXT")
    assert copied(b"until the end", ("close", 0)) == (13, b"until the end", b"")
    assert copied(b"NEXT", ("none", 0)) == (0, b"", b"NEXT")
    assert copied(b"0\r\n\r\n", ("chunked", 0)) == (5, b"0\r\n\r\n", b"")


def test_read_body_reads_each_framing_whole():
    assert cb.read_body(wire_with(b"0123456789NEXT"), ("length", 10)) == b"0123456789"
    assert cb.read_body(wire_with(CHUNKED), ("chunked", 0)) == b"hello world"
    assert cb.read_body(wire_with(b"until the end"), ("close", 0)) == b"until the end"
    assert cb.read_body(wire_with(b"x"), ("none", 0)) == b""
    source = wire_with(CHUNKED)
    cb.read_body(source, ("chunked", 0))
    assert source.data == b"NEXT"  # what follows stays for the next message


@pytest.mark.parametrize(
    ("data", "framing"),
    [
        (b"short", ("length", 10)),
        (b"5\r\nhel", ("chunked", 0)),
        (b"5\r\nhello\r\n", ("chunked", 0)),  # no last chunk
        (b"5", ("chunked", 0)),
    ],
)
def test_a_body_cut_short_is_a_connection_error(data, framing):
    with pytest.raises(ConnectionError):
        copied(data, framing)
    with pytest.raises(ConnectionError):
        cb.read_body(wire_with(data), framing)


@pytest.mark.parametrize("size", [b"zz", b"-1", b"+5", b"0x5", b"", b" ", b"5 5"])
def test_copy_body_refuses_a_malformed_chunk_size(size):
    with pytest.raises(ConnectionError, match="a malformed chunk size"):
        copied(size + b"\r\nhello\r\n0\r\n\r\n", ("chunked", 0))


@pytest.mark.parametrize("size", [b"zz", b"-1", b"+5", b"0x5"])
def test_read_body_refuses_a_malformed_chunk_size(size):
    """int(size, 16) takes 0x5, +5 and -1, and raises ValueError for zz: the relay's token
    path (read_body of a request from inside) catches neither."""
    with pytest.raises(ConnectionError):
        cb.read_body(wire_with(size + b"\r\nhello\r\n0\r\n\r\n"), ("chunked", 0))


def test_a_chunk_line_too_long_is_a_connection_error():
    with pytest.raises(ConnectionError, match="cut short or too long"):
        copied(b"5" * 9000, ("chunked", 0))


def test_read_body_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(cb, "LOGIN_BODY_LIMIT", 8)
    assert cb.read_body(wire_with(b"12345678"), ("length", 8)) == b"12345678"
    for data, framing in (
        (b"123456789", ("length", 9)),
        (b"5\r\n12345\r\n4\r\n6789\r\n0\r\n\r\n", ("chunked", 0)),
        (b"123456789", ("close", 0)),
    ):
        with pytest.raises(ConnectionError, match="a body too large for the login relay"):
            cb.read_body(wire_with(data), framing)


def test_a_wire_reads_heads_one_at_a_time():
    source = wire_with(b"GET / HTTP/1.1\r\nA: 1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    assert source.head() == b"GET / HTTP/1.1\r\nA: 1"
    assert source.head() == b"GET /2 HTTP/1.1"
    assert source.head() is None  # the connection ended between messages
    with pytest.raises(ConnectionError, match="the connection ended inside a head"):
        wire_with(b"GET / HTTP/1.1\r\n").head()
    with pytest.raises(ConnectionError, match="a head longer than"):
        wire_with(b"A" * (cb.PROXY_HEAD_LIMIT + 70000)).head()


# --- SecretGuard -----------------------------------------------------------------------------

SECRET = "sk-ant-oat01-" + "s" * 40


@pytest.mark.parametrize("cut", [1, 5, 13, len(SECRET) - 1])
def test_a_secret_split_across_chunks_is_caught(cut):
    guard = cb.SecretGuard([SECRET, "other-secret-value-xyz"])
    data = f'{{"token": "{SECRET}"}}'.encode()
    index = data.index(SECRET.encode()) + cut
    guard.check(data[:index])
    with pytest.raises(ConnectionError, match="an answer carried a real credential: cut off"):
        guard.check(data[index:])


def test_a_secret_spread_over_many_small_chunks_is_caught():
    guard = cb.SecretGuard([SECRET])
    data = b"x" * 100 + SECRET.encode()
    with pytest.raises(ConnectionError):
        for index in range(0, len(data), 3):
            guard.check(data[index : index + 3])


def test_the_guard_lets_everything_else_through():
    guard = cb.SecretGuard([SECRET])
    for chunk in (SECRET[:-1].encode(), b"!", SECRET[1:].encode(), b"x" * 70000):
        guard.check(chunk)
    short = cb.SecretGuard(["short-secret"])  # under 16 characters: not looked for
    short.check(b"short-secret")
    cb.SecretGuard([]).check(SECRET.encode())


def test_copy_body_with_a_guard_stops_before_the_secret_reaches_the_sink():
    body = b"a" * 10 + SECRET.encode() + b"b" * 10
    with pytest.raises(ConnectionError, match="real credential"):
        copied(body, ("length", len(body)), cb.SecretGuard([SECRET]))


# --- Claude's refresh lock -------------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_take_lock_dir(tmp_path):
    lock = tmp_path / "lock"
    assert cb.take_lock_dir(str(lock)) is True
    assert oct(lock.stat().st_mode & 0o777) == "0o700"
    assert cb.take_lock_dir(str(lock)) is False  # held, fresh
    age(lock, cb.OAUTH_LOCK_STALE - 2)
    assert cb.take_lock_dir(str(lock)) is False
    age(lock, cb.OAUTH_LOCK_STALE + 5)
    assert cb.take_lock_dir(str(lock)) is True  # abandoned: taken over
    assert time.time() - lock.stat().st_mtime < cb.OAUTH_LOCK_STALE


def test_claude_refresh_lock_takes_both_locks_and_removes_them(tmp_path):
    claude = tmp_path / "claude"
    lock, legacy = claude / ".oauth_refresh.lock", tmp_path / "claude.lock"
    with cb.claude_refresh_lock(str(claude)):
        assert lock.is_dir() and legacy.is_dir()
        assert oct(claude.stat().st_mode & 0o777) == "0o700"  # made when missing
    assert not lock.exists() and not legacy.exists()
    with pytest.raises(RuntimeError), cb.claude_refresh_lock(str(claude)):
        raise RuntimeError
    assert not lock.exists() and not legacy.exists()


def test_claude_refresh_lock_takes_over_a_stale_lock(tmp_path):
    claude = tmp_path / "claude"
    lock, legacy = claude / ".oauth_refresh.lock", tmp_path / "claude.lock"
    lock.mkdir(parents=True)
    legacy.mkdir()
    age(lock, cb.OAUTH_LOCK_STALE + 1)
    age(legacy, cb.OAUTH_LOCK_STALE + 1)
    with cb.claude_refresh_lock(str(claude)):
        assert time.time() - lock.stat().st_mtime < cb.OAUTH_LOCK_STALE
    assert not lock.exists() and not legacy.exists()


@pytest.mark.parametrize("held", [".oauth_refresh.lock", "legacy"])
def test_a_fresh_lock_someone_holds_blocks_the_refresh(tmp_path, monkeypatch, held):
    monkeypatch.setattr(cb, "OAUTH_LOCK_ATTEMPTS", 2)
    naps = []
    monkeypatch.setattr(cb.time, "sleep", naps.append)
    claude = tmp_path / "claude"
    lock, legacy = claude / ".oauth_refresh.lock", tmp_path / "claude.lock"
    claude.mkdir()
    (lock if held != "legacy" else legacy).mkdir()
    with pytest.raises(cb.ClaudeboxError) as info, cb.claude_refresh_lock(str(claude)):
        pytest.fail("the lock was taken")
    assert str(info.value) == (
        f"another process held Claude's login lock ({lock}) for 1 s; is a claude refreshing "
        "its login?"
    )
    assert naps == [0.5, 0.5]
    assert (lock.exists(), legacy.exists()) == (held != "legacy", held == "legacy")  # theirs


# --- LoginSession, without a network ---------------------------------------------------------


@pytest.fixture
def claude_dir(tmp_path):
    claude = tmp_path / "claude"
    claude.mkdir()
    (claude / ".credentials.json").write_text(json.dumps(HOST_CREDENTIALS))
    return claude


def session_for(claude_dir, values=None, variables=None) -> cb.LoginSession:
    values = {
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        **(values or {}),
    }
    names = tuple(variables if variables is not None else values)
    login = cb.Login(str(claude_dir), names, "", "", "openssl", INSTANCE)
    return cb.LoginSession(login, values)


REALS = (API_KEY, OAUTH_TOKEN, AUTH_TOKEN, HOST_ACCESS, HOST_REFRESH)


def test_inside_gets_placeholders_only(claude_dir):
    values = {"ANTHROPIC_AUTH_TOKEN": AUTH_TOKEN}
    session = session_for(claude_dir, values)
    env, credentials = session.inside()
    assert list(env) == ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN"]
    everything = json.dumps(env).encode() + credentials
    assert b"mcp-canary" not in everything
    for real in REALS:
        assert real.encode() not in everything
        assert real[14:40].encode() not in everything  # nor a piece of one
    assert env["ANTHROPIC_API_KEY"].startswith("sk-ant-api03-claudebox-")
    assert env["ANTHROPIC_API_KEY"].endswith(cb.api_key_suffix(API_KEY, INSTANCE))
    assert env["CLAUDE_CODE_OAUTH_TOKEN"].startswith("sk-ant-oat01-claudebox-")
    assert env["ANTHROPIC_AUTH_TOKEN"].startswith("claudebox-")
    oauth = json.loads(credentials)["claudeAiOauth"]
    assert oauth == {
        **SHOWN,
        "accessToken": oauth["accessToken"],
        "refreshToken": oauth["refreshToken"],
        "expiresAt": FAR,
    }
    assert oauth["accessToken"].startswith("sk-ant-oat01-claudebox-")
    assert oauth["refreshToken"].startswith("sk-ant-ort01-claudebox-")
    tokens = [*env.values(), oauth["accessToken"], oauth["refreshToken"]]
    assert len(set(tokens)) == 5
    again, _ = session_for(claude_dir, values).inside()  # another session: other placeholders
    assert again["ANTHROPIC_API_KEY"] != env["ANTHROPIC_API_KEY"]
    assert again["ANTHROPIC_API_KEY"][-20:] == env["ANTHROPIC_API_KEY"][-20:]  # one answer


def test_inside_without_a_host_login(claude_dir):
    (claude_dir / ".credentials.json").unlink()
    env, credentials = session_for(claude_dir, variables=()).inside()
    assert (env, credentials) == ({}, b"{}\n")


def test_real_for_maps_each_placeholder_in_its_own_header_only(claude_dir):
    session = session_for(claude_dir, {"ANTHROPIC_AUTH_TOKEN": AUTH_TOKEN})
    env, credentials = session.inside()
    oauth = json.loads(credentials)["claudeAiOauth"]
    key, token, auth = (
        env["ANTHROPIC_API_KEY"],
        env["CLAUDE_CODE_OAUTH_TOKEN"],
        env["ANTHROPIC_AUTH_TOKEN"],
    )
    assert session.real_for(key, "x-api-key") == API_KEY
    assert session.real_for(token, "authorization") == OAUTH_TOKEN
    assert session.real_for(auth, "authorization") == AUTH_TOKEN
    assert session.real_for(oauth["accessToken"], "authorization") == HOST_ACCESS
    foreign = Refusal(
        403,
        "a credential claudebox did not issue: Anthropic's hosts get only this session's "
        "login from inside the sandbox",
    )
    for placeholder, header in (
        (key, "authorization"),  # a variable's placeholder in another header
        (token, "x-api-key"),
        (oauth["accessToken"], "x-api-key"),
        (oauth["refreshToken"], "authorization"),  # a refresh token is no bearer
        (API_KEY, "x-api-key"),  # the real key itself: not issued
        ("sk-ant-api03-claudebox-00", "x-api-key"),
        ("", "authorization"),
    ):
        assert session.real_for(placeholder, header) == foreign, (placeholder, header)


def test_an_access_placeholder_follows_the_hosts_file(claude_dir):
    session = session_for(claude_dir)
    access = json.loads(session.inside()[1])["claudeAiOauth"]["accessToken"]
    refreshed = json.loads(json.dumps(HOST_CREDENTIALS))
    refreshed["claudeAiOauth"]["accessToken"] = "sk-ant-oat01-refreshed-by-the-hosts-claude"
    (claude_dir / ".credentials.json").write_text(json.dumps(refreshed))
    assert session.real_for(access, "authorization") == "sk-ant-oat01-refreshed-by-the-hosts-claude"
    (claude_dir / ".credentials.json").unlink()
    assert session.real_for(access, "authorization") == Refusal(
        401, "no Claude login on the host any more; log in again (/login)"
    )


def test_a_variable_without_a_value_is_refused_not_a_crash(claude_dir):
    """A pasted --dry-run whose shell lacks ANTHROPIC_API_KEY hands --stage no value for it
    (read_login_secrets drops it), yet the plan names it: the placeholder's request raises
    KeyError in the relay's thread."""
    session = session_for(claude_dir, variables=("ANTHROPIC_API_KEY",))
    session.values.clear()
    key = session.inside()[0]["ANTHROPIC_API_KEY"]
    assert isinstance(session.real_for(key, "x-api-key"), Refusal)


def request_with(*headers: tuple[str, str]) -> HttpHead:
    return HttpHead(("POST", "/v1/messages", "HTTP/1.1"), (("Host", "api.anthropic.com"), *headers))


def test_swap_puts_the_real_credential_on_and_drops_the_proxys_headers(claude_dir):
    session = session_for(claude_dir)
    env, credentials = session.inside()
    access = json.loads(credentials)["claudeAiOauth"]["accessToken"]
    swapped = session.swap(
        request_with(
            ("X-Api-Key", f" {env['ANTHROPIC_API_KEY']} "),
            ("Authorization", f"Bearer {access}"),
            ("Proxy-Authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("anthropic-beta", "oauth-2025-04-20"),
        )
    )
    assert swapped == (
        request_with(
            ("X-Api-Key", API_KEY),
            ("Authorization", f"Bearer {HOST_ACCESS}"),
            ("anthropic-beta", "oauth-2025-04-20"),
        ),
        [API_KEY, HOST_ACCESS],
    )
    assert session.swap(request_with(("Accept", "*/*"))) == (request_with(("Accept", "*/*")), [])


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (("Cookie", "sessionKey=sk-ant-sid01-x"), 403),
        (("x-api-key", "sk-ant-api03-not-issued"), 403),
        (("Authorization", "Basic dXNlcjpwdw=="), 403),
        (("Authorization", "Bearer"), 403),
    ],
)
def test_swap_refuses_any_other_credential(claude_dir, header, status):
    session = session_for(claude_dir)
    session.inside()
    refusal = session.swap(request_with(("Accept", "*/*"), header))
    assert isinstance(refusal, Refusal) and refusal.status == status
    if header[0] == "Cookie":
        assert refusal.reason == "cookies to Anthropic's hosts are not passed on"


def test_token_answers_only_refreshes_of_its_own_tokens(claude_dir):
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    for body in (
        {"grant_type": "refresh_token", "refresh_token": HOST_REFRESH},  # the real one
        {"grant_type": "refresh_token", "refresh_token": "sk-ant-ort01-claudebox-00"},
        {"grant_type": "refresh_token", "refresh_token": ["x"]},
        {"grant_type": "refresh_token"},
    ):
        assert session.token(body) == (
            400,
            {
                "error": "invalid_grant",
                "error_description": "claudebox: a refresh token claudebox did not issue",
            },
        )
    access = json.loads(session.inside()[1])["claudeAiOauth"]["accessToken"]
    wrong_kind = {"grant_type": "refresh_token", "refresh_token": access}
    assert session.token(wrong_kind)[0] == 400
    assert session.token({"grant_type": "password"}) == (
        400,
        {
            "error": "invalid_grant",
            "error_description": "claudebox: a 'password' grant is not passed on",
        },
    )
    assert session.token({})[0] == 400
    assert session.token({"grant_type": "refresh_token", "refresh_token": refresh})[0] == 200


def test_a_refresh_of_a_fresh_host_token_asks_no_one(claude_dir):
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    notes = []
    session.note = notes.append
    before = (claude_dir / ".credentials.json").read_bytes()
    status, answer = session.token({"grant_type": "refresh_token", "refresh_token": refresh})
    assert status == 200
    assert set(answer) == {"token_type", "access_token", "refresh_token", "expires_in", "scope"}
    assert answer["token_type"] == "Bearer"
    assert answer["scope"] == "user:inference user:profile"
    assert abs(answer["expires_in"] - (FAR / 1000 - time.time())) < 60
    assert session.real_for(answer["access_token"], "authorization") == HOST_ACCESS
    assert (
        session.token({"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]})[0]
        == 200
    )
    for real in REALS:
        assert real not in json.dumps(answer)
    assert (claude_dir / ".credentials.json").read_bytes() == before
    assert notes[0] == "login: the host's token is fresh, no refresh needed"
    assert not (claude_dir / ".oauth_refresh.lock").exists()


class FakeUpstream:
    """What LoginSession.exchange would reach: records requests, answers with `answer`."""

    def __init__(self, status: int, answer: dict[str, object]) -> None:
        self.status, self.answer = status, answer
        self.requests: list[tuple[cb.Upstream, HttpHead, dict[str, object]]] = []

    def __call__(self, upstream, head, body):
        self.requests.append((upstream, head, json.loads(body)))
        data = json.dumps(self.answer).encode()
        line = ("HTTP/1.1", str(self.status), "")
        return HttpHead(line, (("Content-Length", str(len(data))),)), data


NEW_ACCESS = "sk-ant-oat01-" + "n" * 80 + "AA"
NEW_REFRESH = "sk-ant-ort01-" + "m" * 80 + "AA"
TOKEN_ANSWER = {
    "access_token": NEW_ACCESS,
    "refresh_token": NEW_REFRESH,
    "expires_in": 28800,
    "scope": "user:inference",
    "token_type": "Bearer",
    "account": {"uuid": "u-1"},
}


def expire_host_token(claude_dir, expires_at: int) -> None:
    document = json.loads(json.dumps(HOST_CREDENTIALS))
    document["claudeAiOauth"]["expiresAt"] = expires_at
    (claude_dir / ".credentials.json").write_text(json.dumps(document))


def test_a_refresh_of_an_expiring_host_token_refreshes_it_on_the_host(claude_dir):
    expire_host_token(claude_dir, int(time.time() * 1000) + 60000)  # within the margin
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    upstream = FakeUpstream(200, TOKEN_ANSWER)
    session.exchange = upstream
    body = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "c-1", "x": 1}
    status, answer = session.token(body)
    assert status == 200
    ((where, head, sent),) = upstream.requests
    assert where == cb.Upstream("https", "platform.claude.com", 443)
    assert head.line == ("POST", "/v1/oauth/token", "HTTP/1.1")
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": HOST_REFRESH,
        "client_id": "c-1",
    }
    stored = json.loads((claude_dir / ".credentials.json").read_text())
    assert stored["claudeAiOauth"]["accessToken"] == NEW_ACCESS
    assert stored["claudeAiOauth"]["refreshToken"] == NEW_REFRESH
    assert stored["claudeAiOauth"]["scopes"] == ["user:inference"]
    assert stored["mcpOAuth"] == HOST_CREDENTIALS["mcpOAuth"]  # the file's other keys stay
    assert answer["account"] == {"uuid": "u-1"}  # the rest of the answer passes
    assert answer["scope"] == "user:inference"
    for real in (*REALS, NEW_ACCESS, NEW_REFRESH):
        assert real not in json.dumps(answer)
    assert session.real_for(answer["access_token"], "authorization") == NEW_ACCESS


def test_a_refresh_after_a_401_refreshes_even_a_fresh_token(claude_dir):
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    session.failed.add(HOST_ACCESS)
    session.exchange = FakeUpstream(200, TOKEN_ANSWER)
    assert session.token({"grant_type": "refresh_token", "refresh_token": refresh})[0] == 200
    assert len(session.exchange.requests) == 1


def test_a_refused_refresh_is_passed_on_and_the_host_file_stays(claude_dir):
    expire_host_token(claude_dir, 1)
    before = (claude_dir / ".credentials.json").read_bytes()
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    session.exchange = FakeUpstream(400, {"error": "invalid_grant"})
    body = {"grant_type": "refresh_token", "refresh_token": refresh}
    assert session.token(body) == (400, {"error": "invalid_grant"})
    session.exchange = FakeUpstream(200, {"token_type": "Bearer"})
    assert session.token(body) == (
        502,
        {
            "error": "invalid_grant",
            "error_description": "claudebox: the token answer held no tokens",
        },
    )
    session.exchange = None  # the relay is not serving
    status, answer = session.token(body)
    assert status == 502
    assert answer["error_description"] == (
        "claudebox: cannot reach platform.claude.com (the relay is not serving)"
    )
    assert (claude_dir / ".credentials.json").read_bytes() == before


def test_a_refresh_without_a_host_login_asks_for_one(claude_dir):
    session = session_for(claude_dir)
    refresh = json.loads(session.inside()[1])["claudeAiOauth"]["refreshToken"]
    (claude_dir / ".credentials.json").write_text("{}")
    assert session.token({"grant_type": "refresh_token", "refresh_token": refresh}) == (
        400,
        {
            "error": "invalid_grant",
            "error_description": "claudebox: no Claude login on the host; log in again (/login)",
        },
    )


def test_a_login_inside_stores_the_tokens_on_the_host(claude_dir):
    (claude_dir / ".credentials.json").unlink()
    session = session_for(claude_dir)
    session.exchange = FakeUpstream(200, TOKEN_ANSWER)
    body = {"grant_type": "authorization_code", "code": "c", "code_verifier": "v"}
    status, answer = session.token(body)
    assert status == 200
    assert session.exchange.requests[0][2] == body  # the code goes as sent
    stored = json.loads((claude_dir / ".credentials.json").read_text())
    assert stored["claudeAiOauth"]["accessToken"] == NEW_ACCESS
    assert oct((claude_dir / ".credentials.json").stat().st_mode & 0o777) == "0o600"
    assert NEW_ACCESS not in json.dumps(answer) and NEW_REFRESH not in json.dumps(answer)


def test_store_replaces_the_file_by_rename_keeping_its_other_keys(claude_dir):
    path = claude_dir / ".credentials.json"
    inode = path.stat().st_ino
    login = session_for(claude_dir).store(TOKEN_ANSWER)
    assert login == cb.HostLogin(
        NEW_ACCESS, NEW_REFRESH, login.expires_at, {**SHOWN, "scopes": ["user:inference"]}
    )
    assert path.stat().st_ino != inode
    assert json.loads(path.read_text())["mcpOAuth"] == HOST_CREDENTIALS["mcpOAuth"]
    assert [p.name for p in claude_dir.iterdir()] == [".credentials.json"]  # no temporary left
    assert session_for(claude_dir).store({"token_type": "Bearer"}) is None


def test_store_refuses_a_credentials_file_that_is_a_symlink(claude_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(HOST_CREDENTIALS))
    path = claude_dir / ".credentials.json"
    path.unlink()
    path.symlink_to(elsewhere)
    session = session_for(claude_dir)
    notes = []
    session.note = notes.append
    assert session.store(TOKEN_ANSWER) is None
    assert path.is_symlink()
    assert json.loads(elsewhere.read_text()) == HOST_CREDENTIALS
    assert notes == [f"login: {path} is not a regular file; not written"]


def test_an_api_key_made_inside_stays_with_the_relay(claude_dir):
    session = session_for(claude_dir)
    made = "sk-ant-api03-" + "c" * 80 + "AA"
    answer = session.api_key({"raw_key": made, "name": "claude-code"})
    assert answer["name"] == "claude-code"
    assert answer["raw_key"].startswith("sk-ant-api03-claudebox-")
    assert made not in json.dumps(answer)
    assert session.real_for(answer["raw_key"], "x-api-key") == made
    assert session.real_for(answer["raw_key"], "authorization").status == 403
    assert session.api_key({"raw_key": 5}) == {"raw_key": 5}
    assert session.api_key({}) == {}


def test_json_object_of_anything():
    assert cb.json_object(b'{"a": 1}') == {"a": 1}
    for data in (b"", b"[1]", b"nope", b"1", b"[" * 100000):
        assert cb.json_object(data) == {}


# --- a login inside (/login) ------------------------------------------------------------------

OTHER_ACCESS = "sk-ant-oat01-" + "o" * 90
OTHER_REFRESH = "sk-ant-ort01-" + "p" * 90


def token_answer(account: str) -> tuple[cb.HttpHead, bytes]:
    body = {
        "token_type": "Bearer",
        "access_token": OTHER_ACCESS,
        "refresh_token": OTHER_REFRESH,
        "expires_in": 28800,
        "scope": "user:inference user:profile",
        "account": {"uuid": account, "email_address": "x@example.org"},
    }
    return cb.HttpHead(("HTTP/1.1", "200", "OK"), ()), json.dumps(body).encode()


def logging_in(claude_dir, host_account: str, answer_account: str) -> cb.LoginSession:
    login = cb.Login(str(claude_dir), (), "", "", "openssl", INSTANCE, host_account)
    session = cb.LoginSession(login, {})
    session.exchange = lambda _upstream, _head, _body: token_answer(answer_account)
    return session


def code_grant() -> dict[str, object]:
    return {"grant_type": "authorization_code", "code": "c", "code_verifier": "v", "state": "s"}


def test_account_of_reads_the_hosts_claude_json():
    assert cb.account_of({"oauthAccount": {"accountUuid": "a-1"}}) == "a-1"
    for document in ({}, {"oauthAccount": "x"}, {"oauthAccount": {"accountUuid": 7}}):
        assert cb.account_of(document) == ""


@pytest.mark.parametrize("host_has_login", [False, True])
def test_a_login_inside_for_the_hosts_account_or_on_a_logged_out_host_goes_to_the_host(
    claude_dir, host_has_login
):
    if not host_has_login:
        (claude_dir / ".credentials.json").unlink()
    session = logging_in(claude_dir, "a-1", "a-1")
    status, answer = session.token(code_grant())
    assert status == 200
    assert answer["access_token"] != OTHER_ACCESS and "claudebox" in str(answer["access_token"])
    stored = json.loads((claude_dir / ".credentials.json").read_text())["claudeAiOauth"]
    assert (stored["accessToken"], stored["refreshToken"]) == (OTHER_ACCESS, OTHER_REFRESH)
    assert session.kept is None
    assert session.logged_host_in is not host_has_login  # said after the session


def test_a_login_inside_on_a_logged_out_host_goes_there_whatever_its_account(claude_dir):
    """A documented limit: with no login on the host, claudebox cannot tell the person's own
    account from one the agent logged in; the login goes to the host, and the warning after
    the session says so."""
    (claude_dir / ".credentials.json").unlink()
    session = logging_in(claude_dir, "", "someone-else")
    assert session.token(code_grant())[0] == 200
    stored = json.loads((claude_dir / ".credentials.json").read_text())["claudeAiOauth"]
    assert stored["accessToken"] == OTHER_ACCESS
    assert session.logged_host_in
    path = str(claude_dir / ".credentials.json")
    assert cb.render_findings([cb.Finding(path, cb.logged_in_what(path))]) == (
        f"claudebox: warning: the session logged Claude in on your host ({path}), which had no "
        "login: your own claude now uses that account; check it (claude, then /status) and log "
        "out if it is not yours\n"
    )


def test_a_login_inside_for_another_account_stays_with_the_session(claude_dir):
    """The agent could log in an account of its own: the host's Claude must never use it."""
    before = (claude_dir / ".credentials.json").read_bytes()
    for host_account in ("a-1", ""):  # another account, or the host's account unknown
        session = logging_in(claude_dir, host_account, "attacker")
        status, answer = session.token(code_grant())
        assert status == 200
        assert (claude_dir / ".credentials.json").read_bytes() == before
        assert session.kept is not None and session.kept.access == OTHER_ACCESS
        assert not session.logged_host_in
        placeholder = str(answer["access_token"])
        assert session.real_for(placeholder, "authorization") == OTHER_ACCESS
