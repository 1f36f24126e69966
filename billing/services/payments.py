"""Payments: create, the checkout link, credit (mark paid), refund, manual payments, expiry.

Crediting only ever calls the subscription services: keys, panels and the "your keys are
ready" message belong to the layers below, which hook into those services.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.exceptions import (
    CheckoutError,
    ProviderApiError,
    ProviderNotConfiguredError,
    WebhookError,
)
from billing.models import (
    BalanceEntryKind,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    PromoCode,
    PromoKind,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.providers import CheckoutRequest, ProviderNotification, provider_get
from billing.providers.stars import STARS, STARS_CURRENCY
from billing.selectors import payment_provider_ref_taken
from billing.services.checkout_settle import checkout_settle
from billing.services.gifts import gift_create_in_lock
from billing.services.ledger import BALANCE_PROVIDER, balance_entry_add
from billing.services.messages import (
    _language,
    _notify_paid,
    _notify_topped_up,
    _payment_description,
)
from billing.services.promo import (
    PromoError,
    promo_credit,
    promo_price,
    promo_reserve,
)
from billing.services.referral import referral_reward_grant
from billing.services.webhook_events import _event_outcome
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from subscriptions.models import Subscription, Tariff
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_extend,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# Provider code of payments an operator records by hand (cash, bank transfer).
MANUAL_PROVIDER = "manual"
# States that mean "this payment already credited its days": a notification is a duplicate.
CREDITED_STATUSES = (PaymentStatus.PAID, PaymentStatus.REFUNDED)


@transaction.atomic
def payment_create(
    *,
    customer: Customer,
    tariff: Tariff,
    provider: str,
    subscription: Subscription | None = None,
    now: datetime | None = None,
    purpose: str = PaymentPurpose.SUBSCRIPTION,
    promo: PromoCode | None = None,
) -> Payment:
    """A pending payment for ``tariff`` through ``provider``; ``subscription`` = a renewal;
    ``purpose`` GIFT: a gift for someone else (``billing.services.gifts``), never a renewal.

    The amount and currency are the tariff's at this moment (a later price change does not
    touch a link already handed out). Errors are ``ApplicationError`` with a message in the
    customer's language, for the bot to show as is.

    With ``promo`` the amount is ``payment_price``'s and a use of the code is reserved
    (``promo_reserve``: ``PromoError`` if the code may not be used; nothing is made then).
    A price brought to 0 is refused here: that purchase is a free grant (``promo_grant``).
    """
    now = now or timezone.now()
    payment_create_check(
        customer=customer, tariff=tariff, provider=provider, subscription=subscription
    )
    with translation.override(customer.language):
        description = _payment_description(tariff=tariff, language=customer.language)
    amount, currency = payment_price(tariff=tariff, provider=provider, promo=promo)
    price_before_promo = (
        payment_price(tariff=tariff, provider=provider)[0] if promo is not None else None
    )
    payment = Payment(
        customer=customer,
        number=payment_number_next(customer_id=customer.pk),
        tariff=tariff,
        subscription=subscription,
        provider=provider,
        amount=amount,
        currency=currency,
        status=PaymentStatus.PENDING,
        description=description,
        expires_at=now + timedelta(minutes=settings.PAYMENT_PENDING_TTL_MINUTES),
        purpose=purpose,
        promo=promo,
        price_before_promo=price_before_promo,
    )
    if payment.amount <= 0:
        raise PromoError("A free purchase is a promo grant, not a payment.", "not_at_checkout")
    payment.full_clean()
    payment.save()
    if promo is not None:
        promo_reserve(payment=payment, promo=promo, now=now)
    audit_log_write(
        event_type=AuditEvent.PAYMENT_CREATED,
        obj=payment,
        actor_label="bot",
        customer_id=customer.pk,
        message=f"{payment.amount} {payment.currency} via {provider}: {tariff.name}",
        extra_data={
            "provider": provider,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "tariff_id": tariff.pk,
            "subscription_id": subscription.pk if subscription else None,
            "expires_at": payment.expires_at.isoformat(),
            "purpose": purpose,
            **(
                {"promo_id": promo.pk, "price_before_promo": str(payment.price_before_promo)}
                if promo is not None
                else {}
            ),
        },
    )
    return payment


def payment_number_next(*, customer_id: int) -> int:
    """The number for the customer's next payment; call it in the creating transaction.

    The customer's row is locked first, so two payments made at once for one customer get 1
    and 2, never 1 and 1; the unique constraint ``payment_number_per_customer`` backs it up.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("payment_number_next must run inside a transaction")
    Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk").first()
    last = Payment.objects.filter(customer_id=customer_id).aggregate(last=Max("number"))
    return (last["last"] or 0) + 1


