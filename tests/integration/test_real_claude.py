"""The REAL Claude Code CLI inside claudebox, driven by a scripted Messages API server.

Claude Code honours ANTHROPIC_BASE_URL, so a small stdlib HTTP server that speaks enough of the
Anthropic Messages API can script it: the first reply asks for the Bash tool, the second (after
the tool_result arrives) ends the turn. The tool call writes into the project, tries to read a
canary in ~/.ssh and prints `env`; the tool_result the server receives is the sandbox's own
report of what it could see.

Fixture: `sudo make test` (.ci/setup) installs the pinned npm package (@anthropic-ai/claude-code,
a native binary in its platform package) into /opt/claudebox-claude-code; a session fixture copies
that binary into the NixOS-shaped /nix/store, with its glibc and loader beside it, and adds a store
bash (busybox has no bash applet, and Claude Code's Bash tool runs `$SHELL`).

Network: the server and claudebox share a PRIVATE network namespace the test creates (loopback
only): nothing Claude Code tries can leave the machine, and the server sees every request. Inside
that namespace claudebox runs with `--network full` (the caller's network namespace): the server
is on the caller's 127.0.0.1, which the `inet` tier deliberately makes unreachable and `none`
replaces with the sandbox's own loopback.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness import (
    BASH_STORE,
    BUSYBOX_STORE,
    HOME_ENTRIES,
    Box,
    copy_libraries,
    instance_dir,
    prerequisite_missing,
)
from ptyterm import CTRL_C, ENTER, Terminal

# Installed by .ci/setup (`npm install` of the pinned @anthropic-ai/claude-code): the native binary.
CLAUDE_CODE_BINARY = Path("/opt/claudebox-claude-code/claude")
CLAUDE_STORE = Path("/nix/store/5h3bz8kw2q9mfr0xl4n7d1s6cjyg0pa1-claudebox-test-claude-code")
CLONE_NEWNET = 0x40000000

TOOL_USE_ID = "toolu_claudebox_e2e_01"
FINAL_TEXT = "claudebox-e2e: the command ran; done."
PROJECT_FILE = "made-by-claude.txt"
PROJECT_FILE_CONTENT = "written by the real claude inside claudebox\n"
CANARY = "CANARY-real-claude-5d1e"
SECRET_ENV = {
    "AWS_SECRET_ACCESS_KEY": "SECRET-aws-5d1e",
    "GITHUB_TOKEN": "SECRET-github-5d1e",
    "SSH_AUTH_SOCK": "/run/user/1000/SECRET-agent-5d1e",
}
TOOL_COMMAND = (
    f"printf '{PROJECT_FILE_CONTENT.strip()}\\n' > {PROJECT_FILE}; "
    "cat ~/.ssh/id_ed25519; ls -A ~; echo '--- env'; env | sort"
)
# Variables passed in with CLAUDEBOX_EXTRA_ENV: where to send requests, and no traffic elsewhere.
CLAUDE_ENV = {
    "ANTHROPIC_BASE_URL": "",  # set per test: the server's address
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def with_store_claude(box: Box, *envs: Mapping[str, str], host: bool = False) -> dict[str, str]:
    """ENVS merged (a later one wins) with PATH: the store's Claude Code first, then the box's
    PATH (host=True: /usr/bin:/bin, the host's own programs)."""
    merged: dict[str, str] = {}
    for env in envs:
        merged.update(env)
    rest = "/usr/bin:/bin" if host else box.host_path()
    return {**merged, "PATH": f"{CLAUDE_STORE}/bin:{rest}"}


# --- the store fixture ------------------------------------------------------------------------


def install_store_claude(patchelf: str) -> None:
    """Claude Code's native binary in the store: the ELF with a store loader, and a wrapper.

    The binary is a Bun executable with its program in an ELF section: Debian 12's patchelf
    (0.14) can move the interpreter, but after `--set-rpath` the binary segfaults (patchelf 0.19
    manages both). So a wrapper script, shaped like a nixpkgs makeWrapper one, supplies the
    libraries by LD_LIBRARY_PATH (which therefore shows in the tools' environment inside).
    """
    source = CLAUDE_CODE_BINARY.resolve()
    unwrapped = CLAUDE_STORE / "libexec" / "claude"
    stamp = CLAUDE_STORE / "source"
    identity = f"{source} {source.stat().st_size} {source.stat().st_mtime_ns}\n"
    if stamp.exists() and stamp.read_text() == identity:
        return
    shutil.rmtree(CLAUDE_STORE, ignore_errors=True)
    lib_dir = CLAUDE_STORE / "lib"
    loader = copy_libraries(source, lib_dir)
    unwrapped.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, unwrapped)
    subprocess.run([patchelf, "--set-interpreter", str(loader), str(unwrapped)], check=True)
    wrapper = CLAUDE_STORE / "bin" / "claude"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        f'#!{BUSYBOX_STORE}/bin/sh\nLD_LIBRARY_PATH={lib_dir} exec {unwrapped} "$@"\n'
    )
    wrapper.chmod(0o755)
    stamp.write_text(identity)


