"""The project's own settings.json and ~/.claude.json, layered on the host's at each launch:
follow_host, own_changes, plan_layers, the MCP servers a profile names, the settings commands
the sandbox cannot see, and the edge that reads and writes the layers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fakehost as fh
import pytest
from fakehost import FULL, HOME, HOST_USER_KEYS, PROJECT, STATE

import claudebox as cb

INSTANCE = cb.instance_for(PROJECT, STATE)
STORE = INSTANCE.claude_store
LAYERS = f"{INSTANCE.dir}/layers.json"
SETTINGS = f"{STORE}/settings.json"
CLAUDE_JSON = f"{STORE}/.claude.json"


def layers_of(
    host_settings=fh.HOST_SETTINGS, settings=None, claude_json=None, seen=None, **changes
) -> cb.HostFacts:
    """The synthetic host with these layers (and the host's ~/.claude.json as `host_json`)."""
    host_json = changes.pop("host_json", None)
    if host_json is not None:
        changes["claude_home"] = fh.claude_home(json=host_json)
    layers = cb.Layers(host_settings, settings, claude_json, seen)
    return fh.make_host(layers=layers, **changes)


def plan(profile=None, **layers) -> cb.LayersPart:
    return cb.plan_layers(layers_of(**layers), INSTANCE, profile)


def written(part: cb.LayersPart) -> dict[str, object]:
    """What the launch writes: path -> the JSON document (every step replaces its file)."""
    assert all(step.replace and step.content is not None for step in part.setup)
    return {step.path: json.loads(step.content) for step in part.setup}


def profile(*servers: tuple[str, str]) -> cb.Profile:
    return cb.Profile("web", "--profile", ("base", "web"), mcp_servers=servers)


# --- follow_host, own_changes ---------------------------------------------------------------


def test_what_the_project_did_not_change_follows_the_host():
    seen = {"theme": "dark", "model": "opus", "verbose": True}
    host = {"theme": "light", "model": "opus", "editor": "vim"}  # changed, kept, added; removed
    assert cb.follow_host(host, seen, dict(seen), {*host, *seen}) == {
        "theme": "light",
        "model": "opus",
        "editor": "vim",
    }


def test_what_the_project_changed_added_or_removed_stays_its_own():
    seen = {"theme": "dark", "model": "opus", "verbose": True}
    current = {"theme": "dark", "model": "sonnet", "outputStyle": "terse"}  # verbose removed
    host = dict(seen)
    assert cb.follow_host(host, seen, current, {*host, *seen}) == current


def test_when_both_changed_a_key_the_project_wins():
    seen = {"model": "opus", "verbose": True, "theme": "dark"}
    current = {"model": "sonnet", "theme": "dark", "editor": "emacs"}  # removed verbose
    host = {"model": "haiku", "verbose": False, "theme": "dark", "editor": "vim"}
    assert cb.follow_host(host, seen, current, {*host, *seen}) == {
        "model": "sonnet",  # changed by both
        "theme": "dark",
        "editor": "emacs",  # added by both
    }  # verbose: removed by the project, changed by the host


def test_follow_host_changes_only_the_names_given_and_never_its_arguments():
    host = {"theme": "light", "mcpServers": {"db": {}}}
    seen = {"theme": "dark"}
    current = {"theme": "dark", "projects": {"/p": {}}}
    result = cb.follow_host(host, seen, current, ["theme"])
    assert result == {"theme": "light", "projects": {"/p": {}}}  # mcpServers not named
    assert current == {"theme": "dark", "projects": {"/p": {}}}
    assert seen == {"theme": "dark"}


def test_a_null_value_is_not_an_absent_one():
    assert cb.follow_host({"a": 1}, {"a": None}, {}, ["a"]) == {}  # the project removed it
    assert cb.follow_host({"a": 1}, {}, {"a": None}, ["a"]) == {"a": None}  # the project set it
    assert cb.follow_host({"a": 1}, {"a": None}, {"a": None}, ["a"]) == {"a": 1}


def test_nested_values_are_compared_whole():
    seen = {"hooks": {"Stop": [{"hooks": [{"command": "a"}]}]}}
    changed = {"hooks": {"Stop": [{"hooks": [{"command": "b"}]}]}}
    host = {"hooks": {}}
    assert cb.follow_host(host, seen, json.loads(json.dumps(seen)), ["hooks"]) == host
    assert cb.follow_host(host, seen, changed, ["hooks"]) == changed


@pytest.mark.parametrize(
    ("seen", "current", "own"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, []),
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, ["b"]),  # changed
        ({"a": 1}, {"a": 1, "c": 0}, ["c"]),  # added
        ({"a": 1, "b": 2}, {"b": 2}, ["a"]),  # removed
        ({}, {"z": None, "a": [1]}, ["a", "z"]),  # sorted; null is a value
        ({"a": {"x": 1}}, {"a": {"x": 2}}, ["a"]),
        ({}, {}, []),
    ],
)
def test_own_changes(seen, current, own):
    assert cb.own_changes(seen, current) == own


# --- plan_layers ----------------------------------------------------------------------------


