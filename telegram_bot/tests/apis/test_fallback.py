"""Anything no flow handles gets a short hint and the menu."""

import pytest

from accounts.tests.factories import CustomerFactory
from telegram_bot.tests.conftest import MENU_EN, MENU_RU, USER_ID, buttons

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "kwargs",
    [{"text": "hello there"}, {"sticker": True}, {"text": "/unknown"}, {"text": "/stats"}],
    ids=["text", "sticker", "unknown-command", "stats-for-non-admin"],
)
def test_unhandled_message_gets_hint_and_menu(bot, kwargs):
    bot.message(language_code="ru", **kwargs)
    assert bot.methods() == ["sendMessage"]
    reply = bot.last_reply()
    assert reply["text"] == "Я не понял сообщение. Пожалуйста, воспользуйтесь меню ниже:"
    assert buttons(reply["reply_markup"]) == MENU_RU


def test_unhandled_message_in_english(bot, customer_en):
    bot.message("what?")
    reply = bot.last_reply()
    assert reply["text"] == "I did not understand that. Please use the menu below:"
    assert buttons(reply["reply_markup"]) == MENU_EN


@pytest.mark.parametrize(
    "data",
    ["promo:tariff:42", "buy:tariff:42", "buy:r:x", "buy:t:1", "buy:p:1:0", "subs:v:x", "subs:z"],
)
def test_unknown_callback_from_an_old_keyboard(bot, data, customer_en):
    update = bot.press(data, message_id=77)
    # Answered first (the spinner stops), the old message is left alone, the menu is new.
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    assert (
        bot.calls("answerCallbackQuery")[0].params["callback_query_id"]
        == (update["callback_query"]["id"])
    )
    reply = bot.last_reply()
    assert reply["text"] == "This button is no longer active. Here is the current menu:"
    assert buttons(reply["reply_markup"]) == MENU_EN


def test_fallback_registers_an_unknown_user(bot):
    from accounts.models import Customer

    bot.message("hi", language_code="en")
    assert Customer.objects.get(telegram_id=USER_ID).language == "en"


def test_edited_messages_and_groups_are_ignored(bot, telegram_api):
    update = telegram_api.message_update(user_id=USER_ID, text="hello")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = update["edited_message"]["date"]
    bot.process(update, telegram_api.message_update(user_id=USER_ID, text="hi", chat_id=-1001))
    assert bot.methods() == []


def test_user_blocking_and_unblocking_the_bot_is_recorded(bot, telegram_api):
    customer = CustomerFactory(telegram_id=USER_ID)
    bot.process(telegram_api.my_chat_member_update(user_id=USER_ID, status="kicked"))
    customer.refresh_from_db()
    assert customer.bot_blocked_at is not None
    bot.process(
        telegram_api.my_chat_member_update(user_id=USER_ID, status="member", old_status="kicked")
    )
    customer.refresh_from_db()
    assert customer.bot_blocked_at is None
    assert bot.methods() == []