@pytest.fixture(scope="session")
def claude_store(fixture_store: None) -> str:
    """Install the store fixture; return Claude Code's version (`claude --version`)."""
    if os.geteuid() != 0:
        prerequisite_missing("the real-claude test runs as root (network namespace, store)")
    if not CLAUDE_CODE_BINARY.exists():
        prerequisite_missing(
            f"{CLAUDE_CODE_BINARY} is missing: `sudo make test` installs Claude Code there"
        )
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        prerequisite_missing("patchelf is needed to make Claude Code store-shaped")
        raise AssertionError("unreachable")
    install_store_claude(patchelf)
    subprocess.run(["chmod", "-R", "a+rX", str(CLAUDE_STORE)], check=True)
    version = subprocess.run(
        [str(CLAUDE_STORE / "bin" / "claude"), "--version"],
        env={"PATH": f"{BUSYBOX_STORE}/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+ \(Claude Code\)", version), version
    return version


# --- a private network namespace, and the scripted Messages API server in it -------------------


@pytest.fixture
def netns() -> Iterator[int]:
    """A network namespace with only loopback (up), held by a sleeping process; yields its pid."""
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "600"])
    try:
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == own:
            assert time.monotonic() < deadline, "unshare --net did not take effect"
            time.sleep(0.01)
        enter = ["nsenter", f"--target={holder.pid}", "--net", "--"]
        subprocess.run([*enter, "ip", "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(
            [*enter, "ip", "route", "show", "table", "all"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        # Loopback's own routes only: no default route, no way off the machine.
        assert all(" dev lo " in f"{line} " for line in routes.splitlines()), routes
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def in_netns(namespace: str, make: Any) -> Any:
    """Call MAKE in a thread that joined the network namespace at NAMESPACE (a /proc/PID/ns/net
    or /run/netns/NAME path); the sockets it makes stay in that namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, Any] = {}

    def run() -> None:
        fd = os.open(namespace, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                outcome["error"] = OSError(ctypes.get_errno(), "setns")
                return
            outcome["value"] = make()
        except Exception as error:
            outcome["error"] = error
        finally:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    reply: str = ""


@dataclass
class ScriptedApi:
    """What the server saw, in order."""

    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[Exchange]:
        return [
            e for e in self.exchanges if e.method == "POST" and e.path.startswith("/v1/messages")
        ]


def tool_results(body: Any) -> list[dict[str, Any]]:
    found = []
    for message in body.get("messages", []) if isinstance(body, dict) else []:
        content = message.get("content")
        if isinstance(content, list):
            found += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return found


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def reply_for(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The script: content blocks and stop reason for one /v1/messages request."""
    if any(block.get("tool_use_id") == TOOL_USE_ID for block in tool_results(body)):
        return [{"type": "text", "text": FINAL_TEXT}], "end_turn"
    if any(tool.get("name") == "Bash" for tool in body.get("tools") or []):
        return [
            {
                "type": "tool_use",
                "id": TOOL_USE_ID,
                "name": "Bash",
                "input": {"command": TOOL_COMMAND, "description": "claudebox e2e probe"},
            }
        ], "tool_use"
    return [{"type": "text", "text": "ok"}], "end_turn"


def message_body(model: str, blocks: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    """The Messages API's answer when it does not stream."""
    return {
        "id": "msg_claudebox_e2e",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }


def run_captured(
    argv: list[str], env: dict[str, str], cwd: Path, netns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` to its end (in the network namespace of the process `netns`), output captured,
    no stdin, in a session of its own."""
    enter = ["nsenter", f"--target={netns}", "--net", "--"] if netns is not None else []
    return subprocess.run(
        [*enter, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )


def sse_events(model: str, blocks: list[dict[str, Any]], stop_reason: str) -> str:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    out = [
        event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_claudebox_e2e",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        out.append(
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        out.append(
            event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
    )
    out.append(event("message_stop", {"type": "message_stop"}))
    return "".join(out)


def make_handler(api: ScriptedApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, exchange: Exchange, status: int, body: str, content_type: str) -> None:
            exchange.status, exchange.reply = status, body
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            exchange = Exchange(self.command, self.path, dict(self.headers.items()), body)
            with api.lock:
                api.exchanges.append(exchange)
            path = self.path.split("?", 1)[0]
            if self.command == "POST" and path == "/v1/messages/count_tokens":
                self.answer(exchange, 200, json.dumps({"input_tokens": 100}), "application/json")
            elif self.command == "POST" and path == "/v1/messages" and isinstance(body, dict):
                blocks, stop = reply_for(body)
                model = str(body.get("model", "claude-test"))
                if body.get("stream"):
                    self.answer(exchange, 200, sse_events(model, blocks, stop), "text/event-stream")
                else:
                    message = json.dumps(message_body(model, blocks, stop))
                    self.answer(exchange, 200, message, "application/json")
            else:
                error = {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": f"no {self.path} here"},
                }
                self.answer(exchange, 404, json.dumps(error), "application/json")

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = handle_any

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing a kept-alive connection is not news; the log has the requests


@pytest.fixture
def scripted_api(netns: int) -> Iterator[tuple[ScriptedApi, str]]:
    """The server, listening on 127.0.0.1 of the private namespace; yields it and its URL."""
    api = ScriptedApi()
    namespace = f"/proc/{netns}/ns/net"
    server = in_netns(namespace, lambda: QuietServer(("127.0.0.1", 0), make_handler(api)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- the test -----------------------------------------------------------------------------------


def test_real_claude_runs_a_tool_inside_the_sandbox(
    box: Box, claude_store: str, netns: int, scripted_api: tuple[ScriptedApi, str]
) -> None:
    api, base_url = scripted_api
    canary = box.write(box.home / ".ssh" / "id_ed25519", f"{CANARY}\n")
    canary_before = (canary.read_bytes(), canary.stat().st_mtime_ns)
    env = with_store_claude(
        box,
        SECRET_ENV,
        CLAUDE_ENV,
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-claudebox-e2e-fake",
            "CLAUDEBOX_EXTRA_ENV": ",".join(name for name in CLAUDE_ENV),
        },
    )
    argv = box.command(
        ["--yes", "--network", "full", "-p", "Run the probe.", "--output-format", "json"]
    )
    result = run_captured(argv, box.env(env), box.project, netns)
    log = "\n".join(
        f"{e.method} {e.path} -> {e.status}: {json.dumps(e.body)[:300]}" for e in api.exchanges
    )
    assert result.returncode == 0, f"{result.stderr}\n--- server log\n{log}"

    # Claude Code's own report: two turns, the scripted final text.
    report = json.loads(result.stdout)
    assert (report["is_error"], report["num_turns"], report["result"]) == (False, 2, FINAL_TEXT)

    # What reached the server: a reachability probe, then the two turns, nothing else.
    requests = [(e.method, e.path.split("?", 1)[0]) for e in api.exchanges]
    assert set(requests) <= {("HEAD", "/"), ("POST", "/v1/messages")}, log
    messages = api.messages()
    assert len(messages) == 2, log
    user_agent = f"claude-cli/{claude_store.split()[0]} "
    assert all(e.headers.get("User-Agent", "").startswith(user_agent) for e in messages), log
    assert all(e.headers.get("x-api-key") == "sk-ant-claudebox-e2e-fake" for e in messages)
    assert all(e.body.get("stream") is True for e in messages)
    (result_block,) = tool_results(messages[1].body)
    assert result_block["tool_use_id"] == TOOL_USE_ID
    assert not result_block.get("is_error"), result_block
    seen = result_text(result_block)

    # The tool ran in the project, and its write landed on the host.
    written = box.project / PROJECT_FILE
    assert written.read_text() == PROJECT_FILE_CONTENT
    assert written.stat().st_uid == box.user.pw_uid

    # ...but it saw no canary, no host secret, and a home holding only claudebox's entries.
    assert CANARY not in seen
    assert f"{box.home}/.ssh/id_ed25519': No such file or directory" in seen
    for value in SECRET_ENV.values():
        assert value not in seen
    listing, env_text = seen.split("--- env\n", 1)
    assert [line for line in listing.splitlines() if not line.startswith("cat: ")] == HOME_ENTRIES
    sandbox_env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
    assert sandbox_env["HOME"] == str(box.home)
    assert sandbox_env["PWD"] == str(box.project)
    assert sandbox_env["USER"] == box.user.pw_name
    assert sandbox_env["SHELL"] == f"{BASH_STORE}/bin/bash"
    # Claude's gateway is the relay inside (the full tier's: an ephemeral port of the host's
    # loopback); the key inside is a placeholder, which the relay swapped for the real one.
    assert sandbox_env["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert sandbox_env["ANTHROPIC_BASE_URL"] != base_url
    assert sandbox_env["ANTHROPIC_API_KEY"].startswith("claudebox-")  # (the fake has no kind)
    assert "sk-ant-claudebox-e2e-fake" not in seen
    assert all(d.startswith("/nix/store/") for d in sandbox_env["PATH"].split(":"))
    assert sandbox_env["CLAUDECODE"] == "1"  # set by Claude Code for its tools: it is the real one
    assert not {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK"} & set(sandbox_env)
    assert (canary.read_bytes(), canary.stat().st_mtime_ns) == canary_before

    # DESIGN: the transcript goes to the instance's own projects/, keyed by the CWD with every
    # non-alphanumeric character replaced by "-"; the host's ~/.claude holds none of it.
    session = report["session_id"]
    slug = re.sub(r"[^A-Za-z0-9]", "-", str(box.project))
    instance = instance_dir(box.home, box.project)
    transcript = instance / "claude" / "projects" / slug / f"{session}.jsonl"
    assert transcript.is_file(), sorted(str(p) for p in instance.rglob("*"))
    assert TOOL_USE_ID in transcript.read_text()
    assert FINAL_TEXT in transcript.read_text()
    host_claude = box.home / ".claude"
    leaked = [
        p
        for p in host_claude.rglob("*")
        if p.is_file() and session in p.read_text(errors="replace")
    ]
    assert leaked == []
    assert not host_claude.exists()  # claudebox made nothing in the host's home either


# --- the TUI on a terminal --------------------------------------------------------------------

LAUNCH_QUESTION = "Launch this sandbox? [y/N]"
# The last line of each of Claude Code's own selection questions (2.1.197: the workspace trust,
# "Do you want to use this API key?", the Bypass Permissions mode warning).
CLAUDE_QUESTION = "Enter to confirm"
CLAUDE_QUESTIONS = (
    "Yes, I trust this folder",
    "Do you want to use this API key?",
    "Bypass Permissions mode",
)
PROMPT = "Run the probe."


def processes_left(box: Box, session: int) -> list[str]:
    """The test user's processes that belong to this test: in the terminal's session, or with
    this test's home in their environment (the sandbox's), or working below its directory."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != box.user.pw_uid:
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
            ours = (
                os.getsid(int(pid)) == session
                or f"HOME={box.home}".encode() in environ
                or cwd.startswith(str(box.root))
            )
            if ours:
                left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue  # ended while we looked
    return left


TUI_API_KEY = "sk-ant-claudebox-tui-fake-0123456789"


def onboarded(claude_store: str) -> dict[str, object]:
    """What ~/.claude.json holds once Claude Code (CLAUDE_STORE: its `claude --version`) has
    been set up: the onboarding done for this version, a theme chosen."""
    version = claude_store.split()[0]
    return {"hasCompletedOnboarding": True, "lastOnboardingVersion": version, "theme": "dark"}


def write_onboarded(box: Box, claude_store: str, **extra: object) -> None:
    """The host's ~/.claude.json: onboarded (see onboarded), with EXTRA."""
    box.write(box.home / ".claude.json", json.dumps({**onboarded(claude_store), **extra}))


def used_host_claude(box: Box, claude_store: str) -> None:
    """The host's ~/.claude.json of someone who has used Claude there: onboarded, and
    TUI_API_KEY approved once."""
    approved = {"approved": [TUI_API_KEY[-20:]], "rejected": []}
    write_onboarded(box, claude_store, customApiKeyResponses=approved)


def claudebox_on_a_terminal(
    box: Box, netns: int, base_url: str, *args: str, cwd: Path | None = None
) -> Terminal:
    """claudebox ARGS (the real Claude Code) on an 80x24 terminal, in the private namespace."""
    env = with_store_claude(
        box,
        CLAUDE_ENV,
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": TUI_API_KEY,
            "CLAUDEBOX_EXTRA_ENV": ",".join(name for name in CLAUDE_ENV),
            "TERM": "xterm-256color",
        },
    )
    argv = ["nsenter", f"--target={netns}", "--net", "--", *box.command(args)]
    return box.terminal(argv=argv, env=env, cwd=cwd, columns=80, lines=24)


def assert_no_claude_question(term: Terminal) -> None:
    for question in (CLAUDE_QUESTION, *CLAUDE_QUESTIONS):
        assert term.ever_showed(question) == [], term


def exit_with_ctrl_c_twice(term: Terminal) -> int:
    """Ctrl-C until Claude says "again to exit" (one that lands while the prompt is redrawn
    may be lost), then once more; the exit status. Fails with the screen if it never says so."""
    for _attempt in range(3):
        term.type(CTRL_C)
        try:
            term.wait_for_text("again to exit", timeout=5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError(f"3 Ctrl-C and Claude never said 'again to exit'; screen:\n{term}")
    term.type(CTRL_C)
    return term.wait_for_exit(timeout=60)


def test_real_claude_tui_asks_nothing_runs_a_tool_redraws_and_exits(
    box: Box, claude_store: str, netns: int, scripted_api: tuple[ScriptedApi, str]
) -> None:
    api, base_url = scripted_api
    used_host_claude(box, claude_store)
    with claudebox_on_a_terminal(box, netns, base_url, "--network", "full") as term:
        term.wait_for_text(LAUNCH_QUESTION)
        term.type(b"y" + ENTER)

        # Claude's prompt comes up, in bypass mode, and none of Claude's questions came first.
        term.wait_for_text("bypass permissions on", timeout=120)
        assert_no_claude_question(term)

        term.type(PROMPT.encode())
        term.wait_for_text(PROMPT)
        term.type(ENTER)
        term.wait_for_text(FINAL_TEXT, timeout=120)
        assert (box.project / PROJECT_FILE).read_text() == PROJECT_FILE_CONTENT
        (result_block,) = tool_results(api.messages()[-1].body)
        assert result_block["tool_use_id"] == TOOL_USE_ID
        assert CANARY not in result_text(result_block)

        # A wider window: Claude redraws its prompt box at the new width.
        assert "─" * 80 in term.screen().splitlines()
        term.resize(120, 30)
        term.wait_for(lambda screen: "─" * 120 in screen.splitlines(), "a 120-column rule")

        status = exit_with_ctrl_c_twice(term)
        session = term.process.pid
        assert status == 0, term
        # Nothing from Claude's installation check, and no question later either.
        assert term.ever_showed("missing or broken") == [], term
        assert_no_claude_question(term)
    assert processes_left(box, session) == []


def test_real_claude_tui_in_a_subdirectory_with_own_settings_then_again(
    box: Box, claude_store: str, netns: int, scripted_api: tuple[ScriptedApi, str]
) -> None:
    """A git project entered from a subdirectory, with the user's own --settings JSON (claudebox
    merges its key into it), then a second session of the same project: no question either time."""
    _api, base_url = scripted_api
    used_host_claude(box, claude_store)
    subprocess.run(box.as_user(["/usr/bin/git", "init", "-q", str(box.project)]), check=True)
    subdirectory = box.mkdir(box.project / "src" / "lib")
    own_settings = json.dumps({"spinnerTipsEnabled": False})
    for args, cwd in (
        (("--yes", "--network", "full", "--settings", own_settings), subdirectory),
        (("--yes", "--network", "full"), box.project),
    ):
        with claudebox_on_a_terminal(box, netns, base_url, *args, cwd=cwd) as term:
            term.wait_for_text("bypass permissions on", timeout=120)
            assert_no_claude_question(term)
            assert exit_with_ctrl_c_twice(term) == 0, term
            assert_no_claude_question(term)
