"""Prometheus metrics served at /metrics (prometheus-client; docs/deploy.md, "Metrics").

Two kinds of series, chosen for being correct when web, worker and bot are separate processes
(and, under docker compose, separate containers):

- **State read at scrape time** (`StateCollector`): everything the database already records
  is counted from its rows when Prometheus scrapes, so it is the same whichever process
  serves the scrape and survives restarts: webhook outcomes (WebhookEvent), payments credited
  and their sum (Payment), node health and latency (Node), keys by sync state (NodeClient),
  the outbox backlog (OutboxMessage), active subscriptions, and the Celery queue length
  (Redis LLEN, or the filesystem broker's message files).
- **Events counted where they happen**: HTTP requests (web), provisioning results and latency
  (worker), bot updates and handler latency (bot). These are prometheus_client counters and
  histograms; with PROMETHEUS_MULTIPROC_DIR set they live in per-process files in a folder all
  containers share (core/metrics_files.py), otherwise in this process only.

Recording helpers never raise: a metrics failure must not fail a payment or a request.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from core import metrics_files

MULTIPROCESS = metrics_files.multiprocess_enable()  # before any metric is created

from prometheus_client import (  # noqa: E402 - after choosing the value class
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)

logger = logging.getLogger(__name__)

# --- Events ----------------------------------------------------------------------------------

EVENTS = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PANEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "vpnsite_http_requests",
    "HTTP requests answered, by view (URL name), method and status code.",
    ["view", "method", "status"],
    registry=EVENTS,
)
HTTP_DURATION = Histogram(
    "vpnsite_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    buckets=LATENCY_BUCKETS,
    registry=EVENTS,
)
PROVISIONING = Counter(
    "vpnsite_provisioning",
    "Key pushes to a panel (one Celery task each) by node and result: ok, noop, deferred "
    "(node down or disabled), rejected (the panel refused a key), retry, failed (last retry), "
    "error (unexpected).",
    ["node", "result"],
    registry=EVENTS,
)
PROVISIONING_DURATION = Histogram(
    "vpnsite_provisioning_duration_seconds",
    "Time of one key push to a panel, by node.",
    ["node"],
    buckets=PANEL_BUCKETS,
    registry=EVENTS,
)
BOT_UPDATES = Counter(
    "vpnsite_bot_updates",
    "Telegram updates handled by the bot, by kind (message, callback_query, ...) and result "
    "(ok, error: a handler raised).",
    ["kind", "result"],
    registry=EVENTS,
)
BOT_DURATION = Histogram(
    "vpnsite_bot_update_duration_seconds",
    "Time the bot's handlers took for one update, Bot API calls included, by kind.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
    registry=EVENTS,
)


def _record(action, *args) -> None:
    try:
        action(*args)
    except Exception:  # metrics never break the caller
        logger.warning("metrics: recording failed", exc_info=True)


def http_request_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    _record(lambda: HTTP_REQUESTS.labels(view, method, str(status)).inc())
    _record(lambda: HTTP_DURATION.labels(view).observe(seconds))


def provisioning_observe(*, node: str, result: str, seconds: float) -> None:
    _record(lambda: PROVISIONING.labels(node, result).inc())
    _record(lambda: PROVISIONING_DURATION.labels(node).observe(seconds))


def bot_update_observe(*, kind: str, result: str, seconds: float) -> None:
    _record(lambda: BOT_UPDATES.labels(kind, result).inc())
    _record(lambda: BOT_DURATION.labels(kind).observe(seconds))


# --- State read at scrape time ---------------------------------------------------------------


def celery_queue_length(*, queue: str = "celery") -> int | None:
    """Messages waiting in a Celery queue: Redis LLEN, or the filesystem broker's files.

    None when the broker cannot be asked (unknown transport); raises on a broker failure.
    """
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
    if url.startswith(("filesystem://", "filesystem-atomic://")):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        suffix = f".{queue}.msg"
        return sum(1 for path in folder.iterdir() if path.name.endswith(suffix))
    return None


class StateCollector:
    """Series computed from the database and the broker at each scrape (a few aggregates)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "vpnsite_metrics_source_up",
            "1 when the source could be read for this scrape (database, broker).",
            labels=["source"],
        )
        for source, reader in (("database", self._database), ("broker", self._broker)):
            try:
                metrics = list(reader())
            except Exception:  # a scrape shows the failure instead of a 500
                logger.warning("metrics: could not read %s", source, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from metrics
        yield up

    def _database(self) -> Iterable[Metric]:
        from django.conf import settings
        from django.db.models import Count, Min, Sum
        from django.utils import timezone

        from accounts.models import Customer
        from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
        from nodes.models import Node, NodeClient, NodeHealth, SyncState
        from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus
        from subscriptions.models import Subscription, SubscriptionStatus

        now = timezone.now()

        outcomes = CounterMetricFamily(
            "vpnsite_webhook_events",
            "Payment notifications received, by provider and result (processed = credited, "
            "duplicate, rejected, failed, received = being handled).",
            labels=["provider", "result"],
        )
        # Every configured provider shows every result, at 0 until it happens (alerts can
        # then tell "none" from "no data").
        statuses = WebhookEventStatus.values
        counts = {(p, status): 0 for p in settings.BILLING_PROVIDERS for status in statuses}
        for row in (
            WebhookEvent.objects.order_by().values("provider", "status").annotate(n=Count("id"))
        ):
            counts[(row["provider"], row["status"])] = row["n"]
        for (provider, status), count in sorted(counts.items()):
            outcomes.add_metric([provider, status], count)
        yield outcomes

        rejections = CounterMetricFamily(
            "vpnsite_webhook_rejections",
            "Rejected payment notifications by provider and reason (signature_mismatch, ...).",
            labels=["provider", "reason"],
        )
        for row in (
            WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED)
            .order_by()
            .values("provider", "outcome")
            .annotate(n=Count("id"))
        ):
            rejections.add_metric([row["provider"], row["outcome"]], row["n"])
        yield rejections

        credited = CounterMetricFamily(
            "vpnsite_payments_credited",
            "Payments credited (paid, including those refunded later), by provider and currency.",
            labels=["provider", "currency"],
        )
        credited_sum = CounterMetricFamily(
            "vpnsite_payments_credited_amount",
            "Sum of the payments credited, by provider and currency.",
            labels=["provider", "currency"],
        )
        for row in (
            Payment.objects.filter(
                status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED], paid_at__isnull=False
            )
            .order_by()
            .values("provider", "currency")
            .annotate(n=Count("id"), amount=Sum("amount"))
        ):
            credited.add_metric([row["provider"], row["currency"]], row["n"])
            credited_sum.add_metric([row["provider"], row["currency"]], float(row["amount"] or 0))
        yield credited
        yield credited_sum

        health = GaugeMetricFamily(
            "vpnsite_node_health",
            "1 for the node's current health state (up, degraded, down, unknown), else 0.",
            labels=["node", "state"],
        )
        node_up = GaugeMetricFamily(
            "vpnsite_node_up", "1 when the node takes keys (up or degraded).", labels=["node"]
        )
        latency = GaugeMetricFamily(
            "vpnsite_node_latency_seconds",
            "Duration of the node's last successful health check.",
            labels=["node"],
        )
        failures = GaugeMetricFamily(
            "vpnsite_node_consecutive_failures",
            "Failed health checks in a row.",
            labels=["node"],
        )
        enabled = GaugeMetricFamily(
            "vpnsite_node_enabled", "1 when the operator has the node enabled.", labels=["node"]
        )
        for node in Node.objects.order_by("name").values(
            "name", "health", "latency_ms", "consecutive_failures", "is_enabled"
        ):
            name = node["name"]
            for state in NodeHealth.values:
                health.add_metric([name, state], 1 if node["health"] == state else 0)
            node_up.add_metric(
                [name], 1 if node["health"] in (NodeHealth.UP, NodeHealth.DEGRADED) else 0
            )
            if node["latency_ms"] is not None:
                latency.add_metric([name], node["latency_ms"] / 1000)
            failures.add_metric([name], node["consecutive_failures"])
            enabled.add_metric([name], 1 if node["is_enabled"] else 0)
        yield from (health, node_up, latency, failures, enabled)

        keys = GaugeMetricFamily(
            "vpnsite_keys",
            "Keys (subscription x node) by node and sync state.",
            labels=["node", "state"],
        )
        counts = {
            (row["node__name"], row["sync_state"]): row["n"]
            for row in NodeClient.objects.order_by()
            .values("node__name", "sync_state")
            .annotate(n=Count("id"))
        }
        for node_name in sorted({node_name for node_name, _ in counts}):
            for state in SyncState.values:
                keys.add_metric([node_name, state], counts.get((node_name, state), 0))
        yield keys

        backlog = GaugeMetricFamily(
            "vpnsite_outbox_backlog",
            "Telegram messages not yet sent (pending or being sent), by audience.",
            labels=["audience"],
        )
        oldest = GaugeMetricFamily(
            "vpnsite_outbox_oldest_pending_age_seconds",
            "Age of the oldest message waiting to be sent (0 when none).",
        )
        oldest_at = None
        waiting = dict.fromkeys(OutboxAudience.values, 0)
        for row in (
            OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING])
            .order_by()
            .values("audience")
            .annotate(n=Count("id"), oldest=Min("created_at"))
        ):
            waiting[row["audience"]] = row["n"]
            oldest_at = min(filter(None, [oldest_at, row["oldest"]]), default=None)
        for audience, count in waiting.items():
            backlog.add_metric([audience], count)
        oldest.add_metric([], (now - oldest_at).total_seconds() if oldest_at else 0)
        yield backlog
        yield oldest

        yield GaugeMetricFamily(
            "vpnsite_subscriptions_active",
            "Subscriptions active and not past their end.",
            value=Subscription.objects.filter(
                status=SubscriptionStatus.ACTIVE, expires_at__gt=now
            ).count(),
        )
        yield GaugeMetricFamily(
            "vpnsite_customers", "Customers (bot users) known.", value=Customer.objects.count()
        )

    def _broker(self) -> Iterable[Metric]:
        length = celery_queue_length()
        queue = GaugeMetricFamily(
            "vpnsite_celery_queue_length",
            "Celery messages waiting in the queue (not yet taken by a worker).",
            labels=["queue"],
        )
        if length is not None:
            queue.add_metric(["celery"], length)
        yield queue


