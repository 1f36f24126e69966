"""The subscription page in a real browser: headless Chromium (Debian's) driven by Playwright
against pytest-django's live server, as an iPhone and as an Android phone in Russian, and with
JavaScript off. Screenshots go to var/test-artifacts/ (as the console's browser test)."""

import pytest
from django.db import connections

from accounts.tests.factories import CustomerFactory
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.deeplinks import deeplink_build
from subscriptions.models import GIB
from subscriptions.tests.factories import SubscriptionFactory
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

IPHONE = {
    "user_agent": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    ),
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
ANDROID = {
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 "
        "Telegram-Android/11.2.2 (Samsung SM-A536B; Android 13; SDK 33; AVERAGE)"
    ),
    # The narrowest phone the page is made for.
    "viewport": {"width": 360, "height": 800},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")


@pytest.fixture
def feed(transactional_db, live_server, settings):
    """A Russian customer's subscription with one key and 12 of 50 GB used; its feed URL
    on the live server."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    subscription = SubscriptionFactory(
        customer=CustomerFactory(language="ru"), traffic_limit_bytes=50 * GIB
    )
    NodeClientFactory(
        subscription=subscription,
        node=NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND),
        sync_state=SyncState.SYNCED,
        traffic_up=2 * GIB,
        traffic_down=10 * GIB,
    )
    return f"{live_server.url}/sub/{subscription.feed_token}"


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        connections.close_all()
        browser.close()


def _open_page(browser, url: str, device: dict, **options):
    context = browser.new_context(locale="ru-RU", **device, **options)
    page = context.new_page()
    page.set_default_timeout(15000)
    # A browser sends text/html first, as the feed expects of a person.
    page.goto(url)
    return context, page


def _add_hrefs(page) -> list[str]:
    return page.locator("a.button.add").evaluate_all("links => links.map(a => a.href)")


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _screenshot(page, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_an_iphone_in_russian_adds_the_subscription_and_copies_its_url(browser, feed):
    context, page = _open_page(
        browser, feed, IPHONE, permissions=["clipboard-read", "clipboard-write"]
    )
    assert page.locator("h1").inner_text() == "Ваша VPN-подписка"
    assert page.locator("#status").inner_text().startswith("Активна до ")
    assert page.locator("nav.platforms a[aria-current]").inner_text() == "iOS"
    assert page.locator("#usage meter").get_attribute("value") == str(12 * GIB)
    usage = page.locator("#usage").inner_text().replace("\xa0", " ")
    assert "Израсходовано 12,0 ГБ из 50,0 ГБ" in usage
    assert _add_hrefs(page) == [
        deeplink_build(app=app, feed_url=feed, name="vpnsite")
        for app in ("happ", "v2raytun", "streisand", "hiddify", "sing-box")
    ]
    assert page.locator("a.button.add").first.inner_text() == "Добавить в Happ"
    assert _fits_the_screen(page)
    _screenshot(page, "subscription-page-iphone")

    copy = page.locator("#feed-url + button.copy")
    assert copy.is_visible()
    assert copy.inner_text() == "Копировать"
    copy.click()
    assert page.evaluate("navigator.clipboard.readText()") == feed
    assert copy.inner_text() == "Скопировано"
    context.close()


def test_an_android_phone_in_russian_gets_android_apps_and_opens_an_app_page(browser, feed):
    context, page = _open_page(browser, feed, ANDROID)
    assert page.locator("nav.platforms a[aria-current]").inner_text() == "Android"
    hrefs = _add_hrefs(page)
    assert hrefs == [
        deeplink_build(app=app, feed_url=feed, name="vpnsite")
        for app in ("happ", "v2raytun", "hiddify", "v2rayng", "flclash", "sing-box")
    ]
    assert hrefs[4].endswith("%3Fformat%3Dclash")
    assert hrefs[5].endswith("%3Fformat%3Dsingbox#vpnsite")
    stores = page.locator('li[data-app="happ"] .stores a').evaluate_all(
        "links => links.map(a => a.href)"
    )
    assert stores[0] == "https://play.google.com/store/apps/details?id=com.happproxy"
    assert _fits_the_screen(page)
    _screenshot(page, "subscription-page-android")

    # The bot's button: an https page that tries the app once and keeps a link to tap.
    page.goto(f"{feed}/open/v2rayng")
    # The script tried the app once the page had loaded (headless Chromium has no app for
    # the scheme, so the page stays, as it does on a phone without the app).
    page.wait_for_selector("#open-app[data-tried]", state="attached")
    assert page.url == f"{feed}/open/v2rayng"
    assert page.locator("h1").inner_text() == "Открываем v2rayNG…"
    assert page.locator("#open-app").get_attribute("href") == deeplink_build(
        app="v2rayng", feed_url=feed, name="vpnsite"
    )
    assert page.locator("#open-app").inner_text() == "Открыть v2rayNG"
    assert page.locator("button.copy").is_visible()
    assert _fits_the_screen(page)
    _screenshot(page, "subscription-open-app-android")
    context.close()


def test_without_javascript_the_url_is_there_to_select_and_the_switcher_works(browser, feed):
    context, page = _open_page(browser, feed, ANDROID, java_script_enabled=False)
    assert page.locator("#feed-url").inner_text() == feed
    assert page.locator("#feed-url").is_visible()
    assert not page.locator("#feed-url + button.copy").is_visible()  # needs the script
    assert page.locator("a.button.add").count() == 6  # plain links: no script needed

    page.click("nav.platforms >> text=Windows")
    page.wait_for_url(f"{feed}?platform=windows")
    assert page.locator("nav.platforms a[aria-current]").inner_text() == "Windows"
    assert [href.split(":")[0] for href in _add_hrefs(page)] == [
        "happ",
        "hiddify",
        "clash",
        "flclash",
    ]
    assert page.locator("details.qr svg").is_visible()  # a desktop: scan it with a phone
    assert _fits_the_screen(page)
    _screenshot(page, "subscription-page-no-js")

    # The app page without a script: nothing opens by itself, the link is there to tap.
    page.goto(f"{feed}/open/happ")
    assert page.url == f"{feed}/open/happ"
    assert page.locator("#open-app").get_attribute("href") == f"happ://add/{feed}"
    assert page.locator("#open-app").get_attribute("data-tried") is None
    assert not page.locator("button.copy").is_visible()
    context.close()
