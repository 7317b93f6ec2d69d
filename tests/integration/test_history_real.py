"""A project's conversations with the REAL Claude Code, across claudebox sessions: `--continue`
and `--resume ID` find them in the project's own ~/.claude (and only there), the session's end
tells how to resume it claudebox's way, and the host's ~/.claude never holds a transcript.

The scripted Messages API of test_real_claude answers every request with one text, "scripted
answer to: PROMPT", naming the prompt it answers; so the conversation a request carries shows
which earlier exchanges Claude found, and the answers tell the exchanges apart. The server and
claudebox share test_real_claude's private network namespace (`--network full` inside it).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_real_claude as real
from harness import Box, instance_dir

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
netns = real.netns
scripted_api = real.scripted_api
__all__ = ["claude_store", "netns", "scripted_api"]

CLAUDE = f"{real.CLAUDE_STORE}/bin/claude"
HINT = re.compile(r"claudebox: resume this session with: claudebox --resume (\S+)")
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- the script: one text answer naming the prompt ----------------------------------------------


def conversation(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (role, text) of each text a request carries from the user and the assistant, without
    Claude's <system-reminder> context blocks."""
    said = []
    for message in body.get("messages", []):
        if message.get("role") not in ("user", "assistant"):
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            text = block.get("text", "") if block.get("type") == "text" else ""
            if text and not text.startswith("<system-reminder>"):
                said.append((message["role"], text))
    return said


def answer(prompt: str) -> str:
    return f"scripted answer to: {prompt}"


