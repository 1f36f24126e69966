"""A checkout: one pending payment per customer, tariff, renewed subscription (or a new
one), provider and purpose (for oneself or a gift), reused while it can still be paid; and
its bot message once settled.

The database holds the rule too (``payment_one_pending_*_checkout`` on ``Payment``), and one
customer's checkouts queue up on the customer's row, so two fast presses make one payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from accounts.models import Customer
from billing.models import Payment, PaymentPurpose, PaymentStatus, PromoCode
from billing.services.checkout_settle import payment_supersede
from billing.services.payments import payment_create, payment_create_check, payment_price
from subscriptions.models import Subscription, Tariff
from subscriptions.services.countries import country_check

# A pending payment with less time left than this is not handed out again: the buyer could
# not finish paying before it expires. It is cancelled and a fresh one made.
CHECKOUT_REUSE_MIN_LEFT = timedelta(minutes=10)


@dataclass(frozen=True)
class CheckoutPayment:
    payment: Payment
    reused: bool


def _checkout_pending(
    *,
    customer: Customer,
    tariff: Tariff,
    provider: str,
    subscription: Subscription | None,
    purpose: str = PaymentPurpose.SUBSCRIPTION,
):
    return Payment.objects.filter(
        customer=customer,
        tariff=tariff,
        provider=provider,
        subscription=subscription,
        status=PaymentStatus.PENDING,
        purpose=purpose,
    )


def _reusable(
    *, payment: Payment, tariff: Tariff, now: datetime, promo: PromoCode | None = None
) -> bool:
    """Still payable long enough, priced with the same promo code (or none), and for what
    the tariff costs with it now."""
    if payment.expires_at is not None and payment.expires_at - now < CHECKOUT_REUSE_MIN_LEFT:
        return False
    if payment.promo_id != (promo.pk if promo is not None else None):
        return False
    return (payment.amount, payment.currency) == payment_price(
        tariff=tariff, provider=payment.provider, promo=promo
    )


@transaction.atomic
def checkout_payment_get(
    *,
    customer: Customer,
    tariff: Tariff,
    provider: str,
    subscription: Subscription | None = None,
    chat_id: int | None = None,
    message_id: int | None = None,
    country: str = "",
    now: datetime,
    gift: bool = False,
    promo: PromoCode | None = None,
) -> CheckoutPayment:
    """The pending payment of this checkout: the one already made if it can still be paid,
    else a new one (an outdated one is cancelled first). `chat_id`/`message_id` name the
    bot message that shows it, edited once it is paid (``checkout_settle``). `country` is
    a new subscription's (``country_check``): the latest choice, also on a reused payment.
    `promo` prices it (``checkout_price``): a checkout with another code, or none, replaces
    the pending payment (its reserved use is released). A code used once per customer holds
    one pending payment at a time: its pending payments of other methods are cancelled.

    Raises ``ApplicationError`` (in the customer's language) as ``payment_create`` does, for
    a reused payment too. `gift`: a gift for someone else (``billing.services.gifts``): its
    own checkout, never a renewal, no country (the recipient's subscription takes any).
    """
    purpose = PaymentPurpose.GIFT if gift else PaymentPurpose.SUBSCRIPTION
    if gift and subscription is not None:
        raise ValueError("a gift is never a renewal")
    payment_create_check(
        customer=customer, tariff=tariff, provider=provider, subscription=subscription
    )
    country = "" if subscription is not None or gift else country
    country = country_check(tariff=tariff, country=country, language=customer.language)
    # One customer's checkouts queue up here: the second of two fast presses then sees the
    # payment the first one made (PostgreSQL; the unique constraint backs it up anywhere).
    list(Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk"))
    pending = _checkout_pending(
        customer=customer,
        tariff=tariff,
        provider=provider,
        subscription=subscription,
        purpose=purpose,
    )
    payment = pending.select_for_update().first()
    reused = payment is not None and _reusable(payment=payment, tariff=tariff, now=now, promo=promo)
    if payment is not None and not reused:
        payment_supersede(payment=payment, reason="checkout_outdated")
    if promo is not None and promo.once_per_customer and not reused:
        others = Payment.objects.select_for_update().filter(
            customer=customer, promo=promo, status=PaymentStatus.PENDING
        )
        for other in others:
            payment_supersede(payment=other, reason="checkout_outdated")
    if not reused:
        try:
            with transaction.atomic():
                payment = payment_create(
                    customer=customer,
                    tariff=tariff,
                    provider=provider,
                    subscription=subscription,
                    now=now,
                    purpose=purpose,
                    promo=promo,
                )
        except IntegrityError:
            # Another press made it between our read and our insert (no row lock on SQLite).
            payment = pending.get()
            reused = True
    if payment.country != country:
        payment.country = country
        Payment.objects.filter(pk=payment.pk).update(country=country)
    if chat_id is not None and message_id is not None:
        checkout_message_set(payment=payment, chat_id=chat_id, message_id=message_id)
    return CheckoutPayment(payment=payment, reused=reused)


def checkout_message_set(*, payment: Payment, chat_id: int, message_id: int) -> None:
    """Remember the bot message that shows `payment`'s checkout (the latest one shown)."""
    payment.checkout_chat_id = chat_id
    payment.checkout_message_id = message_id
    Payment.objects.filter(pk=payment.pk).update(
        checkout_chat_id=chat_id, checkout_message_id=message_id
    )
