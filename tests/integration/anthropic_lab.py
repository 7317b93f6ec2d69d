"""Anthropic's hosts, played inside the network lab (netlab.py), for the REAL Claude Code CLI.

The real Claude Code, logged in with a claude.ai subscription (OAuth), talks by name to
https://api.anthropic.com (the Messages API and its account endpoints) and
https://platform.claude.com (the token refresh); claude.ai and mcp-proxy.anthropic.com are
its other hosts. No ANTHROPIC_BASE_URL: this module makes those names the lab's "internet" host.

* A test CA (openssl) and a server certificate for the four names, signed by it.
* An HTTPS server (stdlib; HTTP/1.1 with keep-alive, every answer sized by Content-Length) on
  the far host's 203.0.113.10:443: its listening socket is made inside the far namespace, its
  threads run in the pytest process. It records every exchange, in order of arrival.
* A DNS responder (netlab.DNS_SERVER) on the lab's host 127.0.0.1:53 answering the names with
  203.0.113.10 (anything else: NXDOMAIN), and a mount namespace (for Box.mountns) whose
  /etc/resolv.conf names it and whose /etc/ssl/certs/ca-certificates.crt is the system bundle
  plus the test CA: host-side programs verifying with the system bundle trust the servers.
  Claude Code 2.1.197 trusts its bundled roots AND the system store by default (so this
  bundle suffices for it too); with CLAUDE_CODE_CERT_STORE=bundled only NODE_EXTRA_CA_CERTS
  (a copy of the test CA: AnthropicLab.ca_copy) makes it trust the lab.
* A scripted Anthropic service with OAuth semantics (AnthropicService): it issues access tokens
  (sk-ant-oat01-...) and single-use refresh tokens (sk-ant-ort01-...); checks the credential
  where the real service does; refreshes at platform.claude.com/v1/oauth/token (a reused or
  unknown refresh token gets 400 invalid_grant "Refresh token revoked" and is recorded: a real
  login would now be gone); and scripts POST /v1/messages as test_real_claude.py does: a Bash
  tool_use with the test's command, then the final text once the tool_result comes back.

What Claude Code 2.1.197 asks at start with a claude.ai login (API_ROUTES answers each as the
real service would, closely enough that Claude shows the account and reaches its prompt):
HEAD / (a reachability probe, no credential), GET /api/oauth/profile (bearer, no beta header),
GET /v1/mcp_servers?limit=1000 (claude.ai connectors), POST /v1/messages?beta=true; and, unless
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC / DISABLE_TELEMETRY are set, POST /api/eval/SDK_KEY
(GrowthBook), GET /api/claude_cli/bootstrap, /api/claude_code_grove,
/api/claude_code_penguin_mode, /mcp-registry/v0/servers (no credential),
/api/oauth/organizations/ORG/referral/eligibility and POST /api/event_logging/v2/batch.

Fixtures: `anthropic_lab` (module scope: certificates, servers, resolver, mount namespace) and
`anthropic` (per test: the same with a fresh service). One per lab (the responder binds the
host's 127.0.0.1:53); a module wanting more names uses `running_anthropic_lab(lab, extra)`.
Nothing listens outside the lab's namespaces; every network read is bounded by a timeout.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import test_real_claude as real
from harness import CLAUDE_AI_SCOPES, PYTHON, oauth_credentials
from netlab import DNS_SERVER, NetLab, resolver_namespace, start_server, tls_prerequisites

ANTHROPIC_HOSTS = (
    "api.anthropic.com",
    "platform.claude.com",
    "claude.ai",
    "mcp-proxy.anthropic.com",
)
FAR_ADDRESS = "203.0.113.10"  # netlab's "internet" host
HTTPS_PORT = 443
READ_TIMEOUT = 30.0  # seconds: every read of a connection (handshake, request, body, idle)
MAX_BODY = 64 * 1024 * 1024

# test_real_claude.CLAUDE_ENV without ANTHROPIC_BASE_URL: Claude talks to Anthropic's own names.
CLAUDE_ENV = {
    name: value for name, value in real.CLAUDE_ENV.items() if name != "ANTHROPIC_BASE_URL"
}

OAUTH_BETA = "oauth-2025-04-20"  # what an OAuth token needs beside it on the Messages API
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"  # Claude Code's OAuth client (2.1.197)
SCOPES = CLAUDE_AI_SCOPES  # what a claude.ai login holds
ACCESS_LIFETIME = 8 * 3600  # seconds: the token answer's expires_in
ACCOUNT_UUID = "6f1d2c3b-0a9e-4c8d-b7a6-5e4f3d2c1b0a"
ACCOUNT_EMAIL = "cbtest@claudebox.invalid"
ACCOUNT_NAME = "Claudebox Test"
ORGANIZATION_UUID = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
ORGANIZATION_NAME = f"{ACCOUNT_EMAIL}'s Organization"
SUBSCRIPTION = "max"  # shown by Claude as "Claude Max"
RATE_LIMIT_TIER = "default_claude_max_20x"
CREATED_AT = "2025-01-15T10:00:00.000000Z"


# --- tokens and the service's state ------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """One issued token pair; expires_at in milliseconds since the epoch, as Claude stores it."""

    access_token: str
    refresh_token: str
    expires_at: int


@dataclass
class Exchange:
    """One request and the answer it got."""

    method: str
    host: str  # the Host header, lower case, without a port
    path: str  # with the query string
    headers: dict[str, str]
    body: Any  # parsed JSON (or form fields), else the text, else None
    credential: str | None = None  # the bearer token or x-api-key it carried
    credential_state: str | None = None  # "valid", "expired", "unknown"; None: none carried
    status: int = 0  # 0 until answered
    reply: str = ""

    @property
    def route(self) -> str:
        """'METHOD host/path', without the query string."""
        return f"{self.method} {self.host}{self.path.split('?', 1)[0]}"

    def header(self, name: str) -> str | None:
        """A request header, by its name in any case."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class Refresh:
    """One refresh_token grant at platform.claude.com and its outcome."""

    refresh_token: str
    outcome: str  # "issued"; "revoked" (a used one: a real login is gone) or "unknown"
    issued: Login | None = None


