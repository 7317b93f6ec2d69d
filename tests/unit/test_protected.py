"""plan_protected and plan_claude_home: what the stage pins, creates and refuses, from walks and
~/.claude entries as the edge reports them (symlinks never followed)."""

from __future__ import annotations

import fakehost as fh
import pytest
from fakehost import CLAUDE_DIR, HOME, PROJECT

import claudebox as cb
from claudebox import Entry, Kind, Pin, Walk

STORE_FILES = "/nix/store/" + "e" * 32 + "-home-manager-files"
DOTFILES = f"{HOME}/dotfiles"
INSTANCE = cb.instance_for(PROJECT, fh.STATE)
STORE = INSTANCE.claude_store  # ~/.claude inside: the project's own


def walk(
    relative: str, *steps: Entry, create: bool = False, placeholder: str | None = None
) -> Walk:
    return Walk(PROJECT, relative, steps, create, placeholder=placeholder)


def d(relative: str) -> Entry:
    return Entry(f"{PROJECT}/{relative}", Kind.DIR)


def f(relative: str) -> Entry:
    return Entry(f"{PROJECT}/{relative}", Kind.FILE)


def missing(relative: str) -> Entry:
    return Entry(f"{PROJECT}/{relative}", Kind.MISSING)


def link(relative: str, target: str, resolved: str) -> Entry:
    return Entry(f"{PROJECT}/{relative}", Kind.LINK, target, resolved)


# --- plan_protected -------------------------------------------------------------------------


def test_present_paths_read_only_and_directories_above_pinned():
    part = cb.plan_protected(
        [
            walk(".envrc", f(".envrc")),
            walk(".claude/settings.json", d(".claude"), f(".claude/settings.json")),
            walk(".claude/commands", d(".claude"), d(".claude/commands")),
            walk(".git/hooks", d(".git"), d(".git/hooks"), create=True),
        ],
        [PROJECT],
    )
    assert part == cb.ProjectPart(
        pins=(
            Pin(f"{PROJECT}/.envrc", Kind.FILE, True, reason="read-only"),
            Pin(f"{PROJECT}/.claude", Kind.DIR, False, reason="pinned"),
            Pin(f"{PROJECT}/.claude/settings.json", Kind.FILE, True, reason="read-only"),
            Pin(f"{PROJECT}/.claude", Kind.DIR, False, reason="pinned"),
            Pin(f"{PROJECT}/.claude/commands", Kind.DIR, True, reason="read-only"),
            Pin(f"{PROJECT}/.git", Kind.DIR, False, reason="pinned"),
            Pin(f"{PROJECT}/.git/hooks", Kind.DIR, True, reason="read-only"),
        ),
        setup=(),
        watched=(),
        placeholders=(),
    )


def test_absent_git_redirections_get_placeholders_for_the_session():
    """An absent commondir or config.worktree is made (as git reads none) and read-only: what
    the session would write there acts on the host's git while the session runs."""
    part = cb.plan_protected(
        [
            walk(".git/commondir", d(".git"), missing(".git/commondir"), placeholder="."),
            walk(
                ".git/config.worktree", d(".git"), missing(".git/config.worktree"), placeholder=""
            ),
            walk(".git/x/commondir", d(".git"), missing(".git/x"), placeholder="."),
        ],
        [PROJECT],
    )
    made = (
        cb.HostSetup(f"{PROJECT}/.git/commondir", "."),
        cb.HostSetup(f"{PROJECT}/.git/config.worktree", ""),
    )
    assert (part.setup, part.placeholders, part.watched) == (made, made, (f"{PROJECT}/.git/x",))
    assert [pin.reason for pin in part.pins if pin.read_only] == ["read-only placeholder"] * 2


