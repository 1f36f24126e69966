"""Our feed's links carry traffic through a real VPN core, and stop carrying it when the
subscription ends (issue 18, "Tested with real clients").

For each transport: a panel whose inbound is served by sing-box as the panel's Xray would
serve it, a subscription whose key our push placed on that panel, the feed fetched as v2rayNG
fetches it, each link turned into a sing-box client, and a loopback page fetched through it.
After the expiry sweep the server is rebuilt from the panel's clients: the old link carries
nothing, and the feed's only entry (the placeholder) carries nothing either. The negative
controls show that a link differing from the inbound in any parameter the server checks
carries nothing, so a passing traffic test means the link is right, not merely parseable.
"""

from __future__ import annotations

import uuid

import pytest

from nodes.models import SyncState
from nodes.tests.conftest import panel_email
from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_PORT
from tests.vpn_core.links import link_query, link_with, outbound_for_this_core, outbound_from_link

pytestmark = [pytest.mark.django_db, pytest.mark.vpn_core]

# (network, security, panel release): every transport on the default release, and the legacy
# releases (clients in the inbound's settings, not a clients table) with TLS.
CASES = [
    ("tcp", "none", "3.6.0"),
    ("tcp", "tls", "3.6.0"),
    ("ws", "none", "3.6.0"),
    ("ws", "tls", "3.6.0"),
    ("grpc", "none", "3.6.0"),
    ("grpc", "tls", "3.6.0"),
    ("httpupgrade", "none", "3.6.0"),
    ("httpupgrade", "tls", "3.6.0"),
    ("tcp", "tls", "2.8.3"),
    ("ws", "tls", "3.0.2"),
]


def tunnel_for(singbox, link: str, panel):
    trust = panel.tls.certificate_pem if panel.tls else ""
    return singbox.client(outbound_for_this_core(outbound_from_link(link), trust_pem=trust))


@pytest.mark.parametrize(
    ("network", "security", "version"), CASES, ids=["-".join(c) for c in CASES]
)
def test_the_feed_carries_traffic_until_the_subscription_ends(  # noqa: PLR0917 - fixtures
    network,
    security,
    version,
    vpn_panel,
    singbox,
    loopback_page,
    subscribe,
    expire_by_sweep,
    feed_links,
):
    panel = vpn_panel(network, security, version=version)
    subscription = subscribe()
    key = subscription.keys.get()
    assert key.sync_state == SyncState.SYNCED, key.last_error
    email = panel_email(subscription, panel.sim)
    assert panel.sim.client(email)["id"] == str(subscription.client_uuid)
    panel.serve()

    (link,) = feed_links(subscription)
    query = link_query(link)
    assert (query["type"], query["security"]) == (network, security)
    tunnel = tunnel_for(singbox, link, panel)
    assert tunnel.fetch_text(loopback_page.url) == loopback_page.body, tunnel.box.log()
    assert loopback_page.hits == 1

    expire_by_sweep(subscription)
    assert panel.sim.client(email)["enable"] is False
    panel.serve()  # the panel's Xray restarted without the disabled client
    assert panel.singbox_server_inbound()["users"] == []
    assert tunnel.fetch_text(loopback_page.url) is None
    assert loopback_page.hits == 1

    (placeholder,) = feed_links(subscription)
    assert f"@{PLACEHOLDER_HOST}:{PLACEHOLDER_PORT}?" in placeholder
    dead_end = tunnel_for(singbox, placeholder, panel)
    assert dead_end.fetch_text(loopback_page.url) is None
    assert loopback_page.hits == 1


def test_a_subscription_on_two_panels_carries_traffic_through_each_link(
    vpn_panel, singbox, loopback_page, subscribe, feed_links
):
    panels = [vpn_panel("tcp", "none"), vpn_panel("grpc", "tls")]
    subscription = subscribe(node_count=2)
    assert sorted(k.sync_state for k in subscription.keys.all()) == [SyncState.SYNCED] * 2
    for panel in panels:
        panel.serve()
    links = feed_links(subscription)
    assert len(links) == 2
    by_port = {outbound_from_link(link)["server_port"]: link for link in links}
    for hits, panel in enumerate(panels, start=1):
        tunnel = tunnel_for(singbox, by_port[panel.port], panel)
        assert tunnel.fetch_text(loopback_page.url) == loopback_page.body, tunnel.box.log()
        assert loopback_page.hits == hits


# A link parameter the server checks, changed: (network, security, changes).
WRONG = [
    ("tcp", "tls", {"sni": "other.test"}),  # the certificate is not valid for it
    ("tcp", "tls", {"flow": None}),  # the panel's client has Vision
    ("tcp", "tls", {"security": "none"}),
    ("ws", "tls", {"path": "/other"}),
    ("grpc", "none", {"serviceName": "other"}),
    ("httpupgrade", "none", {"host": "other.vpn.test"}),
    ("httpupgrade", "none", {"path": "/other"}),
    ("tcp", "none", {"uuid": str(uuid.uuid4())}),
]


@pytest.mark.parametrize(
    ("network", "security", "changes"),
    WRONG,
    ids=[f"{n}-{s}-{'-'.join(c)}" for n, s, c in WRONG],
)
def test_a_link_that_differs_from_the_inbound_carries_nothing(  # noqa: PLR0917 - fixtures
    network, security, changes, vpn_panel, singbox, loopback_page, subscribe, feed_links
):
    panel = vpn_panel(network, security)
    subscription = subscribe()
    panel.serve()
    (link,) = feed_links(subscription)
    assert tunnel_for(singbox, link, panel).fetch_text(loopback_page.url) == loopback_page.body

    changes = dict(changes)
    wrong_uuid = changes.pop("uuid", None)
    wrong = link_with(link, **changes)
    if wrong_uuid:
        wrong = wrong.replace(str(subscription.client_uuid), wrong_uuid, 1)
    assert wrong != link
    assert tunnel_for(singbox, wrong, panel).fetch_text(loopback_page.url) is None
    assert loopback_page.hits == 1
