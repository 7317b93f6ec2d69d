"""Red team across sessions: what one session leaves behind in the paths claudebox binds (the
project's own ~/.claude in its instance, the protected project paths, the shared caches, Claude's
login) must open nothing to the next session, to another project's session (also a concurrent
one) or to the host.

Classes (issue 12): symlinks at bind points, absolute and relative (claudebox binds nothing
through a symlink it did not make, except into /nix/store, and says so in the audit); state
shared between projects; Claude's credentials. ~/.claude inside is the project's own directory
(~/.claudebox/instances/ID/claude on the host), with the host's entries bound read-only over it:
what a session writes there, a symlink included, lands in the instance and never in the host's
~/.claude; the login inside is a per-session file of placeholders, and the host's credentials
file is out of reach. A planted project never makes the next launch fail with a raw `bwrap:`
message or a traceback: it works with nothing extra visible, or stops with one
`claudebox: error:` line naming the planted path.

Secrets are canaries in the fake home (~/.ssh, ~/.netrc) and in a host /tmp directory the test
owns; each plant is first followed on the host without claudebox (the positive control: the
symlink leads to the secret there, from where the session's write landed on the host).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Box, files_holding, instance_dir, oauth_credentials, wait_for
from rtlib import install_store_python
from sessionlib import (
    WALK_FOR_MARKER,
    another_project,
    brief,
    canary,
    clean_outcome,
    halves,
    host_sh,
    outcome_of,
    symlink_text,
    user_dir,
    warnings_naming,
)

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"


def plant_secrets(box: Box, marker: str) -> None:
    """Canaries: ~/.ssh, ~/.netrc and a directory in the host's /tmp (outside the home)."""
    for directory in (box.home / ".ssh", box.root / "hostsecret" / "dir"):
        box.write(directory / "id_ed25519", f"{marker} key\n")
    box.write(box.home / ".netrc", f"machine x password {marker}\n")


def secret_target(box: Box, which: str) -> tuple[Path, str]:
    """A symlink target and the path below it to a secret file ("" when it is one). The home
    and the host's /tmp exist inside the sandbox (a tmpfs each): a bind redirected there by a
    relative symlink succeeds, and shows the host's directory in their place."""
    tmp_dir = box.root / "hostsecret" / "dir"
    return {
        "~/.ssh": (box.home / ".ssh", "id_ed25519"),
        "~/.ssh/id_ed25519": (box.home / ".ssh" / "id_ed25519", ""),
        "~/.netrc": (box.home / ".netrc", ""),
        "a host /tmp dir": (tmp_dir, "id_ed25519"),
        "a host /tmp file": (tmp_dir / "id_ed25519", ""),
        "the home directory": (box.home, ".ssh/id_ed25519"),
        "the host's /tmp": (Path("/tmp"), f"{box.root.name}/hostsecret/dir/id_ed25519"),
    }[which]