def script_reply(body: Mapping[str, Any], command: str) -> tuple[list[dict[str, Any]], str]:
    """test_real_claude.reply_for with the tool's command chosen by the test."""
    if any(b.get("tool_use_id") == real.TOOL_USE_ID for b in real.tool_results(body)):
        return [{"type": "text", "text": real.FINAL_TEXT}], "end_turn"
    if any(tool.get("name") == "Bash" for tool in body.get("tools") or []):
        tool_use = {
            "type": "tool_use",
            "id": real.TOOL_USE_ID,
            "name": "Bash",
            "input": {"command": command, "description": "claudebox e2e probe"},
        }
        return [tool_use], "tool_use"
    return [{"type": "text", "text": "ok"}], "end_turn"


@dataclass
class AnthropicService:
    """The scripted service: tokens, knobs, and what it saw in order (all thread-safe)."""

    tool_command: str = "echo claudebox-anthropic-lab-probe"  # the scripted Bash tool_use's
    api_keys: set[str] = field(default_factory=set)  # x-api-key values accepted
    login_code: str = "claudebox-lab-login-code"  # what the authorize page would show after /login
    set_cookie: str | None = None  # a Set-Cookie every answer carries (a web session's, say)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _exchanges: list[Exchange] = field(default_factory=list)
    _refreshes: list[Refresh] = field(default_factory=list)
    _tls_errors: list[str] = field(default_factory=list)
    _idle_connections: list[str] = field(default_factory=list)
    _access: dict[str, str] = field(default_factory=dict)  # token -> valid|fail-once|expired
    _refresh: dict[str, bool] = field(default_factory=dict)  # token -> used
    _logins: list[Login] = field(default_factory=list)

    # -- tokens

    def issue(self) -> Login:
        """A new token pair (an initial login; a refresh answers one too)."""
        login = Login(
            f"sk-ant-oat01-{secrets.token_urlsafe(68)}",
            f"sk-ant-ort01-{secrets.token_urlsafe(68)}",
            int((time.time() + ACCESS_LIFETIME) * 1000),
        )
        with self.lock:
            self._access[login.access_token] = "valid"
            self._refresh[login.refresh_token] = False
            self._logins.append(login)
        return login

    @property
    def current(self) -> Login:
        """The newest token pair issued."""
        with self.lock:
            return self._logins[-1]

    @property
    def logins(self) -> list[Login]:
        """Every token pair issued, oldest first."""
        with self.lock:
            return list(self._logins)

    @property
    def issued_access_tokens(self) -> set[str]:
        with self.lock:
            return set(self._access)

    @property
    def issued_refresh_tokens(self) -> set[str]:
        with self.lock:
            return set(self._refresh)

    def answer_401_once(self, access_token: str | None = None) -> str:
        """The knob: the next request carrying ACCESS_TOKEN (default: the current one) gets 401
        ("OAuth token has expired"), and the token is expired from then on, as if it had run
        out early. Returns the token."""
        with self.lock:
            token = access_token or self._logins[-1].access_token
            assert self._access.get(token) == "valid", "only a valid access token can expire"
            self._access[token] = "fail-once"
        return token

    def access_state(self, token: str) -> str:
        """'valid', 'fail-once', 'expired' or 'unknown'."""
        with self.lock:
            return self._access.get(token, "unknown")

    def credential_state(self, credential: str) -> str:
        """What a request carrying CREDENTIAL meets (a fail-once token expires here)."""
        with self.lock:
            if credential in self.api_keys:
                return "valid"
            state = self._access.get(credential, "unknown")
            if state == "fail-once":
                self._access[credential] = "expired"
                return "expired"
            return state

    def refresh(self, refresh_token: str) -> Refresh:
        """The refresh_token grant: a new pair for an unused token, which is used from now on."""
        with self.lock:
            used = self._refresh.get(refresh_token)
            if used is False:
                self._refresh[refresh_token] = True
        if used is None:
            outcome = Refresh(refresh_token, "unknown")
        elif used:
            outcome = Refresh(refresh_token, "revoked")
        else:
            outcome = Refresh(refresh_token, "issued", self.issue())
        with self.lock:
            self._refreshes.append(outcome)
        return outcome

    # -- what it saw

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self._exchanges.append(exchange)

    def record_tls_error(self, error: str) -> None:
        with self.lock:
            self._tls_errors.append(error)

    def record_idle_connection(self, peer: str) -> None:
        with self.lock:
            self._idle_connections.append(peer)

    def seen(self) -> list[Exchange]:
        """Every exchange, in order of arrival."""
        with self.lock:
            return list(self._exchanges)

    @property
    def refreshes(self) -> list[Refresh]:
        with self.lock:
            return list(self._refreshes)

    @property
    def tls_errors(self) -> list[str]:
        """Handshakes that failed on the server's side (OpenSSL clients refusing the CA)."""
        with self.lock:
            return list(self._tls_errors)

    @property
    def idle_connections(self) -> list[str]:
        """Peers of connections closed without a request: Claude's runtime (BoringSSL)
        completes the handshake and checks the certificate after it, so a Claude that does
        not trust the CA shows here, not in tls_errors (a mere preconnect would too)."""
        with self.lock:
            return list(self._idle_connections)

    def messages(self) -> list[Exchange]:
        """POST /v1/messages (any query string) on api.anthropic.com."""
        return [e for e in self.seen() if e.route == "POST api.anthropic.com/v1/messages"]

    def token_requests(self) -> list[Exchange]:
        """POST /v1/oauth/token on platform.claude.com."""
        return [e for e in self.seen() if e.route == "POST platform.claude.com/v1/oauth/token"]

    def credentials_carried(self) -> list[tuple[Exchange, str]]:
        """Every request that carried a bearer token or an API key, with it."""
        return [(e, e.credential) for e in self.seen() if e.credential is not None]

    def unknown_credentials(self) -> list[tuple[Exchange, str]]:
        """Requests carrying a token this service never issued (nor an API key it accepts)."""
        return [(e, c) for e, c in self.credentials_carried() if e.credential_state == "unknown"]

    def revoked(self) -> list[Refresh]:
        """Refreshes with a used or unknown refresh token (for a real login: logged out)."""
        return [r for r in self.refreshes if r.outcome != "issued"]

    def routes(self) -> list[str]:
        return [e.route for e in self.seen()]

    def log(self) -> str:
        """The exchanges, one line each (for assertion messages)."""
        return "\n".join(
            f"{e.route} [{e.credential_state or '-'}] -> {e.status}: {e.reply[:160]!r}"
            for e in self.seen()
        )


