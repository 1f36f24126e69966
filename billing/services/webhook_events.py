"""The webhook log: every delivery stored raw as it arrives, and the outcome written on its row.

A delivery is saved as a RECEIVED ``WebhookEvent`` before anything looks at it (its own
autocommit INSERT, so even garbage, or a delivery whose parser crashes, leaves a row);
processing (``billing.services.webhooks``) then writes its outcome on that row. Here also:
refusing a stored delivery unprocessed, an operator's dismissal of a FAILED one, and the
retention sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Payment, WebhookEvent, WebhookEventStatus
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write

logger = logging.getLogger(__name__)

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