def plant_link(box: Box, link: Path, description: str) -> tuple[str, Path]:
    """Session 1 makes LINK a symlink as DESCRIPTION says ("relative to ~/.ssh", "absolute to
    the host's /tmp", …); the positive control follows it on the host to the secret. Returns
    the link's text and the secret file as reached through the link."""
    kind, _, which = description.partition(" to ")
    target, below = secret_target(box, which)
    text = symlink_text(link, target, relative=kind == "relative")
    planted = box.probe(
        'mkdir -p "$(dirname "$2")" && ln -s "$1" "$2" && echo planted', text, str(link)
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert link_text(link) == text
    through = link / below if below else link
    control = host_sh(box, 'cat "$1"', str(through))
    assert "CANARY-" in control.stdout, control.stderr  # on the host the link leads to the secret
    return text, through


def link_text(link: Path) -> str | None:
    """What the host's symlink says now (None: it is gone or no longer a symlink)."""
    return os.readlink(link) if link.is_symlink() else None


def walk_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The finds of WALK_FOR_MARKER after the `launched` line (it must have completed)."""
    lines = result.stdout.splitlines()
    assert "walk-done" in lines, (result.stdout, brief(result.stderr))
    return lines[1 : lines.index("walk-done")]


def instance_claude(box: Box) -> Path:
    """The project's own ~/.claude on the host (its instance's claude/): where what a session
    writes in ~/.claude lands."""
    return instance_dir(box.home, box.project) / "claude"


def host_tree(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every path below `roots` (and the roots) -> (its mode, its content's digest, its link's
    text or "dir"), without following symlinks."""
    found: dict[str, tuple[int, str]] = {}
    for root in roots:
        paths = [root, *root.rglob("*")] if root.is_dir() and not root.is_symlink() else [root]
        for path in paths:
            if not os.path.lexists(path):
                continue
            mode = path.lstat().st_mode
            if path.is_symlink():
                found[str(path)] = (mode, f"link {os.readlink(path)}")
            elif path.is_dir():
                found[str(path)] = (mode, "dir")
            else:
                found[str(path)] = (mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def plant_claude_link(box: Box, name: str, description: str) -> tuple[str, Path]:
    """Session 1 makes ~/.claude/NAME a symlink as DESCRIPTION says, its text computed from
    where the write lands on the host (the instance's claude/NAME); the positive control follows
    it there, on the host, to the secret. Returns the link's text and the secret as reached
    through ~/.claude/NAME inside."""
    kind, _, which = description.partition(" to ")
    target, below = secret_target(box, which)
    landed = instance_claude(box) / name
    text = symlink_text(landed, target, relative=kind == "relative")
    inside = box.home / ".claude" / name
    planted = box.probe('ln -s "$1" "$2" && echo planted', text, str(inside))
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert link_text(landed) == text  # it landed in the project's instance
    control = host_sh(box, 'cat "$1"', str(landed / below if below else landed))
    assert "CANARY-" in control.stdout, control.stderr  # on the host the link leads to the secret
    return text, inside / below if below else inside


CLAUDE_ENTRY_LINKS = (
    "absolute to ~/.ssh",
    "relative to ~/.ssh",
    "absolute to ~/.netrc",
    "relative to ~/.netrc",
    "absolute to a host /tmp dir",
    "relative to a host /tmp dir",
    "absolute to the home directory",
    "relative to the home directory",
    "absolute to the host's /tmp",
    "relative to the host's /tmp",
)


@pytest.mark.parametrize("link_to", CLAUDE_ENTRY_LINKS)
def test_symlinks_planted_in_the_claude_dir_are_not_followed_by_the_next_session(
    box: Box, link_to: str
) -> None:
    """~/.claude inside is the project's own directory: session 1 adds a top-level entry there
    that is a symlink out of everything claudebox names; it lands in the instance, where on the
    host it leads to the secret (the control). The project's next session and another project's
    session launch and do not see the target; the host's ~/.claude gets no such entry, and the
    link stays as planted (nothing needed to follow or move it)."""
    marker = canary()
    plant_secrets(box, marker)
    host_claude = box.home / ".claude"
    box.write(host_claude / "CLAUDE.md", "be careful\n")
    text, through = plant_claude_link(box, "planted", link_to)
    found: dict[str, object] = {}
    for who, session in (("next", box), ("another project", another_project(box, "projB"))):
        result = session.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), str(through))
        found[who] = (clean_outcome(result, "planted"), walk_lines(result))
    found["host ~/.claude"] = sorted(os.listdir(host_claude))
    found["instance link"] = link_text(instance_claude(box) / "planted")
    assert found == {
        "next": ("launched", []),
        "another project": ("launched", []),
        "host ~/.claude": ["CLAUDE.md"],
        "instance link": text,
    }


# (entry, what session 1 leaves there): the host's entry of that name comes in later.
HOST_ENTRY_PLANTS = (
    ("settings.json", "absolute to ~/.netrc"),
    ("settings.json", "relative to ~/.netrc"),
    ("settings.json", "a directory"),
    ("commands", "absolute to ~/.ssh"),
    ("commands", "relative to a host /tmp dir"),
    ("commands", "a file"),
)


@pytest.mark.parametrize(("name", "plant"), HOST_ENTRY_PLANTS)
def test_a_plant_where_a_host_entry_comes_in_is_moved_aside(
    box: Box, name: str, plant: str
) -> None:
    """While the host has no ~/.claude/NAME, session 1 leaves a symlink to a secret (or an
    entry of the other kind) at that name in the project's ~/.claude. Once the host has its
    own NAME, the next launch moves the plant aside (suffix .claudebox-quarantined, kept, never
    followed) and binds the host's entry there read-only (settings.json: writes the project's
    own copy of the host's there): the session reads the host's, cannot write it, and finds no
    secret; the host's entry is unchanged."""
    marker = canary()
    plant_secrets(box, marker)
    host_claude = box.mkdir(box.home / ".claude")
    landed = instance_claude(box) / name
    if plant.startswith(("absolute", "relative")):
        text, through = plant_claude_link(box, name, plant)
        expected_aside = ("link", text)
    else:
        make = "echo x > ~/.claude/$1"
        if plant == "a directory":
            make = "mkdir ~/.claude/$1 && echo x > ~/.claude/$1/f"
        planted = box.probe(f"{make} && echo planted", name)
        assert planted.stdout == "planted\n", brief(planted.stderr)
        through = box.home / ".claude" / name
        expected_aside = ("dir" if plant == "a directory" else "file", "")
        assert landed.is_dir() == (plant == "a directory") and not landed.is_symlink()
    if name == "settings.json":
        box.write(host_claude / name, '{"theme": "host"}\n')
        read = (
            "tr -d ' \\n' < ~/.claude/settings.json; echo;"
            " echo '{\"hooks\": {}}' > ~/.claude/settings.json"
        )
    else:
        box.write(host_claude / name / "host.md", "host command\n")
        read = "cat ~/.claude/commands/host.md; echo evil > ~/.claude/commands/evil.md"
    before = host_tree(host_claude)
    result = box.probe(
        f"echo launched; {read} 2>/dev/null; echo write=$?; " + WALK_FOR_MARKER,
        *halves(marker),
        str(through),
    )
    outcome = clean_outcome(result, name)
    aside = sorted(landed.parent.glob(f"{name}.claudebox-quarantined*"))

    def kind_of(path: Path) -> tuple[str, str]:
        if path.is_symlink():
            return ("link", os.readlink(path))
        return ("dir" if path.is_dir() else "file", "")

    found = {
        "outcome": outcome,
        "read": result.stdout.splitlines()[1:3],
        "secret read at": walk_lines(result)[2:],
        "moved aside": [kind_of(path) for path in aside],
        "mount point": kind_of(landed)[0],
        "host entry unchanged": host_tree(host_claude) == before,
    }
    assert found == {
        "outcome": "launched",
        # settings.json: the project's own copy of the host's (it takes the write, the host's
        # stays as it was); commands/: the host's, read-only
        "read": ['{"theme":"host"}', "write=0"]
        if name == "settings.json"
        else ["host command", "write=1"],
        "secret read at": [],
        "moved aside": [expected_aside],
        "mount point": "file" if name == "settings.json" else "dir",
        "host entry unchanged": True,
    }, brief(result.stderr)


