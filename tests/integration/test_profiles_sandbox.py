"""Profiles against real bwrap: mounts and their modes, passthrough env, secret mounts, tiers."""

from __future__ import annotations

import json

from harness import Box, write_profile


def test_profile_mounts_keep_their_modes_and_paths_with_spaces_work(box: Box) -> None:
    shared = box.mkdir(box.home / "shared data")
    box.write(shared / "ref.txt", "reference\n", mode=0o644)
    scratch = box.mkdir(box.home / "scratch space")
    write_profile(
        box,
        "data",
        {
            "mounts": [
                {"src": "~/shared data", "mode": "ro"},
                {"src": "~/scratch space", "dst": "/tmp/out put", "mode": "rw"},
            ]
        },
    )
    result = box.probe(
        "cat ~/'shared data'/ref.txt; echo x > ~/'shared data'/new 2>/dev/null && echo RO-WRITTEN;"
        " echo result > '/tmp/out put/r.txt' && echo rw-ok",
        options=("--profile", "data"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["reference", "rw-ok"]
    assert not (shared / "new").exists()
    assert (scratch / "r.txt").read_text() == "result\n"


def test_passthrough_passes_exactly_the_named_variables(box: Box) -> None:
    write_profile(
        box,
        "tokens",
        {"extra_env_passthrough": ["GH_TOKEN", "NOT_SET_ON_HOST"], "env": {"MODE": "dev"}},
    )
    result = box.probe(
        "env | grep -E '^(GH_|NPM_|MODE|NOT_SET)' | sort",
        options=("--profile", "tokens"),
        env={"GH_TOKEN": "ghp_passed", "GH_HOST": "not-named", "NPM_TOKEN": "not-named"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["GH_TOKEN=ghp_passed", "MODE=dev"]
    assert "ghp_passed" not in result.stderr  # masked in the audit
    assert "GH_TOKEN looks like a secret and is passed in by profile tokens" in result.stderr


def test_a_secret_mount_needs_more_than_yes(box: Box) -> None:
    box.write(box.home / ".ssh" / "id_ed25519", "KEY\n")
    write_profile(box, "ssh", {"mounts": [{"src": "~/.ssh", "mode": "ro"}]})
    refused = box.probe("cat ~/.ssh/id_ed25519", options=("--profile", "ssh"))
    assert refused.returncode == 2
    assert "holds a secret path" in refused.stderr
    assert "--yes is not enough" in refused.stderr
    assert refused.stderr.splitlines()[-1].startswith("claudebox: error: no terminal")
    assert "KEY" not in refused.stdout
    write_profile(
        box, "ssh", {"mounts": [{"src": "~/.ssh", "mode": "ro"}], "allow_secret_mounts": True}
    )
    allowed = box.probe("cat ~/.ssh/id_ed25519", options=("--profile", "ssh"))
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "KEY\n"
    assert "holds a secret path" in allowed.stderr


def test_default_profile_and_network_precedence(box: Box) -> None:
    write_profile(box, "default", {"description": "mine", "network": "none"})
    count_interfaces = "tail -n +3 /proc/net/dev | wc -l"
    by_profile = box.probe(count_interfaces)
    assert by_profile.returncode == 0, by_profile.stderr
    assert by_profile.stdout.strip() == "1"  # loopback only
    assert "profile default" in by_profile.stderr.splitlines()[0]  # --yes: the summary
    shown = box.audit("true")
    assert "  profile    default (default; default): mine" in shown
    audit = " ".join(shown.split())  # wrapped lines joined
    assert (
        "network none (profile default): none: only Claude's API, through claudebox's relay"
        in audit
    ), by_profile.stderr
    by_env = box.probe(count_interfaces, env={"CLAUDEBOX_NETWORK": "full"})
    assert int(by_env.stdout) > 1
    by_flag = box.probe(
        count_interfaces, options=("--network", "none"), env={"CLAUDEBOX_NETWORK": "full"}
    )
    assert by_flag.stdout.strip() == "1"


def test_list_and_show_profiles(box: Box) -> None:
    write_profile(box, "base", {"description": "the base", "network": "none"})
    write_profile(box, "web", {"extends": "base", "description": "web work"})
    write_profile(box, "broken", {"colour": "red"})
    listing = box.run("--list-profiles")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0] == "base\tok\tthe base"
    assert lines[1].startswith("broken\tinvalid: ")
    assert "colour: unknown key" in lines[1]
    assert lines[2] == "web\tok\tweb work"
    shown = box.run("--show-profile", "web")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["chain"] == ["base", "web"]
    assert document["network"] == {"value": "none", "from": "base"}


def test_a_world_writable_profile_is_refused(box: Box) -> None:
    path = write_profile(box, "open", {})
    path.chmod(0o666)
    result = box.probe("true", options=("--profile", "open"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"claudebox: error: {path} is group- or world-writable; run chmod go-w {path}"
    ]
