"""Telegram Stars test material: a Stars tariff and payment, and the updates Telegram sends
(built by the Bot API double, so tests and the double agree on their shape)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from billing.models import Payment
from billing.providers.stars import stars_payload
from subscriptions.tests.factories import TariffFactory
from tests.doubles.telegram_api import TelegramApiDouble

STARS_PROVIDER = ("billing.providers.stars.StarsProvider", {})


def stars_payment(*, stars: int = 50, **kwargs) -> Payment:
    """A pending Stars payment for a 30-day tariff sold for `stars` (299 ₽ otherwise)."""
    from billing.tests.factories import PaymentFactory

    if "subscription" not in kwargs:
        kwargs.setdefault("tariff", TariffFactory(price_stars=stars))
    kwargs.setdefault("expires_at", timezone.now() + timedelta(hours=1))
    return PaymentFactory(provider="stars", amount=Decimal(stars), currency="XTR", **kwargs)


def paid_update(
    payment: Payment,
    *,
    stars: int | None = None,
    currency: str = "XTR",
    payload: str | None = None,
    charge_id: str = "stxCHARGE-1",
    user_id: int | None = None,
) -> dict:
    """The ``successful_payment`` update Telegram sends once `payment`'s invoice is paid."""
    return TelegramApiDouble(token=None).successful_payment_update(
        user_id=user_id if user_id is not None else payment.customer.telegram_id,
        payload=payload if payload is not None else stars_payload(payment.pk),
        total_amount=stars if stars is not None else int(payment.amount),
        currency=currency,
        charge_id=charge_id,
    )
