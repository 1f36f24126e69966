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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from django.conf import settings
from django.db import transaction
from django.db.models import F
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
    GENERATION_V3,
    PanelClient,
    X3UIClient,
    X3UIError,
    X3UIForeignClient,
    X3UIInboundNotFound,
    X3UILoginRefused,
    X3UIRejected,
)
from subscriptions.models import Subscription, SubscriptionStatus
from telegram_bot.services import notify_admins

logger = logging.getLogger(__name__)

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


# --- Panel clients ---------------------------------------------------------------------------

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
        generation=node.panel_generation
        if node.panel_generation != PanelGeneration.UNKNOWN
        else None,
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
        sub_id=key_sub_id(key=key),
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


def _nodes_to_place(
    subscription: Subscription, keys: list[NodeClient], exclude_node_ids=frozenset()
) -> list[Node]:
    """Nodes that should receive a new key for `subscription`.

    A node holds a slot while the key there is not removed, and for NODE_REFUSED_AVOID_HOURS
    after it refused the key (removed without ever being synced, `_key_replace_elsewhere`),
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
    exclude_node_ids=frozenset(),
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
        new_nodes = _nodes_to_place(subscription, keys, exclude_node_ids)
        by_node = {key.node_id: key for key in keys}
        for node in new_nodes:
            key = by_node.get(node.pk)
            if key is not None:  # a removed/removing key on this node comes back to life
                key.sync_state = SyncState.PENDING
                continue
            key = NodeClient.objects.create(
                subscription=subscription,
                node=node,
                email=key_email(subscription_id=subscription.pk, node_id=node.pk),
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
    # Refused for a reason a retry cannot fix, handled by `_refusals_handle`: (key, error).
    refused: list[tuple[NodeClient, str]] = field(default_factory=list, repr=False)
    # Ours, but held more than once by the panel (reported by `_refusals_handle`).
    duplicated: list[NodeClient] = field(default_factory=list, repr=False)

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
                # The panel's own answer settled whether an add reached it.
                NodeClient.objects.filter(pk__in=part, add_sent_at__isnull=False).update(
                    add_sent_at=None
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
    """Send the keys message the first time a subscription has a synced key.

    Never to a banned customer: their keys are disabled (the payment message said so). The
    subscription stays un-notified, so lifting the ban, which re-syncs the keys, sends it.
    """
    from subscriptions.notifications import notify_keys_ready

    with transaction.atomic():
        updated = Subscription.objects.filter(
            pk=subscription_id, keys_notified_at__isnull=True, customer__is_banned=False
        ).update(keys_notified_at=timezone.now())
        if updated:
            notify_keys_ready(subscription=Subscription.objects.get(pk=subscription_id))


def _delete_on_panel(client: X3UIClient, key: NodeClient, result: PushResult) -> None:
    """Remove the key's client; a client that is already gone counts as removed.

    A delete whose answer came too late is retried and finds nothing: the client settles
    that by reading the panel (``X3UIClient.delete_client``), never by guessing.
    """
    wanted = panel_client_for_key(key=key)
    try:
        client.delete_client(email=key.email, client_id=wanted.id)
    except X3UIForeignClient:
        pass  # the email is held by someone else's client: ours is not there
    except X3UIRejected:
        # Legacy panels refuse to delete an inbound's last client: disable it instead.
        client.update_client(_disabled(wanted))
    result.removed += 1


def _disabled(client: PanelClient) -> PanelClient:
    return PanelClient(**{**client.__dict__, "enable": False})


def _foreign(key: NodeClient, panel: PanelClient) -> X3UIForeignClient:
    return X3UIForeignClient(
        f"the panel already has a client {panel.email!r} that is not ours "
        f"(UUID {panel.id or '-'}, comment {panel.comment[:40]!r}); it is left alone",
        endpoint="",
    )


def _add_settled(client: X3UIClient, key: NodeClient, wanted: PanelClient) -> str:
    """Add one client: 'added', 'updated' or 'unchanged'.

    A refusal is settled by reading the panel's record back: our own client (marker and
    UUID) already there is updated if it drifted; anyone else's raises
    ``X3UIForeignClient`` and is never touched; nothing there means a real refusal.
    """
    try:
        client.add_client(wanted)
    except X3UIRejected as refusal:
        if refusal.status_code == 404:
            raise
        present = client.find_client(wanted.email)
        if present is None:
            client.get_inbound()  # X3UIInboundNotFound: a problem of the node, not of the key
            raise
        if not panel_client_is_ours(panel=present, wanted=wanted):
            raise _foreign(key, present) from refusal
        if present.inbound_ids is not None and client.inbound_id not in present.inbound_ids:
            raise  # ours, but attached elsewhere only: the panel's message says why
        if _managed_differs(present, wanted):
            client.update_client(wanted)
            return "updated"
        return "unchanged"
    return "added"


def _add_claim(key: NodeClient, *, now: datetime) -> bool:
    """Claim the add of `key` before the request is sent; False: another worker has.

    The mark means "an add may have reached the panel": if its answer is lost (a timeout
    after the panel applied it, a killed worker), every later push of the key reads the
    panel first instead of adding again (a re-add duplicates the client on v3.0.x and
    v3.2.8-v3.4.2, is refused on v3.1.0-v3.2.7 and is a silent no-op from v3.5.0). It is set
    only if nobody changed it since the key was loaded, so two workers never both add, and
    only the panel's confirmation clears it (`_done_flush`).
    """
    # The synced version too: a worker that loaded the key before another one added it and
    # the panel confirmed it (which clears the mark) must not claim the add again.
    rows = NodeClient.objects.filter(pk=key.pk, synced_version=key.synced_version)
    if key.add_sent_at is None:
        rows = rows.filter(add_sent_at__isnull=True)
    else:
        rows = rows.filter(add_sent_at=key.add_sent_at)
    if rows.update(add_sent_at=now) != 1:
        return False
    key.add_sent_at = now
    return True


def _push_one(
    client: X3UIClient,
    key: NodeClient,
    versions: dict[int, int],
    result: PushResult,
) -> bool:
    """Push one key without a listing when that is safe; False means "use a listing".

    A removal settles itself; a key the panel already holds is updated (on v3.1+ after
    reading its record: an update of a client attached to no inbound answers success and
    changes nothing there); a key never sent before is added. A key whose earlier add may
    have reached the panel, or whose update cannot be made directly, is decided from a
    listing.
    """
    version = versions[key.pk]
    if key.sync_state == SyncState.REMOVING:
        _delete_on_panel(client, key, result)
        _mark_done(result, key, version, removed=True)
        return True
    wanted = panel_client_for_key(key=key)
    if key.synced_version > 0:
        if client.detect_generation() == GENERATION_V3:
            present = client.find_client(key.email)
            if present is None or (
                present.inbound_ids is not None and client.inbound_id not in present.inbound_ids
            ):
                return False  # detached or deleted behind our back: the listing adds it
            if not panel_client_is_ours(panel=present, wanted=wanted):
                raise _foreign(key, present)
        try:
            client.update_client(wanted)
        except X3UIRejected:
            return False  # deleted behind our back? the listing will tell
        result.updated += 1
        _mark_done(result, key, version)
        return True
    if key.add_sent_at is None and _add_claim(key, now=timezone.now()):
        outcome = _add_settled(client, key, wanted)
        setattr(result, outcome, getattr(result, outcome) + 1)
        _mark_done(result, key, version)
        return True
    return False


def node_keys_push(*, node_id: int, key_ids: list[int], final_attempt: bool = False) -> PushResult:
    """Make the panel of `node_id` hold the desired state of `key_ids`.

    One key: directly when that is safe (see `_push_one`). Several: one listing, then
    batched adds and per-client updates/deletes. Raises X3UIUnavailable/X3UIAuthError
    for the task to retry; a refusal of one key marks that key, tells the admins and
    carries on (see `_refusals_handle`).
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
    logins = client.login_count
    try:
        if not (len(keys) == 1 and _push_one(client, keys[0], versions, result)):
            listed_at = timezone.now()
            _apply(client, keys, client.list_clients(), versions, result, listed_at=listed_at)
    except X3UIInboundNotFound as exc:
        for key in keys:
            _mark_error(key, versions[key.pk], str(exc), final=True)
        _inbound_missing_alert(node, exc)
        return result
    except X3UIRejected as exc:
        for key in keys:
            _refused(result, key, versions[key.pk], exc)
    except X3UIError as exc:
        if isinstance(exc, X3UILoginRefused):
            _login_refused(node, exc)
        for key in keys:
            _mark_error(
                key,
                versions[key.pk],
                str(exc),
                final=final_attempt,
            )
        raise
    finally:
        _done_flush(result, now=now)
        _generation_remember(node, client)
    _login_ok(node, client, logins)
    _refusals_handle(node, result)
    return result


