"""Telegram Stars: the payment and its invoice, the pre-checkout answer, the successful_payment
credited once through the webhook protocol, and refunds through refundStarPayment."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.providers.stars import stars_payload
from billing.services.checkout import checkout_payment_get
from billing.services.payments import payment_create
from billing.services.refunds import payment_refund
from billing.services.stars import (
    stars_invoice_get,
    stars_payment_received,
    stars_pre_checkout_check,
)
from billing.services.webhooks import webhook_event_reprocess
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import snapshot
from billing.tests.stars_helpers import paid_update, stars_payment
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from tests.doubles.telegram_api import TelegramApiDouble

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stars_enabled")]


def state() -> dict:
    """What a refused payment must leave alone (the event row and alerts aside)."""
    data = snapshot()
    data.pop("outbox")
    return data


# The payment and its invoice.


def test_a_stars_payment_costs_the_tariffs_stars_price(customer):
    tariff = TariffFactory(price=Decimal("299"), price_stars=150)
    payment = payment_create(customer=customer, tariff=tariff, provider="stars")
    assert (payment.amount, payment.currency) == (Decimal("150"), "XTR")


def test_a_tariff_without_a_stars_price_is_not_sold_for_stars(customer):
    customer.language = "en"
    with pytest.raises(ApplicationError, match="not available"):
        payment_create(customer=customer, tariff=TariffFactory(), provider="stars")
    assert not Payment.objects.exists()


def test_a_new_stars_price_makes_a_new_payment_of_the_checkout(customer):
    tariff = TariffFactory(price_stars=100)
    now = timezone.now()
    first = checkout_payment_get(customer=customer, tariff=tariff, provider="stars", now=now)
    again = checkout_payment_get(customer=customer, tariff=tariff, provider="stars", now=now)
    assert again.reused
    assert again.payment.pk == first.payment.pk
    tariff.price_stars = 120
    tariff.save()
    changed = checkout_payment_get(customer=customer, tariff=tariff, provider="stars", now=now)
    assert not changed.reused
    assert changed.payment.amount == Decimal("120")
    first.payment.refresh_from_db()
    assert first.payment.status == PaymentStatus.CANCELLED


@pytest.mark.parametrize(("language", "title"), [("en", "VPN: Month"), ("ru", "VPN: Месяц")])
def test_the_invoice_is_in_the_customers_language(language, title):
    tariff = TariffFactory(name="Месяц", name_en="Month", price_stars=50)
    payment = stars_payment(tariff=tariff, customer__language=language)
    invoice = stars_invoice_get(payment=payment)
    assert invoice.title == title
    assert (invoice.stars, invoice.currency) == (50, "XTR")
    assert invoice.payload == stars_payload(payment.pk)
    assert 1 <= len(invoice.description) <= 255


@pytest.mark.parametrize(
    "change",
    [
        {"status": PaymentStatus.PAID, "paid_at": timezone.now()},
        {"status": PaymentStatus.CANCELLED},
        {"expires_at": timezone.now() - timedelta(minutes=1)},
    ],
)
def test_no_invoice_for_a_payment_that_can_no_longer_be_paid(change):
    payment = stars_payment(customer__language="en")
    Payment.objects.filter(pk=payment.pk).update(**change)
    payment.refresh_from_db()
    with pytest.raises(ApplicationError, match="can no longer be paid"):
        stars_invoice_get(payment=payment)


# The pre-checkout answer.


def check(payment, **overrides):
    kwargs = {
        "payload": stars_payload(payment.pk),
        "currency": "XTR",
        "total_amount": int(payment.amount),
        "user_id": payment.customer.telegram_id,
    }
    return stars_pre_checkout_check(**{**kwargs, **overrides})


def test_pre_checkout_of_a_pending_payment_is_ok():
    assert check(stars_payment()) == ""


REFUSALS = {
    "tampered": (
        {"payload": "1:forged"},
        "This invoice is not valid. Please start the purchase again.",
        "Этот счёт недействителен. Пожалуйста, начните покупку заново.",
    ),
    "someone_else": (
        {"user_id": 999_999_999},
        "This invoice is not valid. Please start the purchase again.",
        "Этот счёт недействителен. Пожалуйста, начните покупку заново.",
    ),
    "amount": (
        {"total_amount": 49},
        "The price has changed. Please start the purchase again.",
        "Цена изменилась. Пожалуйста, начните покупку заново.",
    ),
    "currency": (
        {"currency": "RUB"},
        "The price has changed. Please start the purchase again.",
        "Цена изменилась. Пожалуйста, начните покупку заново.",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("language", ["en", "ru"])
def test_pre_checkout_refusals_in_the_customers_language(case, language):
    overrides, english, russian = REFUSALS[case]
    payment = stars_payment(customer__language=language)
    if case == "someone_else":
        overrides = {**overrides, "language_code": language}
    assert check(payment, **overrides) == (english if language == "en" else russian)


@pytest.mark.parametrize(
    ("change", "english"),
    [
        ({"status": PaymentStatus.PAID, "paid_at": timezone.now()}, "already paid"),
        ({"status": PaymentStatus.CANCELLED}, "can no longer be paid"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "can no longer be paid"),
    ],
)
def test_pre_checkout_refuses_a_payment_no_longer_payable(change, english):
    payment = stars_payment(customer__language="en")
    Payment.objects.filter(pk=payment.pk).update(**change)
    assert english in check(payment)


def test_pre_checkout_refuses_a_blocked_customer_and_an_unknown_payment():
    payment = stars_payment(customer__language="en", customer__is_banned=True)
    assert check(payment) == "Your account is blocked."
    assert "not valid" in check(payment, payload=stars_payload(payment.pk + 1000))


# The successful_payment, credited once.


def test_a_successful_payment_credits_once_per_charge():
    subscription = SubscriptionFactory()
    expiry = subscription.expires_at
    payment = stars_payment(subscription=subscription)
    first = stars_payment_received(update=paid_update(payment, charge_id="stxONE"))
    again = stars_payment_received(update=paid_update(payment, charge_id="stxONE"))
    assert (first.status_code, again.status_code) == (200, 200)
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.provider_ref == "stxONE"
    assert subscription.expires_at == expiry + timedelta(days=subscription.tariff.duration_days)
    events = WebhookEvent.objects.order_by("pk")
    assert [e.status for e in events] == [
        WebhookEventStatus.PROCESSED,
        WebhookEventStatus.DUPLICATE,
    ]
    assert events[0].event_key == "stxONE"
    assert events[0].payment_id == payment.pk
    assert '"successful_payment"' in events[0].body  # the update, stored as received
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1
    assert not OutboxMessage.objects.filter(kind="stars-uncredited").exists()


@pytest.mark.parametrize(
    ("kwargs", "outcome", "alert_kind"),
    [
        ({"payload": "1:forged"}, "payload_invalid", "stars-uncredited"),
        ({"stars": 49}, "amount_mismatch", "payment-mismatch"),
        ({"currency": "USD"}, "currency_mismatch", "payment-mismatch"),
    ],
)
def test_a_tampered_or_mismatched_payment_changes_nothing_and_alerts(kwargs, outcome, alert_kind):
    payment = stars_payment()
    before = state()
    reply = stars_payment_received(update=paid_update(payment, **kwargs))
    assert reply.status_code == 400
    assert state() == before
    event = WebhookEvent.objects.get()
    assert (event.status, event.outcome) == (WebhookEventStatus.REJECTED, outcome)
    # Stars were taken: the admins hear of it (once per admin chat), whatever the reason.
    assert OutboxMessage.objects.filter(kind=alert_kind).count() == 2
    assert not Subscription.objects.exists()


def test_an_unknown_payment_changes_nothing_and_alerts():
    payment = stars_payment()
    before = state()
    update = paid_update(payment, payload=stars_payload(payment.pk + 1000))
    assert stars_payment_received(update=update).status_code == 400
    assert state() == before
    assert WebhookEvent.objects.get().outcome == "payment_unknown"
    assert OutboxMessage.objects.filter(kind="stars-uncredited").count() == 2


def test_a_second_charge_for_a_paid_payment_is_not_credited_but_alerted():
    payment = stars_payment()
    stars_payment_received(update=paid_update(payment, charge_id="stxFIRST"))
    before = state()
    reply = stars_payment_received(update=paid_update(payment, charge_id="stxSECOND"))
    assert reply.status_code == 200
    assert state() == before
    assert OutboxMessage.objects.filter(kind="stars-uncredited").count() == 2


def test_a_stored_update_can_be_reprocessed_from_the_console():
    payment = stars_payment()
    stars_payment_received(update=paid_update(payment, stars=10))  # refused: wrong amount
    event = WebhookEvent.objects.get()
    Payment.objects.filter(pk=payment.pk).update(amount=Decimal("10"))  # an operator's fix
    assert webhook_event_reprocess(event=event).status == WebhookEventStatus.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


# Refunds through refundStarPayment.


@pytest.fixture
def telegram(settings):
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


def paid_stars(telegram, charge_id="stxPAID"):
    subscription = SubscriptionFactory()
    payment = stars_payment(subscription=subscription)
    update = telegram.successful_payment_update(
        user_id=payment.customer.telegram_id,
        payload=stars_payload(payment.pk),
        total_amount=int(payment.amount),
        charge_id=charge_id,
    )
    stars_payment_received(update=update)
    payment.refresh_from_db()
    subscription.refresh_from_db()
    return payment, subscription


def test_a_refund_gives_the_stars_back_and_takes_the_days(telegram):
    operator = UserFactory()
    payment, subscription = paid_stars(telegram)
    expiry = subscription.expires_at
    payment_refund(payment=payment, actor=operator, reason="asked")
    [call] = telegram.calls_to("refundStarPayment")
    assert call.params == {
        "user_id": payment.customer.telegram_id,
        "telegram_payment_charge_id": "stxPAID",
    }
    assert telegram.charge("stxPAID")["refunded"] is True
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert subscription.expires_at == expiry - timedelta(days=payment.days_credited)
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.acting_user == operator
    assert audit.extra_data["stars_refund"] == "refunded"
    # A late redelivery of the charge is a duplicate: nothing comes back.
    update = paid_update(payment, charge_id="stxPAID")
    assert stars_payment_received(update=update).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED


def test_a_refund_telegram_refuses_changes_nothing(telegram):
    payment, _subscription = paid_stars(telegram)
    telegram.fail_next("refundStarPayment", status=400, description="Bad Request: USER_ID_INVALID")
    before = state()
    with pytest.raises(ApplicationError, match="USER_ID_INVALID"):
        payment_refund(payment=payment, actor=UserFactory(), reason="asked")
    assert state() == before


def test_a_refund_telegram_already_made_is_recorded(telegram):
    """The stars went back but recording failed: running the refund again records it."""
    payment, _subscription = paid_stars(telegram)
    telegram.fail_next(
        "refundStarPayment", status=400, description="Bad Request: CHARGE_ALREADY_REFUNDED"
    )
    payment_refund(payment=payment, actor=UserFactory(), reason="again")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.extra_data["stars_refund"] == "already_refunded"


def test_other_providers_refund_without_telegram(telegram):
    payment = PaymentFactory(
        subscription=SubscriptionFactory(), status=PaymentStatus.PAID, paid_at=timezone.now()
    )
    payment_refund(payment=payment, actor=UserFactory(), reason="asked")
    assert telegram.calls_to("refundStarPayment") == []
