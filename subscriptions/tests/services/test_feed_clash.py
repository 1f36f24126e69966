"""The Clash/mihomo profile (subscriptions/feed_clash.py) against the mihomo configuration
reference (subscriptions/tests/mihomo_reference.py): every key it writes is one the reference
names, with the type the reference gives; the YAML is read back as a YAML 1.2 reader would."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
import yaml

from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_UUID, feed_placeholder_link
from subscriptions.feed_clash import (
    SELECT_GROUP,
    URLTEST_GROUP,
    clash_config_build,
    clash_yaml_render,
)
from subscriptions.tests.feed_cases import CASES, PUBLIC_KEY, SHORT_ID, UUID, case_link
from subscriptions.tests.mihomo_reference import XHTTP_MODES, assert_mihomo_profile


def _proxies(links: list[str]) -> list[dict]:
    return clash_config_build(links=links)["proxies"]


# What mihomo's profile cannot carry: cleartext xhttp (module docstring).
UNSUPPORTED_CASES = [("xhttp", "none")]
SUPPORTED_CASES = [case for case in CASES if case not in UNSUPPORTED_CASES]


@pytest.mark.parametrize(("transport", "security"), SUPPORTED_CASES)
def test_every_kind_of_key_matches_the_mihomo_reference(transport, security):
    config = clash_config_build(links=[case_link(transport, security)])
    assert_mihomo_profile(config)
    (proxy,) = config["proxies"]
    assert proxy["name"] == f"{transport}+{security}"
    assert proxy["uuid"] == UUID
    assert (proxy["server"], proxy["port"]) == ("n1.vpn.example.com", 443)
    assert proxy["udp"] is True
    assert proxy.get("tls", False) is (security != "none")
    # YAML text reads back to the same profile.
    assert yaml.safe_load(clash_yaml_render(links=[case_link(transport, security)])) == config


class TestTransportsPerReference:
    def test_reality_on_raw_tcp(self):
        (proxy,) = _proxies([case_link("tcp", "reality")])
        assert proxy["network"] == "tcp"
        assert proxy["flow"] == "xtls-rprx-vision"
        assert proxy["servername"] == "www.microsoft.com"
        assert proxy["client-fingerprint"] == "firefox"
        assert proxy["reality-opts"] == {"public-key": PUBLIC_KEY, "short-id": SHORT_ID}
        assert "fingerprint" not in proxy  # mihomo's "fingerprint" is a certificate hash

    def test_tls(self):
        (proxy,) = _proxies([case_link("tcp", "tls")])
        assert proxy["alpn"] == ["h2", "http/1.1"]
        assert proxy["client-fingerprint"] == "chrome"
        assert "reality-opts" not in proxy

    def test_ws(self):
        (proxy,) = _proxies([case_link("ws", "tls")])
        assert proxy["network"] == "ws"
        assert proxy["ws-opts"] == {"path": "/ws", "headers": {"Host": "cdn.example.com"}}
        assert "flow" not in proxy

    def test_httpupgrade_is_ws_with_v2ray_http_upgrade(self):
        (proxy,) = _proxies([case_link("httpupgrade", "none")])
        assert proxy["network"] == "ws"
        assert proxy["ws-opts"] == {
            "path": "/up",
            "headers": {"Host": "cdn.example.com"},
            "v2ray-http-upgrade": True,
        }

    def test_grpc(self):
        (proxy,) = _proxies([case_link("grpc", "reality")])
        assert proxy["network"] == "grpc"
        assert proxy["grpc-opts"] == {"grpc-service-name": "tun-svc"}

    def test_xhttp_maps_the_extra_field_by_field(self):
        (proxy,) = _proxies([case_link("xhttp", "reality")])
        assert proxy["network"] == "xhttp"
        assert proxy["xhttp-opts"] == {
            "path": "/xh",
            "host": "cdn.example.com",
            "mode": "packet-up",
            "x-padding-bytes": "100-1000",
            "reuse-settings": {"max-concurrency": "16-32", "h-max-reusable-secs": "1800-3000"},
        }
        assert proxy["xhttp-opts"]["mode"] in XHTTP_MODES

    def test_raw_tcp_http_obfuscation_is_network_http(self):
        (proxy,) = _proxies([case_link("tcp-http", "none")])
        assert proxy["network"] == "http"
        assert proxy["http-opts"] == {"path": ["/index"], "headers": {"Host": ["obf.example.com"]}}


def test_all_kinds_together_make_one_profile_with_select_and_url_test():
    links = [case_link(t, s, host=f"{t}-{s}.example.com") for t, s in CASES]
    config = clash_config_build(links=links)
    assert_mihomo_profile(config)
    names = [f"{t}+{s}" for t, s in SUPPORTED_CASES]
    assert [proxy["name"] for proxy in config["proxies"]] == names
    select, urltest = config["proxy-groups"]
    assert select == {"name": SELECT_GROUP, "type": "select", "proxies": [URLTEST_GROUP, *names]}
    assert (urltest["name"], urltest["type"], urltest["proxies"]) == (
        URLTEST_GROUP,
        "url-test",
        names,
    )


def test_the_placeholder_is_one_unroutable_proxy_named_by_its_remark():
    remark = "Access blocked — contact @vpnsite_help"
    config = clash_config_build(links=[feed_placeholder_link(remark=remark)])
    assert_mihomo_profile(config)
    assert config["proxies"] == [
        {
            "name": remark,
            "type": "vless",
            "server": PLACEHOLDER_HOST,
            "port": 1,
            "uuid": PLACEHOLDER_UUID,
            "udp": True,
            "network": "tcp",
        }
    ]
    assert config["proxy-groups"] == [{"name": SELECT_GROUP, "type": "select", "proxies": [remark]}]


def test_no_keys_still_imports_and_rejects():
    config = clash_config_build(links=[])
    assert_mihomo_profile(config)
    # Clash Verge refuses a profile without a "proxies" key (src-tauri/src/config/prfitem.rs).
    assert "proxies:" in clash_yaml_render(links=[])
    assert config["proxies"] == []
    assert config["proxy-groups"] == [
        {"name": SELECT_GROUP, "type": "select", "proxies": ["REJECT"]}
    ]


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        (case_link("xhttp", "none"), "TLS or REALITY"),
        (
            case_link("xhttp", "tls").replace(
                "%22mode%22", "%22downloadSettings%22%3A%7B%7D%2C%22mode%22"
            ),
            "downloadSettings",
        ),
        (case_link("tcp", "tls").replace("fp=chrome", "fp=randomizednoalpn"), "fingerprint"),
        (case_link("grpc", "tls").replace("authority=", "authority=cdn.example.com"), "authority"),
        (case_link("ws", "tls").replace("&type=ws", "&ech=AEX%2B&type=ws"), "ech"),
    ],
)
def test_what_mihomo_cannot_express_is_left_out_and_logged(link, reason, caplog):
    ok = case_link("tcp", "reality", host="ok.example.com")
    with caplog.at_level(logging.WARNING, logger="subscriptions.feed_clash"):
        config = clash_config_build(links=[link, ok])
    assert [proxy["name"] for proxy in config["proxies"]] == ["tcp+reality"]
    assert reason in caplog.text


def test_vless_encryption_and_the_udp443_flow_are_written_as_mihomo_names_them():
    link = (
        case_link("tcp", "reality")
        .replace("encryption=none", "encryption=mlkem768x25519plus.native.1rtt.abc")
        .replace("flow=xtls-rprx-vision", "flow=xtls-rprx-vision-udp443")
    )
    (proxy,) = _proxies([link])
    assert proxy["encryption"] == "mlkem768x25519plus.native.1rtt.abc"
    assert proxy["flow"] == "xtls-rprx-vision"


def test_names_are_unique_and_never_a_group_or_built_in_name():
    links = [
        case_link("tcp", "tls", host="a.example.com"),
        case_link("tcp", "tls", host="b.example.com"),
        feed_placeholder_link(remark="DIRECT"),
        feed_placeholder_link(remark="Proxy"),
    ]
    config = clash_config_build(links=links)
    assert_mihomo_profile(config)
    assert [p["name"] for p in config["proxies"]] == ["tcp+tls", "tcp+tls 2", "DIRECT 2", "Proxy 2"]


# A YAML 1.2 reader (mihomo: Go's yaml.v3) takes these plain scalars for numbers or booleans.
@pytest.mark.parametrize(
    "text", ["12e4", "0o17", "1e5", "+1", ".5", "true", "null", "0x1F", "1234"]
)
def test_strings_that_look_like_numbers_are_quoted(text):
    link = case_link("tcp", "reality").replace(f"sid={SHORT_ID}", f"sid={quote(text)}")
    rendered = clash_yaml_render(links=[link])
    assert f"short-id: '{text}'" in rendered
    assert yaml.safe_load(rendered)["proxies"][0]["reality-opts"]["short-id"] == text


def test_names_keep_their_unicode():
    """Cyrillic stays readable; libyaml's emitter writes characters beyond the Basic
    Multilingual Plane (the flag) as ``\\U`` escapes, which every YAML reader (mihomo's
    go-yaml too) turns back into the same name."""
    remark = "🇩🇪 Франкфурт · s1"
    rendered = clash_yaml_render(links=[feed_placeholder_link(remark=remark)])
    assert "Франкфурт · s1" in rendered
    profile = yaml.safe_load(rendered)
    assert profile["proxies"][0]["name"] == remark
    assert profile["proxy-groups"][0]["proxies"] == [remark]
