"""The payment admin: totals, search, read-only money, the refund action, manual payments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from core.tests.helpers import texts
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

CHANGELIST = "admin:billing_payment_changelist"


def paid(**kwargs):
    subscription = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=40))
    return PaymentFactory(
        subscription=subscription,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        days_credited=30,
        **kwargs,
    )


def test_changelist_totals_come_from_one_grouped_query(as_superuser):
    paid(amount=Decimal("299.00"))
    paid(amount=Decimal("100.50"), provider="freekassa")
    PaymentFactory(amount=Decimal("299.00"))  # pending
    with CaptureQueriesContext(connection) as queries:
        response = as_superuser.get(reverse(CHANGELIST))
    assert response.status_code == 200
    totals = response.context["payment_totals"]
    assert len(totals) == 1
    by_status = {item["status"]: item for item in totals[0]["statuses"]}
    assert by_status["paid"]["sum"] == Decimal("399.50")
    assert by_status["paid"]["count"] == 2
    assert by_status["pending"]["sum"] == Decimal("299.00")
    assert by_status["refunded"]["sum"] == Decimal("0.00")
    sums = [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper()]
    assert len(sums) == 1
    assert "payment-totals" in response.content.decode()
    assert reverse("admin:billing_payment_manual") in response.content.decode()


def test_changelist_totals_follow_the_filters(as_superuser):
    paid(amount=Decimal("299.00"))
    paid(amount=Decimal("100.50"), provider="freekassa")
    response = as_superuser.get(reverse(CHANGELIST), {"provider": "freekassa"})
    by_status = {item["status"]: item for item in response.context["payment_totals"][0]["statuses"]}
    assert by_status["paid"]["sum"] == Decimal("100.50")


def test_search_by_id_telegram_id_and_username(as_superuser):
    payment = PaymentFactory(customer__telegram_id=777000111, customer__username="needle")
    other = PaymentFactory()
    for term in (str(payment.pk), "777000111", "@needle", "needle"):
        response = as_superuser.get(reverse(CHANGELIST), {"q": term})
        found = {p.pk for p in response.context["cl"].result_list}
        assert payment.pk in found, term
        assert other.pk not in found, term


def test_payment_change_page_is_read_only_for_money(as_superuser):
    payment = paid()
    url = reverse("admin:billing_payment_change", args=[payment.pk])
    assert as_superuser.get(url).status_code == 200
    as_superuser.post(url, {"amount": "1.00", "status": "pending", "description": "x"})
    payment.refresh_from_db()
    assert payment.amount == Decimal("299.00")
    assert payment.status == PaymentStatus.PAID
    assert as_superuser.get(reverse("admin:billing_payment_add")).status_code == 403


def test_refund_action_asks_for_a_reason_then_refunds(as_superuser, superuser):
    payment = paid()
    expiry = payment.subscription.expires_at
    data = {"action": "refund_selected", "_selected_action": [payment.pk]}
    confirm = as_superuser.post(reverse(CHANGELIST), data)
    assert confirm.status_code == 200
    assert "reason" in confirm.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID  # nothing until confirmed

    response = as_superuser.post(
        reverse(CHANGELIST), {**data, "apply": "yes", "reason": "customer asked"}, follow=True
    )
    assert any("Refunded 1 payment" in text for text in texts(response))
    payment.refresh_from_db()
    payment.subscription.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.subscription.expires_at == expiry - timedelta(days=30)
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.acting_user == superuser
    assert audit.extra_data["reason"] == "customer asked"


def test_refund_action_gives_telegram_stars_back(as_superuser, superuser, settings):
    from billing.providers.stars import stars_payload
    from billing.services.stars import stars_payment_received
    from billing.tests.stars_helpers import STARS_PROVIDER, stars_payment
    from tests.doubles.telegram_api import TelegramApiDouble

    settings.BILLING_PROVIDERS = {**settings.BILLING_PROVIDERS, "stars": STARS_PROVIDER}
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as telegram:
        settings.TELEGRAM_API_BASE_URL = telegram.base_url
        payment = stars_payment(subscription=SubscriptionFactory())
        user_id = payment.customer.telegram_id
        update = telegram.successful_payment_update(
            user_id=user_id, payload=stars_payload(payment.pk), total_amount=50, charge_id="stxA"
        )
        stars_payment_received(update=update)
        response = as_superuser.post(
            reverse(CHANGELIST),
            {
                "action": "refund_selected",
                "_selected_action": [payment.pk],
                "apply": "yes",
                "reason": "customer asked",
            },
            follow=True,
        )
        assert any("Refunded 1 payment" in text for text in texts(response))
        [call] = telegram.calls_to("refundStarPayment")
        assert call.params == {"user_id": user_id, "telegram_payment_charge_id": "stxA"}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.acting_user == superuser
    assert audit.extra_data["stars_refund"] == "refunded"


def test_refund_action_reports_refusals(as_superuser):
    good, pending = paid(), PaymentFactory()
    response = as_superuser.post(
        reverse(CHANGELIST),
        {
            "action": "refund_selected",
            "_selected_action": [good.pk, pending.pk],
            "apply": "yes",
            "reason": "dispute",
        },
        follow=True,
    )
    messages = texts(response)
    assert any(f"Payment #{pending.pk}" in text and "paid" in text for text in messages)
    assert any("Refunded 1 payment" in text for text in messages)
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.PENDING


def test_refund_without_reason_shows_the_form_again(as_superuser):
    payment = paid()
    response = as_superuser.post(
        reverse(CHANGELIST),
        {"action": "refund_selected", "_selected_action": [payment.pk], "apply": "yes"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_manual_payment_view(as_superuser, superuser):
    customer = CustomerFactory(telegram_id=555123)
    tariff = TariffFactory(duration_days=60)
    url = reverse("admin:billing_payment_manual")
    assert as_superuser.get(url).status_code == 200
    response = as_superuser.post(
        url,
        {"customer": "555123", "tariff": tariff.pk, "amount": "500.00", "reason": "cash"},
        follow=True,
    )
    assert any("Manual payment #" in text for text in texts(response))
    payment = Payment.objects.get()
    assert payment.provider == "manual"
    assert payment.status == PaymentStatus.PAID
    assert payment.customer == customer
    assert payment.amount == Decimal("500.00")
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert AuditLog.objects.get(event_type=AuditEvent.PAYMENT_MANUAL).acting_user == superuser


def test_manual_payment_renewal_by_username(as_superuser):
    subscription = SubscriptionFactory(customer__username="bob")
    expiry = subscription.expires_at
    as_superuser.post(
        reverse("admin:billing_payment_manual"),
        {
            "customer": "@bob",
            "tariff": subscription.tariff.pk,
            "amount": "299",
            "subscription": subscription.pk,
            "reason": "transfer",
        },
    )
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=30)


def test_manual_payment_form_errors(as_superuser):
    other = SubscriptionFactory()
    CustomerFactory(telegram_id=42424242)
    response = as_superuser.post(
        reverse("admin:billing_payment_manual"),
        {
            "customer": "42424242",
            "tariff": other.tariff.pk,
            "amount": "-5",
            "subscription": other.pk,
            "reason": "",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert {"amount", "reason"} <= set(form.errors)
    assert not Payment.objects.exists()


def test_manual_payment_needs_permission(client):
    staff = User.objects.create_user("staff", password="pw-123-long", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:billing_payment_manual")).status_code == 403
