"""/start: registration, language, referral, the main menu, banned customers."""

import pytest

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from telegram_bot.tests.conftest import MENU_EN, MENU_RU, USER_ID, buttons

pytestmark = pytest.mark.django_db


def test_start_registers_and_greets_in_russian_with_the_menu(bot):
    bot.message("/start", language_code="ru", first_name="Анна", username="anna")
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert (customer.language, customer.username, customer.first_name) == ("ru", "anna", "Анна")
    reply = bot.last_reply()
    assert reply["text"].startswith("Привет, Анна!")
    assert reply["parse_mode"] == "HTML"
    # No trial tariff is configured, so no "Free trial" entry.
    assert buttons(reply["reply_markup"]) == MENU_RU
    assert bot.methods() == ["sendMessage"]


def test_start_greets_in_english_for_other_languages(bot):
    bot.message("/start", language_code="de", first_name="Max")
    assert Customer.objects.get().language == "en"
    reply = bot.last_reply()
    assert reply["text"].startswith("Hello, Max!")
    assert buttons(reply["reply_markup"]) == MENU_EN


def test_start_escapes_the_name(bot):
    bot.message("/start", language_code="en", first_name="<b>Eve & co</b>")
    assert "Hello, &lt;b&gt;Eve &amp; co&lt;/b&gt;!" in bot.last_reply()["text"]


def test_start_with_referral_code_records_referrer_once(bot):
    referrer = CustomerFactory()
    other = CustomerFactory()
    bot.message(f"/start {referrer.referral_code}")
    bot.message(f"/start {other.referral_code}")
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert customer.referred_by == referrer
    assert len(bot.replies()) == 2  # greeted both times


def test_start_with_own_code_is_not_a_referral(bot):
    bot.message("/start")
    customer = Customer.objects.get(telegram_id=USER_ID)
    bot.message(f"/start {customer.referral_code}")
    customer.refresh_from_db()
    assert customer.referred_by is None


def test_start_with_unknown_code_still_registers(bot):
    bot.message("/start not-a-code")
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert customer.referred_by is None
    assert bot.last_reply()["text"].startswith("Привет")


def test_banned_customer_gets_one_polite_line(bot):
    CustomerFactory(telegram_id=USER_ID, is_banned=True, language="en", language_chosen=True)
    bot.message("/start")
    assert bot.methods() == ["sendMessage"]
    reply = bot.last_reply()
    assert reply["text"] == "Sorry, access to the service is closed for your account."
    assert buttons(reply["reply_markup"]) == [("✉️ Contact support", "https://t.me/vpn_support")]


@pytest.mark.parametrize("text", ["/help", "/language", "hello", "/stats"])
def test_banned_customer_refused_everywhere(bot, text):
    CustomerFactory(telegram_id=USER_ID, is_banned=True, language="ru")
    bot.message(text)
    assert bot.methods() == ["sendMessage"]
    refusal = "К сожалению, доступ к сервису для вашего аккаунта закрыт."  # noqa: RUF001
    assert bot.last_reply()["text"] == refusal


def test_banned_customer_pressing_a_button(bot):
    CustomerFactory(telegram_id=USER_ID, is_banned=True, language="ru")
    bot.press("lang:en")
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    assert "закрыт" in bot.last_reply()["text"]
    assert Customer.objects.get().language == "ru"


def test_menu_button_edits_the_message_into_the_menu(bot, customer_en):
    bot.press("menu", message_text="How to connect ...")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    edit = bot.calls("editMessageText")[0].params
    assert edit["text"] == "Main menu. Choose what you would like to do:"
    assert buttons(edit["reply_markup"]) == MENU_EN


def test_start_in_a_group_is_ignored(bot):
    bot.message("/start", chat_id=-100123)
    assert bot.methods() == []
    assert not Customer.objects.exists()
