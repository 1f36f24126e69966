"""A credited payment never places keys itself: placement is a task queued on commit.

The credit only updates the keys that exist (new expiry); choosing nodes for missing keys
(which locks node rows) is left to ``subscriptions_keys_sync_task``. The credit's task
batches (placement, the outbox messages) leave in one broker message: ``tasks_run_task``
when there are several kinds, the task's own ``delay`` when there is one.
"""

import json
from contextlib import suppress
from datetime import timedelta
from decimal import Decimal
from unittest.mock import Mock

import pytest
import responses
from django.db import transaction
from django.utils import timezone

from billing.models import PaymentStatus
from billing.services import KIND_PAYMENT_PAID
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, mark_paid, robokassa_params, send
from core.tasks import tasks_run_task
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.services import subscriptions_keys_sync
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory
from telegram_bot.models import OutboxAudience, OutboxMessage, OutboxStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


PLACE = "nodes.tasks.subscriptions_keys_sync_task"
SEND_MANY = "telegram_bot.tasks.outbox_send_many_task"
PUSH = "nodes.tasks.nodes_keys_push_task"  # fans out to one node_keys_push_task per node


@pytest.fixture
def tasks(monkeypatch):
    """Every Celery task a credit queues, replaced by recorders (eager mode would run them).

    ``envelope`` is ``tasks_run_task``, the one message that carries several kinds of batch.
    """
    recorders = {
        "place": Mock(),
        "push": Mock(),
        "send": Mock(),
        "send_many": Mock(),
        "envelope": Mock(),
    }
    monkeypatch.setattr("nodes.tasks.subscriptions_keys_sync_task.delay", recorders["place"])
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", recorders["push"])
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_task.delay", recorders["send"])
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_many_task.delay", recorders["send_many"])
    monkeypatch.setattr("core.tasks.tasks_run_task.delay", recorders["envelope"])
    return recorders


def queued(tasks, name) -> list[list]:
    """The item lists queued for task `name`, sent by its own `delay` or in an envelope."""
    alone = {PLACE: tasks["place"], SEND_MANY: tasks["send_many"]}[name]
    lists = [c.args[0] for c in alone.call_args_list]
    for envelope in tasks["envelope"].call_args_list:
        lists += [items for task_name, items in envelope.args[0] if task_name == name]
    return lists


def envelope_batches(tasks) -> dict[str, list]:
    """The batches of the one envelope sent, by task name (each name once)."""
    [envelope] = tasks["envelope"].call_args_list
    batches = envelope.args[0]
    assert len({name for name, _ in batches}) == len(batches)
    return dict(batches)


def outbox_ids() -> list[int]:
    return list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True))


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
        credit = mark_paid(payment)
        # Still inside the credit's transaction: no key, no node picked, nothing queued yet.
        assert not NodeClient.objects.exists()
        tasks["envelope"].assert_not_called()
        tasks["place"].assert_not_called()
    subscription = credit.payment.subscription
    assert credit.payment.status == PaymentStatus.PAID
    assert subscription.status == SubscriptionStatus.ACTIVE
    # One broker message: the placement and the messages (customer, two admins) together.
    assert envelope_batches(tasks) == {PLACE: [subscription.pk], SEND_MANY: outbox_ids()}
    assert len(outbox_ids()) == 3
    tasks["place"].assert_not_called()
    tasks["send_many"].assert_not_called()
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
    assert queued(tasks, PLACE) == [[subscription.pk]]
    tasks["envelope"].assert_called_once()  # the repeated delivery publishes nothing
    assert not NodeClient.objects.exists()


