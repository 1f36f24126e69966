"""The console dashboard: one page of figures for the operators (docs/console.md)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Customer
from billing.models import Payment, WebhookEvent, WebhookEventStatus
from billing.selectors import payments_revenue
from core.charts import DayPoint
from nodes.models import Node, NodeClient, SyncState
from subscriptions.models import Subscription, SubscriptionStatus

DASHBOARD_DAYS = 30
DASHBOARD_EXPIRING_DAYS = 3
DASHBOARD_EXPIRING_LIST = 10
DASHBOARD_FAILED_LIST = 10
# A key still `pending` this long after its last change is stuck (its push task was lost).
KEY_STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class NodeRow:
    node: object
    load: int
    errors: int
    stuck: int


@dataclass
class Dashboard:
    """Everything the console's front page shows, read in a fixed number of queries."""

    now: datetime
    tz: ZoneInfo
    # Local midnights: today, 6 days ago (7 calendar days), 29 days ago (30 calendar days).
    starts: dict[str, datetime]
    currency: str
    subscriptions_active: int
    subscriptions_expiring: int
    customers_total: int
    customers_new: dict[str, int]
    # Per currency: {"today": Decimal, "7d": Decimal, "30d": Decimal}; the site currency first.
    revenue: dict[str, dict[str, Decimal]]
    payments_paid: dict[str, int]
    # (provider, status, count, amount), for payments created in the last 30 days.
    payments_by_provider: list[tuple[str, str, int, Decimal]]
    revenue_chart: list[DayPoint]
    active_chart: list[DayPoint]
    nodes: list[NodeRow]
    keys_error: int
    keys_stuck: int
    stuck_before: datetime
    expiring: list = field(default_factory=list)
    # Payment notifications that FAILED and nobody reprocessed or dismissed yet (the newest
    # DASHBOARD_FAILED_LIST of them) and how many there are.
    webhooks_failed: list = field(default_factory=list)
    webhooks_failed_count: int = 0


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def dashboard_get(*, now: datetime | None = None) -> Dashboard:
    """The dashboard's figures in nine queries, whatever the size of the tables.

    Days are calendar days in settings.TIME_ZONE. Revenue is billing's one definition
    (``billing.selectors.payments_revenue``): paid payments by `paid_at`, per currency.
    "Active" means status active and not past `expires_at`; the chart counts, at the end of
    each day, the subscriptions that had started and not yet ended.
    """

    now = now or timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=offset) for offset in range(DASHBOARD_DAYS - 1, -1, -1)]
    starts = {
        "today": local_midnight(today, tz),
        "7d": local_midnight(today - timedelta(days=6), tz),
        "30d": local_midnight(days[0], tz),
    }
    # The moment each day's point is taken: the end of the day, or now for today.
    day_ends = [min(local_midnight(day + timedelta(days=1), tz), now) for day in days]

    customers = Customer.objects.aggregate(
        total=Count("id"),
        **{
            f"new_{key}": Count("id", filter=Q(created_at__gte=start, created_at__lte=now))
            for key, start in starts.items()
        },
    )

    alive = Q(status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED])
    subscriptions = Subscription.objects.filter(expires_at__gt=starts["30d"]).aggregate(
        active=Count("id", filter=Subscription.objects.running_q(now)),
        expiring=Count(
            "id",
            filter=Subscription.objects.running_q(now)
            & Q(expires_at__lte=now + timedelta(days=DASHBOARD_EXPIRING_DAYS)),
        ),
        **{
            f"day{index}": Count(
                "id", filter=alive & Q(started_at__lte=moment, expires_at__gt=moment)
            )
            for index, moment in enumerate(day_ends)
        },
    )

    daily = (
        payments_revenue(since=starts["30d"], until=now)
        .annotate(day=TruncDate("paid_at", tzinfo=tz))
        .order_by()
        .values("day", "currency")
        .annotate(amount=Sum("amount"), count=Count("id"))
    )
    currency = settings.PAYMENT_CURRENCY
    revenue: dict[str, dict[str, Decimal]] = {currency: dict.fromkeys(starts, Decimal("0.00"))}
    paid_counts = dict.fromkeys(starts, 0)
    by_day: dict[date, Decimal] = {}
    for row in daily:
        totals = revenue.setdefault(row["currency"], dict.fromkeys(starts, Decimal("0.00")))
        for key, start in starts.items():
            if row["day"] >= start.date():
                totals[key] += row["amount"]
                if row["currency"] == currency:
                    paid_counts[key] += row["count"]
        if row["currency"] == currency:
            by_day[row["day"]] = by_day.get(row["day"], Decimal("0.00")) + row["amount"]

    by_provider = [
        (row["provider"], row["status"], row["count"], row["amount"] or Decimal("0.00"))
        for row in Payment.objects.filter(created_at__gte=starts["30d"])
        .order_by()
        .values("provider", "status")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("provider", "status")
    ]

    stuck_before = now - KEY_STUCK_AFTER
    key_counts = {
        row["node_id"]: row
        for row in NodeClient.objects.order_by()
        .values("node_id")
        .annotate(
            load=Count("id", filter=~Q(sync_state=SyncState.REMOVED)),
            errors=Count("id", filter=Q(sync_state=SyncState.ERROR)),
            stuck=Count("id", filter=Q(sync_state=SyncState.PENDING, updated_at__lt=stuck_before)),
        )
    }
    nodes = [
        NodeRow(
            node=node,
            load=key_counts.get(node.pk, {}).get("load", 0),
            errors=key_counts.get(node.pk, {}).get("errors", 0),
            stuck=key_counts.get(node.pk, {}).get("stuck", 0),
        )
        for node in Node.objects.defer(
            "inbound_cache", "orphans_first_seen", "last_reconcile_result"
        ).order_by("name")
    ]

    expiring = list(
        Subscription.objects.running(now)
        .filter(expires_at__lte=now + timedelta(days=DASHBOARD_EXPIRING_DAYS))
        .select_related("customer", "tariff")
        .order_by("expires_at")[:DASHBOARD_EXPIRING_LIST]
    )

    failed = WebhookEvent.objects.filter(
        status=WebhookEventStatus.FAILED, dismissed_at__isnull=True
    )
    webhooks_failed = list(
        failed.only("pk", "created_at", "provider", "event_key", "error", "payment_id").order_by(
            "-created_at", "-pk"
        )[:DASHBOARD_FAILED_LIST]
    )
    webhooks_failed_count = failed.count()

    return Dashboard(
        now=now,
        tz=tz,
        starts=starts,
        currency=currency,
        subscriptions_active=subscriptions["active"],
        subscriptions_expiring=subscriptions["expiring"],
        customers_total=customers["total"],
        customers_new={key: customers[f"new_{key}"] for key in starts},
        revenue=revenue,
        payments_paid=paid_counts,
        payments_by_provider=by_provider,
        revenue_chart=[DayPoint(day, by_day.get(day, Decimal("0.00"))) for day in days],
        active_chart=[
            DayPoint(day, subscriptions[f"day{index}"]) for index, day in enumerate(days)
        ],
        nodes=nodes,
        keys_error=sum(row.errors for row in nodes),
        keys_stuck=sum(row.stuck for row in nodes),
        stuck_before=stuck_before,
        expiring=expiring,
        webhooks_failed=webhooks_failed,
        webhooks_failed_count=webhooks_failed_count,
    )
