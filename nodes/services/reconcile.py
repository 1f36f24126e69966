"""Reconciliation: converge one panel to the database with a single listing."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from core.models import AuditEvent
from core.services import audit_log_write
from nodes import signals
from nodes.models import Node, NodeClient
from nodes.selectors import LIVE_KEY_STATES, node_keys_for_sync, subscription_uuids
from nodes.services.clients import (
    _generation_remember,
    _login_ok,
    _login_refused,
    x3ui_client_for_node,
)
from nodes.services.keys import OURS_COMMENT_PREFIX, _disabled
from nodes.services.push import (
    PushResult,
    _apply,
    _done_flush,
    _inbound_missing_alert,
    _listing,
    _refusals_handle,
)
from nodes.services.resets import keys_traffic_resets_apply, reset_pending
from nodes.tasks import node_reconcile_task
from nodes.x3ui import (
    PanelClient,
    X3UIError,
    X3UIForeignClient,
    X3UIInboundNotFound,
    X3UILoginRefused,
    X3UIRejected,
)


@transaction.atomic
def node_reconcile_request(*, node: Node, actor, actor_label: str = "") -> None:
    """Queue a reconciliation of `node` (``nodes.tasks.node_reconcile_task``, the one the
    beat runs) after commit, audited: the console's "Reconcile now" on the node page and the
    operator API's ``POST /api/v1/nodes/<id>/reconcile/``. The outcome lands on the node
    (``last_reconcile_at``, ``last_reconcile_result``)."""
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=node,
        acting_user=actor,
        actor_label=actor_label,
        message=f"reconcile of {node.name} requested",
        extra_data={"action": "node_reconcile"},
    )
    transaction.on_commit(lambda: node_reconcile_task.delay(node.pk))


def node_reconcile(*, node: Node, now: datetime | None = None) -> dict:
    """Converge one panel to the database with a single listing.

    Missing keys are added (batched), drifted ones updated, removed ones deleted; our
    clients (marker and UUID) without a key here are disabled at once and deleted after the
    grace period; anyone else's clients are never touched. Traffic is pulled into the keys.
    A key whose traffic reset is due has its panel counters reset first
    (``nodes.services.resets``). The result is recorded on the node.
    """
    now = now or timezone.now()
    client = x3ui_client_for_node(node=node)
    before, logins = client.request_count, client.login_count
    result = PushResult()
    try:
        listed_at = timezone.now()
        panel_clients = client.list_clients()
        keys = node_keys_for_sync(node=node)
        versions = {key.pk: key.desired_version for key in keys}
        panel_clients, listed_at = keys_traffic_resets_apply(
            client=client, node=node, keys=keys, panel_clients=panel_clients, listed_at=listed_at
        )
        _traffic_store(keys, _listing(panel_clients))
        _apply(client, keys, panel_clients, versions, result, listed_at=listed_at)
        orphans = _orphans_handle(client, node, keys, panel_clients, now=now)
    except X3UIError as exc:
        if isinstance(exc, X3UILoginRefused):
            _login_refused(node, exc, now=now)
        if isinstance(exc, X3UIInboundNotFound):
            _inbound_missing_alert(node, exc)
        summary = {"ok": False, "error": str(exc)[:500], "at": now.isoformat()}
        Node.objects.filter(pk=node.pk).update(
            last_reconcile_at=now, last_reconcile_result=summary, last_error=str(exc)[:2000]
        )
        raise
    finally:
        _done_flush(result, now=now)
        _generation_remember(node, client)
    summary = {
        "ok": not result.errors,
        **result.as_dict(),
        **orphans,
        "requests": client.request_count - before,
        "at": now.isoformat(),
    }
    Node.objects.filter(pk=node.pk).update(last_reconcile_at=now, last_reconcile_result=summary)
    _login_ok(node, client, logins)
    _refusals_handle(node, result)
    signals.traffic_read.send(sender=Node, subscription_ids={k.subscription_id for k in keys})
    return summary


def _orphans(node: Node, keys: list[NodeClient], panel_clients: list[PanelClient]):
    """Our clients on the panel without a key on this node.

    Ours means our marker naming a subscription *and* that subscription's UUID; a client
    that is the live key of another node (two nodes on one panel) is that node's, not an
    orphan.
    """
    known = {k.email.casefold() for k in keys}
    marked = {}
    for panel in panel_clients:
        if panel.email.casefold() in known or not panel.comment.startswith(OURS_COMMENT_PREFIX):
            continue
        tail = panel.comment[len(OURS_COMMENT_PREFIX) :]
        if tail.startswith("s") and tail[1:].isdigit():
            marked[panel] = int(tail[1:])
    if not marked:
        return []
    uuids = subscription_uuids(subscription_ids=set(marked.values()))
    elsewhere = set(
        NodeClient.objects.filter(
            email__in=[p.email for p in marked], sync_state__in=LIVE_KEY_STATES
        )
        .exclude(node=node)
        .values_list("email", flat=True)
    )
    return [
        panel
        for panel, subscription_id in marked.items()
        if str(uuids.get(subscription_id, "")) == panel.id and panel.email not in elsewhere
    ]


def _orphans_handle(client, node, keys, panel_clients, *, now) -> dict:
    grace = timedelta(hours=settings.NODE_ORPHAN_GRACE_HOURS)
    seen = dict(node.orphans_first_seen or {})
    disabled = deleted = 0
    current = set()
    for panel in _orphans(node, keys, panel_clients):
        current.add(panel.email)
        first_seen = datetime.fromisoformat(seen.setdefault(panel.email, now.isoformat()))
        if now - first_seen >= grace:
            try:
                client.delete_client(email=panel.email, client_id=panel.id)
                deleted += 1
                current.discard(panel.email)
            except X3UIForeignClient:
                current.discard(panel.email)
            except X3UIRejected:
                if panel.enable:
                    client.update_client(_disabled(panel))
                    disabled += 1
        elif panel.enable:
            client.update_client(_disabled(panel))
            disabled += 1
    seen = {email: at for email, at in seen.items() if email in current}
    Node.objects.filter(pk=node.pk).update(orphans_first_seen=seen)
    node.orphans_first_seen = seen
    return {"orphans_disabled": disabled, "orphans_deleted": deleted, "orphans_pending": len(seen)}


def _traffic_store(keys: list[NodeClient], listing: dict[str, PanelClient]) -> None:
    """Store the panel's counters on the keys, except where a traffic reset is still due
    (those counters belong to the period that ended).

    Written only where the key's reset mark is what was loaded: counters listed before a
    reset was marked never land after it (one UPDATE per distinct mark, nearly always one).
    """
    groups: dict[datetime | None, list[NodeClient]] = defaultdict(list)
    for key in keys:
        panel = listing.get(key.email.casefold())
        if panel is None or reset_pending(key):
            continue
        if (key.traffic_up, key.traffic_down) != (panel.up, panel.down):
            key.traffic_up, key.traffic_down = panel.up, panel.down
            groups[key.traffic_reset_due_at].append(key)
    for due_at, changed in groups.items():
        rows = NodeClient.objects.filter(pk__in=[key.pk for key in changed])
        if due_at is None:
            rows = rows.filter(traffic_reset_due_at__isnull=True)
        else:
            rows = rows.filter(traffic_reset_due_at=due_at)
        rows.update(
            traffic_up=Case(*(When(pk=k.pk, then=Value(k.traffic_up)) for k in changed)),
            traffic_down=Case(*(When(pk=k.pk, then=Value(k.traffic_down)) for k in changed)),
        )
