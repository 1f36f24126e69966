from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import Payment, PaymentStatus
from billing.services.payments import payment_manual_create
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def test_manual_payment_is_credited_at_once_and_audited_with_the_operator():
    operator = UserFactory()
    customer = CustomerFactory()
    tariff = TariffFactory(duration_days=90)
    payment = payment_manual_create(
        customer=customer,
        tariff=tariff,
        amount=Decimal("800.00"),
        actor=operator,
        reason="cash at the office",
    )
    payment.refresh_from_db()
    assert payment.provider == "manual"
    assert payment.status == PaymentStatus.PAID
    assert payment.amount == Decimal("800.00")
    assert payment.days_credited == 90
    assert payment.paid_at is not None
    subscription = Subscription.objects.get()
    assert payment.subscription == subscription
    assert subscription.customer == customer
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_MANUAL)
    assert audit.acting_user == operator
    assert audit.extra_data["reason"] == "cash at the office"
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1
    assert OutboxMessage.objects.filter(kind="payment-new").count() == 2


def test_manual_renewal_extends():
    subscription = SubscriptionFactory()
    expiry = subscription.expires_at
    payment_manual_create(
        customer=subscription.customer,
        tariff=subscription.tariff,
        amount=Decimal("299"),
        actor=UserFactory(),
        reason="transfer",
        subscription=subscription,
    )
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=30)


@pytest.mark.parametrize(
    ("amount", "reason", "foreign"),
    [
        (Decimal("-1"), "x", False),
        (Decimal("1.001"), "x", False),
        (Decimal("NaN"), "x", False),
        (299, "x", False),
        (Decimal("10"), "", False),
        (Decimal("10"), "x", True),
    ],
)
def test_manual_refusals(amount, reason, foreign):
    customer = CustomerFactory()
    subscription = SubscriptionFactory() if foreign else None
    with pytest.raises(ApplicationError):
        payment_manual_create(
            customer=customer,
            tariff=TariffFactory(),
            amount=amount,
            actor=UserFactory(),
            reason=reason,
            subscription=subscription,
        )
    assert not Payment.objects.exists()
    assert Subscription.objects.count() == (1 if foreign else 0)
