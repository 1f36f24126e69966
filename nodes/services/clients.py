"""Panel sessions: one cached ``X3UIClient`` per node, and the pause after a refused login."""

import hashlib
import logging
import threading
from datetime import datetime, timedelta
from html import escape

from django.conf import settings
from django.utils import timezone

from nodes.models import Node
from nodes.x3ui import X3UIClient, X3UILoginRefused
from notifications.services import notify_admins

logger = logging.getLogger(__name__)

_clients: dict[tuple, X3UIClient] = {}
_clients_lock = threading.Lock()


def node_credentials_digest(*, node: Node) -> str:
    """A digest of the node's panel credentials (never the credentials themselves)."""
    return hashlib.sha256(
        f"{node.panel_username}\0{node.panel_password}\0{node.panel_api_token}".encode()
    ).hexdigest()


def node_login_paused_until(*, node: Node) -> datetime | None:
    """Until when no login may be tried on `node`: its panel refused these credentials.

    The pause is NODE_LOGIN_PAUSE_MINUTES after a refusal, doubling with each refusal in a
    row (at most 8x); it ends at once when the node's credentials change.
    """
    if not node.login_refusals or node.login_refused_at is None:
        return None
    if node.login_refused_digest != node_credentials_digest(node=node):
        return None
    factor = 2 ** min(node.login_refusals - 1, 3)
    return node.login_refused_at + timedelta(minutes=settings.NODE_LOGIN_PAUSE_MINUTES * factor)


def _login_refused(node: Node, exc: X3UILoginRefused, *, now: datetime | None = None) -> None:
    """Record a refused login (pausing further ones) and tell the admins once per password."""
    if not exc.sent:
        return  # paused: no request was made, nothing new to record
    now = now or timezone.now()
    digest = node_credentials_digest(node=node)
    refusals = node.login_refusals + 1 if node.login_refused_digest == digest else 1
    Node.objects.filter(pk=node.pk).update(
        login_refusals=refusals, login_refused_at=now, login_refused_digest=digest
    )
    node.login_refusals, node.login_refused_at, node.login_refused_digest = refusals, now, digest
    paused_until = node_login_paused_until(node=node)
    logger.error("node %s: panel refused our login; paused until %s", node.name, paused_until)
    notify_admins(
        text=(
            f"🔐 The panel of <b>{escape(node.name)}</b> refused our login "
            f"({escape(str(exc)[:200])}). No login is tried there until "
            f"{paused_until:%Y-%m-%d %H:%M} UTC (3x-ui blocks a user after repeated failures); "
            "fix the node's credentials in the console to retry at once."
        ),
        kind="panel-login-refused",
        dedupe_key=f"panel-login-refused:{node.pk}:{digest[:16]}",
    )


def _login_ok(node: Node, client: X3UIClient, logins_before: int) -> None:
    """Lift a login pause once the panel accepted our credentials (a request that reused a
    session cookie proves nothing: v2.x sessions outlive a password change)."""
    if node.login_refusals and client.login_count > logins_before:
        Node.objects.filter(pk=node.pk).update(login_refusals=0, login_refused_at=None)
        node.login_refusals, node.login_refused_at = 0, None


def _x3ui_client_new(node: Node) -> X3UIClient:
    return X3UIClient(
        node.panel_url,
        username=node.panel_username,
        password=node.panel_password,
        api_token=node.panel_api_token,
        inbound_id=node.inbound_id,
        generation=node.panel_generation,  # "unknown": the client detects it
        timeout=(settings.X3UI_CONNECT_TIMEOUT, settings.X3UI_READ_TIMEOUT),
    )


def x3ui_client_for_node(*, node: Node) -> X3UIClient:
    """A panel client for `node`, reused within the process so its session cookie is too.

    The cache key includes a digest of the credentials, so editing a node takes effect at
    once and no plaintext secret is kept as a dict key. The client is told whether a login
    is paused after a refusal (``node_login_paused_until``).
    """
    digest = node_credentials_digest(node=node)
    key = (node.pk, node.panel_url, node.inbound_id, digest)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == node.pk]:
                _clients.pop(stale).close()
            client = _x3ui_client_new(node)
            _clients[key] = client
    paused_until = node_login_paused_until(node=node)
    client.login_paused_until = paused_until.timestamp() if paused_until else 0.0
    return client


def x3ui_clients_reset() -> None:
    """Forget cached panel sessions (tests, or after editing many nodes)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _generation_remember(node: Node, client: X3UIClient) -> None:
    if client.generation and client.generation != node.panel_generation:
        Node.objects.filter(pk=node.pk).update(panel_generation=client.generation)
        node.panel_generation = client.generation
