"""Queueing outbox rows: dedupe keys make a notification happen once, and each pending row
is handed to ``outbox_send_task`` after commit (never before, never for a rolled-back row)."""

from contextlib import suppress
from unittest.mock import Mock, call

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus
from notifications.services import notify_admins, notify_customer, outbox_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(monkeypatch):
    """``outbox_send_task.delay``, replaced by a recorder (eager mode would send)."""
    recorder = Mock()
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", recorder)
    return recorder


def customer_message(customer, text, dedupe_key=None):
    return OutboxMessage(
        audience=OutboxAudience.CUSTOMER,
        customer=customer,
        chat_id=customer.telegram_id,
        text=text,
        dedupe_key=dedupe_key,
    )


def test_queue_saves_the_rows_and_skips_taken_keys(send):
    customer = CustomerFactory()
    old_a, old_c = outbox_queue(
        [customer_message(customer, "old a", "a"), customer_message(customer, "old c", "c")]
    )
    messages = [
        customer_message(customer, "dup a", "a"),
        customer_message(customer, "new b", "b"),
        customer_message(customer, "no key"),
        customer_message(customer, "dup c", "c"),
        customer_message(customer, "no key again"),
    ]
    queued = outbox_queue(messages)
    assert [m.text for m in queued] == ["new b", "no key", "no key again"]
    assert messages[0].pk is None
    assert messages[3].pk is None
    stored = dict(OutboxMessage.objects.values_list("pk", "text"))
    assert stored == {old_a.pk: "old a", old_c.pk: "old c", **{m.pk: m.text for m in queued}}
    row = OutboxMessage.objects.get(pk=queued[0].pk)
    assert (row.status, row.customer_id, row.chat_id) == (
        OutboxStatus.PENDING,
        customer.pk,
        customer.telegram_id,
    )
    assert row.reply_markup is None  # SQL NULL, not JSON null
    assert OutboxMessage.objects.filter(reply_markup__isnull=True).count() == 5


def test_a_taken_key_does_not_abort_the_callers_transaction(send):
    customer = CustomerFactory()
    with transaction.atomic():
        assert notify_customer(customer=customer, text="once", dedupe_key="paid:1") is not None
        assert notify_customer(customer=customer, text="twice", dedupe_key="paid:1") is None
        # The transaction is still usable after the skipped INSERT.
        assert notify_customer(customer=customer, text="after") is not None
    assert sorted(OutboxMessage.objects.values_list("text", flat=True)) == ["after", "once"]


def test_another_integrity_error_is_raised_not_taken_for_a_repeat(send):
    """A customer message without a customer breaks a check constraint: that is a bug."""
    broken = OutboxMessage(audience=OutboxAudience.CUSTOMER, chat_id=1, text="x", dedupe_key="k")
    with pytest.raises(IntegrityError):
        outbox_queue([broken])
    assert not OutboxMessage.objects.exists()


def test_notify_admins_writes_one_row_per_admin_chat_once(send, settings):
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001, 900002]
    messages = notify_admins(text="node down", dedupe_key="down:7")
    assert [m.chat_id for m in messages] == [900001, 900002]
    stored = dict(OutboxMessage.objects.values_list("pk", "chat_id"))
    assert stored == {m.pk: m.chat_id for m in messages}
    assert sorted(OutboxMessage.objects.values_list("dedupe_key", flat=True)) == [
        "down:7:900001",
        "down:7:900002",
    ]
    assert notify_admins(text="node down", dedupe_key="down:7") == []
    assert OutboxMessage.objects.count() == 2


def test_notify_admins_without_admin_chats_writes_nothing(send, settings):
    settings.TELEGRAM_ADMIN_CHAT_IDS = []
    assert notify_admins(text="nobody listens") == []
    assert not OutboxMessage.objects.exists()


def test_each_pending_row_gets_a_send_task_after_commit(
    send, settings, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001, 900002]
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        paid = notify_customer(customer=customer, text="paid", dedupe_key="paid:9")
        admins = notify_admins(text="new payment", dedupe_key="new:9")
        assert notify_customer(customer=customer, text="paid", dedupe_key="paid:9") is None
        send.assert_not_called()  # not before commit
    assert send.call_args_list == [call(paid.pk), *(call(m.pk) for m in admins)]


def test_a_repeated_key_queues_no_send(send, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    notify_customer(customer=customer, text="x", dedupe_key="x")
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_queue([customer_message(customer, "x2", "x")]) == []
    send.assert_not_called()


def test_skipped_rows_are_kept_but_not_sent(send, django_capture_on_commit_callbacks):
    blocked = CustomerFactory(bot_blocked_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        skipped = notify_customer(customer=blocked, text="you blocked us")
        sent = notify_customer(customer=CustomerFactory(), text="hello")
    assert OutboxMessage.objects.get(pk=skipped.pk).status == OutboxStatus.SKIPPED
    send.assert_called_once_with(sent.pk)


def test_a_rolled_back_row_is_not_sent(send, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with suppress(RuntimeError), transaction.atomic():
            notify_customer(customer=customer, text="gone")
            raise RuntimeError
        kept = notify_customer(customer=customer, text="kept")
    send.assert_called_once_with(kept.pk)
    assert list(OutboxMessage.objects.values_list("text", flat=True)) == ["kept"]


def test_a_broker_down_at_commit_leaves_the_row_pending_for_the_flush(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    monkeypatch.setattr(
        "notifications.tasks.outbox_send_task.delay", Mock(side_effect=OperationalError("down"))
    )
    with django_capture_on_commit_callbacks(execute=True):
        message = notify_customer(customer=CustomerFactory(), text="hello")
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.PENDING
    assert "OperationalError" in caplog.text or "down" in caplog.text
