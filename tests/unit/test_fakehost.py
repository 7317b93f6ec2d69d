"""The synthetic host is what the edge reports for the same tree on disk."""

from __future__ import annotations

import os
import shutil
import subprocess

import fakehost as fh
import pytest

import claudebox as cb

GIT = shutil.which("git")
pytestmark = pytest.mark.git


def build(root: str, tree: fh.Tree) -> None:
    for relative, kind in sorted(tree.items()):
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind is cb.Kind.DIR:
            os.makedirs(path, exist_ok=True)
        elif kind is cb.Kind.FILE:
            if not os.path.exists(path):
                open(path, "w").close()
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
    entries = {**fh.CLAUDE_ENTRIES, "CLAUDE.md": (store, store), "agents": ("gone", "")}
    build(f"{home}/.claude", entries)
    with open(f"{home}/.claude.json", "w") as handle:
        handle.write('{"theme": "dark"}')
    assert cb.probe_claude_home(home) == fh.claude_home(home, entries, {"theme": "dark"})
