"""The zipapp: built by build.py with shiv, reproducible, runs --version and --dry-run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
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


def files_below(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_a_copied_pyz_unpacks_itself_into_claudebox_state_only(tmp_path: Path) -> None:
    """Another host: the .pyz alone. shiv unpacks it on its first run of each version, --dry-run
    included (before claudebox starts), into ~/.claudebox/shiv and nowhere else."""
    pyz = tmp_path / "elsewhere" / "claudebox.pyz"
    build(pyz)
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", os.defpath)}
    for args in (["--version"], ["--dry-run"]):
        subprocess.run(
            [sys.executable, str(pyz), *args], cwd=project, env=env, check=True, capture_output=True
        )
    written = files_below(home)
    assert {path.split("/")[0] for path in written} == {"project", ".claudebox"}
    unpacked = [p for p in written if p.startswith(".claudebox/")]
    assert unpacked[:2] == [
        ".claudebox/shiv",
        f".claudebox/shiv/.claudebox.pyz_{build_id(pyz)}_lock",
    ]
    assert f".claudebox/shiv/claudebox.pyz_{build_id(pyz)}/site-packages/claudebox.py" in unpacked
    assert all(p.startswith(".claudebox/shiv") for p in unpacked)


def test_a_pyz_unpacked_ahead_writes_nothing(tmp_path: Path) -> None:
    """What the Nix package does: SHIV_ROOT names a copy unpacked at build time (read-only)."""
    pyz = tmp_path / "claudebox.pyz"
    build(pyz)
    unpacked = tmp_path / "unpacked"
    env = {"HOME": str(tmp_path / "build-home"), "SHIV_ROOT": str(unpacked), "PATH": os.defpath}
    subprocess.run([sys.executable, str(pyz), "--help"], env=env, check=True, capture_output=True)
    subprocess.run(["chmod", "-R", "a-w", str(unpacked)], check=True)
    before = files_below(unpacked)
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True)
    env = {"HOME": str(home), "SHIV_ROOT": str(unpacked), "PATH": os.environ.get("PATH", "")}
    try:
        for args in (["--version"], ["--dry-run"]):
            subprocess.run(
                [sys.executable, "-I", str(pyz), *args],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
        assert files_below(home) == ["project"]
        assert files_below(unpacked) == before  # (root ignores the a-w: checked here)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(unpacked)], check=True)


def build_id(pyz: Path) -> str:
    with zipfile.ZipFile(pyz) as archive:
        return str(json.loads(archive.read("environment.json"))["build_id"])
