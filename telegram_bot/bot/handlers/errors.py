"""The global error handler: log, apologise to the user, alert the admins (rate-limited)."""

import hashlib
import logging
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from telegram import Update
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from accounts.selectors import customer_get_by_telegram_id
from accounts.services import customer_bot_blocked_set, language_from_telegram
from notifications.services import notify_admins
from telegram_bot.bot import texts
from telegram_bot.bot.db import call_service

logger = logging.getLogger(__name__)

ALERT_WINDOW = timedelta(minutes=10)
TRACEBACK_TAIL_CHARS = 2000


def error_type_name(error: BaseException) -> str:
    """``RuntimeError``, ``telegram.error.Conflict``: what alerts are rate-limited by."""
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def error_alert_queue(*, error_type: str, text: str, now: datetime | None = None) -> bool:
    """Queue an admin alert unless one for `error_type` went out in the last 10 minutes.

    The cache's atomic ``add`` makes the window slide; the outbox dedupe key with a
    10-minute bucket still holds when the cache was cleared. Returns whether it was queued.
    """
    now = now or timezone.now()
    window = int(ALERT_WINDOW.total_seconds())
    digest = hashlib.sha256(error_type.encode()).hexdigest()[:16]
    if not cache.add(f"tg:bot-error-alert:{digest}", 1, timeout=window):
        return False
    bucket = int(now.timestamp()) // window
    queued = notify_admins(text=text, kind="bot_error", dedupe_key=f"bot-error:{digest}:{bucket}")
    return bool(queued)


def _is_transient(error: BaseException) -> bool:
    # BadRequest and Forbidden subclass NetworkError too; only the bare class is a network fault.
    return isinstance(error, TimedOut | RetryAfter) or type(error) is NetworkError


def _describe(update: object) -> str:
    if not isinstance(update, Update):
        return "polling" if update is None else type(update).__name__
    parts = [f"update {update.update_id}"]
    if update.effective_user:
        parts.append(f"user {update.effective_user.id}")
    if update.callback_query:
        parts.append(f"button {update.callback_query.data!r}")
    elif update.effective_message and update.effective_message.text:
        parts.append(f"message {update.effective_message.text[:64]!r}")
    return ", ".join(parts)


def _redact(text: str) -> str:
    token = settings.TELEGRAM_BOT_TOKEN
    return text.replace(token, "<token>") if token else text


async def _language_for(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return settings.LANGUAGE_CODE
    try:
        customer = await call_service(customer_get_by_telegram_id, telegram_id=user.id)
    except Exception:
        logger.exception("error handler: could not load the customer")  # e.g. database down
        customer = None
    if customer is not None:
        return customer.language
    return language_from_telegram(language_code=user.language_code)


async def _apologise(update: Update) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await chat.send_message(texts.error(language=await _language_for(update)))
    except TelegramError as exc:
        logger.warning("error handler: could not tell chat %s: %s", chat.id, exc)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an unhandled error, apologise to the user, alert admins once per type per 10 min."""
    error = context.error
    if error is None:
        return
    where = _describe(update)

    if isinstance(error, Forbidden):
        # The user blocked the bot while we answered: nobody to tell, nothing to fix.
        logger.info("forbidden (%s): %s", where, error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == "private":
            try:
                await call_service(customer_bot_blocked_set, telegram_id=chat.id, blocked=True)
            except Exception:
                logger.exception("error handler: could not record the block")
        return

    if _is_transient(error):
        # PTB retries polling by itself; a reply lost to a network blip is not a bug.
        logger.warning("transient Telegram error (%s): %s", where, error)
        if isinstance(update, Update):
            await _apologise(update)
        return

    logger.error("unhandled error in the bot (%s)", where, exc_info=error)
    if isinstance(update, Update):
        await _apologise(update)

    error_type = error_type_name(error)
    trace = _redact("".join(traceback.format_exception(error)))
    alert = texts.admin_error_alert(
        language=settings.LANGUAGE_CODE,
        error_type=error_type,
        error_message=_redact(str(error))[:300],
        context=where,
        traceback_tail=trace[-TRACEBACK_TAIL_CHARS:],
    )
    try:
        await call_service(error_alert_queue, error_type=error_type, text=alert)
    except Exception:
        logger.exception("error handler: could not queue the admin alert")
