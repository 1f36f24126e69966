"""The health checks' history (``NodeCheck``): one row per check, pruned after a retention."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from nodes.models import Node, NodeCheck

PRUNE_BATCH = 5000


def node_check_record(
    *, node: Node, checked_at: datetime, ok: bool, latency_ms: int | None, error: str = ""
) -> NodeCheck:
    """One check's row (``nodes.services.health.node_health_check`` writes one per check)."""
    return NodeCheck.objects.create(
        node=node,
        checked_at=checked_at,
        ok=ok,
        latency_ms=latency_ms,
        error=error[: NodeCheck._meta.get_field("error").max_length],
    )


def node_checks_prune(*, now: datetime | None = None) -> int:
    """Delete the checks older than NODE_CHECK_RETENTION_DAYS (a check exactly that old
    stays), node by node along the (node, checked_at) index, in batches; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.NODE_CHECK_RETENTION_DAYS)
    deleted = 0
    for node_id in Node.objects.order_by().values_list("pk", flat=True):
        while True:
            batch = list(
                NodeCheck.objects.filter(node_id=node_id, checked_at__lt=cutoff)
                .order_by()
                .values_list("pk", flat=True)[:PRUNE_BATCH]
            )
            if not batch:
                break
            deleted += NodeCheck.objects.filter(pk__in=batch).delete()[0]
    return deleted
