"""Broadcasts: audiences at their boundaries, texts per language, one outbox row per
recipient (never twice), scheduling, stop, test sends, progress, retry."""

import json
from datetime import timedelta

import pytest
import responses
from django.test import TestCase
from django.utils import timezone, translation

from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from console.broadcasts import (
    broadcast_audience_count,
    broadcast_create,
    broadcast_enqueue,
    broadcast_progress,
    broadcast_progress_refresh,
    broadcast_schedule,
    broadcast_start,
    broadcast_stop,
    broadcast_test_send,
    broadcasts_start_due,
)
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from nodes.models import SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import (
    Broadcast,
    BroadcastAudience,
    BroadcastButton,
    BroadcastStatus,
    OutboxMessage,
    OutboxStatus,
)
from notifications.services import notify_customer, outbox_messages_retry
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

API = "http://telegram.test/bot123456:TEST-TOKEN"
HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def in_english():
    """Errors in the operator's words, in English (the default language is Russian)."""
    with translation.override("en"):
        yield


@pytest.fixture
def operator():
    return UserFactory(username="broadcaster")


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def population(now):
    """One customer of each kind, named by what they are; the boundaries are N = 7 days
    ahead (expiring) and N = 30 days back (expired), an hour either side."""

    def running(customer, days, **kwargs):
        return SubscriptionFactory(
            customer=customer, started_at=now - timedelta(days=1), expires_at=now + days, **kwargs
        )

    def ended(customer, ago, **kwargs):
        return SubscriptionFactory(
            customer=customer,
            status=SubscriptionStatus.EXPIRED,
            started_at=now - ago - timedelta(days=30),
            expires_at=now - ago,
            **kwargs,
        )

    people = {name: CustomerFactory() for name in NAMES}
    people["banned"].is_banned = True
    people["banned"].save()
    people["blocked"].bot_blocked_at = now
    people["blocked"].save()
    tariff, node = TariffFactory(name="Family"), NodeFactory(name="fra-1")
    on_node = running(people["active"], timedelta(days=40), tariff=tariff)
    NodeClientFactory(subscription=on_node, node=node, sync_state=SyncState.SYNCED)
    gone = running(people["key_removed"], timedelta(days=40))
    NodeClientFactory(subscription=gone, node=node, sync_state=SyncState.REMOVED)
    running(people["expiring_inside"], timedelta(days=7) - HOUR)
    running(people["expiring_outside"], timedelta(days=7) + HOUR)
    ended(people["expired_inside"], timedelta(days=30) - HOUR)
    ended(people["expired_outside"], timedelta(days=30) + HOUR)
    ended(people["expired_renewed"], timedelta(days=3))
    running(people["expired_renewed"], timedelta(days=40))
    running(people["trial_only"], timedelta(days=20), is_trial=True)
    running(people["trial_and_paid"], timedelta(days=20), is_trial=True)
    running(people["trial_and_paid"], timedelta(days=20))
    for name in ("banned", "blocked"):
        running(people[name], timedelta(days=3), tariff=tariff)
    for name in NAMES:
        if name not in ("never_paid", "trial_only", "banned", "blocked"):
            PaymentFactory(customer=people[name], status=PaymentStatus.PAID, paid_at=now)
    PaymentFactory(customer=people["never_paid"], status=PaymentStatus.CANCELLED)
    people["tariff"], people["node"] = tariff, node
    return people


NAMES = (
    "active",
    "key_removed",
    "expiring_inside",
    "expiring_outside",
    "expired_inside",
    "expired_outside",
    "expired_renewed",
    "trial_only",
    "trial_and_paid",
    "never_paid",
    "banned",
    "blocked",
)
RUNNING = {
    "active",
    "key_removed",
    "expiring_inside",
    "expiring_outside",
    "expired_renewed",
    "trial_only",
    "trial_and_paid",
}


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (BroadcastAudience.ALL, set(NAMES) - {"banned", "blocked"}),
        (BroadcastAudience.ACTIVE, RUNNING),
        (BroadcastAudience.EXPIRING, {"expiring_inside"}),
        (BroadcastAudience.EXPIRED, {"expired_inside"}),
        (BroadcastAudience.TRIAL, {"trial_only"}),
        (BroadcastAudience.NEVER_PAID, {"never_paid", "trial_only"}),
        (BroadcastAudience.TARIFF, {"active"}),
        (BroadcastAudience.NODE, {"active"}),
    ],
)
def test_audiences_at_their_boundaries_leave_out_banned_and_blocked(
    population, audience, expected, operator, now
):
    days = 7 if audience == BroadcastAudience.EXPIRING else 30
    broadcast = broadcast_create(
        text_ru="Новости",
        audience=audience,
        audience_days=days,
        audience_tariff_id=population["tariff"].pk if audience == "tariff" else None,
        audience_node_id=population["node"].pk if audience == "node" else None,
        actor=operator,
    )
    assert broadcast_audience_count(broadcast=broadcast, now=now) == len(expected)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING, started_at=now)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    got = set(
        OutboxMessage.objects.filter(broadcast=broadcast).values_list("customer_id", flat=True)
    )
    assert got == {population[name].pk for name in expected}