def test_missing_paths_are_watched_once_each_at_their_first_missing_step():
    part = cb.plan_protected(
        [
            walk(".mcp.json", missing(".mcp.json")),
            walk(".claude/settings.json", missing(".claude")),
            walk(".claude/commands", missing(".claude")),
            walk(".git/config.worktree", d(".git"), missing(".git/config.worktree")),
        ],
        [PROJECT],
    )
    assert part.pins == (Pin(f"{PROJECT}/.git", Kind.DIR, False, reason="pinned"),)
    assert part.setup == ()
    assert part.watched == (
        f"{PROJECT}/.mcp.json",
        f"{PROJECT}/.claude",
        f"{PROJECT}/.git/config.worktree",
    )


def test_git_hooks_are_created_when_absent_then_read_only():
    part = cb.plan_protected(
        [walk(".git/hooks", d(".git"), missing(".git/hooks"), create=True)], [PROJECT]
    )
    assert part.setup == (cb.HostSetup(f"{PROJECT}/.git/hooks"),)
    assert part.pins == (
        Pin(f"{PROJECT}/.git", Kind.DIR, False, reason="pinned"),
        Pin(f"{PROJECT}/.git/hooks", Kind.DIR, True, reason="read-only"),
    )
    assert part.watched == ()


def test_hooks_are_not_created_when_the_git_directory_itself_is_missing():
    part = cb.plan_protected([walk(".git/hooks", missing(".git"), create=True)], [PROJECT])
    assert (part.pins, part.setup, part.watched) == ((), (), (f"{PROJECT}/.git",))


def test_a_symlink_leading_outside_the_project_is_pinned_never_followed():
    part = cb.plan_protected(
        [
            walk(".envrc", link(".envrc", f"{DOTFILES}/envrc", f"{DOTFILES}/envrc")),
            walk(".claude/settings.json", link(".claude", "/gone", "")),  # dangling
            walk(".vscode", link(".vscode", f"{STORE_FILES}/vscode", f"{STORE_FILES}/vscode")),
        ],
        [PROJECT],
    )
    assert part.pins == (
        Pin(f"{PROJECT}/.envrc", Kind.LINK, False, reason="symlink, not followed"),
        Pin(f"{PROJECT}/.claude", Kind.LINK, False, reason="symlink, not followed"),
        Pin(f"{PROJECT}/.vscode", Kind.LINK, False, reason="symlink, not followed"),
    )
    assert part.watched == ()


@pytest.mark.parametrize(
    ("protected", "relative", "target"),
    [
        (walk(".envrc", link(".envrc", "tools/envrc", f"{PROJECT}/tools/envrc")), ".envrc", None),
        (
            walk(
                ".claude/settings.json",
                link(".claude", "config/claude", f"{PROJECT}/config/claude"),
            ),
            ".claude",
            None,
        ),
        (
            walk(".git/hooks", d(".git"), link(".git/hooks", "../.husky", f"{PROJECT}/.husky")),
            ".git/hooks",
            None,
        ),
        # into a writable git directory outside the project (a linked worktree's)
        (walk(".envrc", link(".envrc", "/src/main/.git/x", "/src/main/.git/x")), ".envrc", None),
    ],
)
def test_a_symlink_leading_back_into_what_the_sandbox_writes_is_refused(
    protected, relative, target
):
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.plan_protected([protected], [PROJECT, "/src/main/.git"])
    last = protected.steps[-1]
    assert info.value.exit_code == 2
    assert str(info.value) == (
        f"{PROJECT}/{relative} is a symlink to {last.target}, inside the project: the host's git, "
        "editor or claude would follow it to files the sandbox can change; replace it by what it "
        f"points to, or remove it (rm {PROJECT}/{relative})"
    )


def test_build_plan_refuses_a_project_symlink_into_the_project():
    tree = {**fh.PROJECT_TREE, ".envrc": ("notes/envrc", f"{PROJECT}/notes/envrc", Kind.FILE)}
    with pytest.raises(cb.ClaudeboxError, match=f"^{PROJECT}/.envrc is a symlink to notes/envrc"):
        cb.build_plan(fh.make_host(tree=tree), cb.Options())


# --- order_pins -----------------------------------------------------------------------------


