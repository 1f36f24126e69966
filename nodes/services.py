"""Keys on panels: placement, desired state, provisioning, reconciliation, health and failover.

Our database is the source of truth. A change to a subscription recomputes the desired state
of its keys (`subscription_keys_sync`) in the caller's transaction; after commit one Celery
task per node pushes the changed keys to the panel. Reconciliation and health checks make
every panel converge even when a task was lost or a panel was away.
"""

import hashlib
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import Node, NodeClient, NodeHealth, PanelGeneration, SyncState
from nodes.selectors import (
    LIVE_KEY_STATES,
    inbound_flow,
    node_has_room,
    node_keys_for_sync,
    nodes_eligible,
    nodes_with_load,
    subscriptions_short_of_keys,
)
from nodes.x3ui import (
    PanelClient,
    X3UIClient,
    X3UIDuplicateClient,
    X3UIError,
    X3UINotFound,
    X3UIRejected,
)
from subscriptions.models import Subscription, SubscriptionStatus

logger = logging.getLogger(__name__)

# Marks a panel client as ours; clients without it are never touched.
OURS_COMMENT_PREFIX = "vpnsite:"


# --- Panel clients ---------------------------------------------------------------------------

_clients: dict[tuple, X3UIClient] = {}
_clients_lock = threading.Lock()


def x3ui_client_for_node(*, node: Node) -> X3UIClient:
    """A panel client for `node`, reused within the process so its session cookie is too.

    The cache key includes a digest of the credentials, so editing a node takes effect at
    once and no plaintext secret is kept as a dict key.
    """
    digest = hashlib.sha256(
        f"{node.panel_username}\0{node.panel_password}\0{node.panel_api_token}".encode()
    ).hexdigest()
    key = (node.pk, node.panel_url, node.inbound_id, digest)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == node.pk]:
                _clients.pop(stale).close()
            client = X3UIClient(
                node.panel_url,
                username=node.panel_username,
                password=node.panel_password,
                api_token=node.panel_api_token,
                inbound_id=node.inbound_id,
                generation=node.panel_generation
                if node.panel_generation != PanelGeneration.UNKNOWN
                else None,
                timeout=(settings.X3UI_CONNECT_TIMEOUT, settings.X3UI_READ_TIMEOUT),
            )
            _clients[key] = client
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


# --- Desired state ---------------------------------------------------------------------------