FILE_PATHS = (".envrc", ".mcp.json", ".claude/settings.json")
DIR_PATHS = (".vscode", ".idea", ".claude", ".claude/commands")
FILE_LINKS = (
    "absolute to a host /tmp file",
    "relative to ~/.ssh/id_ed25519",
    "relative to ~/.netrc",
    "inside the project",
)
DIR_LINKS = (
    "absolute to a host /tmp dir",
    "relative to ~/.ssh",
    "relative to the home directory",
    "relative to the host's /tmp",
    "inside the project",
)
PROTECTED_LINKS = [(path, link) for path in FILE_PATHS for link in FILE_LINKS] + [
    (path, link) for path in DIR_PATHS for link in DIR_LINKS
]


@pytest.mark.parametrize(("path", "link_to"), PROTECTED_LINKS)
def test_symlinks_planted_at_absent_protected_project_paths(
    box: Box, path: str, link_to: str
) -> None:
    """Protected project paths absent at launch are not bound; session 1 makes one a symlink.
    Session 2 binds it read-only, which followed the symlink. Leading inside the project (a
    target the sandbox can write), session 2 must refuse naming it; leading outside, it may
    launch, but the target stays invisible and the symlink cannot be removed or renamed."""
    marker = canary()
    plant_secrets(box, marker)
    link = box.project / path
    if link_to == "inside the project":
        real = box.project / "notes" / ("real-dir" if path in DIR_PATHS else "real-file")
        box.write(box.project / "notes" / "real-file", "notes\n")
        box.mkdir(box.project / "notes" / "real-dir")
        text = os.path.relpath(real, link.parent)
        planted = box.probe(
            'mkdir -p "$(dirname "$2")" && ln -s "$1" "$2" && echo planted', text, path
        )
        assert planted.stdout == "planted\n", brief(planted.stderr)
        through = link
    else:
        text, through = plant_link(box, link, link_to)
    attack = (
        "echo launched; "
        + WALK_FOR_MARKER
        + 'mv "$2" "$2.moved" 2>/dev/null; echo mv=$?; rm "$2" 2>/dev/null; echo rm=$?'
    )
    result = box.probe(attack, *halves(marker), str(through), path)
    outcome = clean_outcome(result, path)
    found: dict[str, object] = {"outcome": outcome, "host link": link_text(link)}
    if outcome == "launched":
        found["secret read at"] = walk_lines(result)
        found["removed or renamed"] = [
            line for line in result.stdout.splitlines() if line in ("mv=0", "rm=0")
        ]
    if link_to == "inside the project":
        assert found == {"outcome": "refused", "host link": text}, brief(result.stderr)
    else:
        assert found in (
            {"outcome": "refused", "host link": text},
            {
                "outcome": "launched",
                "host link": text,
                "secret read at": [],
                "removed or renamed": [],
            },
        ), (found, brief(result.stderr))


@pytest.fixture
def home_manager_store() -> Iterator[Path]:
    """A store path as home-manager makes one: real files, world-readable, owned by root."""
    if os.geteuid() != 0:
        pytest.fail("the home-manager store path is created by running the tests as root")
    hash_part = "".join(secrets.choice(NIX_BASE32) for _ in range(32))
    store = Path("/nix/store") / f"{hash_part}-hm-test"
    try:
        (store / "commands").mkdir(parents=True)
        (store / "settings.json").write_text('{"theme": "hm"}\n')
        (store / "CLAUDE.md").write_text("home-manager instructions\n")
        (store / "commands" / "hm.md").write_text("home-manager command\n")
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(store)], check=True)
        yield store
    finally:
        shutil.rmtree(store, ignore_errors=True)


