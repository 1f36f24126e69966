"""The buttons on a customer's, a subscription's and a payment's page in a real browser
(headless Chromium through Playwright), in English and Russian: press the button, answer its
form, land back on the page with the result. Screenshots: var/test-artifacts/button-*.png."""

from datetime import timedelta

import pytest

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from console.tests.admin.test_browser_theme import (  # noqa: F401 - fixtures
    CHROMIUM,
    Console,
    filled,
    operator,
    sync_api,
)
from core.models import AuditEvent, AuditLog
from subscriptions.models import Subscription
from tests.browser import ARTIFACTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

# What each language's page says, so a missing translation fails too.
WORDS = {
    "en": {
        "ban": "Ban",
        "unban": "Unban",
        "extend": "Extend",
        "refund": "Refund",
        "banned": "Banned 1 customer(s)",
        "extended": "Extended 1 subscription(s) by 5",
        "refunded": "Refunded 1 payment(s)",
    },
    "ru": {
        "ban": "Заблокировать",
        "unban": "Разблокировать",
        "extend": "Продлить",
        "refund": "Вернуть",
        "banned": "Заблокировано клиентов: 1",
        "extended": "Продлено подписок: 1",
        "refunded": "Возвращено платежей: 1",
    },
}


def label(link) -> str:
    """A button's text without its icon (a ligature in its own span)."""
    return link.inner_text().strip().rsplit("\n", 1)[-1].strip()


def press(console: Console, page_path: str, button: str, text: str):
    """Open the object's page, press its button (checking its label), return the form page."""
    page = console.open(page_path)
    link = page.locator(f'a[href$="/{button}/"]')
    assert label(link) == text
    link.click()
    page.wait_for_selector("#console-action-form")
    return page


def submit(console: Console, page, name: str, language: str, page_path: str):
    page.screenshot(path=str(ARTIFACTS / f"button-{name}-form-{language}.png"), full_page=True)
    page.click("#console-action-form [type=submit]")
    page.wait_for_url(f"{console.base}{page_path}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"button-{name}-done-{language}.png"), full_page=True)
    return page


@pytest.mark.parametrize("language", ["en", "ru"])
def test_buttons_on_customer_subscription_and_payment_pages(
    live_server,
    filled,  # noqa: F811 - the theme test's fixtures
    browser,
    operator,  # noqa: F811
    language,
):
    words = WORDS[language]
    console = Console(browser, live_server.url, language=language)
    subscription = filled["subscriptions"][0]
    customer = subscription.customer

    # Customer: Ban, with a reason; back on the page, Unban instead of Ban.
    path = f"/admin/accounts/customer/{customer.pk}/change/"
    page = press(console, path, "ban", words["ban"])
    page.fill("#id_reason", "chargeback")
    page = submit(console, page, "customer", language, path)
    assert words["banned"] in page.inner_text("body")
    assert label(page.locator('a[href$="/unban/"]')) == words["unban"]
    assert page.locator('a[href$="/ban/"]').count() == 0
    assert Customer.objects.get(pk=customer.pk).is_banned
    assert AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_BANNED).acting_user == operator

    # Subscription: Extend by 5 days.
    before = subscription.expires_at
    path = f"/admin/subscriptions/subscription/{subscription.pk}/change/"
    page = press(console, path, "extend", words["extend"])
    page.fill("#id_days", "5")
    page.fill("#id_reason", "outage")
    page = submit(console, page, "subscription", language, path)
    assert words["extended"] in page.inner_text("body")
    assert Subscription.objects.get(pk=subscription.pk).expires_at == before + timedelta(days=5)

    # Payment: Refund; back on the page, no Refund any more.
    payment = Payment.objects.filter(subscription=subscription).get()
    path = f"/admin/billing/payment/{payment.pk}/change/"
    page = press(console, path, "refund", words["refund"])
    page.fill("#id_reason", "asked")
    page = submit(console, page, "payment", language, path)
    assert words["refunded"] in page.inner_text("body")
    assert page.locator('a[href$="/refund/"]').count() == 0
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.REFUNDED
    assert console.violations() == []
    console.context.close()
