"""The outbox in batches: one INSERT for many rows, one broker message per transaction."""

import json
from contextlib import suppress
from unittest.mock import Mock, call

import pytest
import responses
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from telegram_bot.models import OutboxAudience, OutboxMessage, OutboxStatus
from telegram_bot.services import _outbox_insert, notify_admins, notify_customer
from telegram_bot.tasks import outbox_send_many_task

pytestmark = pytest.mark.django_db

API = "http://telegram.test/bot123456:TEST-TOKEN"


def ok(message_id=1):
    return {"ok": True, "result": {"message_id": message_id, "chat": {"id": 1}}}


@pytest.fixture
def dispatch(monkeypatch):
    """What a commit publishes: `.delay` of the two send tasks and of the envelope that
    carries several kinds of task (``tasks_run_task``), replaced by recorders."""
    one, many, envelope = Mock(), Mock(), Mock()
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_task.delay", one)
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_many_task.delay", many)
    monkeypatch.setattr("core.tasks.tasks_run_task.delay", envelope)
    return one, many, envelope


def customer_message(customer, text, dedupe_key=None):
    return OutboxMessage(
        audience=OutboxAudience.CUSTOMER,
        customer=customer,
        chat_id=customer.telegram_id,
        text=text,
        dedupe_key=dedupe_key,
    )


def inserts(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]


# --- _outbox_insert ----------------------------------------------------------------------------


def test_insert_writes_all_rows_in_one_statement_and_sets_their_ids(dispatch):
    customer = CustomerFactory()
    messages = [
        customer_message(customer, "first", "k:1"),
        customer_message(customer, "second"),
        customer_message(customer, "third", "k:3"),
    ]
    with CaptureQueriesContext(connection) as captured:
        inserted = _outbox_insert(messages)
    assert len(captured.captured_queries) == 1
    [sql] = inserts(captured.captured_queries)
    assert "ON CONFLICT DO NOTHING" in sql
    assert "RETURNING" in sql
    assert inserted == messages
    assert all(m.pk is not None and not m._state.adding for m in inserted)
    stored = dict(OutboxMessage.objects.values_list("pk", "text"))
    assert stored == {m.pk: m.text for m in messages}
    row = OutboxMessage.objects.get(pk=messages[0].pk)
    assert (row.status, row.customer_id, row.chat_id) == (
        OutboxStatus.PENDING,
        customer.pk,
        customer.telegram_id,
    )
    assert row.created_at is not None  # pre_save ran: auto_now_add filled in
    assert row.reply_markup is None  # SQL NULL, not JSON null
    assert OutboxMessage.objects.filter(reply_markup__isnull=True).count() == 3


def test_insert_skips_taken_keys_and_pairs_ids_with_the_right_messages(dispatch):
    customer = CustomerFactory()
    old_a, old_b = _outbox_insert(
        [customer_message(customer, "old a", "a"), customer_message(customer, "old b", "c")]
    )
    messages = [
        customer_message(customer, "dup a", "a"),
        customer_message(customer, "new b", "b"),
        customer_message(customer, "no key"),
        customer_message(customer, "dup c", "c"),
        customer_message(customer, "new d", "d"),
        customer_message(customer, "no key again"),
    ]
    inserted = _outbox_insert(messages)
    assert [m.text for m in inserted] == ["new b", "no key", "new d", "no key again"]
    assert messages[0].pk is None
    assert messages[3].pk is None
    stored = dict(OutboxMessage.objects.values_list("pk", "text"))
    assert stored == {
        old_a.pk: "old a",
        old_b.pk: "old b",
        **{m.pk: m.text for m in inserted},
    }
    assert dict(
        OutboxMessage.objects.filter(pk__in=[m.pk for m in inserted]).values_list(
            "pk", "dedupe_key"
        )
    ) == {m.pk: m.dedupe_key for m in inserted}


def test_insert_when_every_key_is_taken_returns_nothing_and_queues_nothing(
    dispatch, django_capture_on_commit_callbacks
):
    one, many, envelope = dispatch
    customer = CustomerFactory()
    _outbox_insert([customer_message(customer, "x", "x"), customer_message(customer, "y", "y")])
    with django_capture_on_commit_callbacks(execute=True):
        repeated = _outbox_insert(
            [customer_message(customer, "x2", "x"), customer_message(customer, "y2", "y")]
        )
    assert repeated == []
    one.assert_not_called()
    many.assert_not_called()
    envelope.assert_not_called()
    assert sorted(OutboxMessage.objects.values_list("text", flat=True)) == ["x", "y"]


# --- notify_customer / notify_admins -----------------------------------------------------------


def test_notify_customer_returns_none_for_a_repeated_key(dispatch):
    customer = CustomerFactory()
    first = notify_customer(customer=customer, text="once", dedupe_key="paid:1")
    assert first is not None
    assert first.pk is not None
    assert notify_customer(customer=customer, text="twice", dedupe_key="paid:1") is None
    assert list(OutboxMessage.objects.values_list("pk", "text")) == [(first.pk, "once")]


