"""Red team, terminal: keystroke injection into the host terminal (TIOCSTI) fails in every tier.

The test allocates a pty, makes it claudebox's controlling terminal and stdin, and the static
helper (tests/integration/helpers/tiocsti.c) pushes a byte into it from inside; "wide" carries
junk in the request's upper 32 bits (CVE-2019-10063). Control: the same helper, same user, same
kind of terminal, no sandbox: the injection works.
"""

from __future__ import annotations

import pytest
from harness import Box
from rtlib import HELPER, TIERS, tier
from test_sandbox import run_on_pty


@pytest.mark.parametrize("network", TIERS)
def test_tiocsti_into_the_controlling_terminal_fails(box: Box, network: str) -> None:
    helper = f"{HELPER}/tiocsti"
    outside, _ = run_on_pty(box.as_user([helper]), box.env(), box.project)
    assert outside.strip() == "tiocsti ok"
    inside, pending = run_on_pty(
        box.command(["--yes", *tier(network), f"{helper} x X; {helper} wide W"]),
        box.env(),
        box.project,
    )
    assert inside.splitlines()[:2] == ["tiocsti errno 1", "tiocsti errno 1"]
    assert b"X" not in pending and b"W" not in pending
