"""Profile packages: nix build once, then the cache; failures, corruption and concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import fakehost as fh
import pytest

import claudebox as cb

FAKE_NIX = """#!/bin/sh
# Fake nix: records its argv, prints `nix build --json` for the installable (fails for 'broken').
printf '%s\\n' "$*" >> "{log}"
for last; do :; done
attribute=${{last#*#}}
if [ "$attribute" = broken ]; then
    echo "error: flake 'nixpkgs' does not provide attribute 'packages.x86_64-linux.broken'" >&2
    exit 1
fi
mkdir -p "{store}/hash-$attribute/bin"
printf '[{{"drvPath": "{store}/hash-%s.drv", "outputs": {{"out": "{store}/hash-%s"}}}}]\n' \
    "$attribute" "$attribute"
"""


@pytest.fixture
def nix_env(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setattr(cb, "STORE_DIR", str(store))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "nix.log"
    log.touch()
    nix = bin_dir / "nix"
    nix.write_text(FAKE_NIX.format(log=log, store=store))
    nix.chmod(stat.S_IRWXU)
    home = tmp_path / "home"
    home.mkdir()
    return {"env": {"PATH": str(bin_dir)}, "log": log, "store": store, "home": str(home)}


def calls(nix_env) -> list[str]:
    return nix_env["log"].read_text().splitlines()


def resolve(nix_env, attributes, save=True):
    return cb.resolve_packages(
        attributes, "path:/pinned", nix_env["home"], nix_env["env"], save=save
    )


def test_first_launch_builds_each_package_once_second_launch_not_at_all(nix_env):
    attributes = ["python3", "ripgrep", "jq"]
    first = resolve(nix_env, attributes)
    store = nix_env["store"]
    assert first == tuple(f"{store}/hash-{a}" for a in attributes)
    assert calls(nix_env) == [
        f"--extra-experimental-features nix-command flakes build --no-link --json path:/pinned#{a}"
        for a in attributes
    ]
    assert resolve(nix_env, attributes) == first
    assert len(calls(nix_env)) == 3  # the second launch made no nix call at all


@pytest.mark.parametrize(
    ("stdout", "paths"),
    [
        # nix 2.8
        ('[{"drvPath":"/nix/store/a.drv","outputs":{"out":"/nix/store/a"}}]', ("/nix/store/a",)),
        # current nix: more keys; a package with several default outputs
        (
            '[{"drvPath":"/nix/store/b.drv","outputs":{"bin":"/nix/store/b-bin",'
            '"out":"/nix/store/b"},"startTime":0,"stopTime":0}]',
            ("/nix/store/b-bin", "/nix/store/b"),
        ),
        ("/nix/store/a\n", ()),  # --print-out-paths text is not JSON
        ("", ()),
        ('{"outputs": {}}', ()),
        ('[{"drvPath": "/nix/store/a.drv"}]', ()),
    ],
)
def test_nix_build_json_gives_the_output_paths(stdout, paths):
    assert cb.nix_build_outputs(stdout) == paths


def test_a_deleted_store_path_is_resolved_again(nix_env):
    resolve(nix_env, ["python3", "jq"])
    os.rmdir(nix_env["store"] / "hash-jq" / "bin")
    os.rmdir(nix_env["store"] / "hash-jq")
    resolve(nix_env, ["python3", "jq"])
    assert [line.rsplit("#", 1)[1] for line in calls(nix_env)] == ["python3", "jq", "jq"]


def test_the_cache_is_keyed_by_nixpkgs(nix_env):
    resolve(nix_env, ["jq"])
    cb.resolve_packages(["jq"], "path:/other", nix_env["home"], nix_env["env"], save=True)
    assert len(calls(nix_env)) == 2


def test_dry_run_does_not_write_the_cache(nix_env):
    resolve(nix_env, ["jq"], save=False)
    assert not os.path.exists(os.path.join(nix_env["home"], ".claudebox"))


def test_a_failing_package_names_it_and_shows_nix(nix_env, capsys):
    with pytest.raises(cb.ClaudeboxError) as caught:
        resolve(nix_env, ["jq", "broken", "ripgrep"])
    assert caught.value.exit_code == 1
    assert str(caught.value) == (
        "package 'broken' could not be built from path:/pinned (nix build exited 1); "
        "check the attribute name in the profile"
    )
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["claudebox: resolving jq …", f"claudebox: jq -> {nix_env['store']}/hash-jq"]
    assert err[2:] == [
        "claudebox: resolving broken …",
        "  nix: error: flake 'nixpkgs' does not provide attribute 'packages.x86_64-linux.broken'",
    ]
    assert len(calls(nix_env)) == 2  # nothing after the failure


def test_nix_missing_is_exit_127(nix_env):
    with pytest.raises(cb.ClaudeboxError) as caught:
        cb.resolve_packages(["jq"], "nixpkgs", nix_env["home"], {"PATH": "/nonexistent"}, save=True)
    assert caught.value.exit_code == 127
    assert str(caught.value).startswith("nix not found on PATH")


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "entries": {}}', "[]", ""])
def test_a_corrupt_cache_is_rebuilt(nix_env, content):
    cache = Path(nix_env["home"]) / ".claudebox" / "cache" / "packages.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    resolve(nix_env, ["jq"])
    assert json.loads(cache.read_text())["entries"] == {
        "path:/pinned#jq": [f"{nix_env['store']}/hash-jq"]
    }


def write_entries(path: str, start: int) -> None:
    for index in range(start, start + 25):
        cb.store_package_cache(path, "path:/pinned", {f"pkg{index}": [f"/nix/store/h-{index}"]})


def test_concurrent_writers_leave_a_valid_complete_cache(tmp_path):
    path = str(tmp_path / "cache" / "packages.json")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=write_entries, args=(path, n * 25)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    entries = json.loads(Path(path).read_text())["entries"]
    assert sorted(entries) == sorted(f"path:/pinned#pkg{index}" for index in range(100))


def test_registry_pin_is_the_identity_of_plain_nixpkgs(tmp_path):
    home = tmp_path / "home"
    registry = home / ".config" / "nix" / "registry.json"
    registry.parent.mkdir(parents=True)
    to = {"type": "path", "path": "/nix/store/abc-source", "narHash": "sha256-x"}
    registry.write_text(
        json.dumps(
            {"version": 2, "flakes": [{"from": {"type": "indirect", "id": "nixpkgs"}, "to": to}]}
        )
    )
    assert cb.nixpkgs_identity("nixpkgs", str(home)) == "registry:" + json.dumps(to, sort_keys=True)
    assert cb.nixpkgs_identity("github:NixOS/nixpkgs/abc", str(home)) == "github:NixOS/nixpkgs/abc"


def test_packages_come_first_on_path_without_duplicates():
    host = fh.make_host()
    store_dirs = cb.sandbox_path_dirs(host.path_dirs)
    options = cb.Options(
        tier=cb.Tier.FULL,
        package_paths=("/nix/store/p-python3", store_dirs[0].removesuffix("/bin")),
    )
    path = next(v.value for v in cb.build_plan(host, options).env if v.name == "PATH")
    parts = path.split(":")
    assert parts[:2] == ["/nix/store/p-python3/bin", store_dirs[0]]
    assert len(parts) == len(set(parts))


def test_a_profiles_nix_settings_are_kept_with_the_sandboxs():
    """A profile's NIX_CONFIG lines come after claudebox's (a later setting wins) and its
    NIX_PATH entries before the pin; the host's, passed through, are not merged (they may hold
    access-tokens, and these values are printed) and a warning says so."""
    pinned = "path:/nix/store/abc-source?narHash=sha256-x&lastModified=1"
    profile = cb.Profile(
        "nix",
        "--profile",
        ("nix",),
        env=(("NIX_CONFIG", "max-jobs = 4", "nix"), ("NIX_PATH", "mine=/src/mine", "nix")),
    )
    host = fh.make_host(env={**fh.HOST_ENV, "NIX_CONFIG": "access-tokens = github.com=x"})
    options = cb.Options(tier=cb.Tier.FULL, nixpkgs=pinned, extra_env=("NIX_CONFIG",))
    plan = cb.build_plan(host, options._replace(profile=profile))
    env = {v.name: v.value for v in plan.env}
    assert env["NIX_CONFIG"] == (
        "extra-experimental-features = nix-command flakes\n"
        "flake-registry = /home/alice/.config/nix/registry.json\n"
        "max-jobs = 4"
    )
    assert env["NIX_PATH"] == "mine=/src/mine:nixpkgs=/nix/store/abc-source"
    assert "access-tokens" not in repr(plan)
    assert (
        "NIX_CONFIG from CLAUDEBOX_EXTRA_ENV is not passed in: claudebox sets it inside (a "
        "profile's env adds to it)"
    ) in plan.warnings


def test_the_pinned_nixpkgs_reaches_comma_and_nix_shell():
    pinned = "path:/nix/store/abc-source?narHash=sha256-x&lastModified=1"
    plan = cb.build_plan(fh.make_host(), cb.Options(tier=cb.Tier.FULL, nixpkgs=pinned))
    env = {v.name: v.value for v in plan.env}
    assert env["COMMA_NIXPKGS_FLAKE"] == pinned
    # nix reads the global registry first (a download): the pin serves as that one too; the
    # features `nix shell` needs are on, whatever the host's nix.conf says
    assert env["NIX_CONFIG"] == (
        "extra-experimental-features = nix-command flakes\n"
        "flake-registry = /home/alice/.config/nix/registry.json"
    )
    assert env["NIX_PATH"] == "nixpkgs=/nix/store/abc-source"  # <nixpkgs>, nix-shell -p
    registry = next(d for d in plan.data if d.kind is cb.DataKind.REGISTRY)
    assert registry.fd == 23
    assert json.loads(registry.content) == {
        "version": 2,
        "flakes": [
            {
                "from": {"type": "indirect", "id": "nixpkgs"},
                "to": {
                    "type": "path",
                    "path": "/nix/store/abc-source",
                    "narHash": "sha256-x",
                    "lastModified": 1,
                },
            }
        ],
    }
    assert cb.Mount(cb.MountOp.DATA, "/home/alice/.config/nix/registry.json", fd=23) in (
        plan.mounts
    )
    assert plan.notes == ()


def test_a_nixpkgs_that_is_not_a_path_keeps_the_host_registry_and_says_so():
    plan = cb.build_plan(fh.make_host(), cb.Options(tier=cb.Tier.FULL, nixpkgs="github:a/b"))
    assert {v.name: v.value for v in plan.env}["COMMA_NIXPKGS_FLAKE"] == "github:a/b"
    assert not any(d.kind is cb.DataKind.REGISTRY for d in plan.data)
    assert plan.notes == ("nix shell nixpkgs#… uses the host registry, not github:a/b",)


@pytest.mark.parametrize(
    ("stdout", "paths"),
    [
        (
            '[{"drvPath": "/nix/store/x.drv", "outputs": {"out": "/nix/store/x"}}]',
            ("/nix/store/x",),
        ),
        (
            '[{"outputs": {"bin": "/nix/store/b", "out": "/nix/store/o"}}, {"outputs": {}}]',
            ("/nix/store/b", "/nix/store/o"),
        ),
        ("", ()),
        ("not json", ()),
        ('{"outputs": {"out": "/nix/store/x"}}', ()),
        ('[{"outputs": {"out": 3}}, "x"]', ()),
    ],
)
def test_nix_build_outputs(stdout, paths):
    assert cb.nix_build_outputs(stdout) == paths


PIN = "path:/nix/store/abc-source?narHash=sha256-x"


def test_check_judges_what_nix_inside_saw() -> None:
    """--check's nix lines: flakes off, <nixpkgs> or the registry elsewhere each fail and say
    what nix inside saw; unpinned is a warning."""
    seen = {
        "flakes": True,
        "nixPath": [{"prefix": "nixpkgs", "path": "/nix/store/abc-source"}],
        "registry": "/nix/store/abc-source",
    }
    assert [(r.ok, r.warning) for r in cb.nix_results(seen, PIN)] == [
        (True, False),
        (True, False),
    ]
    off = cb.nix_results({**seen, "flakes": False}, PIN)[0]
    assert not off.ok
    assert off.detail == "nix inside runs, but flakes are off: nix shell nixpkgs#… and comma fail"
    elsewhere = cb.nix_results({**seen, "nixPath": [], "registry": "/nix/store/zz"}, PIN)
    assert not elsewhere[1].ok
    assert elsewhere[1].detail == (
        "inside, <nixpkgs> is not found and the registry's nixpkgs /nix/store/zz, "
        "not /nix/store/abc-source"
    )
    unpinned = cb.nix_results({"flakes": True, "nixPath": [], "registry": None}, None)
    assert (unpinned[1].ok, unpinned[1].warning) == (True, True)
