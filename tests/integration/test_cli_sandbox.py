"""CLI behaviour against the real sandbox: --shell, --dry-run --json, the audit's size."""

from __future__ import annotations

import json
import subprocess

from harness import BASH_STORE, HOME_ENTRIES, PYTHON, Box


def test_shell_is_a_bash_in_the_same_sandbox(box: Box) -> None:
    result = subprocess.run(
        box.command(["--yes", "--shell"]),
        input='echo "$0"; ls -A ~ | sort | tr "\\n" " "; exit 7\n',
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,
    )
    assert result.returncode == 7, result.stderr
    shell, home = result.stdout.splitlines()
    assert shell == f"{BASH_STORE}/bin/bash"
    assert home.split() == HOME_ENTRIES
    assert "--dangerously-skip-permissions" not in result.stderr


def test_dry_run_json_describes_the_plan_with_secrets_masked(box: Box) -> None:
    """The plan as JSON: a secret-looking variable's value masked, a login variable's value
    null (the relay sets its placeholder at launch; the real key never enters)."""
    result = box.run(
        "--dry-run",
        "--json",
        "-p",
        "hi",
        env={
            "ANTHROPIC_API_KEY": "sk-ant-xyz",
            "MY_TOKEN": "tok-abc",
            "CLAUDEBOX_EXTRA_ENV": "MY_TOKEN",
        },
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert "sk-ant-xyz" not in result.stdout and "tok-abc" not in result.stdout
    assert plan["network"] == "inet"
    assert plan["cwd"] == str(box.project)
    assert plan["command"][1:] == [
        "--dangerously-skip-permissions",
        "--settings",
        '{"skipDangerousModePermissionPrompt":true}',
        "-p",
        "hi",
    ]
    env = {item["name"]: item for item in plan["env"]}
    assert env["ANTHROPIC_API_KEY"] == {
        "name": "ANTHROPIC_API_KEY",
        "value": None,
        "origin": "claudebox's login relay",
    }
    assert env["MY_TOKEN"]["value"] == "<masked, 7 chars>"
    assert env["HOME"] == {"name": "HOME", "value": str(box.home), "origin": "sandbox"}
    modes = {mount["dst"]: mount["mode"] for mount in plan["mounts"]}
    assert modes[str(box.project)] == "rw"
    assert modes["/nix/store"] == "ro"
    assert plan["argv"][0].endswith("bwrap")
    assert plan["stage"]["network"] is True
    assert plan["stage"]["pasta"][0].endswith("pasta")
    assert "--no-map-gw" in plan["stage"]["pasta"]
    assert not (box.home / ".claudebox").exists()  # --dry-run creates nothing


def test_the_default_audit_fits_on_a_screen(box: Box) -> None:
    result = box.probe("true")
    assert result.returncode == 0, result.stderr
    audit = result.stderr.splitlines()
    assert audit[0].startswith("claudebox ")
    assert len(audit) < 42, "\n".join(audit)


def test_yes_prints_one_summary_line_and_details_the_whole_audit(box: Box) -> None:
    confirmed = box.probe("true")
    assert confirmed.returncode == 0, confirmed.stderr
    summary = [line for line in confirmed.stderr.splitlines() if "claudebox 0.2.0" in line]
    assert summary == [
        "claudebox 0.2.0: sandbox for ~/proj: inet (default) (--details: the audit)"
    ], confirmed.stderr
    assert "  writable   " not in confirmed.stderr
    details = box.probe("true", options=["--details"])
    assert details.returncode == 0, details.stderr
    assert f"claudebox 0.2.0: sandbox for {box.project}\n" in details.stderr
    assert "  mounts\n" in details.stderr and "  writable   " in details.stderr


def test_a_project_that_is_a_claudebox_checkout_is_warned_about(box: Box) -> None:
    """The sandbox can rewrite a checkout's claudebox.py, which the host runs next: the
    launch warns in full, --yes too, whichever claudebox runs."""
    box.write(box.project / "claudebox.py", box.module.read_text(), mode=0o644)
    box.write(box.project / "flake.nix", '{ description = "claudebox"; }\n', mode=0o644)
    result = box.probe("true")
    assert result.returncode == 0, result.stderr
    joined = " ".join(result.stderr.split())
    assert (
        f"warning the project holds claudebox itself ({box.project}/claudebox.py): the sandbox "
        "can change it" in joined
    ), result.stderr
    from_inside = box.as_user([PYTHON, str(box.project / "claudebox.py"), "--dry-run"])
    ran = subprocess.run(
        from_inside, env=box.env(), cwd=box.project, capture_output=True, text=True, check=False
    )
    assert f"claudebox: warning: the project holds claudebox itself ({box.project}/" in ran.stderr
