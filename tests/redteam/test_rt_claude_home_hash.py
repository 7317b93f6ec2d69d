"""Red team, the host's Claude home as a whole: a tree hash of ~/.claude and ~/.claude.json
(every entry's path, type, mode, owner, size, mtime, ctime, link text and content digest, and
the names next to them in the home) is the same before and after a session that writes
everywhere it can reach, and after another project's session doing the same.

The home is a realistic one: settings with hooks and a status line, instructions, agents,
commands, skills, plugins with a marketplace, an executable hook, output styles, rules, an
entry claudebox does not know, an OAuth login, a transcript, the prompt history, a
home-manager symlink into /nix/store, and a ~/.claude.json with an MCP server holding a secret.
The positive control runs the same script as the same user without claudebox, against a copy
of that home: there it changes every entry of the hash, so a hash that stays the same is the
sandbox's doing, not a script that reaches nothing. ctime is in the hash so that a chmod
reverted afterwards, or a file renamed aside and back, still shows. The hash's input is
compared whole, entry by entry (the same input, the same hash), so a failure names each path
and what changed about it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

from harness import Box
from rtlib import on_host
from sessionlib import another_project, brief
from test_home_manager import hm_store
from test_instances import oauth_login
from test_rt_sessions import instance_claude

__all__ = ["hm_store"]

# What the session writes into every .config.json and ~/.claude.json it can.
EVIL_CONFIG = '{"mcpServers": {"evil": {"command": "/tmp/evil"}}}'

# Tries every write it can think of on every entry of ~/.claude it sees (the host's and the
# project's own; each printed first as `seen: RELATIVE-PATH`), spelled three ways (as is,
# through /proc/self/root, through ~/.claude/..), then on ~/.claude itself, ~/.claude.json and
# new names next to them in the home. Each try that succeeds prints `wrote: ...`; the last
# line is `writes: SUCCEEDED of TRIED`.
WRITE_EVERYWHERE = r"""
set -f
IFS='
'
c=$HOME/.claude
config=$1
wrote=0
tried=0
attempt() {
    tried=$((tried + 1))
    if (eval "$1") 2>/dev/null; then
        wrote=$((wrote + 1))
        echo "wrote: $1 [$p]"
    fi
}
spellings() {
    printf '%s\n' "$c/$1" "/proc/self/root$c/$1" "$c/../.claude/$1"
}
entries=$(find "$c" -mindepth 1 -depth 2>/dev/null | sed "s|^$c/||")
printf 'seen: %s\n' $entries
for rel in $entries; do
    for p in $(spellings "$rel"); do
        attempt 'echo evil >> "$p"'
        attempt 'echo evil > "$p"'
        attempt 'truncate -s 0 "$p"'
        attempt 'chmod 777 "$p"'
        attempt 'touch "$p"'
        attempt 'touch -h -d "2001-01-01 00:00:00" "$p"'
        attempt 'mv "$p" "$p.aside" && mv "$p.aside" "$p"'
        attempt 'ln -s /etc/passwd "$p.link"'
        if [ -d "$p" ] && [ ! -L "$p" ]; then
            attempt 'echo evil > "$p/new-file"'
            attempt 'mkdir "$p/new-dir"'
            attempt 'ln -s /etc/passwd "$p/new-link"'
            attempt 'printf %s "$config" > "$p/.config.json"'
        fi
    done
done
for rel in $entries; do
    for p in $(spellings "$rel"); do
        attempt '{ [ -e "$p" ] || [ -L "$p" ]; } && rm -rf "$p"'
    done
done
attempt 'rm -rf "$c"'
for p in "$c" "/proc/self/root$c" "$c/../.claude"; do
    attempt 'chmod 777 "$p"'
    attempt 'touch "$p"'
    attempt 'mv "$p" "$p-aside" && mv "$p-aside" "$p"'
    attempt 'printf %s "$config" > "$p/.config.json"'
    attempt 'echo evil > "$p/new-file"'
    attempt 'mkdir "$p/new-dir"'
    attempt 'ln -s /etc/passwd "$p/new-link"'
done
j=$HOME/.claude.json
for p in "$j" "/proc/self/root$j" "$c/../.claude.json"; do
    attempt 'echo evil >> "$p"'
    attempt 'printf %s "$config" > "$p"'
    attempt 'truncate -s 0 "$p"'
    attempt 'chmod 777 "$p"'
    attempt 'touch "$p"'
    attempt 'printf %s "$config" > "$p.tmp" && mv "$p.tmp" "$p"'
    attempt 'mv "$p" "$p.aside" && mv "$p.aside" "$p"'
    attempt 'rm -f "$p" && ln -s /etc/passwd "$p"'
done
for name in .claude-evil .claude.json.backup .claude.lock .config.json; do
    p=$HOME/$name
    attempt 'printf %s "$config" > "$p"'
done
p=$HOME/.claude-dir
attempt 'mkdir "$p"'
p=$HOME/.claude-link
attempt 'ln -s /etc/passwd "$p"'
echo "writes: $wrote of $tried"
"""


def entry_record(path: Path) -> tuple[object, ...]:
    """What a change to PATH itself shows in, without following a symlink: type, mode,
    owner, size, mtime, ctime, and the link's text or the content's digest."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        content = f"link {os.readlink(path)}"
    elif stat.S_ISREG(info.st_mode):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        content = ""
    return (
        stat.S_IFMT(info.st_mode),
        stat.S_IMODE(info.st_mode),
        info.st_uid,
        info.st_gid,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
        content,
    )


