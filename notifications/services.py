"""The notification outbox: every Telegram message the system sends goes through here.

A message is a row written in the caller's transaction (so it exists exactly when the change
that caused it committed) and sent by Celery after commit. A beat task re-sends anything a
lost task left behind, so no notification depends on a single broker message.
"""

import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Customer
from core.models import AuditEvent
from core.qr import qr_png
from core.services import audit_log_write
from notifications.models import (
    Broadcast,
    OutboxAudience,
    OutboxMessage,
    OutboxStatus,
)
from notifications.ratelimit import send_slot_reserve
from notifications.tasks import outbox_flush_task, outbox_send_task
from notifications.telegram_api import (
    TelegramBlocked,
    TelegramRejected,
    TelegramRetryAfter,
    TelegramUnavailable,
    bot_api_call,
)

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: outbox_send_task is killed
# after 60 s (time_limit) and a Bot API call gives up after 20 s (TELEGRAM_HTTP_TIMEOUT). It was
# 5 minutes, so a message whose worker was SIGKILLed waited over 5 minutes (bench/drill.py).
OUTBOX_CLAIM_STALE_AFTER = timedelta(minutes=2)
TELEGRAM_TEXT_LIMIT = 4096
# The kind of a broadcast's messages (console/broadcasts.py); backlog alerts leave them out.
BROADCAST_KIND = "broadcast"
# A broadcast's test message to the operator who asked (not counted in its progress).
BROADCAST_TEST_KIND = "broadcast_test"
# While one send uploads a broadcast's photo, the others wait this long and try again: they
# go by the file_id the upload gives (the photo is uploaded once, not once per recipient).
BROADCAST_PHOTO_UPLOAD_WAIT = 2.0
BROADCAST_PHOTO_UPLOAD_LOCK_SECONDS = 60
TELEGRAM_CAPTION_LIMIT = 1024


def customer_message(
    *,
    customer: Customer,
    text: str,
    reply_markup: dict | None = None,
    qr_payload: str = "",
    kind: str = "",
    dedupe_key: str | None = None,
    parse_mode: str = "HTML",
    edit_message_id: int | None = None,
) -> OutboxMessage:
    """The unsaved outbox row of a message to a customer (``notify_customer`` queues it);
    with `edit_message_id`, an edit of that message of the customer's chat.

    A customer who blocked the bot gets a `skipped` row instead of a send attempt; it is
    kept so the operator sees what they missed.
    """
    if edit_message_id is not None and qr_payload:
        raise ValueError("an edited message cannot become a QR code photo")
    status = OutboxStatus.SKIPPED if customer.bot_blocked_at else OutboxStatus.PENDING
    return OutboxMessage(
        audience=OutboxAudience.CUSTOMER,
        customer=customer,
        chat_id=customer.telegram_id,
        text=text[:TELEGRAM_TEXT_LIMIT],
        reply_markup=reply_markup,
        qr_payload=qr_payload,
        telegram_message_id=edit_message_id,
        kind=kind,
        dedupe_key=dedupe_key,
        parse_mode=parse_mode,
        status=status,
        last_error="customer has blocked the bot" if customer.bot_blocked_at else "",
    )


def admin_messages(
    *, text: str, kind: str = "", dedupe_key: str | None = None, parse_mode: str = "HTML"
) -> list[OutboxMessage]:
    """The unsaved outbox rows of a message to every chat in TELEGRAM_ADMIN_CHAT_IDS."""
    return [
        OutboxMessage(
            audience=OutboxAudience.ADMIN,
            chat_id=chat_id,
            text=text[:TELEGRAM_TEXT_LIMIT],
            kind=kind,
            dedupe_key=f"{dedupe_key}:{chat_id}" if dedupe_key else None,
            parse_mode=parse_mode,
        )
        for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS
    ]