def test_notify_admins_is_one_insert_for_every_admin_chat(
    dispatch, settings, django_assert_num_queries
):
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001, 900002]
    with django_assert_num_queries(1) as captured:
        messages = notify_admins(text="node down", dedupe_key="down:7")
    assert len(inserts(captured.captured_queries)) == 1
    assert [m.chat_id for m in messages] == [900001, 900002]
    stored = dict(OutboxMessage.objects.values_list("pk", "chat_id"))
    assert stored == {m.pk: m.chat_id for m in messages}
    assert sorted(OutboxMessage.objects.values_list("dedupe_key", flat=True)) == [
        "down:7:900001",
        "down:7:900002",
    ]
    with django_assert_num_queries(1):
        assert notify_admins(text="node down", dedupe_key="down:7") == []
    assert OutboxMessage.objects.count() == 2


def test_notify_admins_without_admin_chats_writes_nothing(dispatch, settings):
    settings.TELEGRAM_ADMIN_CHAT_IDS = []
    assert notify_admins(text="nobody listens") == []
    assert not OutboxMessage.objects.exists()


# --- One broker message per transaction --------------------------------------------------------
# Only outbox work is queued here, so the batch task is sent by its own `.delay` (no envelope).


def test_one_message_is_sent_by_the_batch_task(dispatch, django_capture_on_commit_callbacks):
    one, many, envelope = dispatch
    with django_capture_on_commit_callbacks(execute=True):
        message = notify_customer(customer=CustomerFactory(), text="hi")
        many.assert_not_called()  # not before commit
    many.assert_called_once_with([message.pk])
    one.assert_not_called()
    envelope.assert_not_called()


