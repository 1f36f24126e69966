"""A credited payment never places keys itself: placement is a task queued on commit.

The credit only updates the keys that exist (new expiry); choosing nodes for missing keys
(which locks node rows) is left to ``subscriptions_keys_sync_task``.
"""

from contextlib import suppress
from datetime import timedelta
from decimal import Decimal
from unittest.mock import Mock

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import PaymentStatus
from billing.providers import ProviderNotification
from billing.services import payment_mark_paid
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.services import subscriptions_keys_sync
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


@pytest.fixture
def tasks(monkeypatch):
    """Every Celery task a credit queues, replaced by recorders (eager mode would run them)."""
    recorders = {
        "place": Mock(),
        "push": Mock(),
        "send": Mock(),
        "send_many": Mock(),
    }
    monkeypatch.setattr("nodes.tasks.subscriptions_keys_sync_task.delay", recorders["place"])
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", recorders["push"])
    monkeypatch.setattr("telegram_bot.services.outbox_send_task.delay", recorders["send"])
    monkeypatch.setattr("telegram_bot.services.outbox_send_many_task.delay", recorders["send_many"])
    return recorders


def mark(payment):
    return payment_mark_paid(
        payment_id=payment.pk,
        provider=payment.provider,
        notification=ProviderNotification(
            event_key=str(payment.pk),
            payment_id=payment.pk,
            amount=Decimal("299.00"),
            currency=None,
            provider_ref="",
            raw={},
        ),
    )


def expiry_ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def renewal(subscription):
    return PaymentFactory(
        customer=subscription.customer,
        tariff=subscription.tariff,
        subscription=subscription,
        expires_at=timezone.now() + timedelta(hours=1),
    )


# --- A new purchase ----------------------------------------------------------------------------


def test_purchase_creates_no_key_and_queues_placement_once(
    tasks, django_capture_on_commit_callbacks
):
    node = NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        credit = mark(payment)
        # Still inside the credit's transaction: no key, no node picked, nothing queued yet.
        assert not NodeClient.objects.exists()
        tasks["place"].assert_not_called()
    subscription = credit.payment.subscription
    assert credit.payment.status == PaymentStatus.PAID
    assert subscription.status == SubscriptionStatus.ACTIVE
    tasks["place"].assert_called_once_with([subscription.pk])
    tasks["push"].assert_not_called()  # no key changed in the credit
    assert not NodeClient.objects.exists()
    node.refresh_from_db()
    assert node.assigned_total == 0

    # The queued task then places the key on the eligible node.
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_keys_sync(subscription_ids=[subscription.pk]) == 1
    key = NodeClient.objects.get()
    assert (key.subscription_id, key.node_id) == (subscription.pk, node.pk)
    assert key.sync_state == SyncState.PENDING
    assert key.enable is True
    assert key.expiry_time_ms == expiry_ms(subscription.expires_at)
    tasks["push"].assert_called_once_with(node.pk, [key.pk])
    node.refresh_from_db()
    assert node.assigned_total == 1


def test_purchase_through_the_webhook_twice_queues_placement_once(
    tasks, client, django_capture_on_commit_callbacks
):
    NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
        assert response.content.decode() == f"OK{payment.pk}"
    subscription = Subscription.objects.get()
    tasks["place"].assert_called_once_with([subscription.pk])
    assert not NodeClient.objects.exists()


def test_payments_credited_in_one_transaction_share_one_placement_task(
    tasks, django_capture_on_commit_callbacks
):
    NodeFactory(health=NodeHealth.UP)
    payments = [PaymentFactory(expires_at=timezone.now() + timedelta(hours=1)) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        paid = [mark(payment) for payment in payments]
    tasks["place"].assert_called_once_with([c.payment.subscription.pk for c in paid])


def test_a_rolled_back_credit_queues_nothing(tasks, django_capture_on_commit_callbacks):
    NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))
    with (
        django_capture_on_commit_callbacks(execute=True),
        suppress(RuntimeError),
        transaction.atomic(),
    ):
        mark(payment)
        raise RuntimeError
    tasks["place"].assert_not_called()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not Subscription.objects.exists()


# --- A renewal ---------------------------------------------------------------------------------