def payment_price(
    *, tariff: Tariff, provider: str, promo: PromoCode | None = None
) -> tuple[Decimal, str]:
    """What `tariff` costs through `provider` with `promo`: (amount, currency). Telegram
    Stars charge the tariff's Stars price in XTR (whole stars; None when it is not sold for
    Stars), every other provider its price in its currency. A percentage code discounts
    either (whole stars for Stars); a fixed discount is in roubles, so it refuses Stars."""
    if provider == STARS:
        stars = tariff.price_stars
        price, currency, quantum = Decimal(stars or 0), STARS_CURRENCY, Decimal(1)
        if promo is not None and promo.kind == PromoKind.AMOUNT:
            raise PromoError("A fixed discount cannot apply to Telegram Stars.", "not_for_tariff")
    else:
        price, currency, quantum = tariff.price, tariff.currency, CENT
    return promo_price(price=price, promo=promo, quantum=quantum), currency


def payment_create_check(
    *,
    customer: Customer,
    tariff: Tariff,
    provider: str,
    subscription: Subscription | None = None,
) -> None:
    """Raise ``ApplicationError`` (in the customer's language) unless ``payment_create``
    may make this payment: the customer is not banned, the tariff is on sale, the provider
    is configured, a renewed subscription is the customer's."""
    with translation.override(customer.language):
        if customer.is_banned:
            raise ApplicationError(_("Your account is blocked."), {"customer_id": customer.pk})
        if not tariff.is_active or tariff.is_trial or tariff.price <= 0:
            raise ApplicationError(
                _("This tariff is not available for purchase."), {"tariff_id": tariff.pk}
            )
        if provider == STARS and not tariff.price_stars:
            raise ApplicationError(
                _("This payment method is not available."),
                {"provider": provider, "tariff_id": tariff.pk},
            )
        try:
            if provider != BALANCE_PROVIDER:  # the balance needs no provider configured
                provider_get(provider)
        except ProviderNotConfiguredError as exc:
            raise ApplicationError(
                _("This payment method is not available."), {"provider": provider}
            ) from exc
        if provider == BALANCE_PROVIDER and tariff.currency != "RUB":
            raise ApplicationError(
                _("This payment method is not available."), {"provider": provider}
            )
        if subscription is not None and subscription.customer_id != customer.pk:
            raise ApplicationError(
                _("This subscription belongs to another account."),
                {"subscription_id": subscription.pk},
            )


def payment_checkout_url(*, payment: Payment, now: datetime | None = None) -> str:
    """The link the buyer opens; only for a payment that can still be paid.

    A signed-link provider builds it locally. An API provider (YooKassa) creates the payment
    on its side (HTTP, with an idempotence key derived from ours) the first time; its id
    (``provider_ref``) and URL (``checkout_url``) are kept and the URL is shown again after.
    Call it inside the transaction that made the payment: an error (``ApplicationError`` in
    the customer's language) then rolls the payment back, leaving nothing half made.
    """
    now = now or timezone.now()
    customer = payment.customer
    with translation.override(customer.language):
        if payment.status != PaymentStatus.PENDING or (
            payment.expires_at is not None and payment.expires_at <= now
        ):
            raise ApplicationError(
                _("This payment can no longer be paid. Please start a new one."),
                {"payment_id": payment.pk, "status": payment.status},
            )
        if payment.checkout_url:
            return payment.checkout_url
        try:
            provider = provider_get(payment.provider)
            session = provider.checkout_create(
                request=CheckoutRequest(
                    payment_id=payment.pk,
                    amount=payment.amount,
                    currency=payment.currency,
                    description=payment.description
                    or _payment_description(
                        tariff=payment.tariff, language=customer.language, payment=payment
                    ),
                    language=_language(customer.language),
                    idempotence_key=payment_idempotence_key(payment=payment, purpose="create"),
                )
            )
        except (ProviderNotConfiguredError, CheckoutError) as exc:
            logger.warning("checkout for payment %s refused: %s", payment.pk, exc)
            raise ApplicationError(
                _("This payment method is not available."),
                {"payment_id": payment.pk, "reason": exc.reason},
            ) from exc
        except ProviderApiError as exc:
            logger.warning("checkout for payment %s failed: %s %s", payment.pk, exc, exc.extra)
            raise ApplicationError(
                _(
                    "The payment service is not answering right now. "
                    "Please try again in a minute or choose another payment method."
                ),
                {"payment_id": payment.pk, "reason": exc.reason},
            ) from exc
    if session.provider_ref:
        payment.provider_ref = session.provider_ref[:128]
        payment.checkout_url = session.url
        payment.save(update_fields=["provider_ref", "checkout_url", "updated_at"])
    return session.url