def test_order_pins_parents_first_one_per_path_read_only_and_sources_win():
    path = "/h/.claude/projects"
    pins = [
        Pin("/p/.git/hooks", Kind.DIR, True),
        Pin("/p/.git", Kind.DIR, False),
        Pin("/p/.claude", Kind.DIR, False),
        Pin("/p/.claude", Kind.DIR, True),  # read-only beats pinned
        Pin("/p/.claude", Kind.DIR, False),  # and stays
        Pin(path, Kind.DIR, True),
        Pin(path, Kind.DIR, False, "/i/claude/projects"),  # a source beats both
        Pin(path, Kind.DIR, True),
        Pin("/p/.envrc", Kind.LINK, False),
    ]
    assert cb.order_pins(pins) == (
        Pin("/p/.git", Kind.DIR, False),
        Pin("/p/.claude", Kind.DIR, True),
        Pin("/p/.envrc", Kind.LINK, False),
        Pin("/p/.git/hooks", Kind.DIR, True),
        Pin(path, Kind.DIR, False, "/i/claude/projects"),
    )


# --- plan_claude_home -----------------------------------------------------------------------


def claude_part(entries, json=None, writable=(PROJECT,), home=None):
    home = home or fh.claude_home(HOME, entries, json or {})
    return cb.plan_claude_home(fh.make_host(claude_home=home), INSTANCE, writable)


def pin_of(part, name):
    return next(p for p in part.pins if p.path == f"{STORE}/{name}")


def view_of(part, name):
    return next(v for v in part.view if v.name == name)


def test_claude_inside_is_the_projects_own_with_the_login_as_a_mount_point():
    part = claude_part({})
    assert part.mounts == (
        cb.Mount(cb.MountOp.BIND_FD, CLAUDE_DIR, STORE),
        cb.Mount(cb.MountOp.BIND_FD, f"{HOME}/.claude.json", f"{STORE}/.claude.json"),
    )
    assert INSTANCE.claude_json == f"{STORE}/.claude.json"  # also ~/.claude/.claude.json inside
    assert part.setup == (
        cb.HostSetup(STORE, mount_point=True),
        cb.HostSetup(f"{STORE}/.claude.json", "{}\n", mount_point=True),
        cb.HostSetup(f"{STORE}/.credentials.json", "", mount_point=True),
    )
    assert part.pins == (
        Pin(f"{STORE}/.credentials.json", Kind.FILE, False, reason="the login's mount point"),
    )
    assert (part.view, part.warnings) == ((), ())


def test_the_hosts_entries_come_in_read_only_over_the_projects_own():
    part = claude_part(
        {
            "settings.json": Kind.FILE,  # layered: in the view, no pin (plan_layers writes it)
            "agents": Kind.DIR,
            "plugins": Kind.DIR,  # the host's below, the project's own on top
            "statusline.sh": Kind.FILE,  # not named in the table: the host's too
            "projects": Kind.DIR,  # the project's own: never the host's
            ".credentials.json": Kind.FILE,  # the relay's: never enters
        },
        json={"theme": "dark", "mcpServers": {"x": {}}},
    )
    upper = f"{INSTANCE.dir}/plugins-own"
    assert part.pins[1:] == (
        Pin(f"{STORE}/agents", Kind.DIR, True, f"{CLAUDE_DIR}/agents", "the host's, read-only"),
        Pin(
            f"{STORE}/plugins",
            Kind.DIR,
            False,
            f"{CLAUDE_DIR}/plugins",
            "the host's, with the project's own on top",
            upper,
        ),
        Pin(
            f"{STORE}/statusline.sh",
            Kind.FILE,
            True,
            f"{CLAUDE_DIR}/statusline.sh",
            "the host's, read-only",
        ),
    )
    # the project's own ~/.claude.json: made empty here, layered from the host's at launch
    assert part.setup[1] == cb.HostSetup(f"{STORE}/.claude.json", "{}\n", mount_point=True)
    assert part.setup[3:] == (
        cb.HostSetup(f"{STORE}/agents", mount_point=True),
        cb.HostSetup(f"{STORE}/plugins", mount_point=True),
        cb.HostSetup(upper),
        cb.HostSetup(upper + ".work"),
        cb.HostSetup(f"{STORE}/statusline.sh", "", mount_point=True),
    )
    assert [(v.name, v.treatment, v.note) for v in part.view] == [
        ("agents", cb.Treatment.READ_ONLY, ""),
        ("plugins", cb.Treatment.OVERLAID, ""),
        ("settings.json", cb.Treatment.LAYERED, ""),
        ("statusline.sh", cb.Treatment.READ_ONLY, ""),
    ]
    assert not any(cb.is_within(step.path, CLAUDE_DIR) for step in part.setup)