def answer_the_prompt(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The script: the last thing the user said, answered."""
    users = [text for role, text in conversation(body) if role == "user"]
    return [{"type": "text", "text": answer(users[-1] if users else "")}], "end_turn"


@pytest.fixture
def chat_api(
    scripted_api: tuple[real.ScriptedApi, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[real.ScriptedApi, str]:
    """test_real_claude's server (and URL), with answer_the_prompt as its script (its handler
    calls the module's reply_for)."""
    monkeypatch.setattr(real, "reply_for", answer_the_prompt)
    return scripted_api


def request_ending_with(api: real.ScriptedApi, prompt: str) -> list[tuple[str, str]]:
    """The conversation of the one request whose last word is the user's PROMPT."""
    found = [
        conversation(e.body)
        for e in api.messages()
        if conversation(e.body)[-1:] == [("user", prompt)]
    ]
    assert len(found) == 1, [conversation(e.body) for e in api.messages()]
    return found[0]


# --- claudebox and the host's claude, as the test user, in the private namespace ----------------


def claude_env(base_url: str) -> dict[str, str]:
    return {
        **real.CLAUDE_ENV,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": real.TUI_API_KEY,
    }


def claudebox_print(
    box: Box, netns: int, base_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`claudebox --yes --network full ARGS` (ARGS ending in Claude's `-p PROMPT`) in BOX's
    project, output captured."""
    env = real.with_store_claude(
        box, claude_env(base_url), {"CLAUDEBOX_EXTRA_ENV": ",".join(real.CLAUDE_ENV)}
    )
    argv = box.command(["--yes", "--network", "full", *args])
    return real.run_captured(argv, box.env(env), box.project, netns)


def host_claude(
    box: Box, netns: int, base_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """The host's own `claude ARGS` (the same Claude Code, no claudebox) in BOX's project, with
    the box's home as HOME."""
    env = real.with_store_claude(box, claude_env(base_url), {"HOME": str(box.home)}, host=True)
    return real.run_captured(box.as_user([CLAUDE, *args]), env, box.project, netns)


def hinted_session(result: subprocess.CompletedProcess[str]) -> str:
    """The session claudebox's last line of stderr says to resume (the session ended well)."""
    assert result.returncode == 0, result.stderr
    hint = HINT.fullmatch(result.stderr.splitlines()[-1])
    assert hint is not None, result.stderr
    return hint.group(1)


def transcript(box: Box, session: str) -> Path:
    """Where the project's own ~/.claude keeps SESSION's transcript (on the host)."""
    slug = re.sub(r"[^A-Za-z0-9]", "-", str(box.project))
    return instance_dir(box.home, box.project) / "claude" / "projects" / slug / f"{session}.jsonl"


def host_transcripts(box: Box) -> list[str]:
    """Transcripts anywhere in the host's home outside claudebox's own state."""
    return sorted(
        str(path)
        for path in box.home.rglob("*.jsonl")
        if not path.is_relative_to(box.home / ".claudebox")
    )


# --- the tests -----------------------------------------------------------------------------------


def test_continue_finds_the_projects_own_conversation_and_no_other_project_does(
    box: Box, claude_store: str, netns: int, chat_api: tuple[real.ScriptedApi, str]
) -> None:
    """`claudebox -p first`, then `claudebox --continue -p second` in the same project: the
    second request carries the first exchange, whose transcript is in the project's own
    ~/.claude (the instance's), and both sessions end with the hint naming that session. The
    control: the same `--continue` from another project finds no conversation (Claude 2.1.197
    then starts a new one, in that project's instance), so finding one is not a given. The host
    holds no transcript, and its own `claude --continue` in the project finds nothing either."""
    api, base_url = chat_api
    first = claudebox_print(box, netns, base_url, "-p", "first")
    session = hinted_session(first)
    assert first.stdout == f"{answer('first')}\n"
    assert SESSION_ID.fullmatch(session), session
    assert answer("first") in transcript(box, session).read_text()

    second = claudebox_print(box, netns, base_url, "--continue", "-p", "second")
    assert second.stdout == f"{answer('second')}\n", second.stderr
    assert request_ending_with(api, "second") == [
        ("user", "first"),
        ("assistant", answer("first")),
        ("user", "second"),
    ]
    # Claude Code 2.1.197 appends a continued conversation to its transcript: the same session.
    assert hinted_session(second) == session
    assert answer("second") in transcript(box, session).read_text()

    other = dataclasses.replace(box, project=box.mkdir(box.home / "other"))
    elsewhere = claudebox_print(other, netns, base_url, "--continue", "-p", "elsewhere")
    assert elsewhere.stdout == f"{answer('elsewhere')}\n", elsewhere.stderr
    assert request_ending_with(api, "elsewhere") == [("user", "elsewhere")]
    other_session = hinted_session(elsewhere)
    assert other_session != session
    assert transcript(other, other_session).is_file()
    assert answer("first") not in transcript(other, other_session).read_text()

    assert host_transcripts(box) == []
    assert not (box.home / ".claude").exists()  # claudebox made nothing in the host's home
    host = host_claude(box, netns, base_url, "--continue", "-p", "on the host")
    assert host.returncode == 0, host.stderr
    assert request_ending_with(api, "on the host") == [("user", "on the host")]


def test_a_terminal_session_ends_with_claudeboxs_resume_hint_and_resume_finds_it(
    box: Box, claude_store: str, netns: int, chat_api: tuple[real.ScriptedApi, str]
) -> None:
    """One exchange in the TUI, left with Ctrl-C twice: the last line on the terminal is
    claudebox's `claudebox --resume ID` (ID: the transcript in the project's own ~/.claude),
    below Claude's own `claude --resume ID`; `claudebox --resume ID -p again` carries the
    terminal's exchange. The host's ~/.claude holds no transcript, so the host's claude cannot
    resume what Claude's own hint names ("No conversation found")."""
    api, base_url = chat_api
    real.used_host_claude(box, claude_store)
    prompt = "hello from the terminal"
    with real.claudebox_on_a_terminal(box, netns, base_url, "--yes", "--network", "full") as term:
        term.wait_for_text("bypass permissions on", timeout=120)
        term.type(prompt.encode())
        term.wait_for_text(prompt)
        term.type(real.ENTER)
        term.wait_for_text(answer(prompt), timeout=120)
        term.resize(120, 30)  # room for the hint on one line
        term.wait_for(lambda screen: "─" * 120 in screen.splitlines(), "a 120-column rule")
        assert real.exit_with_ctrl_c_twice(term) == 0, term
        lines = term.screen().splitlines()
    hint = HINT.fullmatch(lines[-1])
    assert hint is not None, term
    session = hint.group(1)
    assert SESSION_ID.fullmatch(session), session
    assert answer(prompt) in transcript(box, session).read_text()
    # Claude's own hint, just above, names the same session for the host's claude.
    assert lines[-3:-1] == ["Resume this session with:", f"claude --resume {session}"], term

    again = claudebox_print(box, netns, base_url, "--resume", session, "-p", "again")
    assert again.stdout == f"{answer('again')}\n", again.stderr
    assert request_ending_with(api, "again") == [
        ("user", prompt),
        ("assistant", answer(prompt)),
        ("user", "again"),
    ]
    assert hinted_session(again) == session

    assert host_transcripts(box) == []
    assert not (box.home / ".claude").exists()
    host = host_claude(box, netns, base_url, "--resume", session, "-p", "again")
    assert (host.returncode, host.stderr) == (
        1,
        f"No conversation found with session ID: {session}\n",
    )
