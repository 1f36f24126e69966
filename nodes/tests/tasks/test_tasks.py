"""The node tasks: the push retry policy (backoff, the last attempt alerts), health timing."""

import pytest
from celery.exceptions import Retry
from django.test import override_settings

from nodes.models import NodeHealth, SyncState
from nodes.services.health import node_health_check
from nodes.tasks import node_keys_push_task, provision_backoff
from nodes.tests.conftest import FLAVOURS, node_for, panel_email
from nodes.tests.factories import NodeFactory
from notifications.models import OutboxMessage
from subscriptions.services.lifecycle import subscription_create
from subscriptions.tests.factories import TariffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["v3", "legacy"])
def key_on_panel(request, sim_factory, customer):
    sim = sim_factory(**FLAVOURS[request.param])
    node = node_for(sim)
    subscription = subscription_create(customer=customer, tariff=TariffFactory())
    return sim, node, subscription, subscription.keys.get()


@override_settings(NODE_PROVISION_MAX_RETRIES=2)
def test_transient_errors_retry_then_the_last_attempt_marks_error_and_alerts(key_on_panel):
    sim, node, _, key = key_on_panel
    sim.add_fault("http500")
    for attempt in (0, 1):
        with pytest.raises(Retry):
            node_keys_push_task.apply(args=(node.pk, [key.pk]), retries=attempt)
        key.refresh_from_db()
        assert (key.sync_state, key.attempts) == (SyncState.PENDING, attempt + 1)
    assert not OutboxMessage.objects.filter(kind="provision-failed").exists()
    node_keys_push_task.apply(args=(node.pk, [key.pk]), retries=2)
    key.refresh_from_db()
    assert (key.sync_state, key.attempts) == (SyncState.ERROR, 3)
    assert "500" in key.last_error
    assert OutboxMessage.objects.filter(kind="provision-failed").count() == 2  # 2 admin chats


@override_settings(NODE_PROVISION_MAX_RETRIES=5)
def test_a_retry_after_a_transient_error_converges(key_on_panel):
    sim, node, subscription, key = key_on_panel
    sim.add_fault("http500", count=1)
    with pytest.raises(Retry):
        node_keys_push_task.apply(args=(node.pk, [key.pk]), retries=0)
    node_keys_push_task.apply(args=(node.pk, [key.pk]), retries=1)
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    assert sim.client(panel_email(subscription, sim))["enable"] is True


@override_settings(NODE_PROVISION_BACKOFF_BASE=5, NODE_PROVISION_BACKOFF_MAX=600)
def test_backoff_is_exponential_with_jitter_and_capped():
    for retries in range(12):
        ceiling = min(5 * 2**retries, 600)
        assert ceiling / 2 <= provision_backoff(retries) <= ceiling


def test_failover_within_a_minute_at_the_defaults_without_moving_keys_on_one_lost_check():
    """Down after NODE_DOWN_AFTER_FAILURES checks NODE_HEALTH_INTERVAL apart, the last one as
    slow as the panel timeouts allow: within 60 s, and never on one check."""
    from vpnsite.settings.integrations import celery as beat
    from vpnsite.settings.integrations import x3ui

    failures = x3ui.NODE_DOWN_AFTER_FAILURES
    worst = (
        beat.NODE_HEALTH_INTERVAL * failures + x3ui.X3UI_CONNECT_TIMEOUT + x3ui.X3UI_READ_TIMEOUT
    )
    assert failures >= 2
    assert worst <= 60, f"failover can take {worst:.0f} s at the defaults"


@override_settings(NODE_DOWN_AFTER_FAILURES=3)
def test_one_lost_check_moves_no_key(customer):
    node = NodeFactory(health=NodeHealth.UP)  # port 1: every check fails
    sub = subscription_create(customer=customer, tariff=TariffFactory())
    NodeFactory(name="spare", health=NodeHealth.UP)
    node_health_check(node=node)
    node.refresh_from_db()
    assert node.health == NodeHealth.DEGRADED
    assert list(sub.keys.values_list("node_id", flat=True)) == [node.pk]