STORE_PLUGINS_FILE = "/nix/store/" + "3" * 32 + "-plugins.json"


@pytest.mark.parametrize(
    ("plugins", "source"),
    [
        (Kind.FILE, f"{CLAUDE_DIR}/plugins"),
        ((STORE_PLUGINS_FILE, STORE_PLUGINS_FILE, Kind.FILE), STORE_PLUGINS_FILE),
    ],
    ids=["file", "link-to-a-store-file"],
)
def test_a_plugins_file_comes_in_read_only_not_as_an_overlay(plugins, source):
    """Only a directory can be the lower layer of an overlay."""
    part = claude_part({"plugins": plugins})
    assert part.pins[1:] == (
        Pin(f"{STORE}/plugins", Kind.FILE, True, source, "the host's, read-only"),
    )
    assert [(v.name, v.treatment) for v in part.view] == [("plugins", cb.Treatment.READ_ONLY)]
    assert not [step for step in part.setup if "plugins-own" in step.path]


def test_a_plugins_link_out_of_the_store_gets_no_overlay():
    outside = claude_part({"plugins": (f"{DOTFILES}/plugins", f"{DOTFILES}/plugins", Kind.DIR)})
    assert outside.pins == claude_part({}).pins  # left out, as any link out of the store
    assert outside.setup == claude_part({}).setup  # no upper directory either
    assert view_of(outside, "plugins").note.endswith(": left out")


def audit_claude_lines(entries) -> list[str]:
    host = fh.make_host(claude_home=fh.claude_home(HOME, entries))
    lines = cb.render_audit(cb.build_plan(host, cb.Options()), cb.Style(False), HOME).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  claude "))
    end = next(i for i, line in enumerate(lines) if "login via claudebox" in line)
    return lines[start:end]


def test_the_audit_counts_what_comes_in_read_only_apart_from_what_is_overlaid():
    assert audit_claude_lines({"agents": Kind.DIR, "plugins": Kind.DIR}) == [
        "  claude     ~/.claude: this project's own, 1 of yours read-only, plugins with",
        "             its own on top",
    ]
    assert audit_claude_lines({"agents": Kind.DIR, "plugins": Kind.FILE}) == [
        "  claude     ~/.claude: this project's own, 2 of yours read-only",
    ]
    assert audit_claude_lines({"plugins": Kind.DIR}) == [
        "  claude     ~/.claude: this project's own, 0 of yours read-only, plugins with",
        "             its own on top",
    ]


def test_entries_the_project_or_the_relay_owns_never_come_from_the_host():
    """probe_claude_home does not report them; if a ClaudeHome holds them anyway (a symlink, a
    directory where a file belongs), they are skipped, never refused."""
    entries = tuple(
        Entry(f"{CLAUDE_DIR}/{name}", kind, *link)
        for name, kind, link in [
            (".credentials.json", Kind.DIR, ()),
            (".oauth_refresh.lock", Kind.DIR, ()),
            ("settings.json", Kind.FILE, ()),  # the project's own, layered on the host's
            ("history.jsonl", Kind.DIR, ()),
            ("projects", Kind.LINK, ("/data/p", "/data/p", Kind.DIR)),
        ]
    )
    home = cb.ClaudeHome(CLAUDE_DIR, entries, {})
    part = claude_part({}, home=home)
    # settings.json is named in the plan (plan_layers writes it), nothing comes in for it
    assert part.view == (cb.ClaudeView("settings.json", cb.Treatment.LAYERED, ""),)
    assert part._replace(view=()) == claude_part({})


