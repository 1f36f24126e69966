"""The analytics page in a real browser (headless Debian Chromium through Playwright), on an
empty and on a filled system, in English and in Russian (the browser's Accept-Language).
Screenshots go to var/test-artifacts/analytics-{empty,filled}-{en,ru}.png."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus, PromoKind
from billing.tests.factories import PaymentFactory, PromoCodeFactory, PromoRedemptionFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from tests.browser import ARTIFACTS, CHROMIUM, console_log_in

PASSWORD = "browser-pass-123"
WORDS = {
    "en": {
        "title": "Analytics",
        "empty": "Nothing to show yet",
        "churn": "Churn rate",
        "error": "Give both dates",
        "as_of": "Figures as of",
        "recalculated": "Figures recalculated in",
    },
    "ru": {
        "title": "Аналитика",
        "empty": "Пока нечего показать",
        "churn": "Отток",
        "error": "Укажите",
        "as_of": "Показатели на",
        "recalculated": "Показатели пересчитаны за",
    },
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
def operator(transactional_db, monkeypatch):
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.apply_async", lambda *a, **k: None)
    return User.objects.create_superuser("chief", "chief@example.com", PASSWORD)


def fill() -> None:
    now = timezone.now()
    month = TariffFactory(name="Month", price=Decimal("299.00"))
    year = TariffFactory(name="Year", price=Decimal("2490.00"))
    trial = TariffFactory(name="Trial", price=Decimal("0.00"), is_trial=True)
    promo = PromoCodeFactory(code="SPRING", kind=PromoKind.PERCENT, percent=10)
    inviter = CustomerFactory(username="ambassador")
    for i in range(12):
        customer = CustomerFactory(
            username=f"buyer{i}", referred_by=inviter if i % 3 == 0 else None
        )
        SubscriptionFactory(
            customer=customer, tariff=trial, is_trial=True, started_at=now - timedelta(days=29)
        )
        tariff = year if i % 4 == 0 else month
        sub = SubscriptionFactory(
            customer=customer, tariff=tariff, started_at=now - timedelta(days=25 - i)
        )
        payment = PaymentFactory(
            customer=customer,
            tariff=tariff,
            subscription=sub,
            amount=tariff.price - (Decimal("29.90") if i % 5 == 0 else 0),
            promo=promo if i % 5 == 0 else None,
            price_before_promo=tariff.price if i % 5 == 0 else None,
            provider=["robokassa", "freekassa", "yookassa"][i % 3],
            status=PaymentStatus.REFUNDED if i == 7 else PaymentStatus.PAID,
            paid_at=now - timedelta(days=25 - i * 2),
            refunded_at=now - timedelta(days=1) if i == 7 else None,
        )
        if i % 5 == 0:
            PromoRedemptionFactory(
                promo=promo, customer=customer, payment=payment, discount=Decimal("29.90")
            )
        if i % 4 == 1:
            PaymentFactory(
                customer=customer,
                tariff=month,
                currency="XTR",
                provider="stars",
                amount=Decimal("150"),
                status=PaymentStatus.PAID,
                paid_at=now - timedelta(days=i),
            )
        if i % 3 == 2:
            SubscriptionFactory(
                customer=customer,
                tariff=month,
                status=SubscriptionStatus.EXPIRED,
                started_at=now - timedelta(days=60),
                expires_at=now - timedelta(days=i),
            )


def open_analytics(browser, base: str, language: str, query: str = ""):
    locale = {"en": "en-US", "ru": "ru-RU"}[language]
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    console_log_in(page, base, "chief", PASSWORD, next_path=f"/admin/analytics/{query}")
    page.wait_for_url(f"{base}/admin/analytics/**")
    return context, page


@pytest.mark.parametrize("language", ["en", "ru"])
def test_analytics_on_an_empty_system(live_server, operator, browser, language):
    words = WORDS[language]
    context, page = open_analytics(browser, live_server.url, language)
    assert words["title"] in page.title()
    assert page.locator("#analytics-empty").is_visible()
    assert words["empty"] in page.locator("#analytics-empty").inner_text()
    assert words["churn"] in page.locator("#figure-churn").inner_text()
    assert "—" in page.locator("#figure-churn .figure").inner_text()
    assert page.locator("#chart-revenue-rub svg").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"analytics-empty-{language}.png"), full_page=True)

    # A bad period is a form error, and the page still answers.
    page.fill("#id_date_from", "2026-01-01")
    page.click("#analytics-form button[type=submit]")
    page.wait_for_load_state()
    assert words["error"] in page.locator("#analytics-errors").inner_text()
    assert page.locator("#analytics-totals").count() == 0
    context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_analytics_on_a_filled_system(live_server, operator, browser, language):
    fill()
    words = WORDS[language]
    context, page = open_analytics(browser, live_server.url, language, "?period=30&group=week")
    assert page.locator("#analytics-empty").count() == 0
    assert page.locator("#id_group").input_value() == "week"
    rub = page.locator("#total-rub .revenue").inner_text()
    assert "RUB" in rub
    assert rub.split()[0] != "0"
    assert "XTR" in page.locator("#total-xtr .revenue").inner_text()
    assert page.locator("#chart-revenue-rub .bar").count() >= 5
    assert page.locator("#chart-revenue-xtr").count() == 1
    assert "SPRING" in page.locator("#promo-codes").inner_text()
    assert "@ambassador" in page.locator("#referrers-by-customers").inner_text()
    assert "%" in page.locator("#figure-churn .figure").inner_text()
    assert words["churn"] in page.locator("#figure-churn").inner_text()
    assert page.locator("#cohorts tbody tr").count() == 12
    assert words["as_of"] in page.locator("#analytics-freshness").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"analytics-filled-{language}.png"), full_page=True)

    # Recalculate computes the shown period again and comes back to it.
    page.click("#analytics-recalculate button[type=submit]")
    page.wait_for_url("**/admin/analytics/?period=30&group=week")
    assert words["recalculated"] in page.locator(".messagelist").inner_text()
    assert page.locator("#id_group").input_value() == "week"

    # A revenue bar opens that bucket's paid payments.
    page.locator("#chart-revenue-rub a").last.click()
    page.wait_for_url("**/admin/billing/payment/**")
    assert "status__exact=paid" in page.url
    context.close()
