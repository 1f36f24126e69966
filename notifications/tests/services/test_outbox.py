"""The outbox against a Bot API faked with `responses`."""

import json
from datetime import timedelta
from unittest.mock import patch

import pytest
import requests
import responses
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxAudience, OutboxMessage, OutboxStatus
from notifications.services import (
    SendResult,
    notify_admins,
    notify_customer,
    outbox_flush,
    outbox_message_send,
)
from notifications.tasks import outbox_send_task

pytestmark = pytest.mark.django_db

API = "http://telegram.test/bot123456:TEST-TOKEN"


def ok(message_id=1):
    return {"ok": True, "result": {"message_id": message_id, "chat": {"id": 1}}}


def queue(customer=None, **kwargs) -> OutboxMessage:
    """Queue without sending: the on-commit send is not run inside a test transaction."""
    customer = customer or CustomerFactory()
    return notify_customer(customer=customer, text=kwargs.pop("text", "hello"), **kwargs)


@responses.activate
def test_success_marks_sent_and_posts_to_the_configured_api():
    responses.post(f"{API}/sendMessage", json=ok(77))
    message = queue(text="<b>Keys</b>", reply_markup={"inline_keyboard": []})
    assert outbox_message_send(message_id=message.pk).status == "sent"
    message.refresh_from_db()
    assert (message.status, message.telegram_message_id, message.attempts) == ("sent", 77, 1)
    body = json.loads(responses.calls[0].request.body)
    assert body["chat_id"] == message.chat_id
    assert body["text"] == "<b>Keys</b>"
    assert body["parse_mode"] == "HTML"
    # A second delivery of the same task sends nothing.
    assert outbox_message_send(message_id=message.pk).status == "not-due"
    assert len(responses.calls) == 1


@responses.activate
def test_429_honours_retry_after():
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
    message = queue()
    before = timezone.now()
    result = outbox_message_send(message_id=message.pk, now=before)
    assert (result.status, result.retry_in) == ("retry-after", 17)
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 0  # being throttled is not a failure
    assert message.next_attempt_at == before + timedelta(seconds=17)
    # Not due before retry_after has passed.
    assert outbox_message_send(message_id=message.pk, now=before + timedelta(seconds=5)).status == (
        "not-due"
    )
    assert len(responses.calls) == 1


@responses.activate
def test_403_marks_customer_blocked_and_never_retries():
    responses.post(
        f"{API}/sendMessage",
        status=403,
        json={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
    )
    customer = CustomerFactory()
    message = queue(customer)
    assert outbox_message_send(message_id=message.pk).status == "blocked"
    message.refresh_from_db()
    customer.refresh_from_db()
    assert message.status == OutboxStatus.BLOCKED
    assert customer.bot_blocked_at is not None
    assert outbox_flush() == 0
    # Later notifications to a blocked customer are recorded, not sent.
    later = queue(customer)
    assert later.status == OutboxStatus.SKIPPED
    assert len(responses.calls) == 1


@responses.activate
@override_settings(
    OUTBOX_MAX_ATTEMPTS=3, OUTBOX_BACKOFF_BASE_SECONDS=10, TELEGRAM_RATE_PER_CHAT_SECONDS=0
)
def test_5xx_retried_with_backoff_then_failed():
    responses.post(f"{API}/sendMessage", status=502, body="<html>Bad Gateway</html>")
    message = queue()
    now = timezone.now()
    first = outbox_message_send(message_id=message.pk, now=now)
    assert first.status == "retry"
    assert 8 <= first.retry_in <= 12  # base 10 s with jitter
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    second = outbox_message_send(message_id=message.pk, now=now + timedelta(seconds=13))
    assert 16 <= second.retry_in <= 24  # doubled
    third = outbox_message_send(message_id=message.pk, now=now + timedelta(minutes=5))
    assert third.status == "failed"
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.FAILED, 3)
    assert "502" in message.last_error


@responses.activate
@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_5xx_then_success():
    responses.post(f"{API}/sendMessage", status=500, json={"ok": False, "error_code": 500})
    responses.post(f"{API}/sendMessage", json=ok())
    message = queue()
    now = timezone.now()
    assert outbox_message_send(message_id=message.pk, now=now).status == "retry"
    assert outbox_message_send(message_id=message.pk, now=now + timedelta(hours=1)).status == (
        "sent"
    )


@responses.activate
def test_connection_error_is_retried_and_token_never_logged():
    responses.post(f"{API}/sendMessage", body=requests.ConnectionError("refused"))
    message = queue()
    assert outbox_message_send(message_id=message.pk).status == "retry"
    message.refresh_from_db()
    assert "TEST-TOKEN" not in message.last_error


