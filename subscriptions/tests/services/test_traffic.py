"""Traffic: summed over a subscription's nodes, its limit enforced by disabling its keys."""

from unittest import mock

import pytest

from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import FLAVOURS, node_for, panel_email
from nodes.tests.factories import NodeFactory
from subscriptions.models import Subscription
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.lifecycle import subscription_create
from subscriptions.services.traffic import subscriptions_traffic_enforce
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["v3", "legacy"])
def panel(request, sim_factory):
    sim = sim_factory(**FLAVOURS[request.param])
    return sim, node_for(sim, name=f"panel-{request.param}")


def _no_push():
    return mock.patch("subscriptions.services.keys.keys_push_on_commit")


def test_traffic_over_limit_disables_keys(customer):
    NodeFactory(health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory(traffic_limit_gb=1))
    Subscription.objects.filter(pk=sub.pk).update(traffic_used_bytes=1024**3)
    subscription_keys_converge(subscription=sub)
    assert sub.keys.get().enable is False


def test_traffic_is_pulled_and_a_global_limit_disables_keys(
    panel, customer, django_capture_on_commit_callbacks
):
    sim, node = panel
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory(traffic_limit_gb=1))
    sim.set_traffic(panel_email(sub, sim), up=100, down=1024**3)
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)
    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 1024**3 + 100
    assert sim.client(panel_email(sub, sim))["enable"] is False


def test_shared_email_traffic_takes_the_live_counter():
    sub = SubscriptionFactory(tariff=TariffFactory(node_count=0))
    one = NodeFactory(name="one", panel_url="http://127.0.0.1:1/p/", inbound_id=1)
    two = NodeFactory(name="two", panel_url="http://127.0.0.1:1/p/", inbound_id=2)
    email = f"s{sub.pk}"
    NodeClient.objects.create(
        subscription=sub,
        node=one,
        email=email,
        sync_state=SyncState.SYNCED,
        synced_version=1,
        traffic_up=700 * 1024**2,
        traffic_down=500 * 1024**2,
    )
    NodeClient.objects.create(  # newer, removed: its counter stopped being read
        subscription=sub,
        node=two,
        email=email,
        sync_state=SyncState.REMOVED,
        synced_version=1,
        traffic_up=50 * 1024**2,
        traffic_down=50 * 1024**2,
    )

    with _no_push():
        subscriptions_traffic_enforce(subscription_ids={sub.pk})
    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 1200 * 1024**2