def _inbound_missing_alert(node: Node, exc: X3UIInboundNotFound) -> None:
    notify_admins(
        text=(
            f"⚠️ The panel of <b>{escape(node.name)}</b> has no inbound {node.inbound_id} for "
            f"our panel user ({escape(str(exc)[:200])}): its keys wait. Check the node's "
            "inbound id and panel user in the console."
        ),
        kind="inbound-missing",
        dedupe_key=f"inbound-missing:{node.pk}:{timezone.now():%Y%m%d}",
    )


def _listing(clients: list[PanelClient]) -> dict[str, PanelClient]:
    """Panel clients by casefolded email (v3.0+ panels compare emails case-insensitively);
    of several copies the first, the one a legacy update changes."""
    listing: dict[str, PanelClient] = {}
    for client in clients:
        listing.setdefault(client.email.casefold(), client)
    return listing


def _refused(result: PushResult, key: NodeClient, version: int, exc: X3UIRejected) -> None:
    """A write the panel refused for a reason a retry cannot fix: the key is `error`."""
    result.errors[key.email] = str(exc)
    result.refused.append((key, str(exc)))
    _mark_error(key, version, str(exc), final=True)


def _apply(
    client: X3UIClient,
    keys: list[NodeClient],
    panel_clients: list[PanelClient],
    versions: dict[int, int],
    result: PushResult,
    *,
    listed_at: datetime,
) -> None:
    """Converge `keys` given the panel's clients as listed at `listed_at` (push, reconcile).

    A key absent from the listing is added only if this worker claims its add and nobody
    sent or confirmed one since the listing was taken (that add may be on the panel already;
    the next push or reconcile settles it). A client
    of ours that the panel holds twice (a re-add before this rule, on v3.0.x) is reported:
    the first copy, the one a legacy update changes, is kept up to date.
    """
    listing = _listing(panel_clients)
    copies = Counter(c.email.casefold() for c in panel_clients)
    to_add: list[tuple[NodeClient, PanelClient]] = []
    for key in keys:
        panel = listing.get(key.email.casefold())
        try:
            if key.sync_state == SyncState.REMOVING:
                if panel is not None:
                    _delete_on_panel(client, key, result)
                _mark_done(result, key, versions[key.pk], removed=True)
                continue
            wanted = panel_client_for_key(key=key)
            if panel is None:
                # An add sent, or confirmed, since the listing was taken: it may be there.
                touched_since = max(
                    key.add_sent_at or listed_at - timedelta(seconds=1),
                    key.last_synced_at or listed_at - timedelta(seconds=1),
                )
                if touched_since < listed_at and _add_claim(key, now=timezone.now()):
                    to_add.append((key, wanted))
                continue
            if not panel_client_is_ours(panel=panel, wanted=wanted):
                raise _foreign(key, panel)
            if copies[key.email.casefold()] > 1:
                result.duplicated.append(key)
            if _managed_differs(panel, wanted):
                client.update_client(wanted)
                result.updated += 1
                _mark_done(result, key, versions[key.pk])
            else:
                result.unchanged += 1
                if key.sync_state != SyncState.SYNCED or key.synced_version != versions[key.pk]:
                    _mark_done(result, key, versions[key.pk])
        except X3UIInboundNotFound:
            raise
        except X3UIRejected as exc:
            _refused(result, key, versions[key.pk], exc)
    if not to_add:
        return
    try:
        client.add_clients([wanted for _, wanted in to_add])
    except X3UIRejected as exc:
        # Part of a batch refused: those the panel accepted are done; each of the others is
        # tried alone and settled from the panel's record (never re-added blindly).
        accepted = {email.casefold() for email in exc.added}
        for key, wanted in to_add:
            if key.email.casefold() in accepted:
                result.added += 1
                _mark_done(result, key, versions[key.pk])
                continue
            try:
                outcome = _add_settled(client, key, wanted)
            except X3UIInboundNotFound:
                raise
            except X3UIRejected as refusal:
                _refused(result, key, versions[key.pk], refusal)
                continue
            setattr(result, outcome, getattr(result, outcome) + 1)
            _mark_done(result, key, versions[key.pk])
    else:
        result.added += len(to_add)
        for key, _ in to_add:
            _mark_done(result, key, versions[key.pk])