def payment_idempotence_key(*, payment: Payment, purpose: str) -> str:
    """The provider's idempotence key for `purpose` ("create", "refund") of `payment`: the
    same for every retry, never the same for two payments (the creation time is in it, so a
    database whose ids start again cannot collide with keys still alive at the provider)."""
    stamp = int(payment.created_at.timestamp() * 1_000_000)
    return f"vpnsite-{purpose}-{payment.pk}-{stamp}"


@dataclass(frozen=True)
class PaymentCredit:
    """What ``payment_mark_paid`` did: ``credited`` is False for an already-credited payment."""

    payment: Payment
    credited: bool
    late: bool = False


@transaction.atomic
def payment_mark_paid(
    *,
    payment_id: int,
    provider: str,
    notification: ProviderNotification,
    event: WebhookEvent | None = None,
    now: datetime | None = None,
    actor=None,
) -> PaymentCredit:
    """Credit the payment a verified notification names, at most once.

    `actor` is the operator who reprocessed a stored notification (the credit's audit rows
    name them; the provider stays in ``actor_label``), None for a live delivery.

    Raises ``WebhookError`` (nothing changed) for an unknown payment, another provider's
    payment, or an amount/currency that differs from ours. A payment already PAID/REFUNDED is
    a duplicate: returned with ``credited=False`` and untouched. A PENDING one credits; so does
    an expired, CANCELLED or FAILED one, because the provider took the money -- that credit is
    flagged ``late`` in the audit row and in the admins' message.
    """
    now = now or timezone.now()
    provider_ref = notification.provider_ref
    # The lock is the point: concurrent deliveries of one notification queue up here and
    # each sees the status the previous one committed.
    try:
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("customer", "tariff")
            .get(pk=payment_id)
        )
    except Payment.DoesNotExist as exc:
        raise WebhookError(
            "Notification names no payment of ours.",
            reason="payment_unknown",
            extra={"payment_id": payment_id},
        ) from exc
    _payment_check(payment=payment, provider=provider, notification=notification)
    if payment.status in CREDITED_STATUSES:
        if event is not None:
            _event_outcome(
                event=event,
                payment=payment,
                status=WebhookEventStatus.DUPLICATE,
                outcome=f"already_{payment.status}",
            )
        return PaymentCredit(payment=payment, credited=False)

    status_before = payment.status
    expired = payment.expires_at is not None and payment.expires_at <= now
    late = status_before != PaymentStatus.PENDING or expired
    # Another payment holding the provider's operation id would make the unique constraint
    # abort this credit: credit it without the id instead, and say so in the audit row.
    provider_ref_conflict = bool(provider_ref) and payment_provider_ref_taken(
        provider=provider, provider_ref=provider_ref, payment_id=payment.pk
    )
    # The purchase this payment belongs to, before crediting names the subscription made.
    checkout_subscription_id = payment.subscription_id
    subscription, mode = _payment_credit(
        payment=payment,
        now=now,
        actor=actor,
        actor_label=provider,
        provider_ref="" if provider_ref_conflict else provider_ref,
    )
    if event is not None:
        # In the crediting transaction: the "one PROCESSED event per key" constraint then
        # backs up the row lock.
        _event_outcome(
            event=event,
            payment=payment,
            status=WebhookEventStatus.PROCESSED,
            outcome="credited_late" if late else "credited",
        )
    note = ""
    if late:
        note = f" LATE: credited although the payment was {status_before}" + (
            " and past its expiry" if expired else ""
        )
    if actor is not None:
        note += f" Reprocessed by {actor.get_username()}."
    if subscription is not None:
        what = f"+{payment.days_credited} days on subscription #{subscription.pk}"
    elif payment.purpose == PaymentPurpose.GIFT:
        what = "a gift code made"
    else:
        what = "credited to the balance"
    audit_log_write(
        event_type=AuditEvent.PAYMENT_PAID,
        obj=payment,
        acting_user=actor,
        actor_label=provider,
        customer_id=payment.customer_id,
        message=f"{payment.amount} {payment.currency} via {provider}; {what}.{note}",
        extra_data={
            "provider": provider,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "received_amount": str(notification.amount),
            "provider_ref": provider_ref,
            "provider_ref_conflict": provider_ref_conflict,
            "payment_method": notification.payment_method,
            "days": payment.days_credited,
            "subscription_id": subscription.pk if subscription else None,
            "mode": mode,
            "expires_at": subscription.expires_at.isoformat() if subscription else None,
            "status_before": status_before,
            "expired": expired,
            "late": late,
            "webhook_event_id": event.pk if event is not None else None,
        },
    )
    if payment.purpose == PaymentPurpose.TOP_UP:
        _notify_topped_up(payment=payment, late=late)
    elif subscription is not None:  # a gift's buyer got the code (``gift_create_in_lock``)
        _notify_paid(payment=payment, subscription=subscription, late=late)
    checkout_settle(payment=payment, subscription_id=checkout_subscription_id)
    return PaymentCredit(payment=payment, credited=True, late=late)


