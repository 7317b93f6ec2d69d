"""claudebox allow and claudebox log against a running allowlist session, in the network lab.

A session runs a snippet that asks the lab's "internet" host for a name it was not given
(other.claudebox.test) through the proxy, waits for the test to say go, and asks again; between
the two, `claudebox allow` runs in a second process on a terminal of its own (a pty, answered as
a person answers) in the same project. The lab, its resolver and its web servers are those of
test_allowlist_tier.py.
"""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import HELPER_STORE, Box, assert_printable, instance_dir, wait_for, write_profile
from ptyterm import ENTER
from test_allowlist_tier import ALLOWED, CURL, curl_store, net_box, session_log, web

__all__ = ["curl_store", "net_box", "web"]  # the fixtures this module uses

OTHER = "other.claudebox.test"  # in the lab's DNS, on no session's list at launch
STATUS = f"{CURL} -s -o /dev/null -w '%{{http_code}}' --max-time 10 http://{OTHER}/"
# Asks for OTHER (status code in `before`), touches `ready`; once `go` exists asks again
# (`after`) and touches `done`; ends when `stop` exists.
SESSION = (
    f"{STATUS} > before; touch ready; "
    "while [ ! -e go ]; do sleep 0.1; done; "
    f"{STATUS} > after; touch done; "
    "while [ ! -e stop ]; do sleep 0.1; done"
)


def control_sockets(box: Box) -> list[Path]:
    return sorted(instance_dir(box.home, box.project).glob("control-*.sock"))


@contextmanager
def session(box: Box, *options: str, snippet: str = SESSION) -> Iterator[int]:
    """A running session of the box's project; its claudebox's pid (from its control socket)."""
    with box.running(snippet, *options) as process:
        (socket_path,) = control_sockets(box)
        yield int(socket_path.name.removeprefix("control-").removesuffix(".sock"))
        box.write(box.project / "stop", "")
        assert process.wait(timeout=30) == 0


def ask_again(box: Box, process_done: str = "done") -> tuple[str, str]:
    box.write(box.project / "go", "")
    wait_for(box.project / process_done)
    return (box.project / "before").read_text(), (box.project / "after").read_text()


def question(box: Box, pid: int, what: str = f"{OTHER}, ports 80 and 443") -> str:
    return f"Allow {what} in the running session of {box.project} (claudebox pid {pid})"


@pytest.mark.parametrize("answer", [b"y", b"n"])
def test_claudebox_allow_from_another_terminal_opens_a_name_without_relaunching(
    net_box: Box, answer: bytes
) -> None:
    """Refused at first; `claudebox allow NAME` on a second terminal asks (naming the entry,
    the project and the session), and only a yes makes the same session reach it."""
    with session(net_box, "--allow-domain", ALLOWED) as pid:
        (control,) = control_sockets(net_box)
        info = control.lstat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == net_box.user.pw_uid
        with net_box.terminal("allow", OTHER, columns=200) as terminal:
            terminal.wait_for_text(question(net_box, pid) + "? [y/N]")
            terminal.type(answer + ENTER)
            status = terminal.wait_for_exit()
            screen = terminal.screen()
        before, after = ask_again(net_box)
    assert before == "403"
    if answer == b"y":
        assert status == 0, screen
        assert f"claudebox: session {pid} allows {OTHER} from now on" in screen
        assert after == "200"
        log = session_log(net_box)
        assert f"added {OTHER} to the allowlist (claudebox allow, pid " in log
        assert f"allowed GET {OTHER}:80 -> 203.0.113.10 ({OTHER}, claudebox allow, pid " in log
    else:
        assert status == 2, screen
        assert screen.splitlines()[-1] == "claudebox: nothing changed"
        assert after == "403"
        assert "added" not in session_log(net_box)
    assert control_sockets(net_box) == []  # removed with the session


