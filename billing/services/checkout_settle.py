"""How pending payments end without a credit of their own: a credited payment's checkout (the
bot message that showed it says "paid" and loses its pay button; the other pending payments of
the same purchase are cancelled), and the beat's sweep of those past their expiry.

Apart from ``billing.services.checkout`` because crediting (``payments``) calls it and that
module calls ``payments``.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from billing.services.messages import _language
from billing.services.promo import promo_release
from core.models import AuditEvent
from core.services import audit_log_write
from notifications.formatting import money_format
from notifications.models import OutboxMessage
from notifications.services import customer_message, outbox_queue
from notifications.texts import tariff_name

# Outbox kinds written here (notifications.models.OutboxMessage.kind).
KIND_CHECKOUT_PAID = "checkout-paid"
KIND_CHECKOUT_SUPERSEDED = "checkout-superseded"


def payment_supersede(*, payment: Payment, reason: str) -> None:
    """Cancel a pending payment another one replaces (locked by the caller). Paid anyway
    through its link, it is still credited, flagged late (``payment_mark_paid``)."""
    payment.status = PaymentStatus.CANCELLED
    payment.save(update_fields=["status", "updated_at"])
    promo_release(payment=payment)
    audit_log_write(
        event_type=AuditEvent.PAYMENT_CANCELLED,
        obj=payment,
        actor_label="system",
        customer_id=payment.customer_id,
        message={
            "checkout_outdated": "replaced by a new payment of the same checkout",
            "checkout_paid": "another payment of the same purchase was paid",
        }[reason],
        extra_data={"reason": reason, "provider": payment.provider},
    )


@transaction.atomic
def checkout_settle(*, payment: Payment, subscription_id: int | None) -> None:
    """After `payment` is credited (in its transaction): its checkout message says "paid"
    and loses its pay button; the other pending payments of the same purchase (another
    payment method, `subscription_id` = the subscription it renewed or None) are cancelled
    and their messages say it was paid. A gift and a purchase for oneself are different
    purchases (``Payment.purpose``). Each edit is queued once (dedupe keys).
    """
    customer = payment.customer
    siblings = []
    if payment.tariff_id is not None:  # a top-up has no other payment methods to cancel
        siblings = list(
            Payment.objects.select_for_update()
            .filter(
                customer_id=payment.customer_id,
                tariff_id=payment.tariff_id,
                subscription_id=subscription_id,
                status=PaymentStatus.PENDING,
                purpose=payment.purpose,
            )
            .exclude(pk=payment.pk)
            .order_by("pk")
        )
    for sibling in siblings:
        payment_supersede(payment=sibling, reason="checkout_paid")
    language = _language(customer.language)
    with translation.override(language):
        if payment.tariff is None:
            name = _("Balance top-up")
        else:
            name = escape(
                tariff_name(
                    name=payment.tariff.name, name_en=payment.tariff.name_en, language=language
                )
            )
        amount = money_format(payment.amount, payment.currency)
        edits = []
        if payment.checkout_message_id is not None:
            edits.append(
                _checkout_edit(
                    customer=customer,
                    payment=payment,
                    kind=KIND_CHECKOUT_PAID,
                    text=_("✅ Paid: %(tariff)s — %(amount)s (payment %(payment)s).")
                    % {"tariff": name, "amount": amount, "payment": payment.number},
                )
            )
        for sibling in siblings:
            if sibling.checkout_message_id is None:
                continue
            edits.append(
                _checkout_edit(
                    customer=customer,
                    payment=sibling,
                    kind=KIND_CHECKOUT_SUPERSEDED,
                    text=_(
                        "✅ This purchase is already paid: %(tariff)s — %(amount)s "
                        "(payment %(payment)s). This payment link is no longer needed."
                    )
                    % {"tariff": name, "amount": amount, "payment": payment.number},
                )
            )
    outbox_queue(edits)


def _checkout_edit(*, customer: Customer, payment: Payment, kind: str, text: str) -> OutboxMessage:
    message = customer_message(
        customer=customer,
        text=text,
        kind=kind,
        edit_message_id=payment.checkout_message_id,
        dedupe_key=f"{kind}:{payment.pk}",
    )
    message.chat_id = payment.checkout_chat_id or customer.telegram_id
    return message


def payments_expire_pending(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Cancel pending payments past ``expires_at`` (beat). Returns how many were cancelled.

    Each batch locks its rows with SKIP LOCKED, so a notification crediting one of them right
    now is never blocked nor overwritten: the status is re-checked under the lock. A payment
    cancelled here that is paid after all is still credited by its notification (flagged).
    """
    now = now or timezone.now()
    cancelled = 0
    while cancelled < limit:
        batch = _payments_expire_batch(now=now, size=min(200, limit - cancelled))
        if not batch:
            break
        cancelled += batch
    return cancelled


@transaction.atomic
def _payments_expire_batch(*, now: datetime, size: int) -> int:
    due = list(
        Payment.objects.select_for_update(skip_locked=True)
        .filter(status=PaymentStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at")[:size]
    )
    for payment in due:
        payment.status = PaymentStatus.CANCELLED
        payment.save(update_fields=["status", "updated_at"])
        promo_release(payment=payment)
        audit_log_write(
            event_type=AuditEvent.PAYMENT_CANCELLED,
            obj=payment,
            actor_label="system",
            customer_id=payment.customer_id,
            message="unpaid before its expiry",
            extra_data={"expires_at": payment.expires_at.isoformat(), "provider": payment.provider},
        )
    return len(due)
