"""Positive control for anthropic_lab.py: the REAL Claude Code, logged in with a claude.ai
subscription (OAuth), run directly (no sandbox, no claudebox) as the test user in the lab's
host namespace, reaches the lab's api.anthropic.com by name, runs the scripted tool, and
refreshes its token at platform.claude.com when the API says it expired.

The fixture's own semantics come first, without Claude: a refresh token works once, and a
host-side program trusting only the system bundle reaches the servers by name.
"""

from __future__ import annotations

import json
import subprocess
import time

import test_real_claude as real
from anthropic_lab import (
    ACCESS_LIFETIME,
    ACCOUNT_EMAIL,
    ACCOUNT_UUID,
    ANTHROPIC_HOSTS,
    CLAUDE_ENV,
    CLIENT_ID,
    SCOPES,
    AnthropicLab,
    Exchange,
    Login,
    Refresh,
    anthropic,
    anthropic_lab,
    stored_login,
)
from harness import PYTHON, Box

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
__all__ = ["anthropic", "anthropic_lab", "claude_store"]

PROBE_OUTPUT = "anthropic-lab-probe-ran"
PROBE = f"echo {PROBE_OUTPUT} as $(id -un)"
# What Claude Code 2.1.197 asks with CLAUDE_ENV's DISABLE_* variables (and no other traffic).
START_ROUTES = {
    "HEAD api.anthropic.com/",  # its reachability probe, with no credential
    "GET api.anthropic.com/api/oauth/profile",
    "GET api.anthropic.com/v1/mcp_servers",
    "POST api.anthropic.com/v1/messages",
}


