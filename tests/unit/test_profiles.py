"""Profiles: validation (every error names file and key), extends, permissions, plan effects."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import claudebox
from claudebox import ClaudeboxError, ProfileFile, ProfileMount, parse_profile, resolve_profile

HOME = "/home/alice"
PATH = "/home/alice/.claudebox/profiles/dev.json"


def parse(data: object, exists: bool = True) -> ProfileFile:
    return parse_profile("dev", PATH, data, HOME, lambda _path: exists)


def error_of(data: object, exists: bool = True) -> str:
    with pytest.raises(ClaudeboxError) as caught:
        parse(data, exists)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_a_complete_profile_parses() -> None:
    profile = parse(
        {
            "description": "web work",
            "extends": "base",
            "network": "full",
            "env": {"NODE_ENV": "development"},
            "extra_env_passthrough": ["GH_TOKEN"],
            "mounts": [
                {"src": "~/data sets", "mode": "ro"},
                {"src": "/srv/cache", "dst": "/home/alice/.cache/x", "mode": "rw"},
            ],
            "packages": ["python3", "nodejs_22"],
            "allow_secret_mounts": False,
        }
    )
    assert profile == ProfileFile(
        name="dev",
        path=PATH,
        description="web work",
        extends=("base",),
        network=claudebox.Tier.FULL,
        env=(("NODE_ENV", "development"),),
        extra_env_passthrough=("GH_TOKEN",),
        mounts=(
            ProfileMount("/home/alice/data sets", "/home/alice/data sets", "ro", "dev"),
            ProfileMount("/srv/cache", "/home/alice/.cache/x", "rw", "dev"),
        ),
        packages=("python3", "nodejs_22"),
        allow_secret_mounts=False,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], f"{PATH}: (top level): must be a JSON object"),
        ({"colour": "red"}, f"{PATH}: colour: unknown key (known: description, extends,"),
        ({"description": 3}, f"{PATH}: description: must be a string"),
        ({"extends": [1]}, f"{PATH}: extends: must be a list of strings"),
        ({"extends": "../etc"}, f"{PATH}: extends: '../etc' is not a profile name"),
        ({"network": "lan"}, f"{PATH}: network: must be one of full, inet, allowlist, none"),
        ({"env": {"A": 1}}, f"{PATH}: env: must be an object whose values are strings"),
        ({"env": {"A B": "x"}}, f"{PATH}: env.A B: is not a variable name"),
        ({"env": {"PATH": "/bin"}}, f"{PATH}: env.PATH: is set by the sandbox itself"),
        (
            {"env": {"CLAUDE_CODE_SANDBOXED": "0"}},
            f"{PATH}: env.CLAUDE_CODE_SANDBOXED: is set by the sandbox itself",
        ),
        ({"env": {"GITHUB_TOKEN": "ghp_x"}}, f"{PATH}: env.GITHUB_TOKEN: looks like a secret;"),
        ({"env": {"DB_PASSWORD": "x"}}, f"{PATH}: env.DB_PASSWORD: looks like a secret;"),
        (
            {"env": {"NIX_CONFIG": "max-jobs = 4\nACCESS-TOKENS = github.com=ghp_x"}},
            f"{PATH}: env.NIX_CONFIG: holds access-tokens, a secret;",
        ),
        ({"extra_env_passthrough": "GH"}, f"{PATH}: extra_env_passthrough: must be a list"),
        ({"extra_env_passthrough": ["a-b"]}, f"{PATH}: extra_env_passthrough: 'a-b' is not a"),
        ({"mounts": {}}, f"{PATH}: mounts: must be a list of"),
        ({"mounts": ["/x"]}, f"{PATH}: mounts[0]: must be an object"),
        ({"mounts": [{"src": "/x", "mode": "rw", "to": "/y"}]}, f"{PATH}: mounts[0].to: unknown"),
        ({"mounts": [{"src": "/x"}]}, f'{PATH}: mounts[0].mode: must be "ro" or "rw"'),
        ({"mounts": [{"src": "/x", "mode": "rwx"}]}, f"{PATH}: mounts[0].mode: must be"),
        ({"mounts": [{"mode": "ro"}]}, f"{PATH}: mounts[0].src: must be a non-empty string"),
        ({"mounts": [{"src": "data", "mode": "ro"}]}, f"{PATH}: mounts[0].src: 'data' is not abs"),
        (
            {"mounts": [{"src": "/x", "dst": "rel", "mode": "ro"}]},
            f"{PATH}: mounts[0].dst: 'rel' is not absolute",
        ),
        ({"packages": ["a b"]}, f"{PATH}: packages: 'a b' is not a nixpkgs attribute name"),
        ({"allow_secret_mounts": "yes"}, f"{PATH}: allow_secret_mounts: must be true or false"),
        ({"mcp_servers": "db"}, f"{PATH}: mcp_servers: must be a list of strings"),
        ({"mcp_servers": {"db": {}}}, f"{PATH}: mcp_servers: must be a list of strings"),
        ({"mcp_servers": ["db", 1]}, f"{PATH}: mcp_servers: must be a list of strings"),
        ({"mcp_servers": None}, f"{PATH}: mcp_servers: must be a list of strings"),
    ],
)
def test_each_validation_error_names_the_file_and_the_key(data: object, message: str) -> None:
    assert error_of(data).startswith(message)


def test_a_missing_mount_source_is_an_error() -> None:
    assert error_of({"mounts": [{"src": "~/gone", "mode": "ro"}]}, exists=False) == (
        f"{PATH}: mounts[0].src: /home/alice/gone does not exist"
    )


def files(**profiles: dict[str, object]) -> dict[str, ProfileFile]:
    return {
        name: parse_profile(name, f"/p/{name}.json", data, HOME, lambda _p: True)
        for name, data in profiles.items()
    }


def test_extends_resolves_depth_first_and_later_wins() -> None:
    loaded = files(
        base={"network": "none", "env": {"A": "base", "B": "base"}, "packages": ["git"]},
        node={"extends": "base", "env": {"B": "node"}, "packages": ["nodejs"]},
        py={"extends": "base", "network": "full", "packages": ["python3"]},
        dev={"extends": ["node", "py"], "description": "both", "env": {"C": "dev"}},
    )
    profile = resolve_profile("dev", "--profile", loaded.__getitem__)
    assert profile.chain == ("base", "node", "py", "dev")
    assert profile.network == (claudebox.Tier.FULL, "py")
    assert profile.description == ("both", "dev")
    assert profile.env == (("A", "base", "base"), ("B", "node", "node"), ("C", "dev", "dev"))
    assert profile.packages == (("git", "base"), ("nodejs", "node"), ("python3", "py"))
    assert profile.allow_secret_mounts == (False, "built-in default")


def test_mcp_servers_parse_and_merge_through_extends_once_each() -> None:
    assert parse({"mcp_servers": ["db", "github"]}).mcp_servers == ("db", "github")
    assert parse({}).mcp_servers == ()
    loaded = files(
        base={"mcp_servers": ["db", "search"]},
        web={"mcp_servers": ["browser"]},
        dev={"extends": ["base", "web"], "mcp_servers": ["db"]},
    )
    profile = resolve_profile("dev", "--profile", loaded.__getitem__)
    # each name once, from the last profile of the chain that names it, in first-named order
    assert profile.mcp_servers == (("db", "dev"), ("search", "base"), ("browser", "web"))
    assert resolve_profile("web", "x", loaded.__getitem__).mcp_servers == (("browser", "web"),)


def test_a_cycle_is_an_error_naming_it() -> None:
    loaded = files(a={"extends": "b"}, b={"extends": "c"}, c={"extends": "a"})
    with pytest.raises(ClaudeboxError) as caught:
        resolve_profile("a", "--profile", loaded.__getitem__)
    assert str(caught.value) == "profile extends form a cycle: a -> b -> c -> a"
    assert caught.value.exit_code == 2


def test_shared_ancestors_are_read_once_each(watchdog: None) -> None:
    """Diamonds stacked 30 deep (each level's two profiles extend both of the level below):
    walked once per profile, not once per path (2**30 of them: a launch that never ends)."""
    levels = {"l0a": {}, "l0b": {}}
    for level in range(1, 31):
        below = [f"l{level - 1}a", f"l{level - 1}b"]
        levels |= {f"l{level}a": {"extends": below}, f"l{level}b": {"extends": below}}
    loaded = files(**levels)
    reads: list[str] = []

    def load(name: str) -> ProfileFile:
        reads.append(name)
        return loaded[name]

    profile = resolve_profile("l30a", "--profile", load)
    assert sorted(reads) == sorted(set(reads)) and len(reads) == len(profile.chain) == 61


def test_show_profile_gives_each_value_its_origin() -> None:
    loaded = files(
        base={"network": "none", "mounts": [{"src": "/srv", "mode": "ro"}], "mcp_servers": ["db"]},
        dev={"extends": "base", "extra_env_passthrough": ["GH_TOKEN"], "mcp_servers": ["gh"]},
    )
    document = json.loads(claudebox.profile_json(resolve_profile("dev", "x", loaded.__getitem__)))
    assert document == {
        "name": "dev",
        "chain": ["base", "dev"],
        "description": None,
        "network": {"value": "none", "from": "base"},
        "env": {},
        "extra_env_passthrough": [{"value": "GH_TOKEN", "from": "dev"}],
        "mounts": [{"src": "/srv", "dst": "/srv", "mode": "ro", "from": "base"}],
        "packages": [],
        "allow_secret_mounts": {"value": False, "from": "built-in default"},
        "allow_domains": [],
        "host_ports": [],
        "mcp_servers": [{"value": "db", "from": "base"}, {"value": "gh", "from": "dev"}],
    }
    alone = resolve_profile("alone", "x", files(alone={}).__getitem__)
    assert json.loads(claudebox.profile_json(alone))["mcp_servers"] == []


def make_state(tmp_path: Path, content: str = '{"description": "d"}') -> Path:
    state = tmp_path / ".claudebox"
    (state / "profiles").mkdir(parents=True)
    state.chmod(0o700)
    (state / "profiles").chmod(0o700)
    profile = state / "profiles" / "dev.json"
    profile.write_text(content)
    profile.chmod(0o600)
    return profile


def test_permission_checks_refuse_writable_or_foreign_files(tmp_path: Path) -> None:
    profile = make_state(tmp_path)
    state = str(tmp_path / ".claudebox")
    uid = os.getuid()
    assert claudebox.load_profile_file(state, "dev", str(tmp_path), uid).description == "d"
    for path in (profile, profile.parent, profile.parent.parent):
        path.chmod(path.stat().st_mode | 0o020)
        with pytest.raises(ClaudeboxError) as caught:
            claudebox.load_profile_file(state, "dev", str(tmp_path), uid)
        assert str(caught.value) == (f"{path} is group- or world-writable; run chmod go-w {path}")
        path.chmod(path.stat().st_mode & ~0o022)
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.load_profile_file(state, "dev", str(tmp_path), uid + 4242)
    assert str(caught.value).startswith(f"{state} belongs to uid {uid}, not to you")


def test_permissions_are_checked_before_the_file_is_read(tmp_path: Path) -> None:
    profile = make_state(tmp_path, content="not json")
    profile.chmod(0o666)
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.load_profile_file(str(tmp_path / ".claudebox"), "dev", str(tmp_path), os.getuid())
    assert "chmod go-w" in str(caught.value)
    profile.chmod(0o600)
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.load_profile_file(str(tmp_path / ".claudebox"), "dev", str(tmp_path), os.getuid())
    assert str(caught.value).startswith(f"{profile}: not valid JSON (")


def test_a_profile_in_the_nix_store_is_accepted_as_immutable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    stored = store / "0000-home-manager-files" / "dev.json"
    stored.parent.mkdir(parents=True)
    stored.write_text('{"description": "from home-manager"}')
    stored.chmod(0o666)  # writable bits mean nothing in the read-only store
    monkeypatch.setattr(claudebox, "STORE_DIR", str(store))
    profile = make_state(tmp_path)
    profile.unlink()
    profile.symlink_to(stored)
    uid = os.getuid()
    loaded = claudebox.load_profile_file(str(tmp_path / ".claudebox"), "dev", str(tmp_path), uid)
    assert loaded.description == "from home-manager"


def test_unknown_profile_and_bad_name(tmp_path: Path) -> None:
    make_state(tmp_path)
    state = str(tmp_path / ".claudebox")
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.load_profile_file(state, "web", str(tmp_path), os.getuid())
    assert str(caught.value).startswith(f"profile 'web' not found: {state}/profiles/web.json")
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.load_profile_file(state, "../x", str(tmp_path), os.getuid())
    assert "is not a profile name" in str(caught.value)


# --- reading a profile file: bounded, regular, UTF-8, shallow ---------------------------------


@pytest.mark.usefixtures("watchdog")
def test_a_fifo_is_refused_at_once_instead_of_read(tmp_path: Path) -> None:
    fifo = tmp_path / "dev.json"
    os.mkfifo(fifo)  # nobody writes: a plain open() or read() would wait forever
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.read_profile_bytes(str(fifo))
    assert str(caught.value) == (
        f"{fifo} is not a regular file; a profile is a JSON file (replace it by one)"
    )
    assert caught.value.exit_code == 2


def test_a_directory_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ClaudeboxError, match="is not a regular file"):
        claudebox.read_profile_bytes(str(tmp_path))
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.read_profile_bytes(str(tmp_path / "absent.json"))
    assert str(caught.value) == f"cannot read {tmp_path}/absent.json: No such file or directory"


def test_a_large_file_is_refused_and_a_small_one_read(tmp_path: Path) -> None:
    profile = tmp_path / "dev.json"
    profile.write_bytes(b" " * (claudebox.PROFILE_MAX_BYTES + 1))
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.read_profile_bytes(str(profile))
    assert str(caught.value) == (
        f"{profile} is larger than 1048576 bytes; a profile is a small JSON file"
    )
    profile.write_bytes(b'{"description": "d"}')
    assert claudebox.read_profile_bytes(str(profile)) == b'{"description": "d"}'


def test_a_fifo_profile_through_load_profile_file(tmp_path: Path) -> None:
    profile = make_state(tmp_path)
    profile.unlink()
    os.mkfifo(profile, 0o600)
    with pytest.raises(ClaudeboxError, match="is not a regular file"):
        claudebox.load_profile_file(str(tmp_path / ".claudebox"), "dev", str(tmp_path), os.getuid())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff{}", "not UTF-8 text (invalid start byte)"),
        (b'{"description": "caf\xe9"}', "not UTF-8 text (invalid continuation byte)"),
        (
            b"[" * 17 + b"]" * 17,
            "JSON nested 17 levels deep (a profile needs at most 3); fix the file",
        ),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "JSON nested 100000 levels deep"),
        (b"{", "not valid JSON (Expecting property name enclosed in double quotes: line 1"),
        (b"", "not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ],
)
def test_parse_json_document_errors(data: bytes, message: str) -> None:
    with pytest.raises(ClaudeboxError) as caught:
        claudebox.parse_json_document(PATH, data)
    assert str(caught.value).startswith(f"{PATH}: {message}")
    assert caught.value.exit_code == 2


def test_parse_json_document_accepts_a_profile_and_sixteen_levels() -> None:
    assert claudebox.parse_json_document(PATH, b'{"env": {"A": "[[[["}}') == {"env": {"A": "[[[["}}
    assert claudebox.parse_json_document(PATH, b"[" * 16 + b"]" * 16) == [
        [[[[[[[[[[[[[[[]]]]]]]]]]]]]]]
    ]
    assert claudebox.parse_json_document(PATH, '{"d": "é"}'.encode()) == {"d": "é"}
