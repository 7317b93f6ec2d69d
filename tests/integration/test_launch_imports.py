"""The launch path imports only what the full tier needs (issue 26: a guard on launch cost).

Every module a launch imports costs it 1-3 ms (claudebox.py's LazyModule comment), so the
modules a full-tier session and a `--dry-run` import are a fixed list: claudebox runs as the
Nix package's wrapper runs it (`python3 -I -S`, no site), with `-X importtime`, and a module
outside the list fails the test with its name. A module a launch newly needs goes into the list
on purpose, with the reason beside it; one it imports by accident (a top-level import of
something only the inet tier, a review or the relay's rarer paths use) fails here.
"""

from __future__ import annotations

import re
import subprocess

from harness import PYTHON, Box

# What claudebox.py's header imports (argparse, collections, contextlib, enum, errno, fcntl,
# itertools, json, os, re, shlex, signal, stat, struct, time) with what those import, and what
# every launch reads first: the account (pwd, grp), the instance's name (_sha256), git's
# answers (select). The interpreter's own start (`-c pass`) is measured and allowed besides.
EVERY_LAUNCH = frozenset(
    """
    __future__ _collections _collections_abc _functools _json _locale _operator _sha256 _sre
    _stat _struct argparse collections collections.abc contextlib copyreg encodings.ascii enum
    errno fcntl functools genericpath gettext grp itertools json json.decoder json.encoder
    json.scanner keyword locale operator os posixpath pwd re re._casefix re._compiler
    re._constants re._parser reprlib select shlex signal stat struct types warnings
    """.split()
)
# What a full-tier session adds, each for a step it cannot skip: the stage pins with ctypes
# (libc's mount calls) and lifts its descriptor limit with resource; the login relay (in every
# tier: Claude's login never enters) listens with socket, serves with threads and selectors,
# and terminates TLS for Claude's hosts with ssl (made while Claude starts: base64, binascii).
FULL_SESSION = frozenset(
    """
    _ctypes _socket _ssl _weakrefset array base64 binascii ctypes ctypes._endian math
    resource selectors socket ssl threading
    """.split()
)
# What only other paths need (the inet tier's address checks, a profile's packages, the
# review's rarer steps): one of them in a full-tier launch or a dry run is what this test is
# here to catch (named so a reader sees what the guard guards).
NOT_FOR_A_FULL_LAUNCH = ("ipaddress", "subprocess", "typing", "tempfile", "pathlib", "hashlib")

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$")


def imported(stderr: str) -> set[str]:
    """The modules `-X importtime` reported, by full name."""
    return {m.group(2) for m in map(IMPORT_LINE.match, stderr.splitlines()) if m}


def interpreter_start(box: Box) -> set[str]:
    result = subprocess.run(
        box.as_user([PYTHON, "-I", "-S", "-X", "importtime", "-c", "pass"]),
        capture_output=True,
        text=True,
        check=True,
    )
    return imported(result.stderr)


def claudebox_imports(box: Box, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        box.as_user([PYTHON, "-I", "-S", "-X", "importtime", str(box.module), *args]),
        env=box.env(),
        cwd=box.project,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )
    return imported(result.stderr), result


def unneeded(modules: set[str], allowed: frozenset[str], start: set[str]) -> list[str]:
    return sorted(modules - start - allowed)


def test_a_full_tier_session_imports_only_what_it_needs(box: Box) -> None:
    subprocess.run(box.as_user(["/usr/bin/git", "init", "-q", str(box.project)]), check=True)
    start = interpreter_start(box)
    modules, result = claudebox_imports(box, "--yes", "--network", "full", "echo ran")
    assert result.returncode == 0, result.stderr
    assert "ran" in result.stdout + result.stderr
    assert "argparse" in modules  # (the control: importtime reports what it imports)
    assert unneeded(modules, EVERY_LAUNCH | FULL_SESSION, start) == [], result.stderr


def test_a_dry_run_imports_only_what_a_full_session_does(box: Box) -> None:
    subprocess.run(box.as_user(["/usr/bin/git", "init", "-q", str(box.project)]), check=True)
    start = interpreter_start(box)
    modules, result = claudebox_imports(box, "--dry-run", "--network", "full")
    assert result.returncode == 0, result.stderr
    assert "argparse" in modules
    # A dry run starts no stage, no relay: only what every launch imports.
    assert unneeded(modules, EVERY_LAUNCH, start) == [], result.stderr


def test_the_guard_catches_a_module_the_full_tier_does_not_need(box: Box) -> None:
    """The control: the same check on a launch that imports ipaddress (the inet tier's) fails."""
    start = interpreter_start(box)
    result = subprocess.run(
        box.as_user(
            [PYTHON, "-I", "-S", "-X", "importtime", "-c", "import ipaddress, sys; sys.exit(0)"]
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    assert unneeded(imported(result.stderr), EVERY_LAUNCH | FULL_SESSION, start) == ["ipaddress"]
    assert set(NOT_FOR_A_FULL_LAUNCH).isdisjoint(EVERY_LAUNCH | FULL_SESSION)
