"""/trial: once per customer, refused politely afterwards; offered in the menu only when on."""

import pytest

from accounts.models import Customer
from core.models import AuditEvent, AuditLog
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import MENU_EN, USER_ID, buttons

pytestmark = pytest.mark.django_db


def test_trial_is_in_the_menu_only_while_on_offer(bot, trial_tariff, settings):
    bot.message("/start", language_code="en")
    menu = buttons(bot.last_reply()["reply_markup"])
    assert ("🎁 Free trial", "trial") in menu
    assert menu[:4] == [
        ("🛒 Buy", "buy"),
        ("📋 My subscriptions", "subs"),
        ("💰 Balance", "bal"),
        ("🎁 Free trial", "trial"),
    ]

    trial_tariff.is_active = False
    trial_tariff.save()
    from django.core.cache import cache

    cache.clear()  # the offer is cached for a minute
    bot.message("/start", language_code="en")
    assert buttons(bot.last_reply()["reply_markup"]) == MENU_EN


def test_trial_tariff_that_is_not_a_trial_is_not_offered(runtime_setting, bot, tariffs, settings):
    runtime_setting("TRIAL_TARIFF", tariffs["month"].pk)
    bot.message("/start", language_code="en")
    assert buttons(bot.last_reply()["reply_markup"]) == MENU_EN


def test_trial_button_grants_once(bot, trial_tariff):
    bot.press("trial", language_code="en")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    subscription = Subscription.objects.get()
    assert subscription.is_trial
    assert subscription.tariff == trial_tariff
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert customer.trial_used_at is not None
    params = bot.calls("editMessageText")[-1].params
    assert params["text"].startswith("🎁 Your free trial is on: 3 days, until ")
    assert "will arrive in this chat" in params["text"]
    assert buttons(params["reply_markup"]) == [
        ("📋 My subscriptions", f"subs:v:{subscription.pk}"),
        ("❓ How to connect", "help"),
        ("« Menu", "menu"),
    ]
    assert AuditLog.objects.filter(event_type=AuditEvent.TRIAL_GRANTED).count() == 1

    # The menu no longer offers it.
    bot.press("menu", language_code="en")
    assert ("🎁 Free trial", "trial") not in buttons(
        bot.calls("editMessageText")[-1].params["reply_markup"]
    )


def test_trial_during_the_trial_says_it_is_running_and_until_when(bot, trial_tariff):
    """Issue 19: /trial while the trial runs said "you have already used your free trial"."""
    bot.message("/trial", language_code="ru")
    bot.message("/trial", language_code="ru")
    assert Subscription.objects.count() == 1
    trial = Subscription.objects.get()
    reply = bot.last_reply()
    assert reply["text"].startswith("🎁 Ваш пробный период действует до ")
    assert "воспользовались" not in reply["text"]
    assert [data for _, data in buttons(reply["reply_markup"])] == [
        f"subs:v:{trial.pk}",
        "help",
        "menu",
    ]


def test_trial_during_the_trial_in_english(bot, trial_tariff, customer_en):
    bot.message("/trial")
    bot.message("/trial")
    assert bot.last_reply()["text"].startswith("🎁 Your free trial is running until ")


def test_second_trial_after_it_ended_is_refused_politely(bot, trial_tariff):
    bot.message("/trial", language_code="ru")
    Subscription.objects.update(status="expired")
    bot.message("/trial", language_code="ru")
    assert Subscription.objects.count() == 1
    reply = bot.last_reply()
    assert reply["text"] == (
        "Вы уже воспользовались пробным периодом.\n\nВместо этого можно выбрать тариф:"  # noqa: RUF001
    )
    assert buttons(reply["reply_markup"]) == [("🛒 Купить", "buy"), ("« Меню", "menu")]


def test_no_trial_configured(bot, customer_en):
    bot.message("/trial")
    assert not Subscription.objects.exists()
    assert bot.last_reply()["text"].startswith("There is no free trial at the moment.")
    assert Customer.objects.get().trial_used_at is None
