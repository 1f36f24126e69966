"""Failover: keys leave a node that went down, or whose panel refused them (with panels)."""

import pytest
from django.test import override_settings

from accounts.tests.factories import CustomerFactory
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.services.health import node_health_check
from nodes.services.keys import key_email
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import FLAVOURS, node_for, panel_email
from notifications.models import OutboxMessage
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.lifecycle import subscription_create
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def test_a_subscription_refused_by_one_node_is_placed_on_another(
    sim_factory, django_capture_on_commit_callbacks
):
    sim_a, sim_b = sim_factory(version="3.6.0"), sim_factory(version="3.0.2")
    node_a = node_for(sim_a, name="a", weight=100)
    node_b = node_for(sim_b, name="b", weight=1)
    sub = SubscriptionFactory(tariff=TariffFactory())  # no keys yet
    sim_a.seed_client(key_email(subscription_id=sub.pk, node_id=node_a.pk), comment="by hand")

    with django_capture_on_commit_callbacks(execute=True):
        subscription_keys_converge(subscription=sub)  # placed on a, refused there, moved to b

    key = sub.keys.get(node=node_a)
    key.refresh_from_db()
    assert key.sync_state == SyncState.REMOVED  # it never reached panel a
    moved = sub.keys.get(node=node_b)
    assert moved.sync_state == SyncState.SYNCED
    assert sim_b.client(moved.email)["id"] == str(sub.client_uuid)
    assert sim_a.client(key.email)["comment"] == "by hand"


def test_a_subscription_refused_everywhere_does_not_bounce(
    sim_factory, django_capture_on_commit_callbacks
):
    sim_a, sim_b = sim_factory(version="3.6.0"), sim_factory(version="3.4.2")
    node_a = node_for(sim_a, name="a", weight=100)
    node_b = node_for(sim_b, name="b", weight=1)
    sub = SubscriptionFactory(tariff=TariffFactory())
    for sim, node in ((sim_a, node_a), (sim_b, node_b)):
        sim.seed_client(key_email(subscription_id=sub.pk, node_id=node.pk), comment="by hand")

    with django_capture_on_commit_callbacks(execute=True):
        subscription_keys_converge(subscription=sub)
        for node in (node_a, node_b):
            node_reconcile(node=node)

    keys = {k.node.name: k for k in sub.keys.all()}
    assert set(keys) == {"a", "b"}  # each node tried once, none again
    assert keys["b"].sync_state == SyncState.ERROR
    assert keys["a"].sync_state == SyncState.REMOVED
    assert NodeClient.objects.filter(subscription=sub).count() == 2


@override_settings(NODE_DOWN_AFTER_FAILURES=2)
def test_node_killed_mid_batch_keys_replaced_and_old_key_removed_on_return(
    sim_factory, django_capture_on_commit_callbacks
):
    sim_a = sim_factory(**FLAVOURS["v3"])
    sim_b = sim_factory(**FLAVOURS["legacy"])
    node_a = node_for(sim_a, name="a", weight=100)
    node_b = node_for(sim_b, name="b", weight=1)
    # Keep B out of rotation while A takes the first purchases.
    Node.objects.filter(pk=node_b.pk).update(is_enabled=False)
    tariff = TariffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        synced = [subscription_create(customer=CustomerFactory(), tariff=tariff) for _ in range(3)]
    sim_a.set_down()  # killed in the middle of the batch
    with django_capture_on_commit_callbacks(execute=True):
        stuck = [subscription_create(customer=CustomerFactory(), tariff=tariff) for _ in range(2)]
    assert all(s.keys.get().sync_state == SyncState.ERROR for s in stuck)
    Node.objects.filter(pk=node_b.pk).update(is_enabled=True)

    node_a.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        node_health_check(node=node_a)
        assert node_a.health != NodeHealth.DOWN
        node_health_check(node=node_a)
    node_a.refresh_from_db()
    assert node_a.health == NodeHealth.DOWN
    assert OutboxMessage.objects.filter(kind="node-down").count() == 2  # two admin chats

    for sub in synced + stuck:
        live = sub.keys.get(node=node_b)
        assert live.sync_state == SyncState.SYNCED, live.last_error
        assert sim_b.client(panel_email(sub, sim_b))["enable"] is True
        assert sub.keys.get(node=node_a).sync_state == SyncState.REMOVING
    # Customers who already had keys are told their key moved.
    assert OutboxMessage.objects.filter(kind="keys-moved").count() == 3

    sim_a.set_up()
    with django_capture_on_commit_callbacks(execute=True):
        node_health_check(node=node_a)
    node_a.refresh_from_db()
    assert node_a.health == NodeHealth.UP
    assert OutboxMessage.objects.filter(kind="node-up").count() == 2
    for sub in synced:
        left = sim_a.client(panel_email(sub, sim_a))
        assert left is None or not left["enable"]
        assert sub.keys.get(node=node_a).sync_state == SyncState.REMOVED
    assert not any(c["enable"] for c in sim_a.clients() if c["email"].startswith("s"))
