"""build_plan: host facts in, the exact sandbox out."""

from __future__ import annotations

import base64
import hashlib
import json

import fakehost as fh
import pytest
from fakehost import BASH_BIN, CA_BUNDLE, CLAUDE, CLAUDE_BIN, COREUTILS_BIN, HOME, PROJECT, STATE

import claudebox as cb

INSTANCE_ID = hashlib.sha256(PROJECT.encode()).hexdigest()[:16]
INSTANCE_DIR = f"{STATE}/instances/{INSTANCE_ID}"
BIND_OPS = ("bind", "ro-bind", "bind-try", "ro-bind-try")


def plan_for(host=None, options=None, extra=()):
    return cb.build_plan(host or fh.make_host(), options or cb.Options(network="full"), extra)


def env_of(plan):
    return {var.name: (var.value, var.origin) for var in plan.env}


def binds(plan):
    return [(m.op, m.src, m.dst) for m in plan.mounts if m.op in BIND_OPS]


# --- environment ----------------------------------------------------------------------------


def test_env_is_exactly_allowlist_plus_sandbox_defined():
    plan = plan_for()
    assert env_of(plan) == {
        "ANTHROPIC_API_KEY": ("sk-ant-api03-canary", "host"),
        "EDITOR": ("vim", "host"),
        "LANG": ("en_US.UTF-8", "host"),
        "TERM": ("xterm-256color", "host"),
        "USER": ("alice", "host"),
        "HOME": (HOME, "sandbox"),
        "PATH": (f"{BASH_BIN}:{COREUTILS_BIN}:{CLAUDE_BIN}", "sandbox"),
        "SHELL": (f"{BASH_BIN}/bash", "sandbox"),
        "TMPDIR": ("/tmp", "sandbox"),
        "XDG_RUNTIME_DIR": ("/tmp", "sandbox"),
        "NIX_SSL_CERT_FILE": (CA_BUNDLE, "sandbox"),
        "SSL_CERT_FILE": (CA_BUNDLE, "sandbox"),
    }
    assert [var.name for var in plan.env] == sorted(var.name for var in plan.env)


def test_env_has_no_secret_named_host_variables():
    names = [var.name for var in plan_for().env]
    for secret in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "GH_HOST"):
        assert secret not in names
    argv = plan_for().argv
    for value in ("aws-canary", "ghp_canary", "/run/user/1000/ssh-agent"):
        assert value not in argv


def test_sandbox_defined_names_never_come_from_host():
    host = fh.make_host(ca_bundle=None, tools={})
    env = env_of(plan_for(host, extra=("HOME", "SHELL", "TMPDIR", "SSL_CERT_FILE")))
    assert env["HOME"] == (HOME, "sandbox")
    assert env["TMPDIR"] == ("/tmp", "sandbox")
    assert env["XDG_RUNTIME_DIR"] == ("/tmp", "sandbox")
    # not generated (no bash, no CA bundle) and still not taken from the host
    for name in ("SHELL", "NIX_SSL_CERT_FILE", "SSL_CERT_FILE"):
        assert name not in env


def test_extra_env_passed_only_when_set_on_host():
    plan = plan_for(extra=("GH_HOST", "NOT_SET_ON_HOST", "TERM"))
    env = env_of(plan)
    assert env["GH_HOST"] == ("github.example.org", "CLAUDEBOX_EXTRA_ENV")
    assert "NOT_SET_ON_HOST" not in env
    assert env["TERM"] == ("xterm-256color", "host")
    assert plan.warnings == ()


def test_extra_env_secret_name_passes_with_warning():
    plan = plan_for(extra=("GITHUB_TOKEN",))
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


def test_command_skip_permissions_first_then_user_args_unchanged():
    args = ("-p", "hi there", "--model", "x", "--", "--dry-run", "")
    plan = plan_for(options=cb.Options(claude_args=args, network="full"))
    assert plan.command == (CLAUDE, "--dangerously-skip-permissions", *args)
    assert plan.argv[-len(plan.command) - 1 :] == ["--", *plan.command]
    assert plan.chdir == fh.CWD