@responses.activate
def test_400_is_failed_without_retry():
    responses.post(
        f"{API}/sendMessage",
        status=400,
        json={"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    message = queue()
    assert outbox_message_send(message_id=message.pk).status == "failed"


@responses.activate
def test_an_edit_edits_the_message_and_drops_its_keyboard():
    responses.post(f"{API}/editMessageText", json=ok(42))
    message = queue(text="✅ Paid", edit_message_id=42)
    assert outbox_message_send(message_id=message.pk).status == "sent"
    body = json.loads(responses.calls[0].request.body)
    assert (body["chat_id"], body["message_id"], body["text"]) == (message.chat_id, 42, "✅ Paid")
    assert "reply_markup" not in body  # https://core.telegram.org/bots/api#editmessagetext


@responses.activate
def test_an_edit_of_a_message_that_cannot_be_edited_is_skipped_not_failed():
    responses.post(
        f"{API}/editMessageText",
        status=400,
        json={
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message can't be edited",
        },
    )
    message = queue(text="✅ Paid", edit_message_id=42)
    assert outbox_message_send(message_id=message.pk).status == "skipped"
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.SKIPPED, 0)
    assert "can't be edited" in message.last_error
    assert len(responses.calls) == 1


def test_an_edit_cannot_become_a_qr_photo():
    with pytest.raises(ValueError, match="QR"):
        queue(text="x", edit_message_id=1, qr_payload="vless://a")


@responses.activate
def test_qr_message_goes_as_photo_with_caption():
    responses.post(f"{API}/sendPhoto", json=ok())
    message = queue(text="Scan me", qr_payload="vless://abc@h:443#x")
    assert outbox_message_send(message_id=message.pk).status == "sent"
    request = responses.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b"\x89PNG" in request.body
    assert b"Scan me" in request.body


@responses.activate
def test_per_chat_rate_limit_spaces_messages_to_one_chat():
    responses.post(f"{API}/sendMessage", json=ok())
    customer = CustomerFactory()
    first, second = queue(customer), queue(customer)
    assert outbox_message_send(message_id=first.pk).status == "sent"
    result = outbox_message_send(message_id=second.pk)
    assert result.status == "rate-limited"
    assert 0 < result.retry_in <= 1
    # Another chat is not held back.
    assert outbox_message_send(message_id=queue().pk).status == "sent"


@responses.activate
@override_settings(TELEGRAM_RATE_GLOBAL_PER_SECOND=2, TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_global_rate_limit():
    responses.post(f"{API}/sendMessage", json=ok())
    with patch("notifications.ratelimit.time.time", return_value=1_000_000.25):
        results = [outbox_message_send(message_id=queue().pk) for _ in range(3)]
    assert [r.status for r in results] == ["sent", "sent", "rate-limited"]
    assert results[2].retry_in == pytest.approx(0.75)
    assert len(responses.calls) == 2


def test_dedupe_key_makes_a_notification_happen_once():
    customer = CustomerFactory()
    assert queue(customer, dedupe_key="reminder:3d:1") is not None
    assert queue(customer, dedupe_key="reminder:3d:1") is None
    assert OutboxMessage.objects.filter(dedupe_key="reminder:3d:1").count() == 1


def test_admin_notifications_go_to_every_admin_chat_once():
    assert len(notify_admins(text="node down", dedupe_key="node-down:1")) == 2
    assert notify_admins(text="node down", dedupe_key="node-down:1") == []
    assert set(OutboxMessage.objects.values_list("chat_id", flat=True)) == {900001, 900002}


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_send_is_enqueued_on_commit_only():
    responses.post(f"{API}/sendMessage", json=ok())
    customer = CustomerFactory()
    with transaction.atomic():
        message = queue(customer)
        assert len(responses.calls) == 0  # nothing leaves before commit
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT  # eager Celery ran the task on commit
    assert len(responses.calls) == 1

    try:
        with transaction.atomic():
            queue(customer, text="rolled back")
            raise RuntimeError
    except RuntimeError:
        pass
    assert not OutboxMessage.objects.filter(text="rolled back").exists()
    assert len(responses.calls) == 1


@responses.activate
def test_flush_releases_stale_claims_and_requeues_due_messages():
    responses.post(f"{API}/sendMessage", json=ok())
    message = queue()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=10)
    )
    assert outbox_flush() == 1  # eager: the send task runs inside
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT


