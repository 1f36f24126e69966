"""Billing writes: payments, provider notifications, refunds, manual payments, expiry.

Notifications are stored first, then processed (dj-stripe's protocol): the raw request is
saved as a ``WebhookEvent`` before anything looks at it (its own autocommit INSERT, so even
garbage, or a delivery whose parser crashes, leaves a row); then it is verified and parsed,
the payment is credited in a transaction that holds ``SELECT ... FOR UPDATE`` on the payment
row, and the outcome (processed, duplicate, rejected, failed, with the error) is written on
the event row. A payment is credited at most once because every credit re-reads its status
under that lock; the partial unique constraint "one PROCESSED event per (provider,
event_key)" is the second line of defence. Crediting only ever calls the subscription
services: keys, panels and the "your keys are ready" message belong to the nodes layer,
which hooks into those services.
"""

from __future__ import annotations

import json
import logging
import traceback as traceback_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.exceptions import (
    CheckoutError,
    PaymentError,
    ProviderNotConfiguredError,
    WebhookError,
    WebhookParseError,
)
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.providers import (
    CheckoutRequest,
    PaymentProvider,
    ProviderNotification,
    params_from_request_data,
    provider_get,
)
from billing.providers.base import TEXT_PLAIN
from billing.selectors import payment_provider_ref_taken
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from notifications.formatting import date_format, days, money_format
from notifications.services import (
    admin_messages,
    customer_message,
    notify_admins,
    notify_customer,
    outbox_queue,
)
from notifications.texts import button_support, support_contact, support_url, tariff_name
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_extend,
    subscription_shorten,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# Provider code of payments an operator records by hand (cash, bank transfer).
MANUAL_PROVIDER = "manual"
# States a notification may still credit: the money was taken, whatever we thought before.
CREDITABLE_STATUSES = (PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.CANCELLED)
# States that mean "this payment already credited its days": a notification is a duplicate.
CREDITED_STATUSES = (PaymentStatus.PAID, PaymentStatus.REFUNDED)

# What is kept of a request's headers: never credentials, never unbounded.
SENSITIVE_HEADERS = frozenset(
    {"cookie", "authorization", "proxy-authorization", "x-api-key", "x-csrftoken"}
)
# A provider sends a dozen short headers; together with the body cap
# (WEBHOOK_BODY_MAX_BYTES, shared by body and query string) these bound one stored delivery
# to the body cap plus about 4 KB of headers, whatever a sender puts in it.
HEADERS_MAX_COUNT = 32
HEADER_NAME_MAX_LENGTH = 64
HEADER_VALUE_MAX_LENGTH = 256
HEADERS_MAX_CHARS = 4096
HEADERS_DROPPED = "X-Vpnsite-Headers-Dropped"
WEBHOOK_ERROR_MAX_LENGTH = 4000
TRACEBACK_MAX_LENGTH = 20000

# Outbox kinds written here (notifications.models.OutboxMessage.kind).
KIND_PAYMENT_PAID = "payment-paid"
KIND_PAYMENT_NEW_ADMIN = "payment-new"
KIND_PAYMENT_REFUNDED = "payment-refunded"
KIND_PAYMENT_MISMATCH_ADMIN = "payment-mismatch"
# Verified notifications that name a real payment but cannot credit it: money may have been
# taken, so an operator is told (once per distinct notification).
_ALERT_REASONS = frozenset({"amount_mismatch", "currency_mismatch", "provider_mismatch"})


# --- payments -----------------------------------------------------------------------------


