"""A home-manager home: ~/.claude/settings.json, CLAUDE.md and commands/ are symlinks into
/nix/store (as home.file and programs.claude-code make them). Such a home launches, the entries
read as on the host: CLAUDE.md and commands/ come in read-only as what they lead to (over the
project's own ~/.claude), settings.json as the project's own copy of the host's settings; the
sandbox can neither replace nor remove the host's links or what they lead to."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Box

SETTINGS = {"model": "claude-from-home-manager", "env": {"HM": "1"}}


@pytest.fixture
def hm_store(box: Box) -> Iterator[Path]:
    """A home-manager-files style store path owned by root, like the real one."""
    digest = hashlib.sha256(str(box.root).encode()).hexdigest()[:32]
    store = Path(f"/nix/store/{digest}-home-manager-files")
    (store / ".claude" / "commands").mkdir(parents=True)
    (store / ".claude" / "settings.json").write_text(json.dumps(SETTINGS))
    (store / ".claude" / "CLAUDE.md").write_text("Be brief (from home-manager).\n")
    (store / ".claude" / "commands" / "review.md").write_text("Review the diff.\n")
    for path in [store, *store.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o444)
    try:
        yield store
    finally:
        shutil.rmtree(store)


def home_manager_home(box: Box, store: Path) -> Path:
    claude = box.mkdir(box.home / ".claude")
    for name in ("settings.json", "CLAUDE.md", "commands"):
        (claude / name).symlink_to(store / ".claude" / name)
    box.write(claude / ".credentials.json", '{"claudeAiOauth": {}}\n')
    return claude


def test_a_home_manager_home_launches_and_its_entries_are_read_only(
    box: Box, hm_store: Path
) -> None:
    claude = home_manager_home(box, hm_store)
    before = {
        name: (claude / name).readlink() for name in ("settings.json", "CLAUDE.md", "commands")
    }
    attack = (
        "cd ~/.claude; tr -d '\\n' < settings.json; echo; cat CLAUDE.md; ls commands;"
        " for name in settings.json CLAUDE.md commands; do"
        "   rm -f $name 2>/dev/null && echo REMOVED-$name;"
        "   mv $name $name.old 2>/dev/null && echo MOVED-$name;"
        " done;"
        " echo '{\"hooks\":{}}' > settings.json 2>/dev/null && echo WROTE-settings;"
        " echo planted > commands/evil.md 2>/dev/null && echo WROTE-command;"
        " echo done"
    )
    result = box.probe(attack)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert json.loads(lines[0]) == SETTINGS
    # settings.json is the project's own copy of the host's (layered), the rest is pinned
    assert lines[1:] == [
        "Be brief (from home-manager).",
        "review.md",
        "REMOVED-settings.json",
        "WROTE-settings",
        "done",
    ]
    # The host's home-manager links are exactly as they were, nothing planted behind them.
    after = {name: (claude / name).readlink() for name in before}
    assert after == before
    assert not (hm_store / ".claude" / "commands" / "evil.md").exists()
    details = box.probe("cat ~/.claude/settings.json", options=("--details",))
    assert "symlink into /nix/store" in details.stderr
    # what the session wrote stays this project's own, and says so
    assert json.loads(details.stdout) == {"hooks": {}}
    assert "settings of its own: env, hooks, model" in details.stderr


def test_a_home_manager_home_shows_in_the_plan(box: Box, hm_store: Path) -> None:
    """The plan names each home-manager symlink, and pins what it leads to in the store,
    read-only, at the entry's mount point in the project's own ~/.claude (its instance)."""
    home_manager_home(box, hm_store)
    result = box.run("--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    views = {item["name"]: item for item in plan["claude"]}
    for name in ("CLAUDE.md", "commands"):
        assert views[name]["note"] == "symlink into /nix/store, readable"
    settings = hm_store / ".claude" / "settings.json"
    assert views["settings.json"]["note"] == f"symlink to {settings}, read by claudebox"
    pins = {
        path: (kind, read_only, source) for path, kind, read_only, source in plan["stage"]["pins"]
    }
    own = Path(plan["instance"]["dir"]) / "claude"
    target = hm_store / ".claude"
    assert str(own / "settings.json") not in pins  # the project's own, its settings copied in
    assert pins[str(own / "commands")] == ("directory", True, str(target / "commands"))
    assert not [path for path in pins if Path(path).is_relative_to(box.home / ".claude")]