def test_shell_option_runs_bash():
    plan = plan_for(options=cb.Options(claude_args=("-p", "x"), network="full", shell=True))
    assert plan.command == (f"{BASH_BIN}/bash",)


def test_shell_without_bash_refused():
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(fh.make_host(tools={}), cb.Options(network="full", shell=True))
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
]


def test_namespaces_full_network():
    plan = plan_for(options=cb.Options(network="full"))
    assert list(plan.namespace_args) == NAMESPACES
    assert "--unshare-net" not in plan.argv
    assert plan.network == "full"


def test_namespaces_no_network():
    plan = plan_for(options=cb.Options(network="none"))
    assert list(plan.namespace_args) == [*NAMESPACES, "--unshare-net"]
    assert plan.argv[: len(NAMESPACES) + 3] == [
        fh.BWRAP,
        *NAMESPACES,
        "--unshare-net",
        "--clearenv",
    ]


def test_argv_ends_with_chdir_seccomp_command():
    plan = plan_for()
    tail = ["--chdir", fh.CWD, "--seccomp", "12", "--", CLAUDE, "--dangerously-skip-permissions"]
    assert plan.argv[-len(tail) :] == tail
    assert [(d.fd, d.what) for d in plan.data] == [
        (10, "gitconfig"),
        (11, "sandbox note"),
        (12, "seccomp"),
    ]
    assert plan.data[2].content == cb.tiocsti_filter("x86_64")


def test_bwrap_defaults_to_name_when_not_found():
    assert plan_for(fh.make_host(bwrap=None)).bwrap == "bwrap"


# --- mounts ---------------------------------------------------------------------------------


def test_no_home_path_other_than_claude_project_instance():
    plan = plan_for()
    allowed = (
        f"{HOME}/.claude",
        PROJECT,
        INSTANCE_DIR,
        f"{HOME}/.claudebox/cache/nix",
        f"{HOME}/.claudebox/cache/state",
    )
    for op, src, dst in binds(plan):
        if cb.is_within(src, HOME):
            assert any(cb.is_within(src, root) for root in allowed), (op, src, dst)
    outside = sorted({src for _, src, _ in binds(plan) if not cb.is_within(src, HOME)})
    assert outside == [
        "/etc/hosts",
        "/etc/passwd",
        "/etc/resolv.conf",
        "/etc/static",
        "/nix/store",
        "/nix/var/nix/daemon-socket",
    ]
    # nothing ever binds the secret paths or the home itself
    for _, src, _ in binds(plan):
        assert src != HOME
        assert not cb.is_within(src, f"{HOME}/.ssh")


def test_base_mounts_exact():
    plan = plan_for()
    base = [
        (m.op, m.dst, m.src, m.fd)
        for m in plan.mounts
        if not cb.is_within(m.dst, f"{HOME}/.claude") and m.dst != f"{HOME}/.claude.json"
    ]
    assert base == [
        ("tmpfs", "/", "", -1),
        ("proc", "/proc", "", -1),
        ("dev", "/dev", "", -1),
        ("tmpfs", "/tmp", "", -1),
        ("ro-bind", "/nix/store", "/nix/store", -1),
        ("ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf", -1),
        ("ro-bind-try", "/etc/hosts", "/etc/hosts", -1),
        ("ro-bind-try", "/etc/passwd", "/etc/passwd", -1),
        ("ro-bind-try", "/etc/static", "/etc/static", -1),
        ("tmpfs", HOME, "", -1),
        ("symlink", "/bin/sh", f"{BASH_BIN}/sh", -1),
        ("symlink", "/usr/bin/env", f"{COREUTILS_BIN}/env", -1),
        ("ro-bind-data", f"{HOME}/.gitconfig", "", 10),
        ("ro-bind-data", "/etc/claude-code/CLAUDE.md", "", 11),
        ("bind-try", "/nix/var/nix/daemon-socket", "/nix/var/nix/daemon-socket", -1),
        ("bind", f"{HOME}/.cache/nix", f"{HOME}/.claudebox/cache/nix", -1),
        ("bind", f"{HOME}/.local/state", f"{HOME}/.claudebox/cache/state", -1),
        ("bind", PROJECT, PROJECT, -1),
        ("ro-bind", f"{PROJECT}/.envrc", f"{PROJECT}/.envrc", -1),
        ("ro-bind", f"{PROJECT}/.git/hooks", f"{PROJECT}/.git/hooks", -1),
        ("ro-bind", f"{PROJECT}/.git/config", f"{PROJECT}/.git/config", -1),
        ("ro-bind", f"{PROJECT}/.claude/settings.json", f"{PROJECT}/.claude/settings.json", -1),
    ]


