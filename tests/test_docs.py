"""The README keeps up with the code: its --help copy, every error message, the completions."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import claudebox

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
IN_CI = os.environ.get("CI") == "true"
# The test's own PATH, never a fixed /usr/bin:/bin: a Nix build sandbox has no /usr/bin.
PATH = os.environ.get("PATH", os.defpath)


def help_block() -> str:
    match = re.search(r"<!-- claudebox --help[^\n]*-->\n```\n(.*?)```\n", README, re.S)
    assert match, "README lacks the --help block"
    return match.group(1)


def test_readme_cli_section_equals_help_output() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "claudebox.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": PATH, "COLUMNS": "40"},  # the width is fixed, whatever COLUMNS says
    )
    assert help_block() == result.stdout


def constant_text(node: ast.expr) -> list[str]:
    """The literal pieces of a message (f-string placeholders split it)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        pieces, current = [], ""
        for value in node.values:
            if isinstance(value, ast.Constant):
                current += str(value.value)
            else:
                pieces.append(current)
                current = ""
        return [*pieces, current]
    return []


def error_messages() -> list[tuple[int, str]]:
    """(line, longest literal piece) of every message a user can see as `claudebox: error:`."""
    tree = ast.parse((REPO / "claudebox.py").read_text())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "ClaudeboxError" and node.args:
            pieces = constant_text(node.args[0])
        elif node.func.id == "error" and len(node.args) == 2:  # parse_profile: "file: key: problem"
            pieces = constant_text(node.args[1])
        else:
            continue
        longest = max((p.strip(" :;.,()") for p in pieces), key=len, default="")
        if longest:
            found.append((node.lineno, longest))
    for node in ast.walk(tree):  # messages returned to a ClaudeboxError(variable)
        if isinstance(node, ast.FunctionDef) and node.name in (
            "userns_blocker",
            "foreign_work_tree",
        ):
            for returned in ast.walk(node):
                if isinstance(returned, ast.Return) and returned.value is not None:
                    pieces = constant_text(returned.value)
                    if pieces:
                        found.append((returned.lineno, max(pieces, key=len).strip(" :;.,()")))
    return found


def test_every_error_message_is_in_the_troubleshooting_section() -> None:
    troubleshooting = README[README.index("## Troubleshooting") :]
    flat = " ".join(troubleshooting.split())
    messages = error_messages()
    assert len(messages) > 40  # the scan found the messages at all
    missing = [
        f"claudebox.py:{line}: {text!r}"
        for line, text in messages
        if " ".join(text.split()) not in flat
    ]
    assert missing == []


@pytest.mark.parametrize(
    "table", [claudebox.STATE_WRITE_FIXES, claudebox.UNSHARE_FAILURES], ids=["state", "unshare"]
)
def test_every_fix_by_errno_is_in_the_troubleshooting_section(table: dict[int, str]) -> None:
    """The fixes chosen by errno are messages too (their {fields} are the "…" there)."""
    flat = " ".join(README[README.index("## Troubleshooting") :].split())
    missing = [
        piece
        for fix in table.values()
        for piece in re.split(r"\{\w+\}", fix)
        if piece.strip(" :;.,()") and " ".join(piece.split()).strip() not in flat
    ]
    assert missing == []


def test_troubleshooting_links_point_at_sections() -> None:
    troubleshooting = README[README.index("## Troubleshooting") :]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", README, re.M)
    }
    anchors = set(re.findall(r"\]\(#([a-z0-9-]+)\)", troubleshooting))
    assert anchors
    # GitHub numbers repeated headings: "profiles" then "profiles-1".
    assert anchors <= headings | {f"{h}-1" for h in headings}


def test_install_snippets_pick_the_package_by_host_platform() -> None:
    """`pkgs.system` warns on nixpkgs 25.11 and later; the home-manager snippet's `inputs`
    reaches the module only through extraSpecialArgs, which the README must say."""
    install = README[README.index("## Install on NixOS") : README.index("### Where claudebox")]
    snippets = re.findall(r"```nix\n(.*?)```", install, re.S)
    chosen = [s for s in snippets if "claudebox.packages." in s]
    assert len(chosen) == 2  # the NixOS and the home-manager snippets
    for snippet in chosen:
        assert "claudebox.packages.${pkgs.stdenv.hostPlatform.system}.default" in snippet
    assert "pkgs.system" not in install
    assert "home-manager.extraSpecialArgs = { inherit inputs; };" in install


def test_bash_completion_completes_options_tiers_profiles_and_commands(tmp_path: Path) -> None:
    script = claudebox.completion_script("bash", claudebox.build_parser())
    profiles = tmp_path / ".claudebox" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "web.json").write_text("{}")
    driver = (
        f"{script}\n"
        'complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _claudebox; '
        'printf "%s\\n" "${COMPREPLY[@]}"; echo --; }\n'
        "complete_words claudebox --net\n"
        "complete_words claudebox --network ''\n"
        "complete_words claudebox --profile ''\n"
        "complete_words claudebox al\n"
        "complete_words claudebox allow example.org --save ''\n"
        "complete_words claudebox --yes al\n"
    )
    output = subprocess.run(
        ["bash", "-c", driver],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": PATH},
    ).stdout
    assert output.split("--\n")[:6] == [
        "--network\n",
        "full\ninet\nallowlist\nnone\n",
        "web\n",
        "allow\n",  # the session commands, as the first word only
        "web\n",
        "\n",  # (nothing)
    ]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completions_parse(shell: str, tmp_path: Path) -> None:
    program = shutil.which(shell)
    if program is None:
        if IN_CI:
            pytest.fail(f"{shell} is not installed (sudo make test installs it)")
        pytest.skip(f"{shell} not installed (CI installs it and fails without it)")
    script = tmp_path / f"claudebox.{shell}"
    script.write_text(claudebox.completion_script(shell, claudebox.build_parser()))
    check = (
        [program, "-n", str(script)] if shell == "zsh" else [program, "--no-execute", str(script)]
    )
    subprocess.run(check, check=True, capture_output=True)
    if shell == "fish":  # fish can also be asked what it would complete
        profiles = tmp_path / ".claudebox" / "profiles"
        profiles.mkdir(parents=True)
        (profiles / "web.json").write_text("{}")
        asked = (
            f"source {script}; "
            'complete -C "claudebox --network "; complete -C "claudebox --profile "; '
            'complete -C "claudebox al"; complete -C "claudebox allow x.org --save "'
        )
        output = subprocess.run(
            [program, "-c", asked],
            capture_output=True,
            text=True,
            check=True,
            env={"HOME": str(tmp_path), "PATH": PATH},
        ).stdout
        assert [line.split("\t")[0] for line in output.splitlines()] == [
            "allowlist",  # fish sorts the choices
            "full",
            "inet",
            "none",
            "web",
            "allow",
            "web",
        ]
