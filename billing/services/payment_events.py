"""What a confirmed notification other than "paid" does: a payment the provider cancelled, a
refund made at the provider (YooKassa's ``payment.canceled`` and ``refund.succeeded``,
docs/payments.md "YooKassa: notifications").

Like ``payment_mark_paid`` each runs under the payment's row lock, writes the event's outcome
in the same transaction, and changes nothing when it refuses (``WebhookError``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.exceptions import WebhookError
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.providers import ProviderNotification
from billing.services.payments import _payment_check, amounts_equal
from billing.services.refunds import payment_refund
from billing.services.webhook_events import _event_outcome
from core.models import AuditEvent
from core.services import audit_log_write


@transaction.atomic
def payment_mark_canceled(
    *,
    payment_id: int,
    provider: str,
    notification: ProviderNotification,
    event: WebhookEvent | None = None,
) -> Payment:
    """The provider cancelled the payment (never paid): a PENDING one becomes CANCELLED.

    Any other status is left as it is (a duplicate, or a payment already cancelled by our
    expiry sweep); a paid one can never be un-paid by a notification.
    """
    payment = Payment.objects.select_for_update(of=("self",)).filter(pk=payment_id).first()
    if payment is None:
        raise WebhookError(
            "Notification names no payment of ours.",
            reason="payment_unknown",
            extra={"payment_id": payment_id},
        )
    _payment_check(payment=payment, provider=provider, notification=notification)
    if payment.status != PaymentStatus.PENDING:
        if event is not None:
            _event_outcome(
                event=event,
                payment=payment,
                status=WebhookEventStatus.DUPLICATE,
                outcome=f"already_{payment.status}",
            )
        return payment
    payment.status = PaymentStatus.CANCELLED
    payment.save(update_fields=["status", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.PAYMENT_CANCELLED,
        obj=payment,
        actor_label=provider,
        customer_id=payment.customer_id,
        message=f"cancelled by {provider}",
        extra_data={
            "provider": provider,
            "provider_ref": payment.provider_ref,
            "webhook_event_id": event.pk if event is not None else None,
        },
    )
    if event is not None:
        _event_outcome(
            event=event, payment=payment, status=WebhookEventStatus.PROCESSED, outcome="cancelled"
        )
    return payment


@transaction.atomic
def payment_refund_notified(
    *,
    provider: str,
    notification: ProviderNotification,
    event: WebhookEvent | None = None,
    now: datetime | None = None,
) -> Payment:
    """A refund the provider made (in its cabinet, or ours arriving back): the payment it
    names by the provider's id is refunded as the console's action would, once.

    Only a refund of the whole amount: a partial one is refused (and the admins told), since
    our refund takes back all the days. A payment already REFUNDED is a duplicate.
    """
    now = now or timezone.now()
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .filter(provider=provider, provider_ref=notification.provider_ref)
        .exclude(provider_ref="")
        .first()
    )
    if payment is None:
        raise WebhookError(
            "Refund names no payment of ours.",
            reason="payment_unknown",
            extra={"provider_ref": notification.provider_ref},
        )
    if payment.status == PaymentStatus.REFUNDED:
        if event is not None:
            _event_outcome(
                event=event,
                payment=payment,
                status=WebhookEventStatus.DUPLICATE,
                outcome="already_refunded",
            )
        return payment
    currency = (notification.currency or payment.currency).upper()
    if payment.status != PaymentStatus.PAID:
        raise WebhookError(
            "Refund of a payment that is not paid.",
            reason="refund_not_paid",
            extra={"payment_id": payment.pk, "status": payment.status},
        )
    if currency != payment.currency.upper() or not amounts_equal(
        received=notification.amount, expected=payment.amount
    ):
        raise WebhookError(
            "Refund is not of the whole payment.",
            reason="refund_partial",
            extra={
                "payment_id": payment.pk,
                "expected": f"{payment.amount} {payment.currency}",
                "received": f"{notification.amount} {currency}",
            },
        )
    refund_ref = notification.raw.get("id", "") or notification.event_key
    refunded = payment_refund(
        payment=payment,
        actor=None,
        actor_label=provider,
        reason=f"refund {refund_ref} made at {provider}",
        provider_refund_ref=refund_ref,
        now=now,
    )
    if event is not None:
        _event_outcome(
            event=event, payment=refunded, status=WebhookEventStatus.PROCESSED, outcome="refunded"
        )
    return refunded
