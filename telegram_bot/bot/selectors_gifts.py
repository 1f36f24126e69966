"""Reads behind the gift screens: a gift code's offer (what it gives, what it may extend)."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.models import Customer
from billing.services.gifts import gift_preview, gift_targets
from notifications.texts import tariff_name
from telegram_bot.bot.selectors import RenewalTarget, renewal_target


@dataclass(frozen=True)
class GiftOffer:
    """A gift the customer may redeem: a new subscription, or days on one of `targets`."""

    code: str
    tariff_name: str  # in the customer's language
    duration_days: int
    expires_at: datetime  # the last moment it can be redeemed
    targets: tuple[RenewalTarget, ...]


def gift_offer_get(*, customer: Customer, code: str, now: datetime | None = None) -> GiftOffer:
    """The offer of gift `code` to `customer`; raises ``ApplicationError`` (in their
    language) when they cannot redeem it (``gift_preview``)."""
    now = now or timezone.now()
    gift = gift_preview(customer=customer, code=code, now=now)
    tariff = gift.payment.tariff
    language = customer.language
    return GiftOffer(
        code=gift.code,
        tariff_name=tariff_name(name=tariff.name, name_en=tariff.name_en, language=language),
        duration_days=tariff.duration_days,
        expires_at=gift.expires_at,
        targets=tuple(
            renewal_target(s, language, now)
            for s in gift_targets(customer=customer, tariff=tariff, now=now)
        ),
    )