def _payment_check(*, payment: Payment, provider: str, notification: ProviderNotification) -> None:
    """Raise ``WebhookError`` unless a verified notification names `payment` rightly."""
    if payment.provider != provider:
        raise WebhookError(
            "Payment was created for another provider.",
            reason="provider_mismatch",
            extra={"payment_id": payment.pk, "payment_provider": payment.provider},
        )
    if notification.provider_ref_confirmed and notification.provider_ref != payment.provider_ref:
        # The provider's API named this payment of ours, but it is not the one we created
        # for it at checkout (YooKassa: ``metadata`` of another payment).
        raise WebhookError(
            "Notification names another payment of the provider.",
            reason="provider_ref_mismatch",
            extra={"payment_id": payment.pk},
        )
    if not amounts_equal(received=notification.amount, expected=payment.amount):
        raise WebhookError(
            "Notification amount differs from the payment amount.",
            reason="amount_mismatch",
            extra={
                "payment_id": payment.pk,
                "expected": str(payment.amount),
                "received": str(notification.amount),
            },
        )
    currency = notification.currency or payment.currency
    if currency.upper() != payment.currency.upper():
        raise WebhookError(
            "Notification currency differs from the payment currency.",
            reason="currency_mismatch",
            extra={"payment_id": payment.pk, "expected": payment.currency, "received": currency},
        )


