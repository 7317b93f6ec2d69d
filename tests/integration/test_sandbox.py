"""The core sandbox against real bwrap, as an unprivileged user: secrets, project, exit, signals."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import termios
import uuid
from pathlib import Path

import pytest
from harness import (
    BUSYBOX_STORE,
    HELPER_STORE,
    HOME_ENTRIES,
    LOCALES_STORE,
    NIXOS_ENV,
    PROBE_STORE,
    TZDATA_STORE,
    Box,
    prerequisite_missing,
)

# Walks every file of the sandbox (but /proc, /sys, /dev, /nix/store), then every process's
# environ and cmdline, then its own environment, printing each place a marker string is found.
FIND_MARKER = r"""
marker=$1
# /nix/store is world-readable on the host, not a secret, and large (the real nix tests build
# into it, with copies of this very source): it is not walked.
find / -path /proc -prune -o -path /sys -prune -o -path /dev -prune -o -path /nix/store -prune \
    -o -type f -print 2>/dev/null \
    | while read -r f; do grep -l -- "$marker" "$f" 2>/dev/null; done
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    tr '\0' '\n' < "$f" 2>/dev/null | grep -q -- "$marker" && echo "$f"
done
env | grep -q -- "$marker" && echo "own-env"
echo walk-done
"""


def plant_secrets(box: Box, marker: str) -> None:
    for relative in (
        ".ssh/id_ed25519",
        ".aws/credentials",
        ".gnupg/private-keys-v1.d/key.key",
        ".config/sops/age/keys.txt",
        ".config/gcloud/credentials.db",
        ".age/key.txt",
        ".netrc",
        ".git-credentials",
        ".docker/config.json",
        ".kube/config",
        "other-project/secret.txt",
    ):
        box.write(box.home / relative, f"{marker} in {relative}\n")


def test_secrets_are_unreachable_and_the_walk_finds_a_planted_control(box: Box) -> None:
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"  # fresh: copies of this file may lie in the store
    plant_secrets(box, marker)
    box.write(box.project / "control.txt", f"{marker} control\n")
    host_process = subprocess.Popen(
        box.as_user(["/bin/sleep", "120"]),
        env={"PATH": "/usr/bin:/bin", "LEAK": marker},
        start_new_session=True,
    )
    try:
        result = box.probe(
            FIND_MARKER,
            marker,
            env={
                "AWS_SECRET_ACCESS_KEY": marker,
                "GITHUB_TOKEN": marker,
                "SSH_AUTH_SOCK": f"/run/user/1000/{marker}",
                "SOME_SETTING": marker,
            },
            timeout=120,
        )
    finally:
        host_process.kill()
        host_process.wait()
    assert result.returncode == 0, result.stderr
    found = result.stdout.split()
    assert found[-1] == "walk-done"
    # The control proves the walk works; nothing else may carry the marker.
    assert [path for path in found[:-1] if not path.startswith("/proc/")] == [
        str(box.project / "control.txt")
    ]
    # The only process carrying the marker is the probe itself (it is the snippet's argument).
    for path in found[:-1]:
        if path.startswith("/proc/"):
            assert path.endswith("/cmdline"), found


def test_host_environment_enters_only_by_allowlist(box: Box) -> None:
    """Only allowlisted host variables (and CLAUDEBOX_EXTRA_ENV's) enter, besides the sandbox's
    own; ANTHROPIC_API_KEY enters as a placeholder (the real key stays with claudebox's relay),
    and every tier's proxy variables point at the relay."""
    real_key = "sk-ant-api03-" + uuid.uuid4().hex
    result = box.probe(
        "env | sort",
        env={
            "AWS_SECRET_ACCESS_KEY": "s3cret",
            "GITHUB_TOKEN": "ghp_x",
            "SSH_AUTH_SOCK": "/tmp/agent.sock",
            "EDITOR": "vi",
            "ANTHROPIC_API_KEY": real_key,
            "MY_TOOL_HOST": "example.invalid",
            "CLAUDEBOX_EXTRA_ENV": "MY_TOOL_HOST",
        },
    )
    assert result.returncode == 0, result.stderr
    inside = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert sorted(inside) == [
        "ALL_PROXY",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_SANDBOXED",
        "DISABLE_INSTALLATION_CHECKS",
        "EDITOR",
        "HOME",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "LANG",
        "LOCALE_ARCHIVE",
        "MY_TOOL_HOST",
        "NIX_CONFIG",
        "NIX_REMOTE",
        "NIX_SSL_CERT_FILE",
        "NODE_EXTRA_CA_CERTS",
        "NO_PROXY",
        "PATH",
        "PWD",
        "SHELL",
        "SHLVL",
        "SSL_CERT_FILE",
        "TERM",
        "TMPDIR",
        "TZ",
        "TZDIR",
        "USER",
        "XDG_RUNTIME_DIR",
        "all_proxy",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ]
    placeholder = inside["ANTHROPIC_API_KEY"]
    assert placeholder.startswith("sk-ant-api03-claudebox-"), placeholder  # the key's shape
    assert real_key[len("sk-ant-api03-") :] not in result.stdout + result.stderr
    proxies = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy", "http_proxy", "https_proxy")
    assert {inside[name] for name in proxies} == {"http://127.0.0.1:3128"}  # inet: the relay
    assert inside["NODE_EXTRA_CA_CERTS"] == "/etc/claudebox/login-ca.pem"
    assert inside["NO_PROXY"] == inside["no_proxy"] == "localhost,127.0.0.1,::1"
    assert f"PATH={box.host_path()}" not in result.stdout
    # NixOS's: resolved into the store (the host's /run/current-system and /etc are not inside);
    # the host's NIX_PATH names host paths and stays out (no pinned nixpkgs here).
    assert inside["LOCALE_ARCHIVE"] == f"{LOCALES_STORE}/lib/locale/locale-archive"
    assert inside["TZDIR"] == f"{TZDATA_STORE}/share/zoneinfo"
    assert inside["TZ"] == NIXOS_ENV["TZ"]


def test_home_holds_only_what_claudebox_puts_there(box: Box) -> None:
    plant_secrets(box, "CANARY-home")
    result = box.probe("ls -A ~ | sort")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == HOME_ENTRIES


def test_project_is_writable_and_writes_land_on_the_host(box: Box) -> None:
    result = box.probe("echo written-inside > note.txt && mkdir -p sub && echo deep > sub/f")
    assert result.returncode == 0, result.stderr
    assert (box.project / "note.txt").read_text() == "written-inside\n"
    assert (box.project / "sub" / "f").read_text() == "deep\n"
    assert (box.project / "note.txt").stat().st_uid == box.user.pw_uid


def test_outside_the_project_writes_vanish(box: Box) -> None:
    result = box.probe("echo x > ~/dropped && echo y > /tmp/dropped && ls ~/dropped /tmp/dropped")
    assert result.returncode == 0, result.stderr
    assert not (box.home / "dropped").exists()


def test_exit_code_of_claude_is_claudeboxs(box: Box) -> None:
    assert box.probe("exit 3").returncode == 3
    assert box.probe("exit 0").returncode == 0


def test_sigterm_to_claudebox_reaches_claude(box: Box) -> None:
    snippet = "trap 'echo term > got-term; exit 42' TERM; touch ready; while :; do sleep 0.1; done"
    with box.running(snippet) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 42
    assert (box.project / "got-term").read_text() == "term\n"


def test_sigterm_to_claude_that_ignores_nothing_gives_143(box: Box) -> None:
    with box.running("touch ready; exec sleep 60") as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM


def test_host_processes_are_invisible(box: Box) -> None:
    result = box.probe("ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline | tr '\\0' ' '")
    assert result.returncode == 0, result.stderr
    count, init = result.stdout.split("\n", 1)
    assert int(count) <= 6  # bwrap's init, the probe and the pipeline, nothing of the host
    assert "bwrap" in init


def test_nested_user_namespaces_are_disabled(box: Box) -> None:
    result = box.probe("unshare -r true && echo nested-ok || echo nested-refused")
    assert result.stdout.strip().splitlines()[-1] == "nested-refused"


def open_controlling_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    return master, slave


def run_on_pty(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[str, bytes]:
    """Run argv with a fresh pty as its controlling terminal; return (output, injected input)."""
    master, slave = os.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        preexec_fn=take_terminal,
    )
    os.close(slave)
    out, _ = process.communicate(timeout=60)
    attrs = termios.tcgetattr(master)
    attrs[3] &= ~termios.ECHO
    os.set_blocking(master, False)
    try:
        pending = os.read(master, 1024)
    except (BlockingIOError, OSError):
        pending = b""
    os.close(master)
    return out.decode(), pending


def test_tiocsti_is_blocked_inside_and_works_outside(box: Box) -> None:
    helper = str(HELPER_STORE / "bin" / "tiocsti")
    # Control: the same helper, same user, same kind of terminal, no sandbox: injection works.
    outside, _ = run_on_pty(box.as_user([helper]), box.env(), box.project)
    assert outside.strip() == "tiocsti ok"
    inside, _ = run_on_pty(
        box.command(["--yes", f"{helper}; {helper} wide"]), box.env(), box.project
    )
    assert inside.split("\n")[:2] == ["tiocsti errno 1", "tiocsti errno 1"]


def test_dry_run_pasted_into_bash_runs_the_same_sandbox(box: Box) -> None:
    dry = box.run("--dry-run", "echo pasted > pasted.txt; env | sort > env.txt")
    assert dry.returncode == 0, dry.stderr
    assert not (box.home / ".claudebox").exists()  # --dry-run creates nothing
    pasted = box.paste(dry.stdout)
    assert pasted.returncode == 0, pasted.stderr
    assert (box.project / "pasted.txt").read_text() == "pasted\n"
    direct = box.probe("env | sort > env2.txt")
    assert direct.returncode == 0
    assert (box.project / "env.txt").read_text() == (box.project / "env2.txt").read_text()


@pytest.mark.parametrize("secret", [False, True], ids=["default", "secret-variable"])
@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_dry_run_pasted_into_bash_or_zsh_runs_the_sandbox(
    box: Box, shell: str, secret: bool
) -> None:
    """The --dry-run text, pasted into bash or zsh, runs the sandbox of the default tier with
    the shell's standard input (the terminal); a secret-looking variable passed in is printed
    as "$NAME" and its value, the pasting shell's, reaches inside."""
    program = shutil.which(shell)
    if program is None:
        prerequisite_missing(f"{shell} is needed to paste a --dry-run into it")
        return
    token = f"ghp_{uuid.uuid4().hex}"
    env = {"CLAUDEBOX_EXTRA_ENV": "GITHUB_TOKEN", "GITHUB_TOKEN": token} if secret else {}
    snippet = 'read -r line; echo "$line" > pasted.txt; printf %s "${GITHUB_TOKEN-unset}" > token'
    dry = box.run("--dry-run", snippet, env=env)
    assert dry.returncode == 0, dry.stderr
    assert ('"$GITHUB_TOKEN"' in dry.stdout) is secret
    assert token not in dry.stdout + dry.stderr
    pasted = box.paste(dry.stdout, shell=program, env=env, stdin="typed\n")
    assert pasted.returncode == 0, pasted.stderr
    assert (box.project / "pasted.txt").read_text() == "typed\n"
    assert (box.project / "token").read_text() == (token if secret else "unset")


def test_a_pasted_dry_run_keeps_the_pasting_shells_descriptors_out(box: Box) -> None:
    """The bash a --dry-run is pasted into holds descriptors of its own (/ open, a key open, a
    host file open for writing, two of them numbered among the plan's data and binds): none
    reaches the sandbox, and the pasted sandbox still runs and exits with its command's code."""
    marker = f"CANARY-{uuid.uuid4().hex[:8]}"
    key = box.write(box.home / ".ssh" / "id_ed25519", f"{marker} key\n")
    host_file = box.write(box.root / "host-file", "")
    held = {5: f">>{host_file}", 7: "</", 8: f"<{key}", 28: "</", 45: "</"}
    snippet = f"""
ls /proc/self/fd > fds.txt
for fd in {" ".join(map(str, held))}; do
    cat "/proc/self/fd/$fd{key}"
    cat "/proc/self/fd/$fd"
    echo written >&$fd
done 2>/dev/null
exit 42
"""
    dry = box.run("--dry-run", snippet)
    assert dry.returncode == 0, dry.stderr
    for fd in held:  # (the plan's own descriptors are others)
        assert f" {fd}<" not in dry.stdout
        assert not re.search(rf"--[a-z-]+ {fd} ", dry.stdout), fd
    opened = " ".join(f"{fd}{target}" for fd, target in held.items())
    pasted = box.paste(f"exec {opened}\nls /proc/$$/fd > held.txt\n{dry.stdout}")
    assert pasted.returncode == 42, pasted.stderr
    assert set(map(str, held)) <= set((box.project / "held.txt").read_text().split())  # control
    assert marker not in pasted.stdout
    assert host_file.read_text() == ""
    inside = {int(fd) for fd in (box.project / "fds.txt").read_text().split()}
    assert not inside & set(held), sorted(inside)


def test_no_terminal_and_no_yes_refuses(box: Box) -> None:
    result = box.run("exit 0")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("claudebox: error: no terminal")
    assert "--yes" in result.stderr.splitlines()[-1]


def test_project_is_home_refuses(box: Box) -> None:
    result = box.probe("true", cwd=box.home)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"claudebox: error: the project directory is your home directory ({box.home}), "
        "which holds your keys; run claudebox from a project directory"
    ]


def test_missing_bwrap_and_missing_claude_exit_127(box: Box) -> None:
    no_bwrap = box.probe("true", env={"PATH": f"{PROBE_STORE}/bin"})
    assert no_bwrap.returncode == 127
    assert "bubblewrap" in no_bwrap.stderr.splitlines()[-1]
    no_claude = box.probe("true", env={"PATH": "/usr/bin:/bin"})
    assert no_claude.returncode == 127
    assert no_claude.stderr.splitlines()[-1].startswith("claudebox: error: claude not found")


def test_invalid_extra_env_name_is_a_usage_error(box: Box) -> None:
    result = box.probe("true", env={"CLAUDEBOX_EXTRA_ENV": "GOOD,not valid"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "claudebox: error: CLAUDEBOX_EXTRA_ENV: 'not valid' is not a variable name; "
        "list names separated by commas, e.g. CLAUDEBOX_EXTRA_ENV=GH_HOST,NPM_TAG"
    ]


def test_git_works_inside_with_the_generated_identity(box: Box) -> None:
    box.write(
        box.home / ".gitconfig",
        "[user]\n\tname = Host Person\n\temail = host@example.invalid\n"
        "[core]\n\tfsmonitor = /bin/false\n",
    )
    result = box.probe("cat ~/.gitconfig")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        '[user]\n\tname = "Host Person"\n\temail = "host@example.invalid"\n'
        "[safe]\n\tdirectory = *\n"
    )


def test_protected_project_files_are_read_only(box: Box) -> None:
    subprocess.run(box.as_user(["/usr/bin/git", "init", "-q", str(box.project)]), check=True)
    box.write(box.project / ".envrc", "use nix\n", mode=0o644)
    hook = box.project / ".git" / "hooks" / "pre-commit"
    result = box.probe(
        "echo evil >> .envrc; echo evil > .git/hooks/pre-commit; "
        "printf '[core]\\n\\thooksPath = /tmp\\n' >> .git/config; echo done"
    )
    assert result.stdout.strip() == "done"
    assert (box.project / ".envrc").read_text() == "use nix\n"
    assert not hook.exists()
    assert "hooksPath" not in (box.project / ".git" / "config").read_text()


def test_the_locale_archive_and_time_zone_enter_as_the_store_has_them(box: Box) -> None:
    """NixOS sets LOCALE_ARCHIVE to /run/current-system/sw/…/locale-archive (/run is not
    inside): it enters resolved into /nix/store, readable there; a path that leads elsewhere
    stays out; TZ and the LC_* categories enter as set."""
    current_system = box.root / "run-current-system"
    current_system.symlink_to(BUSYBOX_STORE)  # (a store path standing in for glibc's locales)
    archive = current_system / "bin" / "busybox"
    result = box.probe(
        'echo "archive=$LOCALE_ARCHIVE"; test -r "$LOCALE_ARCHIVE" && echo readable; '
        'echo "tzdir=${TZDIR-unset}" "tz=$TZ" "time=$LC_TIME"',
        env={
            "LOCALE_ARCHIVE": str(archive),
            "TZDIR": str(box.root),
            "TZ": "Europe/Berlin",
            "LC_TIME": "C.UTF-8",
        },
    )
    assert result.stdout.splitlines() == [
        f"archive={BUSYBOX_STORE}/bin/busybox",
        "readable",
        "tzdir=unset tz=Europe/Berlin time=C.UTF-8",
    ], result.stderr


def test_nixos_time_zones_and_locale_archive_work_inside(box: Box) -> None:
    """The fixture's NixOS (see harness.NIXOS_ENV): a zone by name (TZ) through
    TZDIR=/etc/zoneinfo, /etc/localtime through /etc/zoneinfo and /etc/static into the store
    when TZ is unset, and LOCALE_ARCHIVE through /run/current-system: inside as on the host."""
    result = box.probe(
        "date -d @0 +%Z; TZ=Asia/Tokyo date -d @0 +%Z; unset TZ; date -d @0 +%Z; "
        'echo "$LOCALE_ARCHIVE"; cmp "$LOCALE_ARCHIVE" "$1" && echo the archive',
        f"{LOCALES_STORE}/lib/locale/locale-archive",
    )
    assert result.stdout.splitlines() == [
        "EST",  # America/New_York, the user's TZ
        "JST",
        "CET",  # Europe/Berlin, /etc/localtime's
        f"{LOCALES_STORE}/lib/locale/locale-archive",
        "the archive",
    ], result.stderr


def test_the_home_caches_are_kept_per_project(box: Box) -> None:
    """npm's, pip's and cargo's downloads stay with the project between its sessions (the home
    is a tmpfs: without this every session downloads again), and never reach another."""
    caches = ("~/.npm/_cacache/kept", "~/.cache/pip/kept", "~/.cargo/registry/kept")
    write = "; ".join(f"mkdir -p $(dirname {c}) && echo kept > {c}" for c in caches)
    read = "; ".join(f"cat {c} 2>/dev/null || echo missing" for c in caches)
    first = box.probe(f"{write}; echo written")
    assert first.stdout.strip() == "written", first.stderr
    again = box.probe(read)
    assert again.stdout.splitlines() == ["kept"] * 3, again.stderr
    other = box.project.parent / "other"
    box.mkdir(other)
    elsewhere = box.probe(read, cwd=other)
    assert elsewhere.stdout.splitlines() == ["missing"] * 3, elsewhere.stderr
