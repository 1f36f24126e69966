"""/language: choose, persist, confirm in the new language with its menu."""

import pytest

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from telegram_bot.tests.conftest import MENU_EN, USER_ID, buttons

pytestmark = pytest.mark.django_db


def test_language_command_offers_both_languages(bot):
    bot.message("/language", language_code="ru")
    reply = bot.last_reply()
    assert reply["text"] == "Выберите язык бота:"
    assert buttons(reply["reply_markup"]) == [
        ("✓ Русский", "lang:ru"),
        ("English", "lang:en"),
        ("« Меню", "menu"),
    ]


def test_choosing_english_persists_and_confirms_in_english(bot):
    CustomerFactory(telegram_id=USER_ID, language="ru")
    bot.press("lang:en")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert (customer.language, customer.language_chosen) == ("en", True)
    edit = bot.calls("editMessageText")[0].params
    assert edit["text"].startswith("Done: the bot now speaks English.")
    assert "Main menu" in edit["text"]
    assert buttons(edit["reply_markup"]) == MENU_EN


def test_choosing_russian_confirms_in_russian(bot, customer_en):
    bot.press("lang:ru", language_code="en")
    edit = bot.calls("editMessageText")[0].params
    assert edit["text"].startswith("Готово: теперь бот говорит по-русски.")
    assert buttons(edit["reply_markup"])[0] == ("🛒 Купить", "buy")


def test_chosen_language_survives_telegram_language(bot):
    bot.press("lang:en", language_code="ru")
    bot.message("/start", language_code="ru")
    assert bot.last_reply()["text"].startswith("Hello")
    assert Customer.objects.get().language == "en"


def test_language_menu_button_shows_the_choice_in_place(bot):
    bot.press("lang", language_code="en")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    edit = bot.calls("editMessageText")[0].params
    assert edit["text"] == "Choose the language of the bot:"
    assert ("✓ English", "lang:en") in buttons(edit["reply_markup"])


def test_unknown_language_code_in_button_is_an_outdated_button(bot):
    CustomerFactory(telegram_id=USER_ID, language="ru")
    bot.press("lang:de")
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    assert bot.last_reply()["text"].startswith("Эта кнопка больше не работает")
    assert Customer.objects.get().language == "ru"


def test_language_keyboard_from_a_photo_message_sends_a_new_message(bot, telegram_api):
    CustomerFactory(telegram_id=USER_ID, language="ru")
    update = telegram_api.callback_update(user_id=USER_ID, data="lang:en")
    message = update["callback_query"]["message"]
    message.pop("text")
    message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    bot.process(update)
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    assert bot.last_reply()["text"].startswith("Done")