def test_language_filter_narrows_any_audience(population, operator, now):
    population["active"].language = "en"
    population["active"].save()
    population["trial_only"].language = "en"
    population["trial_only"].save()
    broadcast = broadcast_create(
        text_en="News", audience=BroadcastAudience.ACTIVE, language="en", actor=operator
    )
    assert broadcast_audience_count(broadcast=broadcast, now=now) == 2


def test_tariff_and_node_audiences_need_an_existing_one(operator):
    with pytest.raises(ApplicationError, match="Choose the tariff"):
        broadcast_create(text_ru="x", audience=BroadcastAudience.TARIFF, actor=operator)
    with pytest.raises(ApplicationError, match="Choose the node"):
        broadcast_create(
            text_ru="x", audience=BroadcastAudience.NODE, audience_node_id=999, actor=operator
        )
    assert not Broadcast.objects.exists()


def test_each_customer_gets_their_language_and_the_other_when_theirs_is_empty(operator):
    ru, en = CustomerFactory(language="ru"), CustomerFactory(language="en")
    both = broadcast_create(
        text_ru="<b>Скидка</b>",
        text_en="<b>Sale</b>",
        button_screen=BroadcastButton.BUY,
        audience="all",
        actor=operator,
    )
    only_ru = broadcast_create(text_ru="Только по-русски", audience="all", actor=operator)
    for broadcast in (both, only_ru):
        Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
        broadcast_enqueue(broadcast_id=broadcast.pk)
    rows = {
        (row.broadcast_id, row.customer_id): row
        for row in OutboxMessage.objects.filter(kind="broadcast")
    }
    assert rows[both.pk, ru.pk].text == "<b>Скидка</b>"
    assert rows[both.pk, en.pk].text == "<b>Sale</b>"
    assert rows[both.pk, en.pk].parse_mode == "HTML"
    assert rows[both.pk, ru.pk].reply_markup == {
        "inline_keyboard": [[{"text": "🛒 Купить", "callback_data": "buy"}]]
    }
    assert rows[both.pk, en.pk].reply_markup == {
        "inline_keyboard": [[{"text": "🛒 Buy", "callback_data": "buy"}]]
    }
    assert rows[only_ru.pk, en.pk].text == "Только по-русски"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "at least one language"),
        ({"text_ru": "x" * 4097}, "At most 4096 characters, this is 4097"),
        ({"text_en": "<b>bold"}, "never closed"),
        ({"text_ru": "<div>x</div>"}, "unsupported tag <div>"),
        ({"text_ru": "x", "button_text": "Go"}, "needs both a text and a URL"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(operator, fields, error):
    with pytest.raises(ApplicationError, match=error):
        broadcast_create(audience="all", actor=operator, **fields)
    assert not Broadcast.objects.exists()


def test_length_is_counted_as_telegram_counts_it(operator):
    """Tags do not count and an entity is one character."""
    broadcast = broadcast_create(
        text_ru="<b>" + "&lt;" * 4096 + "</b>", audience="all", actor=operator
    )
    assert broadcast.pk


def test_start_audits_and_enqueues_after_commit(
    population, operator, django_capture_on_commit_callbacks, monkeypatch
):
    started = []
    monkeypatch.setattr("console.broadcasts.broadcast_enqueue_task.delay", started.append)
    broadcast = broadcast_create(
        text_ru="Sale!",
        audience=BroadcastAudience.EXPIRED,
        actor=operator,
        button_text="Buy",
        button_url="https://t.me/vpnsite_bot",
    )
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = broadcast_start(broadcast=broadcast, actor=operator)
    assert broadcast.status == BroadcastStatus.SENDING
    assert broadcast.recipients_total == 1
    assert started == [broadcast.pk]
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == operator
    assert audit.extra_data["action"] == "broadcast_start"
    assert audit.extra_data["recipients"] == 1
    with pytest.raises(ApplicationError, match="already started"):
        broadcast_start(broadcast=broadcast, actor=operator)


def test_start_refuses_an_empty_audience(operator):
    broadcast = broadcast_create(text_ru="x", audience=BroadcastAudience.ACTIVE, actor=operator)
    with pytest.raises(ApplicationError, match="Nobody"):
        broadcast_start(broadcast=broadcast, actor=operator)


def test_enqueue_in_batches_never_writes_a_customer_twice(operator):
    for _ in range(4):
        CustomerFactory()
    broadcast = broadcast_create(
        text_ru="Hello",
        audience=BroadcastAudience.ALL,
        actor=operator,
        button_text="Open",
        button_url="https://example.com/",
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    assert broadcast_enqueue(broadcast_id=broadcast.pk, batch_size=1) == 4
    # A re-run (a retried or duplicated task) writes nothing new.
    assert broadcast_enqueue(broadcast_id=broadcast.pk, batch_size=3) == 0
    rows = OutboxMessage.objects.filter(broadcast=broadcast)
    assert rows.count() == 4
    row = rows.first()
    assert row.dedupe_key == f"broadcast:{broadcast.pk}:{row.customer_id}"
    assert row.reply_markup == {
        "inline_keyboard": [[{"text": "Open", "url": "https://example.com/"}]]
    }
    broadcast.refresh_from_db()
    assert broadcast.recipients_total == 4


def test_enqueue_of_a_draft_does_nothing(operator):
    CustomerFactory()
    broadcast = broadcast_create(text_ru="x", audience="all", actor=operator)
    assert broadcast_enqueue(broadcast_id=broadcast.pk) == 0
    assert not OutboxMessage.objects.exists()


def test_scheduled_broadcast_starts_at_its_time_never_before_and_once(
    operator, now, monkeypatch, django_capture_on_commit_callbacks
):
    started = []
    monkeypatch.setattr("console.broadcasts.broadcast_enqueue_task.delay", started.append)
    CustomerFactory()
    broadcast = broadcast_create(text_ru="Soon", audience="all", actor=operator)
    with pytest.raises(ApplicationError, match="has passed"):
        broadcast_schedule(broadcast=broadcast, actor=operator, send_at=now - HOUR, now=now)
    broadcast = broadcast_schedule(broadcast=broadcast, actor=operator, send_at=now + HOUR, now=now)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    audit = AuditLog.objects.get(extra_data__action="broadcast_schedule")
    assert audit.acting_user == operator

    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_start_due(now=now + HOUR - timedelta(seconds=1)) == []
    broadcast.refresh_from_db()
    assert (broadcast.status, started) == (BroadcastStatus.SCHEDULED, [])

    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_start_due(now=now + HOUR) == [broadcast.pk]
        assert broadcasts_start_due(now=now + HOUR) == []  # a second beat: nothing
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    assert started == [broadcast.pk]
    # A scheduled broadcast can no longer be edited into another schedule.
    with pytest.raises(ApplicationError, match="already started"):
        broadcast_schedule(broadcast=broadcast, actor=operator, send_at=now + 2 * HOUR, now=now)


def test_stop_cancels_pending_rows_and_keeps_the_sent_ones(operator, monkeypatch):
    monkeypatch.setattr("console.broadcasts.outbox_send_task.delay", lambda pk: None)
    customers = [CustomerFactory() for _ in range(4)]
    broadcast = broadcast_create(text_ru="Hi", audience="all", actor=operator)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    first = OutboxMessage.objects.get(broadcast=broadcast, customer=customers[0])
    OutboxMessage.objects.filter(pk=first.pk).update(status=OutboxStatus.SENT)

    assert broadcast_stop(broadcast=broadcast, actor=operator) == 3
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.STOPPED
    counts = broadcast_progress(broadcast_id=broadcast.pk)
    assert (counts[OutboxStatus.SENT], counts[OutboxStatus.SKIPPED], counts["in_flight"]) == (
        1,
        3,
        0,
    )
    audit = AuditLog.objects.get(extra_data__action="broadcast_stop")
    assert (audit.acting_user, audit.extra_data["cancelled"]) == (operator, 3)
    # A send task that still arrives for a cancelled row sends nothing ...
    from notifications.services import outbox_message_send

    cancelled = OutboxMessage.objects.filter(broadcast=broadcast, status=OutboxStatus.SKIPPED)
    assert outbox_message_send(message_id=cancelled.first().pk).status == "not-due"
    # ... and a late run of the enqueue task writes no row.
    CustomerFactory()
    assert broadcast_enqueue(broadcast_id=broadcast.pk) == 0
    assert OutboxMessage.objects.filter(broadcast=broadcast).count() == 4
    with pytest.raises(ApplicationError, match="not scheduled or sending"):
        broadcast_stop(broadcast=broadcast, actor=operator)


def test_test_send_goes_to_the_operator_only(operator, django_capture_on_commit_callbacks):
    CustomerFactory()
    broadcast = broadcast_create(
        text_ru="Привет",
        text_en="Hello",
        button_screen=BroadcastButton.RENEW,
        audience="all",
        actor=operator,
    )
    with pytest.raises(ApplicationError, match="no Telegram id"):
        broadcast_test_send(broadcast=broadcast, actor=operator)
    assert not OutboxMessage.objects.exists()
    operator.telegram_id = 777001
    operator.save()
    rows = broadcast_test_send(broadcast=broadcast, actor=operator)
    assert {(row.chat_id, row.text) for row in rows} == {(777001, "Привет"), (777001, "Hello")}
    assert set(OutboxMessage.objects.values_list("chat_id", flat=True)) == {777001}
    assert rows[0].reply_markup["inline_keyboard"][0][0]["callback_data"] == "buy:r"
    assert broadcast_progress(broadcast_id=broadcast.pk)["total"] == 0
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
    audit = AuditLog.objects.get(extra_data__action="broadcast_test_send")
    assert (audit.acting_user, audit.extra_data["chat_id"]) == (operator, 777001)


@responses.activate
def test_the_whole_run_sends_through_the_outbox_and_counts_progress(operator):
    """Eager Celery: start -> enqueue task -> send tasks -> progress task, all after commit."""
    customers = [CustomerFactory() for _ in range(4)]
    blocked_chat = customers[-1].telegram_id

    def reply(request):
        if json.loads(request.body)["chat_id"] == blocked_chat:
            body = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return 403, {}, json.dumps(body)
        return 200, {}, json.dumps({"ok": True, "result": {"message_id": 5, "chat": {"id": 1}}})

    responses.add_callback(responses.POST, f"{API}/sendMessage", callback=reply)
    broadcast = broadcast_create(text_ru="Hi all", audience=BroadcastAudience.ALL, actor=operator)
    with TestCase.captureOnCommitCallbacks(execute=True):
        broadcast_start(broadcast=broadcast, actor=operator)
    broadcast_progress_refresh(broadcast_id=broadcast.pk)
    broadcast.refresh_from_db()
    counts = broadcast_progress(broadcast_id=broadcast.pk)
    assert counts[OutboxStatus.SENT] == 3
    assert counts[OutboxStatus.BLOCKED] == 1
    assert counts["in_flight"] == 0
    assert broadcast.status == BroadcastStatus.DONE
    assert (broadcast.sent_count, broadcast.blocked_count, broadcast.failed_count) == (3, 1, 0)
    assert broadcast.finished_at is not None


def test_progress_refresh_keeps_sending_while_rows_are_in_flight(operator, monkeypatch):
    monkeypatch.setattr("console.broadcasts.outbox_send_task.delay", lambda pk: None)
    for _ in range(2):
        CustomerFactory()
    broadcast = broadcast_create(text_ru="x", audience="all", actor=operator)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    OutboxMessage.objects.filter(broadcast=broadcast).update(status=OutboxStatus.SENT)
    assert broadcast_progress_refresh(broadcast_id=broadcast.pk)["done"] is True
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent_count) == (BroadcastStatus.DONE, 2)


def test_outbox_retry_resets_failed_blocked_and_skipped_but_never_sent(
    operator, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", queued.append)
    customer = CustomerFactory()
    rows = {
        status: notify_customer(customer=customer, text=status, dedupe_key=status)
        for status in (OutboxStatus.FAILED, OutboxStatus.BLOCKED, OutboxStatus.SENT)
    }
    for status, row in rows.items():
        OutboxMessage.objects.filter(pk=row.pk).update(status=status, attempts=8, last_error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        count = outbox_messages_retry(message_ids=[row.pk for row in rows.values()], actor=operator)
    assert count == 2
    failed = OutboxMessage.objects.get(pk=rows[OutboxStatus.FAILED].pk)
    assert (failed.status, failed.attempts, failed.last_error) == ("pending", 0, "")
    assert OutboxMessage.objects.get(pk=rows[OutboxStatus.SENT].pk).status == OutboxStatus.SENT
    assert sorted(queued) == sorted([rows[OutboxStatus.FAILED].pk, rows[OutboxStatus.BLOCKED].pk])
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == operator
    assert audit.extra_data["outbox_ids"] == sorted(queued)


def test_outbox_retry_of_nothing_retryable_writes_no_audit(operator):
    row = notify_customer(customer=CustomerFactory(), text="x")
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.SENT)
    assert outbox_messages_retry(message_ids=[row.pk], actor=operator) == 0
    assert not AuditLog.objects.exists()