def _refusals_handle(node: Node, result: PushResult) -> None:
    """Tell the admins once per refused key, and re-place a subscription left without keys.

    A key the panel never held (its add was refused: someone else's client has the email,
    a duplicate, an unknown inbound) is given up on this node when another node can take
    the subscription; otherwise it stays `error` and reconciliation keeps trying.
    """
    for key in result.duplicated:
        notify_admins(
            text=(
                f"⚠️ The panel of <b>{escape(node.name)}</b> holds client "
                f"<code>{escape(key.email)}</code> (subscription #{key.subscription_id}) more "
                "than once (an add repeated before a fix of ours). The first copy is kept up "
                "to date; delete the others in the panel."
            ),
            kind="key-duplicated",
            dedupe_key=f"key-duplicated:{key.pk}",
        )
    result.duplicated = []
    refused, result.refused = result.refused, []
    for key, error in refused:
        notify_admins(
            text=(
                f"⚠️ The panel of <b>{escape(node.name)}</b> refused key "
                f"<code>{escape(key.email)}</code> (subscription #{key.subscription_id}): "
                f"{escape(error[:300])}"
            ),
            kind="key-refused",
            dedupe_key=f"key-refused:{key.pk}:{hashlib.sha256(error.encode()).hexdigest()[:12]}",
        )
        if key.synced_version == 0:
            _key_replace_elsewhere(key_id=key.pk, reason=f"{node.name} refused the key")