def test_a_first_launch_takes_the_hosts_settings_and_user_keys():
    part = plan()
    assert [(s.path, s.mount_point, s.replace) for s in part.setup] == [
        (LAYERS, False, True),
        (SETTINGS, True, True),
        (CLAUDE_JSON, True, True),
    ]
    assert written(part) == {
        # the layers always name the servers brought in (none here); the project's file not
        LAYERS: {
            "settings.json": fh.HOST_SETTINGS,
            ".claude.json": {**HOST_USER_KEYS, "mcpServers": {}},
        },
        SETTINGS: fh.HOST_SETTINGS,
        CLAUDE_JSON: HOST_USER_KEYS,
    }
    assert all(step.content.endswith("}\n") for step in part.setup)
    assert (part.own, part.mcp_in, part.mcp_env, part.warnings) == ((), (), (), ())
    assert part.mcp_out == ("db",)


def test_the_host_json_gives_only_user_keys_never_servers_projects_or_keys():
    host_json = {
        **fh.CLAUDE_JSON,
        "oauthAccount": {"emailAddress": "a@b"},
        "tipsHistory": {"memory": 3},
        "primaryApiKey": "sk-ant-canary",
        "numStartups": 12,
        "projects": {PROJECT: {"allowedTools": ["canary"], "mcpServers": {"l": {}}}},
    }
    part = plan(host_json=host_json)
    assert written(part)[CLAUDE_JSON] == {
        **HOST_USER_KEYS,
        "oauthAccount": {"emailAddress": "a@b"},
        "tipsHistory": {"memory": 3},
    }
    assert not [step for step in part.setup if "canary" in step.content]
    assert part.mcp_out == ("db", "l")  # the project's own local-scope server is the host's too


def test_a_later_launch_brings_the_hosts_changes_and_keeps_the_projects():
    seen = {"settings.json": fh.HOST_SETTINGS, ".claude.json": HOST_USER_KEYS}
    host_settings = {"theme": "light", "model": "opus", "verbose": True}
    settings = {"theme": "dark", "model": "sonnet", "outputStyle": "terse"}  # /model, /config
    host_json = {**fh.CLAUDE_JSON, "theme": "light", "editorMode": "vim"}
    del host_json["userID"]
    claude_json = {
        **HOST_USER_KEYS,
        "autoUpdates": False,  # a user key the project set itself
        "numStartups": 3,  # Claude's own for the project
        "projects": {PROJECT: {"hasTrustDialogAccepted": True}},
    }
    part = plan(
        host_settings=host_settings,
        settings=settings,
        claude_json=claude_json,
        seen=seen,
        host_json=host_json,
    )
    assert written(part) == {
        LAYERS: {
            "settings.json": host_settings,
            ".claude.json": {
                "hasCompletedOnboarding": True,
                "theme": "light",
                "editorMode": "vim",
                "mcpServers": {},
            },
        },
        SETTINGS: {"theme": "light", "model": "sonnet", "verbose": True, "outputStyle": "terse"},
        CLAUDE_JSON: {
            "hasCompletedOnboarding": True,
            "theme": "light",
            "editorMode": "vim",  # userID: gone with the host's
            "autoUpdates": False,
            "numStartups": 3,
            "projects": {PROJECT: {"hasTrustDialogAccepted": True}},
        },
    }
    assert part.own == ("model", "outputStyle")


def test_the_projects_change_to_a_key_the_host_then_changed_stays():
    seen = {"settings.json": {"model": "opus"}, ".claude.json": {"theme": "dark"}}
    part = plan(
        host_settings={"model": "haiku"},
        settings={"model": "sonnet"},
        claude_json={"theme": "light"},
        seen=seen,
        host_json={"theme": "dark-daltonized"},
    )
    assert [step.path for step in part.setup] == [LAYERS]  # nothing of the project's changes
    assert written(part)[LAYERS] == {
        "settings.json": {"model": "haiku"},
        ".claude.json": {"theme": "dark-daltonized", "mcpServers": {}},
    }
    assert part.own == ("model",)


def test_a_setting_the_project_removed_stays_removed_and_is_its_own():
    seen = {"settings.json": {"model": "opus", "theme": "dark"}}
    part = plan(
        host_settings={"model": "opus", "theme": "dark"}, settings={"theme": "dark"}, seen=seen
    )
    assert SETTINGS not in written(part)
    assert part.own == ("model",)


def test_while_another_session_runs_nothing_is_rewritten():
    seen = {"settings.json": fh.HOST_SETTINGS, ".claude.json": HOST_USER_KEYS}
    part = plan(
        host_settings={"theme": "light"},
        settings={**fh.HOST_SETTINGS, "verbose": True},
        claude_json=HOST_USER_KEYS,
        seen=seen,
        other_session=True,
    )
    assert part.setup == ()
    # as this launch would have layered them (theme followed the host, model left with it)
    assert part.own == ("verbose",)
    assert part.mcp_out == ("db",)
    assert plan(other_session=True).setup == ()  # nor on a first launch


def test_no_settings_anywhere_makes_no_settings_file():
    part = plan(host_settings={})
    assert SETTINGS not in written(part)
    assert written(part)[LAYERS]["settings.json"] == {}
    assert part.own == ()


def test_settings_the_host_removed_are_removed_from_an_existing_file():
    seen = {"settings.json": {"theme": "dark"}, ".claude.json": {}}
    part = plan(host_settings={}, settings={"theme": "dark"}, seen=seen)
    assert written(part)[SETTINGS] == {}  # the file stays, empty
    own = plan(host_settings={}, settings={"model": "x"}, seen={"settings.json": {}})
    assert SETTINGS not in written(own)  # the project's own alone: already what it holds
    assert own.own == ("model",)


