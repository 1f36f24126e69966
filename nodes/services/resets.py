"""Scheduled traffic resets on the panels: each key's counters reset once per period.

The subscriptions app decides when a subscription's traffic resets
(``subscriptions/services/traffic_resets.py``) and marks its keys with
``keys_traffic_reset_mark``; a push or a reconcile of their node then resets the counters
on the panel (``keys_traffic_resets_apply``) before it pushes their desired state, so a key
that was disabled for its traffic limit is enabled again on counters that are already zero.

Exactly once per period, however often a push or reconcile runs or retries:

- a key's reset is due while ``traffic_reset_done_at`` is before ``traffic_reset_due_at``;
  it is done by a reset request sent at or after the due moment, or by a listing taken at
  or after it that shows nothing to reset (no client of ours, or zero counters). Every
  "done" is a conditional UPDATE (``due <= that moment``), so a newer period marked in the
  meantime stays due;
- before a request is sent the key is claimed with a compare-and-set (the time, and the
  counter the listing showed), so two workers that read the same listing do not both send;
- a request whose answer was lost (a timeout after the panel applied it, a killed worker)
  is settled by reading the panel, never by guessing: a counter below the one seen before
  the request means the panel applied it. Only a counter that has grown past that again
  since would be reset twice (documented in docs/x3ui.md);
- a panel that is down keeps its keys due: the push defers or its task retries, and the
  reconcile that follows the node's return resets them. Counters read from a panel while a
  key's reset is due are not stored (they belong to the period that ended).
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from nodes.models import Node, NodeClient, SyncState
from nodes.services.keys import panel_client_for_key, panel_client_is_ours
from nodes.x3ui import PanelClient, X3UIClient, X3UIRejected
from notifications.services import notify_admins

logger = logging.getLogger(__name__)


def traffic_reset_pending_q() -> Q:
    """Keys whose panel counters still have to be reset (the rule of ``reset_pending``)."""
    return Q(traffic_reset_due_at__isnull=False) & (
        Q(traffic_reset_done_at__isnull=True)
        | Q(traffic_reset_done_at__lt=F("traffic_reset_due_at"))
    )


def reset_pending(key: NodeClient) -> bool:
    """``traffic_reset_pending_q`` asked of one key as loaded."""
    due, done = key.traffic_reset_due_at, key.traffic_reset_done_at
    return due is not None and (done is None or done < due)


def keys_traffic_reset_mark(*, keys: QuerySet[NodeClient], at: datetime) -> list[NodeClient]:
    """Zero our counters of `keys` and mark those on a panel for a reset of their panel
    counters for the period that began `at`; returns the marked keys (for a push).

    Every key's stored counters go to zero, removed ones too (the feed sums them all). Keys
    that are removed or being removed need nothing on a panel. ``updated_at`` moves, so a
    lost push is found again by ``keys_push_lost`` a minute later.
    """
    keys.update(traffic_up=0, traffic_down=0)
    live = keys.exclude(sync_state__in=[SyncState.REMOVED, SyncState.REMOVING])
    marked = list(live.only("pk", "node_id", "subscription_id"))
    live.update(traffic_reset_due_at=at, updated_at=timezone.now())
    return marked


def _done(key: NodeClient, *, at: datetime) -> None:
    """The reset due for `key` is covered by something that happened `at` (a request sent,
    or a listing that showed nothing to reset), unless a newer period was marked since."""
    rows = NodeClient.objects.filter(traffic_reset_pending_q(), pk=key.pk)
    updated = rows.filter(traffic_reset_due_at__lte=at).update(
        traffic_reset_done_at=at, traffic_reset_sent_at=None, traffic_reset_sent_counter=None
    )
    if updated:
        key.traffic_reset_done_at = at
        key.traffic_reset_sent_at = key.traffic_reset_sent_counter = None


def _claim(key: NodeClient, *, at: datetime, counter: int) -> bool:
    """Claim the reset request of `key` (False: another worker claimed or finished it since
    `key` was loaded, or the key was marked for a newer period)."""
    rows = NodeClient.objects.filter(
        traffic_reset_pending_q(), pk=key.pk, traffic_reset_due_at=key.traffic_reset_due_at
    )
    if key.traffic_reset_sent_at is None:
        rows = rows.filter(traffic_reset_sent_at__isnull=True)
    else:
        rows = rows.filter(traffic_reset_sent_at=key.traffic_reset_sent_at)
    if rows.update(traffic_reset_sent_at=at, traffic_reset_sent_counter=counter) != 1:
        return False
    key.traffic_reset_sent_at, key.traffic_reset_sent_counter = at, counter
    return True


def _refused(node: Node, key: NodeClient, exc: X3UIRejected) -> None:
    logger.warning("traffic reset of %s on %s refused: %s", key.email, node.name, exc)
    notify_admins(
        text=(
            f"⚠️ The panel of <b>{escape(node.name)}</b> refused to reset the traffic of "
            f"<code>{escape(key.email)}</code> (subscription #{key.subscription_id}): "
            f"{escape(str(exc)[:300])}. It is tried again at every reconcile."
        ),
        kind="traffic-reset-refused",
        dedupe_key=f"traffic-reset-refused:{key.pk}:{key.traffic_reset_due_at:%Y%m%d%H%M}",
    )


def keys_traffic_resets_apply(
    *,
    client: X3UIClient,
    node: Node,
    keys: list[NodeClient],
    panel_clients: list[PanelClient],
    listed_at: datetime,
) -> tuple[list[PanelClient], datetime]:
    """Reset the panel counters of the `keys` whose reset is due, given the panel's clients
    as listed at `listed_at`; returns the listing to go on with and when it was taken.

    One request per key to reset (none for a key with nothing to reset). When the panel
    reset any, it is listed again (one request): a reset changes more than the counters
    (v3.3.1+ enables a disabled client), and the push that follows compares the key's
    desired state with what the panel holds now. ``X3UIUnavailable`` propagates (the task
    retries; resets already made are recorded).
    """
    due = [k for k in keys if k.sync_state != SyncState.REMOVING and reset_pending(k)]
    if not due:
        return panel_clients, listed_at
    listing: dict[str, PanelClient] = {}
    for panel in panel_clients:
        listing.setdefault(panel.email.casefold(), panel)
    reset: set[str] = set()
    for key in due:
        panel = listing.get(key.email.casefold())
        if panel is None or not panel_client_is_ours(
            panel=panel, wanted=panel_client_for_key(key=key)
        ):
            # Nothing of ours there: an add starts from zero; anyone else's client is never
            # touched (the push reports it).
            _done(key, at=listed_at)
            continue
        used = panel.up + panel.down
        if used == 0:
            _done(key, at=listed_at)
            continue
        sent_at, sent_counter = key.traffic_reset_sent_at, key.traffic_reset_sent_counter
        if (
            sent_at is not None
            and sent_at >= key.traffic_reset_due_at
            and sent_counter is not None
            and used < sent_counter
        ):
            _done(key, at=sent_at)  # an earlier request reached the panel; its answer did not
            continue
        now = timezone.now()
        if not _claim(key, at=now, counter=used):
            continue
        try:
            client.reset_client_traffic(key.email)
        except X3UIRejected as exc:  # a panel without the route too: the admins are told
            _refused(node, key, exc)
            continue
        _done(key, at=now)
        reset.add(key.email.casefold())
    if not reset:
        return panel_clients, listed_at
    listed_at = timezone.now()
    return client.list_clients(), listed_at
