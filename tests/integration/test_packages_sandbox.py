"""Nix for real: profile packages, `nix shell` inside, the store and the nix cache, against the
real nix-daemon and a stand-in nixpkgs (tests/nix/stand-in-nixpkgs; see nixlab.py)."""

from __future__ import annotations

import json
import os
import platform
import uuid
from pathlib import Path

import pytest
from harness import Box, profiles_dir, wait_for, write_profile
from nixlab import NIX_FLAGS, NIX_STORE, NixLab

NIX_SHELL = f"nix --extra-experimental-features {NIX_FLAGS[1]!r}"
SYSTEM = f"{platform.machine()}-linux"


def nix_env(box: Box, nixlab: NixLab) -> dict[str, str]:
    """A NixOS user's PATH (nix in the store) and the flake's CLAUDEBOX_NIXPKGS."""
    return {"PATH": f"{NIX_STORE}/bin:{box.host_path()}", "CLAUDEBOX_NIXPKGS": nixlab.nixpkgs}


def test_profile_packages_are_built_by_nix_once_then_cached(box: Box, nixlab: NixLab) -> None:
    write_profile(box, "default", {"packages": ["hello", "cowsay"]})
    out_paths = []
    for package in ("hello", "cowsay"):
        evaluated = nixlab.user.nix("eval", "--raw", f"{nixlab.nixpkgs}#{package}.outPath")
        assert evaluated.returncode == 0, evaluated.stderr
        out_paths.append(evaluated.stdout)
    assert not any(map(os.path.exists, out_paths))  # this session's: never built before
    first = box.probe("hello; cowsay moo; echo $PATH", env=nix_env(box, nixlab))
    assert first.returncode == 0, first.stderr
    hello, moo, path = first.stdout.splitlines()
    assert (hello, moo) == ("Hello from the stand-in nixpkgs", "the cow says: moo")
    resolved = dict(
        line.removeprefix("claudebox: ").split(" -> ")
        for line in first.stderr.splitlines()
        if " -> /nix/store/" in line
    )
    assert list(resolved) == ["hello", "cowsay"]
    assert list(resolved.values()) == out_paths
    assert path.startswith(f"{resolved['hello']}/bin:{resolved['cowsay']}/bin:")
    for store_path in resolved.values():  # built and registered by the daemon, not just present
        info = nixlab.user.nix("path-info", "--json", store_path)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)[0]["path"] == store_path

    second = box.probe(
        "hello; cowsay moo",
        # no nix on PATH (bwrap and openssl: what a launch needs)
        env={"PATH": box.store_path("bwrap", "openssl"), "CLAUDEBOX_NIXPKGS": nixlab.nixpkgs},
        options=["--network", "none"],
    )
    assert second.returncode == 0, second.stderr  # no nix on PATH: it asked nix nothing
    assert second.stdout == "Hello from the stand-in nixpkgs\nthe cow says: moo\n"
    assert "resolving" not in second.stderr


@pytest.mark.parametrize(
    ("package", "nix_says"),
    [
        ("broken", "stand-in broken: this build fails on purpose"),
        ("nosuchpackage", "does not provide attribute"),
    ],
)
def test_a_package_nix_cannot_build_is_named_with_nix_s_error(
    box: Box, nixlab: NixLab, package: str, nix_says: str
) -> None:
    write_profile(box, "default", {"packages": [package]})
    result = box.probe("echo started", env=nix_env(box, nixlab))
    assert result.returncode == 1
    assert "started" not in result.stdout
    lines = result.stderr.splitlines()
    expected = f"claudebox: error: package {package!r} could not be built from {nixlab.nixpkgs}"
    assert expected in lines[-1]
    assert any(line.startswith("  nix: ") and nix_says in line for line in lines), lines
    assert "Traceback" not in result.stderr


