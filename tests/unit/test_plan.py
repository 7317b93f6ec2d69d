"""build_plan: host facts in, the exact sandbox out."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import fakehost as fh
import pytest
from fakehost import (
    BASH_BIN,
    CA_BUNDLE,
    CLAUDE,
    CLAUDE_BIN,
    CLAUDE_DIR,
    COREUTILS_BIN,
    FULL,
    HOME,
    HOST_USER_KEYS,
    PROJECT,
    PROXY_ENV,
    STATE,
)

import claudebox as cb
from claudebox import Kind, MountOp, Tier

INSTANCE_ID = hashlib.sha256(PROJECT.encode()).hexdigest()[:16]
INSTANCE_DIR = f"{STATE}/instances/{INSTANCE_ID}"
STORE = f"{INSTANCE_DIR}/claude"
SETTINGS_FLAG = '{"skipDangerousModePermissionPrompt":true}'


def plan_for(host=None, options=None):
    return cb.build_plan(host or fh.make_host(), options or FULL)


def env_of(plan):
    return {var.name: (var.value, var.origin) for var in plan.env}


def mounts_of(plan):
    return [(m.op, m.dst, m.src, m.fd) for m in plan.mounts]


def pins_of(plan):
    return [(p.path, p.kind, p.read_only, p.source) for p in plan.stage.pins]


# --- environment ----------------------------------------------------------------------------


def test_env_is_exactly_allowlist_plus_sandbox_defined():
    plan = plan_for()
    assert env_of(plan) == {
        "ANTHROPIC_API_KEY": ("", cb.LOGIN_ORIGIN),  # a placeholder, made at launch
        # full: an ephemeral port of the host's loopback
        **dict.fromkeys(PROXY_ENV, ("", cb.LOGIN_ORIGIN)),
        "NO_PROXY": ("localhost,127.0.0.1,::1", "sandbox"),
        "no_proxy": ("localhost,127.0.0.1,::1", "sandbox"),
        "NODE_EXTRA_CA_CERTS": ("/etc/claudebox/login-ca.pem", "sandbox"),
        "EDITOR": ("vim", "host"),
        "LANG": ("en_US.UTF-8", "host"),
        "TERM": ("xterm-256color", "host"),
        "USER": ("alice", "host"),
        "HOME": (HOME, "sandbox"),
        "PATH": (f"{BASH_BIN}:{COREUTILS_BIN}:{CLAUDE_BIN}", "sandbox"),
        "SHELL": (f"{BASH_BIN}/bash", "sandbox"),
        "TMPDIR": ("/tmp", "sandbox"),
        "XDG_RUNTIME_DIR": ("/tmp", "sandbox"),
        "NIX_REMOTE": ("daemon", "sandbox"),
        "NIX_CONFIG": ("extra-experimental-features = nix-command flakes", "sandbox"),
        "NIX_SSL_CERT_FILE": (CA_BUNDLE, "sandbox"),
        "SSL_CERT_FILE": (CA_BUNDLE, "sandbox"),
        "CLAUDE_CODE_SANDBOXED": ("1", "sandbox"),
        "DISABLE_INSTALLATION_CHECKS": ("1", "sandbox"),
    }
    assert [var.name for var in plan.env] == sorted(var.name for var in plan.env)


def test_env_has_no_secret_named_host_variables():
    for tier in Tier:
        plan = plan_for(options=cb.Options(tier=tier))
        names = [var.name for var in plan.env]
        for secret in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "GH_HOST"):
            assert secret not in names
        everything = " ".join(plan.argv).encode() + b"".join(d.content for d in plan.data)
        everything += cb.render_dry_run(plan, ["python3", "claudebox.py"]).encode()
        everything += cb.render_plan_json(plan).encode()
        canaries = ("aws-canary", "ghp_canary", "/run/user/1000/ssh-agent", "sk-ant-api03-canary")
        for value in canaries:
            assert value.encode() not in everything, (tier, value)


def test_the_environment_is_bwraps_args_data_never_its_argv():
    plan = plan_for(options=cb.Options(extra_env=("GH_HOST",)))
    assert "--setenv" not in plan.argv
    from_host = [var.value for var in plan.env if var.origin in ("host", "CLAUDEBOX_EXTRA_ENV")]
    assert from_host == ["vim", "github.example.org", "en_US.UTF-8", "xterm-256color", "alice"]
    assert [value for value in from_host if value in plan.argv] == []
    index = plan.argv.index("--clearenv")
    assert plan.argv[index : index + 5] == ["--clearenv", "--args", "10", "--args", "11"]
    env = next(d for d in plan.data if d.kind is cb.DataKind.ENV)
    assert env.fd == 10
    assert env.content == cb.env_arguments(var for var in plan.env if var.origin != cb.LOGIN_ORIGIN)
    words = env.content.split(b"\0")
    assert words[-1] == b""  # every word ends in a NUL, the last one too
    triples = [words[i : i + 3] for i in range(0, len(words) - 1, 3)]
    assert [t[0] for t in triples] == [b"--setenv"] * len(triples)
    assert {t[1].decode(): t[2].decode() for t in triples} == {
        var.name: var.value for var in plan.env if var.origin != cb.LOGIN_ORIGIN
    }
    assert b"GH_HOST\0github.example.org\0" in env.content
    assert b"ANTHROPIC_API_KEY" not in env.content  # the login's, set at launch on fd 11
    login_env = next(d for d in plan.data if d.kind is cb.DataKind.LOGIN_ENV)
    assert (login_env.fd, login_env.content) == (11, b"")


def test_sandbox_defined_names_never_come_from_host():
    host = fh.make_host(ca_bundle=None, tools={})
    extra = ("HOME", "SHELL", "TMPDIR", "SSL_CERT_FILE")
    plan = plan_for(host, FULL._replace(extra_env=extra))
    env = env_of(plan)
    assert env["HOME"] == (HOME, "sandbox")
    assert env["TMPDIR"] == ("/tmp", "sandbox")
    assert env["XDG_RUNTIME_DIR"] == ("/tmp", "sandbox")
    # not generated (no bash, no CA bundle) and still not taken from the host
    for name in ("SHELL", "NIX_SSL_CERT_FILE", "SSL_CERT_FILE"):
        assert name not in env
    assert plan.warnings == ("no bash found in the store part of PATH: SHELL is unset inside",)


@pytest.mark.parametrize("tier", list(Tier))
def test_the_login_and_proxy_variables_never_come_from_the_host(tier):
    host_env = {
        **fh.HOST_ENV,
        "HTTPS_PROXY": "http://corp:3128",
        "https_proxy": "http://corp:3128",
        "NO_PROXY": "corp.example",
        "NODE_EXTRA_CA_CERTS": "/etc/corp-ca.pem",
        "ANTHROPIC_AUTH_TOKEN": "auth-canary",
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-oauth-canary",
        "ANTHROPIC_BASE_URL": "https://gateway.example/anthropic/",
    }
    extra = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "NODE_EXTRA_CA_CERTS", "ANTHROPIC_BASE_URL")
    extra += ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
    plan = plan_for(fh.make_host(env=host_env), cb.Options(tier=tier, extra_env=extra))
    env = env_of(plan)
    proxy = ("", cb.LOGIN_ORIGIN) if tier is Tier.FULL else ("http://127.0.0.1:3128", "sandbox")
    assert {name: env[name] for name in (*PROXY_ENV, "ANTHROPIC_BASE_URL")} == dict.fromkeys(
        (*PROXY_ENV, "ANTHROPIC_BASE_URL"), proxy
    )
    assert env["NO_PROXY"] == env["no_proxy"] == ("localhost,127.0.0.1,::1", "sandbox")
    assert env["NODE_EXTRA_CA_CERTS"] == ("/etc/claudebox/login-ca.pem", "sandbox")
    for name in cb.LOGIN_VARIABLES:
        assert env[name] == ("", cb.LOGIN_ORIGIN)
    assert plan.relay.login.variables == tuple(cb.LOGIN_VARIABLES)
    assert plan.relay.login.upstream == "https://gateway.example/anthropic"
    assert plan.warnings == ()
    text = b"".join(d.content for d in plan.data) + " ".join(plan.argv).encode()
    for canary in ("corp", "auth-canary", "oauth-canary", "gateway.example", "sk-ant-api03"):
        assert canary.encode() not in text


def test_a_first_party_base_url_is_no_gateway():
    for url in ("https://api.anthropic.com", "HTTPS://API.Anthropic.COM:443/", " "):
        host = fh.make_host(env={**fh.HOST_ENV, "ANTHROPIC_BASE_URL": url})
        plan = plan_for(host, cb.Options(tier=Tier.INET))
        assert plan.relay.login.upstream == ""
        assert "ANTHROPIC_BASE_URL" not in env_of(plan)


def test_a_bad_base_url_on_the_host_is_a_usage_error():
    host = fh.make_host(env={**fh.HOST_ENV, "ANTHROPIC_BASE_URL": "gateway.example:8080"})
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host)
    assert info.value.exit_code == cb.EXIT_USAGE
    assert str(info.value) == (
        "ANTHROPIC_BASE_URL is not an http:// or https:// URL with a host name or an IPv4 "
        "address ('gateway.example:8080'); fix it or unset it"
    )


def test_without_login_variables_on_the_host_no_placeholder_is_set():
    env = {k: v for k, v in fh.HOST_ENV.items() if k != "ANTHROPIC_API_KEY"}
    plan = plan_for(fh.make_host(env=env))
    assert [var.name for var in plan.env if var.origin == cb.LOGIN_ORIGIN] == sorted(PROXY_ENV)
    assert plan.relay.login.variables == ()
    empty = {**fh.HOST_ENV, "ANTHROPIC_API_KEY": ""}  # set but empty: none
    assert plan_for(fh.make_host(env=empty)).relay.login.variables == ()


def test_extra_env_passed_only_when_set_on_host():
    plan = plan_for(options=FULL._replace(extra_env=("GH_HOST", "NOT_SET_ON_HOST", "TERM")))
    env = env_of(plan)
    assert env["GH_HOST"] == ("github.example.org", "CLAUDEBOX_EXTRA_ENV")
    assert "NOT_SET_ON_HOST" not in env
    assert env["TERM"] == ("xterm-256color", "host")
    assert plan.warnings == ()


def test_extra_env_secret_name_passes_with_warning():
    plan = plan_for(options=FULL._replace(extra_env=("GITHUB_TOKEN",)))
    assert env_of(plan)["GITHUB_TOKEN"] == ("ghp_canary", "CLAUDEBOX_EXTRA_ENV")
    assert plan.warnings == (
        "GITHUB_TOKEN looks like a secret and is passed in by CLAUDEBOX_EXTRA_ENV",
    )


def test_path_keeps_store_dirs_deduplicated_in_order_plus_claude_bin():
    host = fh.make_host(
        path_dirs=(
            COREUTILS_BIN,
            "/nix/store",
            "/nix/storefake/bin",
            BASH_BIN,
            COREUTILS_BIN,
            CLAUDE_BIN,
            f"{HOME}/bin",
        )
    )
    assert env_of(plan_for(host))["PATH"][0] == f"{COREUTILS_BIN}:{BASH_BIN}:{CLAUDE_BIN}"


def test_sandbox_path_dirs():
    assert cb.sandbox_path_dirs(
        ["/usr/bin", BASH_BIN, "/nix/store", BASH_BIN, "/nix/store-x/bin", COREUTILS_BIN]
    ) == (BASH_BIN, COREUTILS_BIN)


# --- command and namespaces -----------------------------------------------------------------


def test_command_skip_permissions_and_settings_first_then_user_args_unchanged():
    args = ("-p", "hi there", "--model", "x", "--", "--dry-run", "")
    plan = plan_for(options=FULL._replace(claude_args=args))
    assert plan.command == (
        CLAUDE,
        "--dangerously-skip-permissions",
        "--settings",
        SETTINGS_FLAG,
        *args,
    )
    assert plan.argv[-len(plan.command) - 1 :] == ["--", *plan.command]
    assert plan.chdir == fh.CWD


def test_shell_option_runs_bash():
    plan = plan_for(options=FULL._replace(claude_args=("-p", "x"), shell=True))
    assert plan.command == (f"{BASH_BIN}/bash",)


def test_shell_without_bash_refused():
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(fh.make_host(tools={}), FULL._replace(shell=True))
    assert info.value.exit_code == cb.EXIT_MISSING
    assert str(info.value) == "--shell needs bash in the store part of PATH"


NAMESPACES = [
    "--die-with-parent",
    "--unshare-user",
    "--disable-userns",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "claudebox",
    "--uid",
    "1000",
    "--gid",
    "100",
]


def test_namespaces_full_network():
    plan = plan_for()
    assert list(plan.namespace_args) == NAMESPACES
    assert "--unshare-net" not in plan.argv
    assert (plan.tier, plan.tier_origin) == (Tier.FULL, "--network")
    assert plan.stage.network is False
    assert plan.stage.blocked == ()
    assert plan.pasta is None


def test_the_none_tier_is_the_stages_own_sealed_network_namespace():
    plan = plan_for(options=cb.Options(tier=Tier.NONE))
    assert list(plan.namespace_args) == NAMESPACES
    assert "--unshare-net" not in plan.argv  # the stage's namespace is the one
    assert plan.argv[: len(NAMESPACES) + 2] == [fh.BWRAP, *NAMESPACES, "--clearenv"]
    assert plan.stage.network is True
    assert plan.stage.sealed is True
    assert plan.stage.listen == (3128,)
    assert plan.stage.blocked == ()
    assert plan.pasta is None
    assert (plan.relay.tunnel, plan.relay.on_host, plan.relay.rules) == (
        cb.Tunnel.NOTHING,
        False,
        (),
    )
    assert [r.label for r in cb.stage_netlink_requests(plan.stage)] == ["lo up", "nftables rules"]
    resolv = next(d for d in plan.data if d.kind is cb.DataKind.RESOLV_CONF)
    assert resolv.content.decode() == cb.NO_RESOLVER_CONF
    assert env_of(plan)["HTTPS_PROXY"] == ("http://127.0.0.1:3128", "sandbox")
    assert plan.blockers == ()
    note = next(d for d in plan.data if d.kind is cb.DataKind.NOTE).content.decode()
    assert (
        "- Network: none: only Claude's own API, through claudebox's relay; loopback otherwise.\n"
        "  The nix daemon still downloads.\n"
        "- Claude's login stays with claudebox: the tokens and keys inside are placeholders that\n"
        "  work only through its proxy ($HTTPS_PROXY); keep the proxy variables as they are.\n"
    ) in note


@pytest.mark.parametrize("tier", list(Tier))
def test_every_tier_reads_the_hosts_routing_but_full(tier):
    broken = fh.make_host(routing=None, routing_error="Operation not permitted")
    assert cb.plan_blocked(broken, tier) == ()  # nothing to block without the host's routing
    if tier is Tier.FULL:
        plan = plan_for(broken)
        assert (plan.relay.blocked, plan.stage.blocked) == ((), ())
        return
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(broken, cb.Options(tier=tier))
    assert str(info.value) == (
        "cannot read the host's IPv4 routing over netlink (Operation not permitted): the "
        f"{tier.value} tier's relay refuses every network the host routes specially and "
        "will not start without knowing them; use --network full"
    )


DATA_KINDS = [
    (10, cb.DataKind.ENV),
    (11, cb.DataKind.LOGIN_ENV),
    (12, cb.DataKind.LOGIN_CA),
    (13, cb.DataKind.CREDENTIALS),
    (14, cb.DataKind.BOOT_ID),
    (15, cb.DataKind.GITCONFIG),
    (16, cb.DataKind.NOTE),
    (17, cb.DataKind.SECCOMP),
    (18, cb.DataKind.PASSWD),
    (19, cb.DataKind.GROUP),
    (20, cb.DataKind.KEYS),
    (21, cb.DataKind.KEY_USERS),
    (22, cb.DataKind.CMDLINE),
]


def test_argv_ends_with_chdir_seccomp_command():
    plan = plan_for()
    tail = ["--chdir", fh.CWD, "--seccomp", "17", "--", CLAUDE, "--dangerously-skip-permissions"]
    assert plan.argv[-len(tail) - 2 : -2] == tail
    assert [(d.fd, d.kind) for d in plan.data] == DATA_KINDS
    assert plan.seccomp_fd == 17
    assert [plan.data_fd(kind) for _fd, kind in DATA_KINDS] == [fd for fd, _kind in DATA_KINDS]
    content = {d.kind: d.content for d in plan.data}
    assert content[cb.DataKind.SECCOMP] == cb.seccomp_filter("x86_64")
    assert content[cb.DataKind.GITCONFIG].decode() == cb.gitconfig_text(
        "Alice Liddell", "alice@example.org"
    )
    assert content[cb.DataKind.NOTE].decode() == cb.sandbox_note_text(
        PROJECT, HOME, Tier.FULL, plan.relay
    )
    assert content[cb.DataKind.PASSWD].decode() == cb.passwd_text(fh.make_host())
    assert content[cb.DataKind.GROUP].decode() == cb.group_text(fh.make_host())
    # what masks the host's keys, kernel command line and boot
    assert content[cb.DataKind.KEYS] == content[cb.DataKind.KEY_USERS] == b""
    assert content[cb.DataKind.CMDLINE] == b"\n"
    # made at launch (placeholders, the session's CA and boot id): never part of the plan
    assert [d.kind for d in plan.data if d.kind in cb.LAUNCH_DATA] == [
        cb.DataKind.LOGIN_ENV,
        cb.DataKind.LOGIN_CA,
        cb.DataKind.CREDENTIALS,
        cb.DataKind.BOOT_ID,
    ]
    assert all(d.content == b"" for d in plan.data if d.kind in cb.LAUNCH_DATA)


def test_argv_is_the_mounts_in_order():
    plan = plan_for()
    expected = [fh.BWRAP, *NAMESPACES, "--clearenv", "--args", "10", "--args", "11"]
    for mount in plan.mounts:
        expected += mount.to_args()
    expected += ["--chdir", fh.CWD, "--seccomp", "17", "--", *plan.command]
    assert plan.argv == expected


# --- blockers: why the plan cannot launch (--dry-run prints them as warnings) ----------------


def test_a_complete_host_has_no_blockers():
    assert plan_for().blockers == ()
    assert plan_for(options=cb.Options()).blockers == ()


def blocker_messages(plan):
    return [(str(blocker), blocker.exit_code) for blocker in plan.blockers]


def test_bwrap_missing_blocks_and_argv_uses_the_bare_name():
    plan = plan_for(fh.make_host(bwrap=None))
    assert plan.bwrap == "bwrap"
    assert plan.argv[0] == "bwrap"
    assert blocker_messages(plan) == [
        ("bwrap (bubblewrap) not found on PATH; install bubblewrap", cb.EXIT_MISSING)
    ]


def test_a_claude_home_elsewhere_blocks_rather_than_start_without_it():
    """home-manager's programs.claude-code.configDir exports CLAUDE_CONFIG_DIR: claude inside
    would start without that login and settings; ~/.claude itself is no obstacle."""
    elsewhere = {**fh.HOST_ENV, "CLAUDE_CONFIG_DIR": "~/.config/claude"}
    (message, code), *rest = blocker_messages(plan_for(fh.make_host(env=elsewhere)))
    assert (rest, code) == ([], cb.EXIT_USAGE)
    assert message.startswith("CLAUDE_CONFIG_DIR is set (~/.config/claude; home-manager's ")
    assert "env -u CLAUDE_CONFIG_DIR claudebox" in message
    own = {**fh.HOST_ENV, "CLAUDE_CONFIG_DIR": f"{HOME}/.claude/"}
    assert plan_for(fh.make_host(env=own)).blockers == ()


def test_claude_missing_blocks_and_uses_bare_name():
    plan = plan_for(fh.make_host(claude=None))
    assert plan.command[:2] == ("claude", "--dangerously-skip-permissions")
    assert blocker_messages(plan) == [
        (
            "claude not found on PATH; install Claude Code (nixpkgs claude-code) or add it to PATH",
            cb.EXIT_MISSING,
        )
    ]
    assert plan.warnings == ()
    assert env_of(plan)["PATH"][0] == f"{BASH_BIN}:{COREUTILS_BIN}"
    # --shell needs no claude
    assert plan_for(fh.make_host(claude=None), FULL._replace(shell=True)).blockers == ()


def test_root_blocks():
    assert blocker_messages(plan_for(fh.make_host(euid=0))) == [
        (
            "claudebox is running as root, and claude refuses --dangerously-skip-permissions "
            "as root; run claudebox as your own user",
            cb.EXIT_USAGE,
        )
    ]


def test_disabled_user_namespaces_block():
    why = "unprivileged user namespaces are disabled (user.max_user_namespaces = 0), and …"
    assert blocker_messages(plan_for(fh.make_host(userns_blocker=why))) == [(why, 1)]


@pytest.mark.parametrize("tier", list(Tier))
@pytest.mark.parametrize(
    ("change", "field", "value", "message"),
    [
        (
            {"openssl": None},
            "openssl",
            "openssl",
            "openssl not found on PATH: claudebox's login relay makes each session's "
            "certificate with it (Claude's login never enters the sandbox); install openssl "
            "(nixpkgs/Debian: openssl)",
        ),
        (
            {"system_ca_bundle": None},
            "ca_bundle",
            "",
            "no system CA bundle found ($SSL_CERT_FILE, $NIX_SSL_CERT_FILE or "
            "/etc/ssl/certs/ca-certificates.crt): claudebox's login relay verifies "
            "Anthropic's servers with it; install ca-certificates (NixOS: security.pki)",
        ),
    ],
    ids=["openssl", "ca-bundle"],
)
def test_what_the_login_relay_needs_missing_blocks_every_tier(tier, change, field, value, message):
    plan = plan_for(fh.make_host(**change), cb.Options(tier=tier))
    assert getattr(plan.relay.login, field) == value
    assert blocker_messages(plan) == [(message, cb.EXIT_MISSING)]


def test_inet_without_pasta_or_tun_blocks_other_tiers_do_not():
    no_pasta = fh.make_host(pasta=None, tun_error="No such device")
    plan = plan_for(no_pasta, cb.Options())
    assert plan.pasta == cb.Pasta("pasta")
    assert blocker_messages(plan) == [  # without pasta, its device is beside the point
        (
            "pasta not found on PATH: the inet network tier needs pasta; install passt "
            "(nixpkgs/Debian: passt) or choose another tier with --network full (or none)",
            cb.EXIT_MISSING,
        )
    ]
    no_tun = fh.make_host(tun_error="No such device")
    assert blocker_messages(plan_for(no_tun, cb.Options())) == [
        (
            "/dev/net/tun is not usable (No such device): pasta needs it for the inet network "
            "tier; load the tun module (modprobe tun) and make /dev/net/tun read-writable "
            "(0666), or choose another tier with --network full (or none)",
            1,
        ),
    ]
    for host in (no_pasta, no_tun):
        assert plan_for(host, FULL).blockers == ()
        assert plan_for(host, cb.Options(tier=Tier.NONE)).blockers == ()


def test_unsupported_machine_refuses_plan():
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(fh.make_host(machine="riscv64"))
    assert "riscv64" in str(info.value)


# --- mounts ---------------------------------------------------------------------------------


def test_mounts_exact():
    assert mounts_of(plan_for()) == [
        (MountOp.TMPFS, "/", "", -1),
        (MountOp.PROC, "/proc", "", -1),
        (MountOp.DEV, "/dev", "", -1),
        (MountOp.TMPFS, "/tmp", "", -1),
        (MountOp.RO_BIND, "/nix/store", "/nix/store", -1),
        (MountOp.RO_BIND_TRY, "/etc/resolv.conf", "/etc/resolv.conf", -1),
        (MountOp.RO_BIND_TRY, "/etc/hosts", "/etc/hosts", -1),
        (MountOp.RO_BIND_TRY, "/etc/static", "/etc/static", -1),
        (MountOp.SYMLINK, "/bin/sh", f"{BASH_BIN}/sh", -1),
        (MountOp.TMPFS, HOME, "", -1),
        # the sandbox's own accounts, and what masks the host's keys and boot (after --proc)
        (MountOp.DATA, "/etc/passwd", "", 18),
        (MountOp.DATA, "/etc/group", "", 19),
        (MountOp.DATA, "/proc/keys", "", 20),
        (MountOp.DATA, "/proc/key-users", "", 21),
        (MountOp.DATA, "/proc/cmdline", "", 22),
        (MountOp.SYMLINK, "/usr/bin/env", f"{COREUTILS_BIN}/env", -1),
        # the home's caches, the project's own (PROJECT_CACHES)
        (MountOp.BIND_FD, f"{HOME}/.cache", f"{INSTANCE_DIR}/cache", 30),
        (MountOp.BIND_FD, f"{HOME}/.npm", f"{INSTANCE_DIR}/npm", 31),
        (MountOp.BIND_FD, f"{HOME}/.claude.json", f"{STORE}/.claude.json", 32),
        (MountOp.DATA, "/etc/claudebox/login-ca.pem", "", 12),
        (MountOp.DATA, f"{HOME}/.gitconfig", "", 15),
        (MountOp.DATA, "/etc/claude-code/CLAUDE.md", "", 16),
        (MountOp.BIND_TRY, "/nix/var/nix/daemon-socket", "/nix/var/nix/daemon-socket", -1),
        (MountOp.BIND_FD, f"{HOME}/.local/state", f"{INSTANCE_DIR}/state", 33),
        (MountOp.BIND_FD, f"{HOME}/.cargo/registry", f"{INSTANCE_DIR}/cargo/registry", 34),
        (MountOp.BIND_FD, f"{HOME}/.cargo/git", f"{INSTANCE_DIR}/cargo/git", 35),
        (MountOp.DATA, "/proc/sys/kernel/random/boot_id", "", 14),  # made at launch
        # last: the binds that bring the stage's pins along (bwrap re-reads the mount table)
        (MountOp.BIND_FD, CLAUDE_DIR, STORE, 36),  # ~/.claude inside: the project's own
        (MountOp.WRITABLE_DATA, f"{CLAUDE_DIR}/.credentials.json", "", 13),  # placeholders
        (MountOp.BIND_FD, PROJECT, PROJECT, 37),
    ]


def test_every_host_path_bound_by_descriptor_is_opened_by_the_stage():
    plan = plan_for()
    assert plan.stage.opened == (
        cb.Opened(30, f"{INSTANCE_DIR}/cache"),
        cb.Opened(31, f"{INSTANCE_DIR}/npm"),
        cb.Opened(32, f"{STORE}/.claude.json"),
        cb.Opened(33, f"{INSTANCE_DIR}/state"),
        cb.Opened(34, f"{INSTANCE_DIR}/cargo/registry"),
        cb.Opened(35, f"{INSTANCE_DIR}/cargo/git"),
        cb.Opened(36, STORE),
        cb.Opened(37, PROJECT),
    )


@pytest.mark.parametrize("tier", list(Tier))
def test_the_hosts_claude_dir_is_never_writable_nor_bound(tier):
    plan = plan_for(options=cb.Options(tier=tier))
    assert [m for m in plan.mounts if cb.is_within(m.src, CLAUDE_DIR)] == []
    from_host = [p for p in plan.stage.pins if cb.is_within(p.source or p.path, CLAUDE_DIR)]
    # read-only, or (plugins) an overlay whose writes go to the project's own directory
    assert [(p.source, p.read_only, p.upper) for p in from_host] == [
        (f"{CLAUDE_DIR}/mystery", True, ""),
        (f"{CLAUDE_DIR}/notes.txt", True, ""),
        (f"{CLAUDE_DIR}/plugins", False, f"{INSTANCE_DIR}/plugins-own"),
    ]
    assert all(cb.is_within(p.path, STORE) for p in from_host)
    assert [s for s in plan.host_setup if cb.is_within(s.path, CLAUDE_DIR)] == []


def test_no_home_path_other_than_project_instance():
    plan = plan_for()
    allowed = (PROJECT, INSTANCE_DIR)
    ops = (MountOp.SYMLINK, MountOp.DATA, MountOp.WRITABLE_DATA)
    sources = [m.src for m in plan.mounts if m.op not in ops]
    for src in sources:
        if cb.is_within(src, HOME):
            assert any(cb.is_within(src, root) for root in allowed), src
            assert src != HOME
            assert not cb.is_within(src, f"{HOME}/.ssh")
    assert sorted({src for src in sources if src and not cb.is_within(src, HOME)}) == [
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/static",
        "/nix/store",
        "/nix/var/nix/daemon-socket",
    ]


def test_etc_pieces_only_when_present():
    plan = plan_for(fh.make_host(etc_present=frozenset()))
    assert [m for m in plan.mounts if m.op is MountOp.RO_BIND_TRY] == []
    every = plan_for(fh.make_host(etc_present=frozenset(cb.ETC_READ_ONLY)))
    assert [m.dst for m in every.mounts if m.op is MountOp.RO_BIND_TRY] == [
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/nsswitch.conf",
        "/etc/localtime",
        "/etc/zoneinfo",
        "/etc/static",
        "/etc/ssl/certs",  # parents before children: by depth, then in ETC_READ_ONLY's order
        "/etc/nix/nix.conf",
        "/etc/nix/registry.json",
    ]


# --- pins: what the stage makes a mount point before bwrap runs -------------------------------


def test_pins_exact():
    assert pins_of(plan_for()) == [
        (f"{PROJECT}/.envrc", Kind.FILE, True, ""),
        (f"{PROJECT}/.claude", Kind.DIR, False, ""),
        (f"{PROJECT}/.git", Kind.DIR, False, ""),
        (f"{PROJECT}/.claude/settings.json", Kind.FILE, True, ""),
        (f"{PROJECT}/.git/config", Kind.FILE, True, ""),
        (f"{PROJECT}/.git/hooks", Kind.DIR, True, ""),
        (f"{PROJECT}/.git/commondir", Kind.FILE, True, ""),  # a placeholder
        # the mount point bwrap writes the login's placeholders onto (--bind-data)
        (f"{STORE}/.credentials.json", Kind.FILE, False, ""),
        # the host's entries, read-only over the project's own ~/.claude
        (f"{STORE}/mystery", Kind.DIR, True, f"{CLAUDE_DIR}/mystery"),
        (f"{STORE}/notes.txt", Kind.FILE, True, f"{CLAUDE_DIR}/notes.txt"),
        # the host's plugins below an overlay, the project's own on top (writable)
        (f"{STORE}/plugins", Kind.DIR, False, f"{CLAUDE_DIR}/plugins"),
    ]
    assert [(p.path, p.upper) for p in plan_for().stage.pins if p.upper] == [
        (f"{STORE}/plugins", f"{INSTANCE_DIR}/plugins-own")
    ]


def test_every_protected_path_pinned_when_all_exist():
    tree = {
        **fh.PROJECT_TREE,
        **{rel: Kind.FILE for rel in cb.PROTECTED_PROJECT_PATHS},
        ".git/config.worktree": Kind.FILE,
        ".git/commondir": Kind.FILE,
    }
    plan = plan_for(fh.make_host(tree=tree))
    read_only = sorted(
        p.path for p in plan.stage.pins if p.read_only and p.path.startswith(PROJECT)
    )
    assert read_only == sorted(
        [
            *(f"{PROJECT}/{rel}" for rel in cb.PROTECTED_PROJECT_PATHS),
            *(f"{PROJECT}/.git/{name}" for name in cb.GIT_DIR_PROTECTED),
        ]
    )
    assert plan.watched == ()


def test_watched_are_the_protected_paths_absent_at_launch():
    assert plan_for().watched == (
        f"{PROJECT}/.gitmodules",
        f"{PROJECT}/.vscode",
        f"{PROJECT}/.idea",
        f"{PROJECT}/.mcp.json",
        f"{PROJECT}/.claude/settings.local.json",
        f"{PROJECT}/.claude/commands",
        f"{PROJECT}/.claude/agents",
        f"{PROJECT}/.claude/skills",
        f"{PROJECT}/.claude/hooks",
        f"{PROJECT}/.git/config.worktree",  # (git reads it only with worktreeConfig: watched)
    )
    # git's redirections absent at launch are not watched: they are placeholders
    assert [step.path for step in plan_for().placeholders] == [f"{PROJECT}/.git/commondir"]


def test_outside_git_the_git_directory_a_session_may_create_is_watched():
    plan = plan_for(fh.make_host(tree={".envrc": Kind.FILE}))
    assert plan.watched == (
        f"{PROJECT}/.gitmodules",
        f"{PROJECT}/.vscode",
        f"{PROJECT}/.idea",
        f"{PROJECT}/.mcp.json",
        f"{PROJECT}/.claude",  # the first missing step: all of .claude/… is reviewed
        f"{PROJECT}/.git",
    )
    assert [p.path for p in plan.stage.pins if p.path.startswith(PROJECT)] == [f"{PROJECT}/.envrc"]
    assert plan.instance.root == PROJECT


# --- ~/.claude ------------------------------------------------------------------------------


def test_claude_view():
    # the host's entries that come in: ~/.claude's projects and credentials stay outside
    assert [(v.name, v.treatment, v.note) for v in plan_for().claude_view] == [
        ("mystery", cb.Treatment.READ_ONLY, ""),
        ("notes.txt", cb.Treatment.READ_ONLY, ""),
        ("plugins", cb.Treatment.OVERLAID, ""),
        ("settings.json", cb.Treatment.LAYERED, ""),  # plan_layers writes the project's own
    ]


def test_the_credentials_inside_are_generated_never_the_hosts_file():
    plan = plan_for()
    credentials = [m for m in plan.mounts if m.dst.endswith(cb.CREDENTIALS)]
    assert credentials == [
        cb.Mount(MountOp.WRITABLE_DATA, f"{CLAUDE_DIR}/.credentials.json", fd=13)
    ]
    assert credentials[0].describe() == f"rw {CLAUDE_DIR}/.credentials.json (generated)"
    assert credentials[0].to_args() == ["--bind-data", "13", f"{CLAUDE_DIR}/.credentials.json"]
    assert not credentials[0].writable  # bwrap's own copy: nothing of the host is written
    assert plan.data_fd(cb.DataKind.CREDENTIALS) == 13
    assert not any(cb.CREDENTIALS in p.source for p in plan.stage.pins)
    assert plan.relay.login.credentials == f"{CLAUDE_DIR}/.credentials.json"


def test_the_state_table_names_a_treatment_per_entry():
    table = cb.CLAUDE_STATE_TABLE
    assert {name for name, t in table.items() if t is cb.Treatment.LOGIN} == {".credentials.json"}
    assert [name for name, t in table.items() if t is cb.Treatment.LAYERED] == ["settings.json"]
    assert [name for name, t in table.items() if t is cb.Treatment.OVERLAID] == ["plugins"]
    assert [name for name, t in table.items() if t is cb.Treatment.READ_ONLY] == [
        "CLAUDE.md",
        "agents",
        "commands",
        "skills",
        "hooks",
        "output-styles",
        "rules",
    ]
    assert table["projects"] is table[".oauth_refresh.lock"] is cb.Treatment.PER_PROJECT


def test_host_setup_exact():
    steps = [(s.path, s.content, s.mount_point, s.replace) for s in plan_for().host_setup]
    # the layers' .claude.json always names the servers brought (none: no profile names one)
    seen = {".claude.json": {**HOST_USER_KEYS, "mcpServers": {}}, "settings.json": fh.HOST_SETTINGS}
    assert steps == [
        (STATE, None, False, False),
        (f"{STATE}/instances", None, False, False),
        (INSTANCE_DIR, None, False, False),
        (f"{INSTANCE_DIR}/root", PROJECT + "\n", False, False),
        (f"{INSTANCE_DIR}/cache", None, True, False),  # the home's caches (PROJECT_CACHES)
        (f"{INSTANCE_DIR}/state", None, True, False),
        (f"{INSTANCE_DIR}/npm", None, True, False),
        (f"{INSTANCE_DIR}/cargo/registry", None, True, False),
        (f"{INSTANCE_DIR}/cargo/git", None, True, False),
        (f"{INSTANCE_DIR}/cache/nix", None, True, False),
        (f"{INSTANCE_DIR}/network-log", None, False, False),
        # ~/.claude's mount point, and mount points in it (a session may have replaced them)
        (STORE, None, True, False),
        (f"{STORE}/.claude.json", "{}\n", True, False),
        (f"{STORE}/.credentials.json", "", True, False),
        (f"{STORE}/mystery", None, True, False),
        (f"{STORE}/notes.txt", "", True, False),
        (f"{STORE}/plugins", None, True, False),
        # the overlay's upper and work directories: the project's own plugins
        (f"{INSTANCE_DIR}/plugins-own", None, False, False),
        (f"{INSTANCE_DIR}/plugins-own.work", None, False, False),
        # the layers, rewritten at each launch: the host's values they were made from first
        (f"{INSTANCE_DIR}/layers.json", cb.json_text(seen), False, True),
        (f"{STORE}/settings.json", cb.json_text(fh.HOST_SETTINGS), True, True),
        (f"{STORE}/.claude.json", cb.json_text(HOST_USER_KEYS), True, True),
        # git's redirections, absent: made as git reads none, read-only, removed after
        (f"{PROJECT}/.git/commondir", ".", False, False),
    ]


def test_claude_outside_store_binds_its_dir_read_only():
    host = fh.make_host(claude=f"{HOME}/.local/bin/claude")
    plan = plan_for(host)
    assert mounts_of(plan)[-5:] == [
        (MountOp.RO_BIND_FD, f"{HOME}/.local/bin", f"{HOME}/.local/bin", 36),
        (MountOp.DATA, "/proc/sys/kernel/random/boot_id", "", 14),
        (MountOp.BIND_FD, CLAUDE_DIR, STORE, 37),
        (MountOp.WRITABLE_DATA, f"{CLAUDE_DIR}/.credentials.json", "", 13),
        (MountOp.BIND_FD, PROJECT, PROJECT, 38),
    ]
    assert plan.notes == (
        f"claude lives outside /nix/store: {HOME}/.local/bin is mounted read-only",
    )
    assert plan.command[0] == f"{HOME}/.local/bin/claude"
    assert env_of(plan)["PATH"][0] == f"{BASH_BIN}:{COREUTILS_BIN}"


def test_claude_inside_claude_dir_comes_in_with_the_hosts_entry():
    entries = {**fh.CLAUDE_ENTRIES, "local": Kind.DIR}
    host = fh.make_host(
        claude=f"{CLAUDE_DIR}/local/claude", claude_home=fh.claude_home(HOME, entries)
    )
    plan = plan_for(host)
    assert plan.notes == ()
    assert mounts_of(plan) == mounts_of(plan_for())
    assert (f"{STORE}/local", Kind.DIR, True, f"{CLAUDE_DIR}/local") in pins_of(plan)
    assert plan.command[0] == f"{CLAUDE_DIR}/local/claude"


def test_claude_in_store_adds_no_note():
    plan = plan_for()
    assert plan.notes == ()
    assert plan.warnings == ()


def test_other_session_is_noted():
    assert plan_for(fh.make_host(other_session=True)).notes == (
        "another claudebox session of this project is running (state is shared)",
    )


# --- git layouts ----------------------------------------------------------------------------


def test_linked_worktree_binds_common_dir_and_protects_it():
    main = f"{HOME}/src/main"
    worktree = f"{HOME}/src/wt"
    tree = fh.under(main, {".git/hooks": Kind.DIR, ".git/config": Kind.FILE}) | {
        f"{main}/.git": Kind.DIR,
        f"{main}/.git/worktrees": Kind.DIR,
        f"{main}/.git/worktrees/wt": Kind.DIR,
        f"{main}/.git/worktrees/wt/commondir": Kind.FILE,
        f"{main}/.git/worktrees/wt/gitdir": Kind.FILE,
        f"{worktree}/.envrc": Kind.FILE,
        f"{worktree}/.git": Kind.FILE,
    }
    walks = [fh.fake_walk(tree, worktree, rel) for rel in cb.PROTECTED_PROJECT_PATHS]
    walks += fh.git_dir_walks(tree, f"{main}/.git", "")
    walks += [
        fh.fake_walk(tree, f"{main}/.git", f"worktrees/wt/{name}")
        for name in ("commondir", "config.worktree", "gitdir")
    ]
    walks.append(fh.fake_walk(tree, worktree, ".git"))
    host = fh.make_host(
        project=worktree,
        cwd=worktree,
        git=cb.GitLayout(worktree, main, f"{main}/.git", True),
        protected=tuple(walks),
    )
    plan = plan_for(host)
    digest = hashlib.sha256(main.encode()).hexdigest()[:16]
    assert plan.instance == cb.Instance(digest, main, f"{STATE}/instances/{digest}")
    assert plan.project == worktree
    git_mounts = [m[:3] for m in mounts_of(plan) if m[1] in (worktree, f"{main}/.git")]
    assert git_mounts == [
        (MountOp.BIND_FD, worktree, worktree),
        (MountOp.BIND_FD, f"{main}/.git", f"{main}/.git"),
    ]
    store = plan.instance.claude_store
    assert [p for p in pins_of(plan) if not cb.is_within(p[0], store)] == [
        (f"{worktree}/.envrc", Kind.FILE, True, ""),
        (f"{worktree}/.git", Kind.FILE, True, ""),  # the gitdir pointer
        (f"{main}/.git/config", Kind.FILE, True, ""),
        (f"{main}/.git/hooks", Kind.DIR, True, ""),
        (f"{main}/.git/commondir", Kind.FILE, True, ""),  # a placeholder
        (f"{main}/.git/worktrees", Kind.DIR, False, ""),
        (f"{main}/.git/worktrees/wt", Kind.DIR, False, ""),
        (f"{main}/.git/worktrees/wt/commondir", Kind.FILE, True, ""),
        (f"{main}/.git/worktrees/wt/gitdir", Kind.FILE, True, ""),
    ]
    assert f"{main}/.git/worktrees/wt/config.worktree" in plan.watched  # (worktreeConfig off)
    writable = [line for line, _ in cb.writable_lines(plan, HOME)]
    assert "~/src/main/.git (git directory)" in writable


def test_worktree_common_dir_in_secret_path_refused():
    host = fh.make_host(git=cb.GitLayout(PROJECT, PROJECT, f"{HOME}/.ssh/repo.git", True))
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(
        f"the repository's git directory {HOME}/.ssh/repo.git would expose {HOME}/.ssh;"
    )


# --- refusals -------------------------------------------------------------------------------

OUTSIDE_SECRETS = (
    "run claudebox from a project directory that neither contains nor lies inside a secret path"
)


@pytest.mark.parametrize(
    ("project", "message"),
    [
        ("/", "the project directory is /; run claudebox from a project directory"),
        (
            HOME,
            f"the project directory is your home directory ({HOME}), which holds your keys; "
            "run claudebox from a project directory",
        ),
        (
            f"{HOME}/.config",
            f"the project directory {HOME}/.config would expose {HOME}/.config/gcloud; "
            + OUTSIDE_SECRETS,
        ),
        (
            f"{HOME}/.ssh/x",
            f"the project directory {HOME}/.ssh/x would expose {HOME}/.ssh; " + OUTSIDE_SECRETS,
        ),
        ("/home", f"the project directory /home would expose {HOME}/.ssh; " + OUTSIDE_SECRETS),
        (
            f"{HOME}/.claudebox/instances",
            f"the project directory {HOME}/.claudebox/instances would expose {HOME}/.claudebox; "
            + OUTSIDE_SECRETS,
        ),
        (
            "/run/user/1000/proj",
            "the project directory /run/user/1000/proj would expose /run/user/1000; "
            + OUTSIDE_SECRETS,
        ),
        (
            "/var/lib",
            "the project directory /var/lib would expose /var/lib/tailscale; " + OUTSIDE_SECRETS,
        ),
    ],
)
def test_project_refusals(project, message):
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(fh.make_host(project=project))
    assert info.value.exit_code == 2
    assert str(info.value) == message


def test_a_resolved_secret_path_is_secret_too():
    host = fh.make_host(project="/persist/src", resolved_secret_paths=("/persist",))
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host)
    assert str(info.value) == (
        "the project directory /persist/src would expose /persist; " + OUTSIDE_SECRETS
    )


def test_similar_names_are_not_secret_paths():
    for project in (f"{HOME}/.sshfoo", f"{HOME}/src/.ssh-notes", "/run/user/10000"):
        assert plan_for(fh.make_host(project=project)).chdir == f"{project}/sub"


@pytest.mark.parametrize("bad", ["A B", "1X", "X-Y", "GH_HOST,X=1", "é"])
def test_invalid_extra_env_names(bad):
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.parse_extra_env(bad)
    assert info.value.exit_code == 2
    name = bad.split(",")[-1].strip()
    assert str(info.value) == (
        f"CLAUDEBOX_EXTRA_ENV: {name!r} is not a variable name; list names separated by "
        "commas, e.g. CLAUDEBOX_EXTRA_ENV=GH_HOST,NPM_TAG"
    )


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("", ()),
        (" , ,", ()),
        ("GH_HOST", ("GH_HOST",)),
        (" GH_HOST , NPM_TAG ,, _x1 ", ("GH_HOST", "NPM_TAG", "_x1")),
        ("A,B,A", ("A", "B")),
    ],
)
def test_valid_extra_env_lists(value, names):
    assert cb.parse_extra_env(value) == names


# --- inet -----------------------------------------------------------------------------------


def test_inet_is_the_default_tier():
    assert (cb.Options().tier, cb.Options().tier_origin) == (Tier.INET, "default")


def test_inet_plan():
    plan = plan_for(options=cb.Options())
    assert list(plan.namespace_args) == NAMESPACES
    assert [(d.fd, d.kind) for d in plan.data] == [*DATA_KINDS, (23, cb.DataKind.RESOLV_CONF)]
    assert plan.data[-1].content == b"nameserver 198.18.0.1\n"
    assert [m for m in plan.mounts if m.dst == "/etc/resolv.conf"] == [
        cb.Mount(MountOp.DATA, "/etc/resolv.conf", fd=23)
    ]
    assert plan.stage.network is True
    assert [item.describe() for item in plan.stage.blocked] == [
        *fh.INET_FIXED_BLOCKED,
        "203.0.113.0/24 (subnet of eth1)",
    ]
    requests = cb.inet_netlink_requests(plan.stage.blocked)
    assert [(request.label, request.protocol) for request in requests] == [
        ("route 10.0.0.0/8", 0),
        ("route 100.64.0.0/10", 0),
        ("route 169.254.0.0/16", 0),
        ("route 172.16.0.0/12", 0),
        ("route 192.168.0.0/16", 0),
        ("route 203.0.113.0/24", 0),
        ("route 224.0.0.0/3", 0),  # 224.0.0.0/4 and 240.0.0.0/4, merged
        ("nftables rules", 12),
    ]
    assert plan.stage.pins == plan_for().stage.pins
    assert plan.stage.opened == plan_for().stage.opened
    assert plan.pasta == cb.Pasta(fh.PASTA)
    assert plan.pasta.argv(4242, "/run/pid") == [
        fh.PASTA,
        "--config-net",
        "--quiet",
        "--foreground",
        "-t",
        "none",
        "-u",
        "none",
        "-T",
        "none",
        "-U",
        "none",
        "--no-map-gw",
        "-4",
        "-a",
        "198.18.0.2",
        "-n",
        "30",
        "-g",
        "198.18.0.1",
        "--dns-forward",
        "198.18.0.1",
        "--pid",
        "/run/pid",
        "4242",
    ]
    assert "--unshare-net" not in plan.argv
    assert plan.warnings == ()
    assert plan.blockers == ()
    # the relay's proxy: Claude's hosts, and what inet does not block (its own listener inside)
    assert (plan.relay.tunnel, plan.relay.on_host, plan.stage.listen) == (
        cb.Tunnel.UNBLOCKED,
        False,
        (3128,),
    )
    assert [item.describe() for item in plan.relay.blocked] == [
        "0.0.0.0/8 (this network)",
        "127.0.0.0/8 (loopback: the host's own services)",
        *fh.INET_FIXED_BLOCKED[:-1],  # inet's own link is no concern of the proxy's
        "203.0.113.0/24 (subnet of eth1)",
    ]
    assert env_of(plan)["HTTPS_PROXY"] == ("http://127.0.0.1:3128", "sandbox")


def test_inet_blocked_set_from_addresses():
    routing = cb.HostRouting(
        addresses=(
            cb.HostAddress("127.0.0.1", 8, "lo"),
            cb.HostAddress("10.1.2.3", 16, "eth0"),
            cb.HostAddress("192.0.2.5", 24, "eth1"),
            cb.HostAddress("100.100.1.1", 32, "tailscale0"),
        )
    )
    extra = cb.inet_blocked_beyond_fixed(cb.inet_blocked_set(routing))
    assert [item.describe() for item in extra] == ["192.0.2.0/24 (subnet of eth1)"]


def test_inet_routes_refuse_overlap_with_own_link():
    routing = cb.HostRouting(addresses=(cb.HostAddress("198.18.0.1", 32, "bench0"),))
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.inet_blocked_set(routing)
    assert str(info.value) == (
        "the host network 198.18.0.1/32 (address of bench0) overlaps the inet tier's own link "
        "198.18.0.0/30; use --network full or --network none on this host"
    )


# --- the stage spec (what --stage takes) ----------------------------------------------------


def test_stage_spec_round_trips_through_json():
    plan = plan_for(options=cb.Options())
    spec = json.loads(cb.render_stage_spec(cb.stage_spec(plan)))
    assert spec == {
        "network": True,
        "blocked": [list(item) for item in plan.stage.blocked],
        "pins": [
            [p.path, p.kind.value, p.read_only, p.source, *([p.upper] if p.upper else [])]
            for p in plan.stage.pins
        ],
        "opened": [[o.fd, o.path] for o in plan.stage.opened],
        "pasta": [fh.PASTA, *cb.PASTA_OPTIONS],
        "runtime_dir": INSTANCE_DIR,
        "listen": [3128],
        "sealed": False,
        "launch_data": {"LOGIN_ENV": 11, "LOGIN_CA": 12, "CREDENTIALS": 13, "BOOT_ID": 14},
        "relay": {
            "tunnel": "unblocked",
            "rules": [],
            "host_ports": [],
            "blocked": [list(item) for item in plan.relay.blocked],
            "log_dir": f"{INSTANCE_DIR}/network-log",
            "on_host": False,
            "login": {
                "claude_dir": CLAUDE_DIR,
                "variables": ["ANTHROPIC_API_KEY"],
                "upstream": "",
                "ca_bundle": CA_BUNDLE,
                "openssl": fh.OPENSSL,
                "instance": INSTANCE_ID,
                "account": "",
            },
        },
    }
    assert spec["pins"][-2:] == [
        [f"{STORE}/notes.txt", "file", True, f"{CLAUDE_DIR}/notes.txt"],
        [
            f"{STORE}/plugins",
            "directory",
            False,
            f"{CLAUDE_DIR}/plugins",
            f"{INSTANCE_DIR}/plugins-own",
        ],
    ]
    assert cb.relay_of_spec(spec["relay"]) == plan.relay


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["bwrap", "--args", "10", "--ro-bind-data", "12", "/etc/x", "--seccomp", "16"],
            (10, 12, 16),
        ),
        (
            ["bwrap", "--bind-fd", "30", "/p", "--ro-bind-fd", "31", "/q", "--file", "4", "/f"],
            (30, 31, 4),
        ),
        (
            ["bwrap", "--userns", "3", "--userns2", "4", "--pidns", "5", "--sync-fd", "6"],
            (3, 4, 5, 6),
        ),
        (
            ["bwrap", "--add-seccomp-fd", "3", "--block-fd", "4", "--userns-block-fd", "5"],
            (3, 4, 5),
        ),
        (["bwrap", "--info-fd", "3", "--json-status-fd", "4", "--bind-data", "5", "/d"], (3, 4, 5)),
        # words of other options are not options, even when they look like one
        (["bwrap", "--bind", "--seccomp", "7", "--setenv", "X", "--args", "--args", "8"], (8,)),
        (["bwrap", "--overlay", "--args", "5", "/d", "--seccomp", "6"], (6,)),
        (["bwrap", "--args", "10", "--args", "10"], (10,)),
        # the command's words are not bwrap's: after --, after the first non-option
        (["bwrap", "--args", "10", "--", "--seccomp", "7"], (10,)),
        (["bwrap", "--die-with-parent", "sh", "--seccomp", "7"], ()),
        # the reading ends at what it cannot read (bwrap refuses it, or finds the rest closed)
        (["bwrap", "--args", "10", "--frobnicate", "--seccomp", "7"], (10,)),
        (["bwrap", "--bind-data", "12"], ()),
        (["bwrap", "--seccomp", " 7", "--args", "8"], ()),
        (["bwrap", "--seccomp", "-7"], ()),
        (["bwrap", "--seccomp", "\u0667"], ()),  # an Arabic-Indic 7: a digit to Python only
        (["bwrap"], ()),
    ],
)
def test_bwrap_descriptors_are_the_ones_its_options_name(argv, named):
    assert cb.bwrap_descriptors(argv) == named


@pytest.mark.parametrize("tier", list(Tier))
def test_the_plans_argv_names_every_descriptor_it_hands_bwrap(tier):
    """Every data input and opened bind (the reading reaches the plan's --seccomp: no option
    claudebox writes ends it early)."""
    plan = plan_for(options=cb.Options(tier=tier))
    handed = {d.fd for d in plan.data} | {o.fd for o in plan.stage.opened}
    named = cb.bwrap_descriptors(plan.argv)
    assert sorted(named) == sorted(handed)
    assert named[-1] == plan.seccomp_fd


@pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("CI") != "true",
    reason="bwrap is not installed (under CI=true its absence fails)",
)
def test_the_option_table_agrees_with_the_installed_bwrap():
    """Each option bwrap --help lists takes the words the table says, a descriptor first
    exactly when the table says so."""
    text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, check=False).stdout
    listed = {}
    for line in text.splitlines():
        if line.startswith("    --"):
            option, *words = line.strip().split("  ")[0].split()
            listed[option] = words
    assert len(listed) > 50
    for option, words in listed.items():
        assert cb.BWRAP_OPTION_WORDS[option] == len(words), option
        assert (option in cb.BWRAP_DESCRIPTOR_OPTIONS) == (words[:1] == ["FD"]), option


def test_a_pasted_stage_keeps_only_the_descriptors_the_pasting_shell_hands_bwrap(monkeypatch):
    """--stage closes every other descriptor of the pasting shell at once; the ones it makes
    itself (launch data, opened binds) it makes later, and bwrap gets those too."""
    plan = plan_for(options=cb.Options(tier=Tier.INET))
    launched = []
    kept = []
    monkeypatch.setattr(cb, "supervise", lambda launch: launched.append(launch) or 0)
    monkeypatch.setattr(cb, "read_login_secrets", dict)
    monkeypatch.setattr(cb, "keep_only", lambda fds: kept.append(sorted(fds)))
    assert cb.stage_command(cb.render_stage_spec(cb.stage_spec(plan)), plan.argv) == 0
    pasted = sorted(d.fd for d in plan.data if d.kind not in cb.LAUNCH_DATA)
    assert kept == [pasted]
    assert pasted == [10, *range(15, 24)]  # the N< <(printf ...) of render_dry_run
    [launch] = launched
    handed = {d.fd for d in plan.data} | {o.fd for o in plan.stage.opened}
    assert set(launch.keep) == handed


def test_the_stage_reads_its_pins_back_from_the_spec(monkeypatch):
    """--stage SPEC gets the very pins the plan has (an overlay's upper directory included),
    but their reasons, which only the audit shows."""
    plan = plan_for(options=cb.Options())
    launched = []
    monkeypatch.setattr(cb, "supervise", lambda launch: launched.append(launch) or 0)
    monkeypatch.setattr(cb, "read_login_secrets", dict)
    monkeypatch.setattr(cb, "keep_only", list)  # (it would close pytest's descriptors)
    assert cb.stage_command(cb.render_stage_spec(cb.stage_spec(plan)), ["bwrap"]) == 0
    [launch] = launched
    assert launch.stage.pins == tuple(p._replace(reason="") for p in plan.stage.pins)
    assert [p for p in launch.stage.pins if p.upper] == [
        cb.Pin(
            f"{STORE}/plugins",
            Kind.DIR,
            False,
            f"{CLAUDE_DIR}/plugins",
            "",
            f"{INSTANCE_DIR}/plugins-own",
        )
    ]


@pytest.mark.parametrize("tier", list(Tier))
def test_the_relay_survives_its_spec_in_every_tier(tier):
    profile = cb.Profile(
        "web",
        "--profile",
        ("web",),
        allow_domains=(("*.npmjs.org", "web"),),
        host_ports=((5432, "web"),),
    )
    host = fh.make_host(env={**fh.HOST_ENV, "ANTHROPIC_BASE_URL": "http://10.0.0.5:8080/llm"})
    plan = plan_for(host, cb.Options(tier=tier, profile=profile))
    relay = plan.relay
    assert relay.login.upstream == "http://10.0.0.5:8080/llm"
    assert cb.relay_of_spec(cb.relay_spec(relay)) == relay
    spec = json.loads(cb.render_stage_spec(cb.stage_spec(plan)))
    assert cb.relay_of_spec(spec["relay"]) == relay
    assert relay.tier is tier
    assert relay.ports == (() if tier is Tier.FULL else (3128, *relay.host_ports))
    assert plan.stage.listen == relay.ports


def test_a_locale_archive_and_zoneinfo_leading_into_the_store_enter_resolved():
    """NixOS points LOCALE_ARCHIVE into /run/current-system (not inside) and TZDIR at
    /etc/zoneinfo: the host resolves them into the store, and they enter as those paths."""
    store = {
        "LOCALE_ARCHIVE": f"{STORE_DIR_OF_TEST}/lib/locale/locale-archive",
        "TZDIR": "/nix/store/z",
    }
    env = {var.name: var.value for var in plan_for(fh.make_host(store_env=store)).env}
    assert {name: env.get(name) for name in store} == store
    assert "LOCALE_ARCHIVE" not in {var.name for var in plan_for().env}


STORE_DIR_OF_TEST = "/nix/store/" + "l" * 32 + "-glibc-locales"
