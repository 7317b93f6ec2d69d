"""The inet tier's blocked set, from netlink dumps recorded in lab namespaces (netlink/record.py
sets each scenario up with `ip` and writes the raw bytes claudebox reads at launch)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

import fakehost as fh
import pytest

import claudebox as cb

RECORDED = Path(__file__).parent / "netlink"


def recorded(scenario: str) -> cb.HostRouting:
    dumps = {
        name: (RECORDED / scenario / f"{name}.bin").read_bytes()
        for name in ("links", "addresses", "rules", "routes")
    }
    return cb.parse_routing(**dumps)


def blocked(routing: cb.HostRouting) -> list[str]:
    return [item.describe() for item in cb.inet_blocked_set(routing)]


# --- recorded hosts -------------------------------------------------------------------------


def test_laptop_blocks_every_network_routed_other_than_by_default():
    assert blocked(recorded("laptop")) == [
        *fh.INET_FIXED_BLOCKED,
        "198.18.64.0/18 via 192.168.1.253 (eth0), 192.168.1.254 (eth0)",
        "198.19.0.0/16 via 192.168.1.254 (eth0)",
        "198.51.100.0/25 table 52 via tailscale0",
        "198.51.100.200/29 table local (local to the host on lo)",
        "198.51.100.224/27 table default via eth0",
        "203.0.113.0/24 via wg0",
    ]


def test_laptop_dumps_parse_to_rules_and_routes_of_every_table():
    routing = recorded("laptop")
    assert [(rule.priority, rule.table) for rule in routing.rules] == [
        (0, 255),
        (5270, 52),
        (32766, 254),
        (32767, 253),
    ]
    assert cb.routing_tables(routing) == [255, 52, 254, 253]
    by_destination = {(route.table, route.destination): route for route in routing.routes}
    assert by_destination[(254, "0.0.0.0/0")].nexthops == (("192.168.1.1", "eth0"),)
    assert by_destination[(254, "192.168.1.0/24")].protocol == cb.RTPROT_KERNEL
    assert by_destination[(52, "127.0.0.0/8")].kind == 9  # throw: not a destination
    assert by_destination[(254, "192.0.0.0/24")].kind == 6  # blackhole: not either
    # Table 99 has a route, but no rule looks it up: the host never uses it.
    assert (99, "198.51.100.128/26") in by_destination
    assert cb.HostAddress("192.168.1.23", 24, "eth0") in routing.addresses


def test_full_tunnel_vpns_leave_the_internet_reachable():
    """OpenVPN's 0.0.0.0/1 + 128.0.0.0/1 and wg-quick's table 51820 default route are the
    internet; the route to the VPN server is not."""
    routing = recorded("full-tunnel")
    assert cb.routing_tables(routing) == [255, 254, 51820, 253]
    assert {(route.table, route.destination) for route in routing.routes} >= {
        (254, "0.0.0.0/1"),
        (254, "128.0.0.0/1"),
        (51820, "0.0.0.0/0"),
    }
    assert blocked(routing) == [*fh.INET_FIXED_BLOCKED, "198.51.100.7/32 via 192.168.1.1 (eth0)"]


def test_a_lone_half_of_the_pair_is_no_default_route():
    half = cb.HostRoute("0.0.0.0/1", 254, cb.RTN_UNICAST, 3, 0, (("10.8.0.1", "tun0"),))
    routing = cb.HostRouting(routes=(half,))
    assert blocked(routing) == [*fh.INET_FIXED_BLOCKED, "0.0.0.0/1 via 10.8.0.1 (tun0)"]


def test_a_network_covering_the_inet_link_is_cut_around_it():
    routing = recorded("covering")
    assert blocked(routing) == [*fh.INET_FIXED_BLOCKED, "198.18.0.0/15 via 192.168.1.2 (eth0)"]
    requests = cb.inet_netlink_requests(cb.inet_blocked_set(routing))
    assert "route 198.18.0.0/15" in [request.label for request in requests]
    dropped = nft_dropped(requests[-1].messages)
    link = ipaddress.IPv4Network("198.18.0.0/30")
    assert ipaddress.IPv4Network("198.18.0.3/32") in dropped
    assert not any(network.overlaps(link) for network in dropped if network.prefixlen < 32)
    covered = [
        network for network in dropped if network.subnet_of(ipaddress.IPv4Network("198.18.0.0/15"))
    ]
    assert sum(network.num_addresses for network in covered) == 2**17 - 4 + 1


def test_a_host_network_inside_the_inet_link_is_an_error():
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.inet_blocked_set(recorded("overlap"))
    assert str(info.value) == (
        "the host network 198.18.0.2/31 via 192.168.1.2 (eth0) overlaps the inet tier's own "
        "link 198.18.0.0/30; use --network full or --network none on this host"
    )


# --- rules and tables -----------------------------------------------------------------------


def test_without_policy_rules_the_local_and_main_tables_are_used():
    assert cb.routing_tables(cb.HostRouting()) == [255, 254]
    error = struct.pack("=IHHII", 36, cb.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -95)
    assert cb.parse_rules(error + bytes(16)) == ()  # EOPNOTSUPP: no policy routing


def test_a_vrf_rule_makes_every_table_used():
    routing = cb.HostRouting(
        rules=(cb.PolicyRule(1000, cb.FR_ACT_TO_TBL, 0, l3mdev=True),),
        routes=(
            cb.HostRoute("203.0.113.0/24", 1001, cb.RTN_UNICAST, 3, 253, ((None, "vrf-blue"),)),
        ),
    )
    assert cb.routing_tables(routing) == [1001]
    assert blocked(routing)[-1] == "203.0.113.0/24 table 1001 via vrf-blue"


# --- parsers --------------------------------------------------------------------------------


def test_a_dump_cut_short_or_answered_with_an_error_is_refused():
    dump = (RECORDED / "laptop" / "routes.bin").read_bytes()
    with pytest.raises(ValueError, match="without NLMSG_DONE"):
        cb.parse_routes(dump[:-20], {})
    with pytest.raises(ValueError, match="claims"):
        cb.parse_routes(dump[:100], {})
    denied = struct.pack("=IHHII", 36, cb.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -1)
    with pytest.raises(OSError, match="Operation not permitted"):
        cb.parse_routes(denied + bytes(16), {})


# --- what the inet setup sends --------------------------------------------------------------


def test_unreachable_route_message_is_rtm_newroute_in_main():
    message = cb.unreachable_route_message(ipaddress.IPv4Network("203.0.113.0/24"), 7)
    assert message == (
        struct.pack("=IHHII", 36, 24, 0x605, 7, 0)
        + struct.pack("=8BI", socket.AF_INET, 24, 0, 0, 254, 4, 0, 7, 0)
        + struct.pack("=HH4s", 8, 1, bytes([203, 0, 113, 0]))
    )


def batch_messages(batch: bytes) -> list[tuple[int, int, bytes]]:
    messages = []
    offset = 0
    while offset < len(batch):
        length, kind, flags = struct.unpack_from("=IHH", batch, offset)
        messages.append((kind, flags, batch[offset + 16 : offset + length]))
        offset += length
    return messages


def expressions(rule_payload: bytes) -> list[tuple[str, dict[int, bytes]]]:
    """(name, attributes) of each expression of an NFT_MSG_NEWRULE payload."""
    rule = cb.netlink_attributes(rule_payload[4:])
    listed = rule[cb.NFTA_RULE_EXPRESSIONS]
    found = []
    offset = 0
    while offset < len(listed):
        (length,) = struct.unpack_from("=H", listed, offset)
        element = cb.netlink_attributes(listed[offset + 4 : offset + length])
        name = element[cb.NFTA_EXPR_NAME].rstrip(b"\0").decode()
        found.append((name, cb.netlink_attributes(element[cb.NFTA_EXPR_DATA])))
        offset += (length + 3) & ~3
    return found


def value_of(nested: bytes) -> bytes:
    return cb.netlink_attributes(nested)[cb.NFTA_DATA_VALUE]


def nft_dropped(batch: bytes) -> list[ipaddress.IPv4Network]:
    """The networks whose rules in `table ip claudebox` drop: netmask and network decoded."""
    dropped = []
    for kind, _flags, payload in batch_messages(batch):
        if kind != (10 << 8) | 6 or payload[0] != cb.NFPROTO_IPV4:
            continue
        found = expressions(payload)
        if [name for name, _ in found] != ["payload", "bitwise", "cmp", "immediate"]:
            continue
        mask = value_of(found[1][1][4])
        network = value_of(found[2][1][3])
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{socket.inet_ntoa(mask)}").prefixlen
        dropped.append(ipaddress.IPv4Network(f"{socket.inet_ntoa(network)}/{prefix}"))
    return dropped


def test_the_nftables_batch_drops_each_network_and_all_ipv6_but_loopback():
    networks = [ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("203.0.113.7/32")]
    messages = batch_messages(cb.nftables_batch(networks))
    nft = 10 << 8
    assert [(kind, flags, payload[0]) for kind, flags, payload in messages] == [
        (0x10, 0x1, socket.AF_UNSPEC),  # batch begin
        (nft | 0, 0x605, cb.NFPROTO_IPV4),  # table ip claudebox
        (nft | 3, 0x605, cb.NFPROTO_IPV4),  # its output chain
        (nft | 6, 0xC05, cb.NFPROTO_IPV4),  # oif lo accept
        (nft | 6, 0xC05, cb.NFPROTO_IPV4),  # ip daddr 10.0.0.0/8 drop
        (nft | 6, 0xC05, cb.NFPROTO_IPV4),  # ip daddr 203.0.113.7 drop
        (nft | 0, 0x605, cb.NFPROTO_IPV6),  # table ip6 claudebox
        (nft | 3, 0x605, cb.NFPROTO_IPV6),  # its output chain, policy drop
        (nft | 6, 0xC05, cb.NFPROTO_IPV6),  # oif lo accept
        (0x11, 0x1, socket.AF_UNSPEC),  # batch end
    ]
    assert messages[0][2][2:4] == struct.pack("!H", cb.NFNL_SUBSYS_NFTABLES)
    chain = cb.netlink_attributes(messages[2][2][4:])
    hook = cb.netlink_attributes(chain[cb.NFTA_CHAIN_HOOK])
    assert chain[cb.NFTA_CHAIN_TABLE] == b"claudebox\0"
    assert chain[cb.NFTA_CHAIN_TYPE] == b"filter\0"
    assert chain[cb.NFTA_CHAIN_POLICY] == struct.pack("!I", cb.NF_ACCEPT)
    assert hook[cb.NFTA_HOOK_HOOKNUM] == struct.pack("!I", cb.NF_INET_LOCAL_OUT)
    ipv6_chain = cb.netlink_attributes(messages[7][2][4:])
    assert ipv6_chain[cb.NFTA_CHAIN_POLICY] == struct.pack("!I", cb.NF_DROP)
    loopback = expressions(messages[3][2])
    assert [name for name, _ in loopback] == ["meta", "cmp", "immediate"]
    assert loopback[0][1][2] == struct.pack("!I", cb.NFT_META_OIF)
    assert value_of(loopback[1][1][3]) == struct.pack("=I", 1)
    drop = expressions(messages[4][2])
    assert drop[0][1][3] == struct.pack("!I", 16)  # the IPv4 destination's offset
    verdict = cb.netlink_attributes(cb.netlink_attributes(drop[3][1][2])[cb.NFTA_DATA_VERDICT])
    assert verdict[cb.NFTA_VERDICT_CODE] == struct.pack("!I", cb.NF_DROP)
    assert nft_dropped(cb.nftables_batch(networks)) == networks


def test_inet_requests_route_and_drop_the_same_prefixes():
    routing = recorded("laptop")
    items = cb.inet_blocked_set(routing)
    requests = cb.inet_netlink_requests(items)
    assert [request.protocol for request in requests] == [0] * (len(requests) - 1) + [12]
    networks = [ipaddress.IPv4Network(item.prefix) for item in items]
    routed = [request.label.removeprefix("route ") for request in requests[:-1]]
    assert routed == [
        str(network)
        for network in ipaddress.collapse_addresses(networks)
        if str(network) != "198.18.0.3/32"
    ]
    assert nft_dropped(requests[-1].messages) == list(ipaddress.collapse_addresses(networks))


# --- while a session runs: the relay's route lookup, inet's added blocks ----------------------


def test_the_route_lookup_asks_for_the_matched_route_and_its_table():
    assert cb.route_lookup_message("203.0.113.9", 443, 5) == (
        struct.pack("=IHHII", 52, cb.RTM_GETROUTE, cb.NLM_F_REQUEST, 5, 0)
        + struct.pack("=8BI", socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0x3000)
        + struct.pack("=HH4s", 8, 1, bytes([203, 0, 113, 9]))
        + struct.pack("=HHB3x", 5, 27, socket.IPPROTO_TCP)  # RTA_IP_PROTO
        + struct.pack("=HH", 6, 29)
        + struct.pack("!H2x", 443)  # RTA_DPORT, in network order
    )


def looked_up(scenario: str, address: str) -> str | None:
    """What the relay says of `address` on a recorded host (lookup-ADDRESS.bin: the kernel's
    answer there), with the routes of that host for the pair's other half."""
    names = cb.parse_links((RECORDED / scenario / "links.bin").read_bytes())
    answer = (RECORDED / scenario / f"lookup-{address}.bin").read_bytes()
    route = cb.parse_route_answer(answer, names)
    table = {item.destination for item in recorded(scenario).routes if item.table == route.table}
    return cb.looked_up_origin(route, table)