class _Forward:
    """Exposes another registry's metrics (this process's events, multiprocess mode off)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def metrics_render() -> tuple[bytes, str]:
    """The exposition text of every series and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = metrics_files.metrics_directory()
    if MULTIPROCESS and directory is not None:
        registry.register(metrics_files.FilesCollector(directory))
    else:
        registry.register(_Forward(EVENTS))
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --- Who may read /metrics -----------------------------------------------------------------


def metrics_access_refusal(
    *, authorization: str, remote_addr: str, forwarded_for: str | None
) -> int | None:
    """None when the scrape is allowed, else the status to answer.

    Neither METRICS_TOKEN nor METRICS_ALLOWED_IPS set: 404 (the endpoint is off). Every
    configured check must pass: the client address (behind TRUSTED_PROXY_IPS, as the payment
    webhooks resolve it) in METRICS_ALLOWED_IPS, else 403; `Authorization: Bearer <token>`
    equal to METRICS_TOKEN (compared in constant time), else 401.
    """
    from django.conf import settings

    from core.net import client_ip, ip_allowed

    token = settings.METRICS_TOKEN
    allowed = settings.METRICS_ALLOWED_IPS
    if not token and not allowed:
        return 404
    if allowed:
        address = client_ip(
            remote_addr=remote_addr,
            forwarded_for=forwarded_for,
            trusted_proxies=settings.TRUSTED_PROXY_IPS,
        )
        if not ip_allowed(ip=address, allowed=allowed):
            return 403
    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return 401
    return None