def test_renewal_with_a_live_key_updates_it_in_the_credit_and_queues_no_placement(
    tasks, django_capture_on_commit_callbacks
):
    node = NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    key = NodeClientFactory(
        subscription=subscription,
        node=node,
        sync_state=SyncState.SYNCED,
        expiry_time_ms=expiry_ms(subscription.expires_at),
        limit_ip=subscription.device_limit,
        desired_version=3,
        synced_version=3,
    )
    payment = renewal(subscription)
    with django_capture_on_commit_callbacks(execute=True):
        credit = mark(payment)
        # Inside the credit's transaction the key already carries the new expiry.
        key.refresh_from_db()
        renewed = Subscription.objects.get(pk=subscription.pk)
        assert renewed.expires_at == subscription.expires_at + timedelta(days=30)
        assert key.expiry_time_ms == expiry_ms(renewed.expires_at)
        assert key.desired_version == 4
        assert key.synced_version == 3
        assert key.sync_state == SyncState.PENDING
    assert credit.payment.subscription_id == subscription.pk
    tasks["place"].assert_not_called()
    tasks["push"].assert_called_once_with(node.pk, [key.pk])
    assert NodeClient.objects.count() == 1


def test_renewal_of_an_expired_subscription_re_enables_its_key_without_placement(
    tasks, django_capture_on_commit_callbacks
):
    node = NodeFactory(health=NodeHealth.UP)
    ended = timezone.now() - timedelta(days=2)
    subscription = SubscriptionFactory(
        status=SubscriptionStatus.EXPIRED,
        started_at=ended - timedelta(days=30),
        expires_at=ended,
    )
    key = NodeClientFactory(
        subscription=subscription,
        node=node,
        enable=False,
        sync_state=SyncState.SYNCED,
        expiry_time_ms=expiry_ms(ended),
    )
    with django_capture_on_commit_callbacks(execute=True):
        mark(renewal(subscription))
    key.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert key.enable is True
    assert key.expiry_time_ms == expiry_ms(subscription.expires_at)
    assert key.desired_version == 2
    tasks["place"].assert_not_called()


@pytest.mark.parametrize("existing", ["none", "on-a-down-node", "removed", "on-a-disabled-node"])
def test_renewal_without_a_live_key_queues_placement(
    tasks, django_capture_on_commit_callbacks, existing
):
    NodeFactory(health=NodeHealth.UP)  # where the task could place it
    subscription = SubscriptionFactory()
    old_key = None
    if existing == "on-a-down-node":
        old_key = NodeClientFactory(
            subscription=subscription,
            node=NodeFactory(health=NodeHealth.DOWN),
            sync_state=SyncState.SYNCED,
        )
    elif existing == "removed":
        old_key = NodeClientFactory(
            subscription=subscription,
            node=NodeFactory(health=NodeHealth.UP),
            sync_state=SyncState.REMOVED,
        )
    elif existing == "on-a-disabled-node":
        old_key = NodeClientFactory(
            subscription=subscription,
            node=NodeFactory(health=NodeHealth.UP, is_enabled=False),
            sync_state=SyncState.SYNCED,
        )
    keys_before = NodeClient.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        mark(renewal(subscription))
        assert NodeClient.objects.count() == keys_before  # nothing placed in the credit
    tasks["place"].assert_called_once_with([subscription.pk])
    if existing in ("on-a-down-node", "on-a-disabled-node"):
        # The stranded key still gets the new expiry in the credit (it is moved by the task).
        old_key.refresh_from_db()
        subscription.refresh_from_db()
        assert old_key.expiry_time_ms == expiry_ms(subscription.expires_at)
        assert old_key.desired_version == 2
        assert old_key.sync_state == SyncState.PENDING


# --- The placement task's service --------------------------------------------------------------


def test_keys_sync_skips_subscriptions_that_no_longer_exist(tasks):
    node = NodeFactory(health=NodeHealth.UP)
    first, gone, last = SubscriptionFactory(), SubscriptionFactory(), SubscriptionFactory()
    gone_id = gone.pk
    gone.delete()
    assert subscriptions_keys_sync(subscription_ids=[first.pk, gone_id, last.pk]) == 2
    placed = dict(NodeClient.objects.values_list("subscription_id", "node_id"))
    assert placed == {first.pk: node.pk, last.pk: node.pk}


def test_keys_sync_is_a_no_op_for_a_subscription_already_placed(tasks):
    node = NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    assert subscriptions_keys_sync(subscription_ids=[subscription.pk]) == 1
    assert subscriptions_keys_sync(subscription_ids=[subscription.pk]) == 1
    key = NodeClient.objects.get()
    assert (key.node_id, key.desired_version) == (node.pk, 1)
    node.refresh_from_db()
    assert node.assigned_total == 1


def test_placement_task_runs_the_service(monkeypatch):
    from nodes.tasks import subscriptions_keys_sync_task

    NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", Mock())
    # Eager: the real task runs; an id that never existed is skipped.
    assert subscriptions_keys_sync_task.delay([subscription.pk, 10**9]).get() == 1
    assert NodeClient.objects.filter(subscription=subscription).count() == 1
