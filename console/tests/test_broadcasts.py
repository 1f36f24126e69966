"""Broadcasts: audiences, one outbox row per recipient (never twice), progress, retry."""

import json
from datetime import timedelta

import pytest
import responses
from django.test import TestCase
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from console.broadcasts import (
    broadcast_audience_count,
    broadcast_create,
    broadcast_enqueue,
    broadcast_progress,
    broadcast_progress_refresh,
    broadcast_start,
)
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from notifications.models import (
    Broadcast,
    BroadcastAudience,
    BroadcastStatus,
    OutboxMessage,
    OutboxStatus,
)
from notifications.services import notify_customer, outbox_messages_retry
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

API = "http://telegram.test/bot123456:TEST-TOKEN"


@pytest.fixture
def operator():
    return UserFactory(username="broadcaster")


@pytest.fixture
def population():
    """One customer of each kind, named by what they are."""
    now = timezone.now()
    people = {
        "active": CustomerFactory(),
        "expired_recently": CustomerFactory(),
        "expired_long_ago": CustomerFactory(),
        "never_paid": CustomerFactory(),
        "banned": CustomerFactory(is_banned=True),
        "blocked": CustomerFactory(bot_blocked_at=now),
    }
    SubscriptionFactory(customer=people["active"])
    SubscriptionFactory(customer=people["banned"])
    SubscriptionFactory(customer=people["blocked"])
    SubscriptionFactory(
        customer=people["expired_recently"],
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=40),
        expires_at=now - timedelta(days=3),
    )
    SubscriptionFactory(
        customer=people["expired_long_ago"],
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=140),
        expires_at=now - timedelta(days=100),
    )
    for name in ("active", "expired_recently", "expired_long_ago"):
        PaymentFactory(customer=people[name], status=PaymentStatus.PAID, paid_at=now)
    PaymentFactory(customer=people["never_paid"], status=PaymentStatus.CANCELLED)
    return people


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (BroadcastAudience.ALL, {"active", "expired_recently", "expired_long_ago", "never_paid"}),
        (BroadcastAudience.ACTIVE, {"active"}),
        (BroadcastAudience.EXPIRED, {"expired_recently"}),
        (BroadcastAudience.NEVER_PAID, {"never_paid"}),
    ],
)
def test_audiences_leave_out_banned_and_blocked(population, audience, expected, operator):
    assert broadcast_audience_count(audience=audience, days=30) == len(expected)
    broadcast = broadcast_create(text="News", audience=audience, actor=operator)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.QUEUED)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    got = set(
        OutboxMessage.objects.filter(broadcast=broadcast).values_list("customer_id", flat=True)
    )
    assert got == {population[name].pk for name in expected}


def test_start_queues_audits_and_enqueues_after_commit(
    population, operator, django_capture_on_commit_callbacks, monkeypatch
):
    started = []
    monkeypatch.setattr("console.broadcasts.broadcast_enqueue_task.delay", started.append)
    broadcast = broadcast_create(
        text="Sale!",
        audience=BroadcastAudience.ALL,
        actor=operator,
        button_text="Buy",
        button_url="https://t.me/vpnsite_bot",
    )
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = broadcast_start(broadcast=broadcast, actor=operator)
    assert broadcast.status == BroadcastStatus.QUEUED
    assert broadcast.recipients_total == 4
    assert started == [broadcast.pk]
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == operator
    assert audit.extra_data["recipients"] == 4
    with pytest.raises(ApplicationError, match="already started"):
        broadcast_start(broadcast=broadcast, actor=operator)


def test_start_refuses_an_empty_audience(operator):
    broadcast = broadcast_create(text="x", audience=BroadcastAudience.ACTIVE, actor=operator)
    with pytest.raises(ApplicationError, match="Nobody"):
        broadcast_start(broadcast=broadcast, actor=operator)


def test_button_needs_text_and_url(operator):
    with pytest.raises(ApplicationError, match="button"):
        broadcast_create(text="x", audience="all", actor=operator, button_text="Go")


def test_enqueue_in_batches_never_writes_a_customer_twice(population, operator):
    broadcast = broadcast_create(
        text="Hello",
        audience=BroadcastAudience.ALL,
        actor=operator,
        button_text="Open",
        button_url="https://example.com/",
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.QUEUED)
    assert broadcast_enqueue(broadcast_id=broadcast.pk, batch_size=1) == 4
    # A re-run (a retried or duplicated task) writes nothing new.
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
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


def test_enqueue_of_a_draft_does_nothing(population, operator):
    broadcast = broadcast_create(text="x", audience="all", actor=operator)
    assert broadcast_enqueue(broadcast_id=broadcast.pk) == 0
    assert not OutboxMessage.objects.exists()


@responses.activate
def test_the_whole_run_sends_through_the_outbox_and_counts_progress(population, operator):
    """Eager Celery: start -> enqueue task -> send tasks -> progress task, all after commit."""
    blocked_chat = population["never_paid"].telegram_id

    def reply(request):
        if json.loads(request.body)["chat_id"] == blocked_chat:
            body = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return 403, {}, json.dumps(body)
        return 200, {}, json.dumps({"ok": True, "result": {"message_id": 5, "chat": {"id": 1}}})

    responses.add_callback(responses.POST, f"{API}/sendMessage", callback=reply)
    broadcast = broadcast_create(text="Hi all", audience=BroadcastAudience.ALL, actor=operator)
    with TestCase.captureOnCommitCallbacks(execute=True):
        broadcast_start(broadcast=broadcast, actor=operator)
    # Eager mode ran the first progress check before the sends; the next one finishes it.
    broadcast_progress_refresh(broadcast_id=broadcast.pk)
    broadcast.refresh_from_db()
    counts = broadcast_progress(broadcast_id=broadcast.pk)
    assert counts[OutboxStatus.SENT] == 3
    assert counts[OutboxStatus.BLOCKED] == 1
    assert counts["in_flight"] == 0
    assert broadcast.status == BroadcastStatus.DONE
    assert (broadcast.sent_count, broadcast.blocked_count, broadcast.failed_count) == (3, 1, 0)
    assert broadcast.finished_at is not None


def test_progress_refresh_keeps_sending_while_rows_are_in_flight(population, operator):
    broadcast = broadcast_create(text="x", audience="all", actor=operator)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.QUEUED)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    OutboxMessage.objects.filter(broadcast=broadcast).update(status=OutboxStatus.SENT)
    assert broadcast_progress_refresh(broadcast_id=broadcast.pk)["done"] is True
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent_count) == (BroadcastStatus.DONE, 4)


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
