import factory

from nodes.models import Node, NodeClient
from subscriptions.tests.factories import SubscriptionFactory


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node

    name = factory.Sequence(lambda n: f"node-{n}")
    country = "DE"
    location = "Frankfurt"
    # Port 1 refuses connections: a factory node never reaches anything by accident.
    panel_url = factory.Sequence(lambda n: f"http://127.0.0.1:1/panel{n}/")
    panel_username = "admin"
    panel_password = "panel-secret-password"
    inbound_id = 1
    public_host = factory.Sequence(lambda n: f"n{n}.vpn.example.com")


class NodeClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NodeClient

    subscription = factory.SubFactory(SubscriptionFactory)
    node = factory.SubFactory(NodeFactory)
    email = factory.LazyAttribute(lambda o: f"s{o.subscription.pk}n{o.node.pk}")
