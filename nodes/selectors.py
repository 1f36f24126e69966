"""Reads about nodes and keys."""

from django.db.models import Count, Q, QuerySet

from nodes.models import Node, NodeClient, SyncState

# Keys that exist (or must exist) on their panel.
LIVE_KEY_STATES = (SyncState.PENDING, SyncState.SYNCED, SyncState.ERROR)


def nodes_with_load(*, nodes: QuerySet[Node]) -> QuerySet[Node]:
    """Annotate `load`: keys that occupy a slot on the node (everything not removed)."""
    return nodes.annotate(
        load=Count("clients", filter=~Q(clients__sync_state=SyncState.REMOVED), distinct=True)
    )


def node_loads(*, node_ids) -> dict[int, int]:
    """``nodes_with_load``'s `load` for `node_ids` (0 when none), in one grouped query over
    the keys alone: cheaper than the annotation's join for a page of a long list."""
    loads = dict.fromkeys(node_ids, 0)
    loads.update(
        NodeClient.objects.filter(node_id__in=loads)
        .exclude(sync_state=SyncState.REMOVED)
        .order_by()
        .values("node_id")
        .annotate(load=Count("id"))
        .values_list("node_id", "load")
    )
    return loads


def node_has_room(*, node: Node) -> bool:
    return node.max_clients == 0 or node.load < node.max_clients


def subscription_uuids(*, subscription_ids) -> dict[int, str]:
    """The client UUIDs of `subscription_ids` (their pk -> UUID), for telling our clients
    on a panel from look-alikes. The model is reached through the key's foreign key, so
    nodes does not import the subscriptions app, which sits above it."""
    subscription_model = NodeClient._meta.get_field("subscription").related_model
    return dict(
        subscription_model.objects.filter(pk__in=subscription_ids).values_list("pk", "client_uuid")
    )


def node_keys_for_sync(*, node: Node, key_ids: list[int] | None = None) -> list[NodeClient]:
    keys = NodeClient.objects.filter(node=node).exclude(sync_state=SyncState.REMOVED)
    if key_ids is not None:
        keys = keys.filter(pk__in=key_ids)
    # Only what a panel client is built from.
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
