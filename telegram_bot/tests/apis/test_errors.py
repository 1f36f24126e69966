"""The global error handler: the user hears an apology, the admins one alert per type."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from telegram.error import Forbidden

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxAudience, OutboxMessage
from telegram_bot.bot import texts
from telegram_bot.bot.handlers.errors import error_alert_queue, error_type_name
from telegram_bot.tests.conftest import USER_ID

pytestmark = pytest.mark.django_db


class Boom(RuntimeError):
    pass


@pytest.fixture
def broken_help(monkeypatch):
    def explode(**kwargs):
        raise Boom("db password=hunter2 leaked in a message")

    monkeypatch.setattr(texts, "help_text", explode)


def admin_alerts():
    return OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN, kind="bot_error")


def test_error_apologises_in_the_users_language_without_internals(bot, broken_help, customer_en):
    bot.message("/help")
    reply = bot.last_reply()
    assert reply["text"] == "Something went wrong on our side. Please try again in a minute."
    assert "hunter2" not in str(bot.replies())


def test_error_apology_in_russian(bot, broken_help):
    bot.message("/help", language_code="ru")
    assert bot.last_reply()["text"] == (
        "Что-то пошло не так на нашей стороне. Пожалуйста, попробуйте ещё раз через минуту."
    )


def test_repeated_errors_queue_one_admin_alert(bot, broken_help, settings):
    bot.message("/help")
    bot.message("/help")
    bot.press("help")
    assert len(bot.replies()) == 3  # every user hears back
    alerts = admin_alerts()
    # One alert, delivered to each admin chat.
    assert sorted(alerts.values_list("chat_id", flat=True)) == sorted(
        settings.TELEGRAM_ADMIN_CHAT_IDS
    )
    alert = alerts.first()
    assert "Boom" in alert.text
    assert "Traceback" in alert.text
    assert f"user {USER_ID}" in alert.text
    assert len(alert.text) <= 4096


def test_another_error_type_gets_its_own_alert(bot, broken_help, monkeypatch):
    bot.message("/help")

    def other(**kwargs):
        raise KeyError("other")

    monkeypatch.setattr(texts, "language_prompt", other)
    bot.message("/language")
    assert admin_alerts().values("dedupe_key").count() == 4  # 2 types x 2 admin chats


def test_the_admin_alert_is_valid_html_for_telegram(bot, broken_help, telegram_api):
    from tests.doubles.telegram_api import html_error

    bot.message("/help")
    for alert in admin_alerts():
        assert html_error(alert.text) is None


def test_alert_window_is_sliding_and_backed_by_the_outbox_dedupe():
    now = timezone.now().replace(minute=9, second=50)
    assert error_alert_queue(error_type="X", text="x", now=now)
    # 20 s later, in the next 10-minute bucket: the cache window still holds.
    assert not error_alert_queue(error_type="X", text="x", now=now + timedelta(seconds=20))
    # The cache lost its key (restart of a local cache): the same bucket is deduplicated.
    cache.clear()
    assert not error_alert_queue(error_type="X", text="x", now=now + timedelta(seconds=5))
    # Eleven minutes on, with the window expired, a new alert goes out.
    cache.clear()
    assert error_alert_queue(error_type="X", text="x", now=now + timedelta(minutes=11))
    assert admin_alerts().count() == 4


def test_error_type_name():
    assert error_type_name(RuntimeError()) == "RuntimeError"
    assert error_type_name(Forbidden("x")) == "telegram.error.Forbidden"


def test_user_who_blocked_the_bot_is_recorded_not_alerted(bot, telegram_api):
    customer = CustomerFactory(telegram_id=USER_ID)
    telegram_api.block_chat(USER_ID)
    bot.message("/help")
    customer.refresh_from_db()
    assert customer.bot_blocked_at is not None
    assert not admin_alerts().exists()
    assert [c.http_status for c in bot.calls("sendMessage")] == [403]


def test_network_blip_apologises_but_does_not_alert(bot, telegram_api):
    telegram_api.fail_next("sendMessage", status=502, description="Bad Gateway")
    bot.message("/help", language_code="en")
    assert [c.http_status for c in bot.calls("sendMessage")] == [502, 200]
    assert bot.last_reply()["text"].startswith("Something went wrong")
    assert not admin_alerts().exists()