def test_protected_paths_bound_only_when_existing():
    host = fh.make_host(existing=frozenset({f"{PROJECT}/.mcp.json", f"{PROJECT}/.vscode"}))
    protected = [
        (op, src, dst)
        for op, src, dst in binds(plan_for(host))
        if cb.is_within(dst, PROJECT) and dst != PROJECT
    ]
    assert protected == [
        ("ro-bind", f"{PROJECT}/.vscode", f"{PROJECT}/.vscode"),
        ("ro-bind", f"{PROJECT}/.mcp.json", f"{PROJECT}/.mcp.json"),
    ]
    no_etc = [m for m in plan_for(host).mounts if m.op == "ro-bind-try"]
    assert no_etc == []


def test_all_protected_paths_when_all_exist():
    every = frozenset(f"{PROJECT}/{rel}" for rel in cb.PROTECTED_PROJECT_PATHS)
    plan = plan_for(fh.make_host(existing=every))
    ro = sorted(dst for op, _, dst in binds(plan) if op == "ro-bind" and cb.is_within(dst, PROJECT))
    assert ro == sorted(every)


def test_claude_dir_mounts_and_view():
    plan = plan_for()
    claude_dir = f"{HOME}/.claude"
    got = [(op, src, dst) for op, src, dst in binds(plan) if cb.is_within(dst, claude_dir)]
    expected = [("bind", claude_dir, claude_dir)]
    expected += [
        ("bind", f"{INSTANCE_DIR}/claude/{name}", f"{claude_dir}/{name}")
        for name, (how, _) in cb.CLAUDE_STATE_TABLE.items()
        if how == cb.CLAUDE_PER_INSTANCE
    ]
    expected += [
        ("ro-bind", f"{claude_dir}/{name}", f"{claude_dir}/{name}")
        for name, (how, _) in cb.CLAUDE_STATE_TABLE.items()
        if how == cb.CLAUDE_READ_ONLY
    ]
    expected += [
        ("ro-bind", f"{claude_dir}/mystery", f"{claude_dir}/mystery"),
        ("ro-bind", f"{claude_dir}/notes.txt", f"{claude_dir}/notes.txt"),
    ]
    assert got == expected
    assert ("bind", f"{INSTANCE_DIR}/claude/.claude.json", f"{HOME}/.claude.json") in binds(plan)
    # .credentials.json is shared through the directory bind, never bound on its own
    assert not any(dst.endswith(".credentials.json") for _, _, dst in binds(plan))
    view = dict(plan.claude_dir_view)
    assert view["mystery"] == "read-only (unclassified)"
    assert view["notes.txt"] == "read-only (unclassified)"
    assert view["projects"] == "per-project"
    assert view["settings.json"] == "read-only"
    assert view[".credentials.json"] == "shared"
    assert len(plan.claude_dir_view) == len(cb.CLAUDE_STATE_TABLE) + 2


def test_host_setup_exact():
    plan = plan_for()
    steps = [(s.path, s.content) for s in plan.host_setup]
    claude_dir = f"{HOME}/.claude"
    expected = [
        (STATE, None),
        (f"{STATE}/instances", None),
        (INSTANCE_DIR, None),
        (f"{INSTANCE_DIR}/root", PROJECT + "\n"),
        (f"{INSTANCE_DIR}/claude", None),
        (claude_dir, None),
    ]
    for name, (how, is_dir) in cb.CLAUDE_STATE_TABLE.items():
        if how == cb.CLAUDE_PER_INSTANCE:
            expected.append((f"{INSTANCE_DIR}/claude/{name}", None if is_dir else ""))
        elif how == cb.CLAUDE_READ_ONLY and name not in ("settings.json", "plugins"):
            seed = cb.CLAUDE_READ_ONLY_SEED.get(name)
            expected.append((f"{claude_dir}/{name}", None if is_dir else seed))
    expected.append(
        (
            f"{INSTANCE_DIR}/claude/.claude.json",
            '{\n  "hasCompletedOnboarding": true,\n  "theme": "dark",\n  "userID": "u-123"\n}\n',
        )
    )
    expected += [
        (f"{HOME}/.claudebox/cache", None),
        (f"{HOME}/.claudebox/cache/nix", None),
        (f"{HOME}/.claudebox/cache/state", None),
    ]
    assert steps == expected


