"""An operator moves a subscription's keys to another node."""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.selectors import LIVE_KEY_STATES, node_has_room, nodes_with_load
from nodes.services.keys import key_email
from nodes.services.push import keys_push_on_commit
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.notifications import notify_keys_moved
from subscriptions.services.keys import _desired_fields, subscription_key_enabled


@transaction.atomic
def subscription_move(
    *,
    subscription: Subscription,
    node: Node,
    actor=None,
    reason: str = "",
    now: datetime | None = None,
) -> list[NodeClient]:
    """Move a subscription's keys to `node` (an operator's "move to another node").

    The live keys on other nodes become `removing` (deleted from their panels on commit), the
    key on `node` is created or brought back to life, each move is audited with the
    operator, and a customer who already had keys gets the new links. The subscription and
    the target node are row-locked, so a concurrent sync or placement waits. Returns the
    subscription's keys.
    """
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=subscription.pk)
    )
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise ApplicationError(
            f"Subscription #{subscription.pk} is {subscription.status}; only an active one moves.",
            {"subscription_id": subscription.pk},
        )
    if subscription.node_count == 0:
        raise ApplicationError(
            f"Subscription #{subscription.pk} is placed on every eligible node; nothing to move.",
            {"subscription_id": subscription.pk},
        )
    # Lock the node row first (as placement does), then count its load.
    locked_ids = list(Node.objects.select_for_update().filter(pk=node.pk).values_list("pk"))
    target = nodes_with_load(nodes=Node.objects.filter(pk__in=[pk for (pk,) in locked_ids]))
    target = target.first()
    if target is None or not target.is_enabled or target.health == NodeHealth.DOWN:
        raise ApplicationError(
            f"Node {node.name} is disabled or down; pick a healthy node.", {"node_id": node.pk}
        )
    keys = list(subscription.keys.select_related("node").order_by("pk"))
    on_target = next((key for key in keys if key.node_id == target.pk), None)
    moving = [k for k in keys if k.sync_state in LIVE_KEY_STATES and k.node_id != target.pk]
    if on_target is not None and on_target.sync_state in LIVE_KEY_STATES and not moving:
        raise ApplicationError(
            f"Subscription #{subscription.pk} is already on {target.name}.",
            {"subscription_id": subscription.pk, "node_id": target.pk},
        )
    occupies_slot = on_target is not None and on_target.sync_state != SyncState.REMOVED
    if not occupies_slot and not node_has_room(node=target):
        raise ApplicationError(
            f"Node {target.name} is full ({target.load} / {target.max_clients}).",
            {"node_id": target.pk},
        )

    enable = subscription_key_enabled(subscription=subscription, now=now)
    desired = _desired_fields(subscription, enable=enable)
    changed: list[NodeClient] = []
    for key in moving:
        key.sync_state = SyncState.REMOVING
        key.enable = False
        key.desired_version += 1
        key.attempts = 0
        key.save(
            update_fields=["sync_state", "enable", "desired_version", "attempts", "updated_at"]
        )
        changed.append(key)
    if on_target is None:
        on_target = NodeClient.objects.create(
            subscription=subscription,
            node=target,
            email=key_email(subscription_id=subscription.pk, node_id=target.pk),
            **desired,
        )
        keys.append(on_target)
        Node.objects.filter(pk=target.pk).update(assigned_total=F("assigned_total") + 1)
    else:
        for name, value in desired.items():
            setattr(on_target, name, value)
        on_target.sync_state = SyncState.PENDING
        on_target.desired_version += 1
        on_target.attempts = 0
        on_target.last_error = ""
        on_target.save(
            update_fields=[
                *desired,
                "sync_state",
                "desired_version",
                "attempts",
                "last_error",
                "updated_at",
            ]
        )
    changed.append(on_target)

    sources = ", ".join(key.node.name for key in moving) or "nowhere"
    for key in moving or [on_target]:
        audit_log_write(
            event_type=AuditEvent.KEY_MOVED,
            obj=key,
            acting_user=actor,
            actor_label="" if actor else "system",
            customer_id=subscription.customer_id,
            message=reason or f"subscription #{subscription.pk}: {key.node.name} → {target.name}",
            extra_data={
                "subscription_id": subscription.pk,
                "from_node_id": key.node_id if key is not on_target else None,
                "from_node": key.node.name if key is not on_target else None,
                "to_node_id": target.pk,
                "to_node": target.name,
                "to_key_id": on_target.pk,
                "sources": sources,
            },
        )
    if subscription.keys_notified_at:
        notify_keys_moved(subscription=subscription, node_down=False)
    keys_push_on_commit(keys=changed)
    return keys
