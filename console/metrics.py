"""Series read from the database and the broker at each Prometheus scrape (docs/deploy.md,
"Metrics"): webhook outcomes, payments credited and their sum, revenue, node health and latency,
keys by sync state, the outbox backlog, active subscriptions and the Celery queue length.
Counted from rows when scraped, they are the same whichever process serves the scrape and
survive restarts.
The events counted where they happen live in core/metrics.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from accounts.models import Customer
from billing.models import WebhookEvent, WebhookEventStatus
from billing.selectors import payments_credited_totals, revenue_by_currency
from core.metrics import celery_queue_length, celery_queue_names, metrics_render
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus
from subscriptions.models import Subscription

logger = logging.getLogger(__name__)


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
        for row in payments_credited_totals():
            credited.add_metric([row["provider"], row["currency"]], row["count"])
            credited_sum.add_metric([row["provider"], row["currency"]], float(row["amount"] or 0))
        yield credited
        yield credited_sum
        revenue = GaugeMetricFamily(
            "vpnsite_revenue_amount",
            "Revenue: the sum of the payments paid and not refunded, by currency.",
            labels=["currency"],
        )
        for currency, amount in revenue_by_currency().items():
            revenue.add_metric([currency], float(amount))
        yield revenue

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
            value=Subscription.objects.running(now).count(),
        )
        yield GaugeMetricFamily(
            "vpnsite_customers", "Customers (bot users) known.", value=Customer.objects.count()
        )

    def _broker(self) -> Iterable[Metric]:
        queue = GaugeMetricFamily(
            "vpnsite_celery_queue_length",
            "Celery messages waiting in the queue (not yet taken by a worker).",
            labels=["queue"],
        )
        for name in celery_queue_names():
            length = celery_queue_length(queue=name)
            if length is not None:
                queue.add_metric([name], length)
        yield queue


def console_metrics_render() -> tuple[bytes, str]:
    """Every series: the events (core/metrics.py) and the state read now."""
    return metrics_render(collectors=[StateCollector()])
