"""Celery tasks for nodes: push, reconcile, health. Each takes a node's id (the push also the
keys that changed there, so a panel gets one batched call), is idempotent and retries only
transient errors."""

import logging
import random
import time

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


def provision_backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(
        settings.NODE_PROVISION_BACKOFF_BASE * (2**retries), settings.NODE_PROVISION_BACKOFF_MAX
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    ignore_result=True,
    max_retries=None,
)
def node_keys_push_task(self, node_id: int, key_ids: list[int]) -> dict:
    """Push the desired state of `key_ids` to the panel of `node_id`."""
    from core.metrics import provisioning_observe
    from nodes.models import Node
    from nodes.services.push import node_keys_push, node_keys_push_failed
    from nodes.x3ui import X3UIAuthError, X3UIUnavailable

    final = self.request.retries >= settings.NODE_PROVISION_MAX_RETRIES
    started = time.perf_counter()

    def observe(result: str) -> None:
        try:
            name = Node.objects.filter(pk=node_id).values_list("name", flat=True).first()
        except Exception:  # noqa: BLE001 - the metric must not mask the task's own error
            name = None
        provisioning_observe(
            node=name or f"#{node_id}", result=result, seconds=time.perf_counter() - started
        )

    try:
        result = node_keys_push(node_id=node_id, key_ids=key_ids, final_attempt=final)
    except (X3UIUnavailable, X3UIAuthError) as exc:
        observe("failed" if final else "retry")
        if final:
            node_keys_push_failed(node_id=node_id, key_ids=key_ids, error=str(exc))
            return {"failed": len(key_ids)}
        raise self.retry(exc=exc, countdown=provision_backoff(self.request.retries)) from None
    except Exception:
        observe("error")
        raise
    counts = result.as_dict()
    if result.deferred:
        observe("deferred")
    elif result.errors:
        observe("rejected")
    else:
        done = counts["added"] + counts["updated"] + counts["removed"] + counts["unchanged"]
        observe("ok" if done else "noop")
    return counts


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def node_reconcile_task(node_id: int) -> dict:
    """Converge one panel to the database."""
    from nodes.models import Node
    from nodes.services.reconcile import node_reconcile
    from nodes.x3ui import X3UIError

    node = Node.objects.get(pk=node_id)
    try:
        return node_reconcile(node=node)
    except X3UIError as exc:
        logger.warning("reconcile of %s failed: %s", node.name, exc)
        return {"ok": False, "error": str(exc)}


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def nodes_reconcile_task() -> int:
    """Beat: reconcile every enabled node that is not down."""
    from nodes.models import Node, NodeHealth

    node_ids = list(
        Node.objects.filter(is_enabled=True)
        .exclude(health=NodeHealth.DOWN)
        .values_list("pk", flat=True)
    )
    for node_id in node_ids:
        node_reconcile_task.delay(node_id)
    return len(node_ids)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def node_health_check_task(node_id: int) -> str:
    """Check one node's panel."""
    from nodes.models import Node
    from nodes.services.health import node_health_check

    return node_health_check(node=Node.objects.get(pk=node_id))


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60, ignore_result=True)
def nodes_health_check_task() -> int:
    """Beat: fan out one health check per enabled node."""
    from nodes.models import Node

    node_ids = list(Node.objects.filter(is_enabled=True).values_list("pk", flat=True))
    for node_id in node_ids:
        node_health_check_task.delay(node_id)
    return len(node_ids)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=330, ignore_result=True)
def node_checks_prune_task() -> int:
    """Beat (hourly): delete health checks older than NODE_CHECK_RETENTION_DAYS."""
    from nodes.services.checks import node_checks_prune

    return node_checks_prune()
