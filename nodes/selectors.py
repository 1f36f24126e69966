"""Reads about nodes and keys."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from nodes.models import Node, NodeClient, NodeHealth, SyncState
from subscriptions.models import Subscription, SubscriptionStatus, Tariff

# Keys that exist (or must exist) on their panel.
LIVE_KEY_STATES = (SyncState.PENDING, SyncState.SYNCED, SyncState.ERROR)


def nodes_eligible(*, tariff: Tariff | None) -> QuerySet[Node]:
    """Enabled nodes with positive weight that are not down and that the tariff allows."""
    nodes = Node.objects.filter(is_enabled=True, weight__gt=0).exclude(health=NodeHealth.DOWN)
    if tariff is not None and tariff.pk:
        # A tariff without a node list may use every node; one query either way.
        allowed = Tariff.eligible_nodes.through.objects.filter(tariff_id=tariff.pk)
        nodes = nodes.filter(~Exists(allowed) | Exists(allowed.filter(node_id=OuterRef("pk"))))
    return nodes


def nodes_with_load(*, nodes: QuerySet[Node]) -> QuerySet[Node]:
    """Annotate `load`: keys that occupy a slot on the node (everything not removed)."""
    return nodes.annotate(
        load=Count("clients", filter=~Q(clients__sync_state=SyncState.REMOVED), distinct=True)
    )


def node_has_room(*, node: Node) -> bool:
    return node.max_clients == 0 or node.load < node.max_clients


def subscription_keys_live(*, subscription: Subscription) -> list[NodeClient]:
    """Keys that serve the customer: live state, on an enabled node that is not down."""
    return list(
        subscription.keys.select_related("node")
        .filter(sync_state__in=LIVE_KEY_STATES, node__is_enabled=True)
        .exclude(node__health=NodeHealth.DOWN)
    )


def subscriptions_short_of_keys() -> QuerySet[Subscription]:
    """Active subscriptions without any live key on a healthy node (to place or re-place).

    A placement task lost after a payment is made good here by the reconcile beat: a new
    subscription has no key at all. (Partly placed ones are left out on purpose: a tariff
    asking for more nodes than are up would be re-synced, locking node rows, every run.)
    """
    healthy_live = Q(
        keys__sync_state__in=LIVE_KEY_STATES,
        keys__node__is_enabled=True,
    ) & ~Q(keys__node__health=NodeHealth.DOWN)
    return (
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        .annotate(live=Count("keys", filter=healthy_live, distinct=True))
        .filter(live=0)
        .order_by("pk")
    )


def node_keys_for_sync(*, node: Node, key_ids: list[int] | None = None) -> list[NodeClient]:
    keys = NodeClient.objects.filter(node=node).exclude(sync_state=SyncState.REMOVED)
    if key_ids is not None:
        keys = keys.filter(pk__in=key_ids)
    # Only what a panel client is built from: 2,000 keys load in a few milliseconds.
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