def test_a_project_without_layers_takes_its_current_user_keys_as_seen():
    """An instance an older claudebox seeded once: the host's newer values arrive, its own keys
    (not user keys) stay."""
    claude_json = {"theme": "light", "userID": "u-old", "projects": {PROJECT: {"x": 1}}}
    part = plan(claude_json=claude_json, settings={})
    assert written(part)[CLAUDE_JSON] == {**HOST_USER_KEYS, "projects": {PROJECT: {"x": 1}}}
    assert written(part)[SETTINGS] == fh.HOST_SETTINGS  # the old mount point's empty file


def test_an_unchanged_claude_json_is_not_rewritten():
    seen = {"settings.json": fh.HOST_SETTINGS, ".claude.json": HOST_USER_KEYS}
    part = plan(settings=fh.HOST_SETTINGS, claude_json=HOST_USER_KEYS, seen=seen)
    assert [step.path for step in part.setup] == [LAYERS]


# --- MCP servers by name --------------------------------------------------------------------

DB = {"command": "db-mcp", "env": {"DB_PASSWORD": "canary-1", "DB_HOST": "db.lan"}}
SEARCH = {"type": "http", "url": "https://search.example/mcp"}
LOCAL = {"command": "local-mcp", "env": {"LOCAL_TOKEN": "canary-2"}}
SERVERS_JSON = {
    **fh.CLAUDE_JSON,
    "mcpServers": {"db": DB, "search": SEARCH},
    "projects": {
        PROJECT: {"mcpServers": {"local": LOCAL}},
        f"{HOME}/other": {"mcpServers": {"theirs": {"command": "x"}}},
    },
}


def test_host_mcp_servers_are_the_user_scope_and_the_directories_local_scopes():
    assert cb.host_mcp_servers(SERVERS_JSON, [PROJECT]) == {
        "db": DB,
        "search": SEARCH,
        "local": LOCAL,
    }
    assert cb.host_mcp_servers(SERVERS_JSON, [f"{HOME}/other"]) == {
        "db": DB,
        "search": SEARCH,
        "theirs": {"command": "x"},
    }
    assert cb.host_mcp_servers(SERVERS_JSON, []) == {"db": DB, "search": SEARCH}
    assert cb.host_mcp_servers(SERVERS_JSON, [f"{PROJECT}/sub"]) == {"db": DB, "search": SEARCH}
    shadowed = {"mcpServers": {"db": DB}, "projects": {PROJECT: {"mcpServers": {"db": LOCAL}}}}
    assert cb.host_mcp_servers(shadowed, [PROJECT]) == {"db": LOCAL}  # the local scope wins
    for broken in ({"mcpServers": []}, {"projects": []}, {"projects": {PROJECT: 3}}, {}):
        assert cb.host_mcp_servers(broken, [PROJECT]) == {}


def test_of_several_directories_the_later_ones_local_scope_wins():
    top, cwd = f"{HOME}/src/proj-feature", f"{HOME}/src/proj-feature/sub"
    claude_json = {
        "mcpServers": {"a": {"scope": "user"}},
        "projects": {
            PROJECT: {"mcpServers": {"a": {"scope": "root"}, "r": {"scope": "root"}}},
            top: {"mcpServers": {"a": {"scope": "top"}, "t": {"scope": "top"}}},
            cwd: {"mcpServers": {"a": {"scope": "cwd"}}},
        },
    }
    assert cb.host_mcp_servers(claude_json, [PROJECT, top, cwd]) == {
        "a": {"scope": "cwd"},
        "r": {"scope": "root"},
        "t": {"scope": "top"},
    }
    assert cb.host_mcp_servers(claude_json, [cwd, top, PROJECT])["a"] == {"scope": "root"}
    assert cb.host_mcp_servers(claude_json, [PROJECT, PROJECT])["a"] == {"scope": "root"}


def test_the_plan_counts_the_local_scopes_of_the_root_the_worktree_and_the_cwd():
    """A linked worktree's session: Claude on the host keyed its servers by the main worktree
    (the canonical root), the linked one (the git top) or the directory it started in."""
    top, cwd = f"{HOME}/src/proj-feature", f"{HOME}/src/proj-feature/sub"
    host_json = {
        "mcpServers": {"db": DB},
        "projects": {
            PROJECT: {"mcpServers": {"root": {"command": "r"}}},
            top: {"mcpServers": {"top": {"command": "t"}}},
            cwd: {"mcpServers": {"db": LOCAL, "cwd": {"command": "c"}}},
            f"{HOME}/other": {"mcpServers": {"theirs": {"command": "x"}}},
        },
    }
    git = cb.GitLayout(top, PROJECT, f"{PROJECT}/.git", True)
    chosen = profile(("db", "web"), ("root", "web"), ("top", "web"))
    part = plan(chosen, host_json=host_json, git=git, cwd=cwd)
    assert sorted(part.mcp_in) == [("db", "web"), ("root", "web"), ("top", "web")]
    assert part.mcp_out == ("cwd",)
    assert written(part)[CLAUDE_JSON]["mcpServers"] == {
        "db": LOCAL,  # the cwd's, over the user scope's
        "root": {"command": "r"},
        "top": {"command": "t"},
    }
    assert part.warnings == ()


