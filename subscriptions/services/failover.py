"""Failover: keys leave a node that went down, or one whose panel refused them."""

from django.db import transaction

from nodes.models import Node, NodeClient, SyncState
from nodes.selectors import LIVE_KEY_STATES
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.keys import (
    subscription_keys_converge,
    subscription_keys_converge_in_lock,
)
from subscriptions.services.placement import _keys_serving


@transaction.atomic
def key_replace_elsewhere(*, key_id: int, reason: str) -> bool:
    """Place the subscription of a never-placed, refused key on another node, if one can.

    Called when a panel refused the key's add (``nodes.signals.key_refused``).
    """
    key = (
        NodeClient.objects.select_for_update()
        .filter(pk=key_id, sync_state=SyncState.ERROR, synced_version=0)
        .first()
    )
    if key is None:
        return False
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=key.subscription_id)
    )
    if subscription.status != SubscriptionStatus.ACTIVE:
        return False
    key.sync_state = SyncState.REMOVED  # nothing of ours is on that panel
    key.save(update_fields=["sync_state", "updated_at"])
    keys = subscription_keys_converge_in_lock(
        subscription=subscription, reason=reason, exclude_node_ids={key.node_id}
    )
    working = (SyncState.PENDING, SyncState.SYNCED)
    if any(k.node_id != key.node_id and k.sync_state in working for k in _keys_serving(keys)):
        return True
    key.sync_state = SyncState.ERROR  # nowhere else to go: keep trying here
    key.save(update_fields=["sync_state", "updated_at"])
    return False


def node_failover(*, node: Node) -> int:
    """Re-place every active subscription that has no live key left on a healthy node.

    Called when `node` went down (``nodes.signals.node_down``).
    """
    subscription_ids = list(
        NodeClient.objects.filter(node=node, sync_state__in=LIVE_KEY_STATES)
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    moved = 0
    for subscription in Subscription.objects.filter(
        pk__in=subscription_ids, status=SubscriptionStatus.ACTIVE
    ):
        keys = subscription_keys_converge(subscription=subscription, reason=f"{node.name} is down")
        moved += any(k.node_id != node.pk and k.sync_state == SyncState.PENDING for k in keys)
    return moved