def test_payments_credited_in_one_transaction_share_one_placement_task(
    tasks, django_capture_on_commit_callbacks
):
    NodeFactory(health=NodeHealth.UP)
    payments = [PaymentFactory(expires_at=timezone.now() + timedelta(hours=1)) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        paid = [mark_paid(payment) for payment in payments]
    batches = envelope_batches(tasks)
    assert batches[PLACE] == [c.payment.subscription.pk for c in paid]
    assert batches[SEND_MANY] == outbox_ids()
    assert queued(tasks, PLACE) == [batches[PLACE]]


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
    assert queued(tasks, PLACE) == []
    # One message: the key's push and the messages, no placement.
    assert envelope_batches(tasks) == {PUSH: [(node.pk, key.pk)], SEND_MANY: outbox_ids()}
    tasks["send_many"].assert_not_called()
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
    assert queued(tasks, PLACE) == []
    assert envelope_batches(tasks) == {PUSH: [(node.pk, key.pk)], SEND_MANY: outbox_ids()}


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
    batches = envelope_batches(tasks)
    stranded = existing in ("on-a-down-node", "on-a-disabled-node")
    # A stranded key gets the new expiry pushed (it is moved by the placement task).
    expected_push = {PUSH: [(old_key.node_id, old_key.pk)]} if stranded else {}
    assert batches == {PLACE: [subscription.pk], SEND_MANY: outbox_ids(), **expected_push}
    assert queued(tasks, PLACE) == [[subscription.pk]]
    if stranded:
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


def test_a_database_error_on_one_subscription_does_not_hold_up_the_others(tasks, monkeypatch):
    from django.db import DatabaseError

    from nodes import services as node_services
    from nodes.services import SubscriptionsKeysSyncError

    node = NodeFactory(health=NodeHealth.UP)
    first, broken, last = SubscriptionFactory(), SubscriptionFactory(), SubscriptionFactory()
    real = node_services.subscription_keys_sync

    def sync(*, subscription, **kwargs):
        if subscription.pk == broken.pk:
            raise DatabaseError("deadlock detected")
        return real(subscription=subscription, **kwargs)

    monkeypatch.setattr(node_services, "subscription_keys_sync", sync)
    with pytest.raises(SubscriptionsKeysSyncError) as caught:
        subscriptions_keys_sync(subscription_ids=[first.pk, broken.pk, last.pk])
    assert caught.value.failed == [broken.pk]
    placed = dict(NodeClient.objects.values_list("subscription_id", "node_id"))
    assert placed == {first.pk: node.pk, last.pk: node.pk}


def test_the_placement_task_retries_only_the_failed_ids(monkeypatch):
    from nodes.services import SubscriptionsKeysSyncError
    from nodes.tasks import subscriptions_keys_sync_task

    retried = Mock(side_effect=RuntimeError("retry raised"))
    monkeypatch.setattr(subscriptions_keys_sync_task, "retry", retried)
    monkeypatch.setattr(
        "nodes.services.subscriptions_keys_sync",
        Mock(side_effect=SubscriptionsKeysSyncError([7])),
    )
    with pytest.raises(RuntimeError, match="retry raised"):
        subscriptions_keys_sync_task.run([5, 7, 9])
    assert retried.call_args.kwargs["args"] == ([7],)


# --- End to end, eager Celery ------------------------------------------------------------------

API = "http://telegram.test/bot123456:TEST-TOKEN"


@responses.activate
def test_a_credit_places_the_key_and_sends_the_messages_through_one_envelope(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Nothing replaced but the panel push: the commit's one message really runs both."""
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001]
    responses.post(f"{API}/sendMessage", json={"ok": True, "result": {"message_id": 5}})
    pushed = Mock()  # the per-node push task is separate; there is no panel here
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", pushed)
    envelopes = []
    run = tasks_run_task.delay
    monkeypatch.setattr(
        "core.tasks.tasks_run_task.delay", lambda batches: envelopes.append(batches) or run(batches)
    )
    node = NodeFactory(health=NodeHealth.UP)
    payment = PaymentFactory(expires_at=timezone.now() + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        credit = mark_paid(payment)
        assert envelopes == []
        assert not NodeClient.objects.exists()

    subscription = credit.payment.subscription
    [envelope] = envelopes
    assert sorted(name for name, _ in envelope) == sorted([PLACE, SEND_MANY])
    # The placement batch ran: the key is on the node and its push was queued.
    key = NodeClient.objects.get()
    assert (key.subscription_id, key.node_id) == (subscription.pk, node.pk)
    assert key.sync_state == SyncState.PENDING
    pushed.assert_called_once_with(node.pk, [key.pk])
    # The outbox batch ran: the customer's message went out through the Bot API.
    message = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER)
    assert message.status == OutboxStatus.SENT
    assert message.telegram_message_id == 5
    assert [c.request.url for c in responses.calls] == [f"{API}/sendMessage"] * 2
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert [b["chat_id"] for b in bodies] == [subscription.customer.telegram_id, 900001]
    assert bodies[0]["text"] == message.text
    assert message.kind == KIND_PAYMENT_PAID
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_the_customers_and_the_admins_messages_are_one_insert(tasks, tariff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    payment = PaymentFactory(tariff=tariff, amount=Decimal("299.00"))
    with CaptureQueriesContext(connection) as captured:
        mark_paid(payment)
    inserts = [q["sql"] for q in captured if 'INTO "telegram_bot_outboxmessage"' in q["sql"]]
    assert len(inserts) == 1
    rows = OutboxMessage.objects.filter(dedupe_key__contains=f":{payment.pk}")
    assert sorted(rows.values_list("audience", "chat_id")) == sorted(
        [(OutboxAudience.CUSTOMER, payment.customer.telegram_id)]
        + [(OutboxAudience.ADMIN, chat_id) for chat_id in (900001, 900002)]
    )
