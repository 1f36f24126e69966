"""Our feed's links carry traffic through a real VPN core, and stop carrying it when the
subscription ends (issue 18, "Tested with real clients").

For each transport: a panel whose inbound is served by sing-box as the panel's Xray would
serve it, a subscription whose key our push placed on that panel, the feed fetched as v2rayNG
fetches it (each format in ``FEED_FORMATS``), each entry turned into a sing-box client, and
a loopback page fetched through it.
After the expiry sweep the server is rebuilt from the panel's clients: the old link carries
nothing, and the feed's only entry (the placeholder) carries nothing either. The negative
controls show that a link differing from the inbound in any parameter the server checks
carries nothing, so a passing traffic test means the link is right, not merely parseable.
"""

from __future__ import annotations

import pytest

from nodes.models import SyncState
from nodes.tests.conftest import panel_email
from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_PORT
from tests.vpn_core.conftest import FEED_FORMATS
from tests.vpn_core.links import link_with, outbound_for_this_core, outbound_from_link

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


def tunnel_for(singbox, outbound: dict, panel):
    trust = panel.tls.certificate_pem if panel.tls else ""
    return singbox.client(outbound_for_this_core(outbound, trust_pem=trust))


def transport_of(outbound: dict) -> tuple[str, str]:
    """(network, security) as the outbound says them."""
    network = (outbound.get("transport") or {}).get("type", "tcp")
    return network, "tls" if (outbound.get("tls") or {}).get("enabled") else "none"


@pytest.mark.parametrize("feed_format", FEED_FORMATS)
@pytest.mark.parametrize(
    ("network", "security", "version"), CASES, ids=["-".join(c) for c in CASES]
)
def test_the_feed_carries_traffic_until_the_subscription_ends(  # noqa: PLR0917 - fixtures
    network,
    security,
    version,
    feed_format,
    vpn_panel,
    singbox,
    loopback_page,
    subscribe,
    expire_by_sweep,
    feed_outbounds,
):
    panel = vpn_panel(network, security, version=version)
    subscription = subscribe()
    key = subscription.keys.get()
    assert key.sync_state == SyncState.SYNCED, key.last_error
    email = panel_email(subscription, panel.sim)
    assert panel.sim.client(email)["id"] == str(subscription.client_uuid)
    panel.serve()

    (outbound,) = feed_outbounds(subscription, feed_format)
    assert transport_of(outbound) == (network, security)
    tunnel = tunnel_for(singbox, outbound, panel)
    assert tunnel.fetch_text(loopback_page.url) == loopback_page.body, tunnel.box.log()
    assert loopback_page.hits == 1

    expire_by_sweep(subscription)
    assert panel.sim.client(email)["enable"] is False
    panel.serve()  # the panel's Xray restarted without the disabled client
    assert panel.singbox_server_inbound()["users"] == []
    assert tunnel.fetch_text(loopback_page.url) is None
    assert loopback_page.hits == 1

    (placeholder,) = feed_outbounds(subscription, feed_format)
    assert (placeholder["server"], placeholder["server_port"]) == (
        PLACEHOLDER_HOST,
        PLACEHOLDER_PORT,
    )
    dead_end = tunnel_for(singbox, placeholder, panel)
    assert dead_end.fetch_text(loopback_page.url) is None
    assert loopback_page.hits == 1


@pytest.mark.parametrize("feed_format", FEED_FORMATS)
def test_a_subscription_on_two_panels_carries_traffic_through_each_link(  # noqa: PLR0917 - fixtures
    feed_format, vpn_panel, singbox, loopback_page, subscribe, feed_outbounds
):
    panels = [vpn_panel("tcp", "none"), vpn_panel("grpc", "tls")]
    subscription = subscribe(node_count=2)
    assert sorted(k.sync_state for k in subscription.keys.all()) == [SyncState.SYNCED] * 2
    for panel in panels:
        panel.serve()
    outbounds = feed_outbounds(subscription, feed_format)
    assert len(outbounds) == 2
    by_port = {outbound["server_port"]: outbound for outbound in outbounds}
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
    ("tcp", "none", {"uuid": "0b5c3e8e-2f4d-4c8a-9d61-7a0e5b1f3c24"}),  # no such client
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
    tunnel = tunnel_for(singbox, outbound_from_link(link), panel)
    assert tunnel.fetch_text(loopback_page.url) == loopback_page.body, tunnel.box.log()

    changes = dict(changes)
    wrong_uuid = changes.pop("uuid", None)
    wrong = link_with(link, **changes)
    if wrong_uuid:
        wrong = wrong.replace(str(subscription.client_uuid), wrong_uuid, 1)
    assert wrong != link
    wrong_tunnel = tunnel_for(singbox, outbound_from_link(wrong), panel)
    assert wrong_tunnel.fetch_text(loopback_page.url) is None, wrong_tunnel.box.log()
    assert loopback_page.hits == 1
