"""Reads behind the checkout's questions: was something bought since a button was shown?"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from notifications.texts import tariff_name


@dataclass(frozen=True)
class Purchase:
    """A credited payment: what it bought and for which subscription."""

    payment_id: int
    tariff_name: str  # in the customer's language
    subscription_id: int
    paid_at: datetime


def purchase_since(*, customer: Customer, shown_at: datetime) -> Purchase | None:
    """The customer's latest payment credited after a message was last shown (sent or
    edited) at `shown_at`, or None. Telegram dates a message to the second: a payment in
    that same second counts as before it."""
    payment = (
        Payment.objects.filter(
            customer=customer,
            status=PaymentStatus.PAID,
            paid_at__gte=shown_at.replace(microsecond=0) + timedelta(seconds=1),
            subscription__isnull=False,
        )
        .select_related("tariff")
        .order_by("-paid_at", "-pk")
        .first()
    )
    if payment is None:
        return None
    return Purchase(
        payment_id=payment.pk,
        tariff_name=tariff_name(
            name=payment.tariff.name, name_en=payment.tariff.name_en, language=customer.language
        ),
        subscription_id=payment.subscription_id,
        paid_at=payment.paid_at,
    )
