"""Telegram's send limits, shared by every worker through the Django cache (Redis in production).

https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
"""

import math
import time

from django.conf import settings
from django.core.cache import cache


def send_slot_reserve(*, chat_id: int, now: float | None = None) -> float:
    """Reserve a send slot for `chat_id`. Returns 0 when the message may go now, else the
    seconds to wait. The global counter uses atomic `incr`, so workers never overshoot.

    A chat gets one message per window of TELEGRAM_RATE_PER_CHAT_SECONDS (windows counted
    from the epoch, one key each). The key of one window used to be the slot itself, and the
    cache keeps keys for whole seconds (``math.ceil(per_chat) + 1``): a chat got one message
    every 2 s whatever the setting, and every waiting message retried every 0.05 s meanwhile.
    """
    now = time.time() if now is None else now
    per_chat = settings.TELEGRAM_RATE_PER_CHAT_SECONDS
    chat_key = ""
    if per_chat > 0:
        window = math.floor(now / per_chat)
        chat_key = f"tg:chat:{chat_id}:{window}"
        # add() is atomic: only one sender per chat per window wins the slot.
        if not cache.add(chat_key, 1, timeout=math.ceil(per_chat) + 1):
            return max((window + 1) * per_chat - now, 0.05)

    second = int(now)
    global_key = f"tg:global:{second}"
    cache.add(global_key, 0, timeout=3)
    try:
        used = cache.incr(global_key)
    except ValueError:  # expired between add and incr
        cache.add(global_key, 1, timeout=3)
        used = 1
    if used > settings.TELEGRAM_RATE_GLOBAL_PER_SECOND:
        if chat_key:
            cache.delete(chat_key)
        return max(second + 1 - now, 0.05)
    return 0.0
