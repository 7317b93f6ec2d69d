"""--check probes enforcement: a throwaway sandbox (the same plan builder and launch path as a
session) must not see canaries (a canary API key among them: only its placeholder enters), must
not route private addresses (inet), must not inject into a terminal, and reaches Anthropic's
API only through the login relay, which refuses a key it did not issue. The probe runs inside
with the Python claudebox runs with, so it needs one in /nix/store (the Nix-built claudebox has
one): the fixture makes a store-shaped Python."""

from __future__ import annotations

import os
import subprocess

import pytest
from harness import PYTHON, Box
from rtlib import install_store_python, require_pasta

import claudebox


@pytest.fixture(scope="session")
def store_python(fixture_store: None) -> str:
    return str(install_store_python())


def run_check(box: Box, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        box.as_user([python, str(box.module), "--check"]),
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_check_runs_a_throwaway_sandbox_and_reports_enforcement(
    box: Box, store_python: str
) -> None:
    require_pasta("inet")
    result = run_check(box, store_python)
    lines = result.stdout.splitlines()
    assert "ok   sandbox: a throwaway sandbox ran the probe (network inet)" in lines, result
    assert (
        "ok   sandbox: secrets: canary files outside the project and a canary host variable "
        "are invisible inside"
    ) in lines
    routes = [line for line in lines if line.startswith("ok   sandbox: private routes: inet: ")]
    assert routes and "unreachable" in routes[0]
    assert (
        "ok   sandbox: terminal injection: TIOCSTI on a terminal inside fails with EPERM "
        "(the seccomp filter)"
    ) in lines
    assert (
        "ok   sandbox: allowlist proxy: the proxy answers inside and refuses a name not on the "
        "allowlist (HTTP 403)"
    ) in lines
    assert (
        "ok   sandbox: allowlist names: a name on no allowlist does not resolve inside "
        "(NXDOMAIN), and no question leaves"
    ) in lines
    assert (
        "ok   sandbox: allowlist routes: allowlist: no route out but the proxy (a direct "
        "connection: ENETUNREACH)"
    ) in lines
    assert (
        "ok   sandbox: login relay: inside, api.anthropic.com's TLS ends at the relay (the "
        "session's CA) and a key claudebox did not issue is refused (HTTP 403)"
    ) in lines
    assert any(line.startswith("ok   openssl: ") for line in lines), result
    assert not (box.home / ".claudebox").exists()  # the throwaway sandbox's state is gone


def test_check_without_a_store_python_says_the_probe_was_skipped(box: Box) -> None:
    result = run_check(box, PYTHON)
    assert (
        f"warn sandbox: skipped: the enforcement probe runs inside with this Python, and "
        f"{os.path.realpath(PYTHON)} is not in /nix/store"
    ) in result.stdout


def test_a_leaky_report_fails_each_check_and_says_why() -> None:
    report = {
        "visible": ["/home/u/.ssh/id_ed25519"],
        "environ": ["/proc/1/environ"],
        "routes": {"10.0.0.1": "ECONNREFUSED", "192.168.0.1": "EHOSTUNREACH"},
        "tiocsti": "ok",
    }
    rendered = claudebox.render_checks(
        claudebox.enforcement_results(report, claudebox.Tier.INET), claudebox.Style(False)
    )
    assert rendered.splitlines() == [
        "FAIL sandbox: secrets: visible inside: /home/u/.ssh/id_ed25519, /proc/1/environ; "
        "fix: this claudebox does not isolate the sandbox; report it (see SECURITY.md)",
        "FAIL sandbox: private routes: inet: reachable or not refused by a route: "
        "10.0.0.1 (ECONNREFUSED); fix: the inet tier's unreachable routes are missing; "
        "report it (see SECURITY.md)",
        "FAIL sandbox: terminal injection: TIOCSTI on a terminal inside succeeded; "
        "fix: the seccomp filter is not applied; report it (see SECURITY.md)",
    ]
    kernel_only = claudebox.enforcement_results({"tiocsti": "EIO"}, claudebox.Tier.NONE)
    assert [(r.ok, r.warning) for r in kernel_only] == [(True, False), (True, True), (False, False)]
    assert kernel_only[2].detail == "TIOCSTI failed with EIO, not by the seccomp filter (EPERM)"


def test_a_broken_allowlist_report_fails_and_says_why() -> None:
    report = {
        "proxy": "HTTP/1.1 200 Connection established\r\n\r\n",
        "dns": 0,
        "direct": "ETIMEDOUT",
    }
    rendered = claudebox.render_checks(claudebox.allowlist_results(report), claudebox.Style(False))
    assert rendered.splitlines() == [
        "FAIL sandbox: allowlist proxy: the proxy did not refuse a name not on the allowlist: "
        "HTTP/1.1 200 Connection established; fix: the allowlist tier's proxy is not working; "
        "report it (see SECURITY.md)",
        "FAIL sandbox: allowlist names: the resolver inside did not refuse a name on no "
        "allowlist (0); fix: the allowlist tier's resolver is not working; report it (see "
        "SECURITY.md)",
        "FAIL sandbox: allowlist routes: allowlist: a direct connection was not refused by the "
        "missing route (ETIMEDOUT); fix: the allowlist tier's namespace has a way out; report it "
        "(see SECURITY.md)",
    ]


def test_a_broken_login_chain_fails_and_says_why() -> None:
    report = {
        "connect": "HTTP/1.1 200 Connection established",
        "error": "CERTIFICATE_VERIFY_FAILED",
    }
    (result,) = claudebox.login_results(report)
    assert not result.ok
    assert result.detail == (
        "the login relay's chain failed inside: connect: HTTP/1.1 200 Connection established; "
        "error: CERTIFICATE_VERIFY_FAILED"
    )
