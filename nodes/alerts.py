"""Node down / up alerts to the admin chats (docs/console.md, "Alerts").

``node_alert_sync`` runs on every health transition and in the console's periodic check: "down"
when a node goes down, "up" when it is back. A node that flaps is not reported down again
within NODE_ALERT_FLAP_GUARD_MINUTES of its last alert; if it is still down when that guard
ends, the periodic check reports it then. So an outage gives one "down" and one "up", however
much the node flaps meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import escape

from nodes.models import Node, NodeHealth
from notifications.alerts import alert_send, alert_stamp
from notifications.models import OutboxAudience, OutboxMessage

logger = logging.getLogger(__name__)

NODE_DOWN = "node-down"
NODE_UP = "node-up"


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
        alert_send(
            text=text,
            kind=f"node-{actual}",
            dedupe_key=f"node-{actual}:{node.pk}:{alert_stamp(now)}",
        )
        return actual


def nodes_alert_sync(*, now: datetime | None = None) -> list[str]:
    """The periodic catch-up: report the enabled nodes whose state changed unreported."""
    sent = []
    for node_id in Node.objects.filter(is_enabled=True).values_list("pk", flat=True):
        if outcome := node_alert_sync(node_id=node_id, now=now):
            sent.append(outcome)
    return sent
