"""Writes behind the bot's screens: thin compositions of the billing and subscription services.

No money rule lives here: amounts, availability and crediting belong to `billing.services`;
this only resolves what the pressed button names and hands the result back as a dataclass.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import Payment
from billing.providers import provider_label
from billing.providers.stars import STARS
from billing.services.checkout import checkout_message_set, checkout_payment_get
from billing.services.ledger import BALANCE_PROVIDER
from billing.services.payments import payment_checkout_url
from billing.services.promo import promo_find
from billing.services.stars import stars_invoice_get
from core.exceptions import ApplicationError
from subscriptions.models import Subscription
from subscriptions.selectors import subscription_expiry_after_extend
from subscriptions.services.countries import subscription_country_set
from telegram_bot.bot.selectors import Checkout, buy_offer_load, renewal_target, tariff_info


@transaction.atomic
def checkout_start(
    *,
    customer: Customer,
    tariff_id: int,
    provider: str,
    subscription_id: int | None = None,
    chat_id: int | None = None,
    message_id: int | None = None,
    country: str = "",
    now: datetime | None = None,
    gift: bool = False,
    promo_code: str = "",
) -> Checkout:
    """The pending payment for the tariff (renewing `subscription_id`) and its payment link
    (Telegram Stars: the invoice the bot sends; the balance: no link, the customer confirms
    it with ``payment_pay_from_balance``), shown in message `message_id` of `chat_id`.

    One checkout, one payment: a press on a method whose payment is still pending and
    payable shows that payment again (``checkout_payment_get``). A link the provider refuses
    to build rolls a new payment back, so no unpayable payment is left behind.
    Raises `ApplicationError` (in the customer's language) when the choice is no longer valid,
    ``PromoError`` when `promo_code` may not be used (``billing.services.promo``).
    `gift`: the tariff bought as a gift (``billing.services.gifts``), never a renewal.
    """
    now = now or timezone.now()
    tariff, subscription = buy_offer_load(
        customer=customer,
        tariff_id=tariff_id,
        subscription_id=None if gift else subscription_id,
        now=now,
    )
    if tariff is None:
        with translation.override(customer.language):
            raise ApplicationError(
                _("This option is no longer available. Please choose again."),
                {"tariff_id": tariff_id, "subscription_id": subscription_id},
            )
    payment = checkout_payment_get(
        customer=customer,
        tariff=tariff,
        provider=provider,
        subscription=subscription,
        chat_id=chat_id,
        message_id=message_id,
        country=country,
        now=now,
        gift=gift,
        promo=promo_find(code=promo_code, customer=customer) if promo_code else None,
    ).payment
    invoice = None
    if provider == STARS:
        url, invoice = "", stars_invoice_get(payment=payment, now=now)
    elif provider == BALANCE_PROVIDER:
        url = ""
    else:
        url = payment_checkout_url(payment=payment, now=now)
    language = customer.language
    return Checkout(
        payment_id=payment.pk,
        payment_number=payment.number,
        url=url,
        invoice=invoice,
        amount=payment.amount,
        currency=payment.currency,
        provider_label=_provider_label(provider, language),
        tariff=tariff_info(tariff, language),
        target=renewal_target(subscription, language, now) if subscription else None,
        expires_after=(
            subscription_expiry_after_extend(
                subscription=subscription, days=tariff.duration_days, now=now
            )
            if subscription
            else None
        ),
        valid_minutes=_minutes_left(payment.expires_at, now),
        country=payment.country,
        gift=gift,
    )


def _provider_label(provider: str, language: str) -> str:
    if provider == BALANCE_PROVIDER:
        with translation.override(language):
            return _("💰 From the balance")
    return provider_label(provider, language)


def _minutes_left(expires_at: datetime, now: datetime) -> int:
    """How long the link still lives, in whole hours from an hour on (a reused payment has
    less than a full period left), else in minutes."""
    minutes = int((expires_at - now).total_seconds() // 60)
    return minutes - minutes % 60 if minutes >= 60 else minutes


def checkout_message_moved(*, payment_id: int, chat_id: int, message_id: int) -> None:
    """The checkout was shown in a new message (the pressed one could not be edited)."""
    checkout_message_set(
        payment=Payment.objects.get(pk=payment_id), chat_id=chat_id, message_id=message_id
    )


def country_change(*, customer: Customer, subscription_id: int, country: str) -> None:
    """Move the customer's subscription to `country` (``subscription_country_set``)."""
    subscription = Subscription.objects.filter(pk=subscription_id, customer=customer).first()
    if subscription is None:
        with translation.override(customer.language):
            raise ApplicationError(
                _("This option is no longer available. Please choose again."),
                {"subscription_id": subscription_id},
            )
    subscription_country_set(subscription=subscription, country=country, actor_label="customer")
