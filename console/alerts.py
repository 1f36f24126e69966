"""Alerts to the admin chats, each sent once per episode (notifications/alerts.py): outbox and
Celery backlogs, the daily summary, and the periodic check that also runs the catch-ups of
``nodes.alerts`` and ``billing.alerts`` (env variables in .env.example, "Alerts")."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Customer
from billing import alerts as billing_alerts
from billing.models import Payment, PaymentStatus
from billing.selectors import payments_revenue
from core.metrics import celery_backlog
from nodes.alerts import nodes_alert_sync
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from notifications.alerts import alert_episode_sync, alert_send
from notifications.formatting import money_totals_format
from notifications.models import OutboxMessage, OutboxStatus
from notifications.services import BROADCAST_KIND
from subscriptions.models import Subscription

logger = logging.getLogger(__name__)

OUTBOX_BACKLOG = "outbox-backlog"
QUEUE_BACKLOG = "queue-backlog"
DAILY_SUMMARY = "daily-summary"
QUEUE_STREAK_CACHE_KEY = "alerts:queue-backlog:streak"
CHECK_LOCK_CACHE_KEY = "alerts:check:lock"


def outbox_backlog_check(*, now: datetime | None = None) -> str:
    """Messages unsent OUTBOX_BACKLOG_ALERT_MINUTES after being queued (not broadcasts: they
    drain at Telegram's rate by design)."""
    now = now or timezone.now()
    minutes = settings.OUTBOX_BACKLOG_ALERT_MINUTES
    stale = OutboxMessage.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING],
        created_at__lt=now - timedelta(minutes=minutes),
    ).exclude(kind=BROADCAST_KIND)
    count = stale.count()
    return alert_episode_sync(
        name=OUTBOX_BACKLOG,
        firing=count > 0,
        now=now,
        firing_text=(
            f"⏳ Outbox backlog: {count} message(s) still unsent after {minutes} minutes "
            "(worker down? Telegram unreachable?)."
        ),
        recovered_text="✅ Outbox backlog cleared: messages are going out again.",
    )


def queue_backlog_check(*, now: datetime | None = None) -> str:
    """The Celery queues above QUEUE_BACKLOG_ALERT_SIZE in all at two checks in a row."""
    now = now or timezone.now()
    try:
        length = celery_backlog()
    except Exception:  # an unreachable broker is /readyz's to report
        logger.warning("alerts: could not read the queue length", exc_info=True)
        return ""
    if length is None:
        return ""
    limit = settings.QUEUE_BACKLOG_ALERT_SIZE
    if length > limit:
        streak = (cache.get(QUEUE_STREAK_CACHE_KEY) or 0) + 1
        cache.set(QUEUE_STREAK_CACHE_KEY, streak, timeout=24 * 3600)
        if streak < 2:
            return ""
    else:
        cache.delete(QUEUE_STREAK_CACHE_KEY)
    return alert_episode_sync(
        name=QUEUE_BACKLOG,
        firing=length > limit,
        now=now,
        firing_text=(
            f"⏳ Celery queue backlog: {length} task(s) waiting (limit {limit}); the workers "
            "are not keeping up."
        ),
        recovered_text=f"✅ Celery queue back to normal ({length} waiting).",
    )


@dataclass(frozen=True)
class DailySummary:
    since: datetime
    until: datetime
    customers_new: int
    customers_total: int
    payments: int
    revenue: dict[str, Decimal]
    refunds: int
    refunded: dict[str, Decimal]
    subscriptions_active: int
    subscriptions_new: int
    nodes: dict[str, int]
    nodes_down: list[str] = field(default_factory=list)
    keys_error: int = 0