def test_a_home_manager_claude_dir_works_and_its_symlinks_stay(
    box: Box, home_manager_store: Path
) -> None:
    """home-manager makes ~/.claude/settings.json, CLAUDE.md, commands/ symlinks into
    /nix/store: such a home launches, the entries read as on the host: CLAUDE.md and commands/
    come in read-only as what they lead to (over the project's own ~/.claude) and cannot be
    removed, renamed, replaced or written; settings.json is the project's own copy of the
    host's (it takes the writes). The host's symlinks and the store stay as they were."""
    claude = box.mkdir(box.home / ".claude")
    links = {name: home_manager_store / name for name in ("settings.json", "CLAUDE.md", "commands")}
    for name, target in links.items():
        (claude / name).symlink_to(target)
        os.lchown(claude / name, box.user.pw_uid, box.user.pw_gid)
    result = box.probe(
        "echo launched; tr -d ' \\n' < ~/.claude/settings.json; echo; "
        "cat ~/.claude/CLAUDE.md ~/.claude/commands/hm.md; "
        "rm ~/.claude/settings.json 2>/dev/null; echo rm=$?; "
        "mv ~/.claude/CLAUDE.md ~/.claude/CLAUDE.old 2>/dev/null; echo mv=$?; "
        "ln -sfn /tmp ~/.claude/commands 2>/dev/null; echo relink=$?; "
        "rm -rf ~/.claude/commands 2>/dev/null; echo rm-dir=$?; "
        "echo '{\"hooks\": {}}' > ~/.claude/settings.json 2>/dev/null; echo overwrite=$?"
    )
    assert clean_outcome(result, "settings.json") == "launched"
    assert result.stdout.splitlines() == [
        "launched",
        '{"theme":"hm"}',
        "home-manager instructions",
        "home-manager command",
        "rm=0",
        "mv=1",
        "relink=1",
        "rm-dir=1",
        "overwrite=0",
    ], brief(result.stderr)
    assert {name: os.readlink(claude / name) for name in links} == {
        name: str(target) for name, target in links.items()
    }
    assert (home_manager_store / "settings.json").read_text() == '{"theme": "hm"}\n'


def host_sees(
    path: Path, marker: str, other: Callable[[str | None], str], until: set[str]
) -> set[str]:
    """The control of a race, from the host while the racer runs: the states reading PATH
    finds ("the secret": MARKER in what it read; else what OTHER names it, given what was read
    or None when nothing could be), until every state in UNTIL has been seen (at most 100,000
    reads). The caller asserts they were: a link that leads nowhere never shows the secret."""
    saw: set[str] = set()
    for _ in range(100000):
        try:
            text: str | None = path.read_text()
        except (FileNotFoundError, NotADirectoryError):
            text = None
        saw.add("the secret" if text is not None and marker in text else other(text))
        if until <= saw:
            break
    return saw


RACE = r"""
touch ready; i=0
while [ ! -e stop ] && [ $i -lt 200000 ]; do
    ln -sfn {secret} {entry}.tmp && mv -f {entry}.tmp {entry}
    echo plain > {entry}.tmp && mv -f {entry}.tmp {entry}
    i=$((i + 1))
done
"""


@pytest.mark.parametrize(
    "where",
    [".envrc", "~/.claude/settings.json", "~/.claude/settings.json, an absolute symlink"],
)
def test_a_concurrent_session_swapping_an_entry_between_file_and_symlink(
    box: Box, where: str
) -> None:
    """Between claudebox's look at a path and bwrap's mount of it, a concurrent session of the
    same project swaps the path between a plain file and a symlink to ~/.netrc (relative from
    where the swap lands on the host, or absolute; renames are atomic, so the name always
    exists): the project's .envrc, or its own ~/.claude/settings.json (in the instance; the
    racer started while the host had none) where the host's settings.json now comes in. No
    launch meanwhile may read the secret or fail with a raw bwrap message: the check and the
    mount must see the same object."""
    marker = canary()
    plant_secrets(box, marker)
    host_claude = box.mkdir(box.home / ".claude")
    if where == ".envrc":
        entry = landed = box.project / ".envrc"
    else:
        entry = box.home / ".claude" / "settings.json"
        landed = instance_claude(box) / "settings.json"
    secret = os.path.relpath(box.home / ".netrc", landed.parent)
    if where.endswith("an absolute symlink"):
        secret = str(box.home / ".netrc")
    snippet = RACE.format(secret=shlex.quote(secret), entry=shlex.quote(str(entry)))
    launches: list[object] = []
    with box.running(snippet) as process:
        try:
            # the control: on the host, where the swaps land, the link leads to the secret
            wanted = {"the secret", "plain\n"}
            host_saw = host_sees(landed, marker, lambda text: text or "nothing", wanted)
            if where != ".envrc":  # the host's settings.json comes in from now on
                box.write(host_claude / "settings.json", '{"theme": "host"}\n')
            for _ in range(8):
                result = box.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), str(entry))
                outcome = outcome_of(result, entry.name)
                launches.append(walk_lines(result) if outcome == "launched" else outcome)
            still_racing = process.poll() is None
        finally:
            (box.project / "stop").touch()
            process.wait(timeout=60)
    assert wanted <= host_saw, host_saw
    assert still_racing
    assert all(item in ([], "refused") for item in launches), launches