def test_servers_a_profile_names_come_in_with_their_env_on_the_secrets_line():
    chosen = profile(("db", "web"), ("local", "base"), ("gone", "web"))
    part = plan(chosen, host_json=SERVERS_JSON)
    # (in no order of their own: see test_the_servers_inside_are_in_an_order_of_their_own)
    assert sorted(part.mcp_in) == [("db", "web"), ("local", "base")]
    assert part.mcp_out == ("search",)  # another project's local server is never named
    assert sorted(part.mcp_env) == [
        ("db", "DB_HOST"),
        ("db", "DB_PASSWORD"),
        ("local", "LOCAL_TOKEN"),
    ]
    assert part.warnings == (
        "profile web names the MCP server 'gone', which your ~/.claude.json does not have; "
        "check the name (claude mcp list)",
    )
    assert written(part)[CLAUDE_JSON] == {
        **HOST_USER_KEYS,
        "mcpServers": {"db": DB, "local": LOCAL},
    }
    assert written(part)[LAYERS][".claude.json"]["mcpServers"] == {"db": DB, "local": LOCAL}


ORDER = """
import sys
sys.path[:0] = sys.argv[1:]
import test_layers as t
part = t.plan(t.profile(("db", "web"), ("local", "base")), host_json=t.SERVERS_JSON)
print(part.mcp_in, part.mcp_env)
"""


