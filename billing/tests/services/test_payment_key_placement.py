"""A credited payment never places keys itself: placement is a task queued on commit, once
per subscription; each outbox message and each node's push is its own task."""

import json
from contextlib import suppress
from datetime import timedelta
from unittest.mock import Mock

import pytest
import responses
from django.db import DatabaseError, transaction
from django.utils import timezone

from billing.models import PaymentStatus
from billing.services.messages import KIND_PAYMENT_PAID
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, mark_paid, robokassa_params, send
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.tasks import subscription_keys_converge_task
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


@pytest.fixture
def tasks(monkeypatch):
    """Every Celery task a credit queues, replaced by recorders (eager mode would run them)."""
    recorders = {"place": Mock(), "push": Mock(), "send": Mock()}
    monkeypatch.setattr(
        "subscriptions.tasks.subscription_keys_converge_task.delay", recorders["place"]
    )
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", recorders["push"])
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", recorders["send"])
    return recorders


def placed(tasks) -> list[int]:
    """The subscription ids queued for placement, in order."""
    return [c.args[0] for c in tasks["place"].call_args_list]


def pushed(tasks) -> list[tuple[int, list[int]]]:
    """The (node id, key ids) pushes queued, in order."""
    return [c.args for c in tasks["push"].call_args_list]


def sent(tasks) -> list[int]:
    """The outbox message ids queued for sending, in order."""
    return [c.args[0] for c in tasks["send"].call_args_list]


def outbox_ids() -> list[int]:
    return list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True))


def expiry_ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def renewal(subscription):
    return PaymentFactory(
        subscription=subscription,
        expires_at=timezone.now() + timedelta(hours=1),
    )


def test_purchase_creates_no_key_and_queues_placement_once(
    tasks, django_capture_on_commit_callbacks
):
    node = NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        credit = mark_paid(payment)
        # Still inside the credit's transaction: no key, no node picked, nothing queued yet.
        assert not NodeClient.objects.exists()
        tasks["place"].assert_not_called()
        tasks["send"].assert_not_called()
    subscription = credit.payment.subscription
    assert credit.payment.status == PaymentStatus.PAID
    assert subscription.status == SubscriptionStatus.ACTIVE
    # After commit: one placement, one send per message (customer, two admins).
    assert placed(tasks) == [subscription.pk]
    assert sent(tasks) == outbox_ids()
    assert len(outbox_ids()) == 3
    tasks["push"].assert_not_called()  # no key changed in the credit
    assert not NodeClient.objects.exists()
    node.refresh_from_db()
    assert node.assigned_total == 0

    # The queued task then places the key on the eligible node.
    with django_capture_on_commit_callbacks(execute=True):
        subscription_keys_converge(subscription=subscription)
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
    assert placed(tasks) == [subscription.pk]  # the repeated delivery queues nothing
    assert len(sent(tasks)) == 3
    assert not NodeClient.objects.exists()


def test_payments_credited_in_one_transaction_queue_one_placement_each(
    tasks, django_capture_on_commit_callbacks
):
    NodeFactory(health=NodeHealth.UP)
    payments = [PaymentFactory(expires_at=timezone.now() + timedelta(hours=1)) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        paid = [mark_paid(payment) for payment in payments]
        tasks["place"].assert_not_called()
    assert placed(tasks) == [c.payment.subscription.pk for c in paid]
    assert sent(tasks) == outbox_ids()


def test_a_rolled_back_credit_queues_nothing(tasks, django_capture_on_commit_callbacks):
    NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))
    with (
        django_capture_on_commit_callbacks(execute=True),
        suppress(RuntimeError),
        transaction.atomic(),
    ):
        mark_paid(payment)
        raise RuntimeError
    for recorder in tasks.values():
        recorder.assert_not_called()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not Subscription.objects.exists()


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
        credit = mark_paid(payment)
        # Inside the credit's transaction the key already carries the new expiry.
        key.refresh_from_db()
        renewed = Subscription.objects.get(pk=subscription.pk)
        assert renewed.expires_at == subscription.expires_at + timedelta(days=30)
        assert key.expiry_time_ms == expiry_ms(renewed.expires_at)
        assert key.desired_version == 4
        assert key.synced_version == 3
        assert key.sync_state == SyncState.PENDING
    assert credit.payment.subscription_id == subscription.pk
    # The key's push and the messages, no placement.
    assert placed(tasks) == []
    assert pushed(tasks) == [(node.pk, [key.pk])]
    assert sent(tasks) == outbox_ids()
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
        mark_paid(renewal(subscription))
    key.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert key.enable is True
    assert key.expiry_time_ms == expiry_ms(subscription.expires_at)
    assert key.desired_version == 2
    assert placed(tasks) == []
    assert pushed(tasks) == [(node.pk, [key.pk])]
    assert sent(tasks) == outbox_ids()


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
        mark_paid(renewal(subscription))
        assert NodeClient.objects.count() == keys_before  # nothing placed in the credit
    stranded = existing in ("on-a-down-node", "on-a-disabled-node")
    # A stranded key gets the new expiry pushed (it is moved by the placement task).
    assert pushed(tasks) == ([(old_key.node_id, [old_key.pk])] if stranded else [])
    assert placed(tasks) == [subscription.pk]
    assert sent(tasks) == outbox_ids()
    if stranded:
        # The stranded key still gets the new expiry in the credit (it is moved by the task).
        old_key.refresh_from_db()
        subscription.refresh_from_db()
        assert old_key.expiry_time_ms == expiry_ms(subscription.expires_at)
        assert old_key.desired_version == 2
        assert old_key.sync_state == SyncState.PENDING