def plant_caches(marker_text: str) -> str:
    """A snippet writing a nix fetcher-cache and eval-cache entry and comma state."""
    return (
        "mkdir -p ~/.cache/nix/eval-cache-v5 ~/.local/state/comma && "
        f"echo {marker_text} > ~/.cache/nix/fetcher-cache-v1.sqlite && "
        f"echo {marker_text} > ~/.cache/nix/eval-cache-v5/planted.sqlite && "
        f"echo {marker_text} > ~/.local/state/comma/choices && echo planted"
    )


SEE_CACHES = 'grep -rl -- "$1$2" ~/.cache ~/.local 2>/dev/null; echo done'


def test_caches_one_project_writes_are_not_seen_by_another(box: Box) -> None:
    """~/.cache/nix (fetcher and eval caches) and ~/.local/state (comma) persist on the host:
    project A's entries must stay A's."""
    marker = canary()
    planted = box.probe(plant_caches('"$1$2"'), *halves(marker))
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert len(files_holding(box.home / ".claudebox", marker)) == 3  # persisted on the host
    again = box.probe(SEE_CACHES, *halves(marker))
    assert len(again.stdout.splitlines()) == 4, again.stdout  # A's own later session: kept
    other = another_project(box, "projB")
    result = other.probe(SEE_CACHES, *halves(marker))
    assert result.stdout == "done\n", brief(result.stderr)


def test_a_concurrent_session_of_another_project_finds_nothing_of_a_running_one(
    box: Box,
) -> None:
    """Project A's session is running and has planted cache entries and ~/.claude symlinks
    (relative from where they land, A's instance: to ~/.netrc and to the home directory, which
    they reach on the host); project B launches meanwhile."""
    marker = canary()
    plant_secrets(box, marker)
    box.mkdir(box.home / ".claude")
    landed = instance_claude(box)
    netrc, home = (os.path.relpath(target, landed) for target in (box.home / ".netrc", box.home))
    plant = (
        plant_caches(marker)
        + f" && ln -s {netrc} ~/.claude/from-a && ln -s {home} ~/.claude/from-a-home && touch ready"
        + "; i=0; while [ ! -e stop ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done"
    )
    other = another_project(box, "projB")
    with box.running(plant) as session_a:
        control = host_sh(
            box,
            'cat "$1" "$2"',
            str(landed / "from-a"),
            str(landed / "from-a-home" / ".ssh" / "id_ed25519"),
        )
        assert control.stdout.count(marker) == 2, control  # on the host, the links lead there
        try:
            result = other.probe(
                "echo launched; " + WALK_FOR_MARKER,
                *halves(marker),
                str(box.home / ".claude" / "from-a"),
                str(box.home / ".claude" / "from-a-home" / ".ssh"),
                str(box.home / ".cache"),
                str(box.home / ".local" / "state"),
            )
            still_running = session_a.poll() is None
        finally:
            (box.project / "stop").touch()
            session_a.wait(timeout=60)
    assert still_running
    assert clean_outcome(result, "from-a") == "launched"
    assert walk_lines(result) == [], brief(result.stderr)


# What a session creates in ~/.claude: a directory, files, a symlink, and .config.json (Claude
# Code reads it before ~/.claude.json: in the host's ~/.claude, the host's claude would run the
# MCP server it names).
NEW_CLAUDE_ENTRIES = ("newdir", "newfile.json", "newlink", ".config.json")


