"""/help: client apps, import steps, the support contact."""

import pytest

from telegram_bot.tests.conftest import buttons

pytestmark = pytest.mark.django_db

APPS = ["v2rayNG", "Hiddify", "Streisand", "V2Box", "v2rayN"]


def test_help_in_russian_lists_apps_and_support(bot):
    bot.message("/help", language_code="ru")
    reply = bot.last_reply()
    text = reply["text"]
    assert text.startswith("<b>Как подключиться</b>")
    for platform in ("Android", "iOS", "Windows", "macOS"):
        assert f"<b>{platform}</b>" in text
    for app in APPS:
        assert app in text
    assert "Напишите в поддержку: @vpn_support" in text
    assert buttons(reply["reply_markup"]) == [
        ("✉️ Написать в поддержку", "https://t.me/vpn_support"),
        ("« Меню", "menu"),
    ]


def test_help_in_english(bot, customer_en):
    bot.message("/help", language_code="ru")
    text = bot.last_reply()["text"]
    assert text.startswith("<b>How to connect</b>")
    assert "Write to support: @vpn_support" in text
    assert "• <b>iOS</b>: Streisand, V2Box, Hiddify" in text


def test_help_without_support_contact(bot, settings):
    settings.TELEGRAM_SUPPORT_CONTACT = ""
    bot.message("/help", language_code="en")
    reply = bot.last_reply()
    assert "support" not in reply["text"].lower()
    assert buttons(reply["reply_markup"]) == [("« Menu", "menu")]


def test_help_contact_is_escaped_and_not_a_button_when_not_a_link(bot, settings):
    settings.TELEGRAM_SUPPORT_CONTACT = "help <at> example.com"
    bot.message("/help", language_code="en")
    reply = bot.last_reply()
    assert "help &lt;at&gt; example.com" in reply["text"]
    assert buttons(reply["reply_markup"]) == [("« Menu", "menu")]


def test_help_button_answers_first_then_shows_help_in_place(bot):
    bot.press("help", language_code="en")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    assert bot.calls("editMessageText")[0].params["text"].startswith("<b>How to connect</b>")


def test_pressing_help_twice_is_not_an_error(bot):
    update = bot.press("help", language_code="en")
    message_id = update["callback_query"]["message"]["message_id"]
    bot.press("help", language_code="en", message_id=message_id)
    # The second edit changes nothing: Telegram says "not modified", the bot stays quiet.
    assert bot.methods() == [
        "answerCallbackQuery",
        "editMessageText",
        "answerCallbackQuery",
        "editMessageText",
    ]
    assert bot.calls("editMessageText")[1].http_status == 400
    assert bot.replies() == []