def test_a_port_and_a_wildcard_are_added_as_entries(net_box: Box) -> None:
    """*.NAME:PORT adds that port of the subdomains only; the question says what it covers."""
    wild = "www.wild.claudebox.test"
    https = f"{CURL} -s -o /dev/null -w ' %{{http_code}}' --max-time 10 https://{wild}/"
    snippet = SESSION.replace(STATUS, f"{{ {STATUS.replace(OTHER, wild)}; {https}; }}")
    with session(net_box, "--network", "allowlist", snippet=snippet) as pid:
        with net_box.terminal("allow", "*.wild.claudebox.test:80", columns=200) as terminal:
            what = "*.wild.claudebox.test (every name under wild.claudebox.test), port 80"
            terminal.wait_for_text(question(net_box, pid, what))
            terminal.type(b"yes" + ENTER)
            assert terminal.wait_for_exit() == 0, terminal.screen()
        before, after = ask_again(net_box)
    assert (before, after) == ("403 000", "200 000")  # (curl: 000, the tunnel refused)
    log = session_log(net_box)
    assert "added *.wild.claudebox.test:80 to the allowlist" in log
    assert f"allowed GET {wild}:80 -> 203.0.113.10 (*.wild.claudebox.test:80, " in log
    assert f"refused CONNECT {wild}:443: port 443 of {wild} is not allowed" in log


def test_save_writes_the_entry_to_the_profile_keeping_its_other_keys(net_box: Box) -> None:
    profile = write_profile(
        net_box, "web", {"description": "the lab's web", "allow_domains": [ALLOWED]}
    )
    with session(net_box, "--profile", "web") as pid:
        with net_box.terminal("allow", OTHER, "--save", "web", columns=250) as terminal:
            terminal.wait_for_text(
                question(net_box, pid) + " and in the profile ~/.claudebox/profiles/web.json? [y/N]"
            )
            terminal.type(b"y" + ENTER)
            status = terminal.wait_for_exit()
            screen = terminal.screen()
        _before, after = ask_again(net_box)
    assert status == 0, screen
    assert "claudebox: saved other.claudebox.test in profile web" in screen
    assert after == "200"
    assert json.loads(profile.read_text()) == {
        "description": "the lab's web",
        "allow_domains": [ALLOWED, OTHER],
    }
    info = profile.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (net_box.user.pw_uid, 0o600)
    # The next session has it from the profile.
    result = net_box.run("--yes", "--profile", "web", STATUS, timeout=120)
    assert (result.returncode, result.stdout) == (0, "200"), result.stderr


def test_save_refuses_a_profile_that_does_not_load_and_changes_nothing(net_box: Box) -> None:
    broken = net_box.write(
        net_box.home / ".claudebox" / "profiles" / "broken.json", '{"allow_domains": ['
    )
    with session(net_box, "--allow-domain", ALLOWED):
        result = net_box.run("allow", OTHER, "--save", "broken")
        before, after = ask_again(net_box)
    assert result.returncode == 2
    assert result.stderr.startswith("claudebox: error: ")
    assert "broken.json: not valid JSON" in result.stderr
    assert broken.read_text() == '{"allow_domains": ['
    assert (before, after) == ("403", "403")


def test_allow_without_a_terminal_asks_nothing_and_allows_nothing(net_box: Box) -> None:
    with session(net_box, "--allow-domain", ALLOWED):
        result = net_box.run("allow", OTHER)  # no controlling terminal
        _before, after = ask_again(net_box)
    assert result.returncode == 2
    assert result.stderr == (
        "claudebox: error: no terminal to confirm claudebox allow on; run claudebox allow in a "
        "terminal: a name is allowed only when you confirm it there\n"
    )
    assert after == "403"


def test_a_name_allowed_already_says_so_and_asks_nothing(net_box: Box) -> None:
    with session(net_box, "--allow-domain", OTHER) as pid:
        result = net_box.run("allow", OTHER.upper())
        before, _after = ask_again(net_box)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"claudebox: {OTHER} is allowed in session {pid} already ({OTHER}, --allow-domain)\n"
    )
    assert before == "200"


