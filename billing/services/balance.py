"""The customer's balance: top-ups through a provider, tariffs paid from it, operators'
adjustments. Every change is one ledger entry (``billing.services.ledger``).

- A top-up is a ``Payment`` with purpose ``top_up`` and no tariff, paid through any provider;
  its notification credits it on the providers' one credit path (``payment_mark_paid``), and
  the ledger's source key ``payment:<id>`` makes that once.
- A tariff paid from the balance is a ``Payment`` with provider ``balance``: the bot makes it
  pending like any checkout (``checkout_payment_get``), the customer confirms, and
  ``payment_pay_from_balance`` debits it once (source key ``purchase:<id>``) and credits it
  as a provider's notification would (``_payment_credit``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.exceptions import ProviderNotConfiguredError
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentPurpose, PaymentStatus
from billing.providers import provider_get
from billing.providers.stars import STARS
from billing.services.checkout_settle import checkout_settle
from billing.services.ledger import (
    BALANCE_CURRENCY,
    BALANCE_PROVIDER,
    balance_entry_add,
    money_check,
)
from billing.services.messages import _notify_paid, _payment_description
from billing.services.payments import (
    PaymentCredit,
    _payment_credit,
    payment_create_check,
    payment_number_next,
)
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write


def balance_top_up_create(
    *, customer: Customer, amount: Decimal, provider: str, now: datetime | None = None
) -> Payment:
    """A pending top-up of `amount` roubles through `provider` (its link: the usual
    ``payment_checkout_url``). ``ApplicationError`` in the customer's language when refused."""
    now = now or timezone.now()
    with translation.override(customer.language):
        try:
            amount = money_check(amount)
        except ApplicationError:
            amount = None
        low, high = settings.BALANCE_TOP_UP_MIN, settings.BALANCE_TOP_UP_MAX
        if amount is None or not low <= amount <= high:
            raise ApplicationError(
                _("A top-up must be between %(low)s and %(high)s ₽.") % {"low": low, "high": high},
                {"amount": str(amount)},
            )
        if customer.is_banned:
            raise ApplicationError(_("Your account is blocked."), {"customer_id": customer.pk})
        try:
            # Telegram Stars pay for a tariff's Stars price, never roubles onto the balance.
            if provider == STARS:
                raise ProviderNotConfiguredError("Stars cannot top up a balance.")
            provider_get(provider)
        except ProviderNotConfiguredError as exc:
            raise ApplicationError(
                _("This payment method is not available."), {"provider": provider}
            ) from exc
        description = _payment_description(tariff=None, language=customer.language)
    with transaction.atomic():
        payment = Payment(
            customer=customer,
            number=payment_number_next(customer_id=customer.pk),
            purpose=PaymentPurpose.TOP_UP,
            tariff=None,
            provider=provider,
            amount=amount,
            currency=BALANCE_CURRENCY,
            description=description,
            expires_at=now + timedelta(minutes=settings.PAYMENT_PENDING_TTL_MINUTES),
        )
        payment.full_clean()
        payment.save()
        audit_log_write(
            event_type=AuditEvent.PAYMENT_CREATED,
            obj=payment,
            actor_label="bot",
            customer_id=customer.pk,
            message=f"{amount} {BALANCE_CURRENCY} via {provider}: balance top-up",
            extra_data={"provider": provider, "amount": str(amount), "purpose": "top_up"},
        )
    return payment


@transaction.atomic
def payment_pay_from_balance(
    *, customer: Customer, payment_id: int, now: datetime | None = None
) -> PaymentCredit:
    """Pay the customer's pending ``balance`` payment from the balance, at most once.

    Already paid: returned with ``credited=False``, nothing charged again. Expired or
    cancelled, a tariff no longer on sale, or a balance short of the price:
    ``ApplicationError`` in the customer's language, and nothing changes.
    """
    now = now or timezone.now()
    # Locks in the ledger's order: the customer, then the payment, then (extending) the
    # subscription -- as auto-renew takes them.
    list(Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk"))
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .filter(pk=payment_id, customer=customer, provider=BALANCE_PROVIDER)
        .first()
    )
    with translation.override(customer.language):
        if payment is None:
            raise ApplicationError(
                _("This option is no longer available. Please choose again."),
                {"payment_id": payment_id},
            )
        if payment.status == PaymentStatus.PAID:
            return PaymentCredit(payment=payment, credited=False)
        if payment.status != PaymentStatus.PENDING or (
            payment.expires_at is not None and payment.expires_at <= now
        ):
            raise ApplicationError(
                _("This payment can no longer be paid. Please start a new one."),
                {"payment_id": payment.pk, "status": payment.status},
            )
    payment_create_check(
        customer=payment.customer,
        tariff=payment.tariff,
        provider=BALANCE_PROVIDER,
        subscription=payment.subscription,
    )
    balance_entry_add(
        customer_id=customer.pk,
        amount=-payment.amount,
        kind=BalanceEntryKind.PURCHASE,
        source_key=f"purchase:{payment.pk}",
        payment=payment,
    )
    checkout_subscription_id = payment.subscription_id
    subscription, mode = _payment_credit(
        payment=payment, now=now, actor=None, actor_label=BALANCE_PROVIDER, provider_ref=""
    )
    payment_paid_audit(payment=payment, subscription=subscription, mode=mode, actor_label="bot")
    _notify_paid(payment=payment, subscription=subscription, late=False)
    checkout_settle(payment=payment, subscription_id=checkout_subscription_id)
    return PaymentCredit(payment=payment, credited=True)


def payment_paid_audit(*, payment: Payment, subscription, mode: str, actor_label: str) -> None:
    """The audit row of a payment paid from the balance (a purchase or an auto-renewal)."""
    audit_log_write(
        event_type=AuditEvent.PAYMENT_PAID,
        obj=payment,
        actor_label=actor_label,
        customer_id=payment.customer_id,
        message=(
            f"{payment.amount} {payment.currency} from the balance; "
            f"+{payment.days_credited} days on subscription #{subscription.pk}."
        ),
        extra_data={
            "provider": BALANCE_PROVIDER,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "days": payment.days_credited,
            "subscription_id": subscription.pk,
            "mode": mode,
            "expires_at": subscription.expires_at.isoformat(),
        },
    )


def balance_adjust_key() -> str:
    """A fresh idempotency key for one adjustment form (a resubmission reuses it)."""
    return uuid.uuid4().hex


@transaction.atomic
def balance_adjust(
    *, customer: Customer, amount: Decimal, reason: str, operator, key: str
) -> BalanceEntry:
    """An operator adds (or, negative, takes) `amount` roubles, with a reason; audited with
    the operator. `key` (``balance_adjust_key``, one per submitted form) makes a repeated
    submission add nothing. Taking more than the balance is refused."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A balance adjustment needs a reason.")
    if not key:
        raise ApplicationError("A balance adjustment needs its form's key.")
    change = balance_entry_add(
        customer_id=customer.pk,
        amount=money_check(amount),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key=f"adjust:{key}:{customer.pk}",
        operator=operator,
        reason=reason,
    )
    entry = change.entry
    if change.created:
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            obj=entry,
            acting_user=operator,
            customer_id=customer.pk,
            message=f"balance {entry.amount:+} RUB (now {entry.balance_after}): {reason}",
            extra_data={
                "action": "balance_adjust",
                "amount": str(entry.amount),
                "balance_after": str(entry.balance_after),
                "reason": reason,
                "entry_id": entry.pk,
            },
        )
    return entry
