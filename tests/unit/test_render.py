"""The audit text and the golden --dry-run text (UPDATE_GOLDEN=1 rewrites the golden files)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import fakehost as fh
import pytest
from fakehost import FULL

import claudebox as cb
from claudebox import Kind, Tier

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[")
LAUNCHER = ("/run/current-system/sw/bin/python3", "-I", "/nix/store/" + "7" * 32 + "-claudebox")


def golden_plan(tier=Tier.FULL, origin="--network", host=None):
    return cb.build_plan(
        host or fh.make_host(),
        cb.Options(
            claude_args=("-p", "fix the tests", "--model", "x"),
            tier=tier,
            tier_origin=origin,
            extra_env=("GH_HOST", "NOT_SET"),
        ),
    )


def audit(plan, colour=False, verbose=False):
    return cb.render_audit(plan, cb.Style(colour), fh.HOME, verbose=verbose)


def check_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_dry_run_golden():
    check_golden("dry_run.txt", cb.render_dry_run(golden_plan(), LAUNCHER))


def test_dry_run_inet_golden():
    check_golden("dry_run_inet.txt", cb.render_dry_run(golden_plan(Tier.INET), LAUNCHER))


def test_audit_golden():
    check_golden("audit.txt", audit(golden_plan(Tier.INET, "default")))


def test_audit_details_golden():
    check_golden("audit_details.txt", audit(golden_plan(), verbose=True))


def test_the_default_audit_fits_80_columns():
    profile = cb.Profile(
        "web",
        "--profile",
        ("base", "web"),
        description=("node and python for the shop's web front end, with its data", "web"),
        mounts=(cb.ProfileMount(f"{fh.HOME}/data/shop-fixtures", "/srv/fixtures", "rw", "web"),),
        packages=(("nodejs_22", "web"), ("python3", "base")),
    )
    host = fh.make_host(
        claude=f"{fh.HOME}/.local/share/claude/versions/2.1.197", other_session=True
    )
    options = cb.Options(
        claude_args=("-p", "a long prompt " * 10),
        profile=profile,
        extra_env=("GITHUB_TOKEN",),
        nixpkgs="github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567",
    )
    text = audit(cb.build_plan(host, options))
    assert [line for line in text.splitlines() if len(line) > cb.AUDIT_WIDTH] == []
    check_golden("audit_profile.txt", text)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
@pytest.mark.parametrize("tier", list(Tier))
def test_dry_run_is_valid_shell_that_reproduces_the_launch(tmp_path, tier, shell):
    """Pasted into bash or zsh, the text hands the launcher exactly --stage SPEC -- argv, the
    generated files on their descriptors (the environment's values from the pasting shell, as
    "$NAME"), the login's values on descriptor 9, and nothing where the launch makes its own
    data."""
    profile = cb.Profile(
        "web", "--profile", ("web",), env=(("GREETING", 'it\'s $HOME\n"x"', "web"),)
    )
    options = cb.Options(claude_args=("-p", "it's $HOME"), tier=tier, profile=profile)
    plan = cb.build_plan(fh.make_host(), options)
    _text, got = fh.pasted_run(tmp_path, plan, fh.HOST_ENV, shell)
    assert got["argv"][:3] == ["--stage", got["argv"][1], "--"]
    assert json.loads(got["argv"][1]) == json.loads(json.dumps(cb.stage_spec(plan)))
    assert got["argv"][3:] == plan.argv
    expected = {str(fd): None for fd in range(9, cb.FIRST_BIND_FD)}
    expected |= {str(d.fd): d.content.hex() for d in plan.data if d.kind not in cb.LAUNCH_DATA}
    expected["9"] = b"ANTHROPIC_API_KEY\0sk-ant-api03-canary\0".hex()
    assert got["data"] == expected
    env = bytes.fromhex(got["data"]["10"])
    assert b'--setenv\0GREETING\0it\'s $HOME\n"x"\0' in env
    assert b"sk-ant-api03-canary" not in env


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_dry_run_whose_data_holds_the_end_word_as_a_line_ends_its_script_elsewhere(
    tmp_path, shell
):
    value = "x\nCLAUDEBOX\nCLAUDEBOX_\ny"
    profile = cb.Profile("web", "--profile", ("web",), env=(("GREETING", value, "web"),))
    plan = cb.build_plan(fh.make_host(), cb.Options(profile=profile))
    text, got = fh.pasted_run(tmp_path, plan, fh.HOST_ENV, shell)
    assert text.startswith("bash /dev/fd/3 3<<'CLAUDEBOX__'\n")
    assert f"--setenv\0GREETING\0{value}\0".encode() in bytes.fromhex(got["data"]["10"])


def test_a_pasted_dry_run_takes_the_environments_values_from_the_pasting_shell(tmp_path):
    plan = cb.build_plan(fh.make_host(), cb.Options(extra_env=("GH_HOST",)))
    text = cb.render_dry_run(plan, ["claudebox"])
    for value in ("vim", "github.example.org", "sk-ant-api03-canary", "xterm-256color"):
        assert value not in text
    assert '--setenv EDITOR "$EDITOR"' in text
    shell = {**fh.HOST_ENV, "EDITOR": "nano", "ANTHROPIC_API_KEY": "sk-ant-api03-other"}
    del shell["GH_HOST"]
    _text, got = fh.pasted_run(tmp_path, plan, shell)
    env = bytes.fromhex(got["data"]["10"])
    assert b"--setenv\0EDITOR\0nano\0" in env
    assert b"--setenv\0GH_HOST\0\0" in env  # unset in that shell: empty
    assert bytes.fromhex(got["data"]["9"]) == b"ANTHROPIC_API_KEY\0sk-ant-api03-other\0"


def test_a_dry_run_without_login_variables_opens_no_secrets_descriptor():
    env = {k: v for k, v in fh.HOST_ENV.items() if k != "ANTHROPIC_API_KEY"}
    plan = cb.build_plan(fh.make_host(env=env), FULL)
    assert cb.login_secret_words(plan) == []
    assert " 9< " not in cb.render_dry_run(plan, ["claudebox"])


def test_login_secret_words_name_the_variables_and_the_gateway():
    host_env = {
        **fh.HOST_ENV,
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-x",
        "ANTHROPIC_BASE_URL": "https://gateway.example",
    }
    plan = cb.build_plan(fh.make_host(env=host_env), FULL)
    assert cb.login_secret_words(plan) == [
        "ANTHROPIC_API_KEY",
        '"$ANTHROPIC_API_KEY"',
        "CLAUDE_CODE_OAUTH_TOKEN",
        '"$CLAUDE_CODE_OAUTH_TOKEN"',
        "ANTHROPIC_BASE_URL",
        '"$ANTHROPIC_BASE_URL"',
    ]
    assert cb.render_dry_run(plan, ["claudebox"]).endswith(
        " 9< <(printf '%s\\0' ANTHROPIC_API_KEY \"$ANTHROPIC_API_KEY\" CLAUDE_CODE_OAUTH_TOKEN "
        '"$CLAUDE_CODE_OAUTH_TOKEN" ANTHROPIC_BASE_URL "$ANTHROPIC_BASE_URL")\nCLAUDEBOX\n'
    )


def test_the_stage_reads_the_login_values_a_pasted_dry_run_hands_it(tmp_path):
    """The 9< <(printf ...) part of a --dry-run, read back as --stage reads it; a variable
    the pasting shell lacks (or has empty) is left out."""
    host_env = {**fh.HOST_ENV, "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-x y\nz"}
    plan = cb.build_plan(fh.make_host(env=host_env), FULL)
    words = " ".join(cb.login_secret_words(plan))
    reader = (
        f"import sys; sys.path.insert(0, {str(Path(cb.__file__).parent)!r}); import claudebox, "
        "json; print(json.dumps(claudebox.read_login_secrets())); import os; os.fstat(9)"
    )
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(reader)} 9< <(printf '%s\\0' {words})"

    def run(env):
        env = {**env, "PATH": os.environ["PATH"]}
        return subprocess.run(
            ["bash", "-c", command], env=env, capture_output=True, text=True, check=False
        )

    result = run(host_env)
    assert json.loads(result.stdout) == {
        "ANTHROPIC_API_KEY": "sk-ant-api03-canary",
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-x y\nz",
    }
    assert "Bad file descriptor" in result.stderr  # closed once read
    lacking = {k: v for k, v in host_env.items() if k != "ANTHROPIC_API_KEY"}
    lacking["CLAUDE_CODE_OAUTH_TOKEN"] = ""
    assert json.loads(run(lacking).stdout) == {}
    plain = subprocess.run(
        [sys.executable, "-c", reader.rsplit(";", 2)[0]], capture_output=True, text=True, check=True
    )
    assert json.loads(plain.stdout) == {}  # no descriptor 9: no values


def test_shell_value_quotes_what_claudebox_or_a_profile_set():
    assert cb.shell_value(cb.EnvVar("HOME", "/home/a b", "sandbox")) == "'/home/a b'"
    assert cb.shell_value(cb.EnvVar("X", "it's", "profile")) == "'it'\"'\"'s'"
    for origin in ("host", "CLAUDEBOX_EXTRA_ENV", "profile web"):
        assert cb.shell_value(cb.EnvVar("TERM", "xterm", origin)) == '"$TERM"'


# The host's user keys of ~/.claude.json (fh.CLAUDE_JSON's), as the project's own file has them
CLAUDE_JSON_LAYER = json.dumps(fh.HOST_USER_KEYS, indent=2) + "\n"
HOST_SETTINGS = '{"keep": 1}'


def setup_host(tmp_path, plant=None):
    """A host whose ~/.claude holds settings.json (layered) and agents/ (read-only), and the
    plan for it, with the project's layers as probe_layers reads them (after `plant(store)`
    has left what a session could in the project's own ~/.claude)."""
    home = str(tmp_path / "home")
    entries = {"settings.json": Kind.FILE, "agents": Kind.DIR, "projects": Kind.DIR}
    host = fh.make_host(home=home, tree={}, claude_home=fh.claude_home(home, entries))
    Path(home, ".claude", "agents").mkdir(parents=True)
    Path(home, ".claude", "projects").mkdir()
    Path(home, ".claude", "settings.json").write_text(HOST_SETTINGS)
    instance = cb.instance_for(host.git.canonical_root, host.state_dir)
    if plant:
        plant(Path(instance.claude_store))
    host = host._replace(layers=cb.probe_layers(host.claude_home, instance))
    return host, cb.build_plan(host, FULL), fh.tree(Path(home, ".claude"))


