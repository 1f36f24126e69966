"""Placement: which nodes take new keys (weighted round-robin, health, room, eligibility)."""

from collections import Counter

import pytest
from django.db import transaction

from core.tests.helpers import run_concurrently
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeFactory
from subscriptions.services.lifecycle import (
    subscription_create,
)
from subscriptions.services.placement import node_pick_for_new_client
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def pick(tariff=None, **kwargs):
    with transaction.atomic():
        return node_pick_for_new_client(tariff=tariff or TariffFactory(), **kwargs)


def test_weighted_round_robin_is_deterministic_and_proportional():
    a = NodeFactory(name="a", weight=3, health=NodeHealth.UP)
    b = NodeFactory(name="b", weight=1, health=NodeHealth.UP)
    tariff = TariffFactory()
    picks = [pick(tariff).name for _ in range(8)]
    assert Counter(picks) == {"a": 6, "b": 2}
    # Smooth: b is not starved to the end.
    assert "b" in picks[:4]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.assigned_total, b.assigned_total) == (6, 2)


def test_skips_down_disabled_zero_weight_and_full_nodes():
    NodeFactory(name="down", health=NodeHealth.DOWN)
    NodeFactory(name="off", is_enabled=False, health=NodeHealth.UP)
    NodeFactory(name="drain", weight=0, health=NodeHealth.UP)
    full = NodeFactory(name="full", max_clients=1, health=NodeHealth.UP)
    SubscriptionFactory().keys.create(node=full, email="s-x")
    assert pick() is None
    ok = NodeFactory(name="ok", health=NodeHealth.UP)
    assert pick() == ok


def test_prefers_up_nodes_and_respects_tariff_eligibility():
    degraded = NodeFactory(name="slow", health=NodeHealth.DEGRADED)
    up = NodeFactory(name="fast", health=NodeHealth.UP)
    assert pick() == up
    tariff = TariffFactory()
    tariff.eligible_nodes.add(degraded)
    assert pick(tariff) == degraded


def test_new_subscription_gets_one_key_on_a_picked_node(customer):
    node = NodeFactory(health=NodeHealth.UP)
    tariff = TariffFactory(device_limit=2, traffic_limit_gb=10)
    sub = subscription_create(customer=customer, tariff=tariff)
    key = NodeClient.objects.get(subscription=sub)
    assert key.node == node
    assert key.email == f"s{sub.pk}n{node.pk}"
    assert key.enable is True
    assert key.limit_ip == 2
    assert key.total_bytes == 10 * 1024**3
    assert key.expiry_time_ms == int(sub.expires_at.timestamp() * 1000)
    assert key.sync_state == SyncState.PENDING


def test_tariff_with_node_count_zero_places_on_every_eligible_node(customer):
    nodes = [NodeFactory(health=NodeHealth.UP) for _ in range(3)]
    NodeFactory(health=NodeHealth.DOWN)
    sub = subscription_create(customer=customer, tariff=TariffFactory(node_count=0))
    assert set(sub.keys.values_list("node_id", flat=True)) == {n.pk for n in nodes}


def test_purchase_without_any_node_still_succeeds_and_is_placed_later(customer):
    from subscriptions.services.keys import subscriptions_place_missing

    sub = subscription_create(customer=customer, tariff=TariffFactory())
    assert sub.keys.count() == 0
    NodeFactory(health=NodeHealth.UP)
    assert subscriptions_place_missing() == 1
    assert sub.keys.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_never_overfill_a_node(on_postgres):
    small = NodeFactory(name="small", max_clients=3, health=NodeHealth.UP, weight=10)
    big = NodeFactory(name="big", max_clients=100, health=NodeHealth.UP, weight=1)
    tariff = TariffFactory()
    customers = [SubscriptionFactory.build().customer for _ in range(12)]
    for c in customers:
        c.save()
    buys = [lambda c=c: subscription_create(customer=c, tariff=tariff) for c in customers]
    assert run_concurrently(buys) == []
    assert NodeClient.objects.filter(node=small).count() == 3
    assert NodeClient.objects.filter(node=big).count() == 9


def test_placement_prefers_a_healthy_node_with_room():
    up = NodeFactory(name="up", health=NodeHealth.UP, max_clients=1, weight=1)
    NodeFactory(name="unknown", health=NodeHealth.UNKNOWN, weight=100)
    NodeFactory(name="degraded", health=NodeHealth.DEGRADED, weight=100)
    tariff = TariffFactory()
    assert node_pick_for_new_client(tariff=tariff) == up
    NodeClient.objects.create(
        subscription=SubscriptionFactory(tariff=tariff), node=up, email="s-full"
    )
    assert node_pick_for_new_client(tariff=tariff).name == "unknown"