def test_the_servers_inside_are_in_an_order_of_their_own():
    here = os.path.dirname(os.path.abspath(__file__))
    orders = set()
    for seed in range(6):
        result = subprocess.run(
            [sys.executable, "-c", ORDER, here, os.path.dirname(os.path.abspath(cb.__file__))],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        orders.add(result.stdout)
    assert len(orders) == 1, orders


def test_a_server_a_profile_no_longer_names_leaves():
    first = written(plan(profile(("db", "web"), ("local", "web")), host_json=SERVERS_JSON))
    seen = first[LAYERS]
    part = plan(
        profile(("local", "web")), claude_json=first[CLAUDE_JSON], seen=seen, host_json=SERVERS_JSON
    )
    assert written(part)[CLAUDE_JSON]["mcpServers"] == {"local": LOCAL}
    assert written(part)[LAYERS][".claude.json"]["mcpServers"] == {"local": LOCAL}
    assert part.mcp_out == ("db", "search")
    none = plan(claude_json=first[CLAUDE_JSON], seen=seen, host_json=SERVERS_JSON)
    assert written(none)[CLAUDE_JSON]["mcpServers"] == {}  # the key the file had stays, empty
    assert written(none)[LAYERS][".claude.json"]["mcpServers"] == {}
    assert (none.mcp_in, none.mcp_env) == ((), ())
    assert none.mcp_out == ("db", "local", "search")


def test_a_server_the_project_changed_stays_when_the_profile_no_longer_names_it():
    first = written(plan(profile(("db", "web")), host_json=SERVERS_JSON))
    changed = {**DB, "args": ["--read-only"]}  # claude mcp add-json inside, say
    claude_json = {**first[CLAUDE_JSON], "mcpServers": {"db": changed}}
    part = plan(claude_json=claude_json, seen=first[LAYERS], host_json=SERVERS_JSON)
    assert CLAUDE_JSON not in written(part)  # the project's file stays as it is: db in it
    assert written(part)[LAYERS][".claude.json"]["mcpServers"] == {}
    assert part.mcp_in == (("db", ""),)  # inside, and no profile named it: the project's own
    assert part.mcp_out == ("local", "search")
    assert sorted(part.mcp_env) == [("db", "DB_HOST"), ("db", "DB_PASSWORD")]


def test_a_named_server_the_project_removed_stays_removed():
    first = written(plan(profile(("db", "web")), host_json=SERVERS_JSON))
    claude_json = {**first[CLAUDE_JSON], "mcpServers": {}}  # claude mcp remove db, inside
    part = plan(
        profile(("db", "web")), claude_json=claude_json, seen=first[LAYERS], host_json=SERVERS_JSON
    )
    assert CLAUDE_JSON not in written(part)
    assert written(part)[LAYERS][".claude.json"]["mcpServers"] == {"db": DB}  # as seen
    assert (part.mcp_in, part.mcp_env) == ((), ())
    assert part.mcp_out == ("db", "local", "search")


def test_a_named_servers_change_on_the_host_arrives_unless_the_project_changed_it():
    first = written(plan(profile(("db", "web")), host_json=SERVERS_JSON))
    moved_db = {**DB, "env": {"DB_HOST": "db2.lan"}}
    host_json = {**SERVERS_JSON, "mcpServers": {"db": moved_db, "search": SEARCH}}
    again = plan(
        profile(("db", "web")),
        claude_json=first[CLAUDE_JSON],
        seen=first[LAYERS],
        host_json=host_json,
    )
    assert written(again)[CLAUDE_JSON]["mcpServers"] == {"db": moved_db}
    assert again.mcp_env == (("db", "DB_HOST"),)
    own_db = {**DB, "args": ["--read-only"]}
    kept = plan(
        profile(("db", "web")),
        claude_json={**first[CLAUDE_JSON], "mcpServers": {"db": own_db}},
        seen=first[LAYERS],
        host_json=host_json,
    )
    assert CLAUDE_JSON not in written(kept)  # its own db stays
    assert written(kept)[LAYERS][".claude.json"]["mcpServers"] == {"db": moved_db}
    assert kept.mcp_in == (("db", "web"),)


def test_the_projects_own_servers_stay_beside_the_ones_a_profile_brings():
    mine = {"command": "mine-mcp", "env": {"MINE_KEY": "canary-3"}}
    search = {"command": "my-search"}  # its own server, by a name the host's has too
    claude_json = {**HOST_USER_KEYS, "mcpServers": {"mine": mine, "search": search}}
    # a first launch (no layers yet), and a later one: the named server arrives all the same
    for seen in (None, {".claude.json": {**HOST_USER_KEYS, "mcpServers": {}}}):
        part = plan(
            profile(("db", "web")), claude_json=claude_json, seen=seen, host_json=SERVERS_JSON
        )
        assert written(part)[CLAUDE_JSON]["mcpServers"] == {
            "mine": mine,
            "search": search,
            "db": DB,
        }
        assert written(part)[LAYERS][".claude.json"]["mcpServers"] == {"db": DB}
        # inside and the host's: "search" is the project's own (no profile named it)
        assert sorted(part.mcp_in) == [("db", "web"), ("search", "")]
        assert part.mcp_out == ("local",)
        assert sorted(part.mcp_env) == [
            ("db", "DB_HOST"),
            ("db", "DB_PASSWORD"),
            ("mine", "MINE_KEY"),  # every server inside: the project's own too
        ]


def test_the_plan_and_the_audit_name_servers_in_and_out_and_their_variables():
    host = layers_of(host_json=SERVERS_JSON)
    options = FULL._replace(profile=profile(("db", "web")))
    plan_ = cb.build_plan(host, options)
    assert (plan_.mcp_in, plan_.mcp_out) == ((("db", "web"),), ("local", "search"))
    assert plan_.mcp_env == (("db", "DB_PASSWORD"), ("db", "DB_HOST"))
    lines = cb.render_audit(plan_, cb.Style(False), HOME).splitlines()
    assert "  secrets    DB_PASSWORD (MCP server db) DB_HOST (MCP server db)" in lines
    start = next(i for i, line in enumerate(lines) if line.startswith("  mcp "))
    # clipped at its end: the names give way, the hint how to bring one in stays
    assert lines[start : start + 3] == [
        "  mcp        db (profile web)",
        "             2 of yours outside (a profile's mcp_servers brings one in): local,…",
        "  protected  7 paths in the project pinned or read-only",
    ]
    text = cb.render_audit(plan_, cb.Style(False), HOME, verbose=True)
    dry_run = cb.render_dry_run(plan_, ["python3", "cb.py"])
    for shown in (text, dry_run, cb.render_plan_json(plan_)):
        assert "canary" not in shown  # the values: in the project's file, never printed


def test_the_audit_names_the_projects_own_servers_and_every_one_outside_that_fits():
    search = {"command": "my-search"}
    claude_json = {**HOST_USER_KEYS, "mcpServers": {"search": search}}
    host_json = {**fh.CLAUDE_JSON, "mcpServers": {"db": DB, "search": SEARCH, "x": {}}}
    host = layers_of(claude_json=claude_json, host_json=host_json)
    lines = cb.render_audit(cb.build_plan(host, FULL), cb.Style(False), HOME).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  mcp "))
    assert lines[start : start + 2] == [
        "  mcp        search (the project's own)",
        "             2 of yours outside (a profile's mcp_servers brings one in): db, x",
    ]


def test_no_mcp_line_without_servers():
    plan_ = cb.build_plan(layers_of(host_json=HOST_USER_KEYS), FULL)
    lines = cb.render_audit(plan_, cb.Style(False), HOME).splitlines()
    assert [line for line in lines if line.startswith("  mcp ")] == []
    assert [line for line in lines if "settings of its own" in line] == []
    details = cb.render_audit(plan_, cb.Style(False), HOME, verbose=True)
    assert "settings of its own" not in details


def test_the_audit_says_which_settings_the_project_has_of_its_own():
    seen = {"settings.json": fh.HOST_SETTINGS}
    settings = {"theme": "light", "outputStyle": "terse", "model": "opus"}
    plan_ = cb.build_plan(layers_of(settings=settings, seen=seen), FULL)
    assert plan_.own_settings == ("outputStyle", "theme")
    lines = cb.render_audit(plan_, cb.Style(False), HOME).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  claude "))
    assert lines[start + 2 : start + 4] == [
        "             settings of its own: outputStyle, theme",
        "             login via claudebox: no token or key inside",
    ]
    # --details: after ~/.claude's entries (settings.json among them, layered), whole
    details = cb.render_audit(plan_, cb.Style(False), HOME, verbose=True).splitlines()
    plugins = details.index("    plugins: overlaid")
    assert details[plugins + 1 : plugins + 4] == [
        "    settings.json: layered",
        "    settings of its own: outputStyle, theme",
        "",
    ]


def test_a_long_list_of_own_settings_is_clipped_to_the_audits_width():
    settings = {f"setting{index:02}": index for index in range(30)}
    seen = {"settings.json": {}}
    plan_ = cb.build_plan(layers_of(host_settings={}, settings=settings, seen=seen), FULL)
    assert len(plan_.own_settings) == 30
    lines = cb.render_audit(plan_, cb.Style(False), HOME).splitlines()
    [line] = [line for line in lines if "settings of its own" in line]
    assert len(line) == cb.AUDIT_WIDTH and line.endswith("…")
    details = cb.render_audit(plan_, cb.Style(False), HOME, verbose=True).splitlines()
    [line] = [line for line in details if "settings of its own" in line]
    assert line.endswith(", setting29")  # --details names them all


def test_what_a_session_wrote_cannot_flood_the_audit():
    """The project's own files are a session's: a thousand servers with variables, or hooks
    naming programs the sandbox cannot see, give the audit a bounded list, never a flood."""
    servers = {f"s{index:04}": {"command": "x", "env": {"K": "v"}} for index in range(1000)}
    hooks = [{"command": f"/opt/hook{index:04}"} for index in range(1000)]
    own = {"hooks": {"Stop": [{"hooks": hooks}]}}
    host = layers_of(
        host_settings={},
        settings=own,
        seen={"settings.json": {}},
        claude_json={**HOST_USER_KEYS, "mcpServers": servers},
    )
    plan_ = cb.build_plan(host, FULL)
    assert len(plan_.mcp_env) == 1000
    unseen = [w for w in plan_.warnings if "cannot see" in w]
    assert len(unseen) == cb.AUDIT_NAMES_SHOWN
    assert f"… and {1000 - cb.AUDIT_NAMES_SHOWN} more" in plan_.warnings
    audit = cb.render_audit(plan_, cb.Style(False), HOME)
    assert len(audit.splitlines()) < 100
    assert f"… and {1000 - cb.AUDIT_NAMES_SHOWN} more" in " ".join(audit.split())


# --- commands the sandbox cannot see --------------------------------------------------------

HOOKS = {
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {"type": "command", "command": "~/bin/check.sh --strict"},
                    {"type": "command", "command": "$HOME/bin/log.sh"},
                ],
            }
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "/nix/store/abc-notify/bin/notify"}]}],
        "Broken": "not a list",
        "Odd": ["x", {"hooks": "y"}, {"hooks": [1, {"command": 5}, {"type": "command"}]}],
    },
    "statusLine": {"type": "command", "command": "/usr/local/bin/status 'a b'"},
}


