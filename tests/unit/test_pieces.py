"""Small pure pieces: mount ordering, generated files, instance keys, HostSetup rendering."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess

import fakehost as fh
import pytest

import claudebox as cb
from claudebox import Kind, MountOp

T = MountOp.TMPFS


def test_order_mounts_parents_first_stable():
    mounts = [
        cb.Mount(MountOp.BIND, "/home/a/p/.git/hooks", "/home/a/p/.git/hooks"),
        cb.Mount(MountOp.BIND, "/home/a/p", "/home/a/p"),
        cb.Mount(T, "/home/a"),
        cb.Mount(T, "/"),
        cb.Mount(MountOp.RO_BIND, "/nix/store", "/nix/store"),
        cb.Mount(T, "/tmp"),
    ]
    assert [m.dst for m in cb.order_mounts(mounts)] == [
        "/",
        "/tmp",
        "/home/a",
        "/nix/store",
        "/home/a/p",
        "/home/a/p/.git/hooks",
    ]


def test_order_mounts_last_wins_per_destination():
    mounts = [
        cb.Mount(T, "/"),
        cb.Mount(MountOp.BIND, "/x", "/src1"),
        cb.Mount(T, "/y"),
        cb.Mount(MountOp.RO_BIND, "/x", "/src2"),
    ]
    assert cb.order_mounts(mounts) == (
        cb.Mount(T, "/"),
        cb.Mount(T, "/y"),
        cb.Mount(MountOp.RO_BIND, "/x", "/src2"),
    )


def test_order_mounts_every_parent_precedes_child():
    mounts = [
        cb.Mount(MountOp.BIND, d, d)
        for d in ("/a/b/c/d", "/a", "/a/b/c", "/z/y", "/a/b", "/z", "/a/bb", "/a/b/cc")
    ]
    ordered = [m.dst for m in cb.order_mounts(mounts)]
    for i, child in enumerate(ordered):
        for parent in ordered[i + 1 :]:
            assert not (child != parent and cb.is_within(child, parent)), (parent, child)


def test_order_mounts_puts_binds_carrying_pins_last_with_their_children():
    mounts = [
        cb.Mount(T, "/h"),
        cb.Mount(MountOp.BIND_FD, "/h/.claude", "/h/.claude"),
        cb.Mount(MountOp.BIND_FD, "/h/p", "/real/p"),
        cb.Mount(MountOp.RO_BIND, "/h/p/data", "/data"),  # inside a late bind: after it
        cb.Mount(MountOp.BIND_FD, "/h/.cache/nix", "/s/nix"),
        cb.Mount(MountOp.RO_BIND, "/h/.claudex", "/h/.claudex"),  # a prefix, not a parent
        cb.Mount(MountOp.DATA, "/h/.gitconfig", fd=10),
    ]
    pinned = ["/h/.claude/settings.json", "/real/p/.git/hooks", "/real/p/.git/config"]
    assert cb.order_mounts(mounts, pinned) == (
        cb.Mount(T, "/h"),
        cb.Mount(MountOp.RO_BIND, "/h/.claudex", "/h/.claudex"),
        cb.Mount(MountOp.DATA, "/h/.gitconfig", fd=10),
        cb.Mount(MountOp.BIND_FD, "/h/.cache/nix", "/s/nix", 30),
        cb.Mount(MountOp.BIND_FD, "/h/.claude", "/h/.claude", 31),
        cb.Mount(MountOp.BIND_FD, "/h/p", "/real/p", 32),
        cb.Mount(MountOp.RO_BIND, "/h/p/data", "/data"),
    )


def test_order_mounts_numbers_descriptor_binds_in_mount_order():
    mounts = [
        cb.Mount(MountOp.BIND_FD, "/h/p/sub", "/h/p/sub", fd=99),  # a given number is replaced
        cb.Mount(MountOp.DATA, "/h/.gitconfig", fd=10),  # data keeps its own
        cb.Mount(MountOp.RO_BIND_FD, "/opt/claude", "/opt/claude"),
        cb.Mount(MountOp.BIND_FD, "/h/p", "/h/p"),
        cb.Mount(T, "/h"),
        cb.Mount(MountOp.BIND_FD, "/h/gone", "/x"),
        cb.Mount(MountOp.RO_BIND, "/h/gone", "/y"),  # replaces the bind above: no descriptor
    ]
    assert cb.order_mounts(mounts) == (
        cb.Mount(T, "/h"),
        cb.Mount(MountOp.DATA, "/h/.gitconfig", fd=10),
        cb.Mount(MountOp.RO_BIND_FD, "/opt/claude", "/opt/claude", 30),
        cb.Mount(MountOp.BIND_FD, "/h/p", "/h/p", 31),
        cb.Mount(MountOp.RO_BIND, "/h/gone", "/y"),
        cb.Mount(MountOp.BIND_FD, "/h/p/sub", "/h/p/sub", 32),
    )


def test_mount_to_args():
    assert cb.Mount(T, "/tmp").to_args() == ["--tmpfs", "/tmp"]
    assert cb.Mount(MountOp.PROC, "/proc").to_args() == ["--proc", "/proc"]
    assert cb.Mount(MountOp.RO_BIND, "/d", "/s").to_args() == ["--ro-bind", "/s", "/d"]
    assert cb.Mount(MountOp.BIND_TRY, "/d", "/s").to_args() == ["--bind-try", "/s", "/d"]
    assert cb.Mount(MountOp.DATA, "/d", fd=11).to_args() == ["--ro-bind-data", "11", "/d"]
    assert cb.Mount(MountOp.BIND_FD, "/d", "/s", 30).to_args() == ["--bind-fd", "30", "/d"]
    assert cb.Mount(MountOp.RO_BIND_FD, "/d", "/s", 31).to_args() == ["--ro-bind-fd", "31", "/d"]
    assert cb.Mount(MountOp.WRITABLE_DATA, "/d", fd=13).to_args() == ["--bind-data", "13", "/d"]
    assert cb.Mount(MountOp.SYMLINK, "/bin/sh", "/nix/store/x/sh").to_args() == [
        "--symlink",
        "/nix/store/x/sh",
        "/bin/sh",
    ]


@pytest.mark.parametrize(
    ("mount", "writable", "described"),
    [
        (cb.Mount(T, "/tmp"), False, "tmpfs /tmp"),
        (cb.Mount(MountOp.PROC, "/proc"), False, "proc /proc"),
        (cb.Mount(MountOp.DEV, "/dev"), False, "dev /dev"),
        (
            cb.Mount(MountOp.SYMLINK, "/bin/sh", "/nix/store/x/sh"),
            False,
            "link /bin/sh -> /nix/store/x/sh",
        ),
        (cb.Mount(MountOp.RO_BIND, "/nix/store", "/nix/store"), False, "ro /nix/store"),
        (cb.Mount(MountOp.RO_BIND_TRY, "/etc/hosts", "/etc/hosts"), False, "ro /etc/hosts"),
        (cb.Mount(MountOp.BIND_TRY, "/d", "/s"), True, "rw /d <- /s"),
        (cb.Mount(MountOp.BIND, "/d", "/d"), True, "rw /d"),
        (cb.Mount(MountOp.BIND_FD, "/d", "/s", 30), True, "rw /d <- /s"),
        (cb.Mount(MountOp.RO_BIND_FD, "/d", "/d", 31), False, "ro /d"),
        (
            cb.Mount(MountOp.DATA, "/etc/resolv.conf", fd=13),
            False,
            "ro /etc/resolv.conf (generated)",
        ),
        # bwrap's own copy of the data, writable inside: nothing of the host's is written
        (
            cb.Mount(MountOp.WRITABLE_DATA, "/h/.claude/.credentials.json", fd=13),
            False,
            "rw /h/.claude/.credentials.json (generated)",
        ),
    ],
)
def test_mount_writable_and_describe(mount, writable, described):
    assert mount.writable is writable
    assert mount.describe() == described


def test_pin_describe():
    assert cb.Pin("/p/.envrc", Kind.FILE, True).describe() == "ro /p/.envrc"
    assert cb.Pin("/p/.git", Kind.DIR, False).describe() == "pinned /p/.git"
    assert cb.Pin("/p/.envrc", Kind.LINK, False).describe() == "pinned symlink /p/.envrc"
    assert cb.Pin("/h/.claude/todos", Kind.DIR, False, "/i/todos").describe() == (
        "rw /h/.claude/todos <- /i/todos"
    )


def test_pin_describe_of_an_overlay_names_where_its_writes_go():
    pin = cb.Pin("/i/claude/plugins", Kind.DIR, False, "/h/.claude/plugins", "r", "/i/plugins-own")
    assert pin.describe() == "rw /i/claude/plugins <- /h/.claude/plugins (writes to /i/plugins-own)"
    # whatever read_only says: the host's below is never written, the upper always is
    assert pin._replace(read_only=True).describe() == pin.describe()


def test_pin_describe_of_a_read_only_pin_with_a_source():
    pin = cb.Pin("/i/claude/settings.json", Kind.FILE, True, "/h/.claude/settings.json")
    assert pin.describe() == "ro /i/claude/settings.json <- /h/.claude/settings.json"


def test_gitconfig_text_defaults():
    assert cb.gitconfig_text(None, None) == (
        "[user]\n"
        '\tname = "Claude (claudebox)"\n'
        '\temail = "claude@claudebox.invalid"\n'
        "[safe]\n"
        "\tdirectory = *\n"
    )


def test_gitconfig_text_quoting():
    text = cb.gitconfig_text('Al "the" \\ Pal\nx', 'a"b@c\\d')
    assert text == (
        "[user]\n"
        '\tname = "Al \\"the\\" \\\\ Pal x"\n'
        '\temail = "a\\"b@c\\\\d"\n'
        "[safe]\n"
        "\tdirectory = *\n"
    )
    assert text.count("\n") == 5


def test_gitconfig_text_parsed_by_git(tmp_path):
    name = 'Al "the" \\ Pal\r\nsecond [user] ; # x'
    config = tmp_path / "gitconfig"
    config.write_text(cb.gitconfig_text(name, "a@b"))
    got = subprocess.run(
        ["git", "config", "--file", str(config), "--get", "user.name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert got == 'Al "the" \\ Pal second [user] ; # x\n'


def test_passwd_and_group_name_only_root_and_the_user():
    host = fh.make_host()
    bash = f"{fh.BASH_BIN}/bash"  # the sandbox's SHELL
    assert cb.passwd_text(host) == (
        f"root:x:0:0:root:/root:{bash}\nalice:x:1000:100:Alice Liddell,,,:/home/alice:{bash}\n"
    )
    assert cb.group_text(host) == "root:x:0:\nusers:x:100:\n"


def test_passwd_without_bash_names_bin_sh_and_keeps_the_sandboxs_home():
    host = fh.make_host(home="/home/b", tools={"sh": f"{fh.BASH_BIN}/sh"}, uid=1234, gid=1234)
    host = host._replace(account=cb.Account("bob", "", "bob"))
    assert cb.passwd_text(host) == (
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1234:1234::/home/b:/bin/sh\n"
    )
    assert cb.group_text(host) == "root:x:0:\nbob:x:1234:\n"


def test_passwd_fields_hold_no_separator_nor_line_break():
    host = fh.make_host(account=cb.Account("al:ice", "A:B\nroot::0:0::/:/bin/sh\x1b", "us:ers\n"))
    passwd = cb.passwd_text(host)
    assert passwd.splitlines()[1].split(":") == [
        "alice",
        "x",
        "1000",
        "100",
        "ABroot00//bin/sh",
        "/home/alice",
        f"{fh.BASH_BIN}/bash",
    ]
    assert len(passwd.splitlines()) == 2
    assert cb.group_text(host) == "root:x:0:\nusers:x:100:\n"


def test_a_user_in_roots_group_gets_one_line_for_it():
    host = fh.make_host(gid=0, account=cb.Account("alice", "", "root"))
    assert cb.group_text(host) == "root:x:0:\n"
    assert cb.passwd_text(host).splitlines()[1].startswith("alice:x:1000:0:")


def test_host_account_is_what_nss_says():
    import grp
    import pwd

    entry = pwd.getpwuid(os.getuid())
    account = cb.host_account(os.getuid(), os.getgid(), {})
    assert account == cb.Account(entry.pw_name, entry.pw_gecos, grp.getgrgid(os.getgid()).gr_name)


def test_host_account_without_an_entry_takes_user():
    unknown = 2**31 - 7
    assert cb.host_account(unknown, unknown, {"USER": "ghost"}) == cb.Account("ghost", "", "ghost")
    assert cb.host_account(unknown, unknown, {}) == cb.Account(str(unknown), "", str(unknown))


def test_boot_id_is_a_version_4_uuid_line():
    assert cb.boot_id_text(bytes(16)) == b"00000000-0000-4000-8000-000000000000\n"
    assert cb.boot_id_text(b"\xff" * 16) == b"ffffffff-ffff-4fff-bfff-ffffffffffff\n"
    uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n"
    assert re.fullmatch(uuid4, cb.boot_id_text(os.urandom(16)).decode())


KEY = "sk-ant-api03-" + "x" * 60 + "ENDS-WITH-20-CHARS-1"  # the last 20: "ENDS-WITH-20-CHARS-1"
REAL = "ENDS-WITH-20-CHARS-1"  # how the host's Claude remembers its answer for KEY
SUFFIX = cb.api_key_suffix(KEY, "0123456789abcdef")  # the placeholder's last 20 characters


def test_api_key_answer_records_the_hosts_answer_for_the_placeholder():
    host = {"customApiKeyResponses": {"approved": ["other-key-approved-1", REAL], "rejected": []}}
    instance = {"theme": "dark", "numStartups": 3}
    assert cb.api_key_answer(host, instance, KEY, SUFFIX) == {
        "theme": "dark",
        "numStartups": 3,
        "customApiKeyResponses": {"approved": [SUFFIX], "rejected": []},
    }
    rejected = {"customApiKeyResponses": {"rejected": [REAL]}}
    assert cb.api_key_answer(rejected, {}, KEY, SUFFIX) == {
        "customApiKeyResponses": {"approved": [], "rejected": [SUFFIX]}
    }
    # the real key's characters never reach the instance's file
    assert REAL not in json.dumps(cb.api_key_answer(host, instance, KEY, SUFFIX))


def test_api_key_answer_keeps_the_answer_given_inside():
    host = {"customApiKeyResponses": {"approved": [REAL]}}
    answered = {
        "customApiKeyResponses": {"approved": ["another-one-approved"], "rejected": [SUFFIX]}
    }
    assert cb.api_key_answer(host, answered, KEY, SUFFIX) is None
    # another key's answer inside stays next to the copied one
    other = {"customApiKeyResponses": {"approved": ["another-one-approved"], "rejected": []}}
    assert cb.api_key_answer(host, other, KEY, SUFFIX) == {
        "customApiKeyResponses": {"approved": ["another-one-approved", SUFFIX], "rejected": []}
    }
    # an answer inside for the real key's suffix (an older claudebox's) is not the placeholder's
    older = {"customApiKeyResponses": {"approved": [REAL], "rejected": []}}
    assert cb.api_key_answer(host, older, KEY, SUFFIX) == {
        "customApiKeyResponses": {"approved": [REAL, SUFFIX], "rejected": []}
    }


def test_api_key_answer_nothing_to_add():
    host = {"customApiKeyResponses": {"approved": [REAL]}}
    assert cb.api_key_answer(host, {}, None, SUFFIX) is None
    assert cb.api_key_answer(host, {}, "", SUFFIX) is None
    assert cb.api_key_answer({}, {}, KEY, SUFFIX) is None
    assert cb.api_key_answer({"customApiKeyResponses": "broken"}, {}, KEY, SUFFIX) is None
    assert cb.api_key_answer({"customApiKeyResponses": {"approved": "x"}}, {}, KEY, SUFFIX) is None
    # the host answered for the placeholder's suffix, not for the real key: nothing
    assert (
        cb.api_key_answer({"customApiKeyResponses": {"approved": [SUFFIX]}}, {}, KEY, SUFFIX)
        is None
    )


def test_copy_api_key_answer_writes_the_instances_file_by_rename(tmp_path):
    path = tmp_path / ".claude.json"
    path.write_text('{"theme": "dark"}')
    inode = path.stat().st_ino
    host = {"customApiKeyResponses": {"approved": [REAL]}}
    cb.copy_api_key_answer(str(path), host, KEY, SUFFIX)
    assert json.loads(path.read_text()) == {
        "theme": "dark",
        "customApiKeyResponses": {"approved": [SUFFIX], "rejected": []},
    }
    assert path.stat().st_ino != inode
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    missing = tmp_path / "missing.json"
    cb.copy_api_key_answer(str(missing), host, KEY, SUFFIX)  # Claude inside asks
    assert not missing.exists()


FLAG_SETTINGS = '{"skipDangerousModePermissionPrompt":true}'


def test_claude_arguments_flag_settings_first():
    assert cb.claude_arguments(()) == ("--settings", FLAG_SETTINGS)
    assert cb.claude_arguments(("-p", "hi", "--", "--settings", "{}")) == (
        "--settings",
        FLAG_SETTINGS,
        "-p",
        "hi",
        "--",
        "--settings",  # after --: claude's prompt text, untouched
        "{}",
    )


def test_claude_arguments_merge_into_the_users_json_settings():
    merged = cb.claude_arguments(("--settings", ' {"model": "opus"} ', "-p", "x"))
    assert merged == (
        "--settings",
        FLAG_SETTINGS,
        "--settings",
        '{"skipDangerousModePermissionPrompt":true,"model":"opus"}',
        "-p",
        "x",
    )
    assert cb.claude_arguments(('--settings={"skipDangerousModePermissionPrompt":false}',)) == (
        "--settings",
        FLAG_SETTINGS,
        '--settings={"skipDangerousModePermissionPrompt":false}',  # the user's own value wins
    )


def test_claude_arguments_leave_a_settings_file_or_broken_json_alone():
    for value in ("./my-settings.json", "{not json}", "[1]", '{"a": 1'):
        assert cb.claude_arguments(("--settings", value)) == (
            "--settings",
            FLAG_SETTINGS,
            "--settings",
            value,
        )
    assert cb.claude_arguments(("--settings",)) == ("--settings", FLAG_SETTINGS, "--settings")


def test_instance_for():
    root = "/home/alice/src/proj"
    instance = cb.instance_for(root, "/home/alice/.claudebox")
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    assert instance == cb.Instance(digest, root, f"/home/alice/.claudebox/instances/{digest}")
    assert instance.claude_store == f"{instance.dir}/claude"
    assert instance.claude_json == f"{instance.dir}/claude/.claude.json"
    assert len(instance.id) == 16
    other = cb.instance_for("/home/alice/src/proj2", "/home/alice/.claudebox")
    assert other.id != instance.id
    assert cb.instance_for(root, "/elsewhere").id == instance.id


def test_host_setup_render():
    assert cb.HostSetup("/h/a b").render() == "mkdir -p -m 700 '/h/a b'"
    assert cb.HostSetup("/h/f", "it's\n").render() == (
        "[ -e /h/f ] || (umask 077 && printf %s 'it'\"'\"'s\n' > /h/f)"
    )


def test_host_setup_render_of_a_file_rewritten_at_launch_names_it_without_its_content():
    """Its content can hold the host's values (an MCP server's env): a comment, no value."""
    step = cb.HostSetup("/i/c/a b", '{"env": {"TOKEN": "canary"}}', mount_point=True, replace=True)
    assert step.render() == ": claudebox rewrites '/i/c/a b' at launch"
    assert cb.HostSetup("/i/layers.json", "{}", replace=True).render() == (
        ": claudebox rewrites /i/layers.json at launch"
    )
    # a comment bash runs as a no-op, whatever the path holds
    out = subprocess.run(
        ["bash", "-euc", step.render() + "; echo ok"], capture_output=True, check=False
    )
    assert (out.returncode, out.stdout) == (0, b"ok\n")


def test_host_setup_render_of_a_mount_point_moves_a_wrong_kind_aside_first():
    assert cb.HostSetup("/i/c/agents", mount_point=True).render() == (
        "{ [ -L /i/c/agents ] || { [ -e /i/c/agents ] && [ ! -d /i/c/agents ]; }; } && "
        'mv -- /i/c/agents /i/c/agents.claudebox-quarantined-"$$"; mkdir -p -m 700 /i/c/agents'
    )
    assert cb.HostSetup("/i/c/a b", "", mount_point=True).render() == (
        "{ [ -L '/i/c/a b' ] || { [ -e '/i/c/a b' ] && [ ! -f '/i/c/a b' ]; }; } && "
        "mv -- '/i/c/a b' '/i/c/a b.claudebox-quarantined'-\"$$\"; "
        "[ -e '/i/c/a b' ] || (umask 077 && printf %s '' > '/i/c/a b')"
    )


def test_looks_secret():
    secret = ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "aws_secret", "PGPASSWORD", "SSH_AUTH_SOCK"]
    plain = ["TERM", "LANG", "EDITOR", "GH_HOST", "HOME"]
    assert [cb.looks_secret(n) for n in secret] == [True] * len(secret)
    assert [cb.looks_secret(n) for n in plain] == [False] * len(plain)


def test_is_within():
    assert cb.is_within("/a/b", "/a")
    assert cb.is_within("/a", "/a")
    assert cb.is_within("/a/b", "/")
    assert not cb.is_within("/ab", "/a")
    assert not cb.is_within("/a", "/a/b")


def test_instance_for_non_utf8_path():
    """os.getcwd() gives a latin-1 directory name as a surrogate escape; hash its bytes."""
    root = "/home/alice/src/caf\udce9"
    instance = cb.instance_for(root, "/home/alice/.claudebox")
    assert instance.id == hashlib.sha256(os.fsencode(root)).hexdigest()[:16]


def test_build_plan_non_utf8_project_path():
    import fakehost as fh

    project = "/home/alice/src/caf\udce9"
    plan = cb.build_plan(fh.make_host(project=project), cb.Options())
    assert cb.Mount(MountOp.BIND_FD, project, project, 37) in plan.mounts
    assert cb.Opened(37, project) in plan.stage.opened
    assert cb.Pin(f"{project}/.git/hooks", Kind.DIR, True, reason="read-only") in plan.stage.pins


@pytest.mark.parametrize(
    ("number", "fix"),
    [
        (errno.ENOSPC, "; no space left on {mount}; free some there (claudebox --gc removes"),
        (errno.EDQUOT, "; your disk quota on {mount} is used up; free some of it"),
        (errno.EROFS, "; {mount} is mounted read-only; claudebox keeps its state in"),
        (errno.EACCES, "; check its permissions"),
        (errno.ELOOP, ""),
    ],
)
def test_a_failed_state_write_says_what_its_errno_needs(tmp_path, number, fix):
    path = str(tmp_path / "instances" / "lock")
    error = cb.state_write_error(f"create {path}", path, OSError(number, os.strerror(number)))
    mount = cb.mount_point(str(tmp_path))
    assert str(error).startswith(
        f"cannot create {path}: {os.strerror(number)}{fix.format(mount=mount)}"
    )
    assert os.path.ismount(mount)


def test_a_project_holding_claudebox_itself_is_found(tmp_path):
    """The running module inside the project, or a checkout's claudebox.py at its top (its
    docstring, or a flake.nix naming claudebox, says so); a claudebox.py of another kind is not."""
    own = os.path.realpath(cb.__file__)
    assert cb.claudebox_checkout(str(tmp_path), own) is None
    assert cb.claudebox_checkout(os.path.dirname(own), own) == own
    module = tmp_path / "claudebox.py"
    module.write_text("print('a project of its own')\n")
    assert cb.claudebox_checkout(str(tmp_path), own) is None
    (tmp_path / "flake.nix").write_text('{ description = "claudebox: ..."; }\n')
    assert cb.claudebox_checkout(str(tmp_path), own) == str(module)
    (tmp_path / "flake.nix").unlink()
    module.write_text(open(own).read())
    assert cb.claudebox_checkout(str(tmp_path), own) == str(module)


def test_the_audit_warns_when_the_project_holds_claudebox_itself():
    host = fh.make_host()._replace(claudebox_checkout=f"{fh.PROJECT}/claudebox.py")
    plan = cb.build_plan(host, cb.Options())
    assert plan.warnings == (
        f"the project holds claudebox itself ({fh.PROJECT}/claudebox.py): the sandbox can change "
        "it, and the next python3 claudebox.py (or build) from it runs that code on the host; "
        "review what changed (git diff) before running it, or run an installed claudebox",
    )
    assert cb.build_plan(fh.make_host(), cb.Options()).warnings == ()
