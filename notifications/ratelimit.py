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
    """
    now = time.time() if now is None else now
    per_chat = settings.TELEGRAM_RATE_PER_CHAT_SECONDS
    chat_key = f"tg:chat:{chat_id}"
    # add() is atomic: only one sender per chat per window wins the slot.
    if per_chat > 0 and not cache.add(chat_key, now + per_chat, timeout=math.ceil(per_chat) + 1):
        next_allowed = cache.get(chat_key) or now + per_chat
        return max(float(next_allowed) - now, 0.05)

    second = int(now)
    global_key = f"tg:global:{second}"
    cache.add(global_key, 0, timeout=3)
    try:
        used = cache.incr(global_key)
    except ValueError:  # expired between add and incr
        cache.add(global_key, 1, timeout=3)
        used = 1
    if used > settings.TELEGRAM_RATE_GLOBAL_PER_SECOND:
        if per_chat > 0:
            cache.delete(chat_key)
        return max(second + 1 - now, 0.05)
    return 0.0