def test_settings_commands_reads_hooks_and_the_status_line():
    assert cb.settings_commands(HOOKS) == [
        ("the PreToolUse hook", "~/bin/check.sh --strict"),
        ("the PreToolUse hook", "$HOME/bin/log.sh"),
        ("the Stop hook", "/nix/store/abc-notify/bin/notify"),
        ("the statusLine", "/usr/local/bin/status 'a b'"),
    ]
    for nothing in ({}, {"hooks": []}, {"hooks": {"Stop": {}}}, {"statusLine": "x"}):
        assert cb.settings_commands(nothing) == []


# What plan_layers counts as visible: the store and the project (~/.claude is always).
VISIBLE = ("/nix/store", PROJECT)


def unseen_warning(where: str, program: str) -> str:
    return (
        f"{where} in your settings runs {program}, which the sandbox cannot see; use a program "
        "from /nix/store or one in ~/.claude"
    )


def unseen(*commands: str) -> list[str]:
    settings = {"hooks": {"Stop": [{"hooks": [{"command": c} for c in commands]}]}}
    return cb.unseen_commands(settings, HOME, VISIBLE)


def test_programs_the_sandbox_cannot_see_are_named():
    assert cb.unseen_commands(HOOKS, HOME, VISIBLE) == [
        unseen_warning("the PreToolUse hook", f"{HOME}/bin/check.sh"),
        unseen_warning("the PreToolUse hook", f"{HOME}/bin/log.sh"),
        unseen_warning("the statusLine", "/usr/local/bin/status"),
    ]


@pytest.mark.parametrize(
    "command",
    [
        "/nix/store/abc-x/bin/y --flag",
        "~/.claude/hooks/check.sh",
        "$HOME/.claude/statusline.sh",
        "${HOME}/.claude/statusline.sh",
        f"{HOME}/.claude/x",
        f"{PROJECT}/scripts/hook.sh",
        "node ~/bin/x.js",  # a program found on PATH inside: not a path to check
        "$HOMEDIR/x",  # not $HOME: a name the shell expands, not judged
        "jq .",
        "'unterminated",  # shlex cannot split it: skipped
        "",
        "   ",
    ],
)
def test_programs_the_sandbox_sees_or_cannot_judge_give_no_warning(command):
    assert unseen(command) == []


