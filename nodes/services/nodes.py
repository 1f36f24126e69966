"""Operator actions on nodes: add a node after checking its panel."""

from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import Node, PanelGeneration
from nodes.services.clients import _x3ui_client_new
from nodes.x3ui import X3UIError


def node_create(
    *,
    name: str,
    panel_url: str,
    inbound_id: int,
    username: str = "",
    password: str = "",
    api_token: str = "",
    public_host: str = "",
    public_port: int | None = None,
    weight: int = 1,
    max_clients: int = 0,
    country: str = "",
    location: str = "",
    actor=None,
    check: bool = True,
    force: bool = False,
) -> Node:
    """Add a node; with `check` its panel is contacted first and a failure refuses the node
    (with the panel's own message) unless `force`."""
    if not api_token and not (username and password):
        raise ApplicationError("Give a username and password, or an API token")
    node = Node(
        name=name,
        panel_url=panel_url if panel_url.endswith("/") else f"{panel_url}/",
        inbound_id=inbound_id,
        panel_username=username,
        panel_password=password,
        panel_api_token=api_token,
        public_host=public_host,
        public_port=public_port,
        weight=weight,
        max_clients=max_clients,
        country=country.upper(),
        location=location,
    )
    node.full_clean()
    if check:  # before the transaction: it waits on the panel
        try:
            node_panel_check(node=node)
        except ApplicationError:
            if not force:
                raise
    with transaction.atomic():
        node.save()
        audit_log_write(
            event_type=AuditEvent.NODE_CHANGED,
            obj=node,
            acting_user=actor,
            actor_label="" if actor else "cli",
            message=f"node {name} added",
            extra_data={"panel_url": node.panel_url, "inbound_id": inbound_id},
        )
    return node


def node_panel_check(*, node: Node) -> None:
    """Log in to a node's panel (saved or not) and read its status and our inbound.

    Raises ``ApplicationError`` with the panel's own message when that fails or the inbound
    is not VLESS; on success the node knows its API generation and inbound (unsaved).
    """
    client = _x3ui_client_new(node)
    try:
        client.server_status()
        inbound = client.get_inbound()
        client.detect_generation()
    except X3UIError as exc:
        raise ApplicationError(f"Panel check failed: {exc}", {"node": node.name}) from None
    finally:
        client.close()
    if inbound.protocol != "vless":
        raise ApplicationError(
            f"Inbound {node.inbound_id} is {inbound.protocol or 'of no protocol'}, not VLESS.",
            {"node": node.name},
        )
    node.panel_generation = client.generation or PanelGeneration.UNKNOWN
    node.inbound_cache = inbound.to_cache()
    node.inbound_cached_at = timezone.now()
