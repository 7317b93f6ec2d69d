"""Per-project instances against real bwrap: isolation, the login kept on the host, worktrees,
locks, --gc."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import uuid

from harness import Box, files_holding, host_git, instance_dir, oauth_credentials, wait_for


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
    own_a = instance_dir(box.home, project_a)
    assert (own_a / "claude" / "history.jsonl").read_text() == "A-PROMPT\n"
    assert (own_a / "root").read_text() == f"{project_a}\n"
    assert oct(own_a.stat().st_mode & 0o777) == "0o700"


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
        audit = box.audit("true", cwd=cwd)
        line = next(line for line in audit.splitlines() if "own state" in line)
        ids.append(line.rstrip(")").rsplit("/", 1)[1])
    assert ids == [instance_dir(box.home, main).name] * 3
    commit = box.probe(
        "echo change >> README && git add README && git commit -q -m from-inside"
        " && git log -1 --format=%s",
        cwd=linked,
    )
    assert commit.returncode == 0, commit.stderr
    assert commit.stdout.strip() == "from-inside"
    log = host_git(box, "log", "-1", "--format=%s", "feature", cwd=main)
    assert log.stdout.strip() == "from-inside"


def oauth_login(token: str, plan: str) -> str:
    """A host credentials file as Claude Code writes it after a login (tokens: `token` and its
    refresh partner; an expiry far off, so no session refreshes it)."""
    return oauth_credentials(f"sk-ant-oat01-{token}", f"sk-ant-ort01-{token}-refresh", plan=plan)


def inside_login(text: str) -> dict[str, object]:
    """The claudeAiOauth a session saw in its ~/.claude/.credentials.json."""
    login = json.loads(text)["claudeAiOauth"]
    assert isinstance(login, dict)
    return login


def test_credentials_written_inside_never_reach_the_host_which_may_log_in_meanwhile(
    box: Box,
) -> None:
    """A session writes ~/.claude/.credentials.json as Claude's refresh does (temp file and
    rename, a copy on EBUSY), before and after the host logs in again (its file replaced by
    rename). What it wrote stays in that session: the host's file is the host's login, byte for
    byte; the next session starts from the host's current login, with fresh placeholders."""
    credentials = box.home / ".claude" / ".credentials.json"
    first, second = (f"HOSTTOKEN{uuid.uuid4().hex}" for _ in range(2))
    box.write(credentials, oauth_login(first, "pro"))
    written = f"SANDBOXTOKEN{uuid.uuid4().hex}"
    # Like Claude: a temp file renamed over; on EBUSY (a mount point) copied into place.
    snippet = (
        "c=~/.claude/.credentials.json; cat $c > seen-at-start; "
        'put() { echo "{\\"v\\": \\"$1\\"}" > $c.tmp && { mv $c.tmp $c || cat $c.tmp > $c; }; }; '
        'put "$1-1"; cat $c > seen-after-write; touch first-written; '
        "while [ ! -e host-replaced ]; do sleep 0.05; done; "
        'cat $c > seen-after-host; put "$1-2"'
    )
    process = box.start("--yes", snippet, written, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        wait_for(box.project / "first-written")
        assert credentials.read_text() == oauth_login(first, "pro")
        replacement = credentials.with_name(".credentials.json.host")
        box.write(replacement, oauth_login(second, "max"))  # the host logs in again
        os.replace(replacement, credentials)
        (box.project / "host-replaced").touch()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    seen = {name: (box.project / name).read_text() for name in ("seen-at-start", "seen-after-host")}
    # The session's writes took effect inside (the control) ...
    assert (box.project / "seen-after-write").read_text() == f'{{"v": "{written}-1"}}\n'
    assert seen["seen-after-host"] == f'{{"v": "{written}-1"}}\n'
    # ... and reached nothing on the host: its file is its own latest login.
    assert credentials.read_text() == oauth_login(second, "max")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert files_holding(box.home / ".claude", written) == []
    own_credentials = instance_dir(box.home, box.project) / "claude" / ".credentials.json"
    assert written not in own_credentials.read_text()  # the mount point: the copy was bwrap's
    # Placeholders in the host login's shape, never its tokens.
    start = inside_login(seen["seen-at-start"])
    assert start["subscriptionType"] == "pro"
    assert first not in seen["seen-at-start"]
    assert "-claudebox-" in str(start["accessToken"])
    again = box.probe("cat ~/.claude/.credentials.json")
    assert again.returncode == 0, again.stderr
    login = inside_login(again.stdout)
    assert login["subscriptionType"] == "max"  # the host's current login, not what was written
    assert first not in again.stdout and second not in again.stdout
    assert login["accessToken"] != start["accessToken"]  # this session's own placeholders
    assert str(login["accessToken"]).startswith("sk-ant-oat01-claudebox-")


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
    own = instance_dir(box.home, box.project) / "claude" / ".claude.json"
    assert json.loads(own.read_text()) == {"theme": "light"}
    assert "mcpServers" in (box.home / ".claude.json").read_text()  # the host file is untouched


def test_instruction_bearing_claude_config_is_read_only(box: Box) -> None:
    """The host's ~/.claude entries, named or not, come in read-only: nothing inside changes
    them, whether written in place or renamed over. settings.json and plugins/ are the
    project's own on top of the host's: writes there stay with the project."""
    claude = box.home / ".claude"
    box.write(claude / "settings.json", '{"hooks": {}}\n')
    box.write(claude / "CLAUDE.md", "be nice\n")
    box.write(claude / "plugins" / "installed.json", "{}\n")
    box.write(claude / "mystery" / "x", "unknown\n")
    result = box.probe(
        "cat ~/.claude/CLAUDE.md; "
        "for f in CLAUDE.md mystery/y agents/a.md settings.json plugins/evil.js; do "
        "  echo pwned > ~/.claude/$f 2>/dev/null && echo WROTE $f; done; "
        "echo 'be mean' > /tmp/c && mv /tmp/c ~/.claude/CLAUDE.md 2>/dev/null && echo RENAMED; "
        "true"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "be nice\nWROTE settings.json\nWROTE plugins/evil.js\n"
    assert (claude / "settings.json").read_text() == '{"hooks": {}}\n'
    assert (claude / "CLAUDE.md").read_text() == "be nice\n"
    assert sorted(os.listdir(claude / "plugins")) == ["installed.json"]
    assert sorted(os.listdir(claude / "mystery")) == ["x"]
    assert sorted(os.listdir(claude)) == ["CLAUDE.md", "mystery", "plugins", "settings.json"]
    # the unclassified entry came in read-only too; plugins/ with the project's own on top
    audit = " ".join(box.audit("true").split())
    claude = "~/.claude: this project's own, 2 of yours read-only, plugins with its own on top"
    assert claude in audit


def test_a_login_inside_stays_in_its_session_and_each_starts_from_the_host_s(box: Box) -> None:
    """Without a login on the host a session finds none; one it writes itself (what a /login
    inside would leave if claudebox's relay did not take it) is gone for the next session of
    this project and of another, and claudebox creates no ~/.claude on the host. Once the host
    logs in, the next session starts from that login."""
    assert not (box.home / ".claude").exists()
    fresh = f"SANDBOXTOKEN{uuid.uuid4().hex}"
    login = box.probe('c=~/.claude/.credentials.json; cat $c; echo "$1" > $c && cat $c', fresh)
    assert login.returncode == 0, login.stderr
    assert login.stdout == f"{{}}\n{fresh}\n"  # none at first; the write took inside
    other = box.mkdir(box.home / "other")
    for cwd in (box.project, other):
        seen = box.probe("cat ~/.claude/.credentials.json", cwd=cwd)
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout == "{}\n", cwd
    assert not (box.home / ".claude").exists()
    assert files_holding(box.home, fresh) == []
    token = f"HOSTTOKEN{uuid.uuid4().hex}"
    box.write(box.home / ".claude" / ".credentials.json", oauth_login(token, "team"))
    seen = box.probe("cat ~/.claude/.credentials.json", cwd=other)
    assert seen.returncode == 0, seen.stderr
    assert inside_login(seen.stdout)["subscriptionType"] == "team"
    assert token not in seen.stdout


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
        assert "1 note (--details: the audit)" in second.stderr  # --yes: counted
        told = box.audit("true", cwd=busy)
        assert "another claudebox session of this project is running" in told
        shutil.rmtree(gone)
        busy_renamed = busy.with_name("busy-moved")
        busy.rename(busy_renamed)
        listing = box.run("--gc", "--dry-run")
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        gone_id, busy_id = (instance_dir(box.home, project).name for project in (gone, busy))
        assert any(line.startswith(f"would remove {gone_id} (") for line in lines)
        assert any(line.startswith(f"skipped {busy_id} (") for line in lines)
        assert any(line.startswith("corrupt 00000000deadbeef") for line in lines)
        assert instance_dir(box.home, gone).exists()  # --dry-run removed nothing
        collected = box.run("--gc")
        assert collected.returncode == 0, collected.stderr
        assert not instance_dir(box.home, gone).exists()
        assert instance_dir(box.home, busy).exists()
        assert instance_dir(box.home, kept).exists()
        assert corrupt.exists()
        assert collected.stdout.splitlines()[-1].startswith("freed ")
        (busy_renamed / "stop").touch()
        assert session.wait(timeout=20) == 0
    finally:
        if session.poll() is None:
            session.kill()
    # Once the session has ended, the instance of the moved project goes too.
    again = box.run("--gc")
    assert not instance_dir(box.home, busy).exists(), again.stdout