def test_several_messages_of_a_transaction_go_in_one_batch_task(
    dispatch, settings, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_ADMIN_CHAT_IDS = [900001, 900002]
    one, many, envelope = dispatch
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            paid = notify_customer(customer=customer, text="paid", dedupe_key="paid:9")
            admins = notify_admins(text="new payment", dedupe_key="new:9")
        # A repeat in the same transaction adds nothing.
        assert notify_customer(customer=customer, text="paid", dedupe_key="paid:9") is None
        keys = notify_customer(customer=customer, text="keys")
    many.assert_called_once_with([paid.pk, *(m.pk for m in admins), keys.pk])
    one.assert_not_called()
    envelope.assert_not_called()


def test_the_next_transaction_gets_its_own_task(dispatch, django_capture_on_commit_callbacks):
    one, many, envelope = dispatch
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = notify_customer(customer=customer, text="1")
        second = notify_customer(customer=customer, text="2")
    with django_capture_on_commit_callbacks(execute=True):
        third = notify_customer(customer=customer, text="3")
    assert many.call_args_list == [call([first.pk, second.pk]), call([third.pk])]
    one.assert_not_called()
    envelope.assert_not_called()


def test_skipped_rows_are_not_enqueued(dispatch, django_capture_on_commit_callbacks):
    one, many, envelope = dispatch
    blocked = CustomerFactory(bot_blocked_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        skipped = notify_customer(customer=blocked, text="you blocked us")
        sent = notify_customer(customer=CustomerFactory(), text="hello")
    assert skipped.status == OutboxStatus.SKIPPED
    assert OutboxMessage.objects.get(pk=skipped.pk).status == OutboxStatus.SKIPPED
    many.assert_called_once_with([sent.pk])

    many.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        notify_customer(customer=blocked, text="still blocked")
    many.assert_not_called()
    one.assert_not_called()
    envelope.assert_not_called()


def test_a_rolled_back_transaction_enqueues_nothing(dispatch, django_capture_on_commit_callbacks):
    one, many, envelope = dispatch
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with suppress(RuntimeError), transaction.atomic():
            notify_customer(customer=customer, text="gone")
            raise RuntimeError
        kept = notify_customer(customer=customer, text="kept")
    many.assert_called_once_with([kept.pk])
    one.assert_not_called()
    envelope.assert_not_called()
    assert list(OutboxMessage.objects.values_list("text", flat=True)) == ["kept"]


# --- outbox_send_many_task ---------------------------------------------------------------------


def queued_messages(count):
    """`count` pending messages to different chats, ids in queue order (nothing dispatched)."""
    return [
        notify_customer(customer=CustomerFactory(), text=f"message {n}").pk for n in range(count)
    ]


def sent_texts():
    return [json.loads(call.request.body)["text"] for call in responses.calls]


@responses.activate
def test_batch_task_sends_every_message_in_order(dispatch, monkeypatch):
    responses.post(f"{API}/sendMessage", json=ok())
    requeued = []
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_many_task.delay", requeued.append)
    ids = queued_messages(3)
    assert outbox_send_many_task(ids) == 3
    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert statuses == dict.fromkeys(ids, OutboxStatus.SENT)
    assert sent_texts() == ["message 0", "message 1", "message 2"]
    assert requeued == []


@responses.activate
def test_batch_task_uses_the_per_message_claim(dispatch):
    """A message already sent (also handed to another task) is not sent again."""
    responses.post(f"{API}/sendMessage", json=ok())
    ids = queued_messages(2)
    OutboxMessage.objects.filter(pk=ids[0]).update(status=OutboxStatus.SENT)
    assert outbox_send_many_task(ids) == 2
    assert sent_texts() == ["message 1"]


@responses.activate
def test_batch_task_reschedules_a_throttled_message_and_goes_on(dispatch, monkeypatch):
    responses.post(
        f"{API}/sendMessage",
        status=429,
        json={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
    )
    responses.post(f"{API}/sendMessage", json=ok())
    later = []
    monkeypatch.setattr(
        "telegram_bot.tasks.outbox_send_task.apply_async",
        lambda args, countdown: later.append((args, countdown)),
    )
    first, second = queued_messages(2)
    assert outbox_send_many_task([first, second]) == 2
    assert later == [((first,), 17)]
    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert statuses == {first: OutboxStatus.PENDING, second: OutboxStatus.SENT}


@responses.activate
def test_batch_task_past_its_budget_passes_the_rest_on(dispatch, monkeypatch):
    responses.post(f"{API}/sendMessage", json=ok())
    requeued = []
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_many_task.delay", requeued.append)
    # Below zero: the budget is spent as soon as the first message is out, whatever the clock.
    monkeypatch.setattr("telegram_bot.tasks.OUTBOX_BATCH_BUDGET_SECONDS", -1)
    ids = queued_messages(3)
    assert outbox_send_many_task(ids) == 1  # the first one always goes
    assert requeued == [ids[1:]]
    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert statuses == {
        ids[0]: OutboxStatus.SENT,
        ids[1]: OutboxStatus.PENDING,
        ids[2]: OutboxStatus.PENDING,
    }
    assert sent_texts() == ["message 0"]

    # The follow-up task, with time to spare, sends the rest.
    monkeypatch.setattr("telegram_bot.tasks.OUTBOX_BATCH_BUDGET_SECONDS", 15)
    assert outbox_send_many_task(requeued[0]) == 2
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 3
    assert requeued == [ids[1:]]


@responses.activate
def test_batch_task_budget_is_measured_with_the_monotonic_clock(dispatch, monkeypatch):
    responses.post(f"{API}/sendMessage", json=ok())
    requeued = []
    monkeypatch.setattr("telegram_bot.tasks.outbox_send_many_task.delay", requeued.append)
    # started, then one reading before each message after the first: 1 s, then 16 s in.
    clock = iter([100.0, 101.0, 116.0])
    fake_time = Mock(monotonic=lambda: next(clock))
    monkeypatch.setattr("telegram_bot.tasks.time", fake_time)
    ids = queued_messages(4)
    assert outbox_send_many_task(ids) == 2
    assert requeued == [ids[2:]]
    assert sent_texts() == ["message 0", "message 1"]


def test_columns_unset_in_every_row_are_left_out_and_stored_as_null(dispatch):
    """A credit's three rows fit the 50 parameters psycopg caches a statement for."""
    from telegram_bot.services import admin_messages, outbox_queue
    from telegram_bot.services import customer_message as build_customer_message

    customer = CustomerFactory()
    rows = [
        build_customer_message(customer=customer, text="paid", dedupe_key="paid:1"),
        *admin_messages(text="new payment", dedupe_key="new:1"),
    ]
    assert len(rows) == 3  # two admin chats in the test settings
    with CaptureQueriesContext(connection) as captured:
        outbox_queue(rows)
    [insert] = [q["sql"] for q in captured if "INSERT" in q["sql"]]
    for left_out in ("reply_markup", "broadcast_id", "claimed_at", "sent_at"):
        assert f'"{left_out}"' not in insert
    assert '"customer_id"' in insert  # set in one row: kept, NULL in the others
    columns = insert.split("(", 1)[1].split(")", 1)[0].split(", ")
    assert len(columns) * len(rows) <= 50
    stored = OutboxMessage.objects.order_by("pk")
    assert [m.customer_id for m in stored] == [customer.pk, None, None]
    assert all(m.reply_markup is None and m.sent_at is None for m in stored)


def test_a_column_set_in_any_row_is_written_for_all(dispatch):
    customer = CustomerFactory()
    markup = {"inline_keyboard": [[{"text": "Open", "url": "https://example.com"}]]}
    with_markup = customer_message(customer, "a", dedupe_key="m:1")
    with_markup.reply_markup = markup
    plain = customer_message(customer, "b", dedupe_key="m:2")
    _outbox_insert([with_markup, plain])
    assert OutboxMessage.objects.get(dedupe_key="m:1").reply_markup == markup
    assert OutboxMessage.objects.get(dedupe_key="m:2").reply_markup is None