def test_claude_outside_store_binds_its_dir_read_only():
    host = fh.make_host(claude=f"{HOME}/.local/bin/claude")
    plan = plan_for(host)
    assert ("ro-bind", f"{HOME}/.local/bin", f"{HOME}/.local/bin") in binds(plan)
    assert plan.notes == (
        f"claude lives outside /nix/store: {HOME}/.local/bin is mounted read-only",
    )
    assert plan.command[0] == f"{HOME}/.local/bin/claude"
    assert env_of(plan)["PATH"][0] == f"{BASH_BIN}:{COREUTILS_BIN}"


def test_claude_in_store_adds_no_note():
    plan = plan_for()
    assert plan.notes == ()
    assert plan.warnings == ()


def test_claude_missing_warns_and_uses_bare_name():
    plan = plan_for(fh.make_host(claude=None))
    assert plan.command[:2] == ("claude", "--dangerously-skip-permissions")
    assert plan.warnings == ("claude was not found on PATH: install Claude Code or add it to PATH",)
    assert env_of(plan)["PATH"][0] == f"{BASH_BIN}:{COREUTILS_BIN}"


def test_linked_worktree_binds_common_dir_and_protects_it():
    main = f"{HOME}/src/main"
    worktree = f"{HOME}/src/wt"
    host = fh.make_host(
        cwd=worktree,
        project=worktree,
        canonical_root=main,
        git_common_dir=f"{main}/.git",
        existing=frozenset(
            {
                f"{main}/.git/hooks",
                f"{main}/.git/config",
                f"{worktree}/.git/hooks",  # not consulted: a worktree's .git is a file
                f"{worktree}/.envrc",
            }
        ),
    )
    plan = plan_for(host)
    digest = hashlib.sha256(main.encode()).hexdigest()[:16]
    assert plan.instance == cb.Instance(digest, main, f"{STATE}/instances/{digest}")
    git_binds = [
        (op, src, dst)
        for op, src, dst in binds(plan)
        if cb.is_within(dst, worktree) or cb.is_within(dst, main)
    ]
    assert git_binds == [
        ("bind", worktree, worktree),
        ("bind", f"{main}/.git", f"{main}/.git"),
        ("ro-bind", f"{worktree}/.envrc", f"{worktree}/.envrc"),
        ("ro-bind", f"{main}/.git/hooks", f"{main}/.git/hooks"),
        ("ro-bind", f"{main}/.git/config", f"{main}/.git/config"),
    ]


def test_worktree_common_dir_in_secret_path_refused():
    host = fh.make_host(git_common_dir=f"{HOME}/.ssh/repo.git")
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(
        f"the repository's git directory {HOME}/.ssh/repo.git would expose {HOME}/.ssh;"
    )


def test_unsupported_machine_refuses_plan():
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(fh.make_host(machine="riscv64"))
    assert "riscv64" in str(info.value)


