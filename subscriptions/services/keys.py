"""A subscription's keys: what each must be now, where new ones go, when the customer hears.

``subscription_keys_converge`` is the one entry point for "something about this subscription
changed". It decides in the caller's transaction (placement, failover of stranded keys,
enable/expiry/limits) and leaves the panel I/O to ``nodes`` after commit. The names:

- ``subscription_keys_converge``: locks the subscription's row itself (any caller);
- ``subscription_keys_converge_in_lock``: the caller already holds that row lock and may
  defer placement (``place_now=False``);
- ``subscription_keys_converge_task``: the Celery task a deferred placement queues;
- ``subscriptions_keys_converge_ended``: the same for many ended subscriptions at once
  (the expiry sweep), in a constant number of statements.
"""

import time
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.selectors import LIVE_KEY_STATES
from nodes.services.keys import key_email
from nodes.services.push import keys_push_on_commit
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.notifications import notify_keys_moved, notify_keys_ready
from subscriptions.selectors import subscriptions_short_of_keys
from subscriptions.services.placement import _keys_serving, _nodes_to_place
from subscriptions.tasks import subscription_keys_converge_task


def _expiry_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def subscription_key_enabled(*, subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether the customer may use their keys right now: running, not banned, under the
    traffic limit."""
    now = now or timezone.now()
    return (
        subscription.is_running(now)
        and not subscription.customer.is_banned
        and not subscription.traffic_limit_reached()
    )


# What a key holds of its subscription (``_desired_fields``), pushed to its panel.
_DESIRED = ("enable", "expiry_time_ms", "limit_ip", "total_bytes")


def _desired_fields(subscription: Subscription, *, enable: bool) -> dict:
    return {
        "enable": enable,
        "expiry_time_ms": _expiry_ms(subscription.expires_at),
        "limit_ip": subscription.device_limit,
        "total_bytes": subscription.traffic_limit_bytes,
    }


def _key_desired(subscription: Subscription, key: NodeClient, *, enable: bool) -> dict | None:
    """The desired fields of `key` that differ from what it holds (None: nothing to change,
    or a removed key, which stays as it is). One rule for ``subscription_keys_converge_in_lock``
    and ``subscriptions_keys_converge_ended``."""
    if key.sync_state == SyncState.REMOVED:
        return None
    desired = _desired_fields(subscription, enable=enable and key.sync_state != SyncState.REMOVING)
    if all(getattr(key, name) == value for name, value in desired.items()):
        return None
    return desired


@transaction.atomic
def subscription_keys_converge(
    *, subscription: Subscription, now: datetime | None = None, reason: str = ""
) -> list[NodeClient]:
    """Make the keys of `subscription` what it needs now; the panels follow after commit.

    The one entry point for "something about this subscription changed", for a caller that
    does not hold the subscription's row: it locks the row (in its own transaction, or the
    caller's) and runs ``subscription_keys_converge_in_lock``. Converging means: place keys
    when the subscription has fewer live keys on healthy nodes than its tariff asks for,
    move keys stranded on a down node (the old one is removed when its node returns), and
    set enable/expiry/limits on every key; then queue one push per node on commit
    (``nodes.services.push.keys_push_on_commit``). Nothing is sent to a panel here.
    """
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=subscription.pk)
    )
    return subscription_keys_converge_in_lock(subscription=subscription, now=now, reason=reason)


def _keys_short(subscription: Subscription, keys: list[NodeClient]) -> bool:
    """Whether placement would look for nodes (a key missing, or "every node" tariffs)."""
    return subscription.node_count == 0 or len(_keys_serving(keys)) < subscription.node_count


def _keys_surplus(subscription: Subscription, keys: list[NodeClient]) -> list[NodeClient]:
    """The serving keys beyond the tariff's number of nodes (the newest ones), which leave
    their panels: a renewal onto a tariff with fewer nodes. "Every node" has no surplus."""
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.node_count == 0:
        return []
    serving = sorted(_keys_serving(keys), key=lambda key: key.pk or 0)
    return serving[subscription.node_count :]


def subscription_keys_converge_in_lock(
    *,
    subscription: Subscription,
    now: datetime | None = None,
    reason: str = "",
    keys: list[NodeClient] | None = None,
    place_now: bool = True,
    exclude_node_ids=frozenset(),
) -> list[NodeClient]:
    """``subscription_keys_converge`` for a caller that already holds the subscription's row
    lock (the lifecycle services, inside their own transaction).

    `subscription` is the current row, locked (or created) in this transaction, with
    customer and tariff loaded; `keys` may be given when they are known (``[]`` for a
    subscription created just now), saving the query.

    ``place_now=False`` (a payment being credited): the keys that exist get their new
    desired state here, in the caller's transaction, but choosing nodes for missing keys
    (which locks node rows) is left to a task queued on commit. The credit then never waits
    on, nor fails because of, placement. If that task is lost, the beat's
    ``subscriptions_place_missing`` places the keys of a subscription that has none (a new
    one, or one whose only key is stranded); a multi-node tariff left short waits for its
    next change or an operator's re-provision.
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
            transaction.on_commit(
                lambda: subscription_keys_converge_task.delay(subscription.pk), robust=True
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

    surplus = _keys_surplus(subscription, keys)
    for key in surplus:
        key.sync_state = SyncState.REMOVING

    changed = list(created)
    for key in keys:
        if key in created:
            continue
        desired = _key_desired(subscription, key, enable=enable)
        if desired is None and key.sync_state == stored_state[key.pk]:
            continue
        desired = desired or {}
        for name, value in desired.items():
            setattr(key, name, value)
        key.desired_version += 1
        if key.sync_state in (SyncState.SYNCED, SyncState.ERROR):
            key.sync_state = SyncState.PENDING
        key.attempts = 0
        key.save(
            update_fields=[
                *_desired_fields(subscription, enable=enable),
                "desired_version",
                "sync_state",
                "attempts",
                "updated_at",
            ]
        )
        changed.append(key)

    for old in surplus:
        audit_log_write(
            event_type=AuditEvent.KEY_REMOVED,
            obj=old,
            actor_label="system",
            customer_id=subscription.customer_id,
            message=reason
            or f"{old.node.name}: more keys than the tariff's {subscription.node_count}",
        )
    for old in moved_from:
        audit_log_write(
            event_type=AuditEvent.KEY_MOVED,
            obj=old,
            actor_label="system",
            customer_id=subscription.customer_id,
            message=reason or f"{old.node.name} is down; key re-placed",
        )
    if moved_from and subscription.keys_notified_at:
        notify_keys_moved(subscription=subscription)
    keys_push_on_commit(keys=changed)
    return keys


def subscriptions_keys_converge_ended(
    *, subscriptions: list[Subscription], now: datetime | None = None
) -> list[NodeClient]:
    """``subscription_keys_converge_in_lock`` for many subscriptions that have ended
    (expired), in a constant number of statements: one SELECT of their keys, one UPDATE.

    The caller holds the row locks of `subscriptions` (customer loaded), none of them
    active: an ended subscription gets no new keys, its keys keep their nodes and get their
    desired state (``_key_desired``: disabled, the subscription's expiry and limits) with the
    desired version bumped, exactly as the one-row converge leaves them. After commit one
    ``node_keys_push_task`` per node carries every key of theirs that waits for its panel
    (the changed ones, and any left pending before). Returns those keys.
    """
    now = now or timezone.now()
    if any(subscription.status == SubscriptionStatus.ACTIVE for subscription in subscriptions):
        raise ValueError("subscriptions_keys_converge_ended is for subscriptions that ended")
    by_pk = {subscription.pk: subscription for subscription in subscriptions}
    keys = list(
        NodeClient.objects.filter(subscription_id__in=by_pk)
        .exclude(sync_state=SyncState.REMOVED)
        .only("pk", "node_id", "subscription_id", "sync_state", *_DESIRED)
        .order_by("pk")
    )
    changes: dict[int, dict] = {}
    for key in keys:
        subscription = by_pk[key.subscription_id]
        desired = _key_desired(
            subscription, key, enable=subscription_key_enabled(subscription=subscription, now=now)
        )
        if desired is not None:  # only the columns that differ, so most stay as they are
            changes[key.pk] = {n: v for n, v in desired.items() if getattr(key, n) != v}
    if changes:
        NodeClient.objects.filter(pk__in=changes).update(
            **{
                name: _per_key(name, changes)
                for name in _DESIRED
                if any(name in fields for fields in changes.values())
            },
            desired_version=F("desired_version") + 1,
            sync_state=Case(
                When(
                    sync_state__in=[SyncState.SYNCED, SyncState.ERROR],
                    then=Value(SyncState.PENDING),
                ),
                default=F("sync_state"),
            ),
            attempts=0,
            updated_at=timezone.now(),
        )
    waiting = [
        key
        for key in keys
        if key.pk in changes or key.sync_state in (SyncState.PENDING, SyncState.REMOVING)
    ]
    keys_push_on_commit(keys=waiting)
    return waiting


def _per_key(name: str, changes: dict[int, dict]):
    """The new value of column `name` for the keys in `changes` ({key pk: changed fields}):
    one ``When`` per distinct new value, the column itself where it stays."""
    by_value: dict = defaultdict(list)
    for pk, fields in changes.items():
        if name in fields:
            by_value[fields[name]].append(pk)
    return Case(
        *(When(pk__in=pks, then=Value(value)) for value, pks in by_value.items()),
        default=F(name),
        output_field=NodeClient._meta.get_field(name),
    )


def subscriptions_keys_ready_notify(*, subscription_ids) -> None:
    """Send the keys message the first time a subscription has a synced key.

    Called when a push or reconcile confirmed keys (``nodes.signals.keys_synced``). Never
    to a banned customer: their keys are disabled (the payment message said so). The
    subscription stays un-notified, so lifting the ban, which re-converges the keys, sends it.
    """
    waiting = Subscription.objects.filter(
        pk__in=subscription_ids,
        keys_notified_at__isnull=True,
        keys__sync_state=SyncState.SYNCED,
    ).values_list("pk", flat=True)
    for subscription_id in set(waiting):
        with transaction.atomic():
            updated = Subscription.objects.filter(
                pk=subscription_id, keys_notified_at__isnull=True, customer__is_banned=False
            ).update(keys_notified_at=timezone.now())
            if updated:
                notify_keys_ready(subscription=Subscription.objects.get(pk=subscription_id))


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
            keys = subscription_keys_converge(subscription=Subscription(pk=subscription_id))
        except Subscription.DoesNotExist:
            continue
        count += any(k.sync_state in LIVE_KEY_STATES for k in keys)
    return count