@transaction.atomic
def payment_create(
    *,
    customer: Customer,
    tariff: Tariff,
    provider: str,
    subscription: Subscription | None = None,
    now: datetime | None = None,
) -> Payment:
    """A pending payment for ``tariff`` through ``provider``; ``subscription`` = a renewal.

    The amount and currency are the tariff's at this moment (a later price change does not
    touch a link already handed out). Errors are ``ApplicationError`` with a message in the
    customer's language, for the bot to show as is.
    """
    now = now or timezone.now()
    with translation.override(customer.language):
        if customer.is_banned:
            raise ApplicationError(_("Your account is blocked."), {"customer_id": customer.pk})
        if not tariff.is_active or tariff.is_trial or tariff.price <= 0:
            raise ApplicationError(
                _("This tariff is not available for purchase."), {"tariff_id": tariff.pk}
            )
        try:
            provider_get(provider)
        except ProviderNotConfiguredError as exc:
            raise ApplicationError(
                _("This payment method is not available."), {"provider": provider}
            ) from exc
        if subscription is not None and subscription.customer_id != customer.pk:
            raise ApplicationError(
                _("This subscription belongs to another account."),
                {"subscription_id": subscription.pk},
            )
        description = _payment_description(tariff=tariff, language=customer.language)
    payment = Payment(
        customer=customer,
        tariff=tariff,
        subscription=subscription,
        provider=provider,
        amount=tariff.price,
        currency=tariff.currency,
        status=PaymentStatus.PENDING,
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
        message=f"{payment.amount} {payment.currency} via {provider}: {tariff.name}",
        extra_data={
            "provider": provider,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "tariff_id": tariff.pk,
            "subscription_id": subscription.pk if subscription else None,
            "expires_at": payment.expires_at.isoformat(),
        },
    )
    return payment


