"""The parser, the claude passthrough, and main()'s error paths (no traceback, right exit code)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import claudebox as cb

SCRIPT = str(Path(cb.__file__).resolve())
NO_BASH = "claudebox: warning: no bash found in the store part of PATH: SHELL is unset inside"


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


def test_bad_network_choice_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cb.main(["--network", "lan"])
    assert info.value.code == 2
    assert "claudebox: error: argument --network: invalid choice: 'lan'" in capsys.readouterr().err


# --- the real script in a controlled environment ----------------------------------------------


def tree(root: Path) -> dict[str, tuple[str, int, float]]:
    """Every entry under root: kind, mode, mtime (a listing that any creation would change)."""
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        out[str(path.relative_to(root))] = (kind, st.st_mode, st.st_mtime_ns)
    return out


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

    def tool(self, name: str, body: str = "exit 99") -> Path:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        return path

    def link(self, name: str) -> None:
        target = shutil.which(name)
        assert target, f"{name} needed on the test host"
        (self.bin / name).symlink_to(target)

    def run(self, *args: str, cwd: Path | None = None, **env: str):
        full_env = {"HOME": str(self.home), "PATH": str(self.bin), **env}
        return subprocess.run(
            [sys.executable, SCRIPT, *args],
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
    line = assert_one_error_line(result, 2, "claudebox: error: unknown network tier 'lan'")
    assert result.stderr == line + "\n"


def test_dry_run_without_claude_warns_and_creates_nothing(box):
    before = tree(box.root)
    result = box.run("--dry-run", "--network", "full")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "claudebox: warning: claude was not found on PATH: install Claude Code or add it to PATH",
        NO_BASH,
    ]
    assert "--dangerously-skip-permissions" in result.stdout
    assert tree(box.root) == before


def command_line(dry_run_output: str) -> list[str]:
    line = next(line for line in dry_run_output.splitlines() if line.startswith("  -- "))
    return shlex.split(line.removesuffix(" \\"))


def test_dry_run_end_to_end_passthrough_and_nothing_created(box):
    claude = box.tool("claude")
    box.link("git")
    subprocess.run(["git", "init", "-q", str(box.project)], check=True)
    (box.project / "sub").mkdir()
    before = tree(box.root)
    result = box.run(
        "--dry-run",
        "--network",
        "full",
        "-y",
        "-p",
        "hi",
        "--model",
        "x",
        "--dry",
        "--",
        "--dry-run",
        "-y",
        cwd=box.project / "sub",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [NO_BASH]  # no /nix/store on PATH here
    assert command_line(result.stdout) == [
        "--",
        os.path.realpath(claude),
        "--dangerously-skip-permissions",
        "--settings",
        '{"skipDangerousModePermissionPrompt":true}',
        "-p",
        "hi",
        "--model",
        "x",
        "--dry",
        "--dry-run",
        "-y",
    ]
    project = os.path.realpath(box.project)
    assert f"  --bind {project} {project} \\\n" in result.stdout
    assert f"  --chdir {project}/sub \\\n" in result.stdout
    assert tree(box.root) == before


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
    assert "bubblewrap" in line


def test_no_terminal_without_yes(box):
    box.tool("claude")
    box.tool("bwrap")
    result = box.run()
    line = assert_one_error_line(result, 2, "claudebox: error: ")
    assert "--yes" in line
    assert line == (
        "claudebox: error: no terminal to confirm the launch on; review it with --dry-run, "
        "then pass --yes"
    )


def test_dry_run_default_inet_tier_warns_about_pasta(box):
    box.tool("claude")
    result = box.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        NO_BASH,
        "claudebox: warning: pasta was not found on PATH: the inet tier needs it "
        "(install passt, or use --network full)",
    ]
    assert result.stdout.count("\nenv -i pasta \\\n") == 1