def test_nix_shell_inside_builds_through_the_daemon_from_the_pinned_nixpkgs(
    box: Box, nixlab: NixLab
) -> None:
    result = box.probe(
        f"{NIX_SHELL} shell nixpkgs#cowsay -c cowsay from inside; "
        f"{NIX_SHELL} flake metadata --json nixpkgs",
        env=nix_env(box, nixlab),
        options=["--network", "none"],  # only the daemon socket leads out
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    said, metadata = result.stdout.split("\n", 1)
    assert said == "the cow says: from inside"
    assert json.loads(metadata)["path"] == nixlab.nixpkgs_store  # the registry pin claudebox wrote


def test_nix_inside_needs_no_flags_and_finds_the_pinned_nixpkgs(box: Box, nixlab: NixLab) -> None:
    """NixOS leaves flakes off unless the user's nix.conf turns them on (this machine has no
    /etc/nix/nix.conf at all): `nix shell nixpkgs#…`, as the sandbox note says, works anyway,
    and <nixpkgs> (nix-shell -p, import <nixpkgs>) is the pinned nixpkgs."""
    result = box.probe(
        "nix shell nixpkgs#cowsay -c cowsay plainly; "
        "nix eval --impure --raw --expr 'toString <nixpkgs>'",
        env=nix_env(box, nixlab),
        options=["--network", "none"],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    said, nixpkgs = result.stdout.split("\n", 1)
    assert said == "the cow says: plainly"
    assert nixpkgs == nixlab.nixpkgs_store


def test_nix_shell_p_inside_builds_from_the_pinned_nixpkgs(box: Box, nixlab: NixLab) -> None:
    """nix-shell -p, as a NixOS user types it: <nixpkgs> is the pinned nixpkgs (the host's
    NIX_PATH names channels that are not inside), its packages and bashInteractive are built
    by the daemon and the shell finds them first on PATH."""
    result = box.probe(
        "nix-shell -p cowsay hello --run 'cowsay from nix-shell; hello; command -v cowsay'",
        env=nix_env(box, nixlab),
        options=["--network", "none"],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "will use bash from your environment" not in result.stderr  # bashInteractive was built
    said, hello, found = result.stdout.splitlines()[-3:]
    assert (said, hello) == ("the cow says: from nix-shell", "Hello from the stand-in nixpkgs")
    evaluated = nixlab.user.nix("eval", "--raw", f"{nixlab.nixpkgs}#cowsay.outPath")
    assert evaluated.returncode == 0, evaluated.stderr
    assert found == f"{evaluated.stdout}/bin/cowsay"


def test_check_asks_nix_inside_a_sandbox_what_it_sees(box: Box, nixlab: NixLab) -> None:
    """--check runs nix in a throwaway sandbox with a session's settings (network none: nothing
    may need a download): flakes are on though only the user's own nix.conf, which is not
    inside, turns them on, and <nixpkgs> and the registry's nixpkgs are the pin. Unpinned (a
    copied claudebox.pyz), it says so."""
    pinned = box.run("--check", env=nix_env(box, nixlab), timeout=300)
    lines = pinned.stdout.splitlines()
    assert (
        "ok   sandbox: nix: nix inside has nix-command and flakes on (nix shell, nix run, comma)"
    ) in lines, pinned.stdout + pinned.stderr
    assert (
        "ok   sandbox: nixpkgs: <nixpkgs> (nix-shell -p) and the registry's nixpkgs "
        f"(nix shell nixpkgs#…) are {nixlab.nixpkgs_store}"
    ) in lines, pinned.stdout
    unpinned = box.run("--check", env={"PATH": nix_env(box, nixlab)["PATH"]}, timeout=300)
    lines = unpinned.stdout.splitlines()
    assert (
        "ok   sandbox: nix: nix inside has nix-command and flakes on (nix shell, nix run, comma)"
        in lines
    )
    assert any(
        line.startswith("warn sandbox: nixpkgs: not pinned (CLAUDEBOX_NIXPKGS is unset)")
        for line in lines
    ), unpinned.stdout


def unique_package_flake(box: Box, nixlab: NixLab, token: str) -> Path:
    """A flake of the test user's whose one package exists nowhere yet (it prints `token`)."""
    directory = box.mkdir(box.root / "flake")
    box.write(
        directory / "flake.nix",
        f"""{{
  inputs.nixpkgs.url = "{nixlab.nixpkgs}";
  outputs = {{ self, nixpkgs }}: let pkgs = nixpkgs.legacyPackages.{SYSTEM}; in {{
    packages.{SYSTEM}.default = pkgs.writeScriptBin "unique" ''
      #!${{pkgs.busybox}}/bin/sh
      echo {token}
    '';
  }};
}}
""",
    )
    return directory


def test_a_store_path_built_during_the_session_is_visible_inside_at_once(
    box: Box, nixlab: NixLab
) -> None:
    token = f"built-{uuid.uuid4().hex}"
    flake = unique_package_flake(box, nixlab, token)
    evaluated = nixlab.user.nix("eval", "--raw", f"path:{flake}#default.outPath")
    assert evaluated.returncode == 0, evaluated.stderr
    out_path = evaluated.stdout
    assert not os.path.exists(out_path)
    snippet = (
        "touch ready; while [ ! -e go ]; do sleep 0.05; done; "
        'ls "$(cat go)/bin" > seen; "$(cat go)/bin/unique" >> seen; touch done'
    )
    with box.running(snippet, "--network", "none") as session:
        built = nixlab.user.build(f"path:{flake}#default")
        assert built == [out_path]
        box.write(box.project / "go", out_path, mode=0o644)
        wait_for(box.project / "done", process=session)
        assert session.wait(timeout=30) == 0
    assert (box.project / "seen").read_text() == f"unique\n{token}\n"


CACHE_MARK = "claudebox-test-mark"


def test_the_nix_cache_is_kept_between_sessions_of_a_project(box: Box, nixlab: NixLab) -> None:
    env = nix_env(box, nixlab)
    first = box.probe(
        f"{NIX_SHELL} shell nixpkgs#hello -c hello && echo kept > ~/.cache/nix/{CACHE_MARK} "
        "&& ls ~/.cache/nix",
        env=env,
    )
    assert first.returncode == 0, first.stderr
    written_by_nix = set(first.stdout.splitlines()[1:]) - {CACHE_MARK}
    assert written_by_nix  # nix's own caches (eval cache, fetcher cache)
    second = box.probe(f"cat ~/.cache/nix/{CACHE_MARK}; ls ~/.cache/nix", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0] == "kept"
    assert written_by_nix <= set(second.stdout.splitlines()[1:])


def test_the_nix_cache_is_not_shared_with_another_project(box: Box, nixlab: NixLab) -> None:
    env = nix_env(box, nixlab)
    first = box.probe(f"echo kept > ~/.cache/nix/{CACHE_MARK}", env=env)
    assert first.returncode == 0, first.stderr
    other = box.mkdir(box.home / "other")
    second = box.probe("ls -A ~/.cache/nix", env=env, cwd=other)
    assert second.returncode == 0, second.stderr
    assert CACHE_MARK not in second.stdout.split()


def test_a_profile_symlinked_into_the_store_is_loaded(box: Box, nixlab: NixLab) -> None:
    """What home-manager writes: ~/.claudebox/profiles/NAME.json -> /nix/store/…"""
    profile = json.dumps({"description": "from the store", "env": {"FROM_STORE": "yes"}})
    added = nixlab.user.nix(
        "eval", "--raw", "--expr", f"builtins.toFile \"web.json\" ''{profile}''"
    )
    assert added.returncode == 0, added.stderr
    store_file = added.stdout
    (profiles_dir(box) / "web.json").symlink_to(store_file)
    result = box.probe("echo $FROM_STORE", options=["--profile", "web", "--network", "none"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "yes\n"
