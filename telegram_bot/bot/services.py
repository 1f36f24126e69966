"""Writes behind the bot's screens: thin compositions of the billing and subscription services.

No money rule lives here: amounts, availability and crediting belong to `billing.services`;
this only resolves what the pressed button names and hands the result back as a dataclass.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.providers import provider_get
from billing.services.payments import payment_checkout_url, payment_create
from core.exceptions import ApplicationError
from subscriptions.selectors import subscription_expiry_after_extend
from telegram_bot.bot.selectors import Checkout, buy_offer_load, renewal_target, tariff_info


@transaction.atomic
def checkout_start(
    *,
    customer: Customer,
    tariff_id: int,
    provider: str,
    subscription_id: int | None = None,
    now: datetime | None = None,
) -> Checkout:
    """A pending payment for the tariff (renewing `subscription_id`) and its payment link.

    One call, one payment: every press of a payment method creates exactly one. A link the
    provider refuses to build rolls the payment back, so no unpayable payment is left behind.
    Raises `ApplicationError` (in the customer's language) when the choice is no longer valid.
    """
    now = now or timezone.now()
    tariff, subscription = buy_offer_load(
        customer=customer, tariff_id=tariff_id, subscription_id=subscription_id, now=now
    )
    if tariff is None:
        with translation.override(customer.language):
            raise ApplicationError(
                _("This option is no longer available. Please choose again."),
                {"tariff_id": tariff_id, "subscription_id": subscription_id},
            )
    payment = payment_create(
        customer=customer, tariff=tariff, provider=provider, subscription=subscription, now=now
    )
    url = payment_checkout_url(payment=payment, now=now)
    language = customer.language
    return Checkout(
        payment_id=payment.pk,
        url=url,
        amount=payment.amount,
        currency=payment.currency,
        provider_title=provider_get(provider).title,
        tariff=tariff_info(tariff, language),
        target=renewal_target(subscription, language, now) if subscription else None,
        expires_after=(
            subscription_expiry_after_extend(
                subscription=subscription, days=tariff.duration_days, now=now
            )
            if subscription
            else None
        ),
        valid_minutes=settings.PAYMENT_PENDING_TTL_MINUTES,
    )
