"""Promo codes: the price with a code, the rules a use must pass, and the use itself.

A use is a ``PromoRedemption`` row. A discount or extra-days code is *reserved* when the
checkout makes its payment (it counts against ``max_uses`` from then on), becomes *used* when
that payment is credited, and is *released* when the payment is cancelled or expires unpaid
(``promo_release``). A refund keeps it used. Free codes (free days, a free tariff, or a
discount that brings the price to 0) grant right away, without a payment (``promo_grant``).

Every use locks the promo's row first (``select_for_update``), so ``max_uses`` holds under
concurrency; the once-per-customer rule is also a unique constraint on the redemptions.
See docs/payments.md, "Promo codes".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import (
    Payment,
    PaymentStatus,
    PromoCode,
    PromoKind,
    PromoRedemption,
    PromoRedemptionStatus,
)
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from subscriptions.models import Subscription, Tariff
from subscriptions.services.lifecycle import subscription_create, subscription_extend

CENT = Decimal("0.01")
CODE_RE = re.compile(r"^[A-Z0-9_-]{1,32}$")
# Kinds that discount a purchase; the others grant without a payment.
PURCHASE_KINDS = (PromoKind.DAYS, PromoKind.PERCENT, PromoKind.AMOUNT)
COUNTED = (PromoRedemptionStatus.RESERVED, PromoRedemptionStatus.USED)


class PromoError(ApplicationError):
    """A code refused; ``reason`` is one of: unknown, expired, used_up, used_by_you,
    not_for_tariff, new_customers_only, no_subscription, not_at_checkout."""

    def __init__(self, message: str, reason: str, extra: dict | None = None):
        super().__init__(message, {"reason": reason, **(extra or {})})
        self.reason = reason


def _messages() -> dict[str, str]:
    return {
        "unknown": _("There is no such promo code."),
        "expired": _("This promo code has expired or is not active yet."),
        "used_up": _("This promo code has been used up."),
        "used_by_you": _("You have already used this promo code."),
        "not_for_tariff": _("This promo code is not valid for this tariff."),
        "new_customers_only": _("This promo code is only for new customers."),
        "no_subscription": _("This promo code adds days to a subscription: buy one first."),
    }


def _refuse(reason: str, *, customer: Customer, promo: PromoCode | None = None) -> PromoError:
    with translation.override(customer.language):
        message = _messages()[reason]
    return PromoError(message, reason, {"promo_id": promo.pk if promo else None})


def promo_code_normalize(code: str) -> str:
    """What a customer typed, as stored: trimmed, upper case."""
    return (code or "").strip().upper()


def checkout_price(*, tariff: Tariff, promo: PromoCode | None) -> Decimal:
    """What `tariff` costs with `promo`: never below 0 (a pure function, no database)."""
    return promo_price(price=tariff.price, promo=promo)


def promo_price(*, price: Decimal, promo: PromoCode | None, quantum: Decimal = CENT) -> Decimal:
    """`price` with `promo`'s discount, the discount rounded half up to `quantum` (a kopeck;
    1 for a currency of whole units); never below 0."""
    if promo is None:
        return price
    if promo.kind == PromoKind.PERCENT:
        off = (price * Decimal(promo.percent) / 100).quantize(quantum, rounding=ROUND_HALF_UP)
        return max(price - off, Decimal(0).quantize(quantum))
    if promo.kind == PromoKind.AMOUNT:
        return max(price - promo.amount, Decimal(0).quantize(quantum))
    return price


def promo_find(*, code: str, customer: Customer) -> PromoCode:
    """The promo code `code` names; ``PromoError("unknown")`` otherwise."""
    code = promo_code_normalize(code)
    promo = PromoCode.objects.filter(code=code).first() if CODE_RE.match(code) else None
    if promo is None:
        raise _refuse("unknown", customer=customer)
    return promo


def promo_check(
    *,
    promo: PromoCode,
    customer: Customer,
    tariff: Tariff | None = None,
    now: datetime,
    preview: bool = False,
) -> None:
    """Raise ``PromoError`` (in the customer's language) unless `customer` may use `promo`
    now (on `tariff`, when given). Under ``promo_lock`` the counts are exact.

    ``preview`` (the bot showing what a code would do): a once-per-customer code's use the
    customer holds on a pending payment does not count, as the next checkout replaces it."""
    if (
        not promo.is_active
        or (promo.valid_from is not None and now < promo.valid_from)
        or (promo.valid_until is not None and now >= promo.valid_until)
    ):
        raise _refuse("expired", customer=customer, promo=promo)
    uses = promo.redemptions.filter(status__in=COUNTED)
    if preview and promo.once_per_customer:
        uses = uses.exclude(customer=customer, status=PromoRedemptionStatus.RESERVED)
    if promo.once_per_customer and uses.filter(customer=customer).exists():
        raise _refuse("used_by_you", customer=customer, promo=promo)
    if promo.max_uses is not None and uses.count() >= promo.max_uses:
        raise _refuse("used_up", customer=customer, promo=promo)
    if promo.new_customers_only and customer_has_paid(customer=customer):
        raise _refuse("new_customers_only", customer=customer, promo=promo)
    if (
        tariff is not None
        and promo.kind != PromoKind.FREE_TARIFF
        and promo.tariffs.exists()
        and not promo.tariffs.filter(pk=tariff.pk).exists()
    ):
        raise _refuse("not_for_tariff", customer=customer, promo=promo)


def customer_has_paid(*, customer: Customer) -> bool:
    """Whether `customer` ever had a payment credited (a refunded one counts)."""
    return Payment.objects.filter(
        customer=customer, status__in=(PaymentStatus.PAID, PaymentStatus.REFUNDED)
    ).exists()


def promo_lock(promo: PromoCode) -> PromoCode:
    """The promo's current row, locked: every use of one code queues up here."""
    return PromoCode.objects.select_for_update().get(pk=promo.pk)


def promo_reserve(*, payment: Payment, promo: PromoCode, now: datetime) -> PromoRedemption:
    """Reserve a use of `promo` for the new pending `payment` (priced with it), after the
    checks under the promo's lock. Raises ``PromoError``; the caller's transaction then
    rolls the payment back."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("promo_reserve must run inside a transaction")
    promo = promo_lock(promo)
    if promo.kind not in PURCHASE_KINDS:
        raise PromoError("This code is redeemed without a payment.", "not_at_checkout")
    promo_check(promo=promo, customer=payment.customer, tariff=payment.tariff, now=now)
    return PromoRedemption.objects.create(
        promo=promo,
        customer=payment.customer,
        payment=payment,
        status=PromoRedemptionStatus.RESERVED,
        once=promo.once_per_customer,
        discount=(payment.price_before_promo or payment.amount) - payment.amount,
        days=promo.days if promo.kind == PromoKind.DAYS else 0,
    )


def promo_release(*, payment: Payment) -> None:
    """`payment` will not be paid (cancelled, expired, replaced): its reserved use goes back."""
    PromoRedemption.objects.filter(
        payment_id=payment.pk, status=PromoRedemptionStatus.RESERVED
    ).update(status=PromoRedemptionStatus.RELEASED, updated_at=timezone.now())


def promo_credit(*, payment: Payment) -> int:
    """`payment` is being credited: its use becomes USED; returns the extra days it adds.

    The payment was priced at checkout and the customer paid that: a code that expired,
    was switched off or got used up since still gives what it promised. A late credit of a
    payment whose use was released takes the use again; under once per customer it takes it
    from the customer's pending payment holding it now (that payment is then priced with a
    code it no longer holds: paid too, it stays credited as priced), and when the customer
    already used the code on another paid payment it stays released, the days still given.
    """
    redemption = PromoRedemption.objects.filter(payment_id=payment.pk).first()
    if redemption is None:
        return 0
    if redemption.status != PromoRedemptionStatus.USED:
        promo_lock(redemption.promo)
        others = PromoRedemption.objects.filter(
            promo_id=redemption.promo_id, customer_id=redemption.customer_id, once=True
        ).exclude(pk=redemption.pk)
        if redemption.once:
            others.filter(status=PromoRedemptionStatus.RESERVED).update(
                status=PromoRedemptionStatus.RELEASED, updated_at=timezone.now()
            )
        if not (redemption.once and others.filter(status=PromoRedemptionStatus.USED).exists()):
            redemption.status = PromoRedemptionStatus.USED
            redemption.save(update_fields=["status", "updated_at"])
    return redemption.days


@dataclass(frozen=True)
class PromoGrant:
    promo: PromoCode
    subscription: Subscription
    days: int
    created: bool


def _running_subscription(customer: Customer, now: datetime) -> Subscription | None:
    return (
        Subscription.objects.filter(customer=customer, is_trial=False)
        .running(now)
        .order_by("-expires_at")
        .first()
    )


@transaction.atomic
def promo_grant(
    *,
    customer: Customer,
    promo: PromoCode,
    tariff: Tariff | None = None,
    subscription: Subscription | None = None,
    country: str = "",
    now: datetime | None = None,
) -> PromoGrant:
    """A use without payment: free days onto the customer's running subscription, a free
    tariff as a new subscription, or `tariff` (renewing `subscription`) bought with a
    discount that brings its price to 0. Raises ``PromoError``; nothing changes then."""
    now = now or timezone.now()
    if customer.is_banned:
        with translation.override(customer.language):
            raise ApplicationError(_("Your account is blocked."), {"customer_id": customer.pk})
    promo = promo_lock(promo)
    reason = f"promo code {promo.code}"
    if promo.kind == PromoKind.FREE_DAYS:
        subscription = _running_subscription(customer, now)
        if subscription is None:
            raise _refuse("no_subscription", customer=customer, promo=promo)
        promo_check(promo=promo, customer=customer, tariff=subscription.tariff, now=now)
        days = promo.days
        subscription = subscription_extend(
            subscription=subscription, days=days, actor_label="promo", reason=reason, now=now
        )
        created = False
    else:
        if promo.kind == PromoKind.FREE_TARIFF:
            tariff, subscription = promo.free_tariff, None
        elif tariff is None or checkout_price(tariff=tariff, promo=promo) > 0:
            raise PromoError("This code is used at checkout.", "not_at_checkout")
        promo_check(promo=promo, customer=customer, tariff=tariff, now=now)
        days = tariff.duration_days
        created = subscription is None
        if created:
            subscription = subscription_create(
                customer=customer,
                tariff=tariff,
                actor_label="promo",
                reason=reason,
                now=now,
                country=country,
            )
        else:
            subscription = subscription_extend(
                subscription=subscription,
                days=days,
                actor_label="promo",
                reason=reason,
                now=now,
                tariff=tariff,
            )
    PromoRedemption.objects.create(
        promo=promo,
        customer=customer,
        subscription=subscription,
        status=PromoRedemptionStatus.USED,
        once=promo.once_per_customer,
        discount=tariff.price if tariff is not None and promo.kind != PromoKind.FREE_DAYS else 0,
        days=days,
    )
    return PromoGrant(promo=promo, subscription=subscription, days=days, created=created)


@transaction.atomic
def promo_code_create(*, actor: Any, tariffs: list[Tariff] | None = None, **fields) -> PromoCode:
    """A new promo code (the console), audited with the operator."""
    fields["code"] = promo_code_normalize(fields.get("code", ""))
    if not CODE_RE.match(fields["code"]):
        raise ApplicationError(
            "A code is 1 to 32 letters, digits, _ or -.", {"code": fields["code"]}
        )
    promo = PromoCode(**fields)
    promo.full_clean()
    promo.save()
    if tariffs:
        promo.tariffs.set(tariffs)
    promo_audit(promo=promo, actor=actor, action="created")
    return promo


def promo_audit(*, promo: PromoCode, actor: Any, action: str) -> None:
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=promo,
        acting_user=actor,
        message=f"promo code {promo.code} {action}",
        extra_data={
            "promo_id": promo.pk,
            "code": promo.code,
            "kind": promo.kind,
            "days": promo.days,
            "percent": promo.percent,
            "amount": str(promo.amount) if promo.amount is not None else None,
            "free_tariff_id": promo.free_tariff_id,
            "max_uses": promo.max_uses,
            "once_per_customer": promo.once_per_customer,
            "new_customers_only": promo.new_customers_only,
            "valid_from": promo.valid_from.isoformat() if promo.valid_from else None,
            "valid_until": promo.valid_until.isoformat() if promo.valid_until else None,
            "tariff_ids": sorted(promo.tariffs.values_list("pk", flat=True)),
        },
    )
