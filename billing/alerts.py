"""Alerts about payment notifications to the admin chats: bad signatures (one per provider
per clock hour) and failed notifications (one per notification). The periodic checks run in
the console's ``alerts_check``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django.utils.html import escape

from billing.models import WebhookEvent, WebhookEventStatus
from notifications.alerts import alert_send
from notifications.models import OutboxAudience, OutboxMessage

# Alert kinds (OutboxMessage.kind).
WEBHOOK_BAD_SIGNATURE = "webhook-bad-signature"
WEBHOOK_FAILED = "webhook-failed"

# Rejection reasons that mean "the sender does not know our secret".
BAD_SIGNATURE_REASONS = ("signature_mismatch", "signature_missing")


def webhook_bad_signature_check(*, now: datetime | None = None) -> list[str]:
    """Providers with more bad-signature rejections in the last hour than the threshold."""
    now = now or timezone.now()
    threshold = settings.WEBHOOK_BAD_SIGNATURE_ALERT_THRESHOLD
    recent = WebhookEvent.objects.filter(
        status=WebhookEventStatus.REJECTED,
        outcome__in=BAD_SIGNATURE_REASONS,
        created_at__gt=now - timedelta(hours=1),
        created_at__lte=now,
    )
    counts = recent.order_by().values("provider").annotate(n=Count("id"))
    alerted = []
    for row in counts:
        if row["n"] <= threshold:
            continue
        provider = row["provider"]
        sources = (
            recent.filter(provider=provider)
            .order_by()
            .values("remote_ip")
            .annotate(n=Count("id"))
            .order_by("-n")[:3]
        )
        top = ", ".join(f"{s['remote_ip'] or '?'} ({s['n']})" for s in sources)
        sent = alert_send(
            text=(
                f"🚨 {row['n']} {escape(provider)} notifications with a bad signature in the "
                f"last hour (threshold {threshold}): someone may be probing the webhook. "
                f"Top senders: {escape(top)}."
            ),
            kind=WEBHOOK_BAD_SIGNATURE,
            dedupe_key=f"{WEBHOOK_BAD_SIGNATURE}:{provider}:{now:%Y%m%d%H}",
        )
        if sent:
            alerted.append(provider)
    return alerted


def _webhook_failed_key(event: WebhookEvent) -> str:
    """One alert per notification: its provider and order id (the event when unparsed)."""
    return f"{WEBHOOK_FAILED}:{event.provider}:{event.event_key or f'event-{event.pk}'}"[:150]


def webhook_failed_alert(*, event: WebhookEvent) -> int:
    """Tell the admins a payment notification FAILED (our bug or outage): the provider may
    have taken the money and nothing was credited. Returns the messages queued (0 when this
    notification was already reported)."""
    payment = f", payment #{escape(event.event_key)}" if event.event_key else ""
    error = (event.error or "unknown error").splitlines()[0][:300]
    return alert_send(
        text=(
            f"🚨 A {escape(event.provider)} payment notification failed (webhook event "
            f"#{event.pk}{payment}): {escape(error)}. The money may have been taken and nothing "
            "was credited. Fix the cause, then reprocess the event in the webhook log (or "
            "dismiss it there once settled by hand)."
        ),
        kind=WEBHOOK_FAILED,
        dedupe_key=_webhook_failed_key(event),
    )


def webhook_failed_check(*, now: datetime | None = None) -> int:
    """The catch-up: alert the failed, undismissed events no alert went out for (the live
    alert fails when the database does)."""
    events = list(
        WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED, dismissed_at__isnull=True)
        .only("pk", "provider", "event_key", "error")
        .order_by("pk")[:200]
    )
    # notify_admins stores one row per admin chat, its dedupe key suffixed ":<chat id>".
    keys = [
        f"{_webhook_failed_key(event)}:{chat_id}"
        for event in events
        for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS
    ]
    told = {
        key.rsplit(":", 1)[0]
        for key in OutboxMessage.objects.filter(
            audience=OutboxAudience.ADMIN, kind=WEBHOOK_FAILED, dedupe_key__in=keys
        ).values_list("dedupe_key", flat=True)
    }
    sent = 0
    for event in events:
        key = _webhook_failed_key(event)
        if key not in told:
            sent += webhook_failed_alert(event=event)
            told.add(key)
    return sent