def outbox_queue(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Save unsaved rows (``customer_message``, ``admin_messages``) in the caller's
    transaction; each pending one is sent by ``outbox_send_task`` after commit.

    A row whose dedupe key was already used is skipped. The rows go in one ``bulk_create``
    inside a savepoint; if that meets a taken key, they are saved one by one, each in its
    own savepoint, so the conflict never aborts the caller's transaction. Returns the rows
    queued.
    """
    if not messages:
        return []
    try:
        with transaction.atomic():
            queued = OutboxMessage.objects.bulk_create(messages)
    except IntegrityError:
        queued = [message for message in messages if _outbox_save(message)]
    for message in queued:
        if message.status == OutboxStatus.PENDING:
            transaction.on_commit(lambda pk=message.pk: outbox_send_task.delay(pk), robust=True)
    return queued


def outbox_queue_deduped(messages: list[OutboxMessage]) -> None:
    """Save many unsaved rows, each with a dedupe key, in one INSERT; a row whose key was
    already used is left out (``ignore_conflicts``). After commit one ``outbox_flush_task``
    hands every chat's head to ``outbox_send_task``, as it does for messages whose task was
    lost.

    For a sweep that messages many customers at once (the expiry sweep): one broker message
    per transaction instead of one per row, and no savepoint per row on a repeat (as
    ``outbox_queue`` would fall back to).
    """
    if not messages:
        return
    if any(message.dedupe_key is None for message in messages):
        raise ValueError("outbox_queue_deduped needs a dedupe key on every row")
    OutboxMessage.objects.bulk_create(messages, ignore_conflicts=True)
    transaction.on_commit(outbox_flush_task.delay, robust=True)


def _outbox_save(message: OutboxMessage) -> bool:
    """Save one row in a savepoint; False if its dedupe key was already used."""
    message.pk = None
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        if message.dedupe_key is None or not (
            OutboxMessage.objects.filter(dedupe_key=message.dedupe_key).exists()
        ):
            raise  # another constraint: a bug, not a repeat
        logger.info("outbox: %s already queued", message.dedupe_key)
        return False
    return True


def notify_customer(*, customer: Customer, text: str, **options: Any) -> OutboxMessage | None:
    """Queue a message to a customer (`options`: ``customer_message``'s). Returns None if
    its `dedupe_key` was already used."""
    inserted = outbox_queue([customer_message(customer=customer, text=text, **options)])
    return inserted[0] if inserted else None


def notify_admins(*, text: str, **options: Any) -> list[OutboxMessage]:
    """Queue a message to every chat in TELEGRAM_ADMIN_CHAT_IDS (`options`:
    ``admin_messages``')."""
    return outbox_queue(admin_messages(text=text, **options))


@dataclass(frozen=True)
class SendResult:
    status: str
    retry_in: float | None = None
    # The next message queued for the same chat, now free to go (see `_next_in_chat`).
    next_id: int | None = None


def _backoff(attempts: int) -> float:
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    capped = min(base, settings.OUTBOX_BACKOFF_MAX_SECONDS)
    return capped * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography


def _api_send(message: OutboxMessage, broadcast: Broadcast | None = None) -> dict:
    data: dict = {"chat_id": message.chat_id}
    if message.parse_mode:
        data["parse_mode"] = message.parse_mode
    if message.reply_markup:
        data["reply_markup"] = message.reply_markup
    if message.telegram_message_id is not None:  # an edit of that message
        # https://core.telegram.org/bots/api#editmessagetext: without reply_markup the
        # message loses its inline keyboard.
        data["message_id"] = message.telegram_message_id
        data["text"] = message.text
        data["link_preview_options"] = {"is_disabled": True}
        return bot_api_call(method="editMessageText", data=data)
    if broadcast is not None:  # a broadcast with a photo: its text is the caption
        data["caption"] = message.text
        if broadcast.photo_file_id:  # uploaded before: Telegram sends it by its id
            data["photo"] = broadcast.photo_file_id
            return bot_api_call(method="sendPhoto", data=data)
        with broadcast.photo.open("rb") as photo:
            content = photo.read()
        name = broadcast.photo.name.rsplit("/", 1)[-1]
        return bot_api_call(
            method="sendPhoto", data=data, files={"photo": (name, content, _image_type(name))}
        )
    if message.qr_payload and len(message.text) <= TELEGRAM_CAPTION_LIMIT:
        data["caption"] = message.text
        png = qr_png(data=message.qr_payload)
        return bot_api_call(
            method="sendPhoto", data=data, files={"photo": ("qr.png", png, "image/png")}
        )
    data["text"] = message.text
    data["link_preview_options"] = {"is_disabled": True}
    return bot_api_call(method="sendMessage", data=data)


def _image_type(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower()
    return {"png": "image/png", "webp": "image/webp"}.get(extension, "image/jpeg")


def _broadcast_photo(message: OutboxMessage) -> Broadcast | None:
    """The broadcast whose photo this message carries, or None (no photo, not a broadcast)."""
    if message.broadcast_id is None or message.kind not in (BROADCAST_KIND, BROADCAST_TEST_KIND):
        return None
    broadcast = Broadcast.objects.only("pk", "photo", "photo_file_id").get(pk=message.broadcast_id)
    return broadcast if broadcast.photo else None


def _photo_upload_key(broadcast_id: int) -> str:
    return f"broadcast:photo-upload:{broadcast_id}"


def _photo_upload_take(broadcast_id: int) -> bool:
    """Whether this send may upload the broadcast's photo (no other send is uploading it);
    yes when the cache cannot say (Redis down: better a second upload than none)."""
    try:
        return cache.add(
            _photo_upload_key(broadcast_id), 1, timeout=BROADCAST_PHOTO_UPLOAD_LOCK_SECONDS
        )
    except Exception as exc:  # noqa: BLE001 - any cache failure: upload
        logger.warning("broadcast photo: the cache is unreachable (%s); uploading", exc)
        return True


def _photo_upload_done(broadcast: Broadcast, result: Any) -> None:
    """Keep the file_id Telegram gave the uploaded photo (its largest size), then let the
    waiting sends go by it."""
    sizes = result.get("photo") if isinstance(result, dict) else None
    if sizes and isinstance(sizes, list) and isinstance(sizes[-1], dict):
        file_id = str(sizes[-1].get("file_id") or "")[:200]
        if file_id:
            Broadcast.objects.filter(pk=broadcast.pk, photo_file_id="").update(
                photo_file_id=file_id
            )


def _photo_upload_release(broadcast_id: int) -> None:
    try:
        cache.delete(_photo_upload_key(broadcast_id))
    except Exception as exc:  # noqa: BLE001 - the lock expires by itself
        logger.warning("broadcast photo: cannot release the upload lock (%s)", exc)


def _finish(message_id: int, **fields) -> None:
    OutboxMessage.objects.filter(pk=message_id).update(updated_at=timezone.now(), **fields)


def _chat_head() -> Exists:
    """A filter for the head of its chat: no earlier message to that chat is still unsent.

    Only a chat's head can be sent (``outbox_message_send``); every later message waits
    for it and is handed over when it is done.
    """
    earlier_in_chat = OutboxMessage.objects.filter(
        chat_id=OuterRef("chat_id"),
        pk__lt=OuterRef("pk"),
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING],
    )
    return ~Exists(earlier_in_chat)


def outbox_message_send(*, message_id: int, now: datetime | None = None) -> SendResult:
    """Send one outbox message if it is due and nobody else is sending it.

    The claim is a conditional UPDATE (pending -> sending), so two workers handed the same
    id never both send it; no row lock is held across the HTTP call.
    """
    now = now or timezone.now()
    claimed = (
        OutboxMessage.objects.filter(
            pk=message_id, status=OutboxStatus.PENDING, next_attempt_at__lte=now
        )
        .filter(_chat_head())
        .update(status=OutboxStatus.SENDING, claimed_at=now, updated_at=now)
    )
    if not claimed:
        # One chat reads its messages in the order they were queued ("payment received"
        # before "your keys"): a message waits while an earlier one to its chat is unsent.
        waiting = OutboxMessage.objects.filter(
            pk=message_id, status=OutboxStatus.PENDING, next_attempt_at__lte=now
        ).exists()
        # The earlier message's task hands over to this one when it is done.
        return SendResult("waiting") if waiting else SendResult("not-due")
    message = OutboxMessage.objects.get(pk=message_id)
    broadcast = _broadcast_photo(message)
    uploading = broadcast is not None and not broadcast.photo_file_id
    if uploading and not _photo_upload_take(broadcast.pk):
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=BROADCAST_PHOTO_UPLOAD_WAIT),
        )
        return SendResult("photo-uploading", retry_in=BROADCAST_PHOTO_UPLOAD_WAIT)
    try:
        return _outbox_message_deliver(message=message, broadcast=broadcast, now=now)
    finally:
        if uploading:
            _photo_upload_release(broadcast.pk)


def _outbox_message_deliver(
    *, message: OutboxMessage, broadcast: Broadcast | None, now: datetime
) -> SendResult:
    """Send a claimed message (`broadcast`: the photo it carries) and record the outcome."""
    message_id = message.pk
    wait = send_slot_reserve(chat_id=message.chat_id)
    if wait > 0:
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        return SendResult("rate-limited", retry_in=wait)

    try:
        result = _api_send(message, broadcast)
    except TelegramRetryAfter as exc:
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=exc.retry_after),
            last_error=str(exc),
        )
        return SendResult("retry-after", retry_in=exc.retry_after)
    except TelegramBlocked as exc:
        _finish(message_id, status=OutboxStatus.BLOCKED, last_error=str(exc))
        if message.customer_id:
            Customer.objects.filter(pk=message.customer_id, bot_blocked_at__isnull=True).update(
                bot_blocked_at=now, updated_at=now
            )
        logger.info("outbox %s: chat %s blocked the bot", message_id, message.chat_id)
        return SendResult("blocked", next_id=_next_in_chat(message))
    except TelegramRejected as exc:
        if message.telegram_message_id is not None:  # an edit of that message
            # The message is gone, too old to edit, or already says this: nothing to do.
            _finish(message_id, status=OutboxStatus.SKIPPED, last_error=str(exc))
            logger.info("outbox %s: edit not possible: %s", message_id, exc)
            return SendResult("skipped", next_id=_next_in_chat(message))
        _finish(message_id, status=OutboxStatus.FAILED, last_error=str(exc))
        logger.warning("outbox %s rejected: %s", message_id, exc)
        return SendResult("failed", next_id=_next_in_chat(message))
    except TelegramUnavailable as exc:
        attempts = message.attempts + 1
        if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            _finish(message_id, status=OutboxStatus.FAILED, attempts=attempts, last_error=str(exc))
            logger.error("outbox %s failed after %s attempts: %s", message_id, attempts, exc)
            return SendResult("failed", next_id=_next_in_chat(message))
        delay = _backoff(attempts)
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=str(exc),
        )
        return SendResult("retry", retry_in=delay)

    if broadcast is not None and not broadcast.photo_file_id:
        _photo_upload_done(broadcast, result)
    _finish(
        message_id,
        status=OutboxStatus.SENT,
        attempts=message.attempts + 1,
        sent_at=timezone.now(),
        last_error="",
        telegram_message_id=result.get("message_id") if isinstance(result, dict) else None,
    )
    return SendResult("sent", next_id=_next_in_chat(message))


