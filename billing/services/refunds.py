"""Refunds: the money back (through the provider's API where it has one: YooKassa, Telegram
Stars), the payment REFUNDED, and what it gave taken back (days, a gift, a balance top-up, a
referral reward), in one transaction under the payment's row lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.exceptions import ProviderApiError, ProviderNotConfiguredError
from billing.models import BalanceEntryKind, Payment, PaymentPurpose, PaymentStatus
from billing.providers import provider_get
from billing.providers.stars import STARS
from billing.services.gifts import gift_refund_in_lock
from billing.services.ledger import BALANCE_PROVIDER, balance_entry_add
from billing.services.messages import _notify_refunded
from billing.services.payments import payment_idempotence_key
from billing.services.referral import referral_reward_revoke
from billing.services.stars_api import stars_charge_refund
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from subscriptions.services.lifecycle import subscription_shorten


@transaction.atomic
def payment_refund(
    *,
    payment: Payment,
    actor: Any,
    reason: str,
    actor_label: str = "",
    provider_refund_ref: str = "",
    now: datetime | None = None,
) -> Payment:
    """Refund a PAID payment: the money back (through the provider's API where it has one),
    then REFUNDED and the days taken back.

    The days this payment credited are taken off its subscription (never below now; a
    subscription left with nothing expires), the customer is told. YooKassa returns the
    money through ``POST /v3/refunds`` (its idempotence key derived from the payment, so a
    repeated refund never pays twice); if that fails, nothing changes. For the other
    providers the operator returns the money in the provider's cabinet. A refund the
    provider already made (its notification) passes ``provider_refund_ref``: no API call.
    Telegram Stars go back through ``refundStarPayment`` before anything is recorded (a
    refusal by Telegram changes nothing).
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A refund needs a reason.", {"payment_id": payment.pk})
    locked = Payment.objects.select_for_update().filter(pk=payment.pk).first()
    if locked is None:
        raise ApplicationError("Payment not found.", {"payment_id": payment.pk})
    if locked.status != PaymentStatus.PAID:
        raise ApplicationError(
            f"Only a paid payment can be refunded (payment #{locked.pk} is {locked.status}).",
            {"payment_id": locked.pk, "status": locked.status},
        )
    # Under the row lock: a second refund of this payment waits and then sees REFUNDED.
    stars_refund = ""
    if locked.provider == STARS:
        stars_refund = stars_charge_refund(payment=locked)
    refund_ref = provider_refund_ref or _provider_refund(payment=locked)
    _refund_balance(payment=locked)
    referral_reward_revoke(payment=locked, now=now)
    subscription = locked.subscription
    if locked.purpose == PaymentPurpose.GIFT:
        # Unredeemed: the gift is cancelled; redeemed: its days leave the recipient's
        # subscription. The buyer's message names no subscription of the recipient's.
        gift_refund_in_lock(
            payment=locked, actor=actor, actor_label=actor_label, reason=reason, now=now
        )
    if subscription is not None and locked.days_credited > 0:
        subscription = subscription_shorten(
            subscription=subscription,
            days=locked.days_credited,
            actor=actor,
            actor_label=actor_label,
            reason=f"refund of payment #{locked.pk}: {reason}",
            now=now,
        )
    locked.status = PaymentStatus.REFUNDED
    locked.refunded_at = now
    locked.full_clean()
    locked.save(update_fields=["status", "refunded_at", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.PAYMENT_REFUNDED,
        obj=locked,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=locked.customer_id,
        message=f"{locked.amount} {locked.currency} refunded: {reason}",
        extra_data={
            "amount": str(locked.amount),
            "currency": locked.currency,
            "provider": locked.provider,
            "days": locked.days_credited,
            "subscription_id": subscription.pk if subscription else None,
            "expires_at": subscription.expires_at.isoformat() if subscription else None,
            "subscription_status": subscription.status if subscription else None,
            "reason": reason,
            # Telegram Stars: "refunded" or "already_refunded" by refundStarPayment.
            "stars_refund": stars_refund or None,
            "provider_refund_ref": refund_ref,
        },
    )
    _notify_refunded(payment=locked, subscription=subscription, now=now)
    payment.refresh_from_db()
    return locked


def _provider_refund(*, payment: Payment) -> str:
    """Return the money through the provider's API, if it has one; the refund's id or "".

    Raises ``ApplicationError`` (for the operator) when the provider refuses or fails.
    """
    try:
        provider = provider_get(payment.provider)
    except ProviderNotConfiguredError:
        return ""  # a manual payment, or a provider no longer configured: recorded only
    if not provider.refunds_by_api:
        return ""
    if not payment.provider_ref:
        raise ApplicationError(
            f"Payment #{payment.pk} has no {provider.code} payment id to refund.",
            {"payment_id": payment.pk},
        )
    try:
        refund = provider.refund_create(
            provider_ref=payment.provider_ref,
            amount=payment.amount,
            currency=payment.currency,
            idempotence_key=payment_idempotence_key(payment=payment, purpose="refund"),
        )
    except ProviderApiError as exc:
        detail = exc.extra.get("description") or exc.extra.get("details") or ""
        raise ApplicationError(
            f"{provider.code} did not refund payment #{payment.pk}: {exc.reason} {detail}".strip(),
            {"payment_id": payment.pk, "reason": exc.reason},
        ) from exc
    return refund.refund_ref


def _refund_balance(*, payment: Payment) -> None:
    """A refunded top-up takes its money off the balance (refused when it was spent); a
    refunded purchase from the balance puts its money back there. Once per payment."""
    if payment.purpose == PaymentPurpose.TOP_UP:
        amount = -payment.amount
    elif payment.provider == BALANCE_PROVIDER:
        amount = payment.amount
    else:
        return
    if amount:
        balance_entry_add(
            customer_id=payment.customer_id,
            amount=amount,
            kind=BalanceEntryKind.REFUND,
            source_key=f"refund:{payment.pk}",
            payment=payment,
        )