def test_allow_with_no_session_or_another_tier_is_one_error_line(net_box: Box) -> None:
    result = net_box.run("allow", OTHER)
    assert result.returncode == 2
    assert result.stderr == (
        f"claudebox: error: no claudebox session of {net_box.project} is running (claudebox "
        "allow adds to a running session of the project in the current directory); cd into "
        "the project, or start its session first\n"
    )
    with session(net_box, "--network", "none") as pid:
        result = net_box.run("allow", OTHER)
        ask_again(net_box)
    assert result.returncode == 2
    assert result.stderr == (
        f"claudebox: error: the session of {net_box.project} (claudebox pid {pid}) runs in the "
        "none network tier: the none tier reaches only Claude's own hosts and takes no "
        "additions; start the session with --network allowlist (and --allow-domain NAME) "
        "instead\n"
    )


def test_claudebox_log_follows_the_session_until_it_ends(net_box: Box) -> None:
    """The decisions as they happen, each line printable (the session sends a request full of
    terminal controls), and the end of the session ends it; with no session running it prints
    the last log."""
    request = "CONNECT \\033]0;owned\\007\\033[2J:443 HTTP/1.1\\r\\n\\r\\n"
    hostile = f"printf '{request}' | nc -w 5 127.0.0.1 3128"
    snippet = SESSION.replace("touch done;", f"{hostile} >/dev/null; touch done;")
    with session(net_box, "--allow-domain", ALLOWED, snippet=snippet):
        follower = net_box.start("log", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], 30)
        assert ready, "claudebox log printed nothing"
        first = follower.stdout.readline()  # the session's first line: it follows the session
        ask_again(net_box)
        assert follower.poll() is None  # still following
    assert follower.wait(timeout=30) == 0  # (its output is a few lines: the pipe holds them)
    assert follower.stderr is not None
    output, errors = follower.stdout.read(), follower.stderr.read()
    assert errors == ""
    text = assert_printable((first + output).encode(), "claudebox log")
    lines = text.splitlines()
    assert f"refused GET {OTHER}:80: {OTHER} is not allowed (claudebox allow {OTHER})" in text
    assert "refused a request: CONNECT needs HOST:PORT" in text
    assert lines[-1].endswith(" session ended")
    assert text == session_log(net_box)
    # No session now: the last log, as it is.
    again = net_box.run("log")
    assert again.returncode == 0, again.stderr
    assert again.stdout == text
    assert again.stderr.startswith(f"claudebox: no session of {net_box.project} is running")


def test_the_control_socket_is_out_of_the_sandboxs_reach(net_box: Box) -> None:
    """Inside, the control socket's host path does not exist (nor does ~/.claudebox); the
    same user outside connects to it (positive control)."""
    probe = f"{HELPER_STORE}/bin/uconnect"
    snippet = (
        "touch ready; while [ ! -e path ]; do sleep 0.1; done; "
        f'{probe} "$(cat path)" > inside; ls -a ~/.claudebox >> inside 2>&1; touch done; '
        "while [ ! -e stop ]; do sleep 0.1; done"
    )
    with session(net_box, "--allow-domain", ALLOWED, snippet=snippet):
        (control,) = control_sockets(net_box)
        outside = subprocess.run(
            net_box.as_user([probe, str(control)]),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        net_box.write(net_box.project / "path", str(control))
        wait_for(net_box.project / "done")
    assert outside.stdout == "uconnect ok: \n"  # it answers nothing to a request never sent
    inside = (net_box.project / "inside").read_text().splitlines()
    assert inside[0] == f"uconnect errno {2}"  # ENOENT: no such path inside
    assert "No such file or directory" in inside[1]


def test_a_killed_sessions_socket_is_not_a_session(net_box: Box) -> None:
    """SIGKILL leaves the socket file; claudebox allow finds no session there, and the next
    session removes it."""
    process = net_box.start("--yes", "--allow-domain", ALLOWED, "touch ready; exec sleep 60")
    try:
        wait_for(net_box.project / "ready", process=process)
        (left,) = control_sockets(net_box)
        os.kill(process.pid, 9)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert left.exists()
    result = net_box.run("allow", OTHER)
    assert result.returncode == 2
    assert "no claudebox session of" in result.stderr
    with session(net_box, "--allow-domain", ALLOWED) as pid:
        assert [path.name for path in control_sockets(net_box)] == [f"control-{pid}.sock"]
        ask_again(net_box)