@transaction.atomic
def _key_replace_elsewhere(*, key_id: int, reason: str) -> bool:
    """Place the subscription of a never-placed, refused key on another node, if one can."""
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
    keys = subscription_keys_sync_locked(
        subscription=subscription, reason=reason, exclude_node_ids={key.node_id}
    )
    working = (SyncState.PENDING, SyncState.SYNCED)
    if any(k.node_id != key.node_id and k.sync_state in working for k in _keys_serving(keys)):
        return True
    key.sync_state = SyncState.ERROR  # nowhere else to go: keep trying here
    key.save(update_fields=["sync_state", "updated_at"])
    return False


# --- Reconciliation --------------------------------------------------------------------------


def node_reconcile(*, node: Node, now: datetime | None = None) -> dict:
    """Converge one panel to the database with a single listing.

    Missing keys are added (batched), drifted ones updated, removed ones deleted; our
    clients (marker and UUID) without a key here are disabled at once and deleted after the
    grace period; anyone else's clients are never touched. Traffic is pulled into the keys.
    The result is recorded on the node.
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
    _traffic_enforce(subscription_ids={k.subscription_id for k in keys})
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
    uuids = dict(
        Subscription.objects.filter(pk__in=set(marked.values())).values_list("pk", "client_uuid")
    )
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
    changed = []
    for key in keys:
        panel = listing.get(key.email.casefold())
        if panel is None:
            continue
        if (key.traffic_up, key.traffic_down) != (panel.up, panel.down):
            key.traffic_up, key.traffic_down = panel.up, panel.down
            changed.append(key)
    NodeClient.objects.bulk_update(changed, ["traffic_up", "traffic_down"], batch_size=500)


def _traffic_enforce(*, subscription_ids: set[int]) -> None:
    """Sum traffic over all nodes; a subscription over its limit gets its keys disabled.

    3x-ui enforces `totalGB` per panel only, so a multi-node subscription is capped here.
    A panel counts traffic once per email, so two keys of a subscription sharing one (keys
    made before the per-node emails, on two inbounds of one panel) are counted once, with the
    higher of their counters (a removed key's counter stops being read). Two queries whatever
    the number of subscriptions, plus one write per changed total.
    """
    if not subscription_ids:
        return
    per_client: dict[tuple, int] = {}
    for subscription_id, email, panel_url, up, down in NodeClient.objects.filter(
        subscription_id__in=subscription_ids
    ).values_list("subscription_id", "email", "node__panel_url", "traffic_up", "traffic_down"):
        client_key = (subscription_id, panel_url, email.casefold())
        per_client[client_key] = max(per_client.get(client_key, 0), up + down)
    totals: dict[int, int] = defaultdict(int)
    for (subscription_id, _panel, _email), used in per_client.items():
        totals[subscription_id] += used
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


def subscriptions_place_missing(*, seconds: float = 25.0) -> int:
    """Place keys for every active subscription that has none on a healthy node.

    The lost placement tasks behind them (a worker killed after a credit) are found by the
    beat every NODE_PLACE_MISSING_INTERVAL, whatever their number: one pass over the ones
    short of keys now, one transaction each, until `seconds` have passed (the next run
    carries on). Returns how many got a live key.
    """
    deadline = time.monotonic() + seconds
    count = 0
    for subscription_id in list(subscriptions_short_of_keys().values_list("pk", flat=True)):
        if time.monotonic() > deadline:
            break
        try:
            keys = subscription_keys_sync(subscription=Subscription(pk=subscription_id))
        except Subscription.DoesNotExist:
            continue
        count += any(k.sync_state in LIVE_KEY_STATES for k in keys)
    return count


def keys_push_lost(*, older_than: float = 60.0, limit: int = 2000) -> int:
    """Push again the keys whose push task was lost; how many were queued.

    A key waiting for its panel (pending, or being removed) has a push task queued when it
    changes. If that task is lost (a worker killed while holding it, the broker down at
    commit), the subscription still has a live key, so ``subscriptions_place_missing`` leaves
    it alone, and only the reconcile (every NODE_RECONCILE_INTERVAL, 10 minutes) used to push
    it (found by bench/drill.py). Keys untouched for `older_than` seconds on enabled nodes that
    are not down get one push task per node; they are touched, so the next run (every
    NODE_PLACE_MISSING_INTERVAL) leaves them to that task for another `older_than`. Pushing a
    key twice is safe (versions, the add claim).
    """
    now = timezone.now()
    keys = list(
        NodeClient.objects.filter(
            sync_state__in=(SyncState.PENDING, SyncState.REMOVING),
            node__is_enabled=True,
            updated_at__lt=now - timedelta(seconds=older_than),
        )
        .exclude(node__health=NodeHealth.DOWN)
        .order_by("updated_at")[:limit]
    )
    if not keys:
        return 0
    with transaction.atomic():
        NodeClient.objects.filter(pk__in=[k.pk for k in keys]).update(updated_at=now)
        _push_on_commit(keys)
    logger.info("pushing %s keys again whose push was lost", len(keys))
    return len(keys)


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
    logins = client.login_count
    started = time.monotonic()
    try:
        status = client.server_status()
        inbound = client.get_inbound()
        if not client.generation:
            client.detect_generation()  # once per node; remembered on the Node row
    except X3UIError as exc:
        if isinstance(exc, X3UILoginRefused):
            _login_refused(node, exc, now=now)
        return _health_failure(node, str(exc) or exc.__class__.__name__, now=now)
    finally:
        _generation_remember(node, client)
    _login_ok(node, client, logins)
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
    from core.exceptions import ApplicationError

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


def node_keys_retry(*, key_ids: list[int]) -> int:
    """Queue a fresh push for keys (an operator's "retry"): reset attempts, state pending.

    A key its panel refused and that was given up there (removed, never synced) comes back
    too: the operator has settled what the panel objected to.
    """
    keys = list(
        NodeClient.objects.filter(pk__in=key_ids).exclude(
            sync_state=SyncState.REMOVED, synced_version__gt=0
        )
    )
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
            subscription=subscription,
            node=target,
            email=key_email(subscription_id=subscription.pk, node_id=target.pk),
            **desired,
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
