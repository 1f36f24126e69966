"""The real long-polling loop (PTB's Updater) against the double, in process."""

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from telegram import Update

from accounts.models import Customer
from telegram_bot.bot.application import build_application

pytestmark = pytest.mark.django_db

USER = 6660001


def test_long_polling_answers_and_confirms_updates(telegram_api):
    async def scenario() -> None:
        application = build_application()
        async with application:
            await application.updater.start_polling(
                timeout=1, allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
            )
            await application.start()
            try:
                telegram_api.push_message(user_id=USER, text="/start", language_code="en")
                telegram_api.push_callback(user_id=USER, data="lang:ru", language_code="en")
                deadline = time.monotonic() + 10
                while len(telegram_api.calls_to("editMessageText")) < 1:
                    assert time.monotonic() < deadline, telegram_api.calls
                    await asyncio.sleep(0.02)
            finally:
                await application.updater.stop()
                await application.stop()

    async_to_sync(scenario)()

    assert telegram_api.sent_messages(USER)[0]["text"].startswith("Hello")
    assert telegram_api.calls_to("editMessageText")[0].params["text"].startswith("Готово")
    assert Customer.objects.get(telegram_id=USER).language == "ru"
    # Stopping confirmed what was handled: a restarted poller would not answer it again.
    assert telegram_api.pending_updates == []
    get_updates = telegram_api.calls_to("getUpdates")[0].params
    assert "callback_query" in get_updates["allowed_updates"]
