"""Auto-renew: a subscription whose customer switched it on is renewed from the balance
shortly before it ends.

The beat task (``subscriptions_autorenew_due``) looks at running subscriptions with
auto-renew on that end within ``AUTO_RENEW_DAYS_BEFORE + 1`` days. For each, under the
customer's and the subscription's row locks (so switching it off takes effect at once):

- more than ``AUTO_RENEW_DAYS_BEFORE`` days left: a reminder ("will be renewed on … for …"),
  once per expiry (outbox dedupe key);
- within ``AUTO_RENEW_DAYS_BEFORE`` days: the renewal. The ledger entry's source key is
  ``autorenew:<subscription>:<expires_at>``, so however often the task runs or retries, one
  expiry is charged once; the renewal extends by the tariff's days (``subscription_extend``
  adds to a running subscription, never shortens it) and the customer gets a receipt.
  A balance short of the price: one message per expiry, and nothing is charged; a tariff
  no longer on sale: one message per expiry, nothing charged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentStatus
from billing.services.balance import payment_paid_audit
from billing.services.checkout_settle import checkout_settle
from billing.services.ledger import BALANCE_CURRENCY, BALANCE_PROVIDER, balance_entry_add
from billing.services.messages import _language, _payment_description
from billing.services.payments import _payment_credit, payment_number_next
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from notifications.callbacks import BALANCE, SUB_VIEW, subscription_data
from notifications.formatting import date_format, money_format
from notifications.services import customer_message, outbox_queue
from notifications.texts import button_balance, button_my_subscriptions, subscription_title_of
from subscriptions.models import Subscription

# Outbox kinds written here (notifications.models.OutboxMessage.kind).
KIND_AUTORENEW_REMINDER = "autorenew-reminder"
KIND_AUTORENEW_DONE = "autorenew-done"
KIND_AUTORENEW_SHORT = "autorenew-short"
KIND_AUTORENEW_UNAVAILABLE = "autorenew-unavailable"


def autorenew_source_key(subscription: Subscription) -> str:
    """The ledger key of the renewal of `subscription`'s current period (its expiry)."""
    return f"autorenew:{subscription.pk}:{subscription.expires_at.isoformat()}"


@transaction.atomic
def subscription_autorenew_set(*, customer: Customer, subscription_id: int, on: bool) -> bool:
    """The customer switches auto-renew of their paid subscription on or off (at once: the
    renewal reads it under the same row lock). Returns the new setting.

    The locks in the ledger's order, as the renewal takes them: the customer, then the
    subscription. (The subscription first would deadlock with a renewal running now: its
    audit row needs a share lock on the customer the renewal holds.)"""
    list(Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk"))
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .filter(pk=subscription_id, customer=customer, is_trial=False)
        .first()
    )
    if subscription is None:
        with translation.override(customer.language):
            raise ApplicationError(
                _("This option is no longer available. Please choose again."),
                {"subscription_id": subscription_id},
            )
    if subscription.auto_renew != on:
        subscription.auto_renew = on
        subscription.save(update_fields=["auto_renew", "updated_at"])
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            obj=subscription,
            actor_label="customer",
            customer_id=customer.pk,
            message=f"auto-renew {'on' if on else 'off'}",
            extra_data={"action": "auto_renew", "on": on},
        )
    return on