def test_home_manager_symlinks_into_the_store_come_in_as_what_they_lead_to():
    memory = "/nix/store/" + "1" * 32 + "-claude-memory.md"
    plugins = "/nix/store/" + "2" * 32 + "-claude-plugins"
    part = claude_part(
        {
            "CLAUDE.md": (f"{STORE_FILES}/.claude/CLAUDE.md", memory, Kind.FILE),
            "plugins": (f"{STORE_FILES}/.claude/plugins", plugins, Kind.DIR),
            "commands": (
                f"{STORE_FILES}/.claude/commands",
                f"{STORE_FILES}/.claude/commands",
                Kind.DIR,
            ),
            "sl.sh": (f"{STORE_FILES}/.claude/sl.sh", f"{STORE_FILES}/.claude/sl.sh", Kind.FILE),
        }
    )
    assert part.pins[1:] == (
        Pin(f"{STORE}/CLAUDE.md", Kind.FILE, True, memory, "the host's, read-only"),
        Pin(
            f"{STORE}/commands",
            Kind.DIR,
            True,
            f"{STORE_FILES}/.claude/commands",
            "the host's, read-only",
        ),
        Pin(  # the store's plugins below the overlay
            f"{STORE}/plugins",
            Kind.DIR,
            False,
            plugins,
            "the host's, with the project's own on top",
            f"{INSTANCE.dir}/plugins-own",
        ),
        Pin(
            f"{STORE}/sl.sh",
            Kind.FILE,
            True,
            f"{STORE_FILES}/.claude/sl.sh",
            "the host's, read-only",
        ),
    )
    assert part.setup[3:] == (
        cb.HostSetup(f"{STORE}/CLAUDE.md", "", mount_point=True),
        cb.HostSetup(f"{STORE}/commands", mount_point=True),
        cb.HostSetup(f"{STORE}/plugins", mount_point=True),
        cb.HostSetup(f"{INSTANCE.dir}/plugins-own"),
        cb.HostSetup(f"{INSTANCE.dir}/plugins-own.work"),
        cb.HostSetup(f"{STORE}/sl.sh", "", mount_point=True),
    )
    for name in ("CLAUDE.md", "commands", "plugins", "sl.sh"):
        assert view_of(part, name).note == "symlink into /nix/store, readable"
    assert view_of(part, "plugins").treatment is cb.Treatment.OVERLAID
    assert part.warnings == ()


def test_symlinks_elsewhere_and_special_files_are_left_out():
    part = claude_part(
        {
            "agents": (f"{DOTFILES}/agents", f"{DOTFILES}/agents", Kind.DIR),
            "skills": ("/gone/skills", ""),
            "CLAUDE.md": (f"{PROJECT}/CLAUDE.md", f"{PROJECT}/CLAUDE.md", Kind.FILE),
            "dangling": (f"{STORE_FILES}/gone", ""),  # into the store, but to nothing
            "fifo": (f"{STORE_FILES}/fifo", f"{STORE_FILES}/fifo", Kind.OTHER),
            "socket": Kind.OTHER,
        }
    )
    assert part.pins == claude_part({}).pins
    assert part.setup == claude_part({}).setup
    assert [(v.name, v.note) for v in part.view] == [
        ("CLAUDE.md", f"symlink to {PROJECT}/CLAUDE.md (inside the project): left out"),
        ("agents", f"symlink to {DOTFILES}/agents, not followed: left out"),
        ("dangling", f"symlink to {STORE_FILES}/gone, not followed: left out"),
        ("fifo", "symlink to a special file: left out"),
        ("skills", "symlink to /gone/skills, not followed: left out"),
        ("socket", "special file: left out"),
    ]
    assert part.warnings == ()