# --- what each request gets --------------------------------------------------------------------

Answer = tuple[int, Any]  # a status and a JSON body
# How a route checks the credential, as the real service does: REQUIRED (none, or one not
# valid: 401), OPTIONAL (none is fine, one not valid: 401) or NONE (not looked at).
REQUIRED, OPTIONAL, NONE = "required", "optional", "none"


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{secrets.token_hex(12)}",
    }


def not_found(_: Exchange) -> Answer:
    return 404, error_body("not_found_error", "Not Found")


def ok(body: Any) -> Callable[[Exchange], Answer]:
    """A route answering 200 with BODY (called for each request when it is a function)."""
    return lambda _: (200, body() if callable(body) else body)


def profile() -> dict[str, Any]:
    """GET /api/oauth/profile: the login's account and organization (a Max plan)."""
    return {
        "account": {
            "uuid": ACCOUNT_UUID,
            "full_name": ACCOUNT_NAME,
            "display_name": ACCOUNT_NAME.split()[0],
            "email": ACCOUNT_EMAIL,
            "has_claude_max": True,
            "has_claude_pro": False,
            "created_at": CREATED_AT,
        },
        "organization": {
            "uuid": ORGANIZATION_UUID,
            "name": ORGANIZATION_NAME,
            "organization_type": "claude_max",
            "billing_type": "stripe_subscription",
            "rate_limit_tier": RATE_LIMIT_TIER,
            "has_extra_usage_enabled": False,
            "subscription_status": "active",
            "subscription_created_at": CREATED_AT,
            "cc_onboarding_flags": {},
            "claude_code_trial_ends_at": None,
            "claude_code_trial_duration_days": None,
            "seat_tier": None,
        },
    }


