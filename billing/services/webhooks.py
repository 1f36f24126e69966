"""Provider notifications, stored first, then processed (dj-stripe's protocol).

The raw request is saved as a ``WebhookEvent`` before anything looks at it
(``billing.services.webhook_events``); then it is verified and parsed, the payment is
credited in a transaction that holds ``SELECT ... FOR UPDATE`` on the payment row
(``billing.services.payments.payment_mark_paid``), and the outcome (processed, duplicate,
rejected, failed, with the error) is written on the event row. A payment is credited at most
once because every credit re-reads its status under that lock; the partial unique
constraint "one PROCESSED event per (provider, event_key)" is the second line of defence.
"""

from __future__ import annotations

import json
import logging
import traceback as traceback_module
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from billing.alerts import webhook_failed_alert
from billing.exceptions import (
    PaymentError,
    ProviderNotConfiguredError,
    WebhookError,
    WebhookParseError,
)
from billing.models import WebhookEvent, WebhookEventStatus
from billing.providers import PaymentProvider, provider_get
from billing.providers.base import TEXT_PLAIN
from billing.services.messages import _notify_admins_mismatch
from billing.services.payment_events import payment_mark_canceled, payment_refund_notified
from billing.services.payments import payment_mark_paid
from billing.services.webhook_events import WebhookRequest, _event_save
from core.models import AuditEvent
from core.services import audit_log_write

logger = logging.getLogger(__name__)

WEBHOOK_ERROR_MAX_LENGTH = 4000
TRACEBACK_MAX_LENGTH = 20000

# Verified notifications that name a real payment but cannot credit it: money may have been
# taken, so an operator is told (once per distinct notification).
_ALERT_REASONS = frozenset(
    {
        "amount_mismatch",
        "currency_mismatch",
        "provider_mismatch",
        "provider_ref_mismatch",
        "refund_partial",
        "refund_not_paid",
    }
)


@dataclass(frozen=True)
class WebhookReply:
    """What the webhook view sends back, and the event row it was recorded as."""

    status_code: int
    body: str
    content_type: str
    event: WebhookEvent


def webhook_event_process(
    *, event: WebhookEvent, request: WebhookRequest | None = None, actor=None
) -> WebhookReply:
    """Verify, parse and apply one stored notification; the event row gets its outcome.

    ``request`` is the live request; without it the stored copy is re-verified (reprocessing).
    A YooKassa notification is confirmed through its API inside ``notification_parse``
    (HTTP, outside any transaction); what it confirmed decides the action: credit, cancel
    (``payment_mark_canceled``) or refund (``payment_refund_notified``).
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
        params = provider.params_decode(
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
        if notification.kind == "canceled":
            payment_mark_canceled(
                payment_id=notification.payment_id,
                provider=event.provider,
                notification=notification,
                event=event,
            )
        elif notification.kind == "refunded":
            payment_refund_notified(provider=event.provider, notification=notification, event=event)
        else:
            payment_mark_paid(
                payment_id=notification.payment_id,
                provider=event.provider,
                notification=notification,
                event=event,
                actor=actor,
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


def webhook_event_reprocess(*, event: WebhookEvent, actor=None) -> WebhookEvent:
    """Run a stored notification through the protocol again (the admin's "Reprocess").

    The stored request is verified again from scratch. A PROCESSED event is left alone (it is
    the one that credited); everything else ends as PROCESSED, DUPLICATE, REJECTED or FAILED
    by the same rules as a live delivery, so reprocessing can never credit twice. Internal
    failures propagate after the row recorded them (``_webhook_fail``).

    `actor`, the operator, is named by an audit row of the reprocess whatever its outcome,
    and by the credit's rows when it credits (the provider stays their ``actor_label``).
    """
    event.refresh_from_db()
    status_before = event.status
    if event.status == WebhookEventStatus.PROCESSED:
        _reprocess_audit(event=event, actor=actor, status_before=status_before)
        return event
    try:
        webhook_event_process(event=event, actor=actor)
    except Exception:
        event.refresh_from_db()
        _reprocess_audit(event=event, actor=actor, status_before=status_before)
        raise
    event.refresh_from_db()
    _reprocess_audit(event=event, actor=actor, status_before=status_before)
    return event


def _reprocess_audit(*, event: WebhookEvent, actor, status_before: str) -> None:
    outcome = f"{event.status} ({event.outcome})" if event.outcome else event.status
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=event,
        acting_user=actor,
        actor_label="" if actor is not None else "system",
        message=f"webhook event #{event.pk} ({event.provider}) reprocessed: {outcome}",
        extra_data={
            "action": "webhook_reprocess",
            "provider": event.provider,
            "status_before": status_before,
            "status": event.status,
            "outcome": event.outcome,
            "payment_id": event.payment_id,
        },
    )


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
    """The admins hear of a FAILED notification once (``billing.alerts``; the periodic check
    catches up if this call fails too)."""
    try:
        webhook_failed_alert(event=event)
    except Exception:
        logger.exception("webhook %s #%s: could not queue the alert", event.provider, event.pk)