def test_new_claude_entries_stay_in_the_project_s_own_claude_dir(box: Box) -> None:
    """Whatever a session creates in ~/.claude lands in the project's instance, an MCP server in
    .config.json included: the host's ~/.claude and ~/.claude.json are unchanged (every path,
    mode and byte), the project's next session finds the entries, another project's session
    does not. Nothing is reported after the session: the host's ~/.claude was never writable."""
    host_claude = box.home / ".claude"
    box.write(host_claude / "settings.json", '{"theme": "dark"}\n')
    box.write(host_claude / "CLAUDE.md", "be careful\n")
    box.write(host_claude / "agents" / "helper.md", "helper\n")
    box.write(box.home / ".claude.json", json.dumps({"theme": "dark"}))
    before = host_tree(host_claude, box.home / ".claude.json")
    server = {"mcpServers": {"evil": {"command": "/tmp/evil", "args": []}}}
    result = box.probe(
        "mkdir ~/.claude/newdir && echo x > ~/.claude/newdir/f && "
        "echo '{}' > ~/.claude/newfile.json && ln -s /tmp ~/.claude/newlink && "
        'echo "$1" > ~/.claude/.config.json && '
        "mkdir ~/.claude/.oauth_refresh.lock && rmdir ~/.claude/.oauth_refresh.lock && "
        "echo created",
        json.dumps(server),
    )
    assert result.stdout == "created\n", brief(result.stderr)
    own = instance_claude(box)
    listing = "ls -A ~/.claude"
    found = {
        "host's ~/.claude and ~/.claude.json unchanged": (
            host_tree(host_claude, box.home / ".claude.json") == before
        ),
        "in the instance": sorted(n for n in NEW_CLAUDE_ENTRIES if os.path.lexists(own / n)),
        "reported": [line for line in result.stderr.splitlines() if "warning" in line],
        "next session sees": sorted(set(box.probe(listing).stdout.split()) & {*NEW_CLAUDE_ENTRIES}),
        "another project sees": sorted(
            set(another_project(box, "projB").probe(listing).stdout.split()) & {*NEW_CLAUDE_ENTRIES}
        ),
    }
    assert found == {
        "host's ~/.claude and ~/.claude.json unchanged": True,
        "in the instance": sorted(NEW_CLAUDE_ENTRIES),
        "reported": [],
        "next session sees": sorted(NEW_CLAUDE_ENTRIES),
        "another project sees": [],
    }, brief(result.stderr)
    assert json.loads((own / ".config.json").read_text()) == server


def host_login(box: Box) -> tuple[Path, str]:
    """The host's ~/.claude/.credentials.json as Claude Code writes it after a login (tokens
    holding a canary, an expiry far off: no session refreshes it); returns it and the canary."""
    token = canary()
    login = oauth_credentials(f"sk-ant-oat01-{token}-access", f"sk-ant-ort01-{token}-refresh")
    return box.write(box.home / ".claude" / ".credentials.json", login), token


def file_state(path: Path) -> tuple[bool, int, bytes]:
    """(a regular file, not a symlink; its mode; its bytes)."""
    status = path.lstat()
    return stat.S_ISREG(status.st_mode), stat.S_IMODE(status.st_mode), path.read_bytes()


# Prints the access token in ~/.claude/.credentials.json (Claude's file: one key a line).
ACCESS_TOKEN = 'sed -n \'s/.*"accessToken": *"\\([^"]*\\)".*/\\1/p\' ~/.claude/.credentials.json'

# The next session's look at its login: the credentials file's mode and access token, whether
# its environment holds the host's token ($1$2), then every file (WALK_FOR_MARKER).
SEE_LOGIN = (
    "echo launched; stat -c %a ~/.claude/.credentials.json; "
    + ACCESS_TOKEN
    + '; env | grep -c -- "$1$2"; '
    + WALK_FOR_MARKER
)


def next_session_login(box: Box, token: str) -> dict[str, object]:
    result = box.probe(SEE_LOGIN, *halves(token))
    outcome = clean_outcome(result, ".credentials.json")
    lines = result.stdout.splitlines()
    assert "walk-done" in lines, (result.stdout, brief(result.stderr))
    _launched, mode, access, in_env, *finds = lines[: lines.index("walk-done")]
    return {
        "outcome": outcome,
        "mode": mode,
        "placeholder": access.startswith("sk-ant-oat01-claudebox-"),
        "access": access,
        "token in env": in_env,
        "token found at": finds,
    }


def assert_fresh_login(seen: dict[str, object], before: str) -> None:
    """The next session launched with a login of fresh placeholders (not `before`, the access
    token the earlier session had) and nothing of the host's token anywhere inside."""
    assert seen.pop("access") != before, seen
    assert seen == {
        "outcome": "launched",
        "mode": "600",
        "placeholder": True,
        "token in env": "0",
        "token found at": [],
    }