def subscriptions_autorenew_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat: remind, renew or warn each due subscription (see the module); returns how many
    were renewed."""
    now = now or timezone.now()
    window = timedelta(days=settings.AUTO_RENEW_DAYS_BEFORE + 1)
    due = list(
        Subscription.objects.running(now)
        .filter(auto_renew=True, is_trial=False, expires_at__lte=now + window)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(subscription_autorenew(subscription_id=pk, now=now) == "renewed" for pk in due)


@transaction.atomic
def subscription_autorenew(*, subscription_id: int, now: datetime | None = None) -> str:
    """One subscription's turn: "renewed", "reminded", "short", "unavailable", "renewed
    already", "not due" or "off" (switched off, ended, a trial, a banned customer)."""
    now = now or timezone.now()
    owner = Subscription.objects.filter(pk=subscription_id).values_list("customer_id", flat=True)
    customer_id = owner.first()
    if customer_id is None:
        return "off"
    # The ledger's lock order: the customer, then the subscription.
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("tariff")
        .filter(Subscription.objects.running_q(now), pk=subscription_id)
        .first()
    )
    if (
        subscription is None
        or not subscription.auto_renew
        or subscription.is_trial
        or customer.is_banned
    ):
        return "off"
    subscription.customer = customer
    left = subscription.expires_at - now
    days_before = timedelta(days=settings.AUTO_RENEW_DAYS_BEFORE)
    if left > days_before + timedelta(days=1):
        return "not due"
    tariff = subscription.tariff
    price = tariff.price
    if left > days_before:
        _notify(subscription, KIND_AUTORENEW_REMINDER, price=price, now=now)
        return "reminded"
    key = autorenew_source_key(subscription)
    if BalanceEntry.objects.filter(source_key=key).exists():
        return "renewed already"
    if not tariff.is_active or tariff.is_trial or price <= 0 or tariff.currency != "RUB":
        _notify(subscription, KIND_AUTORENEW_UNAVAILABLE, price=price, now=now)
        return "unavailable"
    if customer.balance < price:
        _notify(subscription, KIND_AUTORENEW_SHORT, price=price, now=now)
        return "short"
    with translation.override(_language(customer.language)):
        description = _payment_description(tariff=tariff, language=customer.language)
    # Created paid: it is never a checkout anyone could pay again.
    payment = Payment.objects.create(
        customer=customer,
        number=payment_number_next(customer_id=customer.pk),
        tariff=tariff,
        subscription=subscription,
        provider=BALANCE_PROVIDER,
        amount=price,
        currency=BALANCE_CURRENCY,
        status=PaymentStatus.PAID,
        paid_at=now,
        description=description,
    )
    balance_entry_add(
        customer_id=customer.pk,
        amount=-price,
        kind=BalanceEntryKind.AUTO_RENEW,
        source_key=key,
        payment=payment,
    )
    renewed, mode = _payment_credit(
        payment=payment, now=now, actor=None, actor_label="auto-renew", provider_ref=""
    )
    payment_paid_audit(payment=payment, subscription=renewed, mode=mode, actor_label="auto-renew")
    customer.refresh_from_db(fields=["balance"])
    renewed.customer = customer
    _notify(renewed, KIND_AUTORENEW_DONE, price=price, now=now, payment=payment)
    # Open checkouts of this renewal are no longer needed.
    checkout_settle(payment=payment, subscription_id=subscription.pk)
    return "renewed"


def _notify(
    subscription: Subscription,
    kind: str,
    *,
    price: Decimal,
    now: datetime,
    payment: Payment | None = None,
) -> None:
    """One message of `kind` per expiry (the dedupe key names it), in the customer's
    language, with buttons to the balance and the subscription."""
    customer = subscription.customer
    language = _language(customer.language)
    with translation.override(language):
        values = {
            "title": subscription_title_of(subscription, language=language),
            "price": money_format(price, BALANCE_CURRENCY),
            "balance": money_format(customer.balance, BALANCE_CURRENCY),
            "date": date_format(subscription.expires_at),
        }
        if kind == KIND_AUTORENEW_REMINDER:
            text = _(
                "🔄 Auto-renew: %(title)s will be renewed from your balance for %(price)s "
                "shortly before it ends on %(date)s.\nBalance: %(balance)s."
            )
            if customer.balance < price:
                text += "\n" + _("Top up your balance so the renewal goes through.")
        elif kind == KIND_AUTORENEW_DONE:
            text = _(
                "✅ %(title)s was renewed automatically: %(price)s paid from your balance, "
                "valid until %(date)s.\nBalance: %(balance)s."
            )
        elif kind == KIND_AUTORENEW_SHORT:
            text = _(
                "⚠️ Auto-renew of %(title)s failed: your balance is %(balance)s, the renewal "
                "costs %(price)s.\nTop up your balance before %(date)s, or the subscription ends."
            )
        else:
            text = _(
                "⚠️ Auto-renew of %(title)s is not possible: its tariff is no longer sold.\n"
                "Choose another tariff before %(date)s, or the subscription ends."
            )
        text = text % values  # the title is escaped HTML already
        markup = {
            "inline_keyboard": [
                [
                    {"text": button_balance(language=language), "callback_data": BALANCE},
                    {
                        "text": button_my_subscriptions(language=language),
                        "callback_data": subscription_data(SUB_VIEW, subscription.pk),
                    },
                ]
            ]
        }
        period = payment.pk if payment is not None else subscription.expires_at.isoformat()
        message = customer_message(
            customer=customer,
            text=text,
            reply_markup=markup,
            kind=kind,
            dedupe_key=f"{kind}:{subscription.pk}:{period}",
        )
    outbox_queue([message])
