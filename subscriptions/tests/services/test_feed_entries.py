"""One source of truth (subscriptions/feed_entries.py): every format reads the key from the
link we serve, so the link, the Clash proxy and the sing-box outbound say the same thing."""

from __future__ import annotations

import pytest

from subscriptions.feed_clash import clash_config_build
from subscriptions.feed_entries import (
    FeedEntryError,
    entries_named,
    feed_entry_from_link,
)
from subscriptions.feed_singbox import singbox_config_build
from subscriptions.tests.feed_cases import CASES, case_link
from subscriptions.vless import vless_link_parse


@pytest.mark.parametrize(("transport", "security"), CASES)
def test_the_entry_is_what_the_link_says(transport, security):
    link = case_link(transport, security)
    uuid, host, port, params, remark = vless_link_parse(link)
    entry = feed_entry_from_link(link)
    assert (entry.uuid, entry.host, entry.port, entry.name) == (uuid, host, port, remark)
    assert entry.network == params["type"]
    assert entry.security == params["security"]
    assert entry.flow == params.get("flow", "")
    assert entry.sni == params.get("sni", "")
    assert entry.fingerprint == params.get("fp", "")
    assert entry.public_key == params.get("pbk", "")
    assert entry.short_id == params.get("sid", "")
    assert entry.path == params.get("path", "")
    assert entry.host_header == params.get("host", "")
    assert entry.service_name == params.get("serviceName", "")
    assert entry.unmodelled == ()


@pytest.mark.parametrize(("transport", "security"), CASES)
def test_all_formats_agree_with_the_link(transport, security):
    link = case_link(transport, security)
    uuid, host, port, params, remark = vless_link_parse(link)
    clash = clash_config_build(links=[link])["proxies"]
    singbox = [o for o in singbox_config_build(links=[link])["outbounds"] if o["type"] == "vless"]
    for proxy in clash:
        assert (proxy["name"], proxy["uuid"], proxy["server"], proxy["port"]) == (
            remark,
            uuid,
            host,
            port,
        )
        assert proxy.get("flow", "") == params.get("flow", "")
        assert proxy.get("servername", "") == params.get("sni", "")
        assert proxy.get("reality-opts", {}).get("public-key", "") == params.get("pbk", "")
        assert proxy.get("reality-opts", {}).get("short-id", "") == params.get("sid", "")
    for outbound in singbox:
        assert (outbound["tag"], outbound["uuid"], outbound["server"]) == (remark, uuid, host)
        assert outbound["server_port"] == port
        assert outbound.get("flow", "") == params.get("flow", "")
        tls = outbound.get("tls", {})
        assert tls.get("server_name", "") == params.get("sni", "")
        assert tls.get("reality", {}).get("public_key", "") == params.get("pbk", "")
        assert tls.get("reality", {}).get("short_id", "") == params.get("sid", "")
        assert outbound.get("transport", {}).get("path", "") == params.get("path", "")
    # Both are served unless the format cannot say it (the renderers' own tests list which).
    assert clash or (transport, security) == ("xhttp", "none")
    assert singbox or transport in ("xhttp", "tcp-http")


def test_a_reality_link_without_fingerprint_gets_chrome():
    link = case_link("tcp", "reality").replace("fp=firefox&", "")
    assert feed_entry_from_link(link).fingerprint == "chrome"


def test_parameters_we_do_not_model_are_kept_aside():
    link = case_link("ws", "tls").replace("&type=ws", "&fm=%7B%7D&pcs=ab&type=ws")
    assert feed_entry_from_link(link).unmodelled == ("fm", "pcs")


@pytest.mark.parametrize(
    "link",
    [
        "vmess://abc",
        case_link("tcp", "tls").replace("type=tcp", "type=kcp"),
        case_link("tcp", "tls").replace("security=tls", "security=xtls"),
        case_link("xhttp", "tls").replace("extra=%7B", "extra=%5B%7B"),
    ],
)
def test_a_link_we_would_never_build_is_refused(link):
    with pytest.raises(FeedEntryError):
        feed_entry_from_link(link)


def test_names_made_unique_in_order():
    entries = [
        feed_entry_from_link(case_link("tcp", "tls", host=f"h{n}.example.com")) for n in range(3)
    ]
    named = entries_named(entries, reserved=frozenset({"tcp+tls 2"}))
    assert [entry.name for entry in named] == ["tcp+tls", "tcp+tls 3", "tcp+tls 4"]
    assert [entry.host for entry in named] == [entry.host for entry in entries]
