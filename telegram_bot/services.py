"""The notification outbox: every Telegram message the system sends goes through here.

A message is a row written in the caller's transaction (so it exists exactly when the change
that caused it committed) and sent by Celery after commit. A beat task re-sends anything a
lost task left behind, so no notification depends on a single broker message.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer
from core.qr import qr_png
from telegram_bot.models import OutboxAudience, OutboxMessage, OutboxStatus
from telegram_bot.ratelimit import send_slot_reserve
from telegram_bot.tasks import outbox_send_task
from telegram_bot.telegram_api import (
    TelegramBlocked,
    TelegramRejected,
    TelegramRetryAfter,
    TelegramUnavailable,
    bot_api_call,
)

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send.
OUTBOX_CLAIM_STALE_AFTER = timedelta(minutes=5)
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024


def _enqueue_on_commit(message: OutboxMessage) -> None:
    transaction.on_commit(lambda: outbox_send_task.delay(message.pk))


def _outbox_create(**fields) -> OutboxMessage | None:
    """Insert a row; with a dedupe key already used, return None (the notification exists)."""
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(**fields)
    except IntegrityError:
        if fields.get("dedupe_key"):
            logger.info("outbox: %s already queued", fields["dedupe_key"])
            return None
        raise
    if message.status == OutboxStatus.PENDING:
        _enqueue_on_commit(message)
    return message


def notify_customer(
    *,
    customer: Customer,
    text: str,
    reply_markup: dict | None = None,
    qr_payload: str = "",
    kind: str = "",
    dedupe_key: str | None = None,
    parse_mode: str = "HTML",
) -> OutboxMessage | None:
    """Queue a message to a customer. Returns None if `dedupe_key` was already used.

    A customer who blocked the bot gets a `skipped` row instead of a send attempt; it is
    kept so the operator sees what they missed.
    """
    status = OutboxStatus.SKIPPED if customer.bot_blocked_at else OutboxStatus.PENDING
    return _outbox_create(
        audience=OutboxAudience.CUSTOMER,
        customer=customer,
        chat_id=customer.telegram_id,
        text=text[:TELEGRAM_TEXT_LIMIT],
        reply_markup=reply_markup,
        qr_payload=qr_payload,
        kind=kind,
        dedupe_key=dedupe_key,
        parse_mode=parse_mode,
        status=status,
        last_error="customer has blocked the bot" if customer.bot_blocked_at else "",
    )


def notify_admins(
    *, text: str, kind: str = "", dedupe_key: str | None = None, parse_mode: str = "HTML"
) -> list[OutboxMessage]:
    """Queue a message to every chat in TELEGRAM_ADMIN_CHAT_IDS."""
    messages = []
    for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS:
        message = _outbox_create(
            audience=OutboxAudience.ADMIN,
            chat_id=chat_id,
            text=text[:TELEGRAM_TEXT_LIMIT],
            kind=kind,
            dedupe_key=f"{dedupe_key}:{chat_id}" if dedupe_key else None,
            parse_mode=parse_mode,
        )
        if message is not None:
            messages.append(message)
    return messages


@dataclass(frozen=True)
class SendResult:
    status: str
    retry_in: float | None = None


def _backoff(attempts: int) -> float:
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    capped = min(base, settings.OUTBOX_BACKOFF_MAX_SECONDS)
    return capped * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography


def _api_send(message: OutboxMessage) -> dict:
    data: dict = {"chat_id": message.chat_id}
    if message.parse_mode:
        data["parse_mode"] = message.parse_mode
    if message.reply_markup:
        data["reply_markup"] = message.reply_markup
    if message.qr_payload and len(message.text) <= TELEGRAM_CAPTION_LIMIT:
        data["caption"] = message.text
        png = qr_png(data=message.qr_payload)
        return bot_api_call(
            method="sendPhoto", data=data, files={"photo": ("qr.png", png, "image/png")}
        )
    data["text"] = message.text
    data["link_preview_options"] = {"is_disabled": True}
    return bot_api_call(method="sendMessage", data=data)


def _finish(message_id: int, **fields) -> None:
    OutboxMessage.objects.filter(pk=message_id).update(updated_at=timezone.now(), **fields)


def outbox_message_send(*, message_id: int, now: datetime | None = None) -> SendResult:
    """Send one outbox message if it is due and nobody else is sending it.

    The claim is a conditional UPDATE (pending -> sending), so two workers handed the same
    id never both send it; no row lock is held across the HTTP call.
    """
    now = now or timezone.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, status=OutboxStatus.PENDING, next_attempt_at__lte=now
    ).update(status=OutboxStatus.SENDING, claimed_at=now, updated_at=now)
    if not claimed:
        return SendResult("not-due")
    message = OutboxMessage.objects.get(pk=message_id)

    wait = send_slot_reserve(chat_id=message.chat_id)
    if wait > 0:
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        return SendResult("rate-limited", retry_in=wait)

    try:
        result = _api_send(message)
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
        return SendResult("blocked")
    except TelegramRejected as exc:
        _finish(message_id, status=OutboxStatus.FAILED, last_error=str(exc))
        logger.warning("outbox %s rejected: %s", message_id, exc)
        return SendResult("failed")
    except TelegramUnavailable as exc:
        attempts = message.attempts + 1
        if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            _finish(message_id, status=OutboxStatus.FAILED, attempts=attempts, last_error=str(exc))
            logger.error("outbox %s failed after %s attempts: %s", message_id, attempts, exc)
            return SendResult("failed")
        delay = _backoff(attempts)
        _finish(
            message_id,
            status=OutboxStatus.PENDING,
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=str(exc),
        )
        return SendResult("retry", retry_in=delay)

    _finish(
        message_id,
        status=OutboxStatus.SENT,
        attempts=message.attempts + 1,
        sent_at=timezone.now(),
        last_error="",
        telegram_message_id=result.get("message_id") if isinstance(result, dict) else None,
    )
    return SendResult("sent")


def outbox_flush(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release stale claims and enqueue every due message. Returns how many were enqueued."""
    now = now or timezone.now()
    OutboxMessage.objects.filter(
        status=OutboxStatus.SENDING, claimed_at__lt=now - OUTBOX_CLAIM_STALE_AFTER
    ).update(status=OutboxStatus.PENDING, next_attempt_at=now, updated_at=now)
    due = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        outbox_send_task.delay(pk)
    return len(due)