def run_claude(
    box: Box, anthropic: AnthropicLab, *, ca: bool = True, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real Claude (`-p`, JSON report) as the test user, in the lab's host namespace and
    the Anthropic lab's mount namespace (its resolver), with HOME = box.home. Its trust in the
    test CA comes from NODE_EXTRA_CA_CERTS alone (CA=False: none): CLAUDE_CODE_CERT_STORE=bundled
    keeps it from the system store, which the mount namespace's bundle would put it in."""
    box.mountns = anthropic.mountns
    env = real.with_store_claude(
        box, CLAUDE_ENV, {"CLAUDE_CODE_CERT_STORE": "bundled", "SHELL": "/bin/bash"}, extra or {}
    )
    if ca:
        env["NODE_EXTRA_CA_CERTS"] = str(anthropic.ca_copy(box.root))
    assert not {"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"} & set(box.env(env))
    claude = f"{real.CLAUDE_STORE}/bin/claude"
    argv = [claude, "-p", "Run the probe.", "--output-format", "json", "--allowedTools", "Bash"]
    return real.run_captured(box.as_user(argv), box.env(env), box.project)


def assert_two_turns(
    result: subprocess.CompletedProcess[str], anthropic: AnthropicLab, box: Box
) -> None:
    """Claude's own report: two turns ending with the scripted text; the tool ran, as the
    test user."""
    diagnosis = f"{result.stderr}\n--- server\n{anthropic.service.log()}"
    diagnosis += f"\n--- tls\n{anthropic.service.tls_errors}"
    diagnosis += f"\n--- idle connections\n{anthropic.service.idle_connections}"
    diagnosis += f"\n--- dns\n{anthropic.queries}"
    assert result.returncode == 0, diagnosis
    report = json.loads(result.stdout)
    assert (report["is_error"], report["num_turns"], report["result"]) == (
        False,
        2,
        real.FINAL_TEXT,
    ), diagnosis
    messages = [e for e in anthropic.service.messages() if e.status == 200]
    assert len(messages) == 2, diagnosis
    (block,) = real.tool_results(messages[1].body)
    assert block["tool_use_id"] == real.TOOL_USE_ID and not block.get("is_error"), block
    assert real.result_text(block).strip() == f"{PROBE_OUTPUT} as {box.user.pw_name}"


def assert_oauth_request(exchange: Exchange, access_token: str) -> None:
    """A Messages API request as a claude.ai login makes it: the bearer and the oauth beta."""
    assert exchange.header("Authorization") == f"Bearer {access_token}"
    assert exchange.header("x-api-key") is None
    assert "oauth-2025-04-20" in (exchange.header("anthropic-beta") or "").split(",")


def test_the_service_rotates_refresh_tokens_and_host_programs_trust_it(
    box: Box, anthropic: AnthropicLab
) -> None:
    """Without Claude: a refresh token is good once (reused: revoked), answers come on one
    kept-alive connection (HEAD too), and a host program with the system bundle, asking the
    lab's resolver, reaches api.anthropic.com by name and is held to the bearer."""
    service = anthropic.service
    login = service.issue()
    connection = anthropic.connect("platform.claude.com")
    try:

        def refresh(token: str) -> tuple[int, dict[str, object]]:
            body = {
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": CLIENT_ID,
                "scope": " ".join(SCOPES),
            }
            headers = {"Content-Type": "application/json"}
            connection.request("POST", "/v1/oauth/token", json.dumps(body), headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())

        status, first = refresh(login.refresh_token)
        assert status == 200, first
        assert first["token_type"] == "Bearer" and first["expires_in"] == 8 * 3600
        assert str(first["access_token"]).startswith("sk-ant-oat01-")
        assert str(first["refresh_token"]).startswith("sk-ant-ort01-")
        assert first["account"] == {"uuid": ACCOUNT_UUID, "email_address": ACCOUNT_EMAIL}
        assert service.current.access_token == first["access_token"]
        connection.request("HEAD", "/")
        head = connection.getresponse()
        assert (head.status, head.read()) == (404, b"")
        assert refresh(login.refresh_token) == (
            400,
            {"error": "invalid_grant", "error_description": "Refresh token revoked"},
        )
        assert refresh("sk-ant-ort01-never-issued")[0] == 400
    finally:
        connection.close()
    assert service.revoked() == [
        Refresh(login.refresh_token, "revoked"),
        Refresh("sk-ant-ort01-never-issued", "unknown"),
    ]
    assert service.issued_refresh_tokens == {login.refresh_token, str(first["refresh_token"])}

    # A host program: the lab's resolver, the system bundle (with the test CA), no extra trust.
    box.mountns = anthropic.mountns
    fetch = (
        "import sys, urllib.request, urllib.error\n"
        "for token in sys.argv[1:]:\n"
        "    request = urllib.request.Request('https://api.anthropic.com/api/oauth/profile',\n"
        "                                     headers={'Authorization': 'Bearer ' + token})\n"
        "    try:\n"
        "        with urllib.request.urlopen(request, timeout=20) as response:\n"
        "            print(response.status, response.read().decode()[:40])\n"
        "    except urllib.error.HTTPError as error:\n"
        "        print(error.code, error.read().decode()[:40])\n"
    )
    result = subprocess.run(
        box.as_user([PYTHON, "-c", fetch, str(first["access_token"]), "sk-ant-oat01-forged"]),
        env=box.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines() == [
        f'200 {{"account": {{"uuid": "{ACCOUNT_UUID[:18]}',
        '401 {"type": "error", "error": {"type": "aut',
    ], result.stderr
    assert "query api.anthropic.com 1" in anthropic.queries
    assert [c for _, c in service.unknown_credentials()] == ["sk-ant-oat01-forged"]


def test_real_claude_with_a_claude_ai_login_reaches_the_lab_by_name(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    service = anthropic.service
    service.tool_command = PROBE
    login = anthropic.login(box.home, box.user, claude_store)
    result = run_claude(box, anthropic)
    assert_two_turns(result, anthropic, box)
    log = service.log()

    # Every request reached the lab's api.anthropic.com, and each but the reachability probe
    # carried the issued access token, and was answered.
    seen = service.seen()
    routes = {e.route for e in seen}
    assert "POST api.anthropic.com/v1/messages" in routes and routes <= START_ROUTES, log
    for exchange in seen:
        if exchange.route == "HEAD api.anthropic.com/":
            assert exchange.credential is None
            continue
        assert exchange.credential == login.access_token, log
        assert exchange.status == 200, log
    for message in service.messages():
        assert_oauth_request(message, login.access_token)
        version = claude_store.split()[0]
        assert (message.header("User-Agent") or "").startswith(f"claude-cli/{version} "), log
        assert message.body.get("stream") is True
    assert service.unknown_credentials() == [] and service.tls_errors == []
    assert {q.split()[1] for q in anthropic.queries} <= set(ANTHROPIC_HOSTS)

    # No refresh: the login in the home is the one written.
    assert service.refreshes == [] and service.token_requests() == []
    assert stored_login(box.home)["accessToken"] == login.access_token
    assert stored_login(box.home)["refreshToken"] == login.refresh_token


def test_a_401_makes_real_claude_refresh_once_and_store_the_new_tokens(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    service = anthropic.service
    service.tool_command = PROBE
    login = anthropic.login(box.home, box.user, claude_store)
    service.answer_401_once()
    started = time.time()
    result = run_claude(box, anthropic)
    finished = time.time()
    assert_two_turns(result, anthropic, box)
    log = service.log()

    # One refresh, at platform.claude.com, with the login's refresh token, in Claude's shape.
    (token_request,) = service.token_requests()
    assert token_request.body == {
        "grant_type": "refresh_token",
        "refresh_token": login.refresh_token,
        "client_id": CLIENT_ID,
        "scope": "user:profile user:inference user:sessions:claude_code user:mcp_servers "
        "user:file_upload",
    }, log
    assert token_request.credential is None
    assert token_request.header("Content-Type") == "application/json"
    (refresh,) = service.refreshes
    assert refresh.outcome == "issued" and refresh.issued is not None
    new: Login = refresh.issued
    assert service.revoked() == []
    assert service.issued_access_tokens == {login.access_token, new.access_token}

    # The old token met 401s only (the first of them made Claude refresh); every request
    # carrying a token after that carried the new one, and was answered.
    refresh_index = service.seen().index(token_request)
    old_token_statuses = [e.status for e in service.seen() if e.credential == login.access_token]
    assert old_token_statuses and set(old_token_statuses) == {401}, log
    for index, exchange in enumerate(service.seen()):
        if exchange.credential not in (None, login.access_token):
            assert exchange.credential == new.access_token and exchange.status == 200, log
            assert index > refresh_index, log
    for message in service.messages()[-2:]:
        assert_oauth_request(message, new.access_token)
    assert service.unknown_credentials() == [] and service.tls_errors == []

    # The new pair is the home's login now, still the user's own and private.
    stored = stored_login(box.home)
    assert (stored["accessToken"], stored["refreshToken"]) == (
        new.access_token,
        new.refresh_token,
    )
    # issued during the run, for the answer's expires_in
    lifetime = ACCESS_LIFETIME
    assert started + lifetime <= stored["expiresAt"] / 1000 <= finished + lifetime, (
        started,
        stored["expiresAt"],
        finished,
    )
    assert set(stored["scopes"]) == set(SCOPES)
    assert (stored["subscriptionType"], stored["rateLimitTier"]) == (
        "max",
        "default_claude_max_20x",
    )
    credentials = box.home / ".claude" / ".credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert credentials.stat().st_uid == box.user.pw_uid


def test_without_the_ca_real_claude_refuses_the_lab_and_sends_it_nothing(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """The control's control: the certificate is really checked. Without NODE_EXTRA_CA_CERTS
    Claude connects, refuses the certificate, and no request (no token) reaches the server."""
    anthropic.login(box.home, box.user, claude_store)
    result = run_claude(box, anthropic, ca=False, extra={"CLAUDE_CODE_MAX_RETRIES": "0"})
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["is_error"] is True and "certificate" in report["result"], report
    assert anthropic.service.seen() == []
    assert anthropic.service.idle_connections != []
