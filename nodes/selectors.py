"""Reads about nodes and keys."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from nodes.models import Node, NodeCheck, NodeClient, SyncState

# Keys that exist (or must exist) on their panel.
LIVE_KEY_STATES = (SyncState.PENDING, SyncState.SYNCED, SyncState.ERROR)


def nodes_with_load(*, nodes: QuerySet[Node]) -> QuerySet[Node]:
    """Annotate `load`: keys that occupy a slot on the node (everything not removed).

    A correlated subquery, not a join: counting the node list (and its filters' choices)
    then never walks the keys, and each node's count runs on the keys' node index."""
    load = (
        NodeClient.objects.filter(node=OuterRef("pk"))
        .exclude(sync_state=SyncState.REMOVED)
        .order_by()
        .values("node")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return nodes.annotate(load=Coalesce(Subquery(load), 0))


def node_loads(*, node_ids) -> dict[int, int]:
    """``nodes_with_load``'s `load` for `node_ids` (0 when none), in one grouped query over
    the keys alone: cheaper than the annotation's join for a page of a long list."""
    loads = dict.fromkeys(node_ids, 0)
    loads.update(
        NodeClient.objects.filter(node_id__in=loads)
        .exclude(sync_state=SyncState.REMOVED)
        .order_by()
        .values("node_id")
        .annotate(load=Count("id"))
        .values_list("node_id", "load")
    )
    return loads


def node_has_room(*, node: Node) -> bool:
    return node.max_clients == 0 or node.load < node.max_clients


def subscription_uuids(*, subscription_ids) -> dict[int, str]:
    """The client UUIDs of `subscription_ids` (their pk -> UUID), for telling our clients
    on a panel from look-alikes. The model is reached through the key's foreign key, so
    nodes does not import the subscriptions app, which sits above it."""
    subscription_model = NodeClient._meta.get_field("subscription").related_model
    return dict(
        subscription_model.objects.filter(pk__in=subscription_ids).values_list("pk", "client_uuid")
    )


def node_keys_for_sync(*, node: Node, key_ids: list[int] | None = None) -> list[NodeClient]:
    keys = NodeClient.objects.filter(node=node).exclude(sync_state=SyncState.REMOVED)
    if key_ids is not None:
        keys = keys.filter(pk__in=key_ids)
    # Only what a panel client is built from.
    keys = list(
        keys.select_related("subscription").only(
            *(f.name for f in NodeClient._meta.concrete_fields if f.name != "node"),
            "node_id",
            "subscription__id",
            "subscription__client_uuid",
            "subscription__sub_id",
        )
    )
    for key in keys:
        key.node = node  # one node object for all, instead of a query per key
    return keys


VISION_FLOW = "xtls-rprx-vision"


def inbound_flow(*, inbound: dict) -> str:
    """3x-ui's Vision flow for VLESS over raw TCP with TLS or REALITY, else none.

    `inbound` is a node's `inbound_cache`. Keys on the panel and links must agree on it.
    """
    stream = (inbound or {}).get("stream_settings") or {}
    network = stream.get("network") or "tcp"
    security = stream.get("security") or "none"
    return VISION_FLOW if network in {"tcp", "raw"} and security in {"tls", "reality"} else ""


TOP_KEYS = 10


@dataclass(frozen=True)
class CheckWindow:
    """The health checks of a window (the last 24 hours, the last 7 days)."""

    checks: int
    ok: int
    latency_ms: int | None  # mean over the checks the panel answered

    @property
    def failed(self) -> int:
        return self.checks - self.ok

    @property
    def uptime_percent(self) -> Decimal | None:
        """The share of checks that found the node serving, or None without checks."""
        if not self.checks:
            return None
        return (Decimal(self.ok * 100) / self.checks).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class CheckHour:
    at: datetime  # the hour's start
    checks: int
    ok: int
    latency_ms: int | None


@dataclass(frozen=True)
class NodeOverview:
    """What the node's page shows beside its form, in a fixed number of queries."""

    keys_by_state: dict[str, int]  # every SyncState, 0 when none
    load: int  # keys that occupy a slot (everything not removed)
    traffic_up: int  # bytes, summed over the keys on the node (not removed)
    traffic_down: int
    top_keys: list[NodeClient]
    weight_share: Decimal | None  # percent of the enabled nodes' weights; None if disabled
    keys_share: Decimal | None  # percent of every node's keys; None when there are none
    day: CheckWindow
    week: CheckWindow
    hours: list[CheckHour]  # the last 7 days by hour, oldest first, empty hours included
    last_failure: NodeCheck | None


def _percent(part: int, whole: int) -> Decimal | None:
    return (Decimal(part * 100) / whole).quantize(Decimal("0.1")) if whole else None


def node_overview_get(*, node: Node, now: datetime | None = None) -> NodeOverview:
    """Load, keys by state, traffic, the checks' history and the last failure of `node`:
    6 queries, whatever the number of keys and checks (aggregates only)."""
    now = now or timezone.now()
    keys = NodeClient.objects.filter(node=node).order_by()
    by_state = dict.fromkeys(SyncState.values, 0)
    up = down = 0
    for row in keys.values("sync_state").annotate(
        n=Count("id"), up=Sum("traffic_up"), down=Sum("traffic_down")
    ):
        by_state[row["sync_state"]] = row["n"]
        if row["sync_state"] != SyncState.REMOVED:
            up, down = up + (row["up"] or 0), down + (row["down"] or 0)
    load = sum(n for state, n in by_state.items() if state != SyncState.REMOVED)
    top_keys = list(
        keys.exclude(sync_state=SyncState.REMOVED)
        .annotate(traffic=F("traffic_up") + F("traffic_down"))
        .filter(traffic__gt=0)
        .select_related("subscription__customer")
        .only(
            "email",
            "sync_state",
            "traffic_up",
            "traffic_down",
            "node_id",
            "subscription__id",
            "subscription__customer__id",
            "subscription__customer__telegram_id",
            "subscription__customer__username",
            "subscription__customer__first_name",
        )
        .order_by("-traffic", "pk")[:TOP_KEYS]
    )
    weights = Node.objects.filter(is_enabled=True).aggregate(total=Sum("weight"))["total"] or 0
    all_keys = NodeClient.objects.exclude(sync_state=SyncState.REMOVED).count()

    # One grouped query gives the hours and, summed, both windows exactly (the day's checks
    # are counted by their own time, not by their hour).
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    in_day = Q(checked_at__gt=day_ago)
    rows = list(
        NodeCheck.objects.filter(node=node, checked_at__gt=week_ago, checked_at__lte=now)
        .annotate(hour=TruncHour("checked_at", tzinfo=UTC))
        .order_by()
        .values("hour")
        .annotate(
            n=Count("id"),
            ok_n=Count("id", filter=Q(ok=True)),
            timed=Count("latency_ms"),
            ms=Sum("latency_ms"),
            day_n=Count("id", filter=in_day),
            day_ok=Count("id", filter=in_day & Q(ok=True)),
            day_timed=Count("latency_ms", filter=in_day),
            day_ms=Sum("latency_ms", filter=in_day),
        )
    )
    last_failure = (
        NodeCheck.objects.filter(node=node, ok=False)
        .only("checked_at", "error", "node_id")
        .order_by("-checked_at")
        .first()
    )
    return NodeOverview(
        keys_by_state=by_state,
        load=load,
        traffic_up=up,
        traffic_down=down,
        top_keys=top_keys,
        weight_share=_percent(node.weight, weights) if node.is_enabled else None,
        keys_share=_percent(load, all_keys),
        day=_window(rows, "day_n", "day_ok", "day_timed", "day_ms"),
        week=_window(rows, "n", "ok_n", "timed", "ms"),
        hours=_hours({row["hour"]: row for row in rows}, since=week_ago, now=now),
        last_failure=last_failure,
    )


def _mean(total, count: int) -> int | None:
    return round(total / count) if count else None


def _window(rows: list[dict], checks: str, ok: str, timed: str, ms: str) -> CheckWindow:
    return CheckWindow(
        checks=sum(row[checks] for row in rows),
        ok=sum(row[ok] for row in rows),
        latency_ms=_mean(sum(row[ms] or 0 for row in rows), sum(row[timed] for row in rows)),
    )


def _hours(by_hour: dict, *, since: datetime, now: datetime) -> list[CheckHour]:
    """Every hour (UTC, as the query cut them) from the one holding `since` to the one
    holding `now`, the empty ones included."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= now:
        row = by_hour.get(hour)
        hours.append(
            CheckHour(hour, row["n"], row["ok_n"], _mean(row["ms"], row["timed"]))
            if row
            else CheckHour(hour, 0, 0, None)
        )
        hour += timedelta(hours=1)
    return hours
