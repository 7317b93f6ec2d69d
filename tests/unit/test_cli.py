"""The parser, the claude passthrough, and main()'s error paths (no traceback, right exit code)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import fakehost as fh
import pytest

import claudebox as cb
from claudebox import Tier

SCRIPT = str(Path(cb.__file__).resolve())
NO_BASH = "claudebox: warning: no bash found in the store part of PATH: SHELL is unset inside"
NO_BWRAP = "claudebox: warning: bwrap (bubblewrap) not found on PATH; install bubblewrap"
NO_CLAUDE = (
    "claudebox: warning: claude not found on PATH; install Claude Code (nixpkgs claude-code) or "
    "add it to PATH"
)
NO_PASTA = (
    "claudebox: warning: pasta not found on PATH: the inet network tier needs pasta; install "
    "passt (nixpkgs/Debian: passt) or choose another tier with --network full (or none)"
)
NO_OPENSSL = (
    "claudebox: warning: openssl not found on PATH: claudebox's login relay makes each session's "
    "certificate with it (Claude's login never enters the sandbox); install openssl "
    "(nixpkgs/Debian: openssl)"
)
ROOT = (
    "claudebox is running as root, and claude refuses --dangerously-skip-permissions as root; "
    "run claudebox as your own user"
)
# What `claude --help` (Claude Code 2.1.197) lists: none may be taken for a claudebox typo.
CLAUDE_OPTIONS = (
    "--add-dir --agent --agents --allow-dangerously-skip-permissions --allowed-tools "
    "--allowedTools --append-system-prompt --ax-screen-reader --background --bare --betas --bg "
    "--brief --chrome --continue --dangerously-skip-permissions --debug --debug-file "
    "--disable-slash-commands --disallowed-tools --disallowedTools --effort "
    "--exclude-dynamic-system-prompt-sections --fallback-model --file --fork-session --from-pr "
    "--ide --include-hook-events --include-partial-messages --input-format --json-schema "
    "--max-budget-usd --mcp-config --model --name --no-chrome --no-session-persistence "
    "--output-format --permission-mode --plugin-dir --plugin-url --print --prompt-suggestions "
    "--remote-control --remote-control-session-name-prefix --replay-user-messages --resume "
    "--safe-mode --session-id --setting-sources --settings --strict-mcp-config --system-prompt "
    "--tmux --tools --verbose --worktree"
).split()


def claude_args_for(argv):
    """The claude arguments exactly as _main composes them."""
    ours, verbatim = cb.split_argv(argv)
    args, passthrough = cb.build_parser().parse_known_args(ours)
    return args, [*passthrough, *verbatim]


# --- parser ---------------------------------------------------------------------------------


def test_parser_does_not_abbreviate():
    parser = cb.build_parser()
    assert parser.allow_abbrev is False
    args, rest = parser.parse_known_args(["--dry", "--net", "none", "--ch"])
    assert (args.dry_run, args.network, args.check) == (False, None, False)
    assert rest == ["--dry", "--net", "none", "--ch"]


def test_passthrough_composition():
    args, claude = claude_args_for(["-y", "-p", "hi", "--model", "x", "--", "--dry-run"])
    assert args.yes is True
    assert args.dry_run is False
    assert claude == ["-p", "hi", "--model", "x", "--dry-run"]


def test_passthrough_keeps_order_and_values():
    args, claude = claude_args_for(
        ["--resume", "abc", "--network", "none", "-c", "--", "-y", "--", "--version"]
    )
    assert args.network == "none"
    assert args.yes is False
    assert claude == ["--resume", "abc", "-c", "-y", "--", "--version"]


@pytest.mark.parametrize(
    ("argv", "ours", "verbatim"),
    [
        ([], [], []),
        (["-y"], ["-y"], []),
        (["--"], [], []),
        (["-y", "--", "--", "x"], ["-y"], ["--", "x"]),
        (["a", "--", "b", "--dry-run"], ["a"], ["b", "--dry-run"]),
    ],
)
def test_split_argv(argv, ours, verbatim):
    assert cb.split_argv(argv) == (ours, verbatim)


def test_version(capsys):
    assert cb.main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"claudebox {cb.__version__}"
    assert [line.split(":")[0] for line in lines[1:]] == ["bwrap", "pasta"]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as info:
        cb.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: claudebox [CLAUDEBOX OPTIONS] [CLAUDE ARGS ...]\n")
    assert "--dry-run" in out


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["--stage", "{}", "--", "bwrap"],
            "--stage: not a stage spec ('pins'); paste the whole",
        ),
        (["--stage", "not json", "--", "bwrap"], "--stage: not a stage spec (Expecting value"),
        (
            [
                "--stage",
                '{"network": false, "blocked": [["10.0.0.0/33", "x"]], "pins": [], "opened": []}',
            ],
            "--stage: not a stage spec (",
        ),
    ],
)
def test_a_bad_stage_spec_is_one_error_line(capsys, argv, error):
    assert cb.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"claudebox: error: {error}")
    assert err.count("\n") == 1


STAGE = {
    "network": False,
    "blocked": [],
    "pins": [],
    "opened": [],
    "pasta": None,
    "runtime_dir": "/nonexistent",
    "listen": [],
    "sealed": False,
}
RELAY_SPEC = cb.relay_spec(
    cb.Relay(cb.Tunnel.ANY, (), (), (), "/nonexistent", cb.Login("/c", (), "", "", "o", "i"), True)
)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"relay": None, "launch_data": {}}, "'NoneType' object is not subscriptable"),  # older
        ({"relay": RELAY_SPEC}, "'launch_data'"),
        ({"relay": RELAY_SPEC, "launch_data": {"BOGUS": 11}}, "'BOGUS'"),
        ({"relay": RELAY_SPEC, "launch_data": [11]}, "'list' object has no attribute 'items'"),
        ({"relay": {**RELAY_SPEC, "tunnel": "lan"}, "launch_data": {}}, "'lan' is not a valid"),
    ],
)
def test_a_stage_spec_without_its_relay_or_launch_data_is_refused(capsys, spec, reason):
    assert cb.main(["--stage", json.dumps({**STAGE, **spec}), "--", "bwrap"]) == 2
    assert capsys.readouterr().err.startswith(
        f"claudebox: error: --stage: not a stage spec ({reason}"
    )


def test_bad_network_choice_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cb.main(["--network", "lan"])
    assert info.value.code == 2
    assert "claudebox: error: argument --network: invalid choice: 'lan'" in capsys.readouterr().err


# --- typos: an option meant for claudebox is not silently handed to claude ---------------------


@pytest.mark.parametrize(
    ("argument", "meant"),
    [
        ("--netwrok", "--network"),
        ("--network=ful", "--network"),
        ("--net", "--network"),
        ("--dryrun", "--dry-run"),
        ("--dry", "--dry-run"),
        ("--shel", "--shell"),
        ("--profle=web", "--profile"),
        ("--chek", "--check"),
        ("--jsno", "--json"),
        ("--yse", "--yes"),
        ("--detials", "--details"),
        ("--list-profile", "--list-profiles"),
        ("--show-profle", "--show-profile"),
        ("--completion", "--completions"),
        ("--verison", "--version"),
        ("--take-histroy", "--take-history"),
        ("--take-hist", "--take-history"),
    ],
)
def test_near_miss_names_the_option_meant(argument, meant):
    assert cb.near_miss(argument, cb.build_parser()) == meant


@pytest.mark.parametrize("argument", [*CLAUDE_OPTIONS, "--ch", "-p", "--", "-c", "--x"])
def test_near_miss_leaves_claude_options_alone(argument):
    assert cb.near_miss(argument, cb.build_parser()) is None


@pytest.mark.parametrize(
    ("left", "right", "distance"),
    [
        ("", "", 0),
        ("network", "network", 0),
        ("netwrok", "network", 1),  # a swap of neighbours counts once
        ("dryrun", "dry-run", 1),
        ("shel", "shell", 1),
        ("bg", "gc", 2),
        ("verbose", "version", 4),
        ("print", "profile", 4),
        ("", "abc", 3),
    ],
)
def test_edit_distance(left, right, distance):
    assert cb.edit_distance(left, right) == distance
    assert cb.edit_distance(right, left) == distance


# --- the network tier: flag > CLAUDEBOX_NETWORK > profile > default ---------------------------

PROFILE_NONE = cb.Profile("web", "--profile", ("web",), network=(Tier.NONE, "web"))


@pytest.mark.parametrize(
    ("flag", "env", "profile", "chosen"),
    [
        ("full", {"CLAUDEBOX_NETWORK": "none"}, PROFILE_NONE, (Tier.FULL, "--network")),
        (None, {"CLAUDEBOX_NETWORK": "full"}, PROFILE_NONE, (Tier.FULL, "CLAUDEBOX_NETWORK")),
        (None, {"CLAUDEBOX_NETWORK": ""}, PROFILE_NONE, (Tier.NONE, "profile web")),
        (None, {}, PROFILE_NONE, (Tier.NONE, "profile web")),
        (None, {}, PROFILE_NONE._replace(network=None), (Tier.INET, "default")),
        (None, {}, None, (Tier.INET, "default")),
        ("none", {"CLAUDEBOX_NETWORK": "lan"}, None, (Tier.NONE, "--network")),
    ],
)
def test_choose_tier_precedence(flag, env, profile, chosen):
    assert cb.choose_tier(flag, env, profile) == chosen


def test_choose_tier_refuses_a_bad_variable():
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.choose_tier(None, {"CLAUDEBOX_NETWORK": "lan"}, PROFILE_NONE)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        "CLAUDEBOX_NETWORK: unknown network tier 'lan'; use one of full, inet, allowlist, none"
    )


# --- the real script in a controlled environment ----------------------------------------------


# claudebox refuses root (claude would): run as root (CI), the script runs as uid 1000 in a user
# namespace of its own, which sees the test's files as its own.
UNSHARE = shutil.which("unshare") or "unshare"
AS_USER = [UNSHARE, "--user", "--map-user=1000", "--map-group=1000"] if os.geteuid() == 0 else []
AS_ROOT = [] if os.geteuid() == 0 else [UNSHARE, "--user", "--map-root-user"]


class Box:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.home = tmp_path / "home"
        self.bin = tmp_path / "bin"
        self.project = self.home / "src" / "proj"
        self.project.mkdir(parents=True)
        self.bin.mkdir()
        (self.home / ".claude").mkdir()
        (self.home / ".claude" / ".credentials.json").write_text("{}")
        # The host's CA bundle (the relay's): a Nix build sandbox has none in /etc.
        self.bundle = tmp_path / "ca-bundle.crt"
        self.bundle.write_text("")

    def tool(self, name: str, body: str = "exit 99") -> Path:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        return path

    def link(self, name: str) -> None:
        target = shutil.which(name)
        assert target, f"{name} needed on the test host"
        (self.bin / name).symlink_to(target)

    def run(self, *args: str, cwd: Path | None = None, user=AS_USER, **env: str):
        full_env = {"HOME": str(self.home), "PATH": str(self.bin)}
        full_env |= {"SSL_CERT_FILE": str(self.bundle), **env}
        return subprocess.run(
            [*user, sys.executable, SCRIPT, *args],
            cwd=cwd or self.project,
            env=full_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # no controlling terminal
            timeout=60,
            check=False,
        )


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


def assert_one_error_line(result, code, starts):
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("claudebox: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(starts), errors[0]
    assert "Traceback" not in result.stderr
    return errors[0]


def pasted(dry_run_output: str) -> tuple[dict[str, object], list[str]]:
    """The --dry-run output's command, as bash parses it (env stubbed out): the stage spec and
    the bwrap argv (the host setup lines before it are not run)."""
    script = fh.bash_script(dry_run_output)
    command = script[script.index("\nenv -i ") + 1 :]
    stub = "env() { printf '%s\\0' \"$@\"; }\n"
    out = subprocess.run(["bash", "-c", stub + command], capture_output=True, check=True).stdout
    words = out.decode().split("\0")[:-1]
    assert words[:7] == ["-i", sys.executable, "-I", SCRIPT, "--stage", words[5], "--"]
    return json.loads(words[5]), words[7:]


def test_invalid_extra_env(box):
    result = box.run("--dry-run", CLAUDEBOX_EXTRA_ENV="GH_HOST,X-Y")
    assert result.stderr == (
        "claudebox: error: CLAUDEBOX_EXTRA_ENV: 'X-Y' is not a variable name; list names "
        "separated by commas, e.g. CLAUDEBOX_EXTRA_ENV=GH_HOST,NPM_TAG\n"
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_project_is_home(box):
    result = box.run("--dry-run", cwd=box.home)
    home = os.path.realpath(box.home)
    assert result.stderr == (
        f"claudebox: error: the project directory is your home directory ({home}), which "
        "holds your keys; run claudebox from a project directory\n"
    )
    assert result.returncode == 2


def test_unknown_network_from_env(box):
    result = box.run("--dry-run", CLAUDEBOX_NETWORK="lan")
    assert result.stderr == (
        "claudebox: error: CLAUDEBOX_NETWORK: unknown network tier 'lan'; "
        "use one of full, inet, allowlist, none\n"
    )
    assert result.returncode == 2


def test_a_typo_of_a_claudebox_option_is_an_error_not_a_claude_argument(box):
    box.tool("claude")
    result = box.run("--dry-run", "--netwrok", "none")
    assert result.stderr == (
        "claudebox: error: unknown option --netwrok; did you mean --network? "
        "(options for claude itself go after --: claudebox -- --netwrok)\n"
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_dry_run_without_claude_warns_and_creates_nothing(box):
    before = fh.tree(box.root)
    result = box.run("--dry-run", "--network", "full")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [NO_BASH, NO_BWRAP, NO_CLAUDE, NO_OPENSSL]
    assert "--dangerously-skip-permissions" in result.stdout
    assert fh.tree(box.root) == before


def test_dry_run_end_to_end_passthrough_and_nothing_created(box):
    claude = box.tool("claude")
    box.tool("bwrap")
    box.link("git")
    subprocess.run(["git", "init", "-q", str(box.project)], check=True)
    (box.project / "sub").mkdir()
    before = fh.tree(box.root)
    result = box.run(
        "--dry-run",
        "--network",
        "full",
        "-y",
        "-p",
        "hi",
        "--model",
        "x",
        "--verbose",
        "--",
        "--dry-run",
        "-y",
        cwd=box.project / "sub",
    )
    assert result.returncode == 0, result.stderr
    # no /nix/store on PATH here, no openssl
    assert result.stderr.splitlines() == [NO_BASH, NO_OPENSSL]
    spec, argv = pasted(result.stdout)
    claude = os.path.realpath(claude)
    command = [
        "--",
        claude,
        "--dangerously-skip-permissions",
        "--settings",
        '{"skipDangerousModePermissionPrompt":true}',
        "-p",
        "hi",
        "--model",
        "x",
        "--verbose",
        "--dry-run",
        "-y",
    ]
    assert argv[-len(command) :] == command
    project = os.path.realpath(box.project)
    opened = {path: fd for fd, path in spec["opened"]}
    assert argv[argv.index(project) - 2 : argv.index(project) + 1] == [
        "--bind-fd",
        str(opened[project]),
        project,
    ]
    assert argv[argv.index("--chdir") + 1] == f"{project}/sub"
    assert [project + "/.git/hooks", "directory", True, ""] in spec["pins"]
    assert spec["pasta"] is None
    assert "--setenv" not in argv  # the environment is bwrap's --args data
    clearenv = argv.index("--clearenv")
    assert argv[clearenv : clearenv + 5] == ["--clearenv", "--args", "10", "--args", "11"]
    assert spec["launch_data"] == {
        "LOGIN_ENV": 11,
        "LOGIN_CA": 12,
        "CREDENTIALS": 13,
        "BOOT_ID": 14,
    }
    assert (spec["relay"]["tunnel"], spec["relay"]["on_host"]) == ("any", True)
    assert fh.tree(box.root) == before


def test_launch_without_claude(box):
    box.tool("bwrap")  # never reached: the missing claude is reported first
    result = box.run("--yes")
    line = assert_one_error_line(result, 127, "claudebox: error: ")
    assert line == (
        "claudebox: error: claude not found on PATH; install Claude Code (nixpkgs claude-code) "
        "or add it to PATH"
    )


def test_launch_without_bwrap(box):
    box.tool("claude")
    result = box.run("--yes")
    line = assert_one_error_line(result, 127, "claudebox: error: ")
    assert line == "claudebox: error: bwrap (bubblewrap) not found on PATH; install bubblewrap"


def test_launch_without_openssl(box):
    box.tool("claude")
    box.tool("bwrap")
    result = box.run("--yes", "--network", "none")
    line = assert_one_error_line(result, 127, "claudebox: error: ")
    assert line == NO_OPENSSL.replace("warning", "error")


def test_no_terminal_without_yes(box):
    box.tool("claude")
    box.tool("bwrap")
    box.tool("openssl")
    result = box.run("--network", "none")
    line = assert_one_error_line(result, 2, "claudebox: error: ")
    assert line == (
        "claudebox: error: no terminal to confirm the launch on; review it with --dry-run, "
        "then pass --yes"
    )


def test_root_is_refused_before_anything_runs(box):
    box.tool("claude")
    box.tool("bwrap")
    before = fh.tree(box.root)
    result = box.run("--yes", "--network", "none", user=AS_ROOT)
    assert result.stderr == f"claudebox: error: {ROOT}\n"
    assert result.returncode == 2
    assert fh.tree(box.root) == before


def test_dry_run_default_inet_tier_warns_about_pasta(box):
    box.tool("claude")
    box.tool("bwrap")
    result = box.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [NO_BASH, NO_OPENSSL, NO_PASTA]
    spec, _argv = pasted(result.stdout)
    assert spec["network"] is True
    assert spec["pasta"] == ["pasta", *cb.PASTA_OPTIONS]
    assert [prefix for prefix, _origin in spec["blocked"][:7]] == list(cb.INET_BLOCKED)


# --- --take-history -------------------------------------------------------------------------


def test_the_parser_takes_take_history():
    args, claude = claude_args_for(["--take-history", "../old"])
    assert (args.take_history, claude) == ("../old", [])
    assert claude_args_for([])[0].take_history is None


def instance_of(box: Box, project: Path) -> Path:
    state = os.path.join(os.path.realpath(box.home), ".claudebox")
    return Path(cb.instance_for(os.path.realpath(project), state).dir)


def old_project(box: Box) -> tuple[str, Path]:
    """The instance of a project that was at ~/src/old (gone now)."""
    old = os.path.join(os.path.realpath(box.home), "src", "old")
    instance = instance_of(box, Path(old))
    (instance / "claude" / "projects" / cb.transcript_slug(old)).mkdir(parents=True)
    (instance / "root").write_text(old + "\n")
    return old, instance


def test_take_history_of_a_directory_without_state_is_one_error_line(box):
    before = fh.tree(box.root)
    result = box.run("--take-history", str(box.home / "src" / "gone"))
    line = assert_one_error_line(result, 2, "claudebox: error: no claudebox state for ")
    assert line.endswith("; name the directory the project was in when claudebox last ran there")
    assert result.stdout == ""
    assert fh.tree(box.root) == before


def test_take_history_of_this_project_is_one_error_line(box):
    result = box.run("--take-history", ".")
    line = assert_one_error_line(result, 2, "claudebox: error: ")
    assert line == (
        f"claudebox: error: {os.path.realpath(box.project)} is this project; nothing to take"
    )


def test_take_history_when_this_project_has_state_is_one_error_line(box):
    old, instance = old_project(box)
    instance_of(box, box.project).mkdir(parents=True)
    result = box.run("--take-history", old)
    line = assert_one_error_line(result, 2, "claudebox: error: this project already has ")
    assert line.endswith(f"move it away first if the history of {old} should replace it")
    assert (instance / "root").read_text() == old + "\n"


def test_take_history_moves_the_old_projects_instance_here(box):
    old, instance = old_project(box)
    result = box.run("--take-history", old)
    assert result.returncode == 0, result.stderr
    new = instance_of(box, box.project)
    assert result.stdout == (
        f"took the history of {old} ({instance.name}) for {os.path.realpath(box.project)} "
        f"({new.name})\n"
    )
    assert not instance.exists()
    assert (
        new / "claude" / "projects" / cb.transcript_slug(os.path.realpath(box.project))
    ).is_dir()