@responses.activate
@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0, TELEGRAM_RATE_GLOBAL_PER_SECOND=10_000)
def test_a_lost_task_never_blocks_a_chat(monkeypatch):
    """One flush resends every chat's head, however far the head ranks in the backlog."""
    responses.post(f"{API}/sendMessage", json=ok())
    now = timezone.now()
    queued_at = now - timedelta(minutes=30)
    admin_chat = [
        OutboxMessage(
            audience=OutboxAudience.ADMIN,
            chat_id=900001,
            text=f"new payment {i}",
            next_attempt_at=queued_at + timedelta(seconds=i),
        )
        for i in range(600)
    ]
    head, second = OutboxMessage.objects.bulk_create(admin_chat)[:2]
    OutboxMessage.objects.filter(pk=head.pk).update(
        status=OutboxStatus.SENDING, claimed_at=now - timedelta(minutes=10)
    )
    others = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            audience=OutboxAudience.CUSTOMER,
            customer=customer,
            chat_id=customer.telegram_id,
            text="your keys",
            next_attempt_at=queued_at + timedelta(seconds=600 + i),
        )
        for i, customer in enumerate(CustomerFactory.create_batch(45))
    )
    assert OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count() == 644

    enqueued = []
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", enqueued.append)
    outbox_flush(now=now)
    assert {head.pk, *(m.pk for m in others)} <= set(enqueued)

    # The worker runs the tasks the flush enqueued; each send hands over to its chat's next.
    statuses = []
    for message_id in enqueued:  # grows while the chats move on
        statuses.append(outbox_send_task(message_id))
    assert statuses == ["sent"] * 645  # no task wasted on a message that must wait
    head.refresh_from_db()
    second.refresh_from_db()
    assert head.status == second.status == OutboxStatus.SENT
    assert not OutboxMessage.objects.exclude(status=OutboxStatus.SENT).exists()
    texts = [json.loads(c.request.body)["text"] for c in responses.calls]
    admin_texts = [text for text in texts if text.startswith("new payment")]
    assert admin_texts == [f"new payment {i}" for i in range(600)]  # the chat's order kept


@responses.activate
@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_messages_to_one_chat_go_out_in_queue_order():
    responses.post(f"{API}/sendMessage", json=ok())
    customer = CustomerFactory()
    first, second = queue(customer, text="payment received"), queue(customer, text="keys")
    other_chat = queue(text="someone else")
    # The later message waits for the earlier one; other chats are not held back.
    assert outbox_message_send(message_id=second.pk) == SendResult("waiting")
    assert outbox_message_send(message_id=other_chat.pk).status == "sent"
    # Sending the first one hands over to the second.
    assert outbox_message_send(message_id=first.pk) == SendResult("sent", next_id=second.pk)
    assert outbox_message_send(message_id=second.pk).status == "sent"
    texts = [json.loads(c.request.body)["text"] for c in responses.calls]
    assert texts == ["someone else", "payment received", "keys"]


@responses.activate
@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_a_failed_earlier_message_does_not_hold_the_chat():
    responses.post(
        f"{API}/sendMessage",
        status=400,
        json={"ok": False, "error_code": 400, "description": "Bad Request: can't parse"},
    )
    responses.post(f"{API}/sendMessage", json=ok())
    customer = CustomerFactory()
    first, second = queue(customer), queue(customer)
    assert outbox_message_send(message_id=first.pk).status == "failed"
    assert outbox_message_send(message_id=second.pk).status == "sent"


@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_the_flush_never_piles_copies_of_a_queued_head_onto_a_backlog(monkeypatch):
    """A queued head is queued again only FLUSH_REQUEUE_AFTER_FLUSHES flushes later."""
    from django.core.cache import cache

    heads = [queue(text=f"chat {i}") for i in range(3)]
    enqueued = []
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", enqueued.append)
    later = timezone.now() + timedelta(seconds=1)
    assert outbox_flush(now=later) == 3
    assert outbox_flush(now=later + timedelta(seconds=30)) == 0  # still queued, no copy
    assert sorted(enqueued) == sorted(m.pk for m in heads)
    # The task of one head was lost after all: once the mark has expired, it is queued again.
    cache.delete(f"outbox:flushed:{heads[0].pk}")
    assert outbox_flush(now=later + timedelta(seconds=150)) == 1
    assert enqueued[-1] == heads[0].pk


@override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=0)
def test_the_flush_queues_every_head_when_the_cache_is_down(monkeypatch):
    heads = [queue(text=f"chat {i}") for i in range(2)]
    enqueued = []
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", enqueued.append)

    def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr("notifications.services.cache.add", unreachable)
    later = timezone.now() + timedelta(seconds=1)
    assert outbox_flush(now=later) == 2
    assert outbox_flush(now=later) == 2  # no way to know: better a copy than a lost message
    assert enqueued == [m.pk for m in heads] * 2


def test_a_claim_of_a_killed_worker_is_released_within_the_task_time_limits(monkeypatch):
    """No claim outlives the task's time limit or the Bot API timeouts: released after 2 min."""
    from notifications.tasks import outbox_send_task

    assert outbox_send_task.time_limit <= 60
    assert sum(settings.TELEGRAM_HTTP_TIMEOUT) <= 60
    message = queue()
    now = timezone.now()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENDING, claimed_at=now - timedelta(minutes=2, seconds=30)
    )
    enqueued = []
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", enqueued.append)
    assert outbox_flush(now=now) == 1
    assert enqueued == [message.pk]
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