def bootstrap() -> dict[str, Any]:
    """GET /api/claude_cli/bootstrap: no extra models or settings, and the login's account."""
    return {
        "client_data": {},
        "additional_model_options": [],
        "oauth_account": {
            "account_uuid": ACCOUNT_UUID,
            "account_email": ACCOUNT_EMAIL,
            "organization_uuid": ORGANIZATION_UUID,
            "organization_name": ORGANIZATION_NAME,
            "organization_type": "claude_max",
            "organization_rate_limit_tier": RATE_LIMIT_TIER,
            "user_rate_limit_tier": None,
            "seat_tier": None,
        },
    }


def usage() -> dict[str, Any]:
    """GET /api/oauth/usage (/usage): the plan's windows, nearly unused."""
    reset = time.strftime("%Y-%m-%dT%H:00:00+00:00", time.gmtime(time.time() + 3 * 3600))
    window = {"utilization": 1.0, "resets_at": reset}
    return {
        "five_hour": window,
        "seven_day": window,
        "seven_day_opus": None,
        "seven_day_sonnet": None,
        "extra_usage": {"is_enabled": False, "monthly_limit": None, "used_credits": None},
    }


def organization_route(exchange: Exchange) -> Answer:
    """/api/oauth/organizations/ORG/...: the guest-pass referral eligibility (not eligible)."""
    path = exchange.path.split("?", 1)[0]
    if path == f"/api/oauth/organizations/{ORGANIZATION_UUID}/referral/eligibility":
        return 200, {
            "eligible": False,
            "referral_code_details": None,
            "referrer_reward": None,
            "remaining_passes": None,
        }
    return not_found(exchange)


