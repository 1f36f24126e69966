"""/sub/<token>: what a VPN app gets, in two queries whatever the number of keys."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.feed import FEED_CONTENT_TYPE
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

APP = {"HTTP_USER_AGENT": "v2rayNG/1.9.0"}


def _subscription_with_keys(count: int):
    subscription = SubscriptionFactory()
    for n in range(count):
        node = NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND)
        NodeClientFactory(
            subscription=subscription,
            node=node,
            sync_state=SyncState.SYNCED,
            traffic_up=1000 * (n + 1),
            traffic_down=2000 * (n + 1),
        )
    return subscription


@pytest.mark.parametrize("keys", [1, 5])
def test_the_feed_is_two_queries_whatever_the_number_of_keys(keys):
    """The subscription with its traffic, then its keys with their nodes (plus the health
    check Django makes before a request's first query in production: three statements).
    The runtime settings are cached, as in a running server."""
    subscription = _subscription_with_keys(keys)
    client = Client()
    runtime_settings()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/sub/{subscription.feed_token}", **APP)
    assert response.status_code == 200
    assert response["Content-Type"] == FEED_CONTENT_TYPE
    assert len(captured.captured_queries) == 2, [q["sql"][:80] for q in captured]


def test_traffic_counts_every_key_also_removed_ones():
    subscription = _subscription_with_keys(2)  # up 1000 + 2000, down 2000 + 4000
    NodeClientFactory(
        subscription=subscription, sync_state=SyncState.REMOVED, traffic_up=5, traffic_down=7
    )
    response = Client().get(f"/sub/{subscription.feed_token}", **APP)
    userinfo = dict(
        part.strip().split("=", 1) for part in response["Subscription-Userinfo"].split(";")
    )
    assert (userinfo["upload"], userinfo["download"]) == ("3005", "6007")


def test_a_subscription_without_keys_reports_zero_traffic():
    subscription = SubscriptionFactory()
    response = Client().get(f"/sub/{subscription.feed_token}", **APP)
    assert response.status_code == 200
    assert "upload=0; download=0" in response["Subscription-Userinfo"]
