"""``subscription_links``: each key's link is the one the key's panel would serve its client."""

import hashlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from nodes.models import NodeHealth, SyncState
from nodes.services.keys import key_sub_id
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.selectors import node_place, subscription_links
from subscriptions.tests.factories import SubscriptionFactory
from subscriptions.vless import vless_link_parse

pytestmark = pytest.mark.django_db


def _spx(spider_x: str, sub_id: str) -> str:
    """3x-ui v3.5+ ``deriveSpiderX(seed, subKey(client))`` (v3.6.0:internal/sub/service.go)."""
    return "/" + hashlib.sha256(f"{spider_x}|{sub_id}".encode()).hexdigest()[:15]


def test_the_reality_spx_is_seeded_by_each_panel_clients_sub_id():
    """A key made under the per-node rule has subId ``<sub_id>n<node>`` on its panel, one
    made before it the subscription's own: 3x-ui derives ``spx`` from that subId."""
    subscription = SubscriptionFactory()
    per_node, legacy = (
        NodeClientFactory(
            subscription=subscription,
            node=NodeFactory(name=name, health=NodeHealth.UP, inbound_cache=REALITY_INBOUND),
            sync_state=SyncState.SYNCED,
            **fields,
        )
        for name, fields in (("a", {}), ("b", {"email": f"s{subscription.pk}"}))
    )
    links = {
        key.node_name: dict(parse_qsl(urlsplit(key.link).query))
        for key in subscription_links(subscription=subscription)
    }
    seed = REALITY_INBOUND["stream_settings"]["realitySettings"]["settings"]["spiderX"]
    assert key_sub_id(key=per_node) == f"{subscription.sub_id}n{per_node.node_id}"
    assert links["a"]["spx"] == _spx(seed, f"{subscription.sub_id}n{per_node.node_id}")
    assert key_sub_id(key=legacy) == subscription.sub_id
    assert links["b"]["spx"] == _spx(seed, subscription.sub_id)


@pytest.mark.parametrize(
    ("kwargs", "want"),
    [
        ({"location": "Frankfurt", "country": "de"}, "🇩🇪 Frankfurt"),
        ({"location": "Amsterdam, NL", "country": "NL"}, "🇳🇱 Amsterdam, NL"),
        ({"country": "DE", "language": "en"}, "🇩🇪 Germany"),
        ({"country": "DE", "language": "ru"}, "🇩🇪 Германия"),
        ({"location": "  Riga\n old town\t", "country": "lv"}, "🇱🇻 Riga old town"),
        ({"location": "Somewhere", "country": "XYZ"}, "Somewhere"),
        ({"country": "1a"}, "🌐 VPN"),
        ({}, "🌐 VPN"),
    ],
)
def test_node_place_is_flag_and_city_or_country_name(kwargs, want):
    assert node_place(**kwargs) == want


@pytest.mark.parametrize(
    ("language", "places"),
    [
        ("en", ["🇩🇪 Frankfurt", "🇩🇪 Frankfurt 2", "🇫🇮 Finland"]),
        ("ru", ["🇩🇪 Frankfurt", "🇩🇪 Frankfurt 2", "🇫🇮 Финляндия"]),
    ],
)
def test_links_are_named_by_place_never_by_the_operators_node_name(language, places):
    """Client apps list servers by the link's remark: the customer sees where a server is,
    two in one city are told apart, and the operator's names ("de-fra-1") never show."""
    subscription = SubscriptionFactory(customer__language=language)
    for name, location, country in (
        ("de-fra-1", "Frankfurt", "DE"),
        ("de-fra-2", "Frankfurt", "DE"),
        ("fi-hel-1", "", "FI"),
    ):
        NodeClientFactory(
            subscription=subscription,
            node=NodeFactory(
                name=name,
                location=location,
                country=country,
                health=NodeHealth.UP,
                inbound_cache=REALITY_INBOUND,
            ),
            sync_state=SyncState.SYNCED,
        )
    links = subscription_links(subscription=subscription)
    assert [key.place for key in links] == places
    assert [vless_link_parse(key.link)[4] for key in links] == places
    assert not any(name in key.link for key in links for name in ("de-fra", "fi-hel"))
