"""The network chapter: one NetworkPolicy per tier, and plan_network as the plan's network part."""

from __future__ import annotations

import fakehost as fh
import pytest

import claudebox as cb
from claudebox import Tier


def test_every_tier_has_a_policy_and_no_field_has_a_default():
    assert set(cb.NETWORK_POLICIES) == set(Tier)
    assert cb.NetworkPolicy._field_defaults == {}


def test_a_policy_that_forgets_a_field_is_an_error_not_the_hosts_network():
    fields = cb.NETWORK_POLICIES[Tier.NONE]._asdict()
    del fields["own_namespace"]
    with pytest.raises(TypeError, match="own_namespace"):
        cb.NetworkPolicy(**fields)


@pytest.mark.parametrize("tier", list(Tier))
def test_the_plan_does_what_the_tiers_policy_says(tier):
    policy = cb.NETWORK_POLICIES[tier]
    plan = cb.build_plan(fh.make_host(), cb.Options(tier=tier))
    network = cb.plan_network(fh.make_host(), cb.Options(tier=tier), plan.instance)
    assert network.policy is policy
    assert (plan.relay, plan.pasta, plan.stage.blocked) == (
        network.relay,
        network.pasta,
        network.blocked,
    )
    assert plan.stage.network is policy.own_namespace
    assert plan.stage.sealed is policy.sealed
    assert (plan.pasta is not None) is policy.pasta
    assert bool(plan.stage.blocked) is policy.blocks_routes
    assert plan.relay.tunnel is policy.tunnel
    assert plan.stage.resolver is policy.carries_by_name
    assert bool(plan.stage.transparent) is policy.carries_by_name
    assert plan.relay.tier is tier
    assert plan.relay.on_host is policy.proxy_on_host
    assert bool(plan.relay.blocked) is policy.reads_routing
    resolv = [d.content.decode() for d in plan.data if d.kind is cb.DataKind.RESOLV_CONF]
    assert resolv == ([] if policy.resolv_conf is None else [policy.resolv_conf])
    note = next(d for d in plan.data if d.kind is cb.DataKind.NOTE).content.decode()
    assert f"- Network: {policy.note}" in note
    # Only a tier that leaves the host's namespace may leave its routing unread.
    assert policy.own_namespace or not policy.blocks_routes


def test_only_the_full_tier_shares_the_hosts_network():
    shared = [tier for tier, policy in cb.NETWORK_POLICIES.items() if not policy.own_namespace]
    assert shared == [Tier.FULL]
    assert [tier for tier, p in cb.NETWORK_POLICIES.items() if p.dangerous] == shared
