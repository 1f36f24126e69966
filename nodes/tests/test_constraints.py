"""The invariants the database holds on the nodes tables: a violation raises, whatever
the code above it does."""

import pytest

from core.tests.helpers import violates
from nodes.models import Node, NodeClient
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_node_name_unique_and_weight_non_negative():
    NodeFactory(name="de-1")
    assert violates(lambda: NodeFactory(name="de-1"))
    assert violates(lambda: Node.objects.filter(name="de-1").update(weight=-1))


def test_node_client_email_unique_per_node():
    key = NodeClientFactory()
    other_subscription = SubscriptionFactory()
    assert violates(
        lambda: NodeClient.objects.create(
            subscription=other_subscription, node=key.node, email=key.email
        )
    )
    # The same email on another node is fine: every panel is its own namespace.
    NodeClient.objects.create(subscription=key.subscription, node=NodeFactory(), email=key.email)


def test_node_client_one_key_per_subscription_per_node():
    key = NodeClientFactory()
    assert violates(
        lambda: NodeClient.objects.create(
            subscription=key.subscription, node=key.node, email="other"
        )
    )


def test_node_client_synced_version_never_ahead():
    key = NodeClientFactory(desired_version=2)
    assert violates(lambda: NodeClient.objects.filter(pk=key.pk).update(synced_version=3))