def test_a_session_refreshing_credentials_by_lock_and_rename_leaves_the_host_s_alone(
    box: Box,
) -> None:
    """What Claude Code's OAuth refresh does (a lock directory, a temp file renamed over the
    credentials, a copy into place when the rename fails), with other tokens: it works inside
    (the session reads what it wrote), and the host's credentials file keeps every byte and its
    mode; nothing is reported; the next session launches with fresh placeholders and the host's
    token is nowhere inside."""
    path, token = host_login(box)
    before = file_state(path)
    new = '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-attacker"}}'
    result = box.probe(
        f"{ACCESS_TOKEN}; umask 077; c=~/.claude/.credentials.json; "
        "mkdir ~/.claude/.oauth_refresh.lock && echo locked; "
        f"echo '{new}' > $c.tmp.1 && {{ mv $c.tmp.1 $c 2>/dev/null || cat $c.tmp.1 > $c; }}; "
        "cat $c; rmdir ~/.claude/.oauth_refresh.lock && echo unlocked"
    )
    assert result.returncode == 0, brief(result.stderr)
    access, *rest = result.stdout.splitlines()
    assert access.startswith("sk-ant-oat01-claudebox-") and token not in result.stdout
    assert rest == ["locked", new, "unlocked"], brief(result.stderr)
    assert file_state(path) == before
    assert warnings_naming(result.stderr, ".credentials.json") == []
    assert_fresh_login(next_session_login(box, token), access)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_credentials_replaced_by_a_symlink_inside_leave_the_host_s_alone(
    box: Box, relative: bool
) -> None:
    """Session 1 replaces the credentials by a symlink to a file it controls (another account's
    tokens): by `ln -sf` and by renaming a symlink over them. Run on the host (the control, in
    a copy of the home), that makes the host's own Claude use the attacker's tokens. In the
    sandbox the host's credentials file keeps every byte and its mode, and the next session
    launches with fresh placeholders."""
    path, token = host_login(box)
    before = file_state(path)
    target = '"$PWD/tokens.json"' if not relative else '"../${PWD##*/}/tokens.json"'
    attack = (
        f"{ACCESS_TOKEN}; "
        'echo \'{"claudeAiOauth": {"accessToken": "attacker"}}\' > tokens.json; '
        f"ln -sf {target} ~/.claude/.credentials.json; echo ln=$?; "
        f"ln -s {target} ~/.claude/.swap && mv -f ~/.claude/.swap ~/.claude/.credentials.json; "
        "echo mv=$?"
    )
    copy = user_dir(box, box.root / "control-home")
    user_dir(box, copy / ".claude")
    box.write(copy / ".claude" / ".credentials.json", path.read_text())
    project = user_dir(box, copy / box.project.name)
    control = host_sh(
        box, f'HOME="$1"; {attack}; cat ~/.claude/.credentials.json', str(copy), cwd=project
    )
    assert "attacker" in control.stdout.splitlines()[-1], control  # the host's Claude would use it
    result = box.probe(attack)
    assert result.returncode == 0, brief(result.stderr)
    access = result.stdout.splitlines()[0]
    assert access.startswith("sk-ant-oat01-claudebox-"), result.stdout
    assert file_state(path) == before, result.stdout
    assert_fresh_login(next_session_login(box, token), access)


@pytest.mark.parametrize("mode", ["640", "604", "644"])
def test_credentials_made_readable_by_others_inside_leave_the_host_s_alone(
    box: Box, mode: str
) -> None:
    """A chmod of the credentials inside takes effect there (the control), and nowhere else:
    the host's file keeps its mode 600 and its bytes; the next session's file is 600 again."""
    path, token = host_login(box)
    before = file_state(path)
    result = box.probe(
        f"{ACCESS_TOKEN}; chmod {mode} ~/.claude/.credentials.json && "
        "stat -c %a ~/.claude/.credentials.json"
    )
    assert result.returncode == 0, brief(result.stderr)
    access, seen_mode = result.stdout.splitlines()
    assert seen_mode == mode
    assert file_state(path) == before and before[1] == 0o600
    assert_fresh_login(next_session_login(box, token), access)


def test_control_a_launch_that_finds_the_secret_is_reported_as_such(box: Box) -> None:
    """The walk is able to find a secret that is really there (a copy in the project)."""
    marker = canary()
    user_dir(box, box.project / "copy")
    box.write(box.project / "copy" / "key", f"{marker}\n")
    result = box.probe("echo launched; " + WALK_FOR_MARKER, *halves(marker), "copy")
    assert walk_lines(result) == [str(box.project / "copy" / "key"), "via copy"]