@pytest.mark.parametrize(
    ("command", "program"),
    [
        (f"{HOME}/.claude-other/x", f"{HOME}/.claude-other/x"),  # not within ~/.claude
        (f"{PROJECT}-old/h.sh", f"{PROJECT}-old/h.sh"),
        ("'/opt/my tools/run' --x", "/opt/my tools/run"),
        ("~/bin/x", f"{HOME}/bin/x"),
        ("$HOME/x", f"{HOME}/x"),
        ("${HOME}/bin/x --flag", f"{HOME}/bin/x"),
        ("${HOME}/.claude-other/x", f"{HOME}/.claude-other/x"),
        # the instance's store is ~/.claude inside: not at this path
        (f"{STORE}/own.sh", f"{STORE}/own.sh"),
    ],
)
def test_programs_outside_what_the_sandbox_sees_warn(command, program):
    assert unseen(command) == [unseen_warning("the Stop hook", program)]


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("~/bin/status.sh", f"{HOME}/bin/status.sh"),
        ("${HOME}/x", f"{HOME}/x"),
        # the instance's claude store is ~/.claude inside, never at its host path
        (f"{STORE}/status.sh", f"{STORE}/status.sh"),
        ("~/.claude/status.sh", None),  # ~/.claude is always seen
    ],
)
def test_the_plan_warns_about_the_layered_settings_commands(command, program):
    settings = {"statusLine": {"type": "command", "command": command}}
    plan_ = cb.build_plan(layers_of(host_settings=settings), FULL)
    expected = [] if program is None else [unseen_warning("the statusLine", program)]
    assert [w for w in plan_.warnings if "statusLine" in w] == expected


# --- the edge: read_json_document, probe_layers, prepare_host --------------------------------


def test_read_json_document(tmp_path):
    doc = tmp_path / "doc.json"
    assert cb.read_json_document(str(doc)) is None  # no file
    doc.write_text('{"a": [1, {"b": null}]}')
    assert cb.read_json_document(str(doc)) == {"a": [1, {"b": None}]}
    for text in ("[1]", '"x"', "3", "null", "not json", "", "{", "[" * 100_000):
        doc.write_text(text)
        assert cb.read_json_document(str(doc)) == {}, text
    doc.write_bytes(b'{"a": "\xff"}')  # not UTF-8: read as what it can be
    assert cb.read_json_document(str(doc)) == {"a": "\udcff"}
    link = tmp_path / "link.json"
    link.symlink_to(doc)
    assert cb.read_json_document(str(link)) is None  # never through a final link
    assert cb.read_json_document(str(tmp_path)) is None  # a directory
    assert cb.read_json_object(str(tmp_path / "gone")) == {}


@pytest.mark.usefixtures("watchdog")
def test_read_json_document_of_a_fifo_returns_at_once(tmp_path):
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)  # nobody writes: a blocking open would wait forever
    assert cb.read_json_document(str(fifo)) is None


def test_probe_layers_follows_the_hosts_links_never_the_projects(tmp_path):
    home = tmp_path / "home"
    store_files = tmp_path / "store"
    store_files.mkdir()
    (store_files / "settings.json").write_text('{"model": "opus"}')
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").symlink_to(store_files / "settings.json")  # home-manager
    instance = cb.instance_for(str(tmp_path / "proj"), str(home / ".claudebox"))
    claude_home = cb.probe_claude_home(str(home))
    assert cb.probe_layers(claude_home, instance) == cb.Layers({"model": "opus"}, None, None, None)
    Path(instance.claude_store).mkdir(parents=True)
    (tmp_path / "elsewhere.json").write_text('{"planted": true}')
    Path(instance.claude_store, "settings.json").symlink_to(tmp_path / "elsewhere.json")
    Path(instance.claude_json).write_text('{"theme": "light"}')
    Path(instance.dir, "layers.json").write_text(
        '{"settings.json": {"model": "opus"}, ".claude.json": [], "other": 3}'
    )
    assert cb.probe_layers(claude_home, instance) == cb.Layers(
        {"model": "opus"},
        None,  # a session's symlink: not followed
        {"theme": "light"},
        {"settings.json": {"model": "opus"}},  # what is not an object is dropped
    )
    Path(instance.dir, "layers.json").write_text("[]")
    assert cb.probe_layers(claude_home, instance).seen == {}  # written, unreadable: seen nothing


def test_prepare_host_rewrites_a_replace_step_and_moves_a_symlink_aside_first(tmp_path):
    state = tmp_path / ".claudebox"
    store = state / "instances" / "x" / "claude"
    store.mkdir(parents=True)
    outside = tmp_path / "outside.json"
    outside.write_text("not yours")
    (store / "settings.json").symlink_to(outside)
    (store / ".claude.json").write_text('{"old": true}')
    layers = state / "instances" / "x" / "layers.json"
    layers.symlink_to(outside)  # not a mount point: replaced, never followed
    steps = [
        cb.HostSetup(str(store / "settings.json"), '{"new": 1}\n', True, replace=True),
        cb.HostSetup(str(store / ".claude.json"), '{"new": 2}\n', True, replace=True),
        cb.HostSetup(str(layers), '{"new": 3}\n', replace=True),
    ]
    cb.prepare_host(steps, str(state))
    assert (store / "settings.json").read_text() == '{"new": 1}\n'
    assert (store / "settings.json.claudebox-quarantined").readlink() == outside
    assert (store / ".claude.json").read_text() == '{"new": 2}\n'  # a file: overwritten
    assert not layers.is_symlink() and layers.read_text() == '{"new": 3}\n'
    assert outside.read_text() == "not yours"
    for path in (store / "settings.json", store / ".claude.json", layers):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert sorted(os.listdir(store)) == [
        ".claude.json",
        "settings.json",
        "settings.json.claudebox-quarantined",
    ]  # no temporary file left


def test_prepare_host_moves_a_directory_aside_for_a_replace_step(tmp_path):
    store = tmp_path / "claude"
    (store / "settings.json").mkdir(parents=True)
    (store / "settings.json" / "inside").write_text("kept")
    cb.prepare_host([cb.HostSetup(str(store / "settings.json"), "{}\n", True, replace=True)], "/x")
    assert (store / "settings.json").read_text() == "{}\n"
    assert (store / "settings.json.claudebox-quarantined" / "inside").read_text() == "kept"