Route = tuple[str, Callable[[Exchange], Answer]]  # the auth mode, the answer
# api.anthropic.com: (method, path) -> route; a GET route answers HEAD too (without the body).
API_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): (NONE, not_found),  # Claude's reachability probe (HEAD /): any answer does
    ("POST", "/v1/messages/count_tokens"): (REQUIRED, ok({"input_tokens": 100})),
    ("GET", "/v1/mcp_servers"): (REQUIRED, ok({"data": [], "has_more": False})),
    ("GET", "/api/oauth/profile"): (REQUIRED, ok(profile)),
    ("GET", "/api/oauth/usage"): (REQUIRED, ok(usage)),
    ("GET", "/api/oauth/account/settings"): (REQUIRED, ok({"grove_enabled": False})),
    ("GET", "/api/claude_cli/bootstrap"): (REQUIRED, ok(bootstrap)),
    ("GET", "/api/claude_code_penguin_mode"): (
        REQUIRED,
        ok({"enabled": False, "disabled_reason": "preference"}),
    ),
    ("GET", "/api/claude_code_grove"): (
        REQUIRED,
        ok(
            {
                "grove_enabled": False,
                "domain_excluded": False,
                "notice_is_grace_period": False,
                "notice_reminder_frequency": None,
            }
        ),
    ),
    ("GET", "/api/claude_code/organizations/metrics_enabled"): (
        REQUIRED,
        ok({"metrics_logging_enabled": False}),
    ),
    ("GET", "/api/organization/claude_code_first_token_date"): (
        REQUIRED,
        ok({"first_token_date": None}),
    ),
    # accepted without a credential (Claude retries without one after a 401)
    ("POST", "/api/event_logging/v2/batch"): (OPTIONAL, ok({})),
    ("GET", "/mcp-registry/v0/servers"): (
        NONE,
        ok({"servers": [], "metadata": {"count": 0, "nextCursor": None}}),
    ),
}
# api.anthropic.com: (method, path prefix) -> route
API_PREFIX_ROUTES: dict[tuple[str, str], Route] = {
    # GrowthBook's remote evaluation (/api/eval/SDK_KEY): no features, Claude's own defaults
    ("POST", "/api/eval/"): (OPTIONAL, ok({"features": {}, "experiments": []})),
    ("GET", "/api/oauth/organizations/"): (REQUIRED, organization_route),
}


class Routes:
    """What one request gets: (status, body, content type)."""

    def __init__(self, service: AnthropicService) -> None:
        self.service = service

    def answer(self, exchange: Exchange) -> tuple[int, str, str]:
        path = exchange.path.split("?", 1)[0]
        if exchange.host == "api.anthropic.com" and (exchange.method, path) == (
            "POST",
            "/v1/messages",
        ):
            return self.messages(exchange)
        if exchange.host == "platform.claude.com" and (exchange.method, path) == (
            "POST",
            "/v1/oauth/token",
        ):
            status, body = self.token(exchange)
        elif exchange.host == "api.anthropic.com":
            status, body = self.api(exchange, path)
        else:
            status, body = not_found(exchange)
        return status, json.dumps(body), "application/json"

    def refused(self, exchange: Exchange, mode: str, *, inference: bool = False) -> Answer | None:
        """None when the request may go on, else the real service's 401. INFERENCE: the
        Messages API, where an OAuth token also needs the oauth beta (the account endpoints
        take the bearer alone: Claude sends /api/oauth/profile without it)."""
        state = exchange.credential_state
        if mode == NONE or (state is None and mode == OPTIONAL):
            return None
        if state is None:
            return 401, error_body("authentication_error", "x-api-key header is required")
        if state == "expired":
            return 401, error_body(
                "authentication_error",
                "OAuth token has expired. Please obtain a new token or refresh your existing "
                "token.",
            )
        if state != "valid":
            return 401, error_body("authentication_error", "Invalid bearer token")
        betas = [beta.strip() for beta in exchange.headers.get("anthropic-beta", "").split(",")]
        oauth = exchange.credential not in self.service.api_keys
        if inference and oauth and OAUTH_BETA not in betas:
            return 401, error_body(
                "authentication_error", "OAuth authentication is currently not supported."
            )
        return None

    def messages(self, exchange: Exchange) -> tuple[int, str, str]:
        """POST /v1/messages: the script (streamed as SSE when asked to)."""
        refused = self.refused(exchange, REQUIRED, inference=True)
        body = exchange.body
        if refused is None and not isinstance(body, dict):
            refused = 400, error_body("invalid_request_error", "The body is not a JSON object")
        if refused is not None:
            return refused[0], json.dumps(refused[1]), "application/json"
        blocks, stop = script_reply(body, self.service.tool_command)
        model = str(body.get("model", "claude-test"))
        if body.get("stream"):
            return 200, real.sse_events(model, blocks, stop), "text/event-stream"
        return 200, json.dumps(real.message_body(model, blocks, stop)), "application/json"

    def api(self, exchange: Exchange, path: str) -> Answer:
        method = "GET" if exchange.method == "HEAD" else exchange.method
        found = API_ROUTES.get((method, path))
        if found is None:
            prefixes = API_PREFIX_ROUTES.items()
            found = next((r for (m, p), r in prefixes if m == method and path.startswith(p)), None)
        if found is None:
            return not_found(exchange)
        mode, make = found
        inference = path.startswith("/v1/messages")
        return self.refused(exchange, mode, inference=inference) or make(exchange)

    def token(self, exchange: Exchange) -> Answer:
        """POST /v1/oauth/token (Claude sends JSON; a form does too): grant_type=refresh_token,
        or authorization_code with the code the service's authorize page would have shown
        (AnthropicService.login_code): a new login, as after /login."""
        body = exchange.body if isinstance(exchange.body, dict) else {}
        grant = body.get("grant_type")
        if grant == "authorization_code":
            if body.get("code") != self.service.login_code or not body.get("code_verifier"):
                return 400, {"error": "invalid_grant", "error_description": "Invalid code"}
            issued = self.service.issue()
            scope = " ".join(SCOPES)
        else:
            refresh_token = body.get("refresh_token")
            if grant != "refresh_token" or not isinstance(refresh_token, str):
                return 400, {
                    "error": "invalid_request",
                    "error_description": "grant_type refresh_token or authorization_code",
                }
            outcome = self.service.refresh(refresh_token)
            if outcome.issued is None:
                return 400, {"error": "invalid_grant", "error_description": "Refresh token revoked"}
            issued = outcome.issued
            requested = body.get("scope")
            scope = requested if isinstance(requested, str) else " ".join(SCOPES)
        return 200, {
            "token_type": "Bearer",
            "access_token": issued.access_token,
            "expires_in": ACCESS_LIFETIME,
            "refresh_token": issued.refresh_token,
            "scope": scope,
            "organization": {"uuid": ORGANIZATION_UUID, "name": ORGANIZATION_NAME},
            "account": {"uuid": ACCOUNT_UUID, "email_address": ACCOUNT_EMAIL},
        }


