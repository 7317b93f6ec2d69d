"""Red team, Claude's home across sessions (issue 21): ~/.claude inside is the project's own,
so what a session writes there never reaches the host's Claude or another project, and a flood
of entries in the host's ~/.claude costs a launch nothing. Each attack first runs where it
works (the positive control: the same plant in the host's own ~/.claude), then through
claudebox, followed by the host's REAL Claude Code and another project's session.
"""

from __future__ import annotations

import json
import stat
import subprocess
import time
from pathlib import Path

import test_real_claude as real
from harness import Box
from ptyterm import Terminal
from sessionlib import another_project, brief, marker_dir
from test_rt_sessions import instance_claude

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
__all__ = ["claude_store"]

CLAUDE = f"{real.CLAUDE_STORE}/bin/claude"


def evil_config(marker: Path) -> str:
    """An MCP server (stdio) that touches MARKER when a Claude starts it."""
    command = {"command": "/bin/sh", "args": ["-c", f"touch {marker}; sleep 1"]}
    return json.dumps({"mcpServers": {"evil": command}})


def host_claude_mcp_list(box: Box, home: Path) -> subprocess.CompletedProcess[str]:
    """The host's own `claude mcp list` as the test user (it starts every server it knows to
    check its health), with HOME=home."""
    return subprocess.run(
        box.as_user([CLAUDE, "mcp", "list"]),
        env={"HOME": str(home), "PATH": f"{real.CLAUDE_STORE}/bin:/usr/bin:/bin"},
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_planted_config_json_mcp_server_runs_nowhere(box: Box, claude_store: str) -> None:
    """~/.claude/.config.json (read by Claude Code before ~/.claude.json) holding an MCP server:
    planted in the host's ~/.claude, the host's `claude mcp list` runs it (the control);
    planted by a session, it stays in that project's own ~/.claude, so the host's Claude and
    another project's sandboxed Claude run nothing."""
    markers = marker_dir(box)
    control_home = box.mkdir(box.root / "control-home")
    box.write(control_home / ".claude" / ".config.json", evil_config(markers / "control"))
    control = host_claude_mcp_list(box, control_home)
    assert (markers / "control").exists(), control.stdout + control.stderr

    planted = box.probe(
        'printf %s "$1" > ~/.claude/.config.json && echo planted',
        evil_config(markers / "planted"),
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert (instance_claude(box) / ".config.json").is_file()
    host = host_claude_mcp_list(box, box.home)
    other = another_project(box, "other")
    inside_other = other.run(
        "--yes",
        "--network",
        "none",
        "mcp",
        "list",
        env={"PATH": ":".join([f"{real.CLAUDE_STORE}/bin", box.host_path()])},
        timeout=120,
    )
    assert inside_other.returncode == 0, inside_other.stderr
    assert "evil" not in host.stdout and "evil" not in inside_other.stdout
    assert not (markers / "planted").exists()


def test_opening_its_claude_dir_to_everyone_changes_nothing_of_yours(box: Box) -> None:
    """`chmod 777 ~/.claude` inside: the host's ~/.claude keeps its mode; the project's own is
    made private again (0700) by the next launch."""
    host_claude = box.mkdir(box.home / ".claude")
    host_claude.chmod(0o700)
    result = box.probe("chmod 777 ~/.claude ~/.claude/.. 2>/dev/null; stat -c %a ~/.claude")
    assert result.stdout.strip() == "777", brief(result.stderr)  # it took inside
    assert stat.S_IMODE(host_claude.stat().st_mode) == 0o700
    assert stat.S_IMODE(instance_claude(box).stat().st_mode) == 0o777  # the project's own
    again = box.probe("stat -c %a ~/.claude")
    assert again.stdout.strip() == "700", brief(again.stderr)
    assert stat.S_IMODE(host_claude.stat().st_mode) == 0o700


def test_a_flooded_claude_dir_costs_another_projects_launch_nothing(box: Box) -> None:
    """60,000 empty files in the host's ~/.claude (what a session of an older claudebox could
    leave there): another project's session launches within seconds, with what it needs, and
    the audit says how many entries stay outside."""
    host_claude = box.mkdir(box.home / ".claude")
    box.write(host_claude / "CLAUDE.md", "be careful\n")
    subprocess.run(
        box.as_user(
            [
                "/bin/sh",
                "-c",
                'cd "$1" && seq -f "flood-%05g" 1 60000 | xargs touch',
                "-",
                str(host_claude),
            ]
        ),
        check=True,
        timeout=300,
    )
    other = another_project(box, "other")
    started = time.monotonic()
    result = other.probe("cat ~/.claude/CLAUDE.md; ls ~/.claude | grep -c flood", timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, brief(result.stderr)
    # 64 have room: the 9 named entries that bring the host's in (CLAUDE.md here), 55 others
    assert result.stdout.splitlines() == ["be careful", "55"]
    assert "more entries of ~/.claude stay outside" in result.stderr
    assert elapsed < 60, elapsed  # minutes and a raw bwrap error before the limit


def settle(term: Terminal, seconds: float) -> None:
    """Let the TUI take what was typed (an Ink list ignores keys while it redraws)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        term.pump(0.1)


def test_a_config_change_inside_stays_with_the_project(box: Box, claude_store: str) -> None:
    """/config in the real TUI writes ~/.claude/settings.json: inside, the project's own on top
    of the host's. The change persists to the project's next session, not to another project
    nor to the host's settings, while the host's later changes still arrive in the project."""
    version = claude_store.split()[0]
    onboarded = {"hasCompletedOnboarding": True, "lastOnboardingVersion": version, "theme": "dark"}
    box.write(box.home / ".claude.json", json.dumps(onboarded))
    host_settings = box.write(box.home / ".claude" / "settings.json", '{"theme": "dark"}\n')
    env = {"PATH": ":".join([f"{real.CLAUDE_STORE}/bin", box.host_path()])}
    env["TERM"] = "xterm-256color"
    with box.terminal("--yes", "--network", "none", env=env, columns=120, lines=40) as term:
        term.wait_for_text("bypass permissions on", timeout=120)
        term.type(b"/config")
        term.wait_for_text("Open settings")
        settle(term, 0.5)
        term.type(real.ENTER)
        term.wait_for_text("Verbose output")
        term.type(b"verbose")
        settle(term, 1)
        term.type(b"\x1b[B")  # down: to the filtered list
        term.wait_for_text("Enter/Space to change")
        term.type(real.ENTER)
        term.wait_for(lambda s: "Verbose output" in s and "true" in s, "verbose turned on")
        term.type(b"\x1b")
        settle(term, 1)
        term.type(b"\x1b")
        term.wait_for_text("Set verbose to true")
        assert real.exit_with_ctrl_c_twice(term) == 0, term
    own = instance_claude(box) / "settings.json"
    assert json.loads(own.read_text()) == {"theme": "dark", "verbose": True}, own.read_text()
    assert host_settings.read_text() == '{"theme": "dark"}\n'
    host_settings.write_text('{"theme": "light"}\n')  # the host changes its own meanwhile
    again = box.probe("cat ~/.claude/settings.json")
    assert json.loads(again.stdout) == {"theme": "light", "verbose": True}, again.stdout
    assert "settings of its own: verbose" in again.stderr
    other = another_project(box, "other").probe("cat ~/.claude/settings.json")
    assert json.loads(other.stdout) == {"theme": "light"}, other.stdout
    assert host_settings.read_text() == '{"theme": "light"}\n'
