import factory
from django.utils import timezone

from nodes.models import Node, NodeCheck, NodeClient
from subscriptions.tests.factories import SubscriptionFactory

# A VLESS reality inbound as a health check caches it (Node.inbound_cache): links can be built.
REALITY_STREAM = {
    "network": "tcp",
    "security": "reality",
    "tcpSettings": {"header": {"type": "none"}},
    "realitySettings": {
        "serverNames": ["www.microsoft.com"],
        "shortIds": ["6ba85179e30d4fc2"],
        "settings": {"publicKey": "PBK", "fingerprint": "chrome", "spiderX": "/"},
    },
}
REALITY_INBOUND = {
    "id": 1,
    "port": 443,
    "protocol": "vless",
    "settings": {"decryption": "none", "encryption": "none"},
    "stream_settings": REALITY_STREAM,
}


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


class NodeCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NodeCheck

    node = factory.SubFactory(NodeFactory)
    checked_at = factory.LazyFunction(timezone.now)
    ok = True
    latency_ms = 40
