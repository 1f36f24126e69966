"""Writes behind the gift screens: redeem a code (``billing.services.gifts.gift_redeem``)."""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import Customer
from billing.services.gifts import gift_redeem
from notifications.texts import subscription_title_of


@dataclass(frozen=True)
class GiftRedeemed:
    subscription_id: int
    title: str  # "Subscription 2 · 3 months" (``subscription_title``), HTML-escaped
    expires_at: datetime
    extended: bool  # days added to a running subscription (its keys stay the same)


def gift_redeem_start(
    *, customer: Customer, code: str, subscription_id: int | None = None
) -> GiftRedeemed:
    """Redeem `code` for `customer` (into `subscription_id`, or a new subscription); raises
    ``ApplicationError`` in the customer's language, nothing changed."""
    gift = gift_redeem(customer=customer, code=code, subscription_id=subscription_id)
    subscription = gift.subscription
    return GiftRedeemed(
        subscription_id=subscription.pk,
        title=subscription_title_of(subscription, language=customer.language),
        expires_at=subscription.expires_at,
        extended=subscription_id is not None,
    )
