"""Per-project instances against real bwrap: isolation, shared login, worktrees, locks, --gc."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from harness import Box, host_git, wait_for


def instance_dir(box: Box, root: Path) -> Path:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return box.home / ".claudebox" / "instances" / digest


def test_transcripts_and_history_stay_in_their_project(box: Box) -> None:
    project_a = box.mkdir(box.home / "a")
    project_b = box.mkdir(box.home / "b")
    box.write(box.home / ".claude" / "projects" / "-third" / "t.jsonl", "THIRD-TRANSCRIPT\n")
    box.write(box.home / ".claude" / "history.jsonl", "THIRD-HISTORY\n")
    written = box.probe(
        "mkdir -p ~/.claude/projects/-a && echo A-TRANSCRIPT > ~/.claude/projects/-a/s.jsonl"
        " && echo A-PROMPT >> ~/.claude/history.jsonl",
        cwd=project_a,
    )
    assert written.returncode == 0, written.stderr
    seen_from_b = box.probe(
        "cat ~/.claude/history.jsonl; find ~/.claude/projects -type f | xargs cat", cwd=project_b
    )
    assert seen_from_b.returncode == 0, seen_from_b.stderr
    assert "A-" not in seen_from_b.stdout
    assert "THIRD" not in seen_from_b.stdout
    seen_from_a = box.probe("cat ~/.claude/history.jsonl ~/.claude/projects/*/*", cwd=project_a)
    assert seen_from_a.stdout.split() == ["A-PROMPT", "A-TRANSCRIPT"]
    # The host's own files are untouched; A's state lives in A's instance.
    assert (box.home / ".claude" / "history.jsonl").read_text() == "THIRD-HISTORY\n"
    assert (instance_dir(box, project_a) / "claude" / "history.jsonl").read_text() == "A-PROMPT\n"
    assert (instance_dir(box, project_a) / "root").read_text() == f"{project_a}\n"
    assert oct((instance_dir(box, project_a)).stat().st_mode & 0o777) == "0o700"


def test_worktrees_and_subdirectories_share_one_instance_and_git_works(box: Box) -> None:
    main = box.mkdir(box.home / "repo")
    host_git(box, "init", "-q", cwd=main)
    box.write(main / "README", "hello\n", mode=0o644)
    host_git(box, "add", "README", cwd=main)
    host_git(box, "commit", "-q", "-m", "first", cwd=main)
    linked = box.home / "wt"
    host_git(box, "worktree", "add", "-q", str(linked), "-b", "feature", cwd=main)
    sub = box.mkdir(main / "sub")
    ids = []
    for cwd in (main, sub, linked):
        result = box.probe("true", cwd=cwd)
        assert result.returncode == 0, result.stderr
        line = next(line for line in result.stderr.splitlines() if "own state" in line)
        ids.append(line.rstrip(")").rsplit("/", 1)[1])
    assert ids == [instance_dir(box, main).name] * 3
    commit = box.probe(
        "echo change >> README && git add README && git commit -q -m from-inside"
        " && git log -1 --format=%s",
        cwd=linked,
    )
    assert commit.returncode == 0, commit.stderr
    assert commit.stdout.strip() == "from-inside"
    log = host_git(box, "log", "-1", "--format=%s", "feature", cwd=main)
    assert log.stdout.strip() == "from-inside"


def test_credentials_renamed_inside_reach_the_host_even_after_a_host_rename(box: Box) -> None:
    credentials = box.home / ".claude" / ".credentials.json"
    box.write(credentials, '{"v": "host-0"}\n')
    snippet = (
        "c=~/.claude/.credentials.json; "
        'echo \'{"v": "sandbox-1"}\' > $c.tmp && mv $c.tmp $c && touch first-written; '
        "while [ ! -e host-replaced ]; do sleep 0.05; done; "
        "cat $c > seen-after-host; "
        'echo \'{"v": "sandbox-2"}\' > $c.tmp && mv $c.tmp $c'
    )
    process = box.start("--yes", snippet, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        wait_for(box.project / "first-written")
        assert json.loads(credentials.read_text()) == {"v": "sandbox-1"}
        replacement = credentials.with_name(".credentials.json.host")
        box.write(replacement, '{"v": "host-2"}\n')
        os.replace(replacement, credentials)
        (box.project / "host-replaced").touch()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert (box.project / "seen-after-host").read_text() == '{"v": "host-2"}\n'
    assert json.loads(credentials.read_text()) == {"v": "sandbox-2"}


def test_claude_json_is_per_project_and_survives_a_renaming_writer(box: Box) -> None:
    box.write(
        box.home / ".claude.json",
        json.dumps(
            {
                "theme": "dark",
                "oauthAccount": {"emailAddress": "me@example.invalid"},
                "mcpServers": {"gh": {"env": {"GITHUB_TOKEN": "MCP-TOKEN-CANARY"}}},
                "projects": {"/elsewhere": {"allowedTools": ["OTHER-PROJECT-CANARY"]}},
            }
        ),
    )
    # Like Claude: write a temp file, rename it over; on EBUSY (a single-file bind) copy instead.
    snippet = (
        "cat ~/.claude.json > seen.json; "
        'echo \'{"theme": "light"}\' > ~/.claude.json.tmp; '
        "mv ~/.claude.json.tmp ~/.claude.json 2>/dev/null"
        " || cat ~/.claude.json.tmp > ~/.claude.json; "
        "grep -r -l -e MCP-TOKEN-CANARY -e OTHER-PROJECT-CANARY ~ /tmp /etc 2>/dev/null; true"
    )
    result = box.probe(snippet)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads((box.project / "seen.json").read_text()) == {
        "oauthAccount": {"emailAddress": "me@example.invalid"},
        "theme": "dark",
    }
    own = instance_dir(box, box.project) / "claude" / ".claude.json"
    assert json.loads(own.read_text()) == {"theme": "light"}
    assert "mcpServers" in (box.home / ".claude.json").read_text()  # the host file is untouched


def test_instruction_bearing_claude_config_is_read_only(box: Box) -> None:
    claude = box.home / ".claude"
    box.write(claude / "settings.json", '{"hooks": {}}\n')
    box.write(claude / "CLAUDE.md", "be nice\n")
    box.write(claude / "plugins" / "installed.json", "{}\n")
    box.write(claude / "mystery" / "x", "unknown\n")
    result = box.probe(
        "cat ~/.claude/settings.json ~/.claude/CLAUDE.md; "
        "for f in settings.json CLAUDE.md plugins/evil.js mystery/y agents/a.md; do "
        "  echo pwned > ~/.claude/$f 2>/dev/null && echo WROTE $f; done; "
        'echo \'{"hooks": {"Stop": "x"}}\' > /tmp/s && mv /tmp/s ~/.claude/settings.json '
        "2>/dev/null && echo RENAMED; true"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"hooks": {}}\nbe nice\n'
    assert (claude / "settings.json").read_text() == '{"hooks": {}}\n'
    assert (claude / "CLAUDE.md").read_text() == "be nice\n"
    assert sorted(os.listdir(claude / "plugins")) == ["installed.json"]
    assert "mystery" in result.stderr  # unclassified entries are named in the audit


def test_login_inside_persists_for_every_project(box: Box) -> None:
    assert not (box.home / ".claude").exists()
    login = box.probe('echo \'{"token": "fresh"}\' > ~/.claude/.credentials.json')
    assert login.returncode == 0, login.stderr
    other = box.mkdir(box.home / "other")
    seen = box.probe("cat ~/.claude/.credentials.json", cwd=other)
    assert seen.stdout == '{"token": "fresh"}\n'


def test_a_second_session_is_told_and_gc_skips_instances_in_use(box: Box) -> None:
    gone = box.mkdir(box.home / "gone")
    busy = box.mkdir(box.home / "busy")
    kept = box.mkdir(box.home / "kept")
    for project in (gone, busy, kept):
        assert box.probe("true", cwd=project).returncode == 0
    corrupt = box.mkdir(box.home / ".claudebox" / "instances" / "00000000deadbeef")
    session = subprocess.Popen(
        box.command(["--yes", "touch running; while [ ! -e stop ]; do sleep 0.05; done"]),
        env=box.env(),
        cwd=busy,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(busy / "running")
        second = box.probe("true", cwd=busy)
        assert second.returncode == 0
        assert "another claudebox session of this project is running" in second.stderr
        shutil.rmtree(gone)
        busy_renamed = busy.with_name("busy-moved")
        busy.rename(busy_renamed)
        listing = box.run("--gc", "--dry-run")
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert any(
            line.startswith(f"would remove {instance_dir(box, gone).name} (") for line in lines
        )
        assert any(line.startswith(f"skipped {instance_dir(box, busy).name} (") for line in lines)
        assert any(line.startswith("corrupt 00000000deadbeef") for line in lines)
        assert instance_dir(box, gone).exists()  # --dry-run removed nothing
        collected = box.run("--gc")
        assert collected.returncode == 0, collected.stderr
        assert not instance_dir(box, gone).exists()
        assert instance_dir(box, busy).exists()
        assert instance_dir(box, kept).exists()
        assert corrupt.exists()
        assert collected.stdout.splitlines()[-1].startswith("freed ")
        (busy_renamed / "stop").touch()
        assert session.wait(timeout=20) == 0
    finally:
        if session.poll() is None:
            session.kill()
    # Once the session has ended, the instance of the moved project goes too.
    again = box.run("--gc")
    assert not instance_dir(box, busy).exists(), again.stdout
