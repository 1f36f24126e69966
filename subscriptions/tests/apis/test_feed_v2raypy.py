"""An independent VLESS parser reads every link the base64 feed serves: v2raypy (PyPI
``v2raypy``, github.com/sina8125/v2raypy, ``V2ray.from_link``) agrees with us on what each
link says: uuid, host, port, network, security, flow and the TLS/REALITY parameters."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from v2ray.v2ray import V2ray

from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory
from subscriptions.tests.feed_cases import CASES, inbound
from subscriptions.vless import vless_link_parse

pytestmark = pytest.mark.django_db

APP = {"HTTP_USER_AGENT": "v2rayNG/1.10.2"}


def _served_links(subscription) -> list[str]:
    response = Client().get(f"/sub/{subscription.feed_token}", **APP)
    assert response.status_code == 200
    return base64.b64decode(response.content, validate=True).decode().splitlines()


def _subscription_with_every_kind_of_key():
    subscription = SubscriptionFactory()
    hosts = ["2001:db8::1", "198.51.100.7"]  # an IPv6 and an IPv4 node among the names
    for number, (transport, security) in enumerate(CASES):
        host = hosts[number] if number < len(hosts) else f"{transport}-{security}.example.com"
        node = NodeFactory(
            name=f"{transport}-{security}",
            public_host=host,
            health=NodeHealth.UP,
            inbound_cache=inbound(transport, security),
        )
        NodeClientFactory(subscription=subscription, node=node, sync_state=SyncState.SYNCED)
    return subscription


def _agree(link: str) -> None:
    uuid, host, port, params, remark = vless_link_parse(link)
    other = V2ray.from_link(link)
    assert other is not None, link
    assert other.tag == remark
    assert other.id == uuid
    assert other.address.strip("[]") == host  # v2raypy keeps IPv6 brackets
    assert other.port == port
    assert other.stream.network == params["type"]
    assert other.stream.security == params["security"]
    assert (other.settings.flow or "") == params.get("flow", "")
    if params["security"] == "tls":
        assert other.stream.tls.server_name == params["sni"]
        assert other.stream.tls.fingerprint == params["fp"]
        assert other.stream.tls.alpn == params["alpn"].split(",")
    if params["security"] == "reality":
        reality = other.stream.reality
        assert (reality.public_key, reality.short_id) == (params["pbk"], params["sid"])
        assert (reality.server_name, reality.fingerprint) == (params["sni"], params["fp"])
    if params["type"] in ("ws", "httpupgrade", "xhttp"):
        transport = getattr(other.stream, params["type"])
        assert (transport.path, transport.host) == (params["path"], params["host"])
    if params["type"] == "grpc":
        assert other.stream.grpc.service_name == params["serviceName"]


def test_every_link_served_reads_the_same_in_v2raypy():
    links = _served_links(_subscription_with_every_kind_of_key())
    assert len(links) == len(CASES)
    for link in links:
        _agree(link)


@pytest.mark.parametrize("state", ["ended", "banned"])
def test_the_placeholder_reads_the_same_in_v2raypy(state):
    now = timezone.now()
    subscription = SubscriptionFactory(
        started_at=now - timedelta(days=31), expires_at=now - timedelta(days=1)
    )
    if state == "ended":
        subscription.status = SubscriptionStatus.EXPIRED
        subscription.save()
    else:
        subscription.customer.is_banned = True
        subscription.customer.save()
    (link,) = _served_links(subscription)
    _agree(link)
    placeholder = V2ray.from_link(link)
    assert (placeholder.id, placeholder.address, placeholder.port) == (
        "00000000-0000-0000-0000-000000000000",
        "192.0.2.1",
        1,
    )