# --- refusals -------------------------------------------------------------------------------


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
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
        (
            f"{HOME}/.ssh/x",
            f"the project directory {HOME}/.ssh/x would expose {HOME}/.ssh; "
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
        (
            "/home",
            f"the project directory /home would expose {HOME}/.ssh; "
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
        (
            f"{HOME}/.claudebox/instances",
            f"the project directory {HOME}/.claudebox/instances would expose {HOME}/.claudebox; "
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
        (
            "/run/user/1000/proj",
            "the project directory /run/user/1000/proj would expose /run/user/1000; "
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
        (
            "/var/lib",
            "the project directory /var/lib would expose /var/lib/tailscale; "
            "run claudebox from a project directory that neither contains nor lies inside "
            "a secret path",
        ),
    ],
)
def test_project_refusals(project, message):
    host = fh.make_host(project=project, cwd=project, canonical_root=project)
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host)
    assert info.value.exit_code == 2
    assert str(info.value) == message


def test_similar_names_are_not_secret_paths():
    for project in (f"{HOME}/.sshfoo", f"{HOME}/src/.ssh-notes", "/run/user/10000"):
        host = fh.make_host(project=project, cwd=project, canonical_root=project)
        assert plan_for(host).chdir == project


def test_unknown_network_tier_refused():
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(options=cb.Options(network="bogus"))
    assert info.value.exit_code == 2
    assert str(info.value) == "unknown network tier 'bogus'; use one of " + ", ".join(
        cb.NETWORK_TIERS
    )


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
    assert cb.Options().network == "inet"


def test_inet_plan():
    plan = plan_for(options=cb.Options(network="inet"))
    assert list(plan.namespace_args) == [*NAMESPACES, "--uid", "1000", "--gid", "100"]
    assert [(d.fd, d.what) for d in plan.data] == [
        (10, "gitconfig"),
        (11, "sandbox note"),
        (12, "seccomp"),
        (13, "resolv.conf"),
    ]
    assert plan.data[3].content == b"nameserver 198.18.0.1\n"
    resolv = [m for m in plan.mounts if m.dst == "/etc/resolv.conf"]
    assert resolv == [cb.Mount("ro-bind-data", "/etc/resolv.conf", fd=13)]
    assert [item.describe() for item in plan.inet_blocked] == [
        "10.0.0.0/8 (private range)",
        "172.16.0.0/12 (private range)",
        "192.168.0.0/16 (private range)",
        "100.64.0.0/10 (CGNAT and tailnet range)",
        "169.254.0.0/16 (link-local)",
        "224.0.0.0/4 (multicast)",
        "240.0.0.0/4 (reserved, with broadcast)",
        "198.18.0.3/32 (the inet link's broadcast)",
        "203.0.113.0/24 (subnet of eth1)",
    ]
    spec = json.loads(plan.launcher[-2])
    assert [(label, protocol) for label, protocol, _ in spec["netlink"]] == [
        ("route 10.0.0.0/8", 0),
        ("route 100.64.0.0/10", 0),
        ("route 169.254.0.0/16", 0),
        ("route 172.16.0.0/12", 0),
        ("route 192.168.0.0/16", 0),
        ("route 203.0.113.0/24", 0),
        ("route 224.0.0.0/3", 0),  # 224.0.0.0/4 and 240.0.0.0/4, merged
        ("nftables rules", 12),
    ]
    requests = cb.inet_netlink_requests(plan.inet_blocked)
    assert [base64.b64decode(encoded) for _, _, encoded in spec["netlink"]] == [
        request.messages for request in requests
    ]
    assert spec["data"] == {str(d.fd): base64.b64encode(d.content).decode() for d in plan.data}
    assert plan.launcher[:-2] == (
        fh.PASTA,
        "--config-net",
        "--quiet",
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
        "--",
        fh.PYTHON,
        "-I",
        "-S",
        "-c",
        cb.INET_SETUP_PROGRAM,
    )
    assert plan.launcher[-1] == "--"
    assert plan.command_line == [*plan.launcher, *plan.argv]
    assert "--unshare-net" not in plan.argv
    assert plan.warnings == ()


def test_inet_without_pasta_warns():
    plan = plan_for(fh.make_host(pasta=None), cb.Options(network="inet"))
    assert plan.launcher[0] == "pasta"
    assert plan.warnings == (
        "pasta was not found on PATH: the inet tier needs it "
        "(install passt, or use --network full)",
    )


def test_inet_without_readable_routing_refused_with_the_reason():
    host = fh.make_host(routing=None, routing_error="Operation not permitted")
    with pytest.raises(cb.ClaudeboxError) as info:
        plan_for(host, cb.Options(network="inet"))
    assert str(info.value) == (
        "cannot read the host's IPv4 routing over netlink (Operation not permitted): the inet "
        "tier blocks every network the host routes specially and will not start without "
        "knowing them; use --network full or --network none"
    )
    assert plan_for(host, cb.Options(network="none")).network == "none"


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