def assert_the_tree_is_set_up(plan, home, *, layered):
    """What the dry run's setup makes; `layered`: and the layers only a launch writes (the
    dry run prints no content of theirs: it can hold the host's values)."""
    store = Path(plan.instance.claude_store)
    root = Path(plan.instance.dir, "root")
    assert root.read_text() == f"{home}/src/proj\n"
    assert oct(root.stat().st_mode & 0o777) == "0o600"
    for directory in (plan.instance.dir, store, store / "agents", plan.relay.log_dir):
        assert oct(Path(directory).stat().st_mode & 0o777) == "0o700", directory
    assert (store / ".credentials.json").read_text() == ""  # the mount point of the login's
    assert sorted(os.listdir(store)) == [
        ".claude.json",
        ".credentials.json",
        "agents",
        *(["settings.json"] if layered else []),
    ]
    layers = Path(plan.instance.dir, cb.LAYERS_FILE)
    if not layered:
        assert (store / ".claude.json").read_text() == "{}\n"
        assert not layers.exists()
        return
    assert (store / ".claude.json").read_text() == CLAUDE_JSON_LAYER
    assert (store / "settings.json").read_text() == '{\n  "keep": 1\n}\n'  # the host's, a copy
    assert json.loads(layers.read_text()) == {
        # the layers name the servers brought in, none here: the project's file has no key
        ".claude.json": {**fh.HOST_USER_KEYS, "mcpServers": {}},
        "settings.json": {"keep": 1},
    }
    for path in (layers, store / "settings.json", store / ".claude.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path


def test_dry_run_host_setup_builds_the_tree(tmp_path):
    host, plan, claude_before = setup_host(tmp_path)
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    assert setup.count(": claudebox rewrites ") == 3  # layers.json, settings.json, .claude.json
    subprocess.run(["bash", "-euc", setup], check=True)
    subprocess.run(["bash", "-euc", setup], check=True)  # idempotent
    assert_the_tree_is_set_up(plan, host.home, layered=False)
    assert fh.tree(Path(host.home, ".claude")) == claude_before  # the host's, untouched


def test_prepare_host_matches_dry_run_setup_and_writes_the_layers(tmp_path):
    host, plan, claude_before = setup_host(tmp_path)
    cb.prepare_host(plan.host_setup, host.state_dir)
    cb.prepare_host(plan.host_setup, host.state_dir)
    assert_the_tree_is_set_up(plan, host.home, layered=True)
    assert fh.tree(Path(host.home, ".claude")) == claude_before
    again = cb.build_plan(
        host._replace(layers=cb.probe_layers(host.claude_home, plan.instance)), FULL
    )
    # the next launch: nothing changed, so only the seen values are written again
    assert [step.path for step in again.host_setup if step.replace] == [
        f"{plan.instance.dir}/{cb.LAYERS_FILE}"
    ]


def plant_at_mount_points(tmp_path):
    """What a session could leave in its own ~/.claude where the host's entries are mounted
    (or, settings.json, where claudebox writes the project's layer)."""

    def plant(store):
        store.mkdir(parents=True)
        (tmp_path / "elsewhere").write_text("not yours")
        (store / "settings.json").symlink_to(tmp_path / "elsewhere")
        (store / "agents").write_text("a file where a directory is mounted")
        (store / ".credentials.json").mkdir()
        (store / ".claude.json").write_text('{"kept": true}')  # the project's own: stays

    return plant


def test_prepare_host_moves_aside_what_a_session_left_at_a_mount_point(tmp_path):
    host, plan, _ = setup_host(tmp_path, plant_at_mount_points(tmp_path))
    assert host.layers.settings is None  # the symlink is not followed
    cb.prepare_host(plan.host_setup, host.state_dir)
    store = Path(plan.instance.claude_store)
    assert sorted(os.listdir(store)) == [
        ".claude.json",
        ".credentials.json",
        ".credentials.json.claudebox-quarantined",
        "agents",
        "agents.claudebox-quarantined",
        "settings.json",
        "settings.json.claudebox-quarantined",
    ]
    assert (store / "settings.json").read_text() == '{\n  "keep": 1\n}\n'
    assert not (store / "settings.json").is_symlink()
    assert (store / "settings.json.claudebox-quarantined").is_symlink()  # moved, not followed
    assert (tmp_path / "elsewhere").read_text() == "not yours"
    assert (store / "agents").is_dir() and (store / ".credentials.json").is_file()
    # the project's own key stays; the host's user keys arrive (a first layering)
    assert json.loads((store / ".claude.json").read_text()) == {
        "kept": True,
        **fh.HOST_USER_KEYS,
    }


def test_the_dry_runs_setup_moves_aside_what_a_session_left_at_a_mount_point(tmp_path):
    _host, plan, _ = setup_host(tmp_path, plant_at_mount_points(tmp_path))
    setup = "".join(step.render() + "\n" for step in plan.host_setup)
    shell = subprocess.run(["bash", "-euc", f"{setup}echo $$"], check=True, capture_output=True)
    pid = shell.stdout.decode().strip()
    store = Path(plan.instance.claude_store)
    assert sorted(os.listdir(store)) == [
        ".claude.json",
        ".credentials.json",
        f".credentials.json.claudebox-quarantined-{pid}",
        "agents",
        f"agents.claudebox-quarantined-{pid}",
        "settings.json",  # no mount point: a launch moves it aside as it writes the layer
    ]
    assert (store / "settings.json").is_symlink()
    assert (tmp_path / "elsewhere").read_text() == "not yours"
    assert (store / ".claude.json").read_text() == '{"kept": true}'


def test_prepare_host_makes_an_open_state_directory_private(tmp_path):
    state = tmp_path / ".claudebox"
    (state / "instances").mkdir(parents=True)
    state.chmod(0o755)
    (state / "instances").chmod(0o775)
    cb.prepare_host([cb.HostSetup(str(state)), cb.HostSetup(str(state / "instances"))], str(state))
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert oct((state / "instances").stat().st_mode & 0o777) == "0o700"


def test_prepare_host_closes_what_a_session_opened_in_the_projects_own_claude(tmp_path):
    """`chmod 777 ~/.claude` inside is the instance's store: the next launch makes it private
    again (and a directory mounted over in it); what is not claudebox's keeps its mode."""
    host, plan, _ = setup_host(tmp_path)
    cb.prepare_host(plan.host_setup, host.state_dir)
    store = Path(plan.instance.claude_store)
    for directory in (store, store / "agents", Path(plan.instance.dir)):
        directory.chmod(0o777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    cb.prepare_host([*plan.host_setup, cb.HostSetup(str(elsewhere))], host.state_dir)
    for directory in (store, store / "agents", Path(plan.instance.dir)):
        assert oct(directory.stat().st_mode & 0o777) == "0o700", directory
    assert oct(elsewhere.stat().st_mode & 0o777) == "0o755"


def test_audit_masks_secret_values():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN", "GH_HOST")))
    for text in (audit(plan), audit(plan, verbose=True)):
        assert "sk-ant-api03-canary" not in text
        assert "ghp_canary" not in text
    lines = audit(plan, verbose=True).splitlines()
    assert (
        "    ANTHROPIC_API_KEY=(set at launch: a placeholder, or the proxy's address)  "
        "[claudebox's login relay]"
    ) in lines
    assert "    GITHUB_TOKEN=<masked, 10 chars>  [CLAUDEBOX_EXTRA_ENV]" in lines
    assert "    GH_HOST=github.example.org  [CLAUDEBOX_EXTRA_ENV]" in lines
    lines = audit(plan).splitlines()
    # the login's variables are placeholders inside: no secret of the host's
    assert "  secrets    GITHUB_TOKEN (CLAUDEBOX_EXTRA_ENV)" in lines
    start = lines.index(
        "  claude     ~/.claude: this project's own, 2 of yours read-only, plugins with"
    )
    assert lines[start + 1 : start + 3] == [
        "             its own on top",
        "             login via claudebox: no token or key inside",
    ]
    assert lines[-2:] == [
        "  warning    GITHUB_TOKEN looks like a secret and is passed in by",
        "             CLAUDEBOX_EXTRA_ENV",
    ]


def test_audit_without_colour_has_no_escapes():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN",)))
    assert plan.warnings
    assert not ANSI.search(audit(plan))


def test_audit_with_colour_paints_full_network_and_warnings_red():
    plan = cb.build_plan(fh.make_host(), FULL._replace(extra_env=("GITHUB_TOKEN",)))
    lines = audit(plan, colour=True).splitlines()
    assert lines[0] == "\x1b[1mclaudebox 0.2.0: sandbox for /home/alice/src/proj/sub\x1b[0m"
    assert (
        "\x1b[1;31m  network    ! full (--network): the host's network: its LAN, tailnet and\x1b[0m"
    ) in lines
    assert "\x1b[1;31m  warning    GITHUB_TOKEN looks like a secret and is passed in by\x1b[0m" in (
        lines
    )
    inet = audit(cb.build_plan(fh.make_host(), cb.Options()), colour=True).splitlines()
    assert inet[inet.index("") + 2 : inet.index("") + 4] == [
        "  network    inet (default): the internet only: LAN, tailnet, link-local and",
        "             host services unreachable",
    ]


def test_audit_network_none_line():
    plan = cb.build_plan(fh.make_host(), cb.Options(tier=Tier.NONE, tier_origin="profile web"))
    lines = audit(plan).splitlines()
    assert lines[lines.index("") + 2 : lines.index("") + 5] == [
        "  network    none (profile web): none: only Claude's API, through claudebox's",
        "             relay (the nix daemon still downloads for you)",
        "  writable   /home/alice/src/proj (the project)",
    ]
    assert not [line for line in lines if "unreachable" in line]


def test_the_login_line_says_no_token_and_no_key_when_a_key_enters():
    login = cb.Login("/h/.claude", (), "", "/ca", "openssl", "0" * 16)
    assert cb.login_words(login) == ["login via claudebox: no token inside"]
    for variables in (("ANTHROPIC_AUTH_TOKEN",), tuple(cb.LOGIN_VARIABLES)):
        assert cb.login_words(login._replace(variables=variables)) == [
            "login via claudebox: no token or key inside"
        ]


def test_the_audits_details_show_the_proxy_of_each_tier():
    lines = {
        tier: audit(cb.build_plan(fh.make_host(), cb.Options(tier=tier)), verbose=True)
        for tier in Tier
    }
    assert (
        "  the proxy (on the host's loopback, behind a session token): Claude's hosts, and "
        "anything else the host reaches"
    ) in lines[Tier.FULL].splitlines()
    assert (
        "  the proxy (http://127.0.0.1:3128): Claude's hosts, and anything the inet "
        "tier does not block"
    ) in lines[Tier.INET].splitlines()
    assert "  the proxy (http://127.0.0.1:3128): Claude's hosts only" in (
        lines[Tier.NONE].splitlines()
    )
    for tier, text in lines.items():
        assert "    api.anthropic.com (Claude's login: TLS ends at claudebox)" in text, tier
        assert ("  the proxy never connects to" in text) is (tier is not Tier.FULL)
        assert "Claude's base URL" not in text
    gateway = fh.make_host(env={**fh.HOST_ENV, "ANTHROPIC_BASE_URL": "https://gw.example/v1"})
    text = audit(cb.build_plan(gateway, FULL), verbose=True)
    assert "    Claude's base URL: the relay, on to https://gw.example/v1" in text.splitlines()


def test_shown_command_drops_the_flag_settings_and_shortens():
    command = cb.claude_command(fh.CLAUDE, ("-p", "x"))
    assert cb.shown_command(command) == "claude --dangerously-skip-permissions -p x"
    long = cb.shown_command(cb.claude_command(fh.CLAUDE, ("-p", "y" * 100)))
    assert len(long) == cb.AUDIT_WIDTH - cb.AUDIT_LABEL
    assert long.endswith("y…")
    assert cb.shown_command((f"{fh.BASH_BIN}/bash",)) == "bash"


@pytest.mark.parametrize(
    ("items", "lines"),
    [
        (["short"], ["  label      short"]),
        (["a" * 67], ["  label      " + "a" * 67]),
        (
            ["a" * 30, "b" * 30, "c" * 30],
            ["  label      " + "a" * 30 + " " + "b" * 30, " " * 13 + "c" * 30],
        ),
        # an item that fits the value column stays whole, one that does not breaks at spaces
        (
            ["x" * 55, "kept on one line"],
            ["  label      " + "x" * 55, " " * 13 + "kept on one line"],
        ),
        (
            [("word " * 20).strip()],
            ["  label      " + ("word " * 13).strip(), " " * 13 + ("word " * 7).strip()],
        ),
    ],
)
def test_fill(items, lines):
    assert cb.fill("label", items) == lines


def test_printf_command():
    assert cb.printf_command(b"a'b\n") == "printf %s 'a'\"'\"'b\n'"
    assert cb.printf_command(b"\x00\x01 ") == "printf '\\000\\001\\040'"
    assert cb.printf_command(b"\xff") == "printf '\\377'"


def test_dry_run_json_masks_secrets_and_carries_the_stage():
    plan = golden_plan(Tier.INET)
    document = json.loads(cb.render_plan_json(plan))
    assert "sk-ant-api03-canary" not in cb.render_plan_json(plan)
    assert document["stage"] == json.loads(json.dumps(cb.stage_spec(plan)))
    assert document["argv"] == plan.argv
    assert "ANTHROPIC_API_KEY" not in document["argv"]
    assert document["network"] == "inet"
    assert document["proxy"] == {
        "url": "http://127.0.0.1:3128",
        "reaches": "unblocked",
        "login_hosts": list(cb.LOGIN_HOSTS),
        "never_connects_to": [
            {"prefix": item.prefix, "origin": item.origin} for item in plan.relay.blocked
        ],
    }
    assert document["login"] == {
        "placeholders": ["ANTHROPIC_API_KEY"],
        "credentials": f"{fh.CLAUDE_DIR}/.credentials.json",
        "upstream": None,
    }
    assert document["network_log"] == plan.relay.log_dir
    assert document["watched"] == list(plan.watched)
    assert [m["describe"] for m in document["mounts"]] == [m.describe() for m in plan.mounts]
    assert document["generated"] == [
        {"fd": 10, "what": "environment", "bytes": len(plan.data[0].content)},
        {"fd": 11, "what": "login environment", "bytes": None},  # made at launch
        {"fd": 12, "what": "login CA certificate", "bytes": None},
        {"fd": 13, "what": "login placeholders", "bytes": None},
        {"fd": 14, "what": "boot id", "bytes": None},
        {"fd": 15, "what": "gitconfig", "bytes": len(plan.data[5].content)},
        {"fd": 16, "what": "sandbox note", "bytes": len(plan.data[6].content)},
        {"fd": 17, "what": "seccomp filter", "bytes": 160},
        {"fd": 18, "what": "passwd", "bytes": len(plan.data[8].content)},
        {"fd": 19, "what": "group", "bytes": 23},
        {"fd": 20, "what": "kernel keys (none)", "bytes": 0},
        {"fd": 21, "what": "kernel key users (none)", "bytes": 0},
        {"fd": 22, "what": "kernel command line (empty)", "bytes": 1},
        {"fd": 23, "what": "resolv.conf", "bytes": 22},
    ]
    full = json.loads(cb.render_plan_json(golden_plan()))
    assert (full["proxy"]["url"], full["proxy"]["reaches"]) == (None, "any")


def test_the_default_audit_names_every_host_directory_a_profile_mounts():
    profile = cb.Profile(
        "web",
        "--profile",
        ("web",),
        mounts=(cb.ProfileMount("/srv/datasets", "/srv/datasets", "ro", "web"),),
    )
    assert "/srv/datasets" in audit(cb.build_plan(fh.make_host(), cb.Options(profile=profile)))


# --- the audit on an 80x24 screen ---------------------------------------------------------

SCREEN_PROFILE = cb.Profile(
    "web",
    "--profile",
    ("base", "web"),
    description=("node and python for the shop's web front end, with its data", "web"),
    env=(("NODE_ENV", "development", "web"), ("PGHOST", "localhost", "base")),
    mounts=(
        cb.ProfileMount(f"{fh.HOME}/data/shop-fixtures", "/srv/fixtures", "rw", "web"),
        cb.ProfileMount(f"{fh.HOME}/data/reference", "/srv/reference", "ro", "base"),
    ),
    packages=(("nodejs_22", "web"), ("python3", "base"), ("postgresql_16", "base")),
    allow_domains=(("*.npmjs.org", "base"), ("github.com:22", "web")),
    host_ports=((5432, "base"), (8080, "web")),
)


def screen_plan(tier, profile):
    """A launch as a user with a profile makes it: each of the profile's kinds of entry, those
    the tier takes (allow_domains: allowlist; host_ports: inet and allowlist), a flag's name."""
    if profile is not None:
        profile = profile._replace(
            allow_domains=profile.allow_domains if tier is Tier.ALLOWLIST else (),
            host_ports=profile.host_ports if tier in (Tier.INET, Tier.ALLOWLIST) else (),
        )
    options = cb.Options(
        claude_args=("-p", "fix the tests"),
        tier=tier,
        tier_origin="--allow-domain" if tier is Tier.ALLOWLIST else "--network",
        profile=profile,
        allow_domains=("example.org", "pypi.org") if tier is Tier.ALLOWLIST else (),
        nixpkgs="github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567",
    )
    return cb.build_plan(fh.make_host(other_session=True), options)


def on_screen(text, question=cb.LAUNCH_QUESTION):
    """The rows the audit and its question take (a too-long row would wrap)."""
    return [*text.splitlines(), question]


def test_the_audit_and_its_question_fit_80x24_for_every_tier_with_and_without_a_profile():
    screens = []
    for tier in Tier:
        for profile in (None, SCREEN_PROFILE):
            plan = screen_plan(tier, profile)
            rows = on_screen(audit(plan))
            assert len(rows) <= 24, (tier, profile)
            assert [row for row in rows if len(row) > cb.AUDIT_WIDTH] == []
            screen = "\n".join(rows)
            assert rows[0].startswith("claudebox ") and f"network    {tier.value} (" in (
                screen.replace("! ", "")
            )
            red = [row for row in audit(plan, colour=True).splitlines() if "\x1b[1;31m" in row]
            for port, _origin in plan.profile.host_ports if plan.profile else ():
                assert any(str(port) in row for row in red), (tier, port)
            if profile is not None:
                assert any("! ~/data/shop-fixtures (profile web)" in row for row in red)
            for warning in plan.warnings:
                assert warning in " ".join(screen.split())
            name = f"{tier.value}{' --profile web' if profile else ''}"
            screens.append(f"=== {name}\n{screen}\n")
    check_golden("audit_screens.txt", "".join(screens))


def test_the_audit_in_full_is_what_a_larger_screen_gets():
    plan = screen_plan(Tier.ALLOWLIST, SCREEN_PROFILE)
    text = cb.render_audit(plan, cb.Style(False), fh.HOME, rows=999)
    assert len(text.splitlines()) > 24
    assert "  variables  ALL_PROXY" in text
    assert "             example.org pypi.org (--allow-domain)" in text


def test_warnings_that_alone_overflow_the_screen_are_counted():
    plan = screen_plan(Tier.FULL, SCREEN_PROFILE)
    many = tuple(f"warning number {index} about something long enough" for index in range(30))
    rows = on_screen(audit(plan._replace(warnings=many)))
    assert len(rows) == 24
    shown = [row for row in rows if "warning number" in row]
    assert rows[-2] == f"             … and {30 - len(shown)} more warnings (--details shows them)"
    assert len(shown) >= 5
    assert rows[0].startswith("claudebox ") and "! full (--network)" in rows[4] + rows[5]


# --- --yes: one line, and in full what is red, the secrets and the warnings ----------------


def test_yes_prints_one_line_when_nothing_is_red_and_no_warning():
    plan = golden_plan(Tier.INET, "default")
    assert plan.warnings == () and not plan.relay.host_ports
    summary = cb.render_summary(plan, cb.Style(False), fh.HOME)
    assert summary == (
        "claudebox 0.2.0: sandbox for ~/src/proj/sub: inet (default) (--details: the audit)\n"
    )


def test_yes_summary_golden():
    texts = []
    for tier in Tier:
        plan = screen_plan(tier, SCREEN_PROFILE)
        plan = plan._replace(
            warnings=("a warning the user must see, in full, whatever its length",)
        )
        summary = cb.render_summary(plan, cb.Style(False), fh.HOME)
        lines = summary.splitlines()
        assert lines[0].startswith("claudebox 0.2.0: sandbox for ~/src/proj/sub: ")
        red = cb.render_summary(plan, cb.Style(True), fh.HOME)
        in_full = cb.render_audit(plan, cb.Style(True), fh.HOME, rows=999)
        for line in in_full.splitlines():  # every red line of the audit
            if "\x1b[1;31m" in line:
                assert " ".join(cb.STYLE_CODE.sub("", line).split()[1:]) in " ".join(red.split())
        assert [line for line in lines[1:] if len(line) > cb.AUDIT_WIDTH] == []
        texts.append(f"=== {tier.value} --profile web --yes\n{summary}")
    check_golden("audit_yes.txt", "".join(texts))