def test_control_the_racer_really_swaps(box: Box) -> None:
    """The swapping loop of the race test, run on the host: both states are observed."""
    target = box.write(box.home / ".netrc", "x\n")
    entry = box.project / "racer"
    snippet = RACE.format(secret=shlex.quote(str(target)), entry=shlex.quote(str(entry)))
    process = subprocess.Popen(
        box.as_user(["/bin/sh", "-c", snippet]),
        cwd=box.project,
        env=box.env(),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(box.project / "ready", process=None)
        seen = set()
        for _ in range(100000):
            seen.add("link" if entry.is_symlink() else "file" if entry.exists() else "none")
            if {"link", "file"} <= seen:
                break
        assert {"link", "file"} <= seen, seen
    finally:
        (box.project / "stop").touch()
        process.wait(timeout=30)


# argv: A B. Exchanges the names A and B (renameat2 RENAME_EXCHANGE: both names always exist)
# as fast as it can, from `ready` until `stop` appears (at most 120 s).
EXCHANGER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b = (ctypes.c_char_p(os.fsencode(name)) for name in sys.argv[1:3])
open("ready", "w").close()
deadline = time.monotonic() + 120
while not os.path.exists("stop") and time.monotonic() < deadline:
    for _ in range(100):
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
"""

NESTED_LAUNCHES = 16

# The nested session: its project as it sees it, the secret's finds, and a write into it.
IN_NESTED = (
    'echo launched; echo "$(cat README 2>&1) at $PWD"; touch nested-was-here; ' + WALK_FOR_MARKER
)


# A launch's record: how it failed ("refused": one `claudebox: error:` line), or what it saw as
# its project and where it found the secret.
Launch = str | tuple[str, list[str]]


def ran_with_the_real_project(launch: Launch) -> bool:
    if isinstance(launch, str):
        return launch == "refused"
    seen, finds = launch
    return seen.startswith("nested project at ") and not finds


def test_a_concurrent_session_swapping_a_nested_project_with_a_symlink_to_ssh(
    box: Box,
) -> None:
    """Project ~/proj/app lies inside project ~/proj, whose running session (the racer, in its
    sandbox) exchanges the directory `app` with a symlink `alt` -> ../.ssh as fast as it can.
    A path checked (realpath, refusals) and then bound by bwrap by name would bind ~/.ssh
    read-write at the project path whenever an exchange lands in between. Meanwhile `app` is
    launched NESTED_LAUNCHES times (the current directory held by descriptor: whichever name
    the directory has). Each launch runs with the real nested project (the secret neither read
    nor written) or stops with one `claudebox: error:` line (not an internal error); never a raw
    bwrap message. (With bwrap given the paths instead of descriptors, 5 to 11 of 16 launches
    read and wrote ~/.ssh, half of them over 8 runs.)"""
    python = str(install_store_python())
    marker = canary()
    plant_secrets(box, marker)
    app = user_dir(box, box.project / "app", 0o755)
    box.write(app / "README", "nested project\n", mode=0o644)
    ssh = box.home / ".ssh"
    racer = f"ln -s ../.ssh alt && exec {python} -c {shlex.quote(EXCHANGER)} app alt"
    directory = os.open(app, os.O_PATH | os.O_DIRECTORY)
    launches: list[Launch] = []
    host_saw: set[str] = set()
    try:
        with box.running(racer) as process:
            try:
                host_saw = host_sees(  # the control: both states, seen from the host
                    app / "id_ed25519",
                    marker,
                    lambda text: text or ("the project" if app.is_dir() else "?"),
                    {"the secret", "the project"},
                )
                for _ in range(NESTED_LAUNCHES):
                    result = box.probe(
                        IN_NESTED, *halves(marker), cwd=Path(f"/proc/{os.getpid()}/fd/{directory}")
                    )
                    outcome = outcome_of(result, str(box.home))
                    if outcome == "launched":
                        seen, *finds = walk_lines(result)
                        launches.append((seen, finds))
                    elif "claudebox: error: internal error" in result.stderr:
                        launches.append(brief(result.stderr))
                    else:
                        launches.append(outcome)
                still_racing = process.poll() is None
            finally:
                (box.project / "stop").touch()
                process.wait(timeout=60)
    finally:
        os.close(directory)
    assert {"the secret", "the project"} <= host_saw, host_saw
    assert still_racing
    found = {
        "launches": [item for item in launches if not ran_with_the_real_project(item)],
        "~/.ssh holds": sorted(path.name for path in ssh.iterdir()),
    }
    assert found == {"launches": [], "~/.ssh holds": ["id_ed25519"]}, (found, launches)


def test_a_symlink_a_session_leaves_as_its_nix_cache_is_moved_aside(box: Box) -> None:
    """Session 1 replaces ~/.cache/nix (a directory claudebox makes in the project's kept
    ~/.cache) with a symlink to the host's ~/.ssh. The next launch moves the link aside in the
    instance (kept, never followed), starts, and ~/.cache/nix is an empty directory again: no
    key inside. (Links planted from the host in place of the persisted directories themselves:
    rt/test_rt_peers.py.)"""
    plant_secrets(box, canary())
    kept = instance_dir(box.home, box.project) / "cache" / "nix"
    planted = box.probe(
        'rm -rf ~/.cache/nix && ln -s "$1" ~/.cache/nix && echo planted', str(box.home / ".ssh")
    )
    assert planted.stdout == "planted\n", brief(planted.stderr)
    assert kept.is_symlink()
    result = box.probe(
        "ls -A ~/.cache/nix && cat ~/.cache/nix/id_ed25519 2>/dev/null; echo launched"
    )
    assert result.returncode == 0, brief(result.stderr)
    assert result.stdout == "launched\n"
    assert kept.is_dir() and not kept.is_symlink()
    aside = sorted(kept.parent.glob("nix.claudebox-quarantined*"))
    assert [os.readlink(path) for path in aside] == [str(box.home / ".ssh")]