def test_a_launchs_layers_read_back_are_the_next_launchs_seen(tmp_path):
    """prepare_host writes what plan_layers planned; probe_layers reads it back: with nothing
    changed since, the next launch writes only the seen values."""
    home = str(tmp_path / "home")
    host = layers_of(home=home, host_json=SERVERS_JSON)
    chosen = profile(("db", "web"))
    first = cb.build_plan(host, FULL._replace(profile=chosen))
    outside_the_project = [s for s in first.host_setup if s not in first.placeholders]
    cb.prepare_host(outside_the_project, host.state_dir)  # (the project is not on this disk)
    read = cb.probe_layers(host.claude_home._replace(dir=f"{home}/.claude"), first.instance)
    assert read == cb.Layers(
        {},  # no host settings on this disk
        fh.HOST_SETTINGS,
        {**HOST_USER_KEYS, "mcpServers": {"db": DB}},
        {
            "settings.json": fh.HOST_SETTINGS,
            ".claude.json": {**HOST_USER_KEYS, "mcpServers": {"db": DB}},
        },
    )
    again = cb.plan_layers(
        host._replace(layers=read._replace(host_settings=fh.HOST_SETTINGS)),
        first.instance,
        chosen,
    )
    assert [step.path for step in again.setup] == [f"{first.instance.dir}/layers.json"]


# --- the plugins overlay in the stage (a kernel that mounts it, or one that refuses) ---------


class FakeOpener:
    """Opens real paths (O_PATH, never through a final link); a path bound over reopens as
    what was bound onto it, as the kernel's mount would make it."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}
        self.replaced: list[str] = []

    def open(self, path: str, *, allow_link: bool = False) -> int:
        return os.open(self.bound.get(path, path), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)

    def replace(self, path: str, fd: int) -> None:
        self.replaced.append(path)


class FakeLibc:
    def __init__(self, opener: FakeOpener, overlay: bool) -> None:
        self.opener = opener
        self.overlay = overlay  # whether this kernel mounts an overlay for the user
        self.mounts: list[tuple[str | None, str, int, str | None, str | None]] = []

    def mount(self, source, target, flags, fstype=None, data=None) -> None:
        real = [
            os.readlink(p) if p and p.startswith("/proc/self/fd/") else p for p in (source, target)
        ]
        self.mounts.append((real[0], real[1], flags, fstype, data))
        if fstype == "overlay" and not self.overlay:
            raise OSError(1, "Operation not permitted")
        if flags & cb.MS_BIND and not flags & cb.MS_REMOUNT:
            self.opener.bound[real[1]] = real[0]


def overlay_pin(tmp_path: Path, source: str = "plugins") -> cb.Pin:
    for name in (source, "claude/plugins", "plugins-own", "plugins-own.work"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return cb.Pin(
        str(tmp_path / "claude/plugins"),
        cb.Kind.DIR,
        False,
        str(tmp_path / source),
        "the host's, with the project's own on top",
        str(tmp_path / "plugins-own"),
    )


def test_the_stage_mounts_an_overlay_over_the_hosts_plugins(tmp_path):
    pin = overlay_pin(tmp_path)
    opener = FakeOpener()
    libc = FakeLibc(opener, overlay=True)
    cb.stage_pin(libc, pin, opener)
    assert libc.mounts == [
        (
            "overlay",
            pin.path,
            cb.MS_NOSUID | cb.MS_NODEV,
            "overlay",
            f"lowerdir={tmp_path}/plugins,upperdir={tmp_path}/plugins-own,"
            f"workdir={tmp_path}/plugins-own.work,userxattr",
        )
    ]
    assert opener.replaced == [pin.path]  # later walks below it go through the overlay


def test_a_kernel_without_user_overlays_gets_the_hosts_plugins_read_only(tmp_path):
    pin = overlay_pin(tmp_path)
    opener = FakeOpener()
    libc = FakeLibc(opener, overlay=False)
    cb.stage_pin(libc, pin, opener)
    overlay, bind, remount = libc.mounts
    assert overlay[3] == "overlay"
    assert bind == (pin.source, pin.path, cb.MS_BIND | cb.MS_REC, None, None)
    assert remount[0] is None and remount[1] == pin.source  # the bound directory itself
    assert remount[2] & (cb.MS_REMOUNT | cb.MS_BIND | cb.MS_RDONLY | cb.MS_NOSUID) == (
        cb.MS_REMOUNT | cb.MS_BIND | cb.MS_RDONLY | cb.MS_NOSUID
    )
    assert opener.replaced == [pin.path]


@pytest.mark.parametrize("source", ["plug,ins", "plug:ins", "plug\\ins"])
def test_a_path_the_overlay_options_cannot_say_gets_a_read_only_bind(tmp_path, source):
    pin = overlay_pin(tmp_path, source)
    opener = FakeOpener()
    libc = FakeLibc(opener, overlay=True)
    cb.stage_pin(libc, pin, opener)
    assert [fstype for *_rest, fstype, _data in libc.mounts] == [None, None]  # no overlay tried
    assert libc.mounts[1][2] & cb.MS_RDONLY