def claude_home_tree(home: Path) -> dict[str, object]:
    """The tree hash's input: ~/.claude (itself and every entry below, walked without
    following symlinks) and ~/.claude.json by their path relative to HOME, and the names in
    HOME but claudebox's own ~/.claudebox (a new ~/.claude-x or ~/.config.json shows)."""
    tree: dict[str, object] = {
        "home entries": sorted(name for name in os.listdir(home) if name != ".claudebox")
    }
    claude = home / ".claude"
    paths = [claude, home / ".claude.json"]
    for directory, names, files in os.walk(claude):  # never follows symlinks
        paths += [Path(directory, name) for name in [*names, *files]]
    for path in paths:
        if os.path.lexists(path):
            tree[str(path.relative_to(home))] = entry_record(path)
    return tree


def differences(before: dict[str, object], after: dict[str, object]) -> dict[str, object]:
    """Each key whose record changed, appeared or went: (before, after)."""
    return {
        key: (before.get(key, "absent"), after.get(key, "absent"))
        for key in sorted({*before, *after})
        if before.get(key) != after.get(key)
    }


def realistic_claude_home(box: Box, store: Path) -> None:
    """A host's ~/.claude and ~/.claude.json as months of Claude Code and home-manager leave
    them."""
    claude = box.home / ".claude"
    settings = {
        "hooks": {
            "PreToolUse": [
                {
                    "matcher": "Bash",
                    "hooks": [{"type": "command", "command": "~/.claude/hooks/h.sh"}],
                }
            ]
        },
        "statusLine": {"type": "command", "command": "echo status"},
        "model": "opus",
    }
    box.write(claude / "settings.json", json.dumps(settings, indent=2))
    box.write(claude / "CLAUDE.md", "Be careful.\n")
    box.write(claude / "agents" / "a.md", "---\nname: a\n---\nAn agent.\n")
    box.write(claude / "commands" / "c.md", "A command.\n")
    (claude / "commands" / "review.md").symlink_to(store / ".claude" / "commands" / "review.md")
    os.lchown(claude / "commands" / "review.md", box.user.pw_uid, box.user.pw_gid)
    box.write(claude / "skills" / "s" / "SKILL.md", "---\nname: s\n---\nA skill.\n")
    box.write(claude / "plugins" / "installed_plugins.json", '{"version": 2, "plugins": {}}\n')
    box.write(claude / "plugins" / "marketplaces" / "m" / "marketplace.json", '{"name": "m"}\n')
    box.write(claude / "hooks" / "h.sh", "#!/bin/sh\nexit 0\n", mode=0o755)
    box.write(claude / "output-styles" / "o.md", "An output style.\n")
    box.write(claude / "rules" / "r.md", "A rule.\n")
    box.write(claude / "future" / "x.json", '{"unknown": true}\n')
    box.write(claude / ".credentials.json", oauth_login("host-token", "max"))
    box.write(claude / "projects" / "-home-proj" / "session.jsonl", '{"type": "user"}\n')
    box.write(claude / "history.jsonl", '{"display": "a prompt"}\n')
    config = {
        "theme": "dark",
        "hasCompletedOnboarding": True,
        "mcpServers": {
            "db": {"command": "db-mcp", "env": {"DB_PASSWORD": "hunter2-host-secret"}},
        },
        "projects": {str(box.project): {"hasTrustDialogAccepted": True, "allowedTools": []}},
    }
    box.write(box.home / ".claude.json", json.dumps(config, indent=2))


def seen(stdout: str) -> set[str]:
    """The entries of ~/.claude the script found (`seen: RELATIVE-PATH`), as `.claude/...`."""
    return {".claude/" + line[6:] for line in stdout.splitlines() if line.startswith("seen: ")}


def writes_succeeded(stdout: str) -> int:
    """SUCCEEDED from the script's last line `writes: SUCCEEDED of TRIED`."""
    last = stdout.splitlines()[-1] if stdout else ""
    assert last.startswith("writes: "), stdout[-2000:]
    return int(last.split()[1])


def test_a_session_writing_everywhere_leaves_the_hosts_claude_home_hash_unchanged(
    box: Box, hm_store: Path
) -> None:
    """Run as the same user without claudebox, the script changes every entry of a copy of the
    home; run in a session of one project, then of another, it aims at every entry of the
    host's ~/.claude it can see, lands its writes in the project's own ~/.claude, and leaves
    the host's tree exactly as it was."""
    realistic_claude_home(box, hm_store)
    other = another_project(box, "other")

    control_home = box.root / "control-home"
    subprocess.run(["cp", "-a", str(box.home), str(control_home)], check=True)
    control_before = claude_home_tree(control_home)
    control = on_host(box, WRITE_EVERYWHERE, EVIL_CONFIG, env={"HOME": str(control_home)})
    assert writes_succeeded(control) > 0
    control_after = claude_home_tree(control_home)
    unchanged = [key for key in control_before if control_after.get(key) == control_before[key]]
    assert unchanged == [], control[-2000:]

    before = claude_home_tree(box.home)
    # Inside, the host's transcripts and history are not there: the project's own are.
    aimed_at = {
        key
        for key in before
        if key.startswith(".claude/")
        and not key.startswith((".claude/projects", ".claude/history"))
    }
    for project in (box, other):
        session = project.probe(WRITE_EVERYWHERE, EVIL_CONFIG)
        assert session.returncode == 0, brief(session.stderr)
        assert writes_succeeded(session.stdout) > 0
        assert sorted(aimed_at - seen(session.stdout)) == []
        assert differences(before, claude_home_tree(box.home)) == {}
        # what it wrote landed in the project's own ~/.claude (its instance)
        assert (instance_claude(project) / ".config.json").read_text() == EVIL_CONFIG
