"""The sing-box profile (subscriptions/feed_singbox.py): every configuration the feed can serve
passes the real `sing-box check`, and each field says what the link says."""

from __future__ import annotations

import json
import logging

import pytest

from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_UUID, feed_placeholder_link
from subscriptions.feed_singbox import (
    DIRECT_TAG,
    SELECTOR_TAG,
    URLTEST_TAG,
    singbox_config_build,
    singbox_json_render,
)
from subscriptions.tests.feed_cases import (
    CASES,
    PUBLIC_KEY,
    SHORT_ID,
    UUID,
    case_link,
    singbox_check,
    singbox_references_resolve,
)

# What sing-box has no way to say (module docstring): these kinds are left out.
UNSUPPORTED = {"xhttp", "tcp-http"}
SUPPORTED_CASES = [case for case in CASES if case[0] not in UNSUPPORTED]
UNSUPPORTED_CASES = [case for case in CASES if case[0] in UNSUPPORTED]


def _vless(config: dict) -> list[dict]:
    return [outbound for outbound in config["outbounds"] if outbound["type"] == "vless"]


@pytest.mark.parametrize(("transport", "security"), SUPPORTED_CASES)
def test_every_kind_of_key_passes_sing_box_check(transport, security, tmp_path):
    config = singbox_config_build(links=[case_link(transport, security)])
    singbox_references_resolve(config)
    singbox_check(config, tmp_path)
    (outbound,) = _vless(config)
    assert outbound["tag"] == f"{transport}+{security}"


def test_all_kinds_together_and_the_placeholder_pass_sing_box_check(tmp_path):
    links = [case_link(t, s, host=f"{t}-{s}.example.com") for t, s in CASES]
    config = singbox_config_build(links=links)
    singbox_references_resolve(config)
    singbox_check(config, tmp_path)
    assert len(_vless(config)) == len(SUPPORTED_CASES)
    selector = config["outbounds"][0]
    assert selector == {
        "type": "selector",
        "tag": SELECTOR_TAG,
        "outbounds": [URLTEST_TAG, *(f"{t}+{s}" for t, s in SUPPORTED_CASES)],
    }
    assert config["outbounds"][1]["type"] == "urltest"


def test_the_placeholder_is_one_unroutable_entry_named_by_its_remark(tmp_path):
    remark = "Подписка закончилась — продлите в @vpnsite_bot"
    config = singbox_config_build(links=[feed_placeholder_link(remark=remark)])
    singbox_references_resolve(config)
    singbox_check(config, tmp_path)
    assert _vless(config) == [
        {
            "type": "vless",
            "tag": remark,
            "server": PLACEHOLDER_HOST,
            "server_port": 1,
            "uuid": PLACEHOLDER_UUID,
        }
    ]
    assert [o["type"] for o in config["outbounds"]] == ["selector", "vless", "direct"]


def test_no_keys_still_imports_and_refuses_every_connection(tmp_path):
    config = singbox_config_build(links=[])
    singbox_references_resolve(config)
    singbox_check(config, tmp_path)
    assert config["outbounds"] == [{"type": "direct", "tag": DIRECT_TAG}]
    # Nothing goes out around the tunnel: every connection, DNS included, meets "reject".
    assert config["route"]["rules"] == [{"action": "reject"}]
    assert [server["type"] for server in config["dns"]["servers"]] == ["local"]


def test_app_essentials_tun_inbound_remote_dns_and_final_proxy():
    config = singbox_config_build(links=[case_link("tcp", "reality")])
    tun = config["inbounds"][0]
    assert tun["type"] == "tun"
    assert tun["auto_route"] is True
    assert config["route"]["final"] == SELECTOR_TAG
    assert config["route"]["rules"][:2] == [
        {"action": "sniff"},
        {"protocol": "dns", "action": "hijack-dns"},
    ]
    remote = config["dns"]["servers"][0]
    assert (remote["type"], remote["detour"]) == ("https", SELECTOR_TAG)
    assert config["dns"]["final"] == remote["tag"]