# --- the HTTPS server --------------------------------------------------------------------------


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body (by Content-Length, or chunked), decoded from gzip/deflate if so sent."""
    headers = handler.headers
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        parts, total = [], 0
        while True:
            size = int(handler.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024).strip():
                    pass  # trailers
                break
            total += size
            if total > MAX_BODY:
                raise ValueError("request body too large")
            parts.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
        raw = b"".join(parts)
    else:
        length = int(headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError(f"bad Content-Length {length}")
        raw = handler.rfile.read(length) if length else b""
    encoding = headers.get("Content-Encoding", "").lower()
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    elif encoding == "deflate":
        raw = zlib.decompress(raw)
    return raw


def parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode(errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(urllib.parse.parse_qsl(text))
    try:
        return json.loads(text)
    except ValueError:
        return text


def carried_credential(headers: Message[str, str]) -> str | None:
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key") or None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries its Content-Length
    timeout = READ_TIMEOUT  # the connection's timeout (an idle kept-alive one too)
    server: AnthropicServer
    requests = 0  # on this connection

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_any(self) -> None:
        self.requests += 1
        service = self.server.service
        host = self.headers.get("Host", "").rsplit(":", 1)[0].lower()
        exchange = Exchange(self.command, host, self.path, dict(self.headers.items()), None)
        try:
            raw = read_body(self)
            exchange.body = parse_body(raw, self.headers.get("Content-Type", ""))
        except (ValueError, OSError, EOFError, zlib.error) as error:
            exchange.body = f"<unreadable body: {error}>"
            self.close_connection = True
        exchange.credential = carried_credential(self.headers)
        if exchange.credential is not None:
            exchange.credential_state = service.credential_state(exchange.credential)
        service.record(exchange)
        try:
            status, body, content_type = Routes(service).answer(exchange)
        except Exception as error:  # a bug of this module: visible in the log, not a hang
            body = json.dumps(error_body("api_error", f"anthropic_lab: {error!r}"))
            status, content_type = 500, "application/json"
        exchange.status, exchange.reply = status, body
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_{secrets.token_hex(12)}")
        if service.set_cookie:
            self.send_header("Set-Cookie", service.set_cookie)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any


class AnthropicServer(ThreadingHTTPServer):
    """TLS per connection, in the connection's own thread (a slow handshake blocks no other);
    its state is `service` at the time of each request (AnthropicLab.reset swaps it)."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], context: ssl.SSLContext, service: AnthropicService
    ) -> None:
        self.context = context
        self.service = service
        self.connections: set[ssl.SSLSocket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(READ_TIMEOUT)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.service.record_tls_error(f"{client_address[0]}: {error}")
            return
        with self.connections_lock:
            self.connections.add(connection)
        handler: Handler | None = None
        try:
            handler = Handler(connection, client_address, self)
        finally:
            with self.connections_lock:
                self.connections.discard(connection)
            connection.close()
            if handler is None or handler.requests == 0:
                self.service.record_idle_connection(f"{client_address[0]}:{client_address[1]}")

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client dropping a kept-alive connection is not news; the exchanges are recorded

    def server_close(self) -> None:
        super().server_close()
        with self.connections_lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# --- certificates ------------------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path, names: Sequence[str]) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for NAMES signed by it: (ca.pem, server.pem, server.key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req", "-x509", *new_key, "-days", "2", "-subj", "/CN=claudebox anthropic-lab test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    openssl("req", "-new", *new_key, "-subj", f"/CN={names[0]}", "-keyout", str(key),
            "-out", str(csr))  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(f'DNS:{name}' for name in names)}\n"
    )
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-set_serial", str(secrets.randbits(63)), "-days", "2", "-sha256",
        "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    ca.chmod(0o644)
    return ca, cert, key


