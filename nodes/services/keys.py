"""A key as its panel holds it: email, subId, our marker, the client we want there."""

from nodes.models import NodeClient
from nodes.selectors import inbound_flow
from nodes.x3ui import PanelClient, X3UIForeignClient

# Marks a panel client as ours. A client is ours only when it carries this marker *and* our
# UUID for the subscription the marker names; any other client is never touched.
OURS_COMMENT_PREFIX = "vpnsite:"


def key_email(*, subscription_id: int, node_id: int) -> str:
    """A new key's email: unique per node, so two nodes on one panel never share a client.

    3x-ui v3.1+ keys clients by email across all inbounds of a panel (update and delete act
    on every inbound the email is attached to), so a subscription's keys on two inbounds of
    the same panel must not share it. Keys created before this rule keep ``s<id>``.
    """
    return f"s{subscription_id}n{node_id}"


def key_sub_id(*, key: NodeClient) -> str:
    """The key's 3x-ui ``subId``: per node for the same reason (v3.1+ refuses a subId that
    another email holds). Our feed does not use it; the panel's own subscription page does.

    A key made before the per-node rule (email ``s<id>``) keeps the subscription's subId: a
    new one would rewrite every such client once, and on v3.1+ a record shared by two
    inbounds would be rewritten by each node in turn.
    """
    subscription = key.subscription
    if key.email == f"s{subscription.pk}":
        return subscription.sub_id
    return f"{subscription.sub_id}n{key.node_id}"


def panel_client_is_ours(*, panel: PanelClient, wanted: PanelClient) -> bool:
    """Our marker and our UUID together: a look-alike email alone is not enough."""
    return panel.comment.startswith(OURS_COMMENT_PREFIX) and panel.id == wanted.id


def panel_client_for_key(*, key: NodeClient) -> PanelClient:
    """What the panel must hold for `key`."""
    subscription = key.subscription
    return PanelClient(
        id=str(subscription.client_uuid),
        email=key.email,
        enable=key.enable,
        expiry_time_ms=key.expiry_time_ms,
        limit_ip=key.limit_ip,
        total_bytes=key.total_bytes,
        sub_id=key_sub_id(key=key),
        tg_id=0,
        comment=f"{OURS_COMMENT_PREFIX}s{subscription.pk}",
        flow=inbound_flow(inbound=key.node.inbound_cache),
    )


# What we manage on a panel client; traffic, tgId and panel-only keys are not ours to correct.
_MANAGED = (
    "id",
    "enable",
    "expiry_time_ms",
    "limit_ip",
    "total_bytes",
    "sub_id",
    "comment",
    "flow",
)


def _managed_differs(panel: PanelClient, wanted: PanelClient) -> bool:
    return any(getattr(panel, name) != getattr(wanted, name) for name in _MANAGED)


def _disabled(client: PanelClient) -> PanelClient:
    return PanelClient(**{**client.__dict__, "enable": False})


def _foreign(key: NodeClient, panel: PanelClient) -> X3UIForeignClient:
    return X3UIForeignClient(
        f"the panel already has a client {panel.email!r} that is not ours "
        f"(UUID {panel.id or '-'}, comment {panel.comment[:40]!r}); it is left alone",
        endpoint="",
    )