class TestFieldsFromTheLink:
    def test_reality(self):
        (outbound,) = _vless(singbox_config_build(links=[case_link("tcp", "reality")]))
        assert outbound["uuid"] == UUID
        assert (outbound["server"], outbound["server_port"]) == ("n1.vpn.example.com", 443)
        assert outbound["flow"] == "xtls-rprx-vision"
        assert outbound["tls"] == {
            "enabled": True,
            "server_name": "www.microsoft.com",
            "utls": {"enabled": True, "fingerprint": "firefox"},
            "reality": {"enabled": True, "public_key": PUBLIC_KEY, "short_id": SHORT_ID},
        }
        assert "transport" not in outbound

    def test_tls_with_alpn(self):
        (outbound,) = _vless(singbox_config_build(links=[case_link("tcp", "tls")]))
        assert outbound["tls"]["server_name"] == "cdn.example.com"
        assert outbound["tls"]["alpn"] == ["h2", "http/1.1"]
        assert outbound["tls"]["utls"] == {"enabled": True, "fingerprint": "chrome"}

    def test_ws(self):
        (outbound,) = _vless(singbox_config_build(links=[case_link("ws", "none")]))
        assert outbound["transport"] == {
            "type": "ws",
            "path": "/ws",
            "headers": {"Host": "cdn.example.com"},
        }
        assert "tls" not in outbound
        assert "flow" not in outbound

    def test_httpupgrade(self):
        (outbound,) = _vless(singbox_config_build(links=[case_link("httpupgrade", "tls")]))
        assert outbound["transport"] == {
            "type": "httpupgrade",
            "path": "/up",
            "host": "cdn.example.com",
        }

    def test_grpc(self):
        (outbound,) = _vless(singbox_config_build(links=[case_link("grpc", "reality")]))
        assert outbound["transport"] == {"type": "grpc", "service_name": "tun-svc"}
        assert outbound["tls"]["reality"]["public_key"] == PUBLIC_KEY


@pytest.mark.parametrize(("transport", "security"), UNSUPPORTED_CASES)
def test_what_sing_box_cannot_express_is_left_out_and_logged(transport, security, caplog):
    links = [case_link(transport, security), case_link("tcp", "reality", host="ok.example.com")]
    with caplog.at_level(logging.WARNING, logger="subscriptions.feed_singbox"):
        config = singbox_config_build(links=links)
    assert [o["tag"] for o in _vless(config)] == ["tcp+reality"]
    assert f"{transport}+{security}" in caplog.text


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        (
            case_link("tcp", "reality").replace(
                "encryption=none", "encryption=mlkem768x25519plus.x"
            ),
            "VLESS encryption",
        ),
        (case_link("tcp", "tls").replace("fp=chrome", "fp=randomizednoalpn"), "fingerprint"),
        (case_link("grpc", "tls").replace("authority=", "authority=cdn.example.com"), "authority"),
        (case_link("ws", "tls").replace("&type=ws", "&fm=%7B%7D&type=ws"), "fm"),
        (
            case_link("tcp", "tls").replace(
                "flow=xtls-rprx-vision", "flow=xtls-rprx-vision-udp443"
            ),
            "flow",
        ),
    ],
)
def test_options_sing_box_lacks_leave_the_entry_out(link, reason, caplog):
    with caplog.at_level(logging.WARNING, logger="subscriptions.feed_singbox"):
        config = singbox_config_build(links=[link])
    assert _vless(config) == []
    assert reason in caplog.text


def test_equal_remarks_get_distinct_tags_and_group_names_stay_free(tmp_path):
    links = [
        case_link("tcp", "tls", host="a.example.com"),
        case_link("tcp", "tls", host="b.example.com"),
        feed_placeholder_link(remark=SELECTOR_TAG),
    ]
    config = singbox_config_build(links=links)
    singbox_references_resolve(config)
    singbox_check(config, tmp_path)
    assert [o["tag"] for o in _vless(config)] == ["tcp+tls", "tcp+tls 2", f"{SELECTOR_TAG} 2"]


def test_json_text_is_utf8_and_round_trips():
    remark = "🇩🇪 Франкфурт"
    text = singbox_json_render(links=[feed_placeholder_link(remark=remark)])
    assert remark in text
    assert json.loads(text) == singbox_config_build(links=[feed_placeholder_link(remark=remark)])
