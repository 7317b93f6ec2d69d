"""Network tiers (full, inet, none) against real bwrap and pasta, as an unprivileged user.

The test hosts live in network namespaces this module creates (netlab.py): never a real
external address, never the machine's resolver. Every network read is bounded by a timeout.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import HELPER_STORE, PYTHON, Box
from netlab import (
    ASK_LOOP,
    CONNECT_ALL,
    DNS_SERVER,
    LATER_ROUTES,
    NetLab,
    Target,
    ask,
    connect_arguments,
    key,
    leftover_processes,
    parse_replies,
    start_server,
)

TIERS = ("full", "inet", "allowlist", "none")
NETSEND = f"{HELPER_STORE}/bin/netsend"


@pytest.fixture
def no_leaks(box: Box) -> Iterator[None]:
    """After the test: no pasta, bwrap or probe process of this box is left."""
    yield
    deadline = time.monotonic() + 10
    while (left := leftover_processes(str(box.root))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []


def reach(box: Box, tier: str, targets: list[Target]) -> dict[str, str]:
    result = box.probe(
        CONNECT_ALL, *connect_arguments(targets), options=["--network", tier], timeout=120
    )
    assert result.returncode == 0, result.stderr
    return parse_replies(result.stdout)


def test_the_host_reaches_every_lab_service(box: Box, lab: NetLab) -> None:
    """Control: without a sandbox, the same user and client reach everything."""
    replies = parse_replies(
        subprocess.run(
            box.as_user(
                [
                    f"{box.host_path().split(':')[0]}/sh",
                    "-c",
                    CONNECT_ALL,
                    "probe",
                    *connect_arguments([lab.internet, *lab.blocked[:-1]]),
                ]
            ),
            env=box.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    assert replies == {
        key(target): f"hello {target.name}" for target in [lab.internet, *lab.blocked[:-1]]
    }


def test_inet_reaches_the_internet_but_not_lan_cgnat_or_host(box: Box, lab: NetLab) -> None:
    replies = reach(box, "inet", [lab.internet, *lab.blocked])
    assert replies == {
        key(lab.internet): "hello far",
        key(lab.private_10): "FAIL",
        key(lab.cgnat): "FAIL",
        key(lab.lan): "FAIL",
        key(lab.host_address): "FAIL",
        key(lab.routed_public): "FAIL",
        key(lab.policy_table): "FAIL",
        key(lab.host_loopback): "FAIL",
        f"198.18.0.1:{lab.host_loopback.port}": "FAIL",
    }


def test_inet_blocks_what_the_host_routes_other_than_by_default(box: Box, lab: NetLab) -> None:
    """The host reaches 198.51.100.128/25 through a gateway that is not its default one, and
    198.19.52.0/24 only through table 52 (an ip rule): inet reaches neither, and the audit and
    --dry-run --json say why; the internet, reached only by the default route, stays."""
    result = box.probe(
        CONNECT_ALL,
        *connect_arguments([lab.internet, lab.routed_public, lab.policy_table]),
        options=["--network", "inet"],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert parse_replies(result.stdout) == {
        key(lab.internet): "hello far",
        key(lab.routed_public): "FAIL",
        key(lab.policy_table): "FAIL",
    }
    audit = box.audit("--network", "inet", "true")
    unreachable = [line for line in audit.splitlines() if "    unreachable " in line]
    assert unreachable == [
        "             unreachable 198.19.52.0/24 table 52 via wg0",
        "             unreachable 198.51.100.0/30 (connected to up0)",
        "             unreachable 198.51.100.128/25 via 100.96.0.2 (wg0)",
    ]
    dry = box.run("--dry-run", "--json", "--network", "inet")
    assert dry.returncode == 0, dry.stderr
    blocked = json.loads(dry.stdout)["inet_blocked"]
    assert {"prefix": "198.51.100.128/25", "origin": "via 100.96.0.2 (wg0)", "fixed": False} in (
        blocked
    )
    assert {"prefix": "224.0.0.0/4", "origin": "(multicast)", "fixed": True} in blocked
    assert not any(item["prefix"] in ("0.0.0.0/0", "203.0.113.0/24") for item in blocked)


def test_inet_full_tunnel_pair_leaves_the_internet_reachable(box: Box, lab: NetLab) -> None:
    """0.0.0.0/1 + 128.0.0.0/1, as a full-tunnel VPN installs them, are the internet."""
    pair = ("0.0.0.0/1", "128.0.0.0/1")
    for prefix in pair:
        lab.host_ip("route", "add", prefix, "via", "198.51.100.2", "dev", "up0")
    try:
        replies = reach(box, "inet", [lab.internet, lab.lan, lab.routed_public])
        dry = box.run("--dry-run", "--json", "--network", "inet")
    finally:
        for prefix in pair:
            lab.host_ip("route", "del", prefix)
    assert replies == {
        key(lab.internet): "hello far",
        key(lab.lan): "FAIL",
        key(lab.routed_public): "FAIL",
    }
    prefixes = [item["prefix"] for item in json.loads(dry.stdout)["inet_blocked"]]
    assert not set(pair) & set(prefixes)


@pytest.mark.parametrize("change", list(LATER_ROUTES))
def test_inet_blocks_what_the_host_comes_to_route_within_a_second(
    box: Box, lab: NetLab, change: str
) -> None:
    """A network the host starts routing while a session runs (through the VPN gateway, by a
    new table and policy rule, or as the subnet of a new address) is unreachable inside within
    a second; the internet stays reachable, and the host itself reaches that network."""
    later = f"{lab.later.address} {lab.later.port}"
    with box.running(ASK_LOOP, "--network", "inet") as process:
        assert ask(box.project, f"{lab.internet.address} {lab.internet.port}") == "hello far|"
        assert ask(box.project, later) == "FAIL"  # the host routes nothing there yet
        try:
            for command, _undo in LATER_ROUTES[change]:
                lab.host_ip(*command.split())
            added = time.monotonic()
            answers = []
            while (answer := ask(box.project, later)) != "FAIL":
                answers.append(answer)
                assert time.monotonic() < added + 1.0, answers
            assert [ask(box.project, later) for _ in range(3)] == ["FAIL"] * 3
            assert ask(box.project, f"{lab.internet.address} {lab.internet.port}") == "hello far|"
            control = subprocess.run(
                box.as_user(["/bin/sh", "-c", f"nc -w 3 {later} </dev/null"]),
                env=box.env(),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert control.stdout == "hello vpn\n", control.stderr
        finally:
            for _command, undo in reversed(LATER_ROUTES[change]):
                lab.host_ip(*undo.split())
        (box.project / "stop").touch()
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None
        assert "warning" not in process.stderr.read()
    log = "".join(
        path.read_text()
        for path in (box.home / ".claudebox" / "instances").glob("*/network-log/*.log")
    )
    assert "routes: the host now routes 198.19.60.0/24 " in log, log
    assert "blocked inside" in log


def test_inet_keeps_the_internet_when_a_full_tunnel_vpn_comes_up_half_by_half(
    box: Box, lab: NetLab
) -> None:
    """A VPN adds 128.0.0.0/1, then (a moment later) 0.0.0.0/1: the pair is the internet, so
    neither half is blocked; a route added after them is (which shows the pair was judged)."""
    internet = f"{lab.internet.address} {lab.internet.port}"  # in 128.0.0.0/1
    later = f"{lab.later.address} {lab.later.port}"
    with box.running(ASK_LOOP, "--network", "inet") as process:
        try:
            lab.host_ip("route", "add", "128.0.0.0/1", "via", "198.51.100.2", "dev", "up0")
            time.sleep(0.1)  # the watcher sees the first half alone
            lab.host_ip("route", "add", "0.0.0.0/1", "via", "198.51.100.2", "dev", "up0")
            lab.host_ip(*LATER_ROUTES["route"][0][0].split())
            deadline = time.monotonic() + 5
            while ask(box.project, later) != "FAIL":
                assert time.monotonic() < deadline
            assert ask(box.project, internet) == "hello far|"
        finally:
            lab.host_ip(*LATER_ROUTES["route"][0][1].split())
            for half in ("0.0.0.0/1", "128.0.0.0/1"):
                lab.host_ip("route", "del", half)
        (box.project / "stop").touch()
        assert process.wait(timeout=20) == 0
    log = "".join(
        path.read_text()
        for path in (box.home / ".claudebox" / "instances").glob("*/network-log/*.log")
    )
    assert "routes: the host now routes 198.19.60.0/24 " in log
    assert ".0.0.0/1" not in log


def test_inet_is_cut_off_when_its_blocks_cannot_follow_the_host(box: Box, lab: NetLab) -> None:
    """A network the host comes to route inside the inet tier's own link cannot be blocked
    there (the sandbox would lose its link): within a second the sandbox reaches no network but
    through claudebox's proxy (which still works), the network log says why at once and
    claudebox says it after the session."""
    internet = f"{lab.internet.address} {lab.internet.port}"
    with box.running(ASK_LOOP, "--network", "inet") as process:
        assert ask(box.project, internet) == "hello far|"
        try:
            lab.host_ip("route", "add", "198.18.0.0/30", "via", "100.96.0.2", "dev", "wg0")
            added = time.monotonic()
            answers = []
            while (answer := ask(box.project, internet)) != "FAIL":
                answers.append(answer)
                assert time.monotonic() < added + 1.0, answers
            assert ask(box.project, f"CONNECT {internet}").endswith("|hello far|")
        finally:
            lab.host_ip("route", "del", "198.18.0.0/30")
        (box.project / "stop").touch()
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None
        stderr = process.stderr.read()
    overlap = (
        "the host network 198.18.0.0/30 via 100.96.0.2 (wg0) overlaps the inet tier's own link "
        "198.18.0.0/30"
    )
    assert "claudebox: warning: the host's routing changed at " in stderr
    assert f"could not follow ({overlap}; use --network full" in stderr
    assert "it was cut off every network but claudebox's proxy; see its network log" in stderr
    log = "".join(
        path.read_text()
        for path in (box.home / ".claudebox" / "instances").glob("*/network-log/*.log")
    )
    assert f"routes: {overlap}" in log
    assert "cutting the sandbox off every network but claudebox's proxy" in log


def test_inet_multicast_never_reaches_a_directly_connected_segment(box: Box, lab: NetLab) -> None:
    """mDNS and SSDP sent inside, also the ways the kernel sends multicast and broadcast without
    a route lookup (an explicit interface, a bound source address, IP_PKTINFO), reach no
    listener on the host's LAN; the host's own multicast does (the control)."""
    modes = ("plain", "multicast-if", "device", "source", "pktinfo")
    tag = f"sandbox-{uuid.uuid4().hex[:8]}"
    snippet = (
        f"{NETSEND} {tag} 239.255.255.250 1900 {' '.join(modes)}; "
        f"{NETSEND} {tag} 224.0.0.251 5353 {' '.join(modes)}; "
        f"{NETSEND} {tag} 255.255.255.255 1900 broadcast broadcast-device; "
        f"{NETSEND} {tag} 198.18.0.3 1900 broadcast broadcast-device"
    )
    result = box.probe(snippet, options=["--network", "inet"], timeout=120)
    assert result.returncode == 0, result.stderr
    # The control, sent after the sandbox ended: the host's own multicast arrives.
    control = f"control-{uuid.uuid4().hex[:8]}"
    for group in ("239.255.255.250 1900", "224.0.0.251 5353"):
        subprocess.run(
            box.as_user([NETSEND, control, *group.split(), "plain"]), check=True, timeout=20
        )
    deadline = time.monotonic() + 20
    while sum(control in line for line in lab.multicast_received()) < 2:
        assert time.monotonic() < deadline, lab.multicast_received()
        time.sleep(0.1)
    assert [line for line in lab.multicast_received() if tag in line] == []
    outcomes = [line.rsplit(" ", 2)[-2:] for line in result.stdout.splitlines()]
    assert len(outcomes) == 14, result.stdout
    refused = [f"errno {errno.EPERM}", f"errno {errno.EHOSTUNREACH}", f"errno {errno.ENETUNREACH}"]
    assert all(" ".join(outcome) in refused for outcome in outcomes), result.stdout


def test_inet_routes_cannot_be_removed_inside(box: Box, lab: NetLab) -> None:
    result = box.probe(
        "ip route del 10.0.0.0/8; echo del=$?; ip route del 100.64.0.0/10; echo del=$?; "
        "ip -4 route",
        options=["--network", "inet"],
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.startswith("del=") and line != "del=0" for line in lines[:2]] == [True, True]
    routes = {line.split()[1] for line in lines[2:] if line.startswith("unreachable")}
    assert routes == {
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "224.0.0.0/3",  # multicast 224.0.0.0/4 and the reserved 240.0.0.0/4, merged
        "198.51.100.0/30",
        "198.51.100.128/25",
        "198.19.52.0/24",
    }
    assert "RTNETLINK answers: Operation not permitted" in result.stdout + result.stderr


def test_inet_dns_resolves_through_the_tests_responder(box: Box, lab: NetLab) -> None:
    """pasta relays queries sent to its --dns-forward address to the host's resolver: here a
    responder on 127.0.0.1:53, named by a resolv.conf bound over /etc/resolv.conf in a private
    mount namespace (the machine's own resolver is never asked)."""
    responder = start_server(
        lab.in_ns("host", PYTHON, "-c", DNS_SERVER, "internet.claudebox.test", "203.0.113.10")
    )
    scratch = Path(tempfile.mkdtemp(prefix="claudebox-dns-", dir="/tmp"))
    try:
        resolv = scratch / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")
        resolv.chmod(0o644)
        scratch.chmod(0o755)
        snippet = (
            "cat /etc/resolv.conf; nslookup internet.claudebox.test; "
            "nc -w 3 internet.claudebox.test 8471 </dev/null | head -n 1"
        )
        result = box.run_with_bind(
            resolv, "/etc/resolv.conf", "--yes", "--network", "inet", snippet, timeout=120
        )
    finally:
        responder.kill()
        queries, _ = responder.communicate(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nameserver 198.18.0.1\n")
    assert "Address: 203.0.113.10" in result.stdout
    assert "query internet.claudebox.test 1" in queries
    # busybox nc resolves the name itself (static binary, /etc/resolv.conf): the full path works.
    assert result.stdout.rstrip().endswith("hello far")


def test_none_has_only_loopback_and_the_daemon_socket(
    box: Box, lab: NetLab, nix_daemon: None
) -> None:
    result = box.probe(
        "ip -o link | cut -d: -f2 | tr -d ' '; "
        "test -S /nix/var/nix/daemon-socket/socket && echo daemon-socket; " + CONNECT_ALL,
        *connect_arguments([lab.internet, lab.host_loopback]),
        options=["--network", "none"],
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["lo", "daemon-socket"], result.stdout
    assert parse_replies(result.stdout) == {
        key(lab.internet): "FAIL",
        key(lab.host_loopback): "FAIL",
    }


def test_full_reaches_everything_the_host_reaches(box: Box, lab: NetLab) -> None:
    targets = [lab.internet, *lab.blocked[:-1]]
    assert reach(box, "full", targets) == {
        key(target): f"hello {target.name}" for target in targets
    }


@pytest.mark.parametrize("tier", TIERS)
def test_exit_codes_pass_through(box: Box, lab: NetLab, no_leaks: None, tier: str) -> None:
    assert box.probe("exit 0", options=["--network", tier]).returncode == 0
    assert box.probe("exit 3", options=["--network", tier]).returncode == 3
    with box.running("touch ready; exec sleep 60", "--network", tier) as process:
        # The leak scan sees the running chain (so an empty scan afterwards means something).
        running = " ".join(leftover_processes(str(box.root)))
        assert "bwrap" in running and "sleep 60" in running
        assert ("pasta" in running) == (tier == "inet")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("tier", TIERS)
def test_signals_to_claudebox_reach_claude_and_its_status_returns(
    box: Box, lab: NetLab, no_leaks: None, tier: str, signum: signal.Signals
) -> None:
    name = signum.name.removeprefix("SIG")
    snippet = (
        f"trap 'echo {name} > got-signal; exit 42' {name}; touch ready; while :; do sleep 0.1; done"
    )
    with box.running(snippet, "--network", tier) as process:
        process.send_signal(signum)
        assert process.wait(timeout=20) == 42
    assert (box.project / "got-signal").read_text() == f"{name}\n"


def host_pid_of(marker: str) -> int:
    """The host pid of the sandboxed `sleep MARKER`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline[:2] == [b"sleep", marker.encode()]:
                return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"no sleep {marker} process found")


@pytest.mark.parametrize("tier", TIERS)
def test_sigkill_to_claude_and_ctrl_c_leave_nothing(
    box: Box, lab: NetLab, no_leaks: None, tier: str
) -> None:
    marker = f"{os.getpid() % 1000 + 100}.{time.time_ns() % 997}"
    process = box.start(
        "--yes",
        "--network",
        tier,
        f"exec sleep {marker}",
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        os.kill(host_pid_of(marker), signal.SIGKILL)
        assert process.wait(timeout=20) == 128 + signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    # Ctrl-C: SIGINT to the whole foreground process group (claudebox, pasta, bwrap, claude).
    with box.running(
        "touch ready-int; exec sleep 60", "--network", tier, ready="ready-int"
    ) as process:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=20) == 128 + signal.SIGINT


@pytest.mark.parametrize("tier", TIERS)
def test_sigkill_to_claudebox_leaves_nothing(
    box: Box, lab: NetLab, no_leaks: None, tier: str
) -> None:
    """pasta has no die-with-parent option: claudebox arranges one (bwrap then follows)."""
    with box.running("touch ready; exec sleep 60", "--network", tier) as process:
        process.kill()  # claudebox itself (setpriv execs it: same pid)
        assert process.wait(timeout=20) == -signal.SIGKILL


def test_twenty_inet_start_stop_cycles_leave_nothing(box: Box, lab: NetLab, no_leaks: None) -> None:
    for cycle in range(20):
        snippet = f"touch ready-{cycle}; exec sleep 60"
        with box.running(snippet, "--network", "inet", ready=f"ready-{cycle}") as process:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 128 + signal.SIGTERM


def test_inet_without_pasta_exits_127_and_never_falls_back(box: Box) -> None:
    # no pasta anywhere (openssl there: the launch gets as far as the network)
    result = box.probe("echo ran", env={"PATH": box.store_path("bwrap", "openssl")})
    assert result.returncode == 127, result.stderr
    assert "ran" not in result.stdout
    last = result.stderr.splitlines()[-1]
    assert last.startswith("claudebox: error: pasta not found on PATH"), last
    assert "passt" in last and "--network full" in last


def test_inet_with_unusable_dev_net_tun_says_so(box: Box) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="claudebox-tun-", dir="/tmp"))
    blocked = scratch / "tun"  # root's, mode 0600: the test user cannot open it
    blocked.write_text("")
    blocked.chmod(0o600)
    try:
        result = box.run_with_bind(
            blocked, "/dev/net/tun", "--yes", "--network", "inet", "echo ran"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.returncode == 1, result.stderr
    assert "ran" not in result.stdout
    assert result.stderr.splitlines()[-1].startswith("claudebox: error: /dev/net/tun is not usable")


def test_inet_dry_run_prints_the_chain_and_pastes_into_bash(box: Box, lab: NetLab) -> None:
    dry = box.run("--dry-run", "--network", "inet", "ip -4 route > routes.txt; exit 5")
    assert dry.returncode == 0, dry.stderr
    assert '"--no-map-gw"' in dry.stdout and '"--dns-forward", "198.18.0.1"' in dry.stdout
    assert '"-t", "none"' in dry.stdout and '"-T", "none"' in dry.stdout
    pasted = box.paste(dry.stdout)
    assert pasted.returncode == 5, pasted.stderr
    routes = (box.project / "routes.txt").read_text()
    assert "unreachable 100.64.0.0/10" in routes
    assert "default via 198.18.0.1" in routes
