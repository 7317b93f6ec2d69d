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


def walk(relative: str, *steps: Entry, create: bool = False) -> Walk:
    return Walk(PROJECT, relative, steps, create)


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
    )


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
    tree = {**fh.PROJECT_TREE, ".envrc": ("notes/envrc", f"{PROJECT}/notes/envrc")}
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


def claude_part(entries, json=None, writable=(PROJECT,)):
    host = fh.make_host(claude_home=fh.claude_home(HOME, entries, json or {}))
    return cb.plan_claude_home(host, INSTANCE, writable)


def pin_of(part, name):
    return next(p for p in part.pins if p.path == f"{CLAUDE_DIR}/{name}")


def view_of(part, name):
    return next(v for v in part.view if v.name == name)


def test_home_manager_symlinks_into_the_store_are_pinned_and_noted():
    part = claude_part(
        {
            ".credentials.json": Kind.FILE,
            "settings.json": (
                f"{STORE_FILES}/.claude/settings.json",
                "/nix/store/" + "1" * 32 + "-claude-settings.json",
            ),
            "CLAUDE.md": (f"{STORE_FILES}/.claude/CLAUDE.md", f"{STORE_FILES}/.claude/CLAUDE.md"),
            "commands": (f"{STORE_FILES}/.claude/commands", f"{STORE_FILES}/.claude/commands"),
            "statusline.sh": (f"{STORE_FILES}/.claude/sl.sh", f"{STORE_FILES}/.claude/sl.sh"),
        }
    )
    for name in ("settings.json", "CLAUDE.md", "commands", "statusline.sh"):
        assert pin_of(part, name).kind is Kind.LINK
        assert pin_of(part, name).read_only is True
        assert view_of(part, name).note == "symlink into /nix/store, readable"
        assert cb.HostSetup(f"{CLAUDE_DIR}/{name}") not in part.setup
    assert pin_of(part, "statusline.sh").reason == "read-only (unclassified)"
    assert pin_of(part, "statusline.sh").describe() == f"pinned symlink {CLAUDE_DIR}/statusline.sh"
    assert part.warnings == ()


def test_the_audit_names_each_pinned_symlink():
    entries = {
        "settings.json": (f"{STORE_FILES}/s.json", f"{STORE_FILES}/s.json"),
        "CLAUDE.md": (f"{STORE_FILES}/c.md", f"{STORE_FILES}/c.md"),
        "agents": (f"{DOTFILES}/agents", f"{DOTFILES}/agents"),
    }
    tree = {**fh.PROJECT_TREE, ".envrc": (f"{DOTFILES}/envrc", f"{DOTFILES}/envrc")}
    host = fh.make_host(tree=tree, claude_home=fh.claude_home(HOME, entries))
    lines = cb.render_audit(cb.build_plan(host, cb.Options()), cb.Style(False), HOME).splitlines()
    start = lines.index("  claude     ~/.claude: 15 per-project, 9 read-only, credentials shared")
    assert lines[start + 1 : start + 5] == [
        "  symlinks   ~/.claude/settings.json: symlink into /nix/store, readable",
        "             ~/.claude/CLAUDE.md: symlink into /nix/store, readable",
        f"             ~/.claude/agents -> {DOTFILES}/agents (not followed)",
        "             .envrc: symlink, not followed",
    ]
    assert "             .envrc: symlink, not followed" in lines


def test_symlinks_elsewhere_are_not_followed_and_into_the_project_warn():
    part = claude_part(
        {
            "agents": (f"{DOTFILES}/agents", f"{DOTFILES}/agents"),
            "skills": ("/gone/skills", ""),
            "CLAUDE.md": (f"{PROJECT}/CLAUDE.md", f"{PROJECT}/CLAUDE.md"),
        }
    )
    assert view_of(part, "agents").note == f"symlink to {DOTFILES}/agents, not followed"
    assert view_of(part, "skills").note == "symlink to /gone/skills, not followed"
    assert view_of(part, "CLAUDE.md").note == f"symlink to {PROJECT}/CLAUDE.md (inside the project)"
    assert part.warnings == (
        f"{CLAUDE_DIR}/CLAUDE.md is a symlink to {PROJECT}/CLAUDE.md (inside the project): the "
        "sandbox can change what your own claude reads there",
    )


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        (
            "projects",
            ("/data/claude-projects", "/data/claude-projects"),
            f"{CLAUDE_DIR}/projects is a symlink, not a directory: claudebox mounts this "
            "project's own projects there; replace it by a directory "
            f"(e.g. mv {CLAUDE_DIR}/projects {CLAUDE_DIR}/projects.old)",
        ),
        (
            "history.jsonl",
            Kind.DIR,
            f"{CLAUDE_DIR}/history.jsonl is a directory, not a file: claudebox mounts this "
            "project's own history.jsonl there; replace it by a file "
            f"(e.g. mv {CLAUDE_DIR}/history.jsonl {CLAUDE_DIR}/history.jsonl.old)",
        ),
        (
            ".credentials.json",
            (f"{DOTFILES}/credentials.json", f"{DOTFILES}/credentials.json"),
            f"{CLAUDE_DIR}/.credentials.json is a symlink (to {DOTFILES}/credentials.json): "
            "Claude Code replaces that file on every login refresh, so claudebox will not share "
            "it; remove it and log in again (claude, then /login)",
        ),
        (
            ".credentials.json",
            Kind.DIR,
            f"{CLAUDE_DIR}/.credentials.json is a directory: Claude Code replaces that file on "
            "every login refresh, so claudebox will not share it; remove it and log in again "
            "(claude, then /login)",
        ),
    ],
)
def test_refusals(name, kind, message):
    with pytest.raises(cb.ClaudeboxError) as info:
        claude_part({name: kind})
    assert info.value.exit_code == 2
    assert str(info.value) == message


def test_an_empty_claude_home_gets_every_entry_created():
    part = claude_part({})
    store = INSTANCE.claude_store
    assert part.mounts == (
        cb.Mount(cb.MountOp.BIND_FD, CLAUDE_DIR, CLAUDE_DIR),
        cb.Mount(cb.MountOp.BIND_FD, f"{HOME}/.claude.json", f"{store}/.claude.json"),
    )
    assert part.setup[0] == cb.HostSetup(CLAUDE_DIR)
    assert part.setup[-1] == cb.HostSetup(f"{store}/.claude.json", "{}\n")
    assert cb.HostSetup(f"{CLAUDE_DIR}/settings.json", "{}\n") in part.setup
    assert view_of(part, ".credentials.json") == cb.ClaudeView(
        ".credentials.json", cb.Treatment.SHARED
    )
    assert len(part.view) == len(cb.CLAUDE_STATE_TABLE)


def test_a_claude_home_behind_a_symlink_is_bound_from_where_it_is():
    real = f"{DOTFILES}/claude"
    home = fh.claude_home(HOME, {"settings.json": Kind.FILE})._replace(dir=real)
    home = home._replace(entries=(Entry(f"{real}/settings.json", Kind.FILE),))
    part = cb.plan_claude_home(fh.make_host(claude_home=home), INSTANCE, [PROJECT])
    assert part.mounts[0] == cb.Mount(cb.MountOp.BIND_FD, CLAUDE_DIR, real)
    assert part.setup[0] == cb.HostSetup(real)
    assert Pin(f"{real}/settings.json", Kind.FILE, True, reason="read-only") in part.pins
    assert all(cb.is_within(pin.path, real) for pin in part.pins)
