"""The console follows the browser's language: a Russian browser (locale ru-RU) reads the
dashboard, a filtered customer list, the subscriptions, a customer and a payment in
Russian, an English one in English. Screenshots: var/test-artifacts/console-<page>-<lang>.png.
"""

import pytest

from console.tests.admin.test_browser import (  # noqa: F401 - fixtures
    CHROMIUM,
    CHROMIUM_ARGS,
    console_data,
    log_in,
    quiet_side_effects,
    sync_api,
)
from tests.browser import ARTIFACTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

# What each page's heading and a label on it say, per language.
EXPECTED = {
    "ru": {
        "dashboard": ("#figure-active .label", "Активные подписки"),
        "customers": ("h1", "клиент"),
        "filter": ("#changelist-filter", "бот заблокирован"),
        "subscriptions": ("h1", "подписк"),
        "customer": ("h1", "клиент"),
        "payment": ("h1", "плат"),
    },
    "en": {
        "dashboard": ("#figure-active .label", "Active subscriptions"),
        "customers": ("h1", "customer"),
        "filter": ("#changelist-filter", "bot blocked"),
        "subscriptions": ("h1", "subscription"),
        "customer": ("h1", "customer"),
        "payment": ("h1", "payment"),
    },
}


@pytest.fixture(params=["ru", "en"])
def language(request):
    return request.param


@pytest.fixture
def page(live_server, monkeypatch, language):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        locale = {"ru": "ru-RU", "en": "en-US"}[language]
        context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()


def test_the_console_speaks_the_browsers_language(live_server, console_data, page, language):  # noqa: F811
    base = live_server.url
    log_in(page, base)
    customer = console_data["subscriptions"][0].customer
    payment = console_data["payment"]
    pages = {
        "dashboard": "/admin/",
        "customers": "/admin/accounts/customer/?bot_blocked=no",
        "subscriptions": "/admin/subscriptions/subscription/",
        "customer": f"/admin/accounts/customer/{customer.pk}/change/",
        "payment": f"/admin/billing/payment/{payment.pk}/change/",
    }
    expected = EXPECTED[language]
    for name, path in pages.items():
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == language
        selector, text = expected[name]
        assert text.lower() in page.locator(selector).first.inner_text().lower(), (name, language)
        if name == "customers":
            selector, text = expected["filter"]
            assert text in page.locator(selector).inner_text().lower()
        page.screenshot(path=str(ARTIFACTS / f"console-{name}-{language}.png"), full_page=True)
    if language == "ru":
        # The page titles name our models in Russian, not in English.
        assert "Subscription" not in page.title()
        assert "Payment" not in page.locator("h1").inner_text()
