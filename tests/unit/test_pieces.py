"""Small pure pieces: mount ordering, generated files, instance keys, HostSetup rendering."""

from __future__ import annotations

import hashlib
import json
import os

import claudebox as cb


def test_order_mounts_parents_first_stable():
    mounts = [
        cb.Mount("bind", "/home/a/p/.git/hooks", "/home/a/p/.git/hooks"),
        cb.Mount("bind", "/home/a/p", "/home/a/p"),
        cb.Mount("tmpfs", "/home/a"),
        cb.Mount("tmpfs", "/"),
        cb.Mount("ro-bind", "/nix/store", "/nix/store"),
        cb.Mount("tmpfs", "/tmp"),
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
        cb.Mount("tmpfs", "/"),
        cb.Mount("bind", "/x", "/src1"),
        cb.Mount("tmpfs", "/y"),
        cb.Mount("ro-bind", "/x", "/src2"),
    ]
    assert cb.order_mounts(mounts) == (
        cb.Mount("tmpfs", "/"),
        cb.Mount("tmpfs", "/y"),
        cb.Mount("ro-bind", "/x", "/src2"),
    )


def test_order_mounts_every_parent_precedes_child():
    mounts = [
        cb.Mount("bind", d, d)
        for d in ("/a/b/c/d", "/a", "/a/b/c", "/z/y", "/a/b", "/z", "/a/bb", "/a/b/cc")
    ]
    ordered = [m.dst for m in cb.order_mounts(mounts)]
    for i, child in enumerate(ordered):
        for parent in ordered[i + 1 :]:
            assert not (child != parent and cb.is_within(child, parent)), (parent, child)


def test_mount_to_args_and_mode():
    assert cb.Mount("tmpfs", "/tmp").to_args() == ["--tmpfs", "/tmp"]
    assert cb.Mount("ro-bind", "/d", "/s").to_args() == ["--ro-bind", "/s", "/d"]
    assert cb.Mount("ro-bind-data", "/d", fd=11).to_args() == ["--ro-bind-data", "11", "/d"]
    assert cb.Mount("symlink", "/bin/sh", "/nix/store/x/sh").to_args() == [
        "--symlink",
        "/nix/store/x/sh",
        "/bin/sh",
    ]
    modes = [
        cb.Mount(op, "/d", "/s").mode
        for op in ("tmpfs", "dir", "proc", "symlink", "ro-bind-try", "bind-try", "bind")
    ]
    assert modes == ["tmpfs", "tmpfs", "proc", "link", "ro", "rw", "rw"]


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
    import subprocess

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


def test_claude_json_seed_allowlist_only():
    host_json = {
        "theme": "dark",
        "hasCompletedOnboarding": True,
        "oauthAccount": {"emailAddress": "a@b"},
        "mcpServers": {"db": {"env": {"PASSWORD": "canary"}}},
        "projects": {"/home/a/other": {"allowedTools": []}},
        "customApiKeyResponses": {"approved": ["sk-ant"]},
        "primaryApiKey": "sk-ant-canary",
        "numStartups": 12,
    }
    seed = cb.claude_json_seed(host_json)
    assert json.loads(seed) == {
        "theme": "dark",
        "hasCompletedOnboarding": True,
        "oauthAccount": {"emailAddress": "a@b"},
    }
    assert "canary" not in seed
    assert seed.endswith("}\n")
    assert cb.claude_json_seed({}) == "{}\n"


KEY = "sk-ant-api03-" + "x" * 60 + "ENDS-WITH-20-CHARS-1"  # the last 20: "ENDS-WITH-20-CHARS-1"
SUFFIX = "ENDS-WITH-20-CHARS-1"


def test_api_key_answer_copies_the_hosts_answer_for_the_sandboxs_key_only():
    host = {"customApiKeyResponses": {"approved": ["other-key-approved-1", SUFFIX], "rejected": []}}
    instance = {"theme": "dark", "numStartups": 3}
    assert cb.api_key_answer(host, instance, KEY) == {
        "theme": "dark",
        "numStartups": 3,
        "customApiKeyResponses": {"approved": [SUFFIX], "rejected": []},
    }
    rejected = {"customApiKeyResponses": {"rejected": [SUFFIX]}}
    assert cb.api_key_answer(rejected, {}, KEY) == {
        "customApiKeyResponses": {"approved": [], "rejected": [SUFFIX]}
    }


def test_api_key_answer_keeps_the_answer_given_inside():
    host = {"customApiKeyResponses": {"approved": [SUFFIX]}}
    answered = {
        "customApiKeyResponses": {"approved": ["another-one-approved"], "rejected": [SUFFIX]}
    }
    assert cb.api_key_answer(host, answered, KEY) is None
    # another key's answer inside stays next to the copied one
    other = {"customApiKeyResponses": {"approved": ["another-one-approved"], "rejected": []}}
    assert cb.api_key_answer(host, other, KEY) == {
        "customApiKeyResponses": {"approved": ["another-one-approved", SUFFIX], "rejected": []}
    }


def test_api_key_answer_nothing_to_add():
    host = {"customApiKeyResponses": {"approved": [SUFFIX]}}
    assert cb.api_key_answer(host, {}, None) is None
    assert cb.api_key_answer(host, {}, "") is None
    assert cb.api_key_answer({}, {}, KEY) is None
    assert cb.api_key_answer({"customApiKeyResponses": "broken"}, {}, KEY) is None
    assert cb.api_key_answer({"customApiKeyResponses": {"approved": "x"}}, {}, KEY) is None


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
    assert len(instance.id) == 16
    other = cb.instance_for("/home/alice/src/proj2", "/home/alice/.claudebox")
    assert other.id != instance.id
    assert cb.instance_for(root, "/elsewhere").id == instance.id


def test_host_setup_render():
    assert cb.HostSetup("/h/a b").render() == "mkdir -p -m 700 '/h/a b'"
    assert cb.HostSetup("/h/f", "it's\n").render() == (
        "[ -e /h/f ] || (umask 077 && printf %s 'it'\"'\"'s\n' > /h/f)"
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
    host = fh.make_host(project=project, cwd=project, canonical_root=project)
    plan = cb.build_plan(host, cb.Options(), ())
    assert ("bind", project, project) in [(m.op, m.src, m.dst) for m in plan.mounts]
