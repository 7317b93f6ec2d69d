"""claudebox's flake with a real nix (Debian's 2.8, its build sandbox on): `nix flake check`,
the package it builds, `nix fmt`, against stand-in nixpkgs and nix-index-database flakes kept
under tests/nix (their functions check the arguments flake.nix gives them; see nixlab.py).

`make flake-check` runs this module alone.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import REPO
from nixlab import NIX_FLAGS, STAND_INS, NixLab, NixUser, materialize_nixpkgs, readable_tree

import claudebox

SYSTEM = f"{platform.machine()}-linux"


@dataclass(frozen=True)
class FlakeLab:
    user: NixUser
    root: Path
    overrides: tuple[str, ...]  # --override-input NAME REF for both stand-ins

    def copy_repository(self, name: str, extra: dict[str, str] | None = None) -> Path:
        """The repository's files as a fresh clone has them (plus uncommitted changes, plus
        `extra` files), owned by the test user; a flake.lock is never written into it."""
        target = self.root / name
        target.mkdir()
        for relative, content in (extra or {}).items():
            (target / relative).write_text(content)
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            check=True,
            capture_output=True,
        ).stdout.decode()
        for relative in filter(None, listed.split("\0")):
            source = REPO / relative
            if source.is_file():
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / relative)
        readable_tree(target)
        if os.geteuid() == 0:
            subprocess.run(
                ["chown", "-R", f"{self.user.user.pw_uid}:{self.user.user.pw_gid}", str(target)],
                check=True,
            )
        return target

    def nix(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.user.nix(*args, cwd=cwd, timeout=1200)


@pytest.fixture(scope="module")
def flake_lab(nixlab: NixLab) -> Iterator[FlakeLab]:
    root = Path(tempfile.mkdtemp(prefix="claudebox-flake-", dir="/tmp"))
    root.chmod(0o755)
    try:
        nixpkgs = materialize_nixpkgs(root / "nixpkgs", host_programs=True)
        index = root / "nix-index-database"
        shutil.copytree(STAND_INS / "stand-in-nix-index-database", index)
        readable_tree(index)
        nixpkgs_ref = nixlab.user.store_ref(nixpkgs)
        index_ref = nixlab.user.store_ref(
            index, "--override-input", "nixpkgs", nixpkgs_ref, "--no-write-lock-file"
        )
        overrides = (
            *("--override-input", "nixpkgs", nixpkgs_ref),
            *("--override-input", "nix-index-database", index_ref),
            "--no-write-lock-file",
        )
        yield FlakeLab(nixlab.user, root, overrides)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Each is evaluated (and, for the shellcheck case, built) against the stand-in nixpkgs: the
# stand-ins would not catch a wrong call in flake.nix if they took these.
REFUSED = [
    ('pkgs.writeShellApplication { name = "x"; text = ""; runtimeInput = [ ]; }', "runtimeInput"),
    ('pkgs.writeShellApplication { name = "x"; text = "echo $1"; }', "SC2086"),
    ('pkgs.stdenvNoCC.mkDerivation { name = "x"; buildphase = ""; }', "buildphase"),
    ('pkgs.stdenvNoCC.mkDerivation { name = "x"; meta.licence = null; }', "licence"),
    ('pkgs.runCommand "x" { nativeBuildInput = [ ]; } ""', "nativeBuildInput"),
    ('pkgs.symlinkJoin { name = "x"; paths = [ ]; postbuild = ""; }', "postbuild"),
    ("pkgs.python3.withPackages (ps: [ ps.pytets ])", "attribute 'pytets' missing"),
    ("pkgs.mkShell { package = [ ]; }", "unknown argument(s) package"),
    ("pkgs.claude-code", "has an unfree license"),
    ("pkgs.lib.getExe pkgs.broken", "has no meta.mainProgram"),
    ("pkgs.lib.fileset.toSource { root = /.; fileset = /nonexistent; }", "does not exist"),
]


@pytest.mark.parametrize(("expression", "refusal"), REFUSED)
def test_the_stand_ins_refuse_what_nixpkgs_would_not_take(
    flake_lab: FlakeLab, expression: str, refusal: str
) -> None:
    nixpkgs = flake_lab.overrides[2]
    pkgs = f'(builtins.getFlake "{nixpkgs}").legacyPackages.{SYSTEM}'
    result = flake_lab.nix("build", "--no-link", "--expr", f"let pkgs = {pkgs}; in {expression}")
    assert result.returncode != 0
    assert refusal in result.stderr, result.stderr[-2000:]
    if refusal[0].islower() and " " not in refusal:  # an argument nixpkgs does not know
        assert f"unknown argument(s) {refusal}" in result.stderr


@pytest.fixture(scope="module")
def repository(flake_lab: FlakeLab) -> Path:
    return flake_lab.copy_repository("repository")


def test_nix_flake_check_passes(flake_lab: FlakeLab, repository: Path) -> None:
    result = flake_lab.nix("flake", "check", "-L", *flake_lab.overrides, f"path:{repository}")
    assert result.returncode == 0, result.stderr[-6000:]


def github_url_as_lock_original(url: str) -> dict[str, str]:
    """`github:OWNER/REPO[/REF]` as nix writes it in a lock node's `original`."""
    scheme, _, path = url.partition(":")
    assert scheme == "github", url
    owner, repo, *ref = path.split("/")
    return {"type": "github", "owner": owner, "repo": repo} | ({"ref": ref[0]} if ref else {})


