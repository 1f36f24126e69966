"""The expiry sweep: chunks in a constant number of statements, row locks that two sweeps
(and a renewal in flight) respect, and the same end state as expiring one row."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from core.models import AuditEvent, AuditLog
from nodes.models import NodeClient, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.notifications import KIND_EXPIRED
from subscriptions.services import lifecycle
from subscriptions.services.lifecycle import (
    subscription_expire,
    subscription_extend,
    subscriptions_expire_due,
)
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def due_subscriptions(count, *, node=None, now=None):
    """`count` active subscriptions that ended an hour ago, each with a synced key."""
    now = now or timezone.now()
    node = node or NodeFactory()
    tariff = TariffFactory(name="Месяц", name_en="Month")
    subs = []
    for i in range(count):
        sub = SubscriptionFactory(
            customer=CustomerFactory(language="en" if i % 2 else "ru"),
            tariff=tariff,
            started_at=now - timedelta(days=31),
            expires_at=now - timedelta(hours=1, seconds=i),
        )
        NodeClientFactory(
            subscription=sub,
            node=node,
            enable=True,
            expiry_time_ms=int(sub.expires_at.timestamp() * 1000),
            limit_ip=sub.device_limit,
            total_bytes=sub.traffic_limit_bytes,
            sync_state=SyncState.SYNCED,
            desired_version=1,
            synced_version=1,
        )
        subs.append(sub)
    return subs


def expired_audits():
    return AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXPIRED)


def notices():
    return OutboxMessage.objects.filter(kind=KIND_EXPIRED)


@pytest.mark.parametrize("due", [1, 50])
def test_a_chunk_takes_the_same_statements_for_1_or_50_due(due, django_capture_on_commit_callbacks):
    node = NodeFactory()
    subs = due_subscriptions(due, node=node)
    with (
        mock.patch("nodes.tasks.node_keys_push_task.delay") as push,
        mock.patch("notifications.tasks.outbox_flush_task.delay") as flush,
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        assert sorted(subscriptions_expire_due(chunk=100)) == sorted(s.pk for s in subs)
    # After commit: one push for the node with every key, one outbox flush for the messages.
    push.assert_called_once_with(node.pk, sorted(s.keys.get().pk for s in subs))
    flush.assert_called_once_with()
    # One chunk and the empty look that ends the sweep: BEGIN/SAVEPOINT bookkeeping aside,
    # SELECT ... FOR UPDATE, UPDATE subscriptions, INSERT audit, SELECT keys, UPDATE keys,
    # INSERT messages; then the empty SELECT ... FOR UPDATE.
    statements = [q["sql"] for q in queries.captured_queries]
    work = [s for s in statements if not s.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN"))]
    assert len(work) == 7, "\n".join(work)
    assert expired_audits().count() == due
    assert notices().count() == due
    assert not NodeClient.objects.filter(enable=True).exists()


def test_a_chunk_leaves_keys_as_expiring_each_row_alone_does():
    """Synced, refused (error), being removed, removed and already disabled keys: the sweep
    and ``subscription_expire`` of a twin subscription leave the same state."""
    now = timezone.now()
    states = [
        {"sync_state": SyncState.SYNCED, "enable": True},
        {"sync_state": SyncState.ERROR, "enable": True},
        {"sync_state": SyncState.PENDING, "enable": True},
        {"sync_state": SyncState.REMOVING, "enable": False},
        {"sync_state": SyncState.REMOVED, "enable": True},
        {"sync_state": SyncState.SYNCED, "enable": False},
        {"sync_state": SyncState.SYNCED, "enable": False, "limit_ip": 9},
    ]

    def build():
        subs = []
        for state in states:
            sub = SubscriptionFactory(
                started_at=now - timedelta(days=31), expires_at=now - timedelta(hours=1)
            )
            fields = {
                "expiry_time_ms": int(sub.expires_at.timestamp() * 1000),
                "limit_ip": sub.device_limit,
                "total_bytes": 0,
                "desired_version": 3,
                "synced_version": 2,
                "attempts": 2,
                **state,
            }
            NodeClientFactory(subscription=sub, node=NodeFactory(), **fields)
            subs.append(sub)
        return subs

    def key_state(sub):
        return NodeClient.objects.filter(subscription=sub).values(
            *("enable", "expiry_time_ms", "limit_ip", "total_bytes", "attempts"),
            *("desired_version", "synced_version", "sync_state"),
        )[0]

    swept, alone = build(), build()
    with mock.patch("nodes.tasks.node_keys_push_task.delay"):
        for sub in alone:
            subscription_expire(subscription=sub, now=now, only_if_due=True)
        expected = [key_state(sub) for sub in alone]
    with (
        mock.patch("nodes.tasks.node_keys_push_task.delay"),
        mock.patch("notifications.tasks.outbox_flush_task.delay"),
    ):
        assert sorted(subscriptions_expire_due(now=now)) == sorted(s.pk for s in swept)
    assert [key_state(sub) for sub in swept] == expected
    # Sanity: what "expected" says (synced and refused keys off and pending, one version on;
    # removing, removed and already-right keys untouched; a drifted limit put right).
    assert [e["sync_state"] for e in expected] == [
        SyncState.PENDING,
        SyncState.PENDING,
        SyncState.PENDING,
        SyncState.REMOVING,
        SyncState.REMOVED,
        SyncState.SYNCED,
        SyncState.PENDING,
    ]
    assert [e["desired_version"] for e in expected] == [4, 4, 4, 3, 3, 3, 4]
    assert [e["enable"] for e in expected] == [False, False, False, False, True, False, False]


def test_an_early_expiry_moves_the_end_back_to_now_and_its_keys_with_it(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    sub = SubscriptionFactory(started_at=now - timedelta(days=1), expires_at=now + timedelta(9))
    key = NodeClientFactory(
        subscription=sub,
        enable=True,
        expiry_time_ms=int(sub.expires_at.timestamp() * 1000),
        limit_ip=sub.device_limit,
        sync_state=SyncState.SYNCED,
    )
    with (
        mock.patch("nodes.tasks.node_keys_push_task.delay") as push,
        django_capture_on_commit_callbacks(execute=True),
    ):
        sub = subscription_expire(subscription=sub, now=now)
    assert sub.expires_at == now
    assert Subscription.objects.get(pk=sub.pk).expires_at == now
    key.refresh_from_db()
    assert (key.enable, key.expiry_time_ms) == (False, int(now.timestamp() * 1000))
    push.assert_called_once_with(key.node_id, [key.pk])


def _in_thread(target):
    """Run `target` in a thread with its own connection; returns (thread, outcome list)."""
    outcome = []

    def run():
        try:
            outcome.append(target())
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_take_disjoint_rows_and_expire_each_once(on_postgres):
    """Each sweep holds its first chunk while the other takes its own: with row locks and
    ``skip_locked`` they hold different rows at the same time. Without the locks both take
    the same rows (two audit rows, the id returned twice); with locks but without
    ``skip_locked`` the second waits for the first and the two never hold a chunk together
    (the barrier below breaks)."""
    subs = due_subscriptions(40)
    both_hold_a_chunk = threading.Barrier(2, timeout=5)
    broken = []
    real = lifecycle._subscriptions_expire_locked
    first_chunk = threading.local()

    def expire_locked(**kwargs):
        if not getattr(first_chunk, "seen", False):
            first_chunk.seen = True
            try:
                both_hold_a_chunk.wait()
            except threading.BrokenBarrierError:
                broken.append(True)
        return real(**kwargs)

    with (
        mock.patch.object(lifecycle, "_subscriptions_expire_locked", expire_locked),
        mock.patch("nodes.tasks.node_keys_push_task.delay"),
        mock.patch("notifications.tasks.outbox_flush_task.delay"),
    ):
        runs = [_in_thread(lambda: subscriptions_expire_due(chunk=10)) for _ in range(2)]
        for thread, _ in runs:
            thread.join(timeout=60)
    results = [outcome[0] for _, outcome in runs]
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert broken == [], "the two sweeps never held a chunk at the same time"
    assert all(results), "each sweep expired some rows"
    taken = results[0] + results[1]
    assert sorted(taken) == sorted(s.pk for s in subs)  # every one, none twice
    assert expired_audits().count() == len(subs)
    assert notices().count() == len(subs)
    assert not Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).exists()


@pytest.mark.django_db(transaction=True)
def test_a_renewal_in_flight_is_skipped_not_expired(on_postgres):
    """The sweep meets a due subscription whose renewal holds its row: it neither waits
    nor expires it, and after the renewal commits the subscription is running."""
    (sub,) = due_subscriptions(1)
    (other,) = due_subscriptions(1)
    renewing, finish = threading.Event(), threading.Event()

    def renew():
        with transaction.atomic():
            renewed = subscription_extend(subscription=Subscription(pk=sub.pk), days=30)
            renewing.set()
            finish.wait(timeout=10)
        return renewed

    with (
        mock.patch("nodes.tasks.node_keys_push_task.delay"),
        mock.patch("notifications.tasks.outbox_flush_task.delay"),
        mock.patch("subscriptions.tasks.subscription_keys_converge_task.delay"),
    ):
        renewal, _ = _in_thread(renew)
        assert renewing.wait(timeout=10)
        sweep, swept = _in_thread(subscriptions_expire_due)
        sweep.join(timeout=5)
        still_waiting = sweep.is_alive()
        finish.set()
        renewal.join(timeout=10)
        sweep.join(timeout=10)
        assert not still_waiting, "the sweep waited for the renewal's row lock"
        assert swept == [[other.pk]]
        assert subscriptions_expire_due() == []
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.expires_at > timezone.now() + timedelta(days=29)
    assert not expired_audits().filter(object_id=str(sub.pk)).exists()
    assert not notices().filter(customer_id=sub.customer_id).exists()