# --- the lab -----------------------------------------------------------------------------------


@dataclass
class AnthropicLab:
    """Anthropic's hosts in a lab. `service` is the current scripted state (see reset)."""

    lab: NetLab
    ca: Path  # the test CA certificate (PEM, world-readable)
    bundle: Path  # the system bundle plus the test CA (the mount namespace's system bundle)
    mountns: str  # /proc/PID/ns/mnt: the lab's resolv.conf and bundle (for Box.mountns)
    names: dict[str, str]  # what the responder answers (name -> address)
    queries: list[str]  # what it was asked ("query NAME TYPE"), as it answers
    server: AnthropicServer

    @property
    def service(self) -> AnthropicService:
        return self.server.service

    def reset(self, tool_command: str | None = None) -> AnthropicService:
        """A fresh service (no tokens, no exchanges) and no queries logged; returns it."""
        service = AnthropicService()
        if tool_command is not None:
            service.tool_command = tool_command
        self.server.service = service
        self.queries.clear()
        return service

    def login(
        self,
        home: Path,
        user: pwd.struct_passwd,
        claude_version: str,
        *,
        trusted: Sequence[Path] = (),
    ) -> Login:
        """Issue a token pair and write it as HOME's claude.ai login (see write_login)."""
        login = self.service.issue()
        write_login(home, user, login, claude_version, trusted=trusted)
        return login

    def ca_copy(self, directory: Path) -> Path:
        """The CA certificate copied into DIRECTORY, readable by anyone (for
        NODE_EXTRA_CA_CERTS of a user who cannot read the fixture's scratch directory)."""
        copy = directory / "anthropic-lab-ca.pem"
        shutil.copyfile(self.ca, copy)
        copy.chmod(0o644)
        return copy

    def connect(self, host: str) -> http.client.HTTPSConnection:
        """An HTTPS connection to HOST's server made from the lab's host namespace, verified
        with the test CA (name and certificate); the caller closes it. For tests of the
        service itself; keeps alive across requests."""
        context = ssl.create_default_context(cafile=str(self.ca))

        def make() -> ssl.SSLSocket:
            raw = socket.create_connection((self.names[host], HTTPS_PORT), timeout=READ_TIMEOUT)
            return context.wrap_socket(raw, server_hostname=host)

        connection = http.client.HTTPSConnection(host, HTTPS_PORT, timeout=READ_TIMEOUT)
        connection.sock = real.in_netns(f"/run/netns/{self.lab.host_ns}", make)
        return connection


