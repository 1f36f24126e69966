"""A subscription's keys converge on what it needs: desired state, failover, pushes on commit."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeFactory
from subscriptions.models import SubscriptionStatus
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
