"""Operator actions on nodes: add a node after checking its panel, save the console's edits
(audited), list a panel's inbounds."""

from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import Node, PanelGeneration
from nodes.services.clients import _x3ui_client_new
from nodes.x3ui import X3UIError
from nodes.x3ui.types import Inbound

# A node's fields whose values an audit row never holds.
SECRET_FIELDS = frozenset({"panel_password", "panel_api_token"})
# Fields that change how we reach the panel: a change of them is a credentials change.
PANEL_FIELDS = frozenset({"panel_url", "panel_username", *SECRET_FIELDS, "inbound_id"})


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


def node_panel_inbounds(*, node: Node) -> list[Inbound]:
    """Log in to a node's panel (saved or not) and list the inbounds its user sees.

    Raises ``ApplicationError`` with the panel's own message when the login or the listing
    fails. Every request has the panel client's timeouts (X3UI_CONNECT_TIMEOUT,
    X3UI_READ_TIMEOUT).
    """
    client = _x3ui_client_new(node)
    try:
        return client.list_inbounds()
    except X3UIError as exc:
        raise ApplicationError(f"Panel check failed: {exc}", {"node": node.name}) from None
    finally:
        client.close()


def node_save(*, node: Node, actor, changed_fields: list[str], created: bool) -> Node:
    """Save a node the console added or edited (its panel already checked by the form) and
    write an audit row naming the operator: which fields changed, and whether the panel
    credentials did (never their values)."""
    changed = sorted(set(changed_fields))
    credentials = sorted(set(changed) & PANEL_FIELDS)
    if created:
        message = f"node {node.name} added"
    elif credentials:
        message = f"node {node.name}: panel credentials changed ({', '.join(credentials)})"
    else:
        message = f"node {node.name} changed: {', '.join(changed) or 'nothing'}"
    with transaction.atomic():
        node.save()
        audit_log_write(
            event_type=AuditEvent.NODE_CHANGED,
            obj=node,
            acting_user=actor,
            message=message,
            extra_data={
                "created": created,
                "fields": changed,
                "credentials_changed": bool(credentials) and not created,
                "panel_url": node.panel_url,
                "inbound_id": node.inbound_id,
                "values": {
                    name: getattr(node, name)
                    for name in changed
                    if name not in SECRET_FIELDS and _plain(getattr(node, name, None))
                },
            },
        )
    return node


def _plain(value) -> bool:
    return value is None or isinstance(value, str | int | bool)