def test_a_symlinked_settings_json_outside_the_store_is_read_by_claudebox_never_pinned():
    """Any other entry linked out of /nix/store is left out; the host's settings.json is
    layered: claudebox reads it (plan_layers writes the project's own), nothing is mounted."""
    target = f"{DOTFILES}/claude-settings.json"
    part = claude_part({"settings.json": (target, target, Kind.FILE)})
    assert part.view == (
        cb.ClaudeView(
            "settings.json", cb.Treatment.LAYERED, f"symlink to {target}, read by claudebox"
        ),
    )
    assert part.pins == claude_part({}).pins  # the login's mount point only
    assert not any(target in (p.path, p.source) for p in part.pins)
    assert part.setup == claude_part({}).setup
    assert part.warnings == ()


def test_the_audit_names_each_symlink_and_counts_what_comes_in():
    entries = {
        # layered: named among the symlinks, not counted as read-only (claudebox reads it)
        "settings.json": (f"{STORE_FILES}/s.json", f"{STORE_FILES}/s.json", Kind.FILE),
        "CLAUDE.md": (f"{STORE_FILES}/c.md", f"{STORE_FILES}/c.md", Kind.FILE),
        "agents": (f"{DOTFILES}/agents", f"{DOTFILES}/agents", Kind.DIR),
        "plugins": Kind.DIR,
        "socket": Kind.OTHER,
    }
    tree = {**fh.PROJECT_TREE, ".envrc": (f"{DOTFILES}/envrc", f"{DOTFILES}/envrc", Kind.FILE)}
    host = fh.make_host(tree=tree, claude_home=fh.claude_home(HOME, entries))
    plan = cb.build_plan(host, cb.Options())
    lines = cb.render_audit(plan, cb.Style(False), HOME, rows=99).splitlines()  # in full
    start = lines.index(
        "  claude     ~/.claude: this project's own, 1 of yours read-only, plugins with"
    )
    assert lines[start + 1 : start + 8] == [
        "             its own on top",
        "             login via claudebox: no token or key inside",
        "  mcp        1 of yours outside (a profile's mcp_servers brings one in): db",
        "  symlinks   ~/.claude/CLAUDE.md: symlink into /nix/store, readable",
        "             ~/.claude/agents -> /home/alic…iles/agents (not followed: left out)",
        "             ~/.claude/settings.json -> /nix/stor…les/s.json (read by claudebox)",
        "             .envrc: symlink, not followed",
    ]


def test_too_many_entries_come_in_up_to_the_limit_with_a_warning():
    entries = {f"extra-{index:03}": Kind.FILE for index in range(100)}
    home = fh.claude_home(HOME, {**entries, "agents": Kind.DIR, "projects": Kind.DIR})
    # the named read-only, overlaid and layered keep their room
    shown = cb.CLAUDE_HOME_SHOWN - len(fh.FROM_HOST_NAMED)
    part = claude_part({}, home=home)
    assert len(part.view) == shown + 1
    assert [v.name for v in part.view] == sorted(["agents", *sorted(entries)[:shown]])
    assert part.warnings == (
        f"{100 - shown} more entries of ~/.claude stay outside (at most 64 come in); move what "
        "Claude needs into fewer entries",
    )
    cut = claude_part({}, home=home._replace(scan_cut=True))
    assert cut.warnings == (f"at least {part.warnings[0]}",)  # more than were counted


def test_a_claude_home_behind_a_symlink_comes_in_from_where_it_is():
    real = f"{DOTFILES}/claude"
    home = cb.ClaudeHome(real, (Entry(f"{real}/CLAUDE.md", Kind.FILE),), {})
    part = claude_part({}, home=home)
    assert part.mounts[0] == cb.Mount(cb.MountOp.BIND_FD, CLAUDE_DIR, STORE)
    assert part.pins[1] == Pin(
        f"{STORE}/CLAUDE.md", Kind.FILE, True, f"{real}/CLAUDE.md", "the host's, read-only"
    )
    plan = cb.build_plan(fh.make_host(claude_home=home), cb.Options())
    assert plan.relay.login.claude_dir == real
    assert plan.relay.login.credentials == f"{real}/.credentials.json"
