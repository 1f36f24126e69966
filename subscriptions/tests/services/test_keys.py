"""A subscription's keys converge on what it needs: desired state, failover, pushes on commit."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import AuditEvent, AuditLog
from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeFactory
from subscriptions.models import SubscriptionStatus, TrafficReset
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_expire,
    subscription_extend,
)
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def test_extend_and_expire_change_desired_state_and_bump_version(customer):
    NodeFactory(health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory())
    key = sub.keys.get()
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.SYNCED, synced_version=1)
    sub = subscription_extend(subscription=sub, days=10)
    key.refresh_from_db()
    assert key.desired_version == 2
    assert key.sync_state == SyncState.PENDING
    assert key.expiry_time_ms == int(sub.expires_at.timestamp() * 1000)
    subscription_expire(subscription=sub)
    key.refresh_from_db()
    assert (key.enable, key.desired_version) == (False, 3)
    # Nothing changed: no new version.
    subscription_keys_converge(subscription=sub)
    key.refresh_from_db()
    assert key.desired_version == 3


def test_banned_customer_keys_are_disabled(customer):
    NodeFactory(health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory())
    customer.is_banned = True
    customer.save()
    subscription_keys_converge(subscription=sub)
    assert sub.keys.get().enable is False


def test_failover_moves_a_stranded_key_and_marks_the_old_one_for_removal(customer):
    first = NodeFactory(name="first", health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory())
    old = sub.keys.get()
    assert old.node == first
    Node.objects.filter(pk=first.pk).update(health=NodeHealth.DOWN)
    second = NodeFactory(name="second", health=NodeHealth.UP)
    subscription_keys_converge(subscription=sub)
    old.refresh_from_db()
    assert old.sync_state == SyncState.REMOVING
    assert old.enable is False
    new = sub.keys.exclude(pk=old.pk).get()
    assert (new.node, new.sync_state, new.enable) == (second, SyncState.PENDING, True)


def test_expired_subscription_gets_no_new_keys():
    NodeFactory(health=NodeHealth.UP)
    now = timezone.now()
    sub = SubscriptionFactory(
        status=SubscriptionStatus.EXPIRED, started_at=now - timedelta(40), expires_at=now
    )
    subscription_keys_converge(subscription=sub)
    assert sub.keys.count() == 0


def test_changes_in_one_transaction_are_pushed_as_one_task_per_node(
    django_capture_on_commit_callbacks,
):
    from unittest.mock import patch

    from accounts.tests.factories import CustomerFactory
    from subscriptions.services.lifecycle import subscriptions_expire_due

    node = NodeFactory(health=NodeHealth.UP)
    with (
        patch("nodes.tasks.node_keys_push_task.delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tariff = TariffFactory()
        subs = [subscription_create(customer=CustomerFactory(), tariff=tariff) for _ in range(5)]
    with (
        patch("nodes.tasks.node_keys_push_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        expired = subscriptions_expire_due(now=timezone.now() + timedelta(days=365))
    assert sorted(expired) == sorted(s.pk for s in subs)
    delay.assert_called_once_with(node.pk, sorted(s.keys.get().pk for s in subs))


def test_a_rolled_back_change_is_not_pushed(django_capture_on_commit_callbacks):
    from unittest.mock import patch

    NodeFactory(health=NodeHealth.UP)
    with (
        patch("nodes.tasks.node_keys_push_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        try:
            with transaction.atomic():
                subscription_create(
                    customer=SubscriptionFactory.build().customer.__class__.objects.create(
                        telegram_id=777
                    ),
                    tariff=TariffFactory(),
                )
                raise RuntimeError
        except RuntimeError:
            pass
    delay.assert_not_called()


def _serving(sub) -> list[str]:
    return sorted(
        sub.keys.exclude(sync_state__in=[SyncState.REMOVING, SyncState.REMOVED]).values_list(
            "node__name", flat=True
        )
    )


def test_a_renewal_onto_a_tariff_with_more_nodes_and_another_reset_takes_both(customer):
    """A renewal paid with another tariff moves the subscription onto all of that tariff's
    terms: its number of nodes (the missing keys are placed) and its reset period."""
    for name in ("a", "b", "c"):
        NodeFactory(name=name, health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory(node_count=1))
    assert len(_serving(sub)) == 1
    assert sub.traffic_reset == TrafficReset.NEVER
    assert sub.traffic_reset_next_at is None
    now = timezone.now()
    bigger = TariffFactory(node_count=2, traffic_reset=TrafficReset.MONTH)

    sub = subscription_extend(subscription=sub, days=30, tariff=bigger, now=now)

    sub.refresh_from_db()
    assert (sub.tariff, sub.node_count, sub.traffic_reset) == (bigger, 2, TrafficReset.MONTH)
    assert sub.traffic_reset_next_at is not None
    assert sub.traffic_reset_next_at > now
    assert len(_serving(sub)) == 2


def test_a_renewal_onto_a_tariff_with_fewer_nodes_takes_the_newest_keys_off(customer):
    for name in ("a", "b", "c"):
        NodeFactory(name=name, health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory(node_count=3))
    keys = list(sub.keys.order_by("pk"))
    assert len(keys) == 3
    smaller = TariffFactory(node_count=1, traffic_reset=TrafficReset.NEVER)

    subscription_extend(subscription=sub, days=30, tariff=smaller)

    states = dict(sub.keys.values_list("pk", "sync_state"))
    assert states[keys[0].pk] != SyncState.REMOVING  # the oldest key stays
    assert [states[key.pk] for key in keys[1:]] == [SyncState.REMOVING, SyncState.REMOVING]
    assert AuditLog.objects.filter(event_type=AuditEvent.KEY_REMOVED).count() == 2
    # Converging again changes nothing: one key serves, as the tariff asks.
    subscription_keys_converge(subscription=sub)
    assert len(_serving(sub)) == 1


def test_every_node_tariffs_have_no_surplus(customer):
    for name in ("a", "b"):
        NodeFactory(name=name, health=NodeHealth.UP)
    sub = subscription_create(customer=customer, tariff=TariffFactory(node_count=0))
    subscription_keys_converge(subscription=sub)
    assert len(_serving(sub)) == 2
