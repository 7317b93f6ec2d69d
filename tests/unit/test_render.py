"""The audit text and the golden --dry-run text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import fakehost as fh

import claudebox as cb

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[")


FULL = cb.Options(network="full")


def golden_plan(network="full"):
    return cb.build_plan(
        fh.make_host(),
        cb.Options(claude_args=("-p", "fix the tests", "--model", "x"), network=network),
        ("GH_HOST", "NOT_SET"),
    )


def audit(plan, colour=False):
    return cb.render_audit(plan, cb.Style(colour), fh.HOME)


def check_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_dry_run_golden():
    check_golden("dry_run.txt", cb.render_dry_run(golden_plan()))


def test_dry_run_inet_golden():
    check_golden("dry_run_inet.txt", cb.render_dry_run(golden_plan("inet")))


def test_audit_golden():
    check_golden("audit.txt", audit(golden_plan()))


def test_dry_run_is_valid_shell_that_reproduces_argv(tmp_path):
    """With bwrap replaced by a printer, bash hands it exactly plan.argv[1:] and the fd data."""
    printer = tmp_path / "printer"
    printer.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, json\n"
        "data = {fd: os.read(fd, 1 << 20).hex() for fd in (10, 11, 12)}\n"
        "json.dump({'argv': sys.argv[1:], 'data': data}, sys.stdout)\n"
    )
    printer.chmod(0o755)
    plan = cb.build_plan(
        fh.make_host(bwrap=str(printer)),
        cb.Options(claude_args=("-p", "it's $HOME"), network="full"),
        (),
    )
    text = cb.render_dry_run(plan)
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    assert text.startswith(setup)
    command = text[len(setup) :]
    # Secret values come from the pasting shell's environment ("$ANTHROPIC_API_KEY").
    shell_env = {**fh.HOST_ENV, "PATH": os.environ["PATH"]}
    out = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True, env=shell_env
    )
    got = json.loads(out.stdout)
    assert got["argv"] == plan.argv[1:]
    assert got["data"] == {str(d.fd): d.content.hex() for d in plan.data}


def host_in(home: str, project: str, **changes):
    """The synthetic host, moved under a real directory (for tests that build the tree)."""
    return fh.make_host(
        home=home,
        project=project,
        cwd=project,
        canonical_root=project,
        state_dir=f"{home}/.claudebox",
        existing=frozenset(),
        **changes,
    )


def test_dry_run_host_setup_builds_the_tree(tmp_path):
    home = str(tmp_path / "home")
    project = f"{home}/src/proj"
    host = host_in(home, project, claude_dir_entries={})
    plan = cb.build_plan(host, FULL, ())
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    subprocess.run(["bash", "-euc", setup], check=True)
    subprocess.run(["bash", "-euc", setup], check=True)  # idempotent
    root = Path(plan.instance.dir, "root")
    assert root.read_text() == project + "\n"
    assert oct(root.stat().st_mode & 0o777) == "0o600"
    assert oct(Path(plan.instance.dir).stat().st_mode & 0o777) == "0o700"
    assert Path(home, ".claude", "settings.json").read_text() == "{}\n"
    assert Path(plan.instance.dir, "claude", ".claude.json").read_text() == (
        '{\n  "hasCompletedOnboarding": true,\n  "theme": "dark",\n  "userID": "u-123"\n}\n'
    )


def test_prepare_host_matches_dry_run_setup(tmp_path):
    home = str(tmp_path / "home")
    project = f"{home}/src/proj"
    host = host_in(home, project, claude_dir_entries={"settings.json": False})
    Path(home, ".claude").mkdir(parents=True)
    Path(home, ".claude", "settings.json").write_text('{"keep": 1}')
    plan = cb.build_plan(host, FULL, ())
    cb.prepare_host(plan.host_setup)
    for step in plan.host_setup:
        path = Path(step.path)
        if step.content is None:
            assert path.is_dir()
        else:
            assert path.read_text() == step.content
    assert Path(home, ".claude", "settings.json").read_text() == '{"keep": 1}'
    assert Path(home, ".claude", "CLAUDE.md").read_text() == ""


def test_audit_masks_secret_values():
    plan = cb.build_plan(fh.make_host(), FULL, ("GITHUB_TOKEN", "GH_HOST"))
    text = audit(plan)
    assert "sk-ant-api03-canary" not in text
    assert "ghp_canary" not in text
    lines = text.splitlines()
    assert "    ANTHROPIC_API_KEY=<masked, 19 chars>  [host]" in lines
    assert "    GITHUB_TOKEN=<masked, 10 chars>  [CLAUDEBOX_EXTRA_ENV]  <- secret-looking name" in (
        lines
    )
    assert "    GH_HOST=github.example.org  [CLAUDEBOX_EXTRA_ENV]" in lines
    assert (
        "  warning: GITHUB_TOKEN looks like a secret and is passed in by CLAUDEBOX_EXTRA_ENV"
        in lines
    )


def test_audit_without_colour_has_no_escapes():
    plan = cb.build_plan(fh.make_host(claude=None), FULL, ("GITHUB_TOKEN",))
    assert plan.warnings
    assert not ANSI.search(audit(plan))


def test_audit_with_colour_paints_warnings_red():
    plan = cb.build_plan(fh.make_host(claude=None), FULL, ("GITHUB_TOKEN",))
    lines = audit(plan, colour=True).splitlines()
    assert lines[0] == "\x1b[1mclaudebox 0.1.0: what enters the sandbox\x1b[0m"
    assert (
        "\x1b[31m  warning: claude was not found on PATH: install Claude Code or add it to "
        "PATH\x1b[0m"
    ) in lines
    assert "    ANTHROPIC_API_KEY=<masked, 19 chars>  [host]" in lines  # host: masked, not red


def test_audit_paints_secret_looking_extra_env_red():
    plan = cb.build_plan(fh.make_host(), FULL, ("GITHUB_TOKEN",))
    lines = audit(plan, colour=True).splitlines()
    assert (
        "\x1b[31m    GITHUB_TOKEN=<masked, 10 chars>  [CLAUDEBOX_EXTRA_ENV]"
        "  <- secret-looking name\x1b[0m"
    ) in lines


def test_audit_network_none_line():
    plan = cb.build_plan(fh.make_host(), cb.Options(network="none"), ())
    lines = audit(plan).splitlines()
    assert "  network   none: loopback only (the nix daemon still downloads for the sandbox)" in (
        lines
    )


def test_printf_command():
    assert cb.printf_command(b"a'b\n") == "printf %s 'a'\"'\"'b\n'"
    assert cb.printf_command(b"\x00\x01 ") == "printf '\\000\\001\\040'"
    assert cb.printf_command(b"\xff") == "printf '\\377'"


def test_dry_run_inet_is_valid_shell_giving_the_command_line():
    """bash parses the printed chain back into exactly env -i + plan.command_line."""
    plan = golden_plan("inet")
    text = cb.render_dry_run(plan)
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    assert text.startswith(setup)
    script = "env() { printf '%s\\0' \"$@\"; }\n" + text[len(setup) :]
    shell_env = {**fh.HOST_ENV, "PATH": os.environ["PATH"]}
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env=shell_env
    ).stdout
    assert out.decode().split("\0")[:-1] == ["-i", *plan.command_line]