@contextmanager
def running_anthropic_lab(
    lab: NetLab, extra_names: Mapping[str, str] | None = None
) -> Iterator[AnthropicLab]:
    """Start it all in LAB; EXTRA_NAMES (name -> address) are answered by the responder too."""
    tls_prerequisites()
    scratch = Path(tempfile.mkdtemp(prefix="claudebox-anthropic-", dir="/tmp"))
    scratch.chmod(0o755)
    processes: list[subprocess.Popen[str]] = []
    server: AnthropicServer | None = None
    try:
        ca, cert, key = make_certificates(scratch, ANTHROPIC_HOSTS)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        address = (FAR_ADDRESS, HTTPS_PORT)
        far = f"/run/netns/{lab.ns('far')}"
        server = real.in_netns(far, lambda: AnthropicServer(address, context, AnthropicService()))
        threading.Thread(target=server.serve_forever, daemon=True).start()

        names = {name: FAR_ADDRESS for name in ANTHROPIC_HOSTS} | dict(extra_names or {})
        records = [item for pair in names.items() for item in pair]
        dns = start_server(lab.in_ns("host", PYTHON, "-c", DNS_SERVER, *records))
        processes.append(dns)
        queries: list[str] = []
        stdout = dns.stdout
        assert stdout is not None
        threading.Thread(
            target=lambda: queries.extend(line.strip() for line in stdout), daemon=True
        ).start()

        with resolver_namespace(scratch, ca) as mountns:
            bundle = scratch / "ca-certificates.crt"
            yield AnthropicLab(lab, ca, bundle, mountns, names, queries, server)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def anthropic_lab(lab: NetLab) -> Iterator[AnthropicLab]:
    """Anthropic's hosts in the module's lab."""
    with running_anthropic_lab(lab) as started:
        yield started


@pytest.fixture
def anthropic(anthropic_lab: AnthropicLab) -> AnthropicLab:
    """The module's Anthropic lab with a fresh service for this test."""
    anthropic_lab.reset()
    return anthropic_lab


# --- a claude.ai login in a home ---------------------------------------------------------------


def write_login(
    home: Path,
    user: pwd.struct_passwd,
    login: Login,
    claude_version: str,
    *,
    trusted: Sequence[Path] = (),
) -> None:
    """Claude Code's own files for a claude.ai (Max) login in HOME, owned by USER:
    ~/.claude/.credentials.json (0600) and, merged into ~/.claude.json (kept entries stay),
    the account and a finished onboarding, so Claude starts with no login or onboarding
    question. TRUSTED: project directories whose trust question is already answered.
    CLAUDE_VERSION: `claude --version` (test_real_claude's claude_store fixture)."""
    credentials = oauth_credentials(
        login.access_token,
        login.refresh_token,
        plan=SUBSCRIPTION,
        expires_at=login.expires_at,
        rate_limit_tier=RATE_LIMIT_TIER,
    )
    claude_dir = home / ".claude"
    claude_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(claude_dir, user.pw_uid, user.pw_gid)
    write_owned(claude_dir / ".credentials.json", credentials, user)
    config_path = home / ".claude.json"
    config: dict[str, Any] = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.update(
        {
            "numStartups": max(int(config.get("numStartups", 0)), 1),
            **real.onboarded(claude_version),
            "theme": config.get("theme", "dark"),
            # As Claude keeps it after a login; with all of billingType, accountCreatedAt,
            # subscriptionCreatedAt and ccOnboardingFlags, a refresh fetches no profile.
            "oauthAccount": {
                "accountUuid": ACCOUNT_UUID,
                "emailAddress": ACCOUNT_EMAIL,
                "organizationUuid": ORGANIZATION_UUID,
                "displayName": ACCOUNT_NAME.split()[0],
                "organizationName": ORGANIZATION_NAME,
                "organizationRole": "admin",
                "workspaceRole": None,
                "hasExtraUsageEnabled": False,
                "billingType": "stripe_subscription",
                "accountCreatedAt": CREATED_AT,
                "subscriptionCreatedAt": CREATED_AT,
                "ccOnboardingFlags": {},
            },
        }
    )
    projects = config.setdefault("projects", {})
    for project in trusted:
        entry = projects.setdefault(str(project), {})
        entry.update({"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True})
    write_owned(config_path, json.dumps(config, indent=2), user)


def write_owned(path: Path, content: str, user: pwd.struct_passwd, mode: int = 0o600) -> None:
    path.write_text(content)
    path.chmod(mode)
    os.chown(path, user.pw_uid, user.pw_gid)


def stored_login(home: Path) -> dict[str, Any]:
    """The claudeAiOauth entry of HOME's ~/.claude/.credentials.json."""
    stored = json.loads((home / ".claude" / ".credentials.json").read_text())
    entry: dict[str, Any] = stored["claudeAiOauth"]
    return entry