def daily_summary_get(*, now: datetime | None = None) -> DailySummary:
    """The last 24 hours in a few aggregate queries. Payments and revenue are billing's one
    definition (``billing.selectors.payments_revenue``); refunds are those made in the 24 h."""
    until = now or timezone.now()
    since = until - timedelta(days=1)
    customers = Customer.objects.aggregate(
        total=Count("id"), new=Count("id", filter=Q(created_at__gt=since, created_at__lte=until))
    )
    payments, revenue = _count_and_sum(payments_revenue(since=since, until=until))
    refunds, refunded = _count_and_sum(
        Payment.objects.filter(
            status=PaymentStatus.REFUNDED, refunded_at__gt=since, refunded_at__lte=until
        )
    )
    subscriptions = Subscription.objects.aggregate(
        active=Count("id", filter=Subscription.objects.running_q(until)),
        new=Count("id", filter=Q(created_at__gt=since, created_at__lte=until)),
    )
    nodes = dict.fromkeys(NodeHealth.values, 0)
    down = []
    for name, health in Node.objects.filter(is_enabled=True).values_list("name", "health"):
        nodes[health] += 1
        if health == NodeHealth.DOWN:
            down.append(name)
    return DailySummary(
        since=since,
        until=until,
        customers_new=customers["new"],
        customers_total=customers["total"],
        payments=payments,
        revenue=revenue,
        refunds=refunds,
        refunded=refunded,
        subscriptions_active=subscriptions["active"],
        subscriptions_new=subscriptions["new"],
        nodes=nodes,
        nodes_down=sorted(down),
        keys_error=NodeClient.objects.filter(sync_state=SyncState.ERROR).count(),
    )


def _count_and_sum(payments) -> tuple[int, dict[str, Decimal]]:
    """How many `payments` there are, and their amounts summed per currency."""
    rows = payments.order_by().values("currency").annotate(n=Count("id"), amount=Sum("amount"))
    sums = {row["currency"]: row["amount"] or Decimal("0") for row in rows}
    return sum(row["n"] for row in rows), sums


def daily_summary_text(*, summary: DailySummary) -> str:
    nodes = summary.nodes
    lines = [
        f"📊 <b>Daily summary</b> (24 h to {summary.until.astimezone(UTC):%Y-%m-%d %H:%M} UTC)",
        f"New customers: {summary.customers_new} (total {summary.customers_total})",
        f"Payments: {summary.payments}, revenue {money_totals_format(summary.revenue, 'en')}",
    ]
    if summary.refunds:
        lines.append(f"Refunds: {summary.refunds} ({money_totals_format(summary.refunded, 'en')})")
    lines += [
        (
            f"Active subscriptions: {summary.subscriptions_active} "
            f"(new in 24 h: {summary.subscriptions_new})"
        ),
        (
            f"Nodes: {nodes.get('up', 0)} up, {nodes.get('degraded', 0)} degraded, "
            f"{nodes.get('down', 0)} down, {nodes.get('unknown', 0)} unchecked"
        ),
    ]
    if summary.nodes_down:
        lines.append("Down: " + ", ".join(escape(name) for name in summary.nodes_down))
    if summary.keys_error:
        lines.append(f"Keys in error: {summary.keys_error}")
    return "\n".join(lines)


def daily_summary_send(*, now: datetime | None = None) -> int:
    """Queue the summary to the admin chats, once per UTC day. Returns messages queued."""
    now = now or timezone.now()
    summary = daily_summary_get(now=now)
    return alert_send(
        text=daily_summary_text(summary=summary),
        kind=DAILY_SUMMARY,
        dedupe_key=f"{DAILY_SUMMARY}:{now.astimezone(UTC):%Y%m%d}",
    )


def alerts_check(*, now: datetime | None = None) -> dict[str, object]:
    """Beat (ALERTS_CHECK_INTERVAL): every periodic rule; one failing rule never stops the rest.

    Runs are not allowed to overlap (a cache lock), so an episode is never opened twice.
    """
    now = now or timezone.now()
    if not cache.add(CHECK_LOCK_CACHE_KEY, now.isoformat(), timeout=300):
        return {"skipped": "another check is running"}
    results: dict[str, object] = {}
    try:
        for name, check in (
            ("nodes", nodes_alert_sync),
            ("webhook_bad_signature", billing_alerts.webhook_bad_signature_check),
            ("webhook_failed", billing_alerts.webhook_failed_check),
            ("outbox_backlog", outbox_backlog_check),
            ("queue_backlog", queue_backlog_check),
        ):
            try:
                results[name] = check(now=now)
            except Exception:
                logger.exception("alerts: the %s check failed", name)
                results[name] = "error"
    finally:
        cache.delete(CHECK_LOCK_CACHE_KEY)
    return results
