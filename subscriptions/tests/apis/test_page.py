"""The browser page at /sub/<token> in Russian and English, per state, and
/sub/<token>/open/<app>, the https page the bot's "add to <app>" buttons open."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.runtime_settings import runtime_settings
from core.tests.test_hardening import _assert_obeys_its_policy
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from notifications.formatting import date_format
from subscriptions.deeplinks import APPS, deeplink_build
from subscriptions.models import GIB, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
BASE = "https://vpn.example.com"


@pytest.fixture(autouse=True)
def _site(runtime_setting, settings):
    settings.PUBLIC_BASE_URL = BASE
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpnsite_help")


def _with_traffic(subscription, used: int):
    node = NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND)
    NodeClientFactory(
        subscription=subscription,
        node=node,
        sync_state=SyncState.SYNCED,
        traffic_up=used // 4,
        traffic_down=used - used // 4,
    )
    return subscription


def _active(language, limit_gb=50, used=10 * GIB):
    subscription = SubscriptionFactory(
        customer__language=language, traffic_limit_bytes=limit_gb * GIB
    )
    return _with_traffic(subscription, used)


def _ended(language):
    now = timezone.now()
    return SubscriptionFactory(
        customer__language=language,
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=40),
        expires_at=now - timedelta(days=10),
    )


def _banned(language):
    return SubscriptionFactory(customer__language=language, customer__is_banned=True)


def _over_limit(language):
    return _active(language, limit_gb=1, used=2 * GIB)


def _page(subscription, agent=IPHONE, query=""):
    response = Client().get(
        f"/sub/{subscription.feed_token}{query}", HTTP_USER_AGENT=agent, HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return response


def _text(response) -> str:
    """The page's visible text, one space between words."""
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _hrefs(response, css_class: str) -> list[str]:
    pattern = rf'<a class="{css_class}" href="([^"]+)"'
    return [unescape(href) for href in re.findall(pattern, response.content.decode())]


# --- Each state, in each language -----------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("ru", ["Ваша VPN-подписка", "Активна до ", "осталось 30 дней", "Подключение"]),
        ("en", ["Your VPN subscription", "Active until ", "30 days left", "Connect"]),
    ],
)
def test_an_active_subscription_shows_expiry_and_time_left(language, says):
    response = _page(_active(language))
    text = _text(response)
    for phrase in says:
        assert phrase in text, phrase
    assert f'<html lang="{language}">' in response.content.decode()
    assert "status-active" in response.content.decode()
    assert _hrefs(response, "button") == []  # nothing to renew


@pytest.mark.parametrize(
    ("language", "says", "button"),
    [
        ("ru", ["Ваша подписка закончилась ", "Продлите её в боте"], "Продлить в боте"),
        ("en", ["Your subscription ended on ", "Renew it in the bot"], "Renew in the bot"),
    ],
)
def test_an_ended_subscription_says_when_and_links_to_the_bot(language, says, button):
    response = _page(_ended(language))
    text = _text(response)
    for phrase in says:
        assert phrase in text, phrase
    assert button in text
    assert _hrefs(response, "button") == ["https://t.me/vpnsite_bot"]


@pytest.mark.parametrize(
    ("language", "says", "button"),
    [
        ("ru", "Доступ к этой подписке заблокирован.", "Написать в поддержку"),
        ("en", "Access to this subscription is blocked.", "Contact support"),
    ],
)
def test_a_banned_customer_is_sent_to_support(language, says, button):
    response = _page(_banned(language))
    text = _text(response)
    assert says in text
    assert button in text
    assert _hrefs(response, "button") == ["https://t.me/vpnsite_help"]
    assert "Active until" not in text
    assert "Активна до" not in text


@pytest.mark.parametrize(
    ("language", "says", "used"),
    [
        ("ru", "Весь трафик этой подписки израсходован.", "Израсходовано 2,0 ГБ из 1,0 ГБ"),
        ("en", "You have used all the traffic of this subscription.", "2.0 GB of 1.0 GB used"),
    ],
)
def test_over_the_limit_says_so_with_a_full_bar_and_links_to_the_bot(language, says, used):
    response = _page(_over_limit(language))
    text = _text(response)
    assert says in text
    assert used in text
    assert _hrefs(response, "button") == ["https://t.me/vpnsite_bot"]
    # A <meter> cannot hold more than its max: the bar is full, the text tells the truth.
    assert f'max="{GIB}"' in response.content.decode()
    assert f'value="{GIB}"' in response.content.decode()


def test_traffic_bar_shows_used_of_the_limit():
    response = _page(_active("ru", limit_gb=50, used=10 * GIB))
    html = response.content.decode()
    meter = re.search(r"<meter [^>]+>", html).group(0)
    assert f'max="{50 * GIB}"' in meter
    assert f'value="{10 * GIB}"' in meter
    assert f'low="{35 * GIB}"' in meter
    assert f'high="{45 * GIB}"' in meter
    assert "Израсходовано 10,0 ГБ из 50,0 ГБ" in _text(response)