def _next_in_chat(message: OutboxMessage) -> int | None:
    """The oldest message still pending for the chat of `message`, if it is due."""
    return (
        OutboxMessage.objects.filter(
            chat_id=message.chat_id,
            status=OutboxStatus.PENDING,
            pk__gt=message.pk,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def outbox_flush(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release stale claims and enqueue the head of every chat that is due (at most `limit`
    chats, longest due first), unless a recent flush queued it already (its task may still
    wait in the broker; FLUSH_REQUEUE_AFTER_FLUSHES). Returns how many were enqueued.

    Only heads are enqueued: a later message to a chat cannot be sent before its head and
    is handed over when the head is done, so however many messages wait behind a head whose
    task was lost, that head is among the first resent.
    """
    now = now or timezone.now()
    OutboxMessage.objects.filter(
        status=OutboxStatus.SENDING, claimed_at__lt=now - OUTBOX_CLAIM_STALE_AFTER
    ).update(status=OutboxStatus.PENDING, next_attempt_at=now, updated_at=now)
    due = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .filter(_chat_head())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    requeue_after = math.ceil(settings.OUTBOX_FLUSH_INTERVAL * FLUSH_REQUEUE_AFTER_FLUSHES)
    queued = 0
    for pk in due:
        if _flush_marked(pk, timeout=requeue_after):
            outbox_send_task.delay(pk)
            queued += 1
    return queued


# A head the flush queued is queued again only after this many flushes: while a backlog holds
# the task in the broker, the next flushes would each add a copy of every chat's head, and the
# copies grow the backlog they wait in (bench/drill.py: +300 tasks every 30 s, the queue never
# drained). A task lost meanwhile is resent by the flush after that.
FLUSH_REQUEUE_AFTER_FLUSHES = 4


def _flush_marked(message_id: int, *, timeout: int) -> bool:
    """Whether the flush may queue this head now (and note that it did); yes when the cache
    cannot say (Redis down: better a copy than a lost message)."""
    try:
        return cache.add(f"outbox:flushed:{message_id}", 1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any cache failure: queue it
        logger.warning("outbox flush: the cache is unreachable (%s); queueing anyway", exc)
        return True


# An operator may send these again; `sent` never (it would double-send), `sending` is in flight.
OUTBOX_RETRYABLE = (
    OutboxStatus.FAILED,
    OutboxStatus.BLOCKED,
    OutboxStatus.SKIPPED,
    OutboxStatus.PENDING,
)


def outbox_messages_retry(*, message_ids: list[int], actor, now: datetime | None = None) -> int:
    """Send failed, blocked or skipped messages again (pending ones are nudged).

    The rows go back to `pending` with a fresh attempt budget and a send task is queued on
    commit; sent and in-flight rows are left alone. One audit row names the operator.
    Returns how many were queued.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update()
            .filter(pk__in=message_ids, status__in=OUTBOX_RETRYABLE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_at=None,
            last_error="",
            updated_at=now,
        )
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            acting_user=actor,
            message=f"outbox retry: {len(ids)} message(s)",
            extra_data={"action": "outbox_messages_retry", "outbox_ids": ids[:1000]},
        )
        transaction.on_commit(lambda: [outbox_send_task.delay(pk) for pk in ids])
    return len(ids)