@transaction.atomic
def payment_manual_create(
    *,
    customer: Customer,
    tariff: Tariff,
    amount: Decimal,
    actor: Any,
    reason: str,
    subscription: Subscription | None = None,
    now: datetime | None = None,
) -> Payment:
    """A payment taken outside the providers (cash, transfer), credited immediately.

    Audited with the operator and their reason; the customer and the admins are told as for
    any payment.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A manual payment needs a reason.")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ApplicationError("Amount must be a non-negative decimal.", {"amount": str(amount)})
    try:
        amount_exact = amount == amount.quantize(CENT)
    except InvalidOperation:
        amount_exact = False
    if not amount_exact:
        raise ApplicationError("Amount must have at most two decimal places.")
    if subscription is not None and subscription.customer_id != customer.pk:
        raise ApplicationError(
            "The subscription belongs to another customer.",
            {"subscription_id": subscription.pk, "customer_id": customer.pk},
        )
    payment = Payment(
        customer=customer,
        number=payment_number_next(customer_id=customer.pk),
        tariff=tariff,
        subscription=subscription,
        provider=MANUAL_PROVIDER,
        amount=amount,
        currency=tariff.currency,
        status=PaymentStatus.PENDING,
        description=reason[:255],
    )
    payment.full_clean()
    payment.save()
    subscription, mode = _payment_credit(
        payment=payment, now=now, actor=actor, actor_label="", provider_ref=""
    )
    audit_log_write(
        event_type=AuditEvent.PAYMENT_MANUAL,
        obj=payment,
        acting_user=actor,
        customer_id=customer.pk,
        message=f"{amount} {payment.currency}, +{payment.days_credited} days: {reason}",
        extra_data={
            "amount": str(amount),
            "currency": payment.currency,
            "tariff_id": tariff.pk,
            "days": payment.days_credited,
            "subscription_id": subscription.pk,
            "mode": mode,
            "expires_at": subscription.expires_at.isoformat(),
            "reason": reason,
        },
    )
    _notify_paid(payment=payment, subscription=subscription, late=False)
    return payment


def amounts_equal(*, received: Decimal, expected: Decimal) -> bool:
    """Money equality: both quantized to kopecks, and the received one must be exact there.

    ``299``, ``299.00`` and ``299.000000`` equal ``299.00``; ``299.001`` does not (quantizing
    it would silently round, and no real payment carries a fraction of a kopeck).
    """
    try:
        received_cents = received.quantize(CENT)
        expected_cents = expected.quantize(CENT)
    except (InvalidOperation, AttributeError):
        return False
    return received == received_cents and received_cents == expected_cents


def _payment_credit(
    *, payment: Payment, now: datetime, actor: Any, actor_label: str, provider_ref: str
) -> tuple[Subscription | None, str]:
    """Extend the renewal target or create a subscription, or (a top-up) credit the
    balance, or (a gift) make its code, no subscription: None; mark the (locked) payment
    PAID."""
    tariff = payment.tariff
    # A promo code's extra days: promised at checkout, given even if the code lapsed since.
    bonus_days = promo_credit(payment=payment)
    days = tariff.duration_days + bonus_days if tariff is not None else 0
    reason = f"payment #{payment.pk}"
    subscription = None
    if payment.purpose == PaymentPurpose.TOP_UP:
        # The ledger's unique source key backs up the payment's row lock.
        balance_entry_add(
            customer_id=payment.customer_id,
            amount=payment.amount,
            kind=BalanceEntryKind.TOP_UP,
            source_key=f"payment:{payment.pk}",
            payment=payment,
        )
        mode = "top_up"
    elif payment.purpose == PaymentPurpose.GIFT:
        gift_create_in_lock(payment=payment, now=now)
        subscription, mode, days = None, "gift", 0
    elif payment.subscription_id:
        subscription = subscription_extend(
            # Only the id: the service reads and locks the current row itself.
            subscription=Subscription(pk=payment.subscription_id),
            days=days,
            actor=actor,
            actor_label=actor_label,
            reason=reason,
            now=now,
            place_keys_now=False,
            tariff=tariff,
        )
        mode = "extend"
    else:
        subscription = subscription_create(
            customer=payment.customer,
            tariff=tariff,
            actor=actor,
            actor_label=actor_label,
            reason=reason,
            now=now,
            place_keys_now=False,
            country=payment.country,
        )
        if bonus_days:
            subscription = subscription_extend(
                subscription=subscription,
                days=bonus_days,
                actor=actor,
                actor_label=actor_label,
                reason=f"{reason}: promo code",
                now=now,
                place_keys_now=False,
            )
        mode = "create"
    payment.status = PaymentStatus.PAID
    payment.subscription = subscription
    payment.days_credited = days
    payment.paid_at = now
    update_fields = ["status", "subscription", "days_credited", "paid_at", "updated_at"]
    if provider_ref:
        payment.provider_ref = provider_ref[:128]
        update_fields.append("provider_ref")
    # No full_clean here: every value is computed above, and the database constraints
    # (paid has paid_at, unique provider_ref) guard the invariants.
    payment.save(update_fields=update_fields)
    referral_reward_grant(payment=payment, now=now)  # the inviter's reward, once per payment
    return subscription, mode
