"""claudebox allow and claudebox log: the command line, the entry logic, the profile edit, and
the control socket itself with a real RelayServer in this process (test_allowlist's relay)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from test_allowlist import Echo, read_until, relay_for
from test_transparent import ask as dns_ask
from test_transparent import transparent_relay, wait_for_log

import claudebox as cb
from claudebox import AllowRule, Tier

# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "command", "entry", "save"),
    [
        (["allow", "Example.org:8080"], "allow", "Example.org:8080", None),
        (["allow", "*.npmjs.org", "--save", "web"], "allow", "*.npmjs.org", "web"),
        (["allow", "--save=web", "pypi.org"], "allow", "pypi.org", "web"),
        (["log"], "log", None, None),
    ],
)
def test_a_first_argument_allow_or_log_is_a_claudebox_command(argv, command, entry, save):
    parsed = cb.parse_command(argv, {})
    assert parsed.args.command == command
    assert getattr(parsed.args, "entry", None) == entry
    assert getattr(parsed.args, "save", None) == save
    assert parsed.claude_args == ()


@pytest.mark.parametrize(
    ("argv", "claude_args"),
    [
        (["--", "allow", "x.org"], ("allow", "x.org")),
        (["-y", "allow"], ("allow",)),
        (["--network", "none", "log"], ("log",)),
        (["allowed"], ("allowed",)),
    ],
)
def test_allow_or_log_anywhere_else_goes_to_claude(argv, claude_args):
    parsed = cb.parse_command(argv, {})
    assert parsed.args.command is None
    assert parsed.claude_args == claude_args


@pytest.mark.parametrize(
    "argv", [["allow"], ["allow", "a.org", "b.org"], ["log", "x"], ["allow", "a.org", "--sav", "w"]]
)
def test_a_malformed_command_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cb.parse_command(argv, {})
    assert info.value.code == 2
    assert f"claudebox {argv[0]}: error:" in capsys.readouterr().err


def test_a_bad_entry_is_one_error_line_before_anything_is_looked_up(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cb.main(["allow", "127.1"]) == 2
    assert capsys.readouterr().err == (
        "claudebox: error: claudebox allow: '127.1' is not a domain name; use a name "
        "(example.org), *. and a name for its subdomains (*.example.org) or an IPv4 address, "
        "each optionally with :PORT\n"
    )


def test_allow_and_log_with_no_session_are_one_line_each(capsys, tmp_path, monkeypatch):
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")  # no git: the project is the directory
    assert cb.main(["allow", "pypi.org"]) == 2
    assert capsys.readouterr().err == (
        f"claudebox: error: no claudebox session of {project} is running (claudebox allow adds "
        "to a running session of the project in the current directory); cd into the project, "
        "or start its session first\n"
    )
    assert cb.main(["log"]) == 2
    assert capsys.readouterr().err.startswith(f"claudebox: error: no network log of {project} yet")


# --- entries ------------------------------------------------------------------------------

NPM = AllowRule("*.npmjs.org", (80, 443), "profile web")
PYPI = AllowRule("pypi.org", (80, 443), "--allow-domain")
SSH = AllowRule("github.com", (22,), "profile web")


@pytest.mark.parametrize(
    ("entry", "covered_by"),
    [
        ("pypi.org", PYPI),
        ("pypi.org:443", PYPI),
        ("registry.npmjs.org", NPM),
        ("*.npmjs.org:443", NPM),
        ("*.a.npmjs.org", NPM),
        ("github.com:22", SSH),
        ("npmjs.org", None),  # *. covers the subdomains, not the name
        ("pypi.org:8080", None),
        ("github.com", None),
        ("*.pypi.org", None),
        ("files.pythonhosted.org", None),
    ],
)
def test_covering_rule(entry, covered_by):
    rule = cb.parse_allow_entry(entry, "test", "test")
    assert cb.covering_rule(rule, [NPM, PYPI, SSH]) == covered_by


def test_the_question_names_the_entry_the_project_the_sessions_and_the_profile():
    rule = cb.parse_allow_entry("*.npmjs.org", "test", "test")
    assert cb.allow_question(rule, "/home/u/proj", [4242], None) == (
        "Allow *.npmjs.org (every name under npmjs.org), ports 80 and 443 in the running "
        "session of /home/u/proj (claudebox pid 4242)? [y/N] "
    )
    port = cb.parse_allow_entry("pypi.org:8443", "test", "test")
    assert cb.allow_question(port, "/p", [1, 2], ("~/.claudebox/profiles/web.json", True)) == (
        "Allow pypi.org, port 8443 in the running sessions of /p (claudebox pid 1, 2) and in a "
        "new profile ~/.claudebox/profiles/web.json? [y/N] "
    )
    assert cb.allow_question(port, "/p", [], ("~/w.json", False)) == (
        "Allow pypi.org, port 8443 in the profile ~/w.json? [y/N] "
    )


# --- the profile --------------------------------------------------------------------------


def profiles(tmp_path: Path) -> Path:
    directory = tmp_path / ".claudebox" / "profiles"
    directory.mkdir(parents=True)
    for private in (directory, directory.parent):
        private.chmod(0o700)
    return directory


def edit(tmp_path: Path, name: str, entry: str) -> cb.ProfileEdit:
    rule = cb.parse_allow_entry(entry, "test", "test")
    return cb.profile_edit(str(tmp_path / ".claudebox"), name, str(tmp_path), rule)


def test_save_adds_the_entry_and_keeps_every_other_key(tmp_path):
    path = profiles(tmp_path) / "web.json"
    before = {
        "description": "web work ✓",
        "allow_domains": ["*.npmjs.org"],
        "packages": ["nodejs"],
        "host_ports": [5432],
    }
    path.write_text(json.dumps(before))
    path.chmod(0o644)
    change = edit(tmp_path, "web", "PyPI.org:8443")
    assert change.new is False
    cb.save_profile(change)
    assert json.loads(path.read_text()) == {
        **before,
        "allow_domains": ["*.npmjs.org", "pypi.org:8443"],
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["web.json"]  # no temporary file left
    assert edit(tmp_path, "web", "registry.npmjs.org").document is None  # allowed already


def test_save_makes_a_missing_profile(tmp_path):
    change = edit(tmp_path, "fresh", "pypi.org")
    assert change.new is True
    cb.save_profile(change)
    path = tmp_path / ".claudebox" / "profiles" / "fresh.json"
    assert json.loads(path.read_text()) == {"allow_domains": ["pypi.org"]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"allow_domains": [', "web.json: not valid JSON"),
        ('{"allow_domain": []}', "unknown key"),
        ('{"allow_domains": ["127.1"]}', "'127.1' is not a domain name"),
        ('{"network": "inet"}', "--save: profile web sets network inet, and allow_domains need"),
    ],
)
def test_save_refuses_a_profile_that_does_not_load(tmp_path, content, error):
    path = profiles(tmp_path) / "web.json"
    path.write_text(content)
    with pytest.raises(cb.ClaudeboxError) as info:
        edit(tmp_path, "web", "pypi.org")
    assert error in str(info.value)
    assert path.read_text() == content


def test_save_refuses_a_symlinked_or_open_profile(tmp_path):
    directory = profiles(tmp_path)
    (tmp_path / "elsewhere.json").write_text("{}")
    (directory / "linked.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(cb.ClaudeboxError, match=r"linked\.json is a symlink"):
        edit(tmp_path, "linked", "pypi.org")
    (directory / "open.json").write_text("{}")
    (directory / "open.json").chmod(0o666)
    with pytest.raises(cb.ClaudeboxError, match="is group- or world-writable"):
        edit(tmp_path, "open", "pypi.org")
    directory.chmod(0o777)
    with pytest.raises(cb.ClaudeboxError, match="is group- or world-writable"):
        edit(tmp_path, "new", "pypi.org")
    directory.chmod(0o700)
    with pytest.raises(cb.ClaudeboxError, match="is not a profile name"):
        edit(tmp_path, "../x", "pypi.org")


# --- the control socket, served by a real relay in this process -----------------------------


def instance(tmp_path: Path) -> cb.Instance:
    directory = tmp_path / "instance"
    directory.mkdir(mode=0o700, exist_ok=True)
    return cb.Instance("0123456789abcdef", str(tmp_path / "proj"), str(directory))


def ask(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(path)
        answer = b""
        try:
            client.sendall(data)
            while chunk := client.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):  # it closed on us: no answer
            pass
        return answer


def test_claudebox_allow_adds_to_the_running_relay_and_the_proxy_uses_it(tmp_path):
    echo, later = Echo(), Echo()
    relay, (proxy, _forwarded) = relay_for(tmp_path, echo, echo.port)
    place = instance(tmp_path)
    control = cb.ControlServer(place.dir, relay)
    try:
        info = os.lstat(control.path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert os.path.basename(control.path) == f"control-{os.getpid()}.sock"
        (found,) = cb.running_sessions(place)
        assert (found.pid, found.tier) == (os.getpid(), Tier.ALLOWLIST)
        assert found.allowed == (AllowRule("localhost", (echo.port,), "test"),)
        assert cb.session_running(place, found)

        def connect() -> bytes:
            with socket.create_connection(("127.0.0.1", proxy), timeout=10) as tunnel:
                tunnel.sendall(f"CONNECT localhost:{later.port} HTTP/1.1\r\n\r\n".encode())
                return read_until(tunnel, b"\r\n\r\n").split(b"\r\n")[0]

        refused = f"port {later.port} of localhost is not allowed (claudebox allow localhost:"
        assert connect() == f"HTTP/1.1 403 claudebox: {refused}{later.port})".encode()
        answer = cb.add_to_session(place, os.getpid(), AllowRule("localhost", (later.port,), "x"))
        assert answer == {"added": f"localhost:{later.port}"}
        assert connect() == b"HTTP/1.1 200 Connection established"
        again = cb.add_to_session(place, os.getpid(), AllowRule("localhost", (later.port,), "x"))
        assert again == {
            "already": f"localhost:{later.port}",
            "origin": f"claudebox allow, pid {os.getpid()}",
        }
    finally:
        relay.stop()
        control.stop()
    assert not os.path.lexists(control.path)
    assert not cb.session_running(place, found)
    assert cb.running_sessions(place) == []
    log = next((tmp_path / "log").iterdir()).read_text()
    assert f"added localhost:{later.port} to the allowlist (claudebox allow, pid " in log
    assert f"allowed CONNECT localhost:{later.port} -> 127.0.0.1 (localhost:{later.port}, " in log


def test_claudebox_allow_of_a_new_port_carries_it_by_name_too(tmp_path):
    """In the allowlist tier tools without proxy support reach allowed names too: a port first
    named by claudebox allow is carried by name from then on (a spare socket)."""
    echo = Echo()
    relay, resolver, _listener = transparent_relay(tmp_path, echo, spares=1)
    place = instance(tmp_path)
    control = cb.ControlServer(place.dir, relay)
    try:
        assert dns_ask(resolver, b"localhost")[3] == ["127.77.0.1"]
        probe = socket.create_server(("127.0.0.1", 0))
        free = probe.getsockname()[1]
        probe.close()
        answer = cb.add_to_session(place, os.getpid(), AllowRule("localhost", (free,), "x"))
        assert answer == {"added": f"localhost:{free}"}
        carried = socket.create_connection(("127.77.0.1", free), timeout=10)
        # (upstream, localhost:FREE is that listener again: 127.0.0.1 has no name, refused)
        log = wait_for_log(tmp_path, f"allowed connection to localhost:{free} -> 127.0.0.1 (")
        carried.close()
    finally:
        relay.stop()
        control.stop()
    assert f"added localhost:{free} to the allowlist (claudebox allow, pid " in log
    assert f"port {free} is carried by name from now on" in log


def test_a_session_of_another_tier_takes_no_additions(tmp_path):
    echo = Echo()
    relay, _ports = relay_for(tmp_path, echo, echo.port, cb.Tunnel.NOTHING)
    place = instance(tmp_path)
    control = cb.ControlServer(place.dir, relay)
    try:
        (found,) = cb.running_sessions(place)
        assert found.tier is Tier.NONE
        answer = cb.add_to_session(place, os.getpid(), AllowRule("x.org", (443,), "x"))
        assert answer == {"error": cb.NETWORK_POLICIES[Tier.NONE].no_additions}
    finally:
        relay.stop()
        control.stop()


def test_the_control_socket_answers_hostile_requests_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(cb, "CONTROL_TIMEOUT", 0.5)
    echo = Echo()
    relay, _ports = relay_for(tmp_path, echo, echo.port)
    place = instance(tmp_path)
    control = cb.ControlServer(place.dir, relay)
    try:
        path = control.path
        assert ask(path, b"x" * 10000) == b""  # too long: closed, no answer
        assert ask(path, b"[1, 2]\n") == (
            b'{"error": "not a request claudebox understands (op: status or allow)"}\n'
        )
        answer = json.loads(ask(path, b'{"op": "allow", "entry": "\\u001b[2J.org"}\n'))
        assert "is not a domain name" in answer["error"]
        assert json.loads(ask(path, b'{"op": "allow", "entry": 7}\n')) == {
            "error": "allow needs an entry (a string)"
        }
        with socket.socket(socket.AF_UNIX) as silent:  # sends nothing: dropped after the timeout
            silent.settimeout(10)
            silent.connect(path)
            assert silent.recv(10) == b""
        with socket.socket(socket.AF_UNIX) as dripping:  # a byte at a time: the same
            dripping.connect(path)
            started, closed = time.monotonic(), False
            while not closed and time.monotonic() - started < 5:
                time.sleep(0.05)
                try:
                    dripping.sendall(b" ")
                    closed = dripping.recv(1, socket.MSG_DONTWAIT) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            assert closed
        assert json.loads(ask(path, b'{"op": "status"}\n'))["tier"] == "allowlist"
    finally:
        relay.stop()
        control.stop()


def test_a_client_that_sends_nothing_does_not_hold_the_end_of_the_session(tmp_path):
    echo = Echo()
    relay, _ports = relay_for(tmp_path, echo, echo.port)
    control = cb.ControlServer(instance(tmp_path).dir, relay)
    relay.stop()
    with socket.socket(socket.AF_UNIX) as silent:
        silent.settimeout(30)
        silent.connect(control.path)
        while control.serving is None:  # (until the server has taken it)
            time.sleep(0.01)
        control.stop()  # waits RELAY_STOP_TIMEOUT at most, less than CONTROL_TIMEOUT
        assert not control.thread.is_alive()
        assert silent.recv(10) == b""
    assert not os.path.lexists(control.path)


def test_a_killed_sessions_socket_is_swept_and_never_taken_for_a_session(tmp_path):
    place = instance(tmp_path)
    dead = Path(place.dir) / "control-999999.sock"
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(str(dead))  # bound, never listening, closed: what SIGKILL leaves
    assert cb.running_sessions(place) == []
    echo = Echo()
    relay, _ports = relay_for(tmp_path, echo, echo.port)
    control = cb.ControlServer(place.dir, relay)
    try:
        assert not dead.exists()
    finally:
        relay.stop()
        control.stop()


class Impostor:
    """A unix socket server at a control socket's path that answers `answer` to everything
    (or nothing at all)."""

    def __init__(self, path: str, answer: bytes | None) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(4)
        self.answer = answer
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                connection.recv(4096)
                if self.answer is None:
                    time.sleep(2)
                else:
                    connection.sendall(self.answer)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"not json\n", "not a JSON object"),
        (b"[]\n", "not a JSON object"),
        (b"x" * (cb.CONTROL_ANSWER_LIMIT + 10), "no answer line"),
        (None, "timed out"),
        (b'{"session": 1, "tier": "allowlist", "allowed": []}\n', "is it an older claudebox"),
        (b'{"session": PID, "tier": "bogus", "allowed": []}\n', "is it an older claudebox"),
        (b'{"session": PID, "tier": "allowlist", "allowed": [[1]]}\n', "older claudebox"),
    ],
)
def test_the_client_reads_a_hostile_answer_as_one_error(tmp_path, monkeypatch, answer, reason):
    monkeypatch.setattr(cb, "CONTROL_TIMEOUT", 0.5)
    place = instance(tmp_path)
    pid = os.getpid()
    if answer is not None:
        answer = answer.replace(b"PID", str(pid).encode())
    impostor = Impostor(os.path.join(place.dir, f"control-{pid}.sock"), answer)
    try:
        with pytest.raises(cb.ClaudeboxError) as info:
            cb.running_sessions(place)
        assert f"the session of pid {pid} gave no answer claudebox understands" in str(info.value)
        assert reason in str(info.value)
    finally:
        impostor.server.close()


def test_a_socket_whose_pid_is_not_its_listeners_is_no_session(tmp_path):
    place = instance(tmp_path)
    impostor = Impostor(os.path.join(place.dir, "control-1.sock"), b"{}\n")
    try:
        assert cb.running_sessions(place) == []
    finally:
        impostor.server.close()


# --- claudebox log ------------------------------------------------------------------------


def test_the_log_is_printed_printable_and_a_fifo_or_link_is_refused(tmp_path, capsys):
    log = tmp_path / "20260101-120000-42.log"
    log.write_bytes(b"one\n\x1b]0;owned\x07 \xff two\nno newline at the end")
    cb.print_log(str(log), None)
    assert capsys.readouterr().out == "one\n\\x1b]0;owned\\x07 \\xff two\nno newline at the end\n"
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(cb.ClaudeboxError, match=r"fifo\.log is not a regular file"):
        cb.print_log(str(fifo), None)
    link = tmp_path / "link.log"
    link.symlink_to(log)
    with pytest.raises(cb.ClaudeboxError, match=r"cannot read .*link\.log"):
        cb.print_log(str(link), None)


def test_the_log_is_followed_until_the_session_ends(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cb, "LOG_LIVENESS_INTERVAL", 0.05)
    monkeypatch.setattr(cb, "LOG_POLL_INTERVAL", 0.01)
    log = tmp_path / "20260101-120000-42.log"
    log.write_text("start\n")
    running = threading.Event()
    running.set()

    def session() -> None:
        with log.open("a") as out:
            for line in ("half", "way\n", "more\n", "session ended\n"):
                time.sleep(0.1)
                out.write(line)
                out.flush()
        running.clear()

    threading.Thread(target=session, daemon=True).start()
    cb.print_log(str(log), running.is_set)
    assert capsys.readouterr().out == "start\nhalfway\nmore\nsession ended\n"


def test_relay_logs_are_the_sessions_logs_only(tmp_path):
    for name in ("20260101-120000-42.log", "20260102-120000-7.log", "notes.log", "x-1.log"):
        (tmp_path / name).write_text("")
    assert cb.relay_logs(str(tmp_path)) == [
        ("20260101-120000-42.log", 42),
        ("20260102-120000-7.log", 7),
    ]
    assert cb.relay_logs(str(tmp_path / "missing")) == []
