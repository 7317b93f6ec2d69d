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
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import test_real_claude as real
from anthropic_lab import (
    CLAUDE_ENV,
    OAUTH_BETA,
    AnthropicLab,
    anthropic,
    anthropic_lab,
    stored_login,
)
from harness import Box, files_holding, prerequisite_missing, wait_for, write_profile
from test_allowlist_tier import CURL, curl_store
from test_anthropic_lab import run_claude

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
__all__ = ["anthropic", "anthropic_lab", "claude_store", "curl_store"]

TIERS = ("full", "inet", "allowlist", "none")

# The tool Claude runs inside: walks every file but /proc /sys /dev /nix (/dev/shm included),
# every process's environment and command line and every regular file a process holds open
# (/proc/PID/fd: inherited descriptors, deleted files), for each string given in halves ($1 $2:
# the access token, $3 $4: the refresh token, $5 $6: a canary; no command line carries one
# whole); prints where one is found ("found NAME in PATH"), then what the credentials file
# inside says. The controls: the canary is in a file of the project (put there by the test),
# in /dev/shm and in a deleted file held open on descriptor 7 (both put there by this tool).
TOKEN_SEARCH = r"""
search() {
    name=$1; m="$2$3"
    find / /dev/shm -path /proc -prune -o -path /sys -prune -o -path /dev -prune \
        -o -path /nix -prune -o -type f -print 2>/dev/null | while read -r f; do
        grep -qF -- "$m" "$f" 2>/dev/null && echo "found $name in $f"
    done
    for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
        tr '\0' '\n' < "$f" 2>/dev/null | grep -qF -- "$m" && echo "found $name in $f"
    done
    for f in /proc/[0-9]*/fd/*; do
        [ -f "$f" ] && grep -qF -- "$m" "$f" 2>/dev/null && echo "found $name in $f"
    done
}
printf %s "$5$6" > /dev/shm/canary
printf %s "$5$6" > /tmp/held-canary && exec 7< /tmp/held-canary && rm /tmp/held-canary
search access "$1" "$2"; search refresh "$3" "$4"; search canary "$5" "$6"
echo search-done
grep -c claudebox ~/.claude/.credentials.json
"""
PROJECT_CANARY = "canary.txt"  # the canary's file in the project


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
    env = real.with_store_claude(box, CLAUDE_ENV, extra or {})
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
    canary = "CANARY-" + secrets.token_hex(16)
    box.write(box.project / PROJECT_CANARY, f"{canary}\n", mode=0o644)
    anthropic.service.tool_command = tool_command(
        TOKEN_SEARCH, *halves(login.access_token), *halves(login.refresh_token), *halves(canary)
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

    # Inside: neither token anywhere, the credentials file holds placeholders; the canary is
    # found where it is (the control: the search reads files, /dev/shm and descriptors).
    seen = tool_output(anthropic)
    lines = seen.splitlines()
    assert "search-done" in lines, seen
    found = lines[: lines.index("search-done")]
    assert [line for line in found if not line.startswith("found canary in ")] == [], seen
    canary_at = {line.removeprefix("found canary in ") for line in found}
    assert {str(box.project / PROJECT_CANARY), "/dev/shm/canary"} <= canary_at, seen
    assert any(re.fullmatch(r"/proc/[0-9]+/fd/7", path) for path in canary_at), seen
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
    first = anthropic.login(box.home, box.user, claude_store)
    service = anthropic.service
    service.tool_command = "cat ~/.claude/.credentials.json"  # (runs after the refresh)
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

    # Inside, after the refresh: the credentials file Claude wrote holds the new placeholders,
    # no real token (old or new); nor does any file of the instance or the project.
    inside = tool_output(anthropic)
    tokens = {
        "old access": first.access_token,
        "old refresh": first.refresh_token,
        "new access": second.access_token,
        "new refresh": second.refresh_token,
    }
    assert [name for name, token in tokens.items() if token in inside] == [], inside
    refreshed = json.loads(inside)["claudeAiOauth"]
    assert refreshed["accessToken"].startswith("sk-ant-oat01-claudebox-"), inside
    assert refreshed["refreshToken"].startswith("sk-ant-ort01-claudebox-"), inside
    held = [
        (name, files)
        for name, token in tokens.items()
        for root in (box.home / ".claudebox" / "instances", box.project)
        if (files := files_holding(root, token))
    ]
    assert held == []

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


# A probe snippet: saves this session's API key placeholder (replay-key) and its access token
# placeholder (replay-access, from ~/.claude/.credentials.json) in the project, unless they are
# there already; then asks Anthropic's API with its own key, the saved key and the saved token
# (ASK_ANTHROPIC, with the OAuth beta an access token needs there).
REPLAY = (
    '[ -e replay-key ] || printf %s "$ANTHROPIC_API_KEY" > replay-key\n'
    '[ -e replay-access ] || sed -n \'s/.*"accessToken": *"\\([^"]*\\)".*/\\1/p\' '
    "~/.claude/.credentials.json > replay-access\n"
    + ASK_ANTHROPIC.replace(
        '"$@"',
        '"x-api-key: $ANTHROPIC_API_KEY" "x-api-key: $(cat replay-key)" '
        '"authorization: Bearer $(cat replay-access)"',
    ).replace("-H 'content-type", f"-H 'anthropic-beta: {OAUTH_BETA}' -H 'content-type")
)


@pytest.mark.parametrize("network", TIERS)
def test_a_placeholder_replayed_by_another_session_is_refused(
    box: Box, anthropic: AnthropicLab, claude_store: str, curl_store: None, network: str
) -> None:
    """Session 1 saves its API key placeholder and its access token placeholder in the
    project, and uses them (the control: 200 each). The project's next session, and a session
    of another project handed the same values, get 403 for them (the relay takes only what it
    issued in that session), while their own key still works; Anthropic never sees them."""
    key = "sk-ant-api03-" + secrets.token_hex(40)
    service = anthropic.service
    service.api_keys.add(key)
    login = anthropic.login(box.home, box.user, claude_store)
    box.mountns = anthropic.mountns
    env = {"ANTHROPIC_API_KEY": key}
    other = dataclasses.replace(box, project=box.mkdir(box.home / "other"))
    statuses = {}
    for session, where in (("first", box), ("next", box), ("other project", other)):
        if session == "other project":  # handed what the first session saved
            for name in ("replay-key", "replay-access"):
                box.write(other.project / name, (box.project / name).read_text())
        result = where.probe(REPLAY, options=("--network", network), env=env)
        assert result.returncode == 0, result.stderr
        statuses[session] = result.stdout.split()
        if session == "first":
            saved = {n: (box.project / n).read_text() for n in ("replay-key", "replay-access")}
    assert saved["replay-key"].startswith("sk-ant-api03-claudebox-"), saved
    assert saved["replay-access"].startswith("sk-ant-oat01-claudebox-"), saved
    assert statuses == {
        "first": ["200", "200", "200"],
        "next": ["200", "403", "403"],
        "other project": ["200", "403", "403"],
    }, service.log()
    # The service saw the real key and token, each from session 1, then the key alone.
    assert [e.credential for e in service.messages()] == [
        key,
        key,
        login.access_token,
        key,
        key,
    ], service.log()
    assert service.unknown_credentials() == [], service.log()
    logs = sorted((box.home / ".claudebox" / "instances").glob("*/network-log/*.log"))
    refused = [
        line for log in logs for line in log.read_text().splitlines() if "refused login" in line
    ]
    assert len(refused) == 4 and all("did not issue" in line for line in refused), refused


def command_lines_seen_by(user: str) -> str:
    """Every process's command line as USER reads them (ps as any local user would)."""
    return subprocess.run(
        ["runuser", "-u", user, "--", "ps", "-eww", "-o", "args"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def execve_calls(log: Path) -> list[str]:
    """The execve lines of an strace log (their argv in full, the environment left out)."""
    return [line for line in log.read_text().splitlines() if "execve(" in line]


@pytest.mark.parametrize("network", TIERS)
def test_no_secret_value_is_on_any_command_line(box: Box, network: str) -> None:
    """While a session runs, `ps` as another local user (nobody) shows no value of the API
    key, of a CLAUDEBOX_EXTRA_ENV variable or of a profile variable, nor the placeholder the
    sandbox got; the same user does see a canary on a command line of the test user's (the
    control: command lines are world-readable here). The launch runs under strace: no execve
    of it, in any process, the sandbox's included, carries one of them either (ps saw one
    moment; this sees every command line), while one carries the snippet's canary (the
    control: strace followed into the sandbox)."""
    strace = shutil.which("strace")
    if strace is None:
        prerequisite_missing("strace is needed (apt install strace)")
        return
    key = "sk-ant-api03-" + secrets.token_hex(40)
    extra = "extra-" + secrets.token_hex(16)
    literal = "profile-" + secrets.token_hex(16)
    argv_canary = "argv-canary-" + secrets.token_hex(8)
    write_profile(box, "ps", {"env": {"CLAUDEBOX_PS_SETTING": literal}})
    env = {"ANTHROPIC_API_KEY": key, "GH_TOKEN": extra, "CLAUDEBOX_EXTRA_ENV": "GH_TOKEN"}
    snippet = (
        f': {argv_canary}; printf %s "$ANTHROPIC_API_KEY" > placeholder; touch ready; '
        "while [ ! -e stop ]; do sleep 0.1; done"
    )
    log = box.root / "execve.log"
    launch = ["--yes", "--network", network, "--profile", "ps", snippet]
    traced = [strace, "-f", "-qq", "-e", "trace=execve", "-s", "65535", "-o", str(log)]
    process = subprocess.Popen(
        [*traced, *box.command(launch)],
        env=box.env(env),
        cwd=box.project,
        text=True,
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
        (box.project / "stop").touch()
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    assert "bwrap" in seen  # the session's own command lines are there
    for value in (key, extra, literal, placeholder):
        assert value not in seen
    assert "--args" in seen  # bwrap read its variables from a descriptor
    assert placeholder.startswith("sk-ant-api03-claudebox-")
    assert f"/bin/sh -c sleep 60 {literal}" in control_seen
    calls = execve_calls(log)
    assert any("bwrap" in call and "--args" in call for call in calls), calls[:20]
    assert any(argv_canary in call for call in calls), calls[-20:]  # the probe claude's
    for value in (key, extra, literal, placeholder):
        assert [call for call in calls if value in call] == []


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
    env = real.with_store_claude(box, CLAUDE_ENV, {"TERM": "xterm-256color"})
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


def pasted_code_shown(screen: str, code: str) -> bool:
    """The login's code field shows all of CODE: for each character a * or (its last few, as
    2.1.197 shows them here) the character itself."""
    for line in screen.splitlines():
        if "Paste code here" in line:
            shown = line.split(">", 1)[-1].strip()
            if len(shown) != len(code):
                return False
            return all(c in ("*", o) for c, o in zip(shown, code, strict=True))
    return False


def test_login_inside_puts_the_real_tokens_on_the_host_and_placeholders_inside(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """A host without a Claude login: Claude inside starts and says "Not logged in"; /login
    inside (the claude.ai flow, its code pasted as a person does) ends with the real tokens
    in the host's ~/.claude/.credentials.json and only placeholders inside; the next session
    starts logged in, and so does the host's own Claude."""
    real.write_onboarded(box, claude_store)
    box.mountns = anthropic.mountns
    service = anthropic.service
    env = real.with_store_claude(box, CLAUDE_ENV, {"TERM": "xterm-256color"})
    with box.terminal("--yes", "--network", "none", env=env, columns=120, lines=40) as term:
        term.wait_for_text("Not logged in", timeout=120)
        term.type(b"/login")
        term.wait_for_text("Sign in with your Anthropic account")  # its completion is shown
        term.type(real.ENTER)
        term.wait_for_text("Select login method")
        term.type(real.ENTER)  # 1. Claude account with subscription
        term.wait_for_text("Paste code here", timeout=60)
        # The URL as printed, its wrapped lines joined (colours and line ends dropped); a cursor
        # movement ends it (without one, the state would run on into "Paste code here").
        printed = re.sub(rb"\x1b\[[0-9;]*m|[\r\n]", b"", bytes(term.transcript))
        printed = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b" ", printed)
        found = re.search(rb"&state=([A-Za-z0-9_-]+)", printed)
        assert found, term
        state = found.group(1).decode()
        code = f"{service.login_code}#{state}"
        term.type(code.encode())
        term.wait_for(  # the whole paste taken before the Enter
            lambda screen: pasted_code_shown(screen, code), f"the {len(code)}-character code"
        )
        term.type(real.ENTER)
        term.wait_for_text("Login successful", timeout=60)
        term.wait_for_text("Claude Max")  # the account, as /status has it
        term.wait_for(lambda s: "Not logged in" not in s, "the footer without 'Not logged in'")
        assert real.exit_with_ctrl_c_twice(term) == 0, term
    # the host had no login: whose account this is, only the person can tell, and is asked to
    warning = b"claudebox: warning: the session logged Claude in on your host"
    assert warning in bytes(term.transcript), term
    (issued,) = service.logins
    (exchange,) = service.token_requests()  # the code and the state, as pasted
    assert (exchange.body.get("code"), exchange.body.get("state")) == (
        service.login_code,
        state,
    ), service.log()
    stored = stored_login(box.home)
    assert (stored["accessToken"], stored["refreshToken"]) == (
        issued.access_token,
        issued.refresh_token,
    ), service.log()
    assert service.unknown_credentials() == [], service.log()
    # the instance (transcripts, .claude.json) and the project never held a token
    for root in (box.home / ".claudebox" / "instances", box.project):
        assert files_holding(root, issued.access_token) == [], root
        assert files_holding(root, issued.refresh_token) == [], root

    # The next session is logged in (its placeholders from the host's file), and so is the
    # host's own Claude.
    service.tool_command = "echo next-session"
    result = claudebox_claude(box, anthropic, "--network", "none")
    assert result.returncode == 0, f"{result.stderr}\n--- service\n{service.log()}"
    assert service.messages()[-1].credential == issued.access_token
    assert warning.decode() not in result.stderr  # no login made in this one
    host = run_claude(box, anthropic)
    assert host.returncode == 0, f"{host.stderr}\n--- service\n{service.log()}"
    assert service.revoked() == [], service.log()
