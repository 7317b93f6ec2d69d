"""Red team, processes: host processes are invisible, cannot be signalled or traced.

The victim is a host process of the SAME user (the strongest case: outside a sandbox that user
may signal and, without Yama restrictions or with PR_SET_PTRACER_ANY, trace it). Its host pid
is handed to the attack; controls run the same attack outside first.
"""

from __future__ import annotations

import os
import signal

import pytest
from harness import Box
from rtlib import HELPER, SH, TIERS, host_process, on_host, tier


@pytest.mark.parametrize("network", TIERS)
def test_host_processes_are_invisible(box: Box, network: str) -> None:
    with host_process(box, ["/bin/sleep", "300"]) as victim:
        assert on_host(box, "test -e /proc/$1 && echo visible", str(victim.pid)) == "visible\n"
        result = box.probe(
            "test -e /proc/$1 && echo visible; ls -d /proc/[0-9]* | wc -l; "
            "tr '\\0' ' ' < /proc/1/cmdline",
            str(victim.pid),
            options=tier(network),
        )
    assert result.returncode == 0, result.stderr
    count, init = result.stdout.split("\n", 1)
    assert int(count) <= 6  # bwrap's init, the probe and its pipeline
    assert init.split()[0].endswith("bwrap")  # pid 1 is bwrap's init: a pid namespace


@pytest.mark.parametrize("network", TIERS)
def test_killing_a_host_process_fails_and_it_survives(box: Box, network: str) -> None:
    # The victim says it is ready once it runs as the test user (setpriv has switched): a kill
    # before then would fail for the control too.
    sleeper = [SH, "-c", "echo ready; exec /bin/sleep 300"]
    with host_process(box, sleeper, ready=True) as control_victim:
        on_host(box, "kill -TERM $1", str(control_victim.pid))
        assert control_victim.wait(timeout=10) == -signal.SIGTERM  # control: it works outside
    with host_process(box, sleeper, ready=True) as victim:
        result = box.probe(
            "kill -KILL $1; echo kill=$?; kill -0 $1; echo probe=$?; kill -KILL -1",
            str(victim.pid),
            options=tier(network),
        )
        assert victim.poll() is None  # survived kill PID and kill -1 (all the user may signal)
        os.kill(victim.pid, 0)
    assert result.stdout.splitlines()[:2] == ["kill=1", "probe=1"], result.stderr


@pytest.mark.parametrize("network", TIERS)
def test_ptrace_attach_and_seize_of_a_host_process_fail(box: Box, network: str) -> None:
    helper = f"{HELPER}/ptrace"
    with host_process(box, [helper, "target"], ready=True) as victim:
        control = on_host(box, f"{helper} attach $1", str(victim.pid))
        assert control.split("\n")[:2] == ["attach ok", "seize ok"]
        result = box.probe(f"{helper} attach $1", str(victim.pid), options=tier(network))
        assert victim.poll() is None
    assert result.stdout.splitlines() == ["attach errno 3", "seize errno 3"], result.stderr
