"""The hooks by which nodes lets subscriptions react (nodes/signals.py, receivers.py).

Each test drives the nodes side as it runs in production and checks what subscriptions did,
so it fails when the receiver is not connected in ``SubscriptionsConfig.ready``.
"""

import pytest
from django.conf import settings
from django.utils import timezone

from nodes.models import NodeHealth, SyncState
from nodes.services.health import _health_failure
from nodes.services.push import PushResult, _done_flush, _refusals_handle
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import node_for, panel_email
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.services.lifecycle import subscription_create
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def test_keys_synced_a_first_synced_key_sends_the_keys_message():
    key = NodeClientFactory(sync_state=SyncState.PENDING, desired_version=1)
    result = PushResult(synced=[(key, 1)])

    _done_flush(result, now=timezone.now())

    key.subscription.refresh_from_db()
    assert key.subscription.keys_notified_at is not None
    assert OutboxMessage.objects.filter(kind="keys-ready").count() == 1


def test_key_refused_a_key_its_panel_refused_is_placed_on_another_node(
    django_capture_on_commit_callbacks,
):
    refusing = NodeFactory(name="refusing", health=NodeHealth.UP)
    NodeFactory(name="other", health=NodeHealth.UP)
    key = NodeClientFactory(node=refusing, sync_state=SyncState.ERROR, synced_version=0)
    result = PushResult(refused=[(key, "Duplicate email")])

    with django_capture_on_commit_callbacks(execute=False):
        _refusals_handle(refusing, result)

    key.refresh_from_db()
    assert key.sync_state == SyncState.REMOVED
    moved = key.subscription.keys.exclude(pk=key.pk).get()
    assert (moved.node.name, moved.sync_state) == ("other", SyncState.PENDING)


def test_node_down_its_keys_are_failed_over(django_capture_on_commit_callbacks):
    down = NodeFactory(
        name="down",
        health=NodeHealth.DEGRADED,
        consecutive_failures=settings.NODE_DOWN_AFTER_FAILURES - 1,
    )
    NodeFactory(name="spare", health=NodeHealth.UP)
    key = NodeClientFactory(node=down, sync_state=SyncState.SYNCED, synced_version=1)

    with django_capture_on_commit_callbacks(execute=False):
        assert _health_failure(down, "connection refused", now=timezone.now()) == NodeHealth.DOWN

    key.refresh_from_db()
    assert key.sync_state == SyncState.REMOVING
    assert key.subscription.keys.get(node__name="spare").sync_state == SyncState.PENDING


def test_traffic_read_a_subscription_over_its_limit_is_disabled(
    sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version="3.6.0")
    node = node_for(sim)
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(
            customer=SubscriptionFactory().customer, tariff=TariffFactory(traffic_limit_gb=1)
        )
    sim.set_traffic(panel_email(sub, sim), up=1, down=1024**3)

    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 1024**3 + 1
    assert sub.keys.get().enable is False
