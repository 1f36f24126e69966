"""Placement: which nodes take a subscription's new keys (smooth weighted round-robin)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.selectors import LIVE_KEY_STATES, node_has_room, nodes_with_load
from subscriptions.models import Subscription
from subscriptions.selectors import nodes_eligible


def _candidates_locked(candidates) -> list[Node]:
    """Lock the candidate rows in primary-key order, then return those with room, with load.

    PostgreSQL cannot lock a grouped query, so the lock and the load count are two queries.
    """
    locked_ids = list(candidates.select_for_update().order_by("pk").values_list("pk", flat=True))
    if not locked_ids:
        return []
    return [
        node
        for node in nodes_with_load(nodes=Node.objects.filter(pk__in=locked_ids)).order_by("pk")
        if node_has_room(node=node)
    ]


def _eligible_in_country(*, tariff, country: str, exclude_node_ids=()) -> list[Node]:
    """The eligible nodes with room (locked), those in `country` when it names one that has
    any: a subscriber's country is honoured while it can be, but a subscription never goes
    without keys because its country is full or down (its card shows where the keys are)."""
    eligible = nodes_eligible(tariff=tariff).exclude(pk__in=list(exclude_node_ids))
    if country:
        in_country = _candidates_locked(eligible.filter(country__iexact=country))
        if in_country:
            return in_country
    return _candidates_locked(eligible)


def node_pick_for_new_client(*, tariff, exclude_node_ids=(), country: str = "") -> Node | None:
    """Smooth weighted round-robin over enabled, not-down, eligible nodes with room (in
    `country` when it has such nodes: ``_eligible_in_country``).

    Must run inside a transaction: the candidate rows are locked in primary-key order (no
    deadlocks), so concurrent purchases take turns and no node is filled past
    `max_clients`. The pick is deterministic: the node whose next share
    `(assigned_total + 1) / weight` is smallest, ties to the lowest id; healthy nodes are
    preferred to degraded or unchecked ones.
    """
    nodes = _eligible_in_country(tariff=tariff, country=country, exclude_node_ids=exclude_node_ids)
    if not nodes:
        return None
    preference = {NodeHealth.UP: 0, NodeHealth.UNKNOWN: 1, NodeHealth.DEGRADED: 2}
    best_rank = min(preference.get(n.health, 3) for n in nodes)
    nodes = [n for n in nodes if preference.get(n.health, 3) == best_rank]
    chosen = min(nodes, key=lambda n: ((n.assigned_total + 1) / n.weight, n.pk))
    Node.objects.filter(pk=chosen.pk).update(assigned_total=F("assigned_total") + 1)
    chosen.assigned_total += 1
    return chosen


def _keys_serving(keys: list[NodeClient]) -> list[NodeClient]:
    """The live keys on enabled nodes that are not down."""
    return [
        k
        for k in keys
        if k.sync_state in LIVE_KEY_STATES
        and k.node.is_enabled
        and k.node.health != NodeHealth.DOWN
    ]


def _nodes_to_place(
    subscription: Subscription, keys: list[NodeClient], exclude_node_ids=frozenset()
) -> list[Node]:
    """Nodes that should receive a new key for `subscription`.

    A node holds a slot while the key there is not removed, and for NODE_REFUSED_AVOID_HOURS
    after it refused the key (removed without ever being synced, `failover.key_replace_elsewhere`),
    so a subscription refused everywhere does not bounce between nodes.
    """
    refused_since = timezone.now() - timedelta(hours=settings.NODE_REFUSED_AVOID_HOURS)
    occupied = {
        k.node_id
        for k in keys
        if k.sync_state != SyncState.REMOVED
        or (k.synced_version == 0 and k.updated_at >= refused_since)
    } | set(exclude_node_ids)
    live = _keys_serving(keys)
    if subscription.node_count == 0:
        return _eligible_in_country(
            tariff=subscription.tariff, country=subscription.country, exclude_node_ids=occupied
        )
    picked = []
    for _ in range(max(subscription.node_count - len(live), 0)):
        node = node_pick_for_new_client(
            tariff=subscription.tariff,
            exclude_node_ids=occupied | {n.pk for n in picked},
            country=subscription.country,
        )
        if node is None:
            break
        picked.append(node)
    return picked
