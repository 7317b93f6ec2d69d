"""When the host says no: a full ~/.claudebox and the user-namespace count limit, for real (a
small tmpfs as the state directory; a user namespace of the test's own whose limit is low)."""

from __future__ import annotations

import subprocess
import textwrap

from harness import PYTHON, Box

# Runs as the test user: a user namespace of its own (its owner may set its
# user.max_user_namespaces, which counts only below it: the machine's stays as it is), that
# limit set to 1 and used up by a namespace a child holds, then the command.
AT_THE_NAMESPACE_LIMIT = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWUSER = 0x10000000
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    for name, text in (
        ("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")
    ):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    with open("/proc/sys/user/max_user_namespaces", "w") as handle:
        handle.write("1")
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    if os.fork() == 0:
        os.close(ready_r)
        os.close(hold_w)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(3)
        os.write(ready_w, b"r")
        os.read(hold_r, 1)  # holds its namespace until the command has ended
        os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    if os.read(ready_r, 1) != b"r":
        sys.exit("the holder could not make its namespace")
    os.set_inheritable(hold_w, True)
    os.execv(sys.argv[1], sys.argv[1:])
    """
)


def test_a_full_state_directory_says_no_space_left_and_what_to_free(box: Box) -> None:
    state = box.mkdir(box.home / ".claudebox")
    uid, gid = box.user.pw_uid, box.user.pw_gid
    result = subprocess.run(
        [
            *box.private_mounts(),
            "/bin/sh",
            "-c",
            f'/usr/bin/mount -t tmpfs -o size=64k,uid={uid},gid={gid},mode=0700 tmpfs "$0" && '
            '{ /usr/bin/head -c 1M /dev/zero > "$0/filler" 2>/dev/null; exec "$@"; }',
            str(state),
            *box.command(["--yes", "true"], enter_mount=False),
        ],
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    error = result.stderr.splitlines()[-1]
    assert error.startswith(f"claudebox: error: cannot create {state}/"), error
    assert f": No space left on device; no space left on {state}; free some there" in error
    assert "claudebox --gc" in error
    assert "permissions" not in error and "Traceback" not in result.stderr


def test_the_user_namespace_limit_is_named_with_its_sysctl(box: Box) -> None:
    script = box.write(box.root / "limit.py", AT_THE_NAMESPACE_LIMIT, mode=0o644)
    result = subprocess.run(
        box.as_user([PYTHON, str(script), PYTHON, str(box.module), "--yes", "true"]),
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    error = result.stderr.splitlines()[-1]
    assert error.startswith(
        "claudebox: error: cannot create the sandbox's namespaces (unshare: No space left on "
        "device): a namespace count limit is reached (ENOSPC from unshare with CLONE_NEWUSER"
    ), error
    assert "user.max_user_namespaces = 1" in error
    assert "sysctl -w user.max_user_namespaces=" in error
    assert "Errno" not in result.stderr
