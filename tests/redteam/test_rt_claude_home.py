"""Red team, Claude's home across sessions (issue 21): ~/.claude inside is the project's own,
so what a session writes there never reaches the host's Claude or another project, and a flood
of entries in the host's ~/.claude costs a launch nothing. Each attack first runs where it
works (the positive control: the same plant in the host's own ~/.claude), then through
claudebox, followed by the host's REAL Claude Code and another project's session.

Every run of the real Claude, the host's and claudebox's, is in the Anthropic lab
(anthropic_lab.py): the lab's host namespace, its resolver and Anthropic's hosts played there
(the relay of `--network none` goes to them); nothing reaches a real address.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import test_real_claude as real
from anthropic_lab import CLAUDE_ENV, AnthropicLab, anthropic, anthropic_lab
from harness import Box
from sessionlib import another_project, brief, marker_dir
from test_rt_sessions import instance_claude

claude_store = real.claude_store  # the real Claude Code in the store (a session fixture)
__all__ = ["anthropic", "anthropic_lab", "claude_store"]

CLAUDE = f"{real.CLAUDE_STORE}/bin/claude"


def evil_config(marker: Path) -> str:
    """An MCP server (stdio) that touches MARKER when a Claude starts it."""
    command = {"command": "/bin/sh", "args": ["-c", f"touch {marker}; sleep 1"]}
    return json.dumps({"mcpServers": {"evil": command}})


def host_claude_mcp_list(box: Box, home: Path) -> subprocess.CompletedProcess[str]:
    """The host's own `claude mcp list` as the test user (it starts every server it knows to
    check its health), with HOME=home, in the box's namespaces (the lab's)."""
    env = real.with_store_claude(box, CLAUDE_ENV, {"HOME": str(home)}, host=True)
    return real.run_captured(box.as_user([CLAUDE, "mcp", "list"]), env, box.project)


def test_a_planted_config_json_mcp_server_runs_nowhere(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """~/.claude/.config.json (read by Claude Code before ~/.claude.json) holding an MCP server:
    planted in the host's ~/.claude, the host's `claude mcp list` runs it (the control);
    planted by a session, it stays in that project's own ~/.claude, so the host's Claude and
    another project's sandboxed Claude run nothing."""
    box.mountns = anthropic.mountns
    markers = marker_dir(box)
    control_home = box.mkdir(box.root / "control-home")
    box.write(control_home / ".claude" / ".config.json", evil_config(markers / "control"))
    control = host_claude_mcp_list(box, control_home)
    assert control.returncode == 0, control.stdout + control.stderr
    assert "evil" in control.stdout, control.stdout + control.stderr
    assert (markers / "control").exists(), control.stdout + control.stderr

    planted = box.probe(
        'printf %s "$1" > ~/.claude/.config.json && echo planted',
        evil_config(markers / "planted"),
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert (instance_claude(box) / ".config.json").is_file()
    host = host_claude_mcp_list(box, box.home)
    assert host.returncode == 0, host.stdout + host.stderr
    other = another_project(box, "other")
    inside_other = other.run(
        "--yes",
        "--network",
        "none",
        "mcp",
        "list",
        env=real.with_store_claude(box, CLAUDE_ENV),
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
    # (a launch that took minutes, then failed with a raw bwrap error, fails by the timeout)
    result = other.probe("cat ~/.claude/CLAUDE.md; ls ~/.claude | grep -c flood", timeout=120)
    assert result.returncode == 0, brief(result.stderr)
    # 64 have room: the 9 named entries that bring the host's in (CLAUDE.md here), 55 others
    assert result.stdout.splitlines() == ["be careful", "55"]
    assert "more entries of ~/.claude stay outside" in result.stderr


POINTER = "\u276f"  # Claude's prompt and selection mark (a no-break space may follow it)


def suggests_config_first(screen: str) -> bool:
    """The prompt holds /config and the first suggestion under it is /config's: Enter runs it
    (while the list is still filtering, another command may lead it)."""
    lines = screen.splitlines()
    typed = [index for index, line in enumerate(lines) if line.split() == [POINTER, "/config"]]
    if not typed:
        return False
    below = [line for line in lines[typed[-1] + 1 :] if line.strip().strip("─")]
    return bool(below) and below[0].startswith("/config ") and "Open settings" in below[0]


def test_a_config_change_inside_stays_with_the_project(
    box: Box, anthropic: AnthropicLab, claude_store: str
) -> None:
    """/config in the real TUI writes ~/.claude/settings.json: inside, the project's own on top
    of the host's. The change persists to the project's next session, not to another project
    nor to the host's settings, while the host's later changes still arrive in the project.
    Each key is typed once the screen shows the state it is meant for."""
    real.write_onboarded(box, claude_store)
    host_settings = box.write(box.home / ".claude" / "settings.json", '{"theme": "dark"}\n')
    box.mountns = anthropic.mountns
    env = real.with_store_claude(box, CLAUDE_ENV, {"TERM": "xterm-256color"})
    with box.terminal("--yes", "--network", "none", env=env, columns=120, lines=40) as term:
        term.wait_for_text("bypass permissions on", timeout=120)
        term.type(b"/config")
        term.wait_for(suggests_config_first, "/config typed, its suggestion first")
        term.type(real.ENTER)
        term.wait_for_text("Search settings")
        term.type(b"verbose")
        term.wait_for(
            lambda s: "⌕ verbose" in s and "Verbose output" in s and "Auto-compact" not in s,
            "the settings filtered by 'verbose'",
        )
        term.type(b"\x1b[B")  # down: to the filtered list
        term.wait_for(
            lambda s: (
                any(line.split()[:3] == [POINTER, "Verbose", "output"] for line in s.splitlines())
                and "Enter/Space to change" in s
                and "Esc to close" in s
            ),
            "Verbose output selected",
        )
        term.type(real.ENTER)
        term.wait_for(
            lambda s: any(
                line.split() == [POINTER, "Verbose", "output", "true"] for line in s.splitlines()
            ),
            "verbose turned on",
        )
        term.type(b"\x1b")  # Esc to close
        term.wait_for_text("Set verbose to true")
        assert real.exit_with_ctrl_c_twice(term) == 0, term
    own = instance_claude(box) / "settings.json"
    assert json.loads(own.read_text()) == {"theme": "dark", "verbose": True}, own.read_text()
    assert host_settings.read_text() == '{"theme": "dark"}\n'
    host_settings.write_text('{"theme": "light"}\n')  # the host changes its own meanwhile
    again = box.probe("cat ~/.claude/settings.json")
    assert json.loads(again.stdout) == {"theme": "light", "verbose": True}, again.stdout
    assert "settings of its own: verbose" in box.audit("true")
    other = another_project(box, "other").probe("cat ~/.claude/settings.json")
    assert json.loads(other.stdout) == {"theme": "light"}, other.stdout
    assert host_settings.read_text() == '{"theme": "light"}\n'
