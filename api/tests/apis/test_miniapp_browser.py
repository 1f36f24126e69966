"""The Mini App in a real browser: headless Chromium (Debian's) driven by Playwright against
pytest-django's live server, opened as Telegram opens it (a correctly signed initData and
the theme in the URL fragment, no telegram-web-app.js). A new Russian-speaking user buys a
subscription (tariff, provider, the pay link), the provider's notification is simulated as
Robokassa signs it (devtools.payment_signing), and the page shows the keys by itself."""

import json
import urllib.parse
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from accounts.tests.factories import CustomerFactory
from api.tests.miniapp_helpers import init_data, tg_user
from billing.models import BalanceEntryKind
from billing.services.ledger import balance_entry_add
from billing.tests.factories import PromoCodeFactory
from billing.tests.helpers import ROBOKASSA, ROBOKASSA_URL, send
from billing.tests.stars_helpers import STARS_PROVIDER
from devtools.payment_signing import robokassa_signature
from nodes.tests.conftest import node_for
from subscriptions.deeplinks import app_open_url
from subscriptions.models import Device, Subscription
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.doubles.telegram_api import TelegramApiDouble

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")

USER_ID = 555001
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "button_color": "#5288c1"}


@pytest.fixture
def shop(transactional_db, live_server, settings, sim_factory, runtime_setting):
    """A tariff on sale, Robokassa configured, one node on a simulated panel, the Bot API
    double; the site at the live server's address."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA}
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpn_support")
    sim = sim_factory(generation="v3")
    node_for(sim, location="Frankfurt", country="de")
    TariffFactory(name="Месяц", name_en="Month", price="299.00")
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        connections.close_all()
        browser.close()


def launch_url(base: str) -> str:
    """/app/ with the launch parameters in the fragment, as Telegram's clients pass them."""
    fragment = urllib.parse.urlencode(
        {
            "tgWebAppData": init_data(tg_user(USER_ID, language_code="ru")),
            "tgWebAppVersion": "8.0",
            "tgWebAppPlatform": "android",
            "tgWebAppThemeParams": json.dumps(THEME),
        },
        quote_via=urllib.parse.quote,
    )
    return f"{base}/app/#{fragment}"


