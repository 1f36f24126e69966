"""An operator moves a subscription to another node: old keys removed, new key pushed."""

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.services.moves import subscription_move
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(username="mover")


def live_key(subscription, node, state=SyncState.SYNCED):
    key = NodeClientFactory(subscription=subscription, node=node)
    NodeClient.objects.filter(pk=key.pk).update(sync_state=state, synced_version=1)
    key.refresh_from_db()
    return key


def test_move_marks_old_key_removing_creates_new_one_audits_and_pushes(
    operator, django_capture_on_commit_callbacks, monkeypatch
):
    pushed = []
    monkeypatch.setattr(
        "nodes.tasks.node_keys_push_task.delay", lambda node_id, ids: pushed.append((node_id, ids))
    )
    old, new = NodeFactory(name="old", health=NodeHealth.UP), NodeFactory(name="new")
    subscription = SubscriptionFactory()
    old_key = live_key(subscription, old)

    with django_capture_on_commit_callbacks(execute=True):
        keys = subscription_move(
            subscription=subscription, node=new, actor=operator, reason="rebalancing"
        )

    old_key.refresh_from_db()
    assert old_key.sync_state == SyncState.REMOVING
    assert old_key.enable is False
    new_key = NodeClient.objects.get(subscription=subscription, node=new)
    assert new_key.sync_state == SyncState.PENDING
    assert new_key.enable is True
    assert new_key.email == f"s{subscription.pk}n{new_key.node_id}"
    assert {k.pk for k in keys} == {old_key.pk, new_key.pk}
    audit = AuditLog.objects.get(event_type=AuditEvent.KEY_MOVED)
    assert audit.acting_user == operator
    assert audit.message == "rebalancing"
    assert audit.extra_data["from_node"] == "old"
    assert audit.extra_data["to_node"] == "new"
    assert sorted(pushed) == sorted([(old.pk, [old_key.pk]), (new.pk, [new_key.pk])])


def test_move_back_revives_the_removed_key_instead_of_a_duplicate(operator):
    a, b = NodeFactory(name="a"), NodeFactory(name="b")
    subscription = SubscriptionFactory()
    removed = live_key(subscription, a, state=SyncState.REMOVED)
    live_key(subscription, b)

    subscription_move(subscription=subscription, node=a, actor=operator)

    removed.refresh_from_db()
    assert removed.sync_state == SyncState.PENDING
    assert NodeClient.objects.filter(subscription=subscription).count() == 2
    assert NodeClient.objects.get(subscription=subscription, node=b).sync_state == (
        SyncState.REMOVING
    )


def test_customer_who_had_keys_is_told_about_the_new_links(operator):
    a, b = NodeFactory(name="a"), NodeFactory(name="b")
    subscription = SubscriptionFactory(keys_notified_at=timezone.now())
    live_key(subscription, a)
    subscription_move(subscription=subscription, node=b, actor=operator)
    assert OutboxMessage.objects.filter(customer=subscription.customer, kind="keys-moved").exists()


@pytest.mark.parametrize(
    ("node_kwargs", "message"),
    [
        ({"is_enabled": False}, "disabled or down"),
        ({"health": NodeHealth.DOWN}, "disabled or down"),
        ({"max_clients": 1}, "full"),
    ],
)
def test_refuses_unusable_targets(operator, node_kwargs, message):
    target = NodeFactory(name="target", **node_kwargs)
    if node_kwargs.get("max_clients"):
        live_key(SubscriptionFactory(), target)
    subscription = SubscriptionFactory()
    live_key(subscription, NodeFactory(name="source"))
    with pytest.raises(ApplicationError, match=message):
        subscription_move(subscription=subscription, node=target, actor=operator)
    assert not AuditLog.objects.filter(event_type=AuditEvent.KEY_MOVED).exists()


def test_refuses_inactive_subscriptions_and_a_move_to_where_it_already_is(operator):
    node = NodeFactory()
    expired = SubscriptionFactory(status=SubscriptionStatus.EXPIRED)
    with pytest.raises(ApplicationError, match="only an active one"):
        subscription_move(subscription=expired, node=node, actor=operator)
    subscription = SubscriptionFactory()
    live_key(subscription, node)
    with pytest.raises(ApplicationError, match="already on"):
        subscription_move(subscription=subscription, node=node, actor=operator)


def test_a_failed_move_changes_nothing(operator):
    source, target = NodeFactory(name="source"), NodeFactory(name="target", max_clients=1)
    live_key(SubscriptionFactory(), target)
    subscription = SubscriptionFactory()
    key = live_key(subscription, source)
    with pytest.raises(ApplicationError), transaction.atomic():
        subscription_move(subscription=subscription, node=target, actor=operator)
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_into_the_last_slot_let_exactly_one_in(on_postgres, monkeypatch):
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", lambda *args: None)
    operator = UserFactory(username="racer")
    target = NodeFactory(name="last-slot", max_clients=1, health=NodeHealth.UP)
    subscriptions = []
    for i in range(4):
        subscription = SubscriptionFactory()
        live_key(subscription, NodeFactory(name=f"source-{i}"))
        subscriptions.append(subscription)

    errors = run_concurrently(
        [
            lambda s=subscription: subscription_move(subscription=s, node=target, actor=operator)
            for subscription in subscriptions
        ]
    )

    assert len(errors) == 3
    assert all(isinstance(exc, ApplicationError) and "full" in exc.message for exc in errors)
    assert NodeClient.objects.filter(node=target).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.KEY_MOVED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_of_one_subscription_leave_one_live_key(on_postgres, monkeypatch):
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", lambda *args: None)
    operator = UserFactory(username="racer")
    subscription = SubscriptionFactory()
    live_key(subscription, NodeFactory(name="a", health=NodeHealth.UP))
    b, c = NodeFactory(name="b"), NodeFactory(name="c")

    errors = run_concurrently(
        [
            lambda: subscription_move(subscription=subscription, node=b, actor=operator),
            lambda: subscription_move(subscription=subscription, node=c, actor=operator),
        ]
    )

    assert errors == []
    live = NodeClient.objects.filter(
        subscription=subscription, sync_state__in=[SyncState.PENDING, SyncState.SYNCED]
    )
    assert live.count() == 1
    assert (
        NodeClient.objects.filter(subscription=subscription, sync_state=SyncState.REMOVING).count()
        == 2
    )
