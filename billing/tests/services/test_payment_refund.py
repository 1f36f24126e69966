from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import PaymentStatus
from billing.services.refunds import payment_refund
from billing.tests.factories import PaymentFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def paid_payment(*, remaining_days: float, days_credited: int = 30):
    now = timezone.now()
    subscription = SubscriptionFactory(
        started_at=now - timedelta(days=60), expires_at=now + timedelta(days=remaining_days)
    )
    payment = PaymentFactory(
        subscription=subscription,
        status=PaymentStatus.PAID,
        paid_at=now - timedelta(days=1),
        days_credited=days_credited,
    )
    return payment, subscription


def test_refund_takes_the_credited_days_back():
    operator = UserFactory()
    payment, subscription = paid_payment(remaining_days=45)
    expiry = subscription.expires_at
    now = timezone.now()
    refunded = payment_refund(payment=payment, actor=operator, reason="asked nicely", now=now)
    subscription.refresh_from_db()
    assert refunded.status == PaymentStatus.REFUNDED
    assert refunded.refunded_at == now
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert subscription.expires_at == expiry - timedelta(days=30)
    assert subscription.status == SubscriptionStatus.ACTIVE
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.acting_user == operator
    assert audit.extra_data["reason"] == "asked nicely"
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_SHORTENED).count() == 1
    message = OutboxMessage.objects.get(kind="payment-refunded")
    assert message.customer == payment.customer


def test_refund_never_goes_below_now_and_expires_when_nothing_is_left():
    payment, subscription = paid_payment(remaining_days=10)
    now = timezone.now()
    payment_refund(payment=payment, actor=UserFactory(), reason="chargeback", now=now)
    subscription.refresh_from_db()
    assert subscription.expires_at == now
    assert subscription.status == SubscriptionStatus.EXPIRED
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXPIRED).count() == 1


@pytest.mark.parametrize(
    "status",
    [PaymentStatus.PENDING, PaymentStatus.REFUNDED, PaymentStatus.CANCELLED, PaymentStatus.FAILED],
)
def test_only_paid_payments_can_be_refunded(status):
    payment = PaymentFactory(status=status, paid_at=timezone.now())
    with pytest.raises(ApplicationError):
        payment_refund(payment=payment, actor=UserFactory(), reason="no")
    payment.refresh_from_db()
    assert payment.status == status
    assert not AuditLog.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_refund_needs_a_reason():
    payment, _subscription = paid_payment(remaining_days=40)
    with pytest.raises(ApplicationError):
        payment_refund(payment=payment, actor=UserFactory(), reason="  ")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


@pytest.mark.parametrize(
    ("language", "remaining_days", "line"),
    [
        ("en", 45, "Subscription 1 · Month is now valid until "),
        ("ru", 45, "Подписка 1 · Месяц теперь действует до "),
        ("en", 10, "Subscription 1 · Month has ended."),
        ("ru", 10, "Подписка 1 · Месяц завершена."),
    ],
)
def test_the_refund_message_names_the_subscription(language, remaining_days, line):
    """Issue 19: "a refund message does not name the subscription"."""
    payment, subscription = paid_payment(remaining_days=remaining_days)
    customer = subscription.customer
    customer.language = language
    customer.save(update_fields=["language"])
    tariff = subscription.tariff
    tariff.name, tariff.name_en = "Месяц", "Month"
    tariff.save(update_fields=["name", "name_en"])
    payment_refund(payment=payment, actor=UserFactory(), reason="asked", now=timezone.now())
    text = OutboxMessage.objects.get(kind="payment-refunded").text
    assert text.splitlines()[1].startswith(line)