def robokassa_notify(pay_url: str, amount: str):
    """Robokassa's ResultURL call for the payment behind `pay_url`, signed with Password #2
    (made in this thread: its database connection is the test's, closed with it)."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(pay_url).query))
    shp = {key: value for key, value in query.items() if key.startswith("Shp_")}
    inv_id = query["InvId"]
    signature = robokassa_signature(
        out_sum=amount, inv_id=inv_id, password=ROBOKASSA[1]["password2"], shp=shp
    ).upper()
    params = {"OutSum": amount, "InvId": inv_id, "SignatureValue": signature, **shp}
    return send(Client(), ROBOKASSA_URL, params)


def test_a_new_subscriber_buys_in_the_mini_app_and_sees_the_keys(browser, shop, live_server):
    context = browser.new_context(
        locale="ru-RU", viewport={"width": 360, "height": 800}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(launch_url(live_server.url))

    # Registered from initData as the bot registers; Russian from Telegram's language_code.
    page.locator("main h2", has_text="Мои подписки").wait_for()
    assert page.locator("main").inner_text().count("пока нет подписок") == 1
    assert page.locator("#title").inner_text() == "Мой VPN"
    assert page.locator("#support").get_attribute("href") == "https://t.me/vpn_support"
    theme = page.evaluate(
        "getComputedStyle(document.body).backgroundColor + '|' + "
        "getComputedStyle(document.documentElement).getPropertyValue('--tg-theme-bg-color')"
    )
    assert theme == "rgb(23, 33, 43)|#17212b"

    # Buy: tariff -> provider -> the pay link.
    page.locator("button.buy").click()
    tariff = page.locator("button.tariff")
    assert "Месяц" in tariff.inner_text()
    tariff.click()
    page.locator('button.provider[data-provider="robokassa"]').click()
    pay = page.locator("a.pay")
    pay.wait_for()
    pay_url = pay.get_attribute("href")
    assert pay_url.startswith("https://auth.robokassa.ru/")
    assert "Ждём оплату" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "miniapp-checkout.png"), full_page=True)

    # The provider confirms; the page notices by itself and shows the keys.
    reply = robokassa_notify(pay_url, "299.00")
    assert reply.status_code == 200, reply.content
    page.locator("p.notice", has_text="Оплачено!").wait_for(timeout=20000)
    subscription = Subscription.objects.get(customer__telegram_id=USER_ID)
    # Playwright runs this body in its own context: close the connection it opened here.
    connections.close_all()
    keys = page.locator("ul.keys code").all_inner_texts()
    assert len(keys) == 1
    assert keys[0].startswith("vless://")
    assert page.locator("#feed-url").inner_text() == (
        f"{live_server.url}/sub/{subscription.feed_token}"
    )
    happ = page.locator('a.add[data-app="happ"]')
    assert happ.get_attribute("href") == app_open_url(
        feed_url=f"{live_server.url}/sub/{subscription.feed_token}", app="happ"
    )
    assert happ.inner_text() == "Добавить в Happ"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "miniapp-keys.png"), full_page=True)

    # Nothing came from anywhere but our site (no telegram.org script, no CDN).
    assert requested
    assert all(url.startswith(live_server.url) for url in requested), requested
    # The bot told the subscriber too.
    assert shop.sent_messages(USER_ID)
    context.close()


def test_inside_telegram_the_app_talks_to_the_client_by_web_events(browser, shop, live_server):
    """With Telegram's web view bridge present (TelegramWebviewProxy, as on phones) the app
    says it is ready, and links leave through the client (web_app_open_tg_link)."""
    context = browser.new_context(locale="en-US")
    context.add_init_script(
        "window.sent = []; window.TelegramWebviewProxy = {postEvent: function (type, data) {"
        " window.sent.push([type, JSON.parse(data)]); }};"
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(launch_url(live_server.url))
    page.locator("main h2").first.wait_for()
    assert page.evaluate("window.sent.slice(0, 2)") == [
        ["web_app_ready", {}],
        ["web_app_expand", {}],
    ]
    page.locator("#support").click()
    assert page.evaluate("window.sent[window.sent.length - 1]") == [
        "web_app_open_tg_link",
        {"path_full": "/vpn_support"},
    ]
    assert page.url.startswith(f"{live_server.url}/app/")  # the web view stayed put
    context.close()


def test_a_device_is_removed_after_a_second_tap(browser, shop, live_server):
    customer = CustomerFactory(telegram_id=USER_ID, language="en", language_chosen=True)
    subscription = SubscriptionFactory(customer=customer)
    DeviceFactory(subscription=subscription, model="Pixel 8")
    connections.close_all()  # this body's connection (see above)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(launch_url(live_server.url))
    page.locator("button.details").click()
    remove = page.locator("ul.devices button.remove")
    assert page.locator("ul.devices li").inner_text().startswith("Pixel 8")
    remove.click()
    assert remove.inner_text() == "Tap again to remove"
    remove.click()
    page.locator("p.notice", has_text="Removed: Pixel 8").wait_for()
    assert page.locator("ul.devices").count() == 0
    assert "Removals left today: 2" in page.locator("main").inner_text()
    context.close()
    assert not Device.objects.filter(subscription=subscription).exists()
    connections.close_all()


def test_a_promo_code_and_the_balance_pay_in_the_mini_app(browser, shop, live_server):
    """A code entered at checkout lowers the price; the balance then pays it (once)."""
    customer = CustomerFactory(telegram_id=USER_ID, language="en", language_chosen=True)
    balance_entry_add(
        customer_id=customer.pk,
        amount=Decimal("200.00"),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key="test:browser",
    )
    PromoCodeFactory(code="HALF", percent=50)
    connections.close_all()  # this body's connection (see above)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(launch_url(live_server.url))
    page.locator("p.balance", has_text="200").wait_for()
    page.locator("button.buy").click()
    page.locator("button.tariff").click()
    # 299 ₽ is more than the balance: no "from the balance" until the code halves it.
    page.locator('button.provider[data-provider="robokassa"]').wait_for()
    assert page.locator('button.provider[data-provider="balance"]').count() == 0
    page.locator("#promo-code").fill("nope")
    page.locator("form.promo button").click()
    page.locator("form.promo p.error", has_text="There is no such promo code.").wait_for()
    page.locator("#promo-code").fill("half")
    page.locator("form.promo button").click()
    page.locator("p.promo-note", has_text="HALF").wait_for()
    page.locator('button.provider[data-provider="balance"]').click()
    page.locator("button.pay-balance").click()
    page.locator("p.notice", has_text="Paid from your balance").wait_for(timeout=20000)
    customer.refresh_from_db()
    assert customer.balance == Decimal("50.50")
    assert Subscription.objects.filter(customer=customer).count() == 1
    connections.close_all()
    context.close()


def test_stars_open_telegrams_invoice_by_a_web_event(browser, shop, live_server, settings):
    """Telegram Stars: the checkout's link is the bot's invoice (createInvoiceLink), opened
    in Telegram's payment sheet with web_app_open_invoice and its slug."""
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "stars": STARS_PROVIDER}
    TariffFactory(name="Звёзды", name_en="Stars month", price="299.00", price_stars=150)
    connections.close_all()
    context = browser.new_context(locale="en-US")
    context.add_init_script(
        "window.sent = []; window.TelegramWebviewProxy = {postEvent: function (type, data) {"
        " window.sent.push([type, JSON.parse(data)]); }};"
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(launch_url(live_server.url))
    page.locator("button.buy").click()
    page.locator("button.tariff", has_text="Звёзды").click()
    page.locator('button.provider[data-provider="stars"]').click()
    pay = page.locator("a.pay")
    pay.wait_for()
    slug = pay.get_attribute("href").removeprefix("https://t.me/$")
    assert shop.invoice_link(slug)["currency"] == "XTR"
    pay.click()
    assert page.evaluate("window.sent[window.sent.length - 1]") == [
        "web_app_open_invoice",
        {"slug": slug},
    ]
    assert page.url.startswith(f"{live_server.url}/app/")
    connections.close_all()
    context.close()
