"""/sub/<token> per app: each app, by the User-Agent it really sends, gets the format it reads,
with the same headers, and the same placeholder when the subscription cannot be used
(docs/feed.md). The YAML is checked against the mihomo reference, the JSON by `sing-box check`.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_PORT, PLACEHOLDER_UUID
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory
from subscriptions.tests.feed_cases import (
    CASES,
    inbound,
    singbox_check,
    singbox_references_resolve,
)
from subscriptions.tests.mihomo_reference import assert_mihomo_profile
from subscriptions.vless import vless_link_parse

pytestmark = pytest.mark.django_db

GIB = 1024**3
# (app, the User-Agent it sends: subscriptions/tests/selectors/test_feed_formats.py, format)
APPS = [
    ("v2rayNG", "v2rayNG/1.10.2", "base64"),
    ("v2rayN", "v2rayN/7.12.5", "base64"),
    ("Happ", "Happ/3.16.0/Android/1741613", "base64"),
    ("Hiddify", "HiddifyNext/4.1.2 (android) like ClashMeta v2ray sing-box", "base64"),
    ("v2RayTun", "v2RayTun/Android", "base64"),
    ("Streisand", "Streisand/1.6.41", "base64"),
    ("Shadowrocket", "Shadowrocket/2070 CFNetwork/1410.0.3 Darwin/22.6.0", "base64"),
    ("Clash Verge", "clash-verge/v2.4.2", "clash"),
    ("FlClash", "FlClash/v0.8.96 clash-verge Platform/android", "clash"),
    ("mihomo", "clash.meta", "clash"),
    ("Clash Meta for Android", "ClashMetaForAndroid/2.11.32.Meta", "clash"),
    ("ClashX Meta", "ClashX Meta/v1.4.24 (com.metacubex.ClashX.meta; build:622)", "clash"),
    ("Stash", "Stash/3.1.1 Clash/1.9.0", "clash"),
    ("SFA", "SFA/1.12.0 (584; sing-box 1.12.0; language en_US)", "singbox"),
    ("SFI", "SFI (sing-box 1.12.0; language en_US)", "singbox"),
    ("SFM", "SFM (sing-box 1.12.0; language ru_RU)", "singbox"),
    ("SFT", "SFT (sing-box 1.11.4; language en)", "singbox"),
    ("Karing", "Karing/1.0.26.323 platform/android ClashMeta;sing-box;clash-verge", "singbox"),
]
APP_IDS = [app for app, _, _ in APPS]
CONTENT_TYPES = {
    "base64": "text/plain; charset=utf-8",
    "clash": "text/yaml; charset=utf-8",
    "singbox": "application/json; charset=utf-8",
}
EXTENSIONS = {"base64": "", "clash": ".yaml", "singbox": ".json"}
FORMATS = list(CONTENT_TYPES)
SHARED_HEADERS = (
    "Subscription-Userinfo",
    "Profile-Update-Interval",
    "Profile-Title",
    "Support-Url",
    "Profile-Web-Page-Url",
)


@pytest.fixture(autouse=True)
def _settings(settings, runtime_setting):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpnsite_help")
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    runtime_setting("FEED_TITLE", "MyVPN")
    settings.SUBSCRIPTION_FEED_UPDATE_HOURS = 12


def _with_keys(subscription, cases=(("tcp", "reality"),), *, up=0, down=0):
    for number, (transport, security) in enumerate(cases):
        node = NodeFactory(
            name=f"{transport}-{security}",
            health=NodeHealth.UP,
            inbound_cache=inbound(transport, security),
        )
        NodeClientFactory(
            subscription=subscription,
            node=node,
            sync_state=SyncState.SYNCED,
            traffic_up=up if number == 0 else 0,
            traffic_down=down if number == 0 else 0,
        )
    return subscription


def _get(subscription, agent="", method="get", **query):
    path = f"/sub/{subscription.feed_token}"
    return getattr(Client(), method)(path, query, HTTP_USER_AGENT=agent)


def entries(response, format_name: str) -> list[tuple[str, str, int, str]]:
    """(name, uuid, host, port) of every server the response offers, in that format."""
    body = response.content.decode("utf-8")
    if format_name == "base64":
        links = base64.b64decode(body, validate=True).decode("utf-8").splitlines()
        return [
            (remark, uuid, host, port)
            for uuid, host, port, _, remark in (vless_link_parse(link) for link in links)
        ]
    if format_name == "clash":
        config = yaml.safe_load(body)
        assert_mihomo_profile(config)
        return [(p["name"], p["uuid"], p["server"], p["port"]) for p in config["proxies"]]
    config = json.loads(body)
    singbox_references_resolve(config)
    return [
        (o["tag"], o["uuid"], o["server"], o["server_port"])
        for o in config["outbounds"]
        if o["type"] == "vless"
    ]


def _userinfo(response) -> dict[str, int]:
    parts = (part.strip().split("=", 1) for part in response["Subscription-Userinfo"].split(";"))
    return {name: int(value) for name, value in parts}


@pytest.mark.parametrize(("app", "agent", "format_name"), APPS, ids=APP_IDS)
def test_each_app_gets_its_format_with_the_feed_headers(app, agent, format_name):
    subscription = _with_keys(SubscriptionFactory(), [("tcp", "reality"), ("ws", "tls")])
    response = _get(subscription, agent)
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[format_name]
    served = entries(response, format_name)
    assert len(served) == 2
    assert {uuid for _, uuid, _, _ in served} == {str(subscription.client_uuid)}
    # Header names and encodings every app reads (docs/x3ui.md, docs/feed.md).
    assert response["Profile-Update-Interval"] == "12"
    assert response["Profile-Title"] == "base64:" + base64.b64encode(b"MyVPN").decode()
    assert set(_userinfo(response)) == {"upload", "download", "total", "expire"}
    assert response["Content-Disposition"] == (
        f'attachment; filename="MyVPN{EXTENSIONS[format_name]}"'
    )
    assert response["Support-Url"] == "https://t.me/vpnsite_help"


def test_every_format_carries_the_same_headers_and_the_same_servers():
    subscription = _with_keys(SubscriptionFactory(), CASES, up=5 * GIB, down=GIB)
    responses = {name: _get(subscription, format=name) for name in FORMATS}
    for name in SHARED_HEADERS:
        assert len({response[name] for response in responses.values()}) == 1, name
    assert _userinfo(responses["clash"])["upload"] == 5 * GIB
    served = {name: entries(response, name) for name, response in responses.items()}
    # Every format serves what it can express of the same keys, with the same data.
    assert set(served["clash"]) <= set(served["base64"])
    assert set(served["singbox"]) <= set(served["base64"])
    assert len(served["base64"]) == len(CASES)
    assert len(served["clash"]) == len(CASES) - 1  # cleartext xhttp
    assert len(served["singbox"]) == len(CASES) - 5  # xhttp x3, raw TCP with HTTP header x2


def test_every_json_the_feed_serves_for_every_kind_of_key_passes_sing_box_check(tmp_path):
    subscription = _with_keys(SubscriptionFactory(), CASES)
    response = _get(subscription, "SFA/1.12.0 (584; sing-box 1.12.0; language en_US)")
    singbox_check(json.loads(response.content), tmp_path)


def _ended():
    now = timezone.now()
    return SubscriptionFactory(
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=40),
        expires_at=now - timedelta(days=10),
    )


def _banned():
    subscription = SubscriptionFactory()
    subscription.customer.is_banned = True
    subscription.customer.save()
    return subscription


def _over_limit():
    return SubscriptionFactory(traffic_limit_bytes=GIB)


STATES = {
    "ended": (_ended, "Подписка закончилась — продлите в @vpnsite_bot", {}),
    "banned": (_banned, "Доступ заблокирован — напишите @vpnsite_help", {}),
    "over-limit": (_over_limit, "Трафик закончился — продлите в @vpnsite_bot", {"up": 2 * GIB}),
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize(("app", "agent", "format_name"), APPS, ids=APP_IDS)
def test_placeholder_per_state_in_the_apps_format(app, agent, format_name, state, tmp_path):
    make, remark, traffic = STATES[state]
    subscription = _with_keys(make(), **traffic)
    response = _get(subscription, agent)
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[format_name]
    assert entries(response, format_name) == [
        (remark, PLACEHOLDER_UUID, PLACEHOLDER_HOST, PLACEHOLDER_PORT)
    ]
    if format_name == "singbox":
        singbox_check(json.loads(response.content), tmp_path)


@pytest.mark.parametrize("format_name", FORMATS)
def test_an_active_subscription_without_keys(format_name, tmp_path):
    response = _get(SubscriptionFactory(), format=format_name)
    assert response.status_code == 200
    if format_name == "base64":
        assert response.content == b""  # as before: 3x-ui's empty feed
        return
    assert entries(response, format_name) == []  # imports, and offers no server
    if format_name == "clash":
        groups = yaml.safe_load(response.content)["proxy-groups"]
        assert groups == [{"name": "Proxy", "type": "select", "proxies": ["REJECT"]}]
    else:
        config = json.loads(response.content)
        singbox_check(config, tmp_path)
        assert config["route"]["rules"][-1] == {"action": "reject"}


@pytest.mark.parametrize("format_name", FORMATS)
def test_head_answers_like_get_without_a_body(format_name):
    subscription = _with_keys(SubscriptionFactory())
    got = _get(subscription, format=format_name)
    head = _get(subscription, method="head", format=format_name)
    assert head.status_code == 200
    assert head.content == b""
    for name in (*SHARED_HEADERS, "Content-Type", "Content-Disposition"):
        assert head[name] == got[name]


@pytest.mark.parametrize("format_name", ["clash", "singbox"])
def test_other_formats_cost_the_same_two_queries(format_name):
    subscription = _with_keys(SubscriptionFactory(), CASES[:5])
    runtime_settings()  # cached, as in a running server
    with CaptureQueriesContext(connection) as captured:
        response = _get(subscription, format=format_name)
    assert response.status_code == 200
    assert len(captured.captured_queries) == 2


class TestFormatParameter:
    @pytest.mark.parametrize("value", ["xray", "", "clash,singbox"])
    def test_an_unknown_format_is_a_clear_400_and_nothing_else_happens(self, value):
        subscription = _with_keys(SubscriptionFactory())
        with CaptureQueriesContext(connection) as captured:
            response = _get(subscription, "clash-verge/v2.4.2", format=value)
        assert response.status_code == 400
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert "format" in response.content.decode()
        assert "Subscription-Userinfo" not in response
        assert captured.captured_queries == []

    def test_the_error_names_the_formats_we_serve(self):
        response = _get(SubscriptionFactory(), format="xray")
        text = response.content.decode()
        assert "'xray'" in text
        for name in ("base64", "clash", "mihomo", "singbox", "sing-box"):
            assert name in text

    def test_head_of_an_unknown_format_is_400_without_a_body(self):
        response = _get(SubscriptionFactory(), method="head", format="xray")
        assert (response.status_code, response.content) == (400, b"")

    def test_the_parameter_wins_over_the_app(self):
        subscription = _with_keys(SubscriptionFactory())
        response = _get(subscription, "v2rayNG/1.10.2", format="sing-box")
        assert response["Content-Type"] == CONTENT_TYPES["singbox"]

    def test_a_browser_gets_the_page_without_it_and_the_file_with_it(self):
        subscription = _with_keys(SubscriptionFactory())
        browser = {"HTTP_ACCEPT": "text/html", "HTTP_USER_AGENT": "Mozilla/5.0"}
        path = f"/sub/{subscription.feed_token}"
        page = Client().get(path, **browser)
        assert page["Content-Type"].startswith("text/html")
        download = Client().get(path, {"format": "clash"}, **browser)
        assert download["Content-Type"] == CONTENT_TYPES["clash"]
        assert download["Content-Disposition"] == 'attachment; filename="MyVPN.yaml"'


class TestClashVerge:
    """Clash Verge Rev (clash-verge-rev/clash-verge-rev, src-tauri/src/config/prfitem.rs) names
    the profile after Content-Disposition (``filename*`` first), reads Subscription-Userinfo
    and Profile-Update-Interval in hours, and refuses YAML without a ``proxies`` key."""

    AGENT = "clash-verge/v2.4.2"

    def test_a_non_ascii_title_names_the_yaml_file_in_filename_star(self, runtime_setting):
        runtime_setting("FEED_TITLE", "Мой VPN")
        response = _get(_with_keys(SubscriptionFactory()), self.AGENT)
        assert response["Content-Disposition"] == (
            "attachment; filename=\"VPN.yaml\"; filename*=UTF-8''%D0%9C%D0%BE%D0%B9%20VPN.yaml"
        )

    def test_the_profile_always_has_a_proxies_key(self):
        for subscription in (SubscriptionFactory(), _with_keys(_ended())):
            assert "proxies" in yaml.safe_load(_get(subscription, self.AGENT).content)


class TestHiddify:
    """Hiddify reads sing-box too, but gets the base64 links it has always been served, and
    reads usage with HEAD (docs/x3ui.md)."""

    AGENT = "HiddifyNext/4.1.2 (android) like ClashMeta v2ray sing-box"

    def test_base64_even_though_it_names_clash_and_sing_box(self):
        response = _get(_with_keys(SubscriptionFactory()), self.AGENT)
        assert response["Content-Type"] == CONTENT_TYPES["base64"]
        assert response["Content-Disposition"] == 'attachment; filename="MyVPN"'

    def test_head_gives_the_usage(self):
        response = _get(_with_keys(SubscriptionFactory()), self.AGENT, method="head")
        assert (response.status_code, response.content) == (200, b"")
        assert set(_userinfo(response)) == {"upload", "download", "total", "expire"}


class TestSFA:
    """SFA/SFI import the JSON as a profile: a complete configuration sing-box accepts."""

    AGENT = "SFA/1.12.0 (584; sing-box 1.12.0; language en_US)"

    def test_the_profile_passes_sing_box_check(self, tmp_path):
        response = _get(_with_keys(SubscriptionFactory(), CASES[:3]), self.AGENT)
        config = json.loads(response.content)
        singbox_check(config, tmp_path)
        assert config["inbounds"][0]["type"] == "tun"
