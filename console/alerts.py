"""Alerts to the admin chats, each sent once per episode, through the outbox (notify_admins).

The outbox rows are the alerts' memory: an episode is "open" when the latest alert of its
kind is the firing one and not its recovery, so the state survives restarts and is the
same for every process. Rules (env variables in .env.example, "Alerts"):

- **Node down / up** (`node_alert_sync`, called on every health transition and by the
  periodic check): "down" when a node goes down, "up" when it is back. A node that flaps
  is not reported down again within NODE_ALERT_FLAP_GUARD_MINUTES of its last alert; if it
  is still down when that guard ends, the periodic check reports it then. So an outage
  gives one "down" and one "up", however much the node flaps meanwhile.
- **Provisioning failed after the last retry**: nodes.services.push.node_keys_push_failed (one per
  node per hour).
- **Bad signatures** and **failed payment notifications**: ``billing.alerts`` (the periodic
  check below runs its catch-ups).
- **Backlog**: outbox messages still unsent OUTBOX_BACKLOG_ALERT_MINUTES after they were
  queued (broadcasts excluded: they drain at Telegram's rate by design), or a Celery queue
  longer than QUEUE_BACKLOG_ALERT_SIZE at two checks in a row. One alert when it starts, one
  "recovered" when it is over.
- **Daily summary** at DAILY_SUMMARY_HOUR_UTC: the last 24 hours, once per day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.html import escape

from billing import alerts as billing_alerts
from billing.selectors import payments_revenue
from notifications.formatting import money_totals_format
from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

NODE_DOWN = "node-down"
NODE_UP = "node-up"
OUTBOX_BACKLOG = "outbox-backlog"
QUEUE_BACKLOG = "queue-backlog"
DAILY_SUMMARY = "daily-summary"
RECOVERED = "-recovered"
QUEUE_STREAK_CACHE_KEY = "alerts:queue-backlog:streak"
CHECK_LOCK_CACHE_KEY = "alerts:check:lock"


def _notify(*, text: str, kind: str, dedupe_key: str) -> int:
    from notifications.services import notify_admins

    with transaction.atomic():
        return len(notify_admins(text=text, kind=kind, dedupe_key=dedupe_key))


def _stamp(now: datetime) -> str:
    """The moment an episode's alert went out: its dedupe key (the decision itself is made
    under a row lock or the check lock, from the alerts already sent)."""
    return f"{now:%Y%m%d%H%M%S%f}"


# --- Nodes ---------------------------------------------------------------------------------


def _node_last_alert(*, node_id: int) -> OutboxMessage | None:
    return (
        OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN, kind__in=[NODE_DOWN, NODE_UP])
        .filter(
            Q(dedupe_key__startswith=f"{NODE_DOWN}:{node_id}:")
            | Q(dedupe_key__startswith=f"{NODE_UP}:{node_id}:")
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def node_alert_sync(*, node_id: int, now: datetime | None = None, detail: str = "") -> str:
    """Tell the admins a node's state if they were told otherwise; returns "down", "up" or "".

    The node row is locked, so concurrent health checks decide one after the other. `detail`
    (the error, the latency) goes into the message.
    """
    from nodes.models import Node, NodeHealth

    now = now or timezone.now()
    guard = timedelta(minutes=settings.NODE_ALERT_FLAP_GUARD_MINUTES)
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(pk=node_id).first()
        if node is None:
            return ""
        actual = "down" if node.health == NodeHealth.DOWN else "up"
        last = _node_last_alert(node_id=node.pk)
        told = "down" if last is not None and last.kind == NODE_DOWN else "up"
        if actual == told:
            return ""
        if actual == "down" and last is not None and now - last.created_at < guard:
            logger.info("node %s flapping: down again, alert held back", node.name)
            return ""
        name = escape(node.name)
        if actual == "down":
            text = f"🔴 Node <b>{name}</b> is down: " + escape(
                detail or f"last error: {node.last_error[:300] or 'unknown'}"
            )
            text += "."
            if last is not None and now - last.created_at < 2 * guard:
                text += " It was back only briefly: the node is flapping."
        else:
            text = f"✅ Node <b>{name}</b> is back" + (f" ({escape(detail)})." if detail else ".")
        _notify(
            text=text, kind=f"node-{actual}", dedupe_key=f"node-{actual}:{node.pk}:{_stamp(now)}"
        )
        return actual


def nodes_alert_sync(*, now: datetime | None = None) -> list[str]:
    """The periodic catch-up: report the enabled nodes whose state changed unreported."""
    from nodes.models import Node

    sent = []
    for node_id in Node.objects.filter(is_enabled=True).values_list("pk", flat=True):
        if outcome := node_alert_sync(node_id=node_id, now=now):
            sent.append(outcome)
    return sent


# --- Episodes (backlogs) -------------------------------------------------------------------


def _episode_sync(
    *, name: str, firing: bool, now: datetime, firing_text: str, recovered_text: str
) -> str:
    """Open an episode (one alert) or close it (one "recovered"); returns what was done."""
    last = (
        OutboxMessage.objects.filter(
            audience=OutboxAudience.ADMIN, kind__in=[name, f"{name}{RECOVERED}"]
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    is_open = last is not None and last.kind == name
    if firing and not is_open:
        _notify(text=firing_text, kind=name, dedupe_key=f"{name}:{_stamp(now)}")
        return "firing"
    if not firing and is_open:
        episode = (last.dedupe_key or "").split(":")[1:2] or [_stamp(now)]
        _notify(
            text=recovered_text,
            kind=f"{name}{RECOVERED}",
            dedupe_key=f"{name}{RECOVERED}:{episode[0]}",
        )
        return "recovered"
    return ""


def outbox_backlog_check(*, now: datetime | None = None) -> str:
    """Messages unsent OUTBOX_BACKLOG_ALERT_MINUTES after being queued (not broadcasts)."""
    from notifications.services import BROADCAST_KIND

    now = now or timezone.now()
    minutes = settings.OUTBOX_BACKLOG_ALERT_MINUTES
    stale = OutboxMessage.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING],
        created_at__lt=now - timedelta(minutes=minutes),
    ).exclude(kind=BROADCAST_KIND)
    count = stale.count()
    return _episode_sync(
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
    """The Celery queue above QUEUE_BACKLOG_ALERT_SIZE at two checks in a row."""
    from core.metrics import celery_queue_length

    now = now or timezone.now()
    try:
        length = celery_queue_length()
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
    return _episode_sync(
        name=QUEUE_BACKLOG,
        firing=length > limit,
        now=now,
        firing_text=(
            f"⏳ Celery queue backlog: {length} task(s) waiting (limit {limit}); the workers "
            "are not keeping up."
        ),
        recovered_text=f"✅ Celery queue back to normal ({length} waiting).",
    )


# --- Daily summary -------------------------------------------------------------------------


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
    from accounts.models import Customer
    from billing.models import Payment, PaymentStatus
    from nodes.models import Node, NodeClient, NodeHealth, SyncState
    from subscriptions.models import Subscription

    until = now or timezone.now()
    since = until - timedelta(days=1)
    customers = Customer.objects.aggregate(
        total=Count("id"), new=Count("id", filter=Q(created_at__gt=since, created_at__lte=until))
    )
    revenue: dict[str, Decimal] = {}
    payments = 0
    for row in (
        payments_revenue(since=since, until=until)
        .order_by()
        .values("currency")
        .annotate(n=Count("id"), amount=Sum("amount"))
    ):
        payments += row["n"]
        revenue[row["currency"]] = row["amount"] or Decimal("0")
    refunded: dict[str, Decimal] = {}
    refunds = 0
    for row in (
        Payment.objects.filter(
            status=PaymentStatus.REFUNDED, refunded_at__gt=since, refunded_at__lte=until
        )
        .order_by()
        .values("currency")
        .annotate(n=Count("id"), amount=Sum("amount"))
    ):
        refunds += row["n"]
        refunded[row["currency"]] = row["amount"] or Decimal("0")
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
    return _notify(
        text=daily_summary_text(summary=summary),
        kind=DAILY_SUMMARY,
        dedupe_key=f"{DAILY_SUMMARY}:{now.astimezone(UTC):%Y%m%d}",
    )


# --- The periodic check --------------------------------------------------------------------


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
