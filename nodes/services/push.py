"""Pushing keys to a panel: the desired state of some keys of one node, after commit.

Our database is the source of truth. The subscription services decide what each key must
be (``subscriptions.services.keys``); after commit one ``node_keys_push_task`` per node
makes its panel hold it. A refusal the panel will repeat is reported, and the
subscriptions app is told through ``nodes.signals`` (a refused key, keys now synced).
"""

import hashlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from nodes import signals
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.selectors import node_keys_for_sync
from nodes.services.clients import (
    _generation_remember,
    _login_ok,
    _login_refused,
    x3ui_client_for_node,
)
from nodes.services.keys import (
    _disabled,
    _foreign,
    _managed_differs,
    panel_client_for_key,
    panel_client_is_ours,
)
from nodes.services.resets import keys_traffic_resets_apply, reset_pending, traffic_reset_pending_q
from nodes.tasks import node_keys_push_task
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
from notifications.services import notify_admins

logger = logging.getLogger(__name__)


def keys_push_on_commit(*, keys: list[NodeClient]) -> None:
    """After commit, one ``node_keys_push_task`` per node for the keys that changed.

    One call covers the keys it is given: a change to one subscription gives each of its
    nodes one task; a sweep that changes many subscriptions in one transaction passes all
    their keys, so a panel gets one task per chunk rather than one per key. If the broker
    is down at commit the error is logged (``robust``): the reconcile beat converges the
    panels from the database.
    """
    by_node: dict[int, set[int]] = defaultdict(set)
    for key in keys:
        by_node[key.node_id].add(key.pk)
    for node_id, ids in by_node.items():
        key_ids = sorted(ids)
        transaction.on_commit(
            lambda node_id=node_id, key_ids=key_ids: node_keys_push_task.delay(node_id, key_ids),
            robust=True,
        )


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


def keys_push_lost(*, older_than: float = 60.0, limit: int = 2000) -> int:
    """Push again the keys whose push task was lost; how many were queued.

    A key waiting for its panel (pending, being removed, or with a traffic reset due) has a
    push task queued when it changes. If that task is lost (a worker killed while holding
    it, the broker down at commit), the subscription still has a live key, so
    ``subscriptions_place_missing`` leaves it alone, and the reconcile (every
    NODE_RECONCILE_INTERVAL) is minutes away. Keys untouched for `older_than` seconds on
    enabled nodes that are not down get one push task per node; they are touched, so the
    next run (every NODE_PLACE_MISSING_INTERVAL) leaves them to that task for another
    `older_than`. Pushing a key twice is safe (versions, the add claim, the reset claim).
    """
    now = timezone.now()
    keys = list(
        NodeClient.objects.filter(
            # A reset already tried (claimed) is left to its task's retries and the reconcile:
            # one the panel refuses is not tried again every minute.
            Q(sync_state__in=(SyncState.PENDING, SyncState.REMOVING))
            | (traffic_reset_pending_q() & Q(traffic_reset_sent_at__isnull=True)),
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
        keys_push_on_commit(keys=keys)
    logger.info("pushing %s keys again whose push was lost", len(keys))
    return len(keys)


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
        # The subscriptions app tells a customer whose first key is now on a panel.
        signals.keys_synced.send(sender=NodeClient, subscription_ids=subscription_ids)


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
    changes nothing there; a record already as wanted is not written); a key never sent
    before is added. A key whose earlier add may have reached the panel, whose update cannot
    be made directly, or whose traffic reset is due is decided from a listing.
    """
    version = versions[key.pk]
    if key.sync_state == SyncState.REMOVING:
        _delete_on_panel(client, key, result)
        _mark_done(result, key, version, removed=True)
        return True
    if reset_pending(key):
        return False  # the reset reads the counter from a listing first
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
            if not _managed_differs(present, wanted):
                # Already as wanted: the panel's own job disables a client past its
                # expiryTime (docs/x3ui.md, "The panel's own expiry job").
                result.unchanged += 1
                _mark_done(result, key, version)
                return True
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
            panel_clients, listed_at = keys_traffic_resets_apply(
                client=client,
                node=node,
                keys=keys,
                panel_clients=client.list_clients(),
                listed_at=listed_at,
            )
            _apply(client, keys, panel_clients, versions, result, listed_at=listed_at)
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
    """Tell the admins once per refused key, and send ``key_refused`` for a key never placed.

    A key the panel never held (its add was refused: someone else's client has the email,
    a duplicate, an unknown inbound) is given up on this node by the subscriptions app
    when another node can take the subscription; otherwise it stays `error` and
    reconciliation keeps trying.
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
            # The subscriptions app places the subscription on another node if one can.
            signals.key_refused.send(
                sender=NodeClient, key_id=key.pk, reason=f"{node.name} refused the key"
            )


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
        keys_push_on_commit(keys=keys)
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
