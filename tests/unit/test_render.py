"""The audit text and the golden --dry-run text (UPDATE_GOLDEN=1 rewrites the golden files)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import fakehost as fh
import pytest

import claudebox as cb
from claudebox import Kind, Tier

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[")
LAUNCHER = ("/run/current-system/sw/bin/python3", "-I", "/nix/store/" + "7" * 32 + "-claudebox")
FULL = cb.Options(tier=Tier.FULL, tier_origin="--network")


def golden_plan(tier=Tier.FULL, origin="--network", host=None):
    return cb.build_plan(
        host or fh.make_host(),
        cb.Options(
            claude_args=("-p", "fix the tests", "--model", "x"),
            tier=tier,
            tier_origin=origin,
            extra_env=("GH_HOST", "NOT_SET"),
        ),
    )


def audit(plan, colour=False, verbose=False):
    return cb.render_audit(plan, cb.Style(colour), fh.HOME, verbose=verbose)


def check_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_dry_run_golden():
    check_golden("dry_run.txt", cb.render_dry_run(golden_plan(), LAUNCHER))


def test_dry_run_inet_golden():
    check_golden("dry_run_inet.txt", cb.render_dry_run(golden_plan(Tier.INET), LAUNCHER))


def test_audit_golden():
    check_golden("audit.txt", audit(golden_plan(Tier.INET, "default")))


def test_audit_details_golden():
    check_golden("audit_details.txt", audit(golden_plan(), verbose=True))


def test_the_default_audit_fits_80_columns():
    profile = cb.Profile(
        "web",
        "--profile",
        ("base", "web"),
        description=("node and python for the shop's web front end, with its data", "web"),
        mounts=(cb.ProfileMount(f"{fh.HOME}/data/shop-fixtures", "/srv/fixtures", "rw", "web"),),
        packages=(("nodejs_22", "web"), ("python3", "base")),
    )
    host = fh.make_host(
        claude=f"{fh.HOME}/.local/share/claude/versions/2.1.197", other_session=True
    )
    options = cb.Options(
        claude_args=("-p", "a long prompt " * 10),
        profile=profile,
        extra_env=("GITHUB_TOKEN",),
        nixpkgs="github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567",
    )
    text = audit(cb.build_plan(host, options))
    assert [line for line in text.splitlines() if len(line) > cb.AUDIT_WIDTH] == []
    check_golden("audit_profile.txt", text)


def test_dry_run_is_valid_shell_that_reproduces_the_launch(tmp_path):
    """With the launcher replaced by a printer, bash hands it exactly --stage SPEC -- argv,
    and the generated files on their descriptors."""
    printer = tmp_path / "printer"
    printer.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, json\n"
        "data = {fd: os.read(fd, 1 << 20).hex() for fd in (10, 11, 12, 13)}\n"
        "json.dump({'argv': sys.argv[1:], 'data': data}, sys.stdout)\n"
    )
    printer.chmod(0o755)
    plan = cb.build_plan(fh.make_host(), cb.Options(claude_args=("-p", "it's $HOME")))
    text = cb.render_dry_run(plan, [str(printer)])
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    assert text.startswith(setup)
    command = text[len(setup) :]
    # Secret values come from the pasting shell's environment ("$ANTHROPIC_API_KEY").
    shell_env = {**fh.HOST_ENV, "PATH": os.environ["PATH"]}
    out = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True, env=shell_env
    )
    got = json.loads(out.stdout)
    assert got["argv"][:3] == ["--stage", got["argv"][1], "--"]
    assert json.loads(got["argv"][1]) == cb.stage_spec(plan)
    assert got["argv"][3:] == plan.argv
    assert got["data"] == {str(d.fd): d.content.hex() for d in plan.data}


def test_dry_run_host_setup_builds_the_tree(tmp_path):
    home = str(tmp_path / "home")
    host = fh.make_host(home=home, tree={}, claude_home=fh.claude_home(home, {}))
    plan = cb.build_plan(host, FULL)
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    subprocess.run(["bash", "-euc", setup], check=True)
    subprocess.run(["bash", "-euc", setup], check=True)  # idempotent
    root = Path(plan.instance.dir, "root")
    assert root.read_text() == f"{home}/src/proj\n"
    assert oct(root.stat().st_mode & 0o777) == "0o600"
    assert oct(Path(plan.instance.dir).stat().st_mode & 0o777) == "0o700"
    assert Path(home, ".claude", "settings.json").read_text() == "{}\n"
    assert Path(home, ".claude", "projects").is_dir()  # the mount point of this project's own
    assert Path(plan.instance.dir, "claude", ".claude.json").read_text() == (
        '{\n  "hasCompletedOnboarding": true,\n  "theme": "dark",\n  "userID": "u-123"\n}\n'
    )


def test_prepare_host_matches_dry_run_setup(tmp_path):
    home = str(tmp_path / "home")
    claude_home = fh.claude_home(home, {"settings.json": Kind.FILE})
    host = fh.make_host(home=home, tree={}, claude_home=claude_home)
    Path(home, ".claude").mkdir(parents=True)
    Path(home, ".claude", "settings.json").write_text('{"keep": 1}')
    plan = cb.build_plan(host, FULL)
    cb.prepare_host(plan.host_setup, host.state_dir)
    for step in plan.host_setup:
        path = Path(step.path)
        if step.content is None:
            assert path.is_dir()
            assert oct(path.stat().st_mode & 0o777) == "0o700" or path == Path(home, ".claude")
        elif path.name != "settings.json":
            assert path.read_text() == step.content
    assert Path(home, ".claude", "settings.json").read_text() == '{"keep": 1}'
    assert Path(home, ".claude", "CLAUDE.md").read_text() == ""


def test_prepare_host_makes_an_open_state_directory_private(tmp_path):
    state = tmp_path / ".claudebox"
    (state / "instances").mkdir(parents=True)
    state.chmod(0o755)
    (state / "instances").chmod(0o775)
    cb.prepare_host([cb.HostSetup(str(state)), cb.HostSetup(str(state / "instances"))], str(state))
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert oct((state / "instances").stat().st_mode & 0o777) == "0o700"


def test_audit_masks_secret_values():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN", "GH_HOST")))
    for text in (audit(plan), audit(plan, verbose=True)):
        assert "sk-ant-api03-canary" not in text
        assert "ghp_canary" not in text
    lines = audit(plan, verbose=True).splitlines()
    assert "    ANTHROPIC_API_KEY=<masked, 19 chars>  [host]" in lines
    assert "    GITHUB_TOKEN=<masked, 10 chars>  [CLAUDEBOX_EXTRA_ENV]" in lines
    assert "    GH_HOST=github.example.org  [CLAUDEBOX_EXTRA_ENV]" in lines
    lines = audit(plan).splitlines()
    assert "  secrets    ANTHROPIC_API_KEY (host) GITHUB_TOKEN (CLAUDEBOX_EXTRA_ENV)" in lines
    assert lines[-2:] == [
        "  warning    GITHUB_TOKEN looks like a secret and is passed in by",
        "             CLAUDEBOX_EXTRA_ENV",
    ]


def test_audit_without_colour_has_no_escapes():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN",)))
    assert plan.warnings
    assert not ANSI.search(audit(plan))


def test_audit_with_colour_paints_full_network_and_warnings_red():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN",)))
    lines = audit(plan, colour=True).splitlines()
    assert lines[0] == "\x1b[1mclaudebox 0.2.0: sandbox for /home/alice/src/proj/sub\x1b[0m"
    assert (
        "\x1b[1;31m  network    ! full (--network): the host's network: its LAN, tailnet and\x1b[0m"
    ) in lines
    assert "\x1b[1;31m  warning    GITHUB_TOKEN looks like a secret and is passed in by\x1b[0m" in (
        lines
    )
    inet = audit(cb.build_plan(fh.make_host(), cb.Options()), colour=True).splitlines()
    assert inet[inet.index("") + 2 : inet.index("") + 4] == [
        "  network    inet (default): the internet only: LAN, tailnet, link-local and",
        "             host services unreachable",
    ]


def test_audit_network_none_line():
    plan = cb.build_plan(fh.make_host(), cb.Options(tier=Tier.NONE, tier_origin="profile web"))
    lines = audit(plan).splitlines()
    assert (
        "  network    none (profile web): none: loopback only (the nix daemon still downloads "
        "for you)"
    ) not in lines  # 84 columns: wrapped
    assert lines[lines.index("") + 2 : lines.index("") + 4] == [
        "  network    none (profile web): none: loopback only (the nix daemon still",
        "             downloads for you)",
    ]


def test_shown_command_drops_the_flag_settings_and_shortens():
    command = cb.claude_command(fh.CLAUDE, ("-p", "x"))
    assert cb.shown_command(command) == "claude --dangerously-skip-permissions -p x"
    long = cb.shown_command(cb.claude_command(fh.CLAUDE, ("-p", "y" * 100)))
    assert len(long) == cb.AUDIT_WIDTH - cb.AUDIT_LABEL
    assert long.endswith("y…")
    assert cb.shown_command((f"{fh.BASH_BIN}/bash",)) == "bash"


@pytest.mark.parametrize(
    ("items", "lines"),
    [
        (["short"], ["  label      short"]),
        (["a" * 67], ["  label      " + "a" * 67]),
        (
            ["a" * 30, "b" * 30, "c" * 30],
            ["  label      " + "a" * 30 + " " + "b" * 30, " " * 13 + "c" * 30],
        ),
        # an item that fits the value column stays whole, one that does not breaks at spaces
        (
            ["x" * 55, "kept on one line"],
            ["  label      " + "x" * 55, " " * 13 + "kept on one line"],
        ),
        (
            [("word " * 20).strip()],
            ["  label      " + ("word " * 13).strip(), " " * 13 + ("word " * 7).strip()],
        ),
    ],
)
def test_fill(items, lines):
    assert cb.fill("label", items) == lines


def test_printf_command():
    assert cb.printf_command(b"a'b\n") == "printf %s 'a'\"'\"'b\n'"
    assert cb.printf_command(b"\x00\x01 ") == "printf '\\000\\001\\040'"
    assert cb.printf_command(b"\xff") == "printf '\\377'"


def test_dry_run_json_masks_secrets_and_carries_the_stage():
    plan = golden_plan(Tier.INET)
    document = json.loads(cb.render_plan_json(plan))
    assert "sk-ant-api03-canary" not in cb.render_plan_json(plan)
    assert document["stage"] == cb.stage_spec(plan)
    assert document["argv"][document["argv"].index("ANTHROPIC_API_KEY") + 1] == (
        "<masked, 19 chars>"
    )
    assert document["network"] == "inet"
    assert document["watched"] == list(plan.watched)
    assert [m["describe"] for m in document["mounts"]] == [m.describe() for m in plan.mounts]
    assert document["generated"] == [
        {"fd": 10, "what": "gitconfig", "bytes": len(plan.data[0].content)},
        {"fd": 11, "what": "sandbox note", "bytes": len(plan.data[1].content)},
        {"fd": 12, "what": "seccomp filter", "bytes": 112},
        {"fd": 13, "what": "resolv.conf", "bytes": 22},
    ]


def test_the_default_audit_names_every_host_directory_a_profile_mounts():
    profile = cb.Profile(
        "web",
        "--profile",
        ("web",),
        mounts=(cb.ProfileMount("/srv/datasets", "/srv/datasets", "ro", "web"),),
    )
    assert "/srv/datasets" in audit(cb.build_plan(fh.make_host(), cb.Options(profile=profile)))