def test_the_placement_task_skips_a_subscription_that_no_longer_exists(tasks):

    NodeFactory(health=NodeHealth.UP)
    gone = SubscriptionFactory()
    gone_id = gone.pk
    gone.delete()
    assert subscription_keys_converge_task.run(gone_id) is False
    assert not NodeClient.objects.exists()


def test_the_placement_task_is_a_no_op_for_a_subscription_already_placed(tasks):

    node = NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    assert subscription_keys_converge_task.run(subscription.pk) is True
    assert subscription_keys_converge_task.run(subscription.pk) is True
    key = NodeClient.objects.get()
    assert (key.node_id, key.desired_version) == (node.pk, 1)
    node.refresh_from_db()
    assert node.assigned_total == 1


def test_placement_task_runs_the_service(monkeypatch):

    NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", Mock())
    # Eager: the real task runs.
    assert subscription_keys_converge_task.delay(subscription.pk).get() is True
    assert NodeClient.objects.filter(subscription=subscription).count() == 1


def test_the_placement_task_retries_on_a_database_error(monkeypatch):

    retried = Mock(side_effect=RuntimeError("retry raised"))
    monkeypatch.setattr(subscription_keys_converge_task, "retry", retried)
    monkeypatch.setattr(
        "subscriptions.services.keys.subscription_keys_converge",
        Mock(side_effect=DatabaseError("deadlock")),
    )
    with pytest.raises(RuntimeError, match="retry raised"):
        subscription_keys_converge_task.run(7)
    assert isinstance(retried.call_args.kwargs["exc"], DatabaseError)


API = "http://telegram.test/bot123456:TEST-TOKEN"


@responses.activate
def test_a_credit_places_the_key_and_sends_the_messages_after_commit(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Nothing replaced but the panel push: the commit's tasks really run (eager)."""
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001]
    responses.post(f"{API}/sendMessage", json={"ok": True, "result": {"message_id": 5}})
    pushed_now = Mock()  # there is no panel here
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", pushed_now)
    node = NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        credit = mark_paid(payment)
        assert not NodeClient.objects.exists()
        assert not responses.calls

    subscription = credit.payment.subscription
    # The placement task ran: the key is on the node and its push was queued.
    key = NodeClient.objects.get()
    assert (key.subscription_id, key.node_id) == (subscription.pk, node.pk)
    assert key.sync_state == SyncState.PENDING
    pushed_now.assert_called_once_with(node.pk, [key.pk])
    # The send tasks ran: the customer's message went out through the Bot API.
    message = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER)
    assert message.status == OutboxStatus.SENT
    assert message.telegram_message_id == 5
    assert [c.request.url for c in responses.calls] == [f"{API}/sendMessage"] * 2
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert [b["chat_id"] for b in bodies] == [subscription.customer.telegram_id, 900001]
    assert bodies[0]["text"] == message.text
    assert message.kind == KIND_PAYMENT_PAID
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