@pytest.mark.parametrize(
    ("language", "says"),
    [("ru", "Израсходовано 3,0 ГБ, без ограничений"), ("en", "3.0 GB used, no limit")],
)
def test_unlimited_traffic_has_no_bar(language, says):
    response = _page(_active(language, limit_gb=0, used=3 * GIB))
    assert "<meter" not in response.content.decode()
    assert says in _text(response)


@pytest.mark.parametrize("status", [SubscriptionStatus.CANCELLED, SubscriptionStatus.SUSPENDED])
def test_a_subscription_stopped_before_its_end_names_no_future_date(status):
    subscription = SubscriptionFactory(customer__language="ru", status=status)
    text = _text(_page(subscription))
    assert "Ваша подписка закончилась." in text
    assert date_format(subscription.expires_at, "ru") not in text
    assert "Продлить в боте" in text


def test_without_a_bot_an_ended_subscription_is_sent_to_support(settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    assert _hrefs(_page(_ended("en")), "button") == ["https://t.me/vpnsite_help"]


def test_without_support_a_banned_customer_is_sent_to_the_bot(runtime_setting, settings):
    runtime_setting("SUPPORT_CONTACT", "")
    response = _page(_banned("en"))
    assert _hrefs(response, "button") == ["https://t.me/vpnsite_bot"]
    assert "Open the bot" in _text(response)


def test_an_e_mail_support_contact_is_shown_as_text(runtime_setting, settings):
    runtime_setting("SUPPORT_CONTACT", "help@vpn.example.com")
    response = _page(_banned("en"))
    assert _hrefs(response, "button") == []
    assert "Support: help@vpn.example.com" in _text(response)


# --- Apps, platforms, the subscription URL --------------------------------------------------


def test_an_iphone_gets_the_ios_apps_with_their_deep_links_and_app_store_links():
    subscription = _active("ru")
    feed = f"{BASE}/sub/{subscription.feed_token}"
    response = _page(subscription, agent=IPHONE)
    html = response.content.decode()
    assert _hrefs(response, "button add") == [
        f"happ://add/{feed}",
        f"v2raytun://import/{feed}",
        f"streisand://import/{feed}#vpnsite",
        f"hiddify://import/{feed}#vpnsite",
        deeplink_build(app="sing-box", feed_url=feed, name="vpnsite"),
    ]
    assert '<a href="?platform=ios" aria-current="page">iOS</a>' in html
    assert "https://apps.apple.com/ru/app/happ-proxy-utility-plus/id6746188973" in html
    assert "App Store (Россия)" in _text(response)
    assert "play.google.com" not in html
    assert "Добавить в Happ" in _text(response)


def test_the_switcher_shows_another_platform_without_javascript():
    subscription = _active("en")
    feed = f"{BASE}/sub/{subscription.feed_token}"
    response = _page(subscription, agent=IPHONE, query="?platform=android")
    html = response.content.decode()
    assert '<a href="?platform=android" aria-current="page">Android</a>' in html
    assert [href.split(":")[0] for href in _hrefs(response, "button add")] == [
        "happ",
        "v2raytun",
        "hiddify",
        "v2rayng",
        "flclash",
        "sing-box",
    ]
    token = subscription.feed_token
    flclash = f"flclash://install-config?url=https%3A%2F%2Fvpn.example.com%2Fsub%2F{token}"
    assert f"{flclash}%3Fformat%3Dclash" in _hrefs(response, "button add")
    assert "https://play.google.com/store/apps/details?id=com.happproxy" in html
    assert feed in html
    for other in ["ios", "windows", "macos", "linux"]:
        assert f'<a href="?platform={other}">' in html


@pytest.mark.parametrize(
    ("platform", "apps"),
    [
        ("windows", ["happ", "hiddify", "clash", "flclash"]),
        ("linux", ["hiddify", "clash", "flclash", "happ"]),
    ],
)
def test_desktops_get_desktop_apps_and_the_qr_code_open(platform, apps):
    response = _page(_active("en"), query=f"?platform={platform}")
    assert [href.split(":")[0] for href in _hrefs(response, "button add")] == apps
    assert '<details class="qr" open>' in response.content.decode()


def test_the_subscription_url_is_plain_text_and_copy_buttons_wait_for_javascript():
    subscription = _active("en")
    feed = f"{BASE}/sub/{subscription.feed_token}"
    html = _page(subscription).content.decode()
    assert f'<code class="copyable" id="feed-url">{feed}</code>' in html
    assert (
        f'<button type="button" class="copy" data-copy="{feed}" data-copied="Copied" hidden>Copy'
        in html
    )
    assert '<details class="qr">' in html  # closed on a phone
    assert "<svg" in html


def test_single_keys_only_while_the_subscription_works():
    assert "Single keys" in _text(_page(_active("en")))
    assert "vless://" in _page(_active("en")).content.decode()
    assert "vless://" not in _page(_ended("en")).content.decode()


def test_the_page_obeys_the_csp_and_tells_no_referrer_and_no_robot():
    response = _page(_active("ru"))
    _assert_obeys_its_policy(response)
    assert '<meta name="referrer" content="no-referrer">' in response.content.decode()
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "Content-Disposition" not in response


def test_the_page_costs_the_feed_s_two_queries():
    subscription = _active("ru")
    runtime_settings()  # cached, as in a running server
    with CaptureQueriesContext(connection) as captured:
        _page(subscription)
    assert len(captured.captured_queries) == 2, [q["sql"][:80] for q in captured]


# --- /sub/<token>/open/<app> ----------------------------------------------------------------


def _open(token, app, agent=ANDROID, method="get"):
    return getattr(Client(), method)(f"/sub/{token}/open/{app}", HTTP_USER_AGENT=agent)


@pytest.mark.parametrize("app", sorted(APPS))
def test_open_page_links_the_app_and_tries_it_once(app):
    subscription = _active("en")
    feed = f"{BASE}/sub/{subscription.feed_token}"
    response = _open(subscription.feed_token, app)
    assert response.status_code == 200
    html = response.content.decode()
    deeplink = deeplink_build(app=app, feed_url=feed, name="vpnsite")
    assert f'<a class="button add" id="open-app" href="{deeplink}" data-autoopen>' in unescape(html)
    assert f"Open {APPS[app].name}" in _text(response)
    assert 'src="/static/subscriptions/page.js"' in html
    assert f'data-copy="{feed}"' in html
    _assert_obeys_its_policy(response)


def test_open_page_speaks_russian_and_offers_the_platform_s_store():
    subscription = _active("ru")
    response = _open(subscription.feed_token, "happ", agent=ANDROID)
    text = _text(response)
    assert "Открываем Happ…" in text
    assert "Открыть Happ" in text
    html = response.content.decode()
    assert "https://play.google.com/store/apps/details?id=com.happproxy" in html
    assert "apps.apple.com" not in html
    iphone = _open(subscription.feed_token, "happ", agent=IPHONE).content.decode()
    assert "https://apps.apple.com/us/app/happ-proxy-utility/id6504287215" in iphone


def test_open_page_for_an_app_without_a_build_for_the_platform_lists_all_its_stores():
    """Streisand is iOS/macOS only: an Android phone sees its App Store link, not nothing."""
    response = _open(_active("en").feed_token, "streisand", agent=ANDROID)
    assert "https://apps.apple.com/app/streisand/id6450534064" in response.content.decode()


def test_open_page_works_for_an_ended_subscription_too():
    """The app then shows the feed's "renew in the bot" entry: adding it is still right."""
    assert _open(_ended("ru").feed_token, "hiddify").status_code == 200


def test_open_page_is_not_cached_nor_indexed_and_only_reads():
    token = _active("en").feed_token
    response = _open(token, "happ")
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert _open(token, "happ", method="post").status_code == 405
    assert _open(token, "happ", method="head").status_code == 200


def test_unknown_app_is_404_without_a_query():
    token = _active("en").feed_token
    with CaptureQueriesContext(connection) as captured:
        response = _open(token, "nekobox")
    assert response.status_code == 404
    assert captured.captured_queries == []


def test_unknown_token_answers_as_the_feed_does(settings):
    """404, counted against the address with the feed's unknown tokens, then 429."""
    settings.FEED_REQUESTS_PER_MINUTE = 3
    client = Client()
    nat = {"REMOTE_ADDR": "203.0.113.9"}
    codes = [
        client.get("/sub/guess1/open/happ", **nat).status_code,
        client.get("/sub/guess2", **nat).status_code,
        client.get("/sub/guess3/open/hiddify", **nat).status_code,
        client.get("/sub/guess4/open/happ", **nat).status_code,
    ]
    assert codes == [404, 404, 404, 429]
    limited = client.get("/sub/guess5/open/happ", **nat)
    assert limited["Retry-After"] == "60"
    assert "no-store" in client.get("/sub/guess6/open/happ").get("Cache-Control", "")


# --- Devices by hardware id ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "count_text", "seen_text"),
    [("en", "1 of 2 devices", "last seen"), ("ru", "Устройств: 1 из 2", "последний раз")],
)
def test_the_page_lists_the_devices_against_the_limit(language, count_text, seen_text):
    from subscriptions.tests.factories import DeviceFactory

    subscription = _active(language)
    subscription.hwid_device_limit = 2
    subscription.save(update_fields=["hwid_device_limit"])
    DeviceFactory(subscription=subscription, model="Pixel 8", os="Android")
    text = _text(_page(subscription))
    assert count_text in text
    assert "Pixel 8 · Android" in text
    assert seen_text in text


def test_no_devices_section_without_a_limit_or_devices():
    assert 'id="devices"' not in _page(_active("en")).content.decode()
