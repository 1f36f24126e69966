"""Health checks: a node's panel answers, or after enough failures the node is down."""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from nodes import signals
from nodes.alerts import node_alert_sync
from nodes.models import Node, NodeHealth
from nodes.services.checks import node_check_record
from nodes.services.clients import (
    _generation_remember,
    _login_ok,
    _login_refused,
    x3ui_client_for_node,
)
from nodes.tasks import node_reconcile_task
from nodes.x3ui import X3UIError, X3UILoginRefused

logger = logging.getLogger(__name__)


def node_health_check(*, node: Node, now: datetime | None = None) -> str:
    """Log in, read the server status and the inbound; update health, alert on transitions.

    After NODE_DOWN_AFTER_FAILURES failures in a row the node is down: it takes no new
    keys, admins are told once, and ``nodes.signals.node_down`` is sent (the subscriptions
    app re-places the keys stranded on it). On the first success after being down it is up
    again, admins are told, and it is reconciled. Every check leaves one ``NodeCheck`` row
    (``nodes.services.checks``): the node page's latency and uptime history.
    """
    now = now or timezone.now()
    client = x3ui_client_for_node(node=node)
    logins = client.login_count
    started = time.monotonic()
    try:
        status = client.server_status()
        inbound = client.get_inbound()
        if not client.generation:
            client.detect_generation()  # once per node; remembered on the Node row
    except X3UIError as exc:
        if isinstance(exc, X3UILoginRefused):
            _login_refused(node, exc, now=now)
        return _health_failure(node, str(exc) or exc.__class__.__name__, now=now)
    finally:
        _generation_remember(node, client)
    _login_ok(node, client, logins)
    latency_ms = round((time.monotonic() - started) * 1000)
    degraded = not status.xray_running or latency_ms > settings.NODE_DEGRADED_LATENCY_MS
    new_health = NodeHealth.DEGRADED if degraded else NodeHealth.UP
    was = node.health
    Node.objects.filter(pk=node.pk).update(
        health=new_health,
        consecutive_failures=0,
        last_check_at=now,
        last_ok_at=now,
        latency_ms=latency_ms,
        last_error="" if not degraded else f"xray {status.xray_state}",
        inbound_cache=inbound.to_cache(),
        inbound_cached_at=now,
        updated_at=now,
    )
    node_check_record(
        node=node,
        checked_at=now,
        ok=status.xray_running,
        latency_ms=latency_ms,
        error="" if status.xray_running else f"xray {status.xray_state}",
    )
    node.health = new_health
    if was == NodeHealth.DOWN:
        logger.warning("node %s is back (%s ms)", node.name, latency_ms)
        with transaction.atomic():
            node_alert_sync(node_id=node.pk, now=now, detail=f"{latency_ms} ms; reconciling")
            transaction.on_commit(lambda: node_reconcile_task.delay(node.pk))
    return new_health


def _health_failure(node: Node, error: str, *, now: datetime) -> str:
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        failures = locked.consecutive_failures + 1
        goes_down = (
            failures >= settings.NODE_DOWN_AFTER_FAILURES and locked.health != NodeHealth.DOWN
        )
        locked.consecutive_failures = failures
        locked.last_check_at = now
        locked.last_error = error[:2000]
        if goes_down:
            locked.health = NodeHealth.DOWN
        elif locked.health == NodeHealth.UP:
            locked.health = NodeHealth.DEGRADED
        locked.save(
            update_fields=[
                "consecutive_failures",
                "last_check_at",
                "last_error",
                "health",
                "updated_at",
            ]
        )
        node.health, node.consecutive_failures = locked.health, failures
        node_check_record(node=node, checked_at=now, ok=False, latency_ms=None, error=error)
        if goes_down:
            logger.error("node %s is down after %s failures: %s", node.name, failures, error)
            node_alert_sync(
                node_id=node.pk,
                now=now,
                detail=(
                    f"{failures} failed checks in a row ({error[:300]}); "
                    "its subscriptions are being re-placed"
                ),
            )
    if goes_down:
        signals.node_down.send(sender=Node, node=node)
    return node.health
