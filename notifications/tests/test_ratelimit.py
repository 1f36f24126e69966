"""Telegram's per-chat send limit: a chat gets one message per
TELEGRAM_RATE_PER_CHAT_SECONDS, not one per lifetime of a cache key (whole seconds)."""

import time

import pytest
from django.core.cache import cache
from django.test import override_settings

from notifications.ratelimit import send_slot_reserve


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("per_chat", [1.0, 0.25])
def test_a_chat_gets_one_message_per_configured_interval(per_chat):
    start = (int(time.time()) // 10 + 1) * 10.0  # the start of a window, just ahead
    with override_settings(
        TELEGRAM_RATE_PER_CHAT_SECONDS=per_chat, TELEGRAM_RATE_GLOBAL_PER_SECOND=10_000
    ):
        assert send_slot_reserve(chat_id=1001, now=start) == 0
        # Within the interval: wait until the next one begins.
        assert send_slot_reserve(chat_id=1001, now=start + per_chat / 2) == pytest.approx(
            max(per_chat / 2, 0.05)
        )
        # Once it has passed, the chat may have its next message, whatever the cache's
        # whole-second key lifetime (the slot of the previous interval still exists).
        for step in range(1, 5):
            assert send_slot_reserve(chat_id=1001, now=start + step * per_chat) == 0
        # Another chat is not held back.
        assert send_slot_reserve(chat_id=1002, now=start + per_chat / 2) == 0


def test_a_slot_given_back_when_the_global_limit_is_reached_can_be_taken_again():
    start = (int(time.time()) // 10 + 1) * 10.0 + 0.5
    with override_settings(TELEGRAM_RATE_PER_CHAT_SECONDS=1.0, TELEGRAM_RATE_GLOBAL_PER_SECOND=1):
        assert send_slot_reserve(chat_id=1, now=start) == 0
        assert send_slot_reserve(chat_id=2, now=start) == pytest.approx(0.5)  # global full
        assert send_slot_reserve(chat_id=2, now=start + 0.5) == 0  # its slot was given back