def test_the_committed_lock_pins_flake_nix_s_inputs(flake_lab: FlakeLab, repository: Path) -> None:
    """flake.lock (README "Install on NixOS"): each input of flake.nix locked to a GitHub revision
    with its narHash, nix-index-database on the same nixpkgs, and nix takes the lock as it is
    (no override, no relocking). The narHashes themselves are not checked here: that needs the
    pinned trees, which the tests cannot download (nix checks them whenever it fetches one)."""
    committed = json.loads((REPO / "flake.lock").read_text())
    declared = flake_lab.nix("eval", "--json", "--file", str(repository / "flake.nix"), "inputs")
    assert declared.returncode == 0, declared.stderr
    inputs = json.loads(declared.stdout)
    assert committed["version"] == 7
    root = committed["nodes"][committed["root"]]
    assert root["inputs"] == {name: name for name in inputs}
    for name, declaration in inputs.items():
        node = committed["nodes"][name]
        assert node["original"] == github_url_as_lock_original(declaration["url"]), name
        locked = node["locked"]
        assert {key: locked[key] for key in ("type", "owner", "repo")} == {
            key: node["original"][key] for key in ("type", "owner", "repo")
        }, name
        assert set(locked) == {"type", "owner", "repo", "rev", "narHash", "lastModified"}, name
        assert len(locked["rev"]) == 40 and set(locked["rev"]) <= set("0123456789abcdef"), name
        assert locked["narHash"].startswith("sha256-") and len(locked["narHash"]) == 51, name
        assert isinstance(locked["lastModified"], int), name
        follows = {key: [spec["follows"]] for key, spec in declaration.get("inputs", {}).items()}
        assert node.get("inputs", {}) == follows, name
    assert committed["nodes"]["nix-index-database"]["inputs"] == {"nixpkgs": ["nixpkgs"]}
    # A lock out of step with flake.nix makes nix fetch to relock; a proxy on a closed loopback
    # port keeps that from reaching any network (and the resolver) and fails it at once.
    unreachable = "http://127.0.0.1:9"
    read = subprocess.run(
        flake_lab.user.argv(
            [
                "nix",
                *NIX_FLAGS,
                "--option",
                "download-attempts",
                "1",
                "flake",
                "metadata",
                "--json",
                "--no-update-lock-file",
                "--no-write-lock-file",
                f"path:{repository}",
            ]
        ),
        env=flake_lab.user.env() | {"https_proxy": unreachable, "http_proxy": unreachable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert read.returncode == 0, read.stderr[-3000:]
    assert json.loads(read.stdout)["locks"] == committed


@pytest.fixture(scope="module")
def package(flake_lab: FlakeLab, repository: Path) -> Path:
    result = flake_lab.nix(
        "build", "--no-link", "--json", *flake_lab.overrides, f"path:{repository}#default"
    )
    assert result.returncode == 0, result.stderr[-6000:]
    return Path(json.loads(result.stdout)[0]["outputs"]["out"])


def tree(root: Path, *, leave_out: tuple[Path, ...] = ()) -> set[str]:
    """Every path below root (relative), except below the ones left out."""
    found = set()
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        found |= {str((here / name).relative_to(root)) for name in [*subdirs, *files]}
        subdirs[:] = [name for name in subdirs if here / name not in leave_out]
    return found


def test_launches_from_the_package_write_nothing_outside_claudebox_state(
    flake_lab: FlakeLab, package: Path
) -> None:
    """--version, --dry-run and a real launch (the stand-in claude runs the snippet), with
    nothing on PATH but what the package brings (openssl for the login relay among it): nothing
    unpacked into ~/.shiv, no ~/.claude made (the host's stays the user's), nothing anywhere else
    but ~/.claudebox."""
    home = flake_lab.root / "home"
    project = home / "project"
    project.mkdir(parents=True)
    (project / "README").write_text("a project\n")
    if os.geteuid() == 0:
        subprocess.run(
            ["chown", "-R", f"{flake_lab.user.user.pw_uid}:{flake_lab.user.user.pw_gid}", home],
            check=True,
        )
    before = tree(home)
    empty = flake_lab.root / "empty-bin"  # the caller's PATH: the wrapper's runtimeInputs only
    empty.mkdir(exist_ok=True)
    empty.chmod(0o755)

    def claudebox(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            flake_lab.user.argv([str(package / "bin" / "claudebox"), *args]),
            env={"HOME": str(home), "PATH": str(empty), "LANG": "C.UTF-8", "TERM": "xterm"},
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    version = claudebox("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("claudebox ")
    dry_run = claudebox("--dry-run")
    assert dry_run.returncode == 0, dry_run.stderr
    assert tree(home) == before  # neither wrote anything at all
    launch = claudebox("--yes", "--network", "none", "echo inside; test -w .; echo writable")
    assert launch.returncode == 0, launch.stderr
    assert launch.stdout == "inside\nwritable\n"
    state = home / ".claudebox"
    assert tree(home, leave_out=(state,)) - before == {".claudebox"}


def test_the_package_keeps_the_pyz_portable_and_installs_completions(package: Path) -> None:
    wrapper = (package / "bin" / "claudebox").read_text()
    # the wrapper runs the bytecode compiled beside the .pyz, without site or the caller's paths
    command = next(line.split() for line in wrapper.splitlines() if line.startswith("exec "))
    assert command[2:4] == ["-I", "-S"], wrapper
    assert command[4].endswith("/claudebox.pyc") and command[5] == '"$@"', wrapper
    with open(Path(command[4]).with_name("claudebox.pyz"), "rb") as handle:
        assert handle.readline() == b"#!/usr/bin/env python3\n"  # dontFixup: still portable
    for completion in (
        "share/bash-completion/completions/claudebox.bash",
        "share/zsh/site-functions/_claudebox",
        "share/fish/vendor_completions.d/claudebox.fish",
    ):
        assert (package / completion).stat().st_size > 0, completion


def test_the_package_says_its_license(flake_lab: FlakeLab, repository: Path) -> None:
    result = flake_lab.nix(
        "eval",
        "--json",
        *flake_lab.overrides,
        f"path:{repository}#packages.{SYSTEM}.default.meta.license.spdxId",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "MIT"
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_nix_fmt_formats_the_python_and_checks_the_nix_files(flake_lab: FlakeLab) -> None:
    copy = flake_lab.copy_repository("formatted", {"badly_formatted.py": "x=[1,\n  2]\n"})
    result = flake_lab.nix("fmt", *flake_lab.overrides, cwd=copy)
    assert result.returncode == 0, result.stderr
    assert (copy / "badly_formatted.py").read_text() == "x = [1, 2]\n"
    output = result.stdout + result.stderr
    assert "1 file reformatted" in output
    assert "stand-in nixfmt: ./flake.nix parses" in output
    assert "Nix files formatted" in output


def test_the_readme_s_install_and_upgrade_commands_work_from_a_clone(flake_lab: FlakeLab) -> None:
    """README: `nix profile install git+file://CLONE`, then `git pull` and `nix profile upgrade`
    (here with the stand-ins as inputs and a profile of the test's own)."""
    clone = flake_lab.copy_repository("clone")
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.org"]

    def as_user(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            flake_lab.user.argv(list(argv)),
            env=flake_lab.user.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"]):
        assert as_user(*git, *step).returncode == 0
    profile = flake_lab.root / "profile" / "claudebox-test"
    if os.geteuid() == 0:
        profile.parent.mkdir()
        os.chown(profile.parent, flake_lab.user.user.pw_uid, flake_lab.user.user.pw_gid)
    profile_flags = ("--profile", str(profile), *flake_lab.overrides)
    installed = flake_lab.nix("profile", "install", *profile_flags, f"git+file://{clone}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    version = as_user(str(profile / "bin" / "claudebox"), "--version")
    assert version.stdout.startswith(f"claudebox {claudebox.__version__}\n"), version.stderr
    module = clone / "claudebox.py"
    released = module.read_text()
    current = f'__version__: Final = "{claudebox.__version__}"'
    assert current in released
    module.write_text(released.replace(current, '__version__: Final = "99.0.1"'))
    assert as_user(*git, "commit", "-qam", "next release").returncode == 0
    upgraded = flake_lab.nix("profile", "upgrade", *profile_flags, ".*")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    version = as_user(str(profile / "bin" / "claudebox"), "--version")
    assert version.stdout.startswith("claudebox 99.0.1\n"), version.stderr
