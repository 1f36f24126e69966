"""The console in a real browser: headless Chromium (Debian's) driven by Playwright against
pytest-django's live server. Logs in, reads the dashboard, extends a subscription through
the action form, refunds a payment, and keeps screenshots under var/test-artifacts/."""

import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

PASSWORD = "browser-pass-123"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")


@pytest.fixture
def quiet_side_effects(monkeypatch):
    """No Telegram or panel calls from the live server's eager Celery tasks."""
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr(
        "subscriptions.tasks.subscription_keys_converge_task.delay", lambda *a: None
    )
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.apply_async", lambda *a, **k: None)


@pytest.fixture
def console_data(transactional_db, quiet_side_effects):
    user = User.objects.create_superuser("chief", "chief@example.com", PASSWORD)
    tariff = TariffFactory(name="Month", price=Decimal("299.00"))
    subscriptions = [
        SubscriptionFactory(
            customer=CustomerFactory(username=f"browser{i}"),
            tariff=tariff,
            expires_at=timezone.now() + timedelta(days=2 + i * 10),
        )
        for i in range(3)
    ]
    payment = PaymentFactory(
        customer=subscriptions[1].customer,
        tariff=tariff,
        subscription=subscriptions[1],
        amount=Decimal("299.00"),
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        days_credited=30,
        provider="robokassa",
    )
    NodeFactory(name="fra-1", health=NodeHealth.UP, latency_ms=37, max_clients=500)
    NodeFactory(name="ams-2", health=NodeHealth.DOWN, last_error="connection refused")
    return {"user": user, "subscriptions": subscriptions, "payment": payment}


@pytest.fixture
def page(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        # ORM calls made while Playwright runs may have opened a connection of their own.
        connections.close_all()
        context.close()
        browser.close()


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    assert page.locator("#id_otp_token").is_visible()
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    page.fill("#id_username", "chief")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(f"{base}/admin/")


def run_action(page, row_value: str, action: str) -> None:
    page.check(f"input[name=_selected_action][value='{row_value}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_console_end_to_end(live_server, console_data, page):
    base = live_server.url
    log_in(page, base)

    dashboard = page.locator("#console-dashboard")
    assert dashboard.is_visible()
    assert page.locator("#figure-active .figure").inner_text() == "3"
    assert page.locator("#figure-expiring .figure").inner_text() == "1"
    assert "299.00 RUB" in page.locator("#figure-period-today .revenue").inner_text()
    assert "3 new customers" in page.locator("#figure-period-today .customers").inner_text()
    nodes = page.locator("#nodes-health").inner_text()
    for expected in ("fra-1", "37 ms", "Up", "ams-2", "connection refused", "Down"):
        assert expected in nodes
    assert page.locator("#chart-revenue svg rect.bar").count() == 30
    assert page.locator("#chart-active svg circle.point").count() == 30
    assert "robokassa" in page.locator("#payments-by-provider").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # A figure opens its filtered changelist.
    page.click("#figure-expiring .figure")
    page.wait_for_load_state()
    assert "1 subscription" in page.locator("#changelist-pagination").inner_text()

    # Extend a subscription through the action's form.
    subscription = console_data["subscriptions"][0]
    before = subscription.expires_at
    page.goto(f"{base}/admin/subscriptions/subscription/")
    run_action(page, str(subscription.pk), "extend_selected")
    assert "Extend subscriptions" in page.locator("#console-action-title").inner_text()
    page.fill("#id_days", "10")
    page.fill("#id_reason", "browser test: outage compensation")
    page.click("#console-action-form input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/subscriptions/subscription/.*"))
    assert (
        "Extended 1 subscription(s) by 10 day(s)." in page.locator("#console-messages").inner_text()
    )
    page.screenshot(path=str(ARTIFACTS / "subscriptions-changelist.png"), full_page=True)
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=10)
    extended = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXTENDED)
    assert extended.acting_user == console_data["user"]

    # Refund a payment through billing's action.
    payment = console_data["payment"]
    page.goto(f"{base}/admin/billing/payment/")
    run_action(page, str(payment.pk), "refund_selected")
    page.fill("#id_reason", "browser test: duplicate charge")
    page.click("form input[type=submit][value=Refund]")
    page.wait_for_url(re.compile(r".*/admin/billing/payment/.*"))
    assert "Refunded 1 payment(s)" in page.locator("#console-messages").inner_text()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    page.screenshot(path=str(ARTIFACTS / "payments-changelist.png"), full_page=True)

    page.goto(f"{base}/admin/accounts/customer/")
    assert "browser0" in page.locator("#result_list").inner_text()
    page.screenshot(path=str(ARTIFACTS / "customers-changelist.png"), full_page=True)

    for name in ("dashboard", "subscriptions-changelist", "payments-changelist"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