@pytest.mark.parametrize(
    ("scenario", "address", "origin"),
    [
        ("laptop", "8.8.8.8", None),
        ("laptop", "203.0.113.9", "via wg0"),
        ("laptop", "198.51.100.9", "table 52 via tailscale0"),
        ("laptop", "192.168.1.40", "(connected to eth0)"),
        ("laptop", "192.168.1.23", "table local (local to the host on eth0)"),
        ("laptop", "192.168.1.255", "table local (a broadcast address on eth0)"),
        ("full-tunnel", "8.8.8.8", None),  # 0.0.0.0/1, with 128.0.0.0/1 in its table
        ("full-tunnel", "200.1.2.3", None),  # 128.0.0.0/1
        ("full-tunnel", "198.51.100.7", "via 192.168.1.1 (eth0)"),
    ],
)
def test_the_relay_refuses_what_the_host_routes_other_than_to_the_internet(
    scenario: str, address: str, origin: str | None
):
    assert looked_up(scenario, address) == origin


def test_a_lookup_without_a_route_or_cut_short_is_an_error():
    with pytest.raises(OSError) as info:  # a blackhole route: EINVAL, as the kernel answers
        looked_up("laptop", "192.0.0.1")
    assert info.value.errno == 22
    answer = (RECORDED / "laptop" / "lookup-8.8.8.8.bin").read_bytes()
    with pytest.raises(ValueError, match="claims"):
        cb.parse_route_answer(answer[:40], {})
    with pytest.raises(ValueError, match="of 8 bytes"):
        cb.parse_route_answer(answer[:8], {})
    done = struct.pack("=IHHII", 20, cb.NLMSG_DONE, 0, 1, 0) + bytes(4)
    with pytest.raises(ValueError, match="type 3"):
        cb.parse_route_answer(done, {})


