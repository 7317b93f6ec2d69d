"""Everything claudebox prints is safe to print: printable() makes each code point a terminal
would act on or hide visible as an escape, the edge (write_stdout, write_stderr) applies it to
all output, the renderers apply it to each value (so a value stays on its line, and cannot pass
for one of the audit's own colour codes), and --dry-run quotes such a word $'...' so that the
pasted text still gives the shell the very same bytes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import unicodedata

import fakehost as fh
import pytest

import claudebox as cb
from claudebox import Kind, Tier

# ESC sequences (clear the screen; set the title, ended by BEL), CR, a bidi override (U+202E),
# and a byte that is not UTF-8 (as os.fsdecode gives it: a surrogate escape).
HOSTILE = "\x1b[2J\x1b]0;owned\x07\rfake\u202eevil\udcff"
SHOWN = r"\x1b[2J\x1b]0;owned\x07\rfake\u202eevil\xff"
# One of the audit's own colour codes, and a newline that would start a line of its own.
FORGED = "\x1b[0m\nclaudebox: all is well"
FORGED_SHOWN = r"\x1b[0m\nclaudebox: all is well"
STYLE_CODES = ("\x1b[1;31m", "\x1b[33m", "\x1b[1m", "\x1b[2m", "\x1b[0m")


def assert_safe(text: str, keep: str = "\n") -> None:
    unsafe = sorted({char for char in text if not char.isprintable() and char not in keep})
    assert unsafe == [], text


def without_style(text: str) -> str:
    for code in STYLE_CODES:
        text = text.replace(code, "")
    return text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, SHOWN),
        (FORGED, FORGED_SHOWN),
        ("tab\there\0nul\x7fdel\x9bcsi", r"tab\there\x00nul\x7fdel\x9bcsi"),
        (
            "zero\u200bwidth\ufeffbom\u2028line\u2066isolate",
            r"zero\u200bwidth\ufeffbom\u2028line\u2066isolate",
        ),
        ("tag\U000e0041", r"tag\U000e0041"),
        ("a lone \ud800 surrogate", r"a lone \ud800 surrogate"),
    ],
)
def test_printable_escapes_what_a_terminal_acts_on_or_hides(text, shown):
    assert cb.printable(text) == shown
    assert cb.printable(shown) == shown  # idempotent: escaping twice changes nothing


def test_printable_leaves_every_script_and_symbol_alone():
    ordinary = "café Ünïcødé 中文 Ελληνικά עברית العربية 🙂 … → ~/proj-1.2 (x) 'a' \"b\" \\ $HOME"
    assert cb.printable(ordinary) is ordinary


def test_printable_keeps_what_it_is_told_to():
    assert cb.printable("a\nb\tc\rd", keep="\n\t") == "a\nb\tc\\rd"


def test_printable_escapes_every_control_format_separator_and_surrogate():
    """Per Unicode (this Python's database): every Cc, Cf, Zl, Zp and Cs code point is
    escaped; every letter, mark, number, punctuation and symbol is left as it is."""
    escaped, kept = [], []
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp", "Cs") and cb.printable(char) == char:
            escaped.append(hex(code))
        if category[0] in "LMNPS" and cb.printable(char) != char:
            kept.append(hex(code))
    assert (escaped, kept) == ([], [])


def test_the_edge_escapes_all_output_but_newlines_tabs_and_asked_for_colour(capfdbinary):
    cb.write_stdout(f"out {HOSTILE}\n\tnext\n")
    cb.write_stderr(f"err {HOSTILE}\n")
    cb.write_stderr(f"\x1b[1;31mred {HOSTILE}\x1b[0m\n", colour=True)
    out, err = capfdbinary.readouterr()
    assert out == f"out {SHOWN}\n\tnext\n".encode()
    assert err == f"err {SHOWN}\n\x1b[1;31mred {SHOWN}\x1b[0m\n".encode()


def test_without_colour_the_edge_lets_no_colour_code_through(capfdbinary):
    cb.write_stderr("\x1b[1;31mred\x1b[0m\n")
    assert capfdbinary.readouterr().err == rb"\x1b[1;31mred\x1b[0m" + b"\n"


def test_main_prints_an_error_escaped_on_one_line(capfdbinary):
    assert cb.main(["--gc", HOSTILE + FORGED]) == cb.EXIT_USAGE
    out, err = capfdbinary.readouterr()
    assert out == b""
    assert err.decode() == (  # a word as --dry-run quotes it: $'...', each byte \xNN
        r"claudebox: error: --gc takes no claude arguments (got $'\x1b[2J\x1b]0;owned\x07\x0d"
        r"fake\xe2\x80\xaeevil\xff\x1b[0m\x0aclaudebox: all is well')" + "\n"
    )


def hostile_plan():
    """A host whose project, home entries, symlink targets and profile hold hostile text."""
    project = f"{fh.HOME}/src/proj-{HOSTILE}"
    claude = {
        **fh.CLAUDE_ENTRIES,
        HOSTILE: Kind.FILE,
        FORGED: Kind.DIR,
        "link": (f"/elsewhere/{HOSTILE}", f"/elsewhere/{HOSTILE}", Kind.FILE),
    }
    host = fh.make_host(project=project, claude_home=fh.claude_home(entries=claude))
    profile = cb.Profile(
        "web",
        "--profile",
        ("web",),
        description=(HOSTILE + FORGED, "web"),
        env=(("GREETING", HOSTILE, "web"),),
    )
    options = cb.Options(
        claude_args=("-p", HOSTILE), tier=Tier.FULL, tier_origin="--network", profile=profile
    )
    return cb.build_plan(host, options)


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("colour", [False, True])
def test_the_audit_escapes_every_value_before_its_colour(colour, verbose):
    text = cb.render_audit(hostile_plan(), cb.Style(colour), fh.HOME, verbose=verbose)
    assert_safe(without_style(text))
    assert f"sandbox for {fh.HOME}/src/proj-{SHOWN}/sub" in text
    assert r"\x1b[0m\nclaudebox:" in text  # the description's colour code and newline, shown
    if verbose:
        assert f"    {SHOWN}: read-only" in text.splitlines()
        assert f"    GREETING={SHOWN}  [profile]" in text.splitlines()
        assert f"symlink to /elsewhere/{SHOWN}, not followed" in text
    else:  # a long target gives way in its middle
        assert "~/.claude/link -> /elsewhere/…202eevil\\xff (not followed" in text
    if not colour:
        assert "\x1b" not in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_dry_run_of_hostile_values_is_safe_to_print_and_pastes_the_same_bytes(tmp_path, shell):
    """--dry-run's text holds no raw control (a word holding one is quoted $'...', each such
    character as the bytes it stands for); pasted into bash or zsh in the C locale, it hands
    the launcher the same argv and the same variables as the plan."""
    plan = hostile_plan()
    text, got = fh.pasted_run(tmp_path, plan, {**fh.HOST_ENV, "LC_ALL": "C"}, shell)
    assert_safe(text, keep="\n\t")
    assert [os.fsencode(word) for word in got["argv"][3:]] == [
        os.fsencode(word) for word in plan.argv
    ]
    env = bytes.fromhex(got["data"]["10"])
    assert b"--setenv\0GREETING\0" + os.fsencode(HOSTILE) + b"\0" in env


@pytest.mark.parametrize(
    "word", ["plain", "it's $HOME", "two\nlines\tand a tab", "", HOSTILE, "é\x1b'\\"]
)
def test_shell_quote_is_shlex_quote_unless_a_word_holds_what_printable_escapes(word):
    quoted = cb.shell_quote(word)
    assert_safe(quoted, keep="\n\t")
    if cb.printable(word, keep="\n\t") == word:
        assert quoted == shlex.quote(word)
    for shell in ("bash", "zsh"):
        for locale in ("C", "C.UTF-8"):
            out = subprocess.run(
                [shell, "-c", f"printf %s {quoted}"],
                capture_output=True,
                check=True,
                env={"PATH": os.environ["PATH"], "LC_ALL": locale},
            ).stdout
            assert out == os.fsencode(word), (shell, locale)


def test_the_review_names_hostile_paths_escaped_on_one_line_each():
    findings = [
        cb.Finding(
            "/p/.gitmodules",
            f"created /p/.gitmodules: a symlink to {HOSTILE}{FORGED}",
            f"/p/{HOSTILE}.claudebox-quarantined",
        ),
        cb.Finding("/p/.envrc", f"created /p/{HOSTILE}/.envrc: review it"),
    ]
    text = cb.render_findings(findings)
    assert_safe(text)
    assert text.splitlines() == [
        f"claudebox: warning: the session created /p/.gitmodules: a symlink to {SHOWN}"
        f"{FORGED_SHOWN}; moved it to /p/{SHOWN}.claudebox-quarantined (move it back only if "
        "you trust it)",
        f"claudebox: warning: the session created /p/{SHOWN}/.envrc: review it",
    ]


def test_gc_names_hostile_roots_and_directories_escaped():
    entries = [
        cb.GcEntry(f"/s/instances/{HOSTILE}", f"/gone/{FORGED}", 10, "remove"),
        cb.GcEntry(f"/s/instances/{HOSTILE}", None, 10, "corrupt"),
        cb.GcEntry("/s/instances/x", f"/gone/{HOSTILE}", 10, "in use"),
    ]
    text = cb.render_gc(entries, removed=False)
    assert_safe(text)
    assert text.splitlines()[:3] == [
        f"would remove {SHOWN} (10 B, no session): /gone/{FORGED_SHOWN} no longer exists",
        f"corrupt {SHOWN} (10 B): no usable root or lock file; inspect /s/instances/{SHOWN} "
        "and remove it by hand",
        f"skipped x (10 B): /gone/{SHOWN} is gone but a session is running",
    ]


@pytest.mark.parametrize("colour", [False, True])
def test_check_results_are_escaped_before_their_colour(colour):
    results = [
        cb.CheckResult("bwrap", True, f"bubblewrap 0.8.0 (/opt/{HOSTILE}/bwrap)"),
        cb.CheckResult("canary", False, f"visible: /home/{FORGED}", f"fix {HOSTILE}"),
    ]
    text = cb.render_checks(results, cb.Style(colour))
    assert_safe(without_style(text))
    assert f"ok   bwrap: bubblewrap 0.8.0 (/opt/{SHOWN}/bwrap)" in text
    assert f"FAIL canary: visible: /home/{FORGED_SHOWN}; fix: fix {SHOWN}" in text


def test_profile_listings_escape_names_descriptions_and_errors(tmp_path):
    profiles = tmp_path / ".claudebox" / "profiles"
    profiles.mkdir(parents=True)
    (tmp_path / ".claudebox").chmod(0o700)
    profiles.chmod(0o700)
    (profiles / "web.json").write_text(json.dumps({"description": HOSTILE + FORGED}))
    (profiles / os.fsdecode(os.fsencode(HOSTILE) + b".json")).write_text("{}")
    text = cb.list_profiles(str(tmp_path / ".claudebox"), str(tmp_path))
    assert_safe(text, keep="\n\t")
    lines = text.splitlines()
    assert f"web\tok\t{SHOWN}{FORGED_SHOWN}" in lines
    assert any(line.startswith(f"{SHOWN}\tinvalid: ") for line in lines), lines
