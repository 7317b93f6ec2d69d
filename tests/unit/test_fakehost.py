"""The synthetic host is what the edge reports for the same tree on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import fakehost as fh
import pytest

import claudebox as cb

GIT = shutil.which("git")
pytestmark = pytest.mark.git
# The others' room among the entries shown: the table's named entries keep theirs.
ROOM = cb.CLAUDE_HOME_SHOWN - len(fh.FROM_HOST_NAMED)


def build(root: str, tree: fh.Tree) -> None:
    for relative, kind in sorted(tree.items()):
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind is cb.Kind.DIR:
            os.makedirs(path, exist_ok=True)
        elif kind is cb.Kind.FILE:
            if not os.path.exists(path):
                open(path, "w").close()
        elif kind is cb.Kind.OTHER:
            os.mkfifo(path)
        else:
            os.symlink(kind[0], path)


def test_project_walks_equal_protected_walks_on_disk(tmp_path):
    top = os.path.realpath(tmp_path / "proj")
    os.mkdir(top)
    subprocess.run([GIT, "init", "-q", top], check=True, env={**os.environ, "HOME": top})
    build(top, fh.PROJECT_TREE)
    probe, _config = cb.git_probe(top, GIT)
    layout = cb.git_layout(top, GIT, probe)
    assert layout == fh.git_layout(top, fh.PROJECT_TREE)._replace(program=GIT)
    assert cb.protected_walks(layout) == fh.project_walks(top, fh.PROJECT_TREE)
    outside = os.path.realpath(tmp_path / "plain")
    os.mkdir(outside)
    build(outside, {".envrc": cb.Kind.FILE})
    plain = cb.GitLayout(outside, outside, "", False)
    assert cb.protected_walks(plain) == fh.project_walks(outside, {".envrc": cb.Kind.FILE})


def test_claude_home_equals_probe_claude_home_on_disk(tmp_path):
    home = os.path.realpath(tmp_path)
    store = f"{home}/store-file"
    open(store, "w").close()
    os.mkdir(f"{home}/store-dir")
    entries = {
        **fh.CLAUDE_ENTRIES,
        "CLAUDE.md": (store, store, cb.Kind.FILE),
        "commands": ("../store-dir", f"{home}/store-dir", cb.Kind.DIR),
        "agents": ("gone", ""),
        "fifo": cb.Kind.OTHER,
        "todos": cb.Kind.DIR,  # the project's own: not reported
        ".oauth_refresh.lock": cb.Kind.DIR,
    }
    build(f"{home}/.claude", entries)
    with open(f"{home}/.claude.json", "w") as handle:
        handle.write('{"theme": "dark"}')
    probed = cb.probe_claude_home(home)
    assert probed == fh.claude_home(home, entries, {"theme": "dark"})
    assert [os.path.basename(e.path) for e in probed.entries] == [
        "CLAUDE.md",
        "agents",
        "commands",
        "fifo",
        "mystery",
        "notes.txt",
        "plugins",
        "settings.json",  # layered: named, its kind and links read as any other's
    ]
    assert probed.left_out == 0


def test_a_flooded_claude_home_is_read_up_to_the_limits(tmp_path):
    home = os.path.realpath(tmp_path)
    entries = {f"x{index:03}": cb.Kind.FILE for index in range(70)}
    named = {"agents": cb.Kind.DIR, "plugins": cb.Kind.DIR, "settings.json": cb.Kind.FILE}
    build(f"{home}/.claude", {**entries, **named, "projects": cb.Kind.DIR})
    probed = cb.probe_claude_home(home)
    assert probed == fh.claude_home(home, {**entries, **named}, {})
    assert len(probed.entries) == ROOM + 3  # agents, plugins, settings.json, the others up to it
    assert [os.path.basename(e.path) for e in probed.entries[:4]] == [
        "agents",
        "plugins",
        "settings.json",
        "x000",
    ]
    assert os.path.basename(probed.entries[-1].path) == f"x{ROOM - 1:03}"
    assert probed.left_out == 70 - ROOM


def test_never_more_than_the_scan_limit_of_names_is_read(tmp_path, monkeypatch):
    home = os.path.realpath(tmp_path)
    os.makedirs(f"{home}/.claude")
    for index in range(cb.CLAUDE_HOME_SCAN_LIMIT + 50):
        open(f"{home}/.claude/f{index:05}", "w").close()
    read = fh.names_read(monkeypatch)
    probed = cb.probe_claude_home(home)
    # the limit's names, and the one more that tells the scan there are more (it stops there)
    assert len(read) <= cb.CLAUDE_HOME_SCAN_LIMIT + 1
    assert len(probed.entries) == ROOM
    assert probed.left_out == cb.CLAUDE_HOME_SCAN_LIMIT - ROOM  # counted up to the scan limit
    assert probed.scan_cut  # and the warning says "at least"
    os.unlink(f"{home}/.claude/f00000")
    for index in range(1, 51):
        os.unlink(f"{home}/.claude/f{index:05}")
    read.clear()
    assert not cb.probe_claude_home(home).scan_cut  # every name read: the count is exact
    assert len(read) == cb.CLAUDE_HOME_SCAN_LIMIT - 1


def test_the_synthetic_layers_are_what_probe_layers_reads_for_a_new_project(tmp_path):
    home = os.path.realpath(tmp_path)
    os.makedirs(f"{home}/.claude")
    with open(f"{home}/.claude/settings.json", "w") as handle:
        handle.write(json.dumps(fh.HOST_SETTINGS))
    instance = cb.instance_for(f"{home}/src/proj", f"{home}/.claudebox")
    probed = cb.probe_layers(cb.probe_claude_home(home), instance)
    assert probed == fh.make_host(home=home).layers