def payment_checkout_url(*, payment: Payment, now: datetime | None = None) -> str:
    """The signed link the buyer opens; only for a payment that can still be paid."""
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
        try:
            provider = provider_get(payment.provider)
            session = provider.checkout_create(
                request=CheckoutRequest(
                    payment_id=payment.pk,
                    amount=payment.amount,
                    currency=payment.currency,
                    description=payment.description
                    or _payment_description(tariff=payment.tariff, language=customer.language),
                    language=_language(customer.language),
                )
            )
        except (ProviderNotConfiguredError, CheckoutError) as exc:
            logger.warning("checkout for payment %s refused: %s", payment.pk, exc)
            raise ApplicationError(
                _("This payment method is not available."),
                {"payment_id": payment.pk, "reason": exc.reason},
            ) from exc
    return session.url


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
) -> PaymentCredit:
    """Credit the payment a verified notification names, at most once.

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
    subscription, mode = _payment_credit(
        payment=payment,
        now=now,
        actor=None,
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
    audit_log_write(
        event_type=AuditEvent.PAYMENT_PAID,
        obj=payment,
        actor_label=provider,
        customer_id=payment.customer_id,
        message=(
            f"{payment.amount} {payment.currency} via {provider}; "
            f"+{payment.days_credited} days on subscription #{subscription.pk}.{note}"
        ),
        extra_data={
            "provider": provider,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "received_amount": str(notification.amount),
            "provider_ref": provider_ref,
            "provider_ref_conflict": provider_ref_conflict,
            "payment_method": notification.payment_method,
            "days": payment.days_credited,
            "subscription_id": subscription.pk,
            "mode": mode,
            "expires_at": subscription.expires_at.isoformat(),
            "status_before": status_before,
            "expired": expired,
            "late": late,
            "webhook_event_id": event.pk if event is not None else None,
        },
    )
    _notify_paid(payment=payment, subscription=subscription, late=late)
    return PaymentCredit(payment=payment, credited=True, late=late)


def _payment_check(*, payment: Payment, provider: str, notification: ProviderNotification) -> None:
    """Raise ``WebhookError`` unless a verified notification names `payment` rightly."""
    if payment.provider != provider:
        raise WebhookError(
            "Payment was created for another provider.",
            reason="provider_mismatch",
            extra={"payment_id": payment.pk, "payment_provider": payment.provider},
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


def _event_outcome(*, event: WebhookEvent, payment: Payment, status: str, outcome: str) -> None:
    _event_save(
        event=event,
        status=status,
        outcome=outcome,
        payment_id=payment.pk,
        verified=True,
        event_key=event.event_key,
        error="",
        traceback="",
        processed_at=timezone.now(),
    )


@transaction.atomic
def payment_refund(
    *, payment: Payment, actor: Any, reason: str, now: datetime | None = None
) -> Payment:
    """Record a refund made in the provider's cabinet: mark REFUNDED, take the days back.

    Only a PAID payment can be refunded. The days this payment credited are taken off its
    subscription (never below now; a subscription left with nothing expires), the customer
    is told. Money is returned by the operator in the provider's cabinet, not by us.
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
    subscription = locked.subscription
    if subscription is not None and locked.days_credited > 0:
        subscription = subscription_shorten(
            subscription=subscription,
            days=locked.days_credited,
            actor=actor,
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
        },
    )
    _notify_refunded(payment=locked, subscription=subscription, now=now)
    payment.refresh_from_db()
    return locked


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
        audit_log_write(
            event_type=AuditEvent.PAYMENT_CANCELLED,
            obj=payment,
            actor_label="system",
            customer_id=payment.customer_id,
            message="unpaid before its expiry",
            extra_data={"expires_at": payment.expires_at.isoformat(), "provider": payment.provider},
        )
    return len(due)


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
) -> tuple[Subscription, str]:
    """Extend the renewal target or create a subscription; mark the (locked) payment PAID."""
    tariff = payment.tariff
    days = tariff.duration_days
    reason = f"payment #{payment.pk}"
    if payment.subscription_id:
        subscription = subscription_extend(
            # Only the id: the service reads and locks the current row itself.
            subscription=Subscription(pk=payment.subscription_id),
            days=days,
            actor=actor,
            actor_label=actor_label,
            reason=reason,
            now=now,
            place_keys_now=False,
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
    return subscription, mode


# --- webhooks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    """A provider notification exactly as it arrived, before any decoding.

    ``remote_ip`` is the resolved client address (``core.net.client_ip``), never a raw
    ``X-Forwarded-For`` value.
    """

    method: str
    body: bytes
    content_type: str
    query_string: str
    remote_ip: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookReply:
    """What the webhook view sends back, and the event row it was recorded as."""

    status_code: int
    body: str
    content_type: str
    event: WebhookEvent


def webhook_receive(*, provider: str, request: WebhookRequest) -> WebhookReply:
    """The whole protocol for one delivery: store it raw, then verify, lock, act, reply.

    Internal failures propagate (after the event row recorded them: FAILED, or the committed
    outcome with the error beside it when the failure came after the commit) so the view
    answers 5xx and the provider retries.
    """
    event = webhook_event_record(provider=provider, request=request)
    return webhook_event_process(event=event, request=request)


def webhook_event_record(*, provider: str, request: WebhookRequest) -> WebhookEvent:
    """Save the untrusted request as a RECEIVED event row, before anything else looks at it.

    The row is written at once (autocommit: webhooks run without ``ATOMIC_REQUESTS``), so
    it stays whatever happens next. The body and query string together are capped at
    ``WEBHOOK_BODY_MAX_BYTES`` (``body_truncated``), the headers at ``HEADERS_MAX_*``;
    bytes that are not UTF-8, and NULs, which PostgreSQL text cannot hold, are kept escaped
    (``body_escaped``, cut to the same cap). Cookies and credentials are dropped from the
    headers. No ``full_clean``: the row must be writable whatever the request holds, and
    every value is sanitized here.
    """
    limit = settings.WEBHOOK_BODY_MAX_BYTES
    body, body_truncated, body_escaped = _raw_text(data=request.body, limit=limit)
    # One budget for both: a notification comes in the body or in the query string.
    query, query_truncated, query_escaped = _raw_text(
        data=request.query_string.encode("utf-8", errors="surrogateescape"),
        limit=max(limit - min(len(request.body), limit), 0),
    )
    return WebhookEvent.objects.create(
        provider=provider[:32],
        method=_safe_text(request.method)[:8],
        remote_ip=request.remote_ip or None,
        headers=_headers_clean(headers=request.headers, content_type=request.content_type),
        query_string=query,
        body=body,
        body_truncated=body_truncated or query_truncated,
        body_escaped=body_escaped or query_escaped,
    )


def webhook_event_refuse(*, event: WebhookEvent, reason: str) -> WebhookEvent:
    """Close a stored delivery unprocessed (REJECTED with `reason`), e.g. a sender over its
    limit of rejected notifications. Nothing is verified, nothing else changes."""
    _event_save(
        event=event,
        status=WebhookEventStatus.REJECTED,
        outcome=reason[:255],
        processed_at=timezone.now(),
    )
    return event


def webhook_event_process(
    *, event: WebhookEvent, request: WebhookRequest | None = None
) -> WebhookReply:
    """Verify, parse and apply one stored notification; the event row gets its outcome.

    ``request`` is the live request; without it the stored copy is re-verified (reprocessing).
    Outcomes: PROCESSED (credited; 200 + the provider's success body), DUPLICATE (already
    credited; the success body again, nothing changed), REJECTED (bad signature, unknown
    order, wrong amount, malformed...; 400 + a failure body), FAILED (our bug or outage:
    error and traceback saved after the rollback, then re-raised).

    PROCESSED and DUPLICATE are written inside the payment's transaction, so the outcome
    commits with the credit it records.
    """
    outcome_before = (event.status, event.processed_at)
    try:
        provider = provider_get(event.provider)
    except ProviderNotConfiguredError as exc:
        return _webhook_reject(event=event, provider=None, error=exc, verified=False)
    try:
        if request is None:
            request = _stored_request(event=event)
        params = params_from_request_data(
            body=request.body,
            content_type=request.content_type,
            query_string=request.query_string,
            max_bytes=settings.WEBHOOK_BODY_MAX_BYTES,
        )
        notification = provider.notification_parse(params=params, remote_ip=request.remote_ip)
    except WebhookError as exc:
        return _webhook_reject(event=event, provider=provider, error=exc, verified=False)
    except Exception as exc:  # a parser bug on odd input: the raw request is still kept
        _webhook_fail(event=event, error=exc, outcome_before=outcome_before)
        raise

    event.verified = True
    event.event_key = notification.event_key[:128]
    try:
        payment_mark_paid(
            payment_id=notification.payment_id,
            provider=event.provider,
            notification=notification,
            event=event,
        )
        body, content_type = provider.success_response(notification=notification)
    except WebhookError as exc:
        reply = _webhook_reject(event=event, provider=provider, error=exc, verified=True)
        if exc.reason in _ALERT_REASONS:
            _notify_admins_mismatch(event=event, error=exc)
        return reply
    except Exception as exc:
        _webhook_fail(event=event, error=exc, outcome_before=outcome_before)
        raise
    return WebhookReply(status_code=200, body=body, content_type=content_type, event=event)


def webhook_event_reprocess(*, event: WebhookEvent) -> WebhookEvent:
    """Run a stored notification through the protocol again (the admin's "Reprocess").

    The stored request is verified again from scratch. A PROCESSED event is left alone (it is
    the one that credited); everything else ends as PROCESSED, DUPLICATE, REJECTED or FAILED
    by the same rules as a live delivery, so reprocessing can never credit twice. Internal
    failures propagate after the row recorded them (``_webhook_fail``).
    """
    event.refresh_from_db()
    if event.status == WebhookEventStatus.PROCESSED:
        return event
    webhook_event_process(event=event)
    event.refresh_from_db()
    return event


def webhook_events_prune(
    *, now: datetime | None = None, retention_days: int | None = None, batch: int = 1000
) -> int:
    """Delete webhook log rows past the retention (beat, daily); returns how many.

    Older than ``WEBHOOK_RETENTION_DAYS``: REJECTED and DUPLICATE rows, RECEIVED ones (a
    delivery whose processing died; never one younger than a day, which may be in flight)
    and FAILED ones an operator dismissed that long ago. Never a PROCESSED row (the record of
    a credit) nor a FAILED one still waiting for an operator. In batches of `batch` rows,
    each its own short DELETE.
    """
    now = now or timezone.now()
    days = settings.WEBHOOK_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = now - timedelta(days=max(days, 0))
    due = WebhookEvent.objects.filter(
        Q(
            status__in=[WebhookEventStatus.REJECTED, WebhookEventStatus.DUPLICATE],
            created_at__lt=cutoff,
        )
        | Q(
            status=WebhookEventStatus.RECEIVED,
            created_at__lt=min(cutoff, now - timedelta(days=1)),
        )
        | Q(status=WebhookEventStatus.FAILED, dismissed_at__lt=cutoff)
    )
    deleted = 0
    while True:
        ids = list(due.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += WebhookEvent.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        logger.info("webhook log: %s row(s) older than %s day(s) deleted", deleted, days)
    return deleted


def _stored_request(*, event: WebhookEvent) -> WebhookRequest:
    if event.body_truncated or event.body_escaped:
        raise WebhookParseError(
            "The stored request is not the request as received; it cannot be re-verified.",
            reason="stored_request_incomplete",
        )
    headers = event.headers if isinstance(event.headers, dict) else {}
    return WebhookRequest(
        method=event.method,
        body=event.body.encode("utf-8"),
        content_type=str(headers.get("Content-Type", "")),
        query_string=event.query_string,
        remote_ip=event.remote_ip,
        headers=headers,
    )


def _webhook_reject(
    *,
    event: WebhookEvent,
    provider: PaymentProvider | None,
    error: PaymentError,
    verified: bool,
) -> WebhookReply:
    detail = error.message
    if error.extra:
        detail = f"{detail} {json.dumps(error.extra, default=str, ensure_ascii=False)}"
    _event_save(
        event=event,
        status=WebhookEventStatus.REJECTED,
        outcome=error.reason[:255],
        error=detail[:WEBHOOK_ERROR_MAX_LENGTH],
        traceback="",
        verified=verified,
        event_key=event.event_key,
        # Only a payment the lookup found is linked (never an id a sender made up).
        payment_id=(
            error.extra.get("payment_id")
            if verified and error.reason != "payment_unknown"
            else None
        ),
        processed_at=timezone.now(),
    )
    logger.warning(
        "webhook %s #%s rejected: %s (%s)", event.provider, event.pk, error.reason, error.message
    )
    if provider is not None:
        body, content_type = provider.failure_response(reason=error.reason)
    else:
        body, content_type = f"ERROR: {error.reason}", TEXT_PLAIN
    return WebhookReply(status_code=400, body=body, content_type=content_type, event=event)


def _webhook_fail(
    *, event: WebhookEvent, error: BaseException, outcome_before: tuple[str, datetime | None]
) -> None:
    """Record the failure on the event row (outside the rolled-back transaction); never
    mask the original error.

    A failure can also come after the commit (building the reply, an after-commit hook):
    then the outcome this processing committed (PROCESSED: the credit stands; or DUPLICATE)
    is in the database and stays, with the error and traceback beside it. The 5xx reply
    makes the provider deliver again, and that delivery is a DUPLICATE. `outcome_before`
    (status, processed_at before processing) tells this processing's outcome from the one
    an earlier processing of the same row (a reprocess) left.
    """
    try:
        failure = {
            "error": f"{type(error).__name__}: {error}"[:WEBHOOK_ERROR_MAX_LENGTH],
            "traceback": "".join(traceback_module.format_exception(error))[-TRACEBACK_MAX_LENGTH:],
        }
        in_database = (
            WebhookEvent.objects.filter(pk=event.pk).values_list("status", "processed_at").first()
        )
        if in_database is not None and in_database != outcome_before:
            # This processing's own outcome committed: keep it.
            event.status, event.processed_at = in_database
            _event_save(event=event, **failure)
            logger.error(
                "webhook %s #%s: %s committed, then a later step failed",
                event.provider,
                event.pk,
                event.status,
            )
        else:
            _event_save(
                event=event,
                status=WebhookEventStatus.FAILED,
                outcome="internal_error",
                verified=event.verified,
                event_key=event.event_key,
                payment_id=event.payment_id,
                processed_at=timezone.now(),
                dismissed_at=None,
                **failure,
            )
            _alert_failed(event=event)
    except Exception:  # the database may be the thing that failed
        logger.exception("webhook %s: could not record the failure", event.provider)
    logger.exception("webhook %s #%s failed", event.provider, event.pk)


def _alert_failed(*, event: WebhookEvent) -> None:
    """The admins hear of a FAILED notification once (``console.alerts``; the periodic check
    catches up if this call fails too)."""
    from console.alerts import webhook_failed_alert

    try:
        webhook_failed_alert(event=event)
    except Exception:
        logger.exception("webhook %s #%s: could not queue the alert", event.provider, event.pk)


@transaction.atomic
def webhook_event_dismiss(
    *, event: WebhookEvent, actor: Any, reason: str, now: datetime | None = None
) -> WebhookEvent:
    """An operator settled a FAILED notification by hand: it leaves the dashboard (audited).

    Only a FAILED event not dismissed yet, and only with a reason. Reprocessing stays
    possible; a new failure puts it back on the dashboard.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Dismissing a failed event needs a reason.", {"event_id": event.pk})
    locked = WebhookEvent.objects.select_for_update().filter(pk=event.pk).first()
    if locked is None:
        raise ApplicationError("Webhook event not found.", {"event_id": event.pk})
    if locked.status != WebhookEventStatus.FAILED:
        raise ApplicationError(
            f"Only a failed event can be dismissed (event #{locked.pk} is {locked.status}).",
            {"event_id": locked.pk, "status": locked.status},
        )
    if locked.dismissed_at is not None:
        raise ApplicationError(f"Event #{locked.pk} is already dismissed.", {"event_id": locked.pk})
    locked.dismissed_at = now
    locked.save(update_fields=["dismissed_at", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=locked,
        acting_user=actor,
        message=(
            f"failed {locked.provider} notification #{locked.pk} "
            f"(payment {locked.event_key or '?'}) dismissed: {reason}"
        ),
        extra_data={
            "action": "webhook_event_dismiss",
            "webhook_event_id": locked.pk,
            "provider": locked.provider,
            "event_key": locked.event_key,
            "payment_id": locked.payment_id,
            "error": locked.error[:500],
            "reason": reason,
        },
    )
    event.dismissed_at = locked.dismissed_at
    return locked


def _event_save(*, event: WebhookEvent, **fields: Any) -> None:
    """Set `fields` on the stored event and write just those (``updated_at`` too).

    A row deleted meanwhile (an operator cleaning up while a reprocess runs) is no reason
    to fail the notification: say so and carry on.
    """
    for name, value in fields.items():
        setattr(event, name, value)
    event.updated_at = timezone.now()
    if not WebhookEvent.objects.filter(pk=event.pk).update(updated_at=event.updated_at, **fields):
        logger.warning("webhook event #%s is gone; its outcome was not stored", event.pk)


def _raw_text(*, data: bytes, limit: int) -> tuple[str, bool, bool]:
    """``(text, truncated, escaped)``: at most ``limit`` bytes, storable as PostgreSQL text."""
    truncated = len(data) > limit
    chunk = data[:limit]
    try:
        text = chunk.decode("utf-8")
        escaped = False
    except UnicodeDecodeError:
        text = chunk.decode("utf-8", errors="backslashreplace")
        escaped = True
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
        escaped = True
    if len(text) > limit:  # escaping made it longer: the cap holds for what is stored
        text = text[:limit]
        truncated = True
    return text, truncated, escaped


def _safe_text(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


def _headers_clean(*, headers: Mapping[str, str], content_type: str) -> dict[str, str]:
    """The headers worth keeping, Content-Type first (reprocessing needs it), each one cut
    to HEADER_*_MAX_LENGTH, at most HEADERS_MAX_COUNT of them and HEADERS_MAX_CHARS in all;
    what does not fit is dropped and counted under ``X-Vpnsite-Headers-Dropped``."""
    clean: dict[str, str] = {}
    size = 0
    dropped = 0
    items = list(headers.items())
    if content_type:
        items.insert(0, ("Content-Type", content_type))
    for name, value in items:
        key = _safe_text(name)[:HEADER_NAME_MAX_LENGTH]
        if key.lower() in SENSITIVE_HEADERS or key in clean:
            continue
        text = _safe_text(value)[:HEADER_VALUE_MAX_LENGTH]
        if len(clean) >= HEADERS_MAX_COUNT or size + len(key) + len(text) > HEADERS_MAX_CHARS:
            dropped += 1
            continue
        clean[key] = text
        size += len(key) + len(text)
    if dropped:
        clean[HEADERS_DROPPED] = str(dropped)
    return clean


# --- messages -----------------------------------------------------------------------------


def _language(code: str) -> str:
    return code if code in ("ru", "en") else "ru"


def _payment_description(*, tariff: Tariff, language: str) -> str:
    """Shown on the provider's payment page; call inside the customer's language."""
    return _("VPN subscription “%(tariff)s”, %(duration)s") % {
        "tariff": tariff_name(name=tariff.name, name_en=tariff.name_en, language=language),
        "duration": days(tariff.duration_days),
    }


def _notify_paid(*, payment: Payment, subscription: Subscription, late: bool) -> None:
    """Tell the customer the payment arrived and the admins a payment came in.

    The keys themselves are sent by the nodes layer once they are on a panel.
    """
    customer = payment.customer
    formatted: dict[str, tuple[str, str]] = {}

    def amount_and_expiry() -> tuple[str, str]:
        """In the active language; the admins' message usually shares the customer's."""
        language = translation.get_language()
        if language not in formatted:
            formatted[language] = (
                money_format(payment.amount, payment.currency),
                date_format(subscription.expires_at),
            )
        return formatted[language]

    reply_markup = None
    with translation.override(_language(customer.language)):
        amount, expires = amount_and_expiry()
        if customer.is_banned:
            # The money was taken, so the days are credited; but the keys stay disabled and
            # the nodes layer sends no keys: say so, and how to reach support.
            message = _(
                "✅ Payment #%(payment)s received: %(amount)s.\n"
                "⛔ Your account is blocked, so your VPN keys are disabled and no keys will be "
                "sent. The paid days are added to your subscription “%(tariff)s” (until "
                "%(expires)s); its keys work again if the block is lifted."
            )
            contact = support_contact()
            if contact:
                message += "\n" + _("To sort this out, write to support: %(contact)s") % {
                    "contact": escape(contact).replace("%", "%%")
                }
            else:
                message += "\n" + _("To sort this out, please contact support.")
            if url := support_url():
                reply_markup = {
                    "inline_keyboard": [
                        [{"text": button_support(language=customer.language), "url": url}]
                    ]
                }
        elif subscription.keys_notified_at:
            # A renewal: the keys the customer has keep working, nothing else arrives.
            message = _(
                "✅ Payment #%(payment)s received: %(amount)s.\n"
                "Your subscription “%(tariff)s” is extended until %(expires)s.\n"
                "Your keys and subscription URL stay the same."
            )
        else:
            message = _(
                "✅ Payment #%(payment)s received: %(amount)s.\n"
                "Your subscription “%(tariff)s” is active until %(expires)s.\n"
                "Your connection keys will follow in a separate message."
            )
        text = message % {
            "payment": payment.pk,
            "amount": amount,
            "tariff": escape(
                tariff_name(
                    name=payment.tariff.name,
                    name_en=payment.tariff.name_en,
                    language=customer.language,
                )
            ),
            "expires": expires,
        }
        to_customer = customer_message(
            customer=customer,
            text=text,
            reply_markup=reply_markup,
            kind=KIND_PAYMENT_PAID,
            dedupe_key=f"payment-paid:{payment.pk}",
        )
    with translation.override(settings.LANGUAGE_CODE):
        amount, expires = amount_and_expiry()
        admin_text = _(
            "💰 New payment #%(payment)s: %(amount)s via %(provider)s\n"
            "Customer: %(customer)s (Telegram id %(telegram_id)s)\n"
            "Tariff: %(tariff)s, subscription #%(subscription)s until %(expires)s"
        ) % {
            "payment": payment.pk,
            "amount": amount,
            "provider": escape(payment.provider),
            "customer": escape(str(customer)),
            "telegram_id": customer.telegram_id,
            "tariff": escape(payment.tariff.name),
            "subscription": subscription.pk,
            "expires": expires,
        }
        if late:
            admin_text += "\n" + _(
                "⚠️ Paid after the payment had expired or been cancelled; credited anyway."
            )
        if customer.is_banned:
            admin_text += "\n" + _(
                "⛔ The customer is banned: the days are credited, the keys stay disabled and "
                "the customer was told to contact support."
            )
        to_admins = admin_messages(
            text=admin_text,
            kind=KIND_PAYMENT_NEW_ADMIN,
            dedupe_key=f"payment-new:{payment.pk}",
        )
    outbox_queue([to_customer, *to_admins])


def _notify_refunded(*, payment: Payment, subscription: Subscription | None, now: datetime) -> None:
    customer = payment.customer
    with translation.override(_language(customer.language)):
        text = _("Payment #%(payment)s of %(amount)s has been refunded.") % {
            "payment": payment.pk,
            "amount": money_format(payment.amount, payment.currency),
        }
        if subscription is not None:
            if subscription.status == SubscriptionStatus.ACTIVE and subscription.expires_at > now:
                text += "\n" + _("Your subscription is now active until %(expires)s.") % {
                    "expires": date_format(subscription.expires_at)
                }
            else:
                text += "\n" + _("Your subscription has ended.")
        notify_customer(
            customer=customer,
            text=text,
            kind=KIND_PAYMENT_REFUNDED,
            dedupe_key=f"payment-refunded:{payment.pk}",
        )


def _notify_admins_mismatch(*, event: WebhookEvent, error: WebhookError) -> None:
    """A verified notification we refused: money may have been taken. Once per notification."""
    received = str(error.extra.get("received", ""))
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            notify_admins(
                text=_(
                    "⚠️ %(provider)s notification for payment #%(payment)s was refused "
                    "(%(reason)s: expected %(expected)s, received %(received)s). "
                    "Check it by hand; webhook event #%(event)s."
                )
                % {
                    "provider": escape(event.provider),
                    "payment": escape(event.event_key),
                    "reason": escape(error.reason),
                    "expected": escape(str(error.extra.get("expected", ""))),
                    "received": escape(received),
                    "event": event.pk,
                },
                kind=KIND_PAYMENT_MISMATCH_ADMIN,
                dedupe_key=(
                    f"payment-mismatch:{event.provider}:{event.event_key}:{error.reason}:{received}"
                )[:150],
            )
    except Exception:  # the alert must never turn a 400 into a 500
        logger.exception(
            "webhook %s #%s: could not queue the admin alert", event.provider, event.pk
        )