def test_a_lone_half_of_the_pair_looked_up_is_refused():
    half = cb.HostRoute("0.0.0.0/1", 254, cb.RTN_UNICAST, 3, 0, (("10.8.0.1", "tun0"),))
    assert cb.looked_up_origin(half, {"0.0.0.0/1"}) == "via 10.8.0.1 (tun0)"
    assert cb.looked_up_origin(half, {"0.0.0.0/1", "128.0.0.0/1"}) is None


def test_a_block_added_later_appends_drops_then_routes():
    added = [cb.BlockedPrefix("198.19.60.0/24", "via 100.96.0.2 (wg0)")]
    requests = cb.inet_update_requests(added)
    assert [(request.label, request.protocol) for request in requests] == [
        ("nftables rules", cb.NETLINK_NETFILTER),
        ("route 198.19.60.0/24", cb.NETLINK_ROUTE),
    ]
    messages = batch_messages(requests[0].messages)
    nft = 10 << 8
    assert [(kind, flags, payload[0]) for kind, flags, payload in messages] == [
        (0x10, 0x1, socket.AF_UNSPEC),  # batch begin
        (nft | 6, 0xC05, cb.NFPROTO_IPV4),  # appended to the chain the launch made
        (0x11, 0x1, socket.AF_UNSPEC),  # batch end
    ]
    rule = cb.netlink_attributes(messages[1][2][4:])
    assert rule[cb.NFTA_RULE_TABLE] == b"claudebox\0"
    assert rule[cb.NFTA_RULE_CHAIN] == b"output\0"
    assert nft_dropped(requests[0].messages) == [ipaddress.IPv4Network("198.19.60.0/24")]
    assert requests[1].messages == cb.unreachable_route_message(
        ipaddress.IPv4Network("198.19.60.0/24"), 1
    )
    assert cb.inet_update_requests([]) == ()


def test_a_block_added_later_over_the_inet_link_is_cut_around_it():
    requests = cb.inet_update_requests([cb.BlockedPrefix("198.18.0.0/15", "via 192.168.1.2")])
    assert [request.label for request in requests] == ["nftables rules", "route 198.18.0.0/15"]
    link = ipaddress.IPv4Network("198.18.0.0/30")
    dropped = nft_dropped(requests[0].messages)
    assert not any(network.overlaps(link) for network in dropped)
    assert sum(network.num_addresses for network in dropped) == 2**17 - 4


def test_cutting_the_sandbox_off_drops_all_but_lo_first():
    cut, *routes = cb.inet_cut_requests()
    assert nft_dropped(cut.messages) == [ipaddress.IPv4Network("0.0.0.0/0")]
    assert len(batch_messages(cut.messages)) == 3  # no table or chain: the launch's
    assert [request.label for request in routes] == ["route 0.0.0.0/1", "route 128.0.0.0/1"]
