"""Reads for the bot's admin commands."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Customer
from billing.selectors import payments_revenue
from nodes.models import Node, NodeHealth
from subscriptions.models import Subscription

REVENUE_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class BotStats:
    """The operator's one-screen summary for /stats."""

    customers_total: int
    customers_new_today: int
    subscriptions_active: int
    nodes_up: int
    nodes_degraded: int
    nodes_down: int
    nodes_unknown: int
    nodes_disabled: int
    # Amounts per currency ("RUB": Decimal("1500.00")); a currency without payments is absent.
    revenue_today: dict[str, Decimal] = field(default_factory=dict)
    revenue_30d: dict[str, Decimal] = field(default_factory=dict)


def _day_start(now: datetime) -> datetime:
    """Midnight of `now`'s day in the site's time zone (TIME_ZONE), as an aware datetime."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def bot_stats_get(*, now: datetime | None = None) -> BotStats:
    """Counts and revenue in four aggregate queries, whatever the size of the tables.

    "Today" starts at local midnight; revenue is billing's one definition
    (``billing.selectors.payments_revenue``): paid payments by `paid_at`, per currency.
    """
    now = now or timezone.now()
    today = _day_start(now)

    customers = Customer.objects.aggregate(
        total=Count("id"), new_today=Count("id", filter=Q(created_at__gte=today))
    )
    subscriptions_active = Subscription.objects.running(now).count()
    enabled = Q(is_enabled=True)
    nodes = Node.objects.aggregate(
        up=Count("id", filter=enabled & Q(health=NodeHealth.UP)),
        degraded=Count("id", filter=enabled & Q(health=NodeHealth.DEGRADED)),
        down=Count("id", filter=enabled & Q(health=NodeHealth.DOWN)),
        unknown=Count("id", filter=enabled & Q(health=NodeHealth.UNKNOWN)),
        disabled=Count("id", filter=Q(is_enabled=False)),
    )
    revenue_rows = (
        payments_revenue(since=now - REVENUE_WINDOW, until=now)
        .values("currency")
        .annotate(
            today=Sum("amount", filter=Q(paid_at__gte=today)),
            month=Sum("amount"),
        )
        .order_by("currency")
    )
    revenue_today: dict[str, Decimal] = {}
    revenue_30d: dict[str, Decimal] = {}
    for row in revenue_rows:
        revenue_30d[row["currency"]] = row["month"] or Decimal("0")
        if row["today"]:
            revenue_today[row["currency"]] = row["today"]

    return BotStats(
        customers_total=customers["total"],
        customers_new_today=customers["new_today"],
        subscriptions_active=subscriptions_active,
        nodes_up=nodes["up"],
        nodes_degraded=nodes["degraded"],
        nodes_down=nodes["down"],
        nodes_unknown=nodes["unknown"],
        nodes_disabled=nodes["disabled"],
        revenue_today=revenue_today,
        revenue_30d=revenue_30d,
    )