def _expiry_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def subscription_key_enabled(*, subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether the customer may use their keys right now."""
    now = now or timezone.now()
    over_traffic = (
        subscription.traffic_limit_bytes > 0
        and subscription.traffic_used_bytes >= subscription.traffic_limit_bytes
    )
    return (
        subscription.status == SubscriptionStatus.ACTIVE
        and subscription.expires_at > now
        and not subscription.customer.is_banned
        and not over_traffic
    )


def _desired_fields(subscription: Subscription, *, enable: bool) -> dict:
    return {
        "enable": enable,
        "expiry_time_ms": _expiry_ms(subscription.expires_at),
        "limit_ip": subscription.device_limit,
        "total_bytes": subscription.traffic_limit_bytes,
    }


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
        sub_id=subscription.sub_id,
        tg_id=0,
        comment=f"{OURS_COMMENT_PREFIX}s{subscription.pk}",
        flow=inbound_flow(inbound=key.node.inbound_cache),
    )


def _managed_differs(panel: PanelClient, wanted: PanelClient) -> bool:
    """Drift in what we manage; traffic, tgId and panel-only keys are not ours to correct."""
    return (
        panel.id,
        panel.enable,
        panel.expiry_time_ms,
        panel.limit_ip,
        panel.total_bytes,
        panel.sub_id,
        panel.comment,
        panel.flow,
    ) != (
        wanted.id,
        wanted.enable,
        wanted.expiry_time_ms,
        wanted.limit_ip,
        wanted.total_bytes,
        wanted.sub_id,
        wanted.comment,
        wanted.flow,
    )


# --- Placement -------------------------------------------------------------------------------


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


def node_pick_for_new_client(*, tariff, exclude_node_ids=()) -> Node | None:
    """Smooth weighted round-robin over enabled, not-down, eligible nodes with room.

    Must run inside a transaction: the candidate rows are locked in primary-key order (no
    deadlocks), so concurrent purchases take turns and no node is filled past
    `max_clients`. The pick is deterministic: the node whose next share
    `(assigned_total + 1) / weight` is smallest, ties to the lowest id; healthy nodes are
    preferred to degraded or unchecked ones.
    """
    nodes = _candidates_locked(nodes_eligible(tariff=tariff).exclude(pk__in=list(exclude_node_ids)))
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


def _nodes_to_place(subscription: Subscription, keys: list[NodeClient]) -> list[Node]:
    """Nodes that should receive a new key for `subscription`."""
    occupied = {k.node_id for k in keys if k.sync_state != SyncState.REMOVED}
    live = _keys_serving(keys)
    if subscription.node_count == 0:
        return _candidates_locked(
            nodes_eligible(tariff=subscription.tariff).exclude(pk__in=occupied)
        )
    picked = []
    for _ in range(max(subscription.node_count - len(live), 0)):
        node = node_pick_for_new_client(
            tariff=subscription.tariff, exclude_node_ids=occupied | {n.pk for n in picked}
        )
        if node is None:
            break
        picked.append(node)
    return picked


# --- The one entry point for "something about this subscription changed" --------------------


def _push_on_commit(keys: list[NodeClient]) -> None:
    """After commit, one ``node_keys_push_task`` per node for the keys that changed.

    One call covers the keys it is given: a change to one subscription gives each of its
    nodes one task. A sweep that changes many subscriptions in one transaction pushes them
    together with ``keys_push_pending_on_commit``, so a panel sees one batched call per
    chunk rather than one per key. If the broker is down at commit the error is logged
    (``robust``): the reconcile beat converges the panels from the database.
    """
    from nodes.tasks import node_keys_push_task

    by_node: dict[int, set[int]] = defaultdict(set)
    for key in keys:
        by_node[key.node_id].add(key.pk)
    for node_id, ids in by_node.items():
        key_ids = sorted(ids)
        transaction.on_commit(
            lambda node_id=node_id, key_ids=key_ids: node_keys_push_task.delay(node_id, key_ids),
            robust=True,
        )


def keys_push_pending_on_commit(*, subscription_ids: list[int]) -> None:
    """After commit, push every key of `subscription_ids` that waits for its panel, one
    task per node (for callers that changed them with ``push=False``)."""
    _push_on_commit(
        list(
            NodeClient.objects.filter(
                subscription_id__in=subscription_ids,
                sync_state__in=[SyncState.PENDING, SyncState.REMOVING],
            ).only("pk", "node_id")
        )
    )


@transaction.atomic
def subscription_keys_sync(
    *, subscription: Subscription, now: datetime | None = None, reason: str = ""
) -> list[NodeClient]:
    """Recompute the desired keys of `subscription` and queue the panel changes on commit.

    Places keys when the subscription has fewer live keys on healthy nodes than its tariff
    asks for, moves keys stranded on a down node (the old one is removed when its node
    returns), and updates enable/expiry/limits on every key. Nothing is sent to a panel here.
    """
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=subscription.pk)
    )
    return subscription_keys_sync_locked(subscription=subscription, now=now, reason=reason)


def _keys_short(subscription: Subscription, keys: list[NodeClient]) -> bool:
    """Whether placement would look for nodes (a key missing, or "every node" tariffs)."""
    return subscription.node_count == 0 or len(_keys_serving(keys)) < subscription.node_count


def subscription_keys_sync_locked(
    *,
    subscription: Subscription,
    now: datetime | None = None,
    reason: str = "",
    keys: list[NodeClient] | None = None,
    place_now: bool = True,
    push: bool = True,
) -> list[NodeClient]:
    """``subscription_keys_sync`` for a caller that already holds the subscription's row lock.

    For the subscription services, inside their own transaction: `subscription` is the
    current row, locked (or created) in this transaction, with customer and tariff loaded;
    `keys` may be given when they are known (``[]`` for a subscription created just now),
    saving the query.

    ``place_now=False`` (a payment being credited): the keys that exist get their new
    desired state here, in the caller's transaction, but choosing nodes for missing keys
    (which locks node rows) is left to a task queued on commit. The credit then never waits
    on, nor fails because of, placement. If that task is lost, the reconcile beat's
    ``subscriptions_place_missing`` places the keys of a subscription that has none (a new
    one, or one whose only key is stranded); a multi-node tariff left short waits for its
    next change or an operator's re-provision.

    ``push=False``: the changed keys are left pending for the caller to push with
    ``keys_push_pending_on_commit`` (the expiry sweep, one push per node per chunk).
    """
    now = now or timezone.now()
    if keys is None:
        keys = list(
            NodeClient.objects.filter(subscription=subscription)
            .select_related("node")
            .defer("node__panel_password", "node__panel_api_token")  # not decrypted for this
            .order_by("pk")
        )
        for key in keys:
            key.subscription = subscription
    else:
        keys = list(keys)
    stored_state = {key.pk: key.sync_state for key in keys}
    enable = subscription_key_enabled(subscription=subscription, now=now)
    created: list[NodeClient] = []
    moved_from: list[NodeClient] = []

    # Expired or cancelled subscriptions keep their keys, disabled, so a renewal re-enables
    # them in place; only active ones get new keys.
    if subscription.status == SubscriptionStatus.ACTIVE and not place_now:
        if _keys_short(subscription, keys):
            from nodes.tasks import subscription_keys_sync_task

            transaction.on_commit(
                lambda: subscription_keys_sync_task.delay(subscription.pk), robust=True
            )
    elif subscription.status == SubscriptionStatus.ACTIVE:
        new_nodes = _nodes_to_place(subscription, keys)
        by_node = {key.node_id: key for key in keys}
        for node in new_nodes:
            key = by_node.get(node.pk)
            if key is not None:  # a removed/removing key on this node comes back to life
                key.sync_state = SyncState.PENDING
                continue
            key = NodeClient.objects.create(
                subscription=subscription,
                node=node,
                email=subscription.panel_email,
                **_desired_fields(subscription, enable=enable),
            )
            keys.append(key)
            created.append(key)
            audit_log_write(
                event_type=AuditEvent.KEY_CREATED,
                obj=key,
                actor_label="system",
                customer_id=subscription.customer_id,
                message=f"key for subscription #{subscription.pk} on {node.name}",
            )
        if new_nodes and subscription.node_count != 0:
            new_ids = {node.pk for node in new_nodes}
            for key in keys:
                stranded = key.sync_state in LIVE_KEY_STATES and (
                    key.node.health == NodeHealth.DOWN or not key.node.is_enabled
                )
                if stranded and key.node_id not in new_ids:
                    key.sync_state = SyncState.REMOVING
                    moved_from.append(key)

    changed = list(created)
    for key in keys:
        if key in created or key.sync_state == SyncState.REMOVED:
            continue
        desired = _desired_fields(
            subscription, enable=enable and key.sync_state != SyncState.REMOVING
        )
        fields_changed = any(getattr(key, name) != value for name, value in desired.items())
        if not fields_changed and key.sync_state == stored_state[key.pk]:
            continue
        for name, value in desired.items():
            setattr(key, name, value)
        key.desired_version += 1
        if key.sync_state in (SyncState.SYNCED, SyncState.ERROR):
            key.sync_state = SyncState.PENDING
        key.attempts = 0
        key.save(
            update_fields=[*desired, "desired_version", "sync_state", "attempts", "updated_at"]
        )
        changed.append(key)

    for old in moved_from:
        audit_log_write(
            event_type=AuditEvent.KEY_MOVED,
            obj=old,
            actor_label="system",
            customer_id=subscription.customer_id,
            message=reason or f"{old.node.name} is down; key re-placed",
        )
    if moved_from and subscription.keys_notified_at:
        from subscriptions.notifications import notify_keys_moved

        notify_keys_moved(subscription=subscription)
    if push:
        _push_on_commit(changed)
    return keys


# --- Pushing keys to a panel -----------------------------------------------------------------


@dataclass
class PushResult:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    deferred: bool = False
    # Confirmed by the panel, recorded in bulk by `_done_flush`: (key, version).
    synced: list[tuple[NodeClient, int]] = field(default_factory=list, repr=False)
    deleted: list[tuple[NodeClient, int]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
        }


def _mark_done(result: PushResult, key: NodeClient, version: int, *, removed: bool = False):
    """Note that the panel now holds `version` of `key` (written by `_done_flush`)."""
    (result.deleted if removed else result.synced).append((key, version))


def _done_flush(result: PushResult, *, now: datetime, chunk: int = 1000) -> None:
    """Record confirmed keys with a few grouped UPDATEs, not one per key.

    A key whose desired state changed while we talked to the panel keeps its new version
    pending (only `synced_version` moves), so the change queued for it is not lost.
    """
    for removed, entries in ((False, result.synced), (True, result.deleted)):
        by_version: dict[int, list[int]] = defaultdict(list)
        for key, version in entries:
            by_version[version].append(key.pk)
        for version, ids in by_version.items():
            for start in range(0, len(ids), chunk):
                part = ids[start : start + chunk]
                NodeClient.objects.filter(pk__in=part, desired_version=version).update(
                    sync_state=SyncState.REMOVED if removed else SyncState.SYNCED,
                    synced_version=version,
                    attempts=0,
                    last_error="",
                    last_synced_at=now,
                    updated_at=now,
                )
                NodeClient.objects.filter(pk__in=part, synced_version__lt=version).update(
                    synced_version=version, last_synced_at=now
                )
    subscription_ids = {key.subscription_id for key, _ in result.synced}
    result.synced, result.deleted = [], []
    if subscription_ids:
        waiting = Subscription.objects.filter(
            pk__in=subscription_ids,
            keys_notified_at__isnull=True,
            keys__sync_state=SyncState.SYNCED,
        ).values_list("pk", flat=True)
        for subscription_id in set(waiting):
            _keys_ready_check(subscription_id=subscription_id)


def _mark_error(key: NodeClient, version: int, error: str, *, final: bool) -> None:
    fields = {"last_error": error[:2000], "attempts": F("attempts") + 1}
    if final:
        fields["sync_state"] = SyncState.ERROR
    NodeClient.objects.filter(pk=key.pk, desired_version=version).exclude(
        sync_state__in=[SyncState.REMOVING, SyncState.REMOVED]
    ).update(**fields)
    if final:
        NodeClient.objects.filter(pk=key.pk, sync_state=SyncState.REMOVING).update(
            last_error=error[:2000]
        )


def _keys_ready_check(*, subscription_id: int) -> None:
    """Send the keys message the first time a subscription has a synced key."""
    from subscriptions.notifications import notify_keys_ready

    with transaction.atomic():
        updated = Subscription.objects.filter(
            pk=subscription_id, keys_notified_at__isnull=True
        ).update(keys_notified_at=timezone.now())
        if updated:
            notify_keys_ready(subscription=Subscription.objects.get(pk=subscription_id))


def _delete_on_panel(client: X3UIClient, key: NodeClient, result: PushResult) -> None:
    try:
        client.delete_client(email=key.email, client_id=str(key.subscription.client_uuid))
    except X3UINotFound:
        pass
    except X3UIRejected:
        # Legacy panels refuse to delete an inbound's last client: disable it instead.
        client.update_client(_disabled(panel_client_for_key(key=key)))
    result.removed += 1


def _disabled(client: PanelClient) -> PanelClient:
    return PanelClient(**{**client.__dict__, "enable": False})


def _upsert(client: X3UIClient, wanted: PanelClient) -> str:
    """Add, or update when the panel already has the email: 'added' / 'updated'."""
    try:
        client.add_client(wanted)
    except X3UIDuplicateClient:
        client.update_client(wanted)
        return "updated"
    return "added"


def _push_one(
    client: X3UIClient,
    key: NodeClient,
    versions: dict[int, int],
    result: PushResult,
) -> bool:
    """Push one key without a listing when that is safe; False means "use a listing".

    A v3.1+ panel answers success to re-adding an email it already has with the same
    subId, without changing it (x3ui-api.md §2b). So "add, and update on duplicate" is an
    upsert only for a key whose desired state never changed since its first attempt; a key
    the panel already holds is updated directly; anything else is decided from a listing.
    """
    version = versions[key.pk]
    if key.sync_state == SyncState.REMOVING:
        _delete_on_panel(client, key, result)
        _mark_done(result, key, version, removed=True)
        return True
    wanted = panel_client_for_key(key=key)
    if key.synced_version > 0:
        try:
            client.update_client(wanted)
        except X3UIRejected:
            return False  # deleted behind our back? the listing will tell
        result.updated += 1
        _mark_done(result, key, version)
        return True
    if version == 1:
        outcome = _upsert(client, wanted)
        setattr(result, outcome, getattr(result, outcome) + 1)
        _mark_done(result, key, version)
        return True
    return False


def node_keys_push(*, node_id: int, key_ids: list[int], final_attempt: bool = False) -> PushResult:
    """Make the panel of `node_id` hold the desired state of `key_ids`.

    One key: directly when that is safe (see `_push_one`). Several: one listing, then
    batched adds and per-client updates/deletes. Raises X3UIUnavailable/X3UIAuthError
    for the task to retry; a rejection of one key marks that key and carries on.
    """
    now = timezone.now()
    result = PushResult()
    node = Node.objects.filter(pk=node_id).first()
    keys = node_keys_for_sync(node=node, key_ids=key_ids) if node else []
    if not keys:  # rolled back, or deleted since: nothing to push
        return result
    if not node.is_enabled or node.health == NodeHealth.DOWN:
        # The node's return triggers a reconciliation that carries these changes.
        result.deferred = True
        return result
    versions = {key.pk: key.desired_version for key in keys}
    client = x3ui_client_for_node(node=node)
    try:
        if not (len(keys) == 1 and _push_one(client, keys[0], versions, result)):
            listing = {c.email: c for c in client.list_clients()}
            _apply(client, keys, listing, versions, result)
    except X3UIRejected as exc:
        for key in keys:
            _mark_error(key, versions[key.pk], str(exc), final=True)
        result.errors.update({k.email: str(exc) for k in keys})
        return result
    except X3UIError as exc:
        for key in keys:
            _mark_error(key, versions[key.pk], str(exc), final=final_attempt)
        raise
    finally:
        _done_flush(result, now=now)
        _generation_remember(node, client)
    return result


def _apply(
    client: X3UIClient,
    keys: list[NodeClient],
    listing: dict[str, PanelClient],
    versions: dict[int, int],
    result: PushResult,
) -> None:
    """Converge `keys` given the panel's current `listing` (shared by push and reconcile)."""
    to_add: list[tuple[NodeClient, PanelClient]] = []
    for key in keys:
        panel = listing.get(key.email)
        try:
            if key.sync_state == SyncState.REMOVING:
                if panel is not None:
                    _delete_on_panel(client, key, result)
                _mark_done(result, key, versions[key.pk], removed=True)
                continue
            wanted = panel_client_for_key(key=key)
            if panel is None:
                to_add.append((key, wanted))
            elif _managed_differs(panel, wanted):
                client.update_client(wanted)
                result.updated += 1
                _mark_done(result, key, versions[key.pk])
            else:
                result.unchanged += 1
                if key.sync_state != SyncState.SYNCED or key.synced_version != versions[key.pk]:
                    _mark_done(result, key, versions[key.pk])
        except X3UIRejected as exc:
            result.errors[key.email] = str(exc)
            _mark_error(key, versions[key.pk], str(exc), final=True)
    if to_add:
        try:
            client.add_clients([wanted for _, wanted in to_add])
        except X3UIRejected:
            # One bad client spoils a batch: fall back to one call each to find it.
            for key, wanted in to_add:
                try:
                    outcome = _upsert(client, wanted)
                except X3UIRejected as exc:
                    result.errors[key.email] = str(exc)
                    _mark_error(key, versions[key.pk], str(exc), final=True)
                    continue
                setattr(result, outcome, getattr(result, outcome) + 1)
                _mark_done(result, key, versions[key.pk])
        else:
            result.added += len(to_add)
            for key, _ in to_add:
                _mark_done(result, key, versions[key.pk])


# --- Reconciliation --------------------------------------------------------------------------


def node_reconcile(*, node: Node, now: datetime | None = None) -> dict:
    """Converge one panel to the database with a single listing.

    Missing keys are added (batched), drifted ones updated, removed ones deleted; clients
    marked as ours without a key here are disabled at once and deleted after the grace
    period; clients we did not create are never touched. Traffic is pulled into the keys.
    The result is recorded on the node.
    """
    now = now or timezone.now()
    client = x3ui_client_for_node(node=node)
    before = client.request_count
    result = PushResult()
    try:
        panel_clients = client.list_clients()
        listing = {c.email: c for c in panel_clients}
        keys = node_keys_for_sync(node=node)
        versions = {key.pk: key.desired_version for key in keys}
        _traffic_store(keys, listing)
        _apply(client, keys, listing, versions, result)
        orphans = _orphans_handle(client, node, keys, panel_clients, now=now)
    except X3UIError as exc:
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
    _traffic_enforce(subscription_ids={k.subscription_id for k in keys})
    return summary


def _orphans_handle(client, node, keys, panel_clients, *, now) -> dict:
    known = {k.email for k in keys}
    grace = timedelta(hours=settings.NODE_ORPHAN_GRACE_HOURS)
    seen = dict(node.orphans_first_seen or {})
    disabled = deleted = 0
    current = set()
    for panel in panel_clients:
        if not panel.comment.startswith(OURS_COMMENT_PREFIX) or panel.email in known:
            continue
        current.add(panel.email)
        first_seen = datetime.fromisoformat(seen.setdefault(panel.email, now.isoformat()))
        if now - first_seen >= grace:
            try:
                client.delete_client(email=panel.email, client_id=panel.id)
                deleted += 1
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
    changed = []
    for key in keys:
        panel = listing.get(key.email)
        if panel is None:
            continue
        if (key.traffic_up, key.traffic_down) != (panel.up, panel.down):
            key.traffic_up, key.traffic_down = panel.up, panel.down
            changed.append(key)
    NodeClient.objects.bulk_update(changed, ["traffic_up", "traffic_down"], batch_size=500)


def _traffic_enforce(*, subscription_ids: set[int]) -> None:
    """Sum traffic over all nodes; a subscription over its limit gets its keys disabled.

    3x-ui enforces `totalGB` per panel only, so a multi-node subscription is capped here.
    Two queries whatever the number of subscriptions, plus one write per changed total.
    """
    if not subscription_ids:
        return
    totals = dict(
        NodeClient.objects.filter(subscription_id__in=subscription_ids)
        .values("subscription_id")
        .annotate(total=Sum(F("traffic_up") + F("traffic_down")))
        .values_list("subscription_id", "total")
    )
    changed = [
        sub
        for sub in Subscription.objects.filter(pk__in=subscription_ids).only(
            "pk", "traffic_used_bytes", "traffic_limit_bytes", "status"
        )
        if (totals.get(sub.pk) or 0) != sub.traffic_used_bytes
    ]
    for sub in changed:
        sub.traffic_used_bytes = totals.get(sub.pk) or 0
    Subscription.objects.bulk_update(changed, ["traffic_used_bytes"], batch_size=500)
    for sub in changed:
        if (
            sub.status == SubscriptionStatus.ACTIVE
            and sub.traffic_limit_bytes
            and sub.traffic_used_bytes >= sub.traffic_limit_bytes
        ):
            subscription_keys_sync(subscription=sub, reason="traffic limit reached")


def subscriptions_place_missing(*, limit: int = 200) -> int:
    """Place keys for active subscriptions that have none on a healthy node."""
    count = 0
    for subscription in subscriptions_short_of_keys()[:limit]:
        keys = subscription_keys_sync(subscription=subscription)
        count += any(k.sync_state in LIVE_KEY_STATES for k in keys)
    return count


# --- Health and failover ---------------------------------------------------------------------


def node_health_check(*, node: Node, now: datetime | None = None) -> str:
    """Log in, read the server status and the inbound; update health, alert on transitions.

    After NODE_DOWN_AFTER_FAILURES failures in a row the node is down: it takes no new
    keys, admins are told once, and subscriptions stranded on it are re-placed. On the
    first success after being down it is up again, admins are told, and it is reconciled.
    """
    from core.alerts import node_alert_sync

    now = now or timezone.now()
    client = x3ui_client_for_node(node=node)
    started = time.monotonic()
    try:
        status = client.server_status()
        inbound = client.get_inbound()
        if not client.generation:
            client.detect_generation()  # once per node; remembered on the Node row
    except X3UIError as exc:
        return _health_failure(node, str(exc) or exc.__class__.__name__, now=now)
    finally:
        _generation_remember(node, client)
    latency_ms = round((time.monotonic() - started) * 1000)
    degraded = not status.xray_running or latency_ms > settings.NODE_DEGRADED_LATENCY_MS
    new_health = NodeHealth.DEGRADED if degraded else NodeHealth.UP
    was = node.health
    Node.objects.filter(pk=node.pk).update(
        health=new_health,
        consecutive_failures=0,
        last_check_at=now,
        last_ok_at=now,
        latency_ms=latency_ms,
        last_error="" if not degraded else f"xray {status.xray_state}",
        inbound_cache=inbound.to_cache(),
        inbound_cached_at=now,
        updated_at=now,
    )
    node.health = new_health
    if was == NodeHealth.DOWN:
        logger.warning("node %s is back (%s ms)", node.name, latency_ms)
        with transaction.atomic():
            # Once per outage, however much the node flaps (core/alerts.py).
            node_alert_sync(node_id=node.pk, now=now, detail=f"{latency_ms} ms; reconciling")
            from nodes.tasks import node_reconcile_task

            transaction.on_commit(lambda: node_reconcile_task.delay(node.pk))
    return new_health


def _health_failure(node: Node, error: str, *, now: datetime) -> str:
    from core.alerts import node_alert_sync

    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        failures = locked.consecutive_failures + 1
        goes_down = (
            failures >= settings.NODE_DOWN_AFTER_FAILURES and locked.health != NodeHealth.DOWN
        )
        locked.consecutive_failures = failures
        locked.last_check_at = now
        locked.last_error = error[:2000]
        if goes_down:
            locked.health = NodeHealth.DOWN
        elif locked.health == NodeHealth.UP:
            locked.health = NodeHealth.DEGRADED
        locked.save(
            update_fields=[
                "consecutive_failures",
                "last_check_at",
                "last_error",
                "health",
                "updated_at",
            ]
        )
        node.health, node.consecutive_failures = locked.health, failures
        if goes_down:
            logger.error("node %s is down after %s failures: %s", node.name, failures, error)
            # Once per outage, however much the node flaps (core/alerts.py).
            node_alert_sync(
                node_id=node.pk,
                now=now,
                detail=(
                    f"{failures} failed checks in a row ({error[:300]}); "
                    "its subscriptions are being re-placed"
                ),
            )
    if goes_down:
        node_failover(node=node)
    return node.health


def node_failover(*, node: Node) -> int:
    """Re-place every active subscription that has no live key left on a healthy node."""
    subscription_ids = list(
        NodeClient.objects.filter(node=node, sync_state__in=LIVE_KEY_STATES)
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    moved = 0
    for subscription in Subscription.objects.filter(
        pk__in=subscription_ids, status=SubscriptionStatus.ACTIVE
    ):
        keys = subscription_keys_sync(subscription=subscription, reason=f"{node.name} is down")
        moved += any(k.node_id != node.pk and k.sync_state == SyncState.PENDING for k in keys)
    return moved


# --- Operator actions ------------------------------------------------------------------------


@transaction.atomic
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
) -> Node:
    from core.exceptions import ApplicationError

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


def node_keys_retry(*, key_ids: list[int]) -> int:
    """Queue a fresh push for keys (an operator's "retry"): reset attempts, state pending."""
    keys = list(NodeClient.objects.filter(pk__in=key_ids).exclude(sync_state=SyncState.REMOVED))
    with transaction.atomic():
        for key in keys:
            NodeClient.objects.filter(pk=key.pk).update(
                attempts=0,
                desired_version=F("desired_version") + 1,
                sync_state=SyncState.REMOVING
                if key.sync_state == SyncState.REMOVING
                else SyncState.PENDING,
            )
        _push_on_commit(keys)
    return len(keys)


def node_keys_push_failed(*, node_id: int, key_ids: list[int], error: str) -> None:
    """The last retry failed: keys are `error` (reconciliation retries them), admins told."""
    from telegram_bot.services import notify_admins

    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        return
    with transaction.atomic():
        NodeClient.objects.filter(pk__in=key_ids).exclude(
            sync_state__in=[SyncState.REMOVING, SyncState.REMOVED, SyncState.SYNCED]
        ).update(sync_state=SyncState.ERROR, last_error=error[:2000])
        notify_admins(
            text=(
                f"⚠️ Provisioning on <b>{escape(node.name)}</b> failed after the last retry for "
                f"{len(key_ids)} key(s): {escape(error[:300])}"
            ),
            kind="provision-failed",
            dedupe_key=f"provision-failed:{node_id}:{timezone.now():%Y%m%d%H}",
        )


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
    from core.exceptions import ApplicationError

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
            subscription=subscription, node=target, email=subscription.panel_email, **desired
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
        from subscriptions.notifications import notify_keys_moved

        notify_keys_moved(subscription=subscription, node_down=False)
    _push_on_commit(changed)
    return keys
