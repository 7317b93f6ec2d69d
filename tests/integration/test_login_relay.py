"""Claude's login through claudebox's relay, with the REAL Claude Code and Anthropic's hosts
played in the network lab (anthropic_lab.py): no credential of the user's Claude account is
readable anywhere inside, in any tier, and Claude still works (its prompt, a tool, a token
refresh) because the relay puts the real credential on its requests on the host's side.

The scripted service sees every request: a real token there that only the host's file holds
proves the relay carried the request; a placeholder there would be an "unknown" credential.
The relay verifies the lab's servers with the system bundle, which the lab's mount namespace
extends by the test CA (what "the system CA bundle" is on a real host); inside, Claude trusts
the session's CA that claudebox hands it (NODE_EXTRA_CA_CERTS).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import subprocess
import time

import pytest
import test_real_claude as real
from anthropic_lab import CLAUDE_ENV, AnthropicLab, anthropic, anthropic_lab, stored_login
from harness import Box, wait_for
from test_allowlist_tier import CURL, curl_store
from test_profiles_sandbox import write_profile

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
__all__ = ["anthropic", "anthropic_lab", "claude_store", "curl_store"]

TIERS = ("full", "inet", "allowlist", "none")

# The tool Claude runs inside: walks every file but /proc /sys /dev /nix, then every process's
# environment and command line, for each token given in halves ($1 $2, $3 $4: no command line
# carries a token whole); prints where one is found, then what the credentials file inside says.
TOKEN_SEARCH = r"""
search() {
    m="$1$2"
    find / -path /proc -prune -o -path /sys -prune -o -path /dev -prune -o -path /nix -prune \
        -o -type f -print 2>/dev/null | while read -r f; do
        grep -qF -- "$m" "$f" 2>/dev/null && echo "found in $f"
    done
    for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
        tr '\0' '\n' < "$f" 2>/dev/null | grep -qF -- "$m" && echo "found in $f"
    done
}
search "$1" "$2"; search "$3" "$4"
echo search-done
grep -c claudebox ~/.claude/.credentials.json
"""


def halves(token: str) -> tuple[str, str]:
    middle = len(token) // 2
    return token[:middle], token[middle:]


def tool_command(script: str, *args: str) -> str:
    """A Bash tool command running SCRIPT with ARGS (each single-quoted: tokens are plain)."""
    quoted = " ".join(f"'{arg}'" for arg in args)
    return (
        f"sh -c '{script.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}' search {quoted}"
    )


def claudebox_claude(
    box: Box, anthropic: AnthropicLab, *options: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """claudebox --yes OPTIONS with the real Claude (`-p`, JSON report) as the test user, in the
    lab's host namespace and the Anthropic lab's mount namespace (its resolver and bundle)."""
    box.mountns = anthropic.mountns
    env = {**CLAUDE_ENV, "PATH": ":".join([f"{real.CLAUDE_STORE}/bin", box.host_path()])}
    env.update(extra or {})
    return box.run(
        "--yes",
        *options,
        "-p",
        "Run the probe.",
        "--output-format",
        "json",
        "--allowedTools",
        "Bash",
        env=env,
        timeout=240,
    )


def tool_output(anthropic: AnthropicLab) -> str:
    """What the tool printed, as the service received it in the last Messages request."""
    messages = anthropic.service.messages()
    assert messages, anthropic.service.log()
    blocks = real.tool_results(messages[-1].body)
    assert blocks, anthropic.service.log()
    return real.result_text(blocks[0])


def network_log(box: Box) -> str:
    logs = sorted((box.home / ".claudebox" / "instances").glob("*/network-log/*.log"))
    assert logs, "no network log"
    return logs[-1].read_text()


@pytest.mark.parametrize("network", TIERS)
def test_real_claude_works_with_the_login_and_no_token_is_inside(
    box: Box, anthropic: AnthropicLab, claude_store: str, network: str
) -> None:
    login = anthropic.login(box.home, box.user, claude_store)
    before = (box.home / ".claude" / ".credentials.json").read_bytes()
    anthropic.service.tool_command = tool_command(
        TOKEN_SEARCH, *halves(login.access_token), *halves(login.refresh_token)
    )
    result = claudebox_claude(box, anthropic, "--network", network)
    service = anthropic.service
    assert result.returncode == 0, f"{result.stderr}\n--- service\n{service.log()}"
    report = json.loads(result.stdout)
    assert (report["is_error"], report["num_turns"], report["result"]) == (
        False,
        2,
        real.FINAL_TEXT,
    ), service.log()

    # Inside: neither token anywhere, the credentials file holds placeholders.
    seen = tool_output(anthropic)
    lines = seen.splitlines()
    assert "search-done" in lines, seen
    assert lines[: lines.index("search-done")] == [], seen
    assert lines[lines.index("search-done") + 1] == "2", seen  # access and refresh placeholders

    # At the service: every request carried the real token (the relay put it there), never a
    # placeholder; nothing was refreshed, the host's file is untouched.
    carried = {(e.credential, e.credential_state) for e, _token in service.credentials_carried()}
    assert carried == {(login.access_token, "valid")}, service.log()
    assert len(service.messages()) >= 2, service.log()
    assert service.unknown_credentials() == [], service.log()
    assert service.token_requests() == [], service.log()
    assert (box.home / ".claude" / ".credentials.json").read_bytes() == before
    assert "login POST api.anthropic.com/v1/messages -> 200" in network_log(box)


def test_a_refresh_inside_rotates_the_hosts_login_and_everyone_keeps_working(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """The service answers the host's token 401 once: Claude inside refreshes, the relay does
    it on the host (Claude's lock, the real refresh token, by rename) and hands back new
    placeholders; then another project's session and the host's own Claude use the new login,
    and no refresh token is ever used twice (the real service would log everyone out)."""
    from test_anthropic_lab import run_claude

    first = anthropic.login(box.home, box.user, claude_store)
    service = anthropic.service
    service.tool_command = "echo refreshed-probe"
    service.answer_401_once(first.access_token)
    result = claudebox_claude(box, anthropic, "--network", "inet")
    assert result.returncode == 0, f"{result.stderr}\n--- service\n{service.log()}"
    assert json.loads(result.stdout)["result"] == real.FINAL_TEXT, service.log()

    # One refresh, upstream, with the host's real refresh token; the host's file holds the
    # new pair (0600, the user's), and later requests carried the new token.
    assert [r.outcome for r in service.refreshes] == ["issued"], service.log()
    second = service.current
    assert second.access_token != first.access_token
    stored = stored_login(box.home)
    assert (stored["accessToken"], stored["refreshToken"]) == (
        second.access_token,
        second.refresh_token,
    )
    credentials = box.home / ".claude" / ".credentials.json"
    assert (credentials.stat().st_mode & 0o777, credentials.stat().st_uid) == (
        0o600,
        box.user.pw_uid,
    )
    assert service.messages()[-1].credential == second.access_token, service.log()
    assert service.unknown_credentials() == [], service.log()
    assert not (box.home / ".claude" / ".oauth_refresh.lock").exists()
    assert not (box.home / ".claude.lock").exists()
    assert "login: refreshed the host's token" in network_log(box)

    # Another project's session: the new login, no refresh needed.
    other = box.mkdir(box.home / "other")
    result = claudebox_claude(dataclasses.replace(box, project=other), anthropic)
    assert result.returncode == 0, f"{result.stderr}\n--- service\n{service.log()}"
    assert [r.outcome for r in service.refreshes] == ["issued"], service.log()

    # The host's own Claude, with the file the relay wrote.
    host = run_claude(box, anthropic)
    assert host.returncode == 0, f"{host.stderr}\n--- service\n{service.log()}"
    assert service.revoked() == [], service.log()
    assert service.messages()[-1].credential == second.access_token


# A probe snippet: for each header given, one request to api.anthropic.com through the proxy
# ($https_proxy), trusting only the session's CA; prints the status of each.
ASK_ANTHROPIC = f"""
for header in "$@"; do
    {CURL} -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 20 \\
        --cacert /etc/claudebox/login-ca.pem -H "$header" \\
        -H 'content-type: application/json' -d '{{"messages": []}}' \\
        https://api.anthropic.com/v1/messages
done
"""


@pytest.mark.parametrize("network", TIERS)
def test_anthropic_hosts_take_only_this_sessions_placeholders(
    box: Box, anthropic: AnthropicLab, curl_store: None, network: str
) -> None:
    """Through the relay, a request to Anthropic's hosts carries the user's login only for this
    session's placeholder; a key or token of the agent's own, or a cookie, is refused (HTTP
    403) and never reaches Anthropic: in the allowlist tier the agent cannot use Anthropic's API
    with an account of its own."""
    key = "sk-ant-api03-" + secrets.token_hex(40)
    anthropic.service.api_keys.add(key)
    cookie = "sk-ant-sid01-" + secrets.token_hex(20)
    anthropic.service.set_cookie = f"sessionKey={cookie}; Secure; HttpOnly"
    box.mountns = anthropic.mountns
    headers = [
        "x-api-key: $ANTHROPIC_API_KEY",
        "x-api-key: sk-ant-api03-" + secrets.token_hex(40),
        "authorization: Bearer sk-ant-oat01-" + secrets.token_hex(40),
        "cookie: sessionKey=sk-ant-sid01-" + secrets.token_hex(20),
    ]
    snippet = ASK_ANTHROPIC.replace('"$@"', " ".join(f'"{h}"' for h in headers))
    snippet = snippet.replace("-o /dev/null", "-o /dev/null -D - ")
    result = box.probe(snippet, options=("--network", network), env={"ANTHROPIC_API_KEY": key})
    service = anthropic.service
    assert result.returncode == 0, result.stderr
    statuses = [line for line in result.stdout.splitlines() if line.strip().isdigit()]
    assert statuses == ["200", "403", "403", "403"], (result.stdout, service.log())
    # The answer's session cookie (a login of its own for claude.ai) never reaches inside.
    assert cookie not in result.stdout and "set-cookie" not in result.stdout.lower()
    assert [(e.route, e.credential) for e in service.seen()] == [
        ("POST api.anthropic.com/v1/messages", key)
    ], service.log()
    refused = [line for line in network_log(box).splitlines() if "refused login" in line]
    assert len(refused) == 3, network_log(box)
    assert all("did not issue" in line or "cookies" in line for line in refused), refused


def command_lines_seen_by(user: str) -> str:
    """Every process's command line as USER reads them (ps as any local user would)."""
    return subprocess.run(
        ["runuser", "-u", user, "--", "ps", "-eww", "-o", "args"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


@pytest.mark.parametrize("network", TIERS)
def test_no_secret_value_is_on_any_command_line(box: Box, network: str) -> None:
    """While a session runs, `ps` as another local user (nobody) shows no value of the API
    key, of a CLAUDEBOX_EXTRA_ENV variable or of a profile variable, nor the placeholder the
    sandbox got; the same user does see a canary on a command line of the test user's (the
    control: command lines are world-readable here)."""
    key = "sk-ant-api03-" + secrets.token_hex(40)
    extra = "extra-" + secrets.token_hex(16)
    literal = "profile-" + secrets.token_hex(16)
    write_profile(box, "ps", {"env": {"CLAUDEBOX_PS_SETTING": literal}})
    env = {"ANTHROPIC_API_KEY": key, "GH_TOKEN": extra, "CLAUDEBOX_EXTRA_ENV": "GH_TOKEN"}
    snippet = 'printf %s "$ANTHROPIC_API_KEY" > placeholder; touch ready; sleep 60'
    process = box.start(
        "--yes",
        "--network",
        network,
        "--profile",
        "ps",
        snippet,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(box.project / "ready", process=process)
        seen = command_lines_seen_by("nobody")
        placeholder = (box.project / "placeholder").read_text()
        control = subprocess.Popen(box.as_user(["/bin/sh", "-c", "sleep 60", literal]))
        try:
            deadline = time.monotonic() + 10
            while literal not in (control_seen := command_lines_seen_by("nobody")):
                assert time.monotonic() < deadline, "the control never showed its command line"
                time.sleep(0.1)
        finally:
            control.kill()
            control.wait()
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
    assert "bwrap" in seen  # the session's own command lines are there
    for value in (key, extra, literal, placeholder):
        assert value not in seen
    assert "--args" in seen  # bwrap read its variables from a descriptor
    assert placeholder.startswith("sk-ant-api03-claudebox-")
    assert f"/bin/sh -c sleep 60 {literal}" in control_seen


@pytest.mark.parametrize("network", TIERS)
def test_the_real_tui_reaches_its_prompt_logged_in_with_no_question_of_its_own(
    box: Box, anthropic: AnthropicLab, claude_store: str, network: str
) -> None:
    """A person's path: claudebox on a terminal, y at the question, Claude's prompt in bypass
    mode with the user's account and none of Claude's questions, a prompt that runs a tool,
    Ctrl-C twice."""
    anthropic.login(box.home, box.user, claude_store)
    anthropic.service.tool_command = (
        f"echo {real.PROJECT_FILE_CONTENT.strip()} > {real.PROJECT_FILE}"
    )
    box.mountns = anthropic.mountns
    env = {**CLAUDE_ENV, "PATH": ":".join([f"{real.CLAUDE_STORE}/bin", box.host_path()])}
    env["TERM"] = "xterm-256color"
    with box.terminal("--network", network, env=env, columns=100, lines=30) as term:
        term.wait_for_text(real.LAUNCH_QUESTION)
        term.type(b"y" + real.ENTER)
        term.wait_for_text("bypass permissions on", timeout=120)
        real.assert_no_claude_question(term)
        term.type(real.PROMPT.encode())
        term.wait_for_text(real.PROMPT)
        term.type(real.ENTER)
        term.wait_for_text(real.FINAL_TEXT, timeout=120)
        assert real.exit_with_ctrl_c_twice(term) == 0, term
        real.assert_no_claude_question(term)
    service = anthropic.service
    assert (box.project / real.PROJECT_FILE).read_text() == real.PROJECT_FILE_CONTENT
    assert service.unknown_credentials() == [], service.log()
    assert service.messages(), service.log()


def test_a_pasted_dry_run_relays_the_login_without_the_key_on_any_line(
    box: Box, anthropic: AnthropicLab, curl_store: None
) -> None:
    """--dry-run prints no value of the key: the pasted command hands it to the stage from the
    pasting shell's "$ANTHROPIC_API_KEY" (printf, a builtin), and the sandbox gets a
    placeholder that the stage's own relay swaps for it."""
    key = "sk-ant-api03-" + secrets.token_hex(40)
    anthropic.service.api_keys.add(key)
    box.mountns = anthropic.mountns
    snippet = (
        ASK_ANTHROPIC.replace('"$@"', '"x-api-key: $ANTHROPIC_API_KEY"').rstrip() + " > status"
    )
    dry = box.run("--dry-run", "--network", "none", snippet, env={"ANTHROPIC_API_KEY": key})
    assert dry.returncode == 0, dry.stderr
    assert key not in dry.stdout
    assert '"$ANTHROPIC_API_KEY"' in dry.stdout
    pasted = subprocess.run(
        box.as_user(["/bin/bash", "-c", dry.stdout]),
        env=box.env({"ANTHROPIC_API_KEY": key}),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    assert (box.project / "status").read_text() == "200\n", anthropic.service.log()
    assert [e.credential for e in anthropic.service.seen()] == [key]


def test_login_inside_puts_the_real_tokens_on_the_host_and_placeholders_inside(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """A host without a Claude login: Claude inside starts and says "Not logged in"; /login
    inside (the claude.ai flow, its code pasted as a person does) ends with the real tokens
    in the host's ~/.claude/.credentials.json and only placeholders inside; the next session
    starts logged in, and so does the host's own Claude."""
    from test_anthropic_lab import run_claude

    version = claude_store.split()[0]
    onboarded = {"hasCompletedOnboarding": True, "lastOnboardingVersion": version, "theme": "dark"}
    box.write(box.home / ".claude.json", json.dumps(onboarded))
    box.mountns = anthropic.mountns
    service = anthropic.service
    env = {**CLAUDE_ENV, "PATH": ":".join([f"{real.CLAUDE_STORE}/bin", box.host_path()])}
    env["TERM"] = "xterm-256color"
    with box.terminal("--yes", "--network", "none", env=env, columns=120, lines=40) as term:
        term.wait_for_text("Not logged in", timeout=120)
        term.type(b"/login")
        term.wait_for_text("Sign in with your Anthropic account")  # its completion is shown
        term.type(real.ENTER)
        term.wait_for_text("Select login method")
        term.type(real.ENTER)  # 1. Claude account with subscription
        term.wait_for_text("Paste code here", timeout=60)
        printed = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|[\r\n]", b"", bytes(term.transcript))
        found = re.search(rb"&state=([A-Za-z0-9_-]+)", printed)
        assert found, term
        code = f"{service.login_code}#{found.group(1).decode()}"
        term.type(code.encode())
        term.wait_for(
            lambda screen: any(
                "Paste code here" in line and line.count("*") >= 20 for line in screen.splitlines()
            ),
            "the code in the field (masked)",
        )
        settle = time.monotonic() + 0.5  # let it take the whole paste before the Enter
        while time.monotonic() < settle:
            term.pump(0.1)
        term.type(real.ENTER)
        term.wait_for_text("Login successful", timeout=60)
        term.wait_for_text("Claude Max")  # the account, as /status has it
        term.wait_for(lambda s: "Not logged in" not in s, "the footer without 'Not logged in'")
        assert real.exit_with_ctrl_c_twice(term) == 0, term
    (issued,) = service.logins
    stored = stored_login(box.home)
    assert (stored["accessToken"], stored["refreshToken"]) == (
        issued.access_token,
        issued.refresh_token,
    ), service.log()
    assert service.unknown_credentials() == [], service.log()
    inside = box.home / ".claudebox" / "instances"
    placeholders = [
        p
        for p in inside.rglob("*")
        if p.is_file() and issued.access_token in p.read_text(errors="replace")
    ]
    assert placeholders == []  # the instance (transcripts, .claude.json) never held the token

    # The next session is logged in (its placeholders from the host's file), and so is the
    # host's own Claude.
    service.tool_command = "echo next-session"
    result = claudebox_claude(box, anthropic, "--network", "none")
    assert result.returncode == 0, f"{result.stderr}\n--- service\n{service.log()}"
    assert service.messages()[-1].credential == issued.access_token
    host = run_claude(box, anthropic)
    assert host.returncode == 0, f"{host.stderr}\n--- service\n{service.log()}"
    assert service.revoked() == [], service.log()
