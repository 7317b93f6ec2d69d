"""The zipapp: built by build.py with shiv, reproducible, runs --version and --dry-run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build(output: Path) -> str:
    subprocess.run(
        [sys.executable, str(REPO / "build.py"), "--output", str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    return hashlib.sha256(output.read_bytes()).hexdigest()


def test_pyz_builds_reproducibly_and_runs(tmp_path: Path) -> None:
    first = build(tmp_path / "a" / "claudebox.pyz")
    second = build(tmp_path / "b" / "claudebox.pyz")
    assert first == second
    pyz = tmp_path / "a" / "claudebox.pyz"
    version = subprocess.run(
        [sys.executable, str(pyz), "--version"], check=True, capture_output=True, text=True
    )
    module_version = subprocess.run(
        [sys.executable, str(REPO / "claudebox.py"), "--version"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert version.stdout == module_version.stdout
    assert version.stdout.startswith("claudebox ")


def test_pyz_dry_run_equals_module_dry_run(tmp_path: Path) -> None:
    pyz = tmp_path / "claudebox.pyz"
    build(pyz)
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SHIV_ROOT": str(tmp_path / "shiv"),
    }
    outputs = [
        subprocess.run(
            [sys.executable, str(program), "--dry-run"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.replace(str(program), "CLAUDEBOX")  # the pasted --stage runs this claudebox
        for program in (pyz, (REPO / "claudebox.py").resolve())
    ]
    assert outputs[0] == outputs[1]
    assert "-I CLAUDEBOX --stage" in outputs[0]
    assert "--dangerously-skip-permissions" in outputs[0]
