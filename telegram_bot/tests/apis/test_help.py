"""/help: the steps, a platform picker, and per platform the apps with their store links and
one-tap "add to <app>" buttons for the customer's own subscription (issue 19)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from subscriptions.deeplinks import APPS, PLATFORMS, RECOMMENDED
from subscriptions.models import SubscriptionStatus
from subscriptions.selectors import subscription_feed_url
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db

PICKER = [
    ("🤖 Android", "help:android"),
    ("📱 iOS", "help:ios"),
    ("🪟 Windows", "help:windows"),
    ("🍏 macOS", "help:macos"),
    ("🐧 Linux", "help:linux"),
]
HAPP_PLAY = "https://play.google.com/store/apps/details?id=com.happproxy"
V2RAYTUN_PLAY = "https://play.google.com/store/apps/details?id=com.v2raytun.android"


def _customer(language: str):
    return CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)


def test_help_in_russian_has_the_steps_the_platforms_and_support(bot):
    bot.message("/help", language_code="ru")
    reply = bot.last_reply()
    text = reply["text"]
    assert text.startswith("<b>Как подключиться</b>\n\n1. Выберите своё устройство ниже")
    assert "Напишите в поддержку: @vpn_support" in text
    assert buttons(reply["reply_markup"]) == [
        *PICKER,
        ("✉️ Написать в поддержку", "https://t.me/vpn_support"),
        ("« Меню", "menu"),
    ]


def test_help_in_english(bot, customer_en):
    bot.message("/help", language_code="ru")
    reply = bot.last_reply()
    assert reply["text"].startswith("<b>How to connect</b>\n\n1. Choose your device below")
    assert "Write to support: @vpn_support" in reply["text"]
    assert buttons(reply["reply_markup"])[:5] == PICKER


def test_help_without_support_contact(runtime_setting, bot, settings):
    runtime_setting("SUPPORT_CONTACT", "")
    bot.message("/help", language_code="en")
    reply = bot.last_reply()
    assert "support" not in reply["text"].lower()
    assert buttons(reply["reply_markup"]) == [*PICKER, ("« Menu", "menu")]


def test_help_contact_is_escaped_and_not_a_button_when_not_a_link(runtime_setting, bot, settings):
    runtime_setting("SUPPORT_CONTACT", "help <at> example.com")
    bot.message("/help", language_code="en")
    reply = bot.last_reply()
    assert "help &lt;at&gt; example.com" in reply["text"]
    assert buttons(reply["reply_markup"]) == [*PICKER, ("« Menu", "menu")]


@pytest.mark.parametrize(
    ("language", "said", "labels"),
    [
        (
            "en",
            (
                "Install one of these apps:",
                "Then tap “📲 Add to …” below: the app opens with Subscription 1 · Month added.",
            ),
            ("📲 Add to", [("« Back", "help"), ("« Menu", "menu")]),
        ),
        (
            "ru",
            (
                "Установите одно из этих приложений:",
                (
                    "Затем нажмите «📲 Добавить в …» ниже: приложение откроется, и в нём уже "
                    "будет Подписка 1 · Месяц."
                ),
            ),
            ("📲 Добавить в", [("« Назад", "help"), ("« Меню", "menu")]),
        ),
    ],
)
def test_android_lists_store_links_and_adds_the_subscription_in_one_tap(
    bot, tariffs, language, said, labels
):
    install, then = said
    add, back = labels
    subscription = subscription_for(_customer(language), tariffs["month"])
    feed = subscription_feed_url(subscription=subscription)
    bot.press("help:android", language_code=language)
    params = edit(bot)
    lines = params["text"].splitlines()
    assert lines[:3] == ["<b>🤖 Android</b>", "", install]
    assert lines[3] == (
        f'• <b>Happ</b>: <a href="{HAPP_PLAY}">Google Play</a> · '
        '<a href="https://github.com/Happ-proxy/happ-android/releases/latest">GitHub</a>'
    )
    assert lines[4] == f'• <b>v2RayTun</b>: <a href="{V2RAYTUN_PLAY}">Google Play</a>'
    assert lines[-1] == then
    # One tap: our https page opens the app (Telegram's URL buttons take no custom scheme).
    assert buttons(params["reply_markup"]) == [
        *[(f"{add} {APPS[app].name}", f"{feed}/open/{app}") for app in RECOMMENDED["android"]],
        *back,
    ]


def test_ios_offers_happ_from_both_app_stores_in_russian(bot, tariffs):
    subscription_for(_customer("ru"), tariffs["month"])
    bot.press("help:ios", language_code="ru")
    text = edit(bot)["text"]
    assert (
        '• <b>Happ</b>: <a href="https://apps.apple.com/us/app/happ-proxy-utility/id6504287215">'
        'App Store</a> · <a href="https://apps.apple.com/ru/app/happ-proxy-utility-plus/'
        'id6746188973">App Store (Россия)</a>'
    ) in text
    assert "<b>v2RayTun</b>" in text
    assert "<b>Streisand</b>" in text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_names_its_apps_each_with_a_store_and_a_button(bot, tariffs, platform):
    subscription_for(_customer("en"), tariffs["month"])
    bot.press(f"help:{platform}", language_code="en")
    params = edit(bot)
    for app in RECOMMENDED[platform]:
        assert f"• <b>{APPS[app].name}</b>: <a href=" in params["text"]
    urls = [url for _, url in buttons(params["reply_markup"]) if url.startswith("http")]
    assert len(urls) == len(RECOMMENDED[platform])


@pytest.mark.parametrize(
    ("language", "text", "buy"),
    [
        ("en", "You have no subscription yet: buy one or take the free trial", "🛒 Buy"),
        ("ru", "У вас пока нет подписки: купите её или возьмите пробный период", "🛒 Купить"),  # noqa: RUF001
    ],
)
def test_without_a_subscription_store_links_only(bot, language, text, buy):
    _customer(language)
    bot.press("help:windows", language_code=language)
    params = edit(bot)
    assert text in params["text"]
    assert (
        '<a href="https://github.com/hiddify/hiddify-app/releases/latest">GitHub</a>'
        in (params["text"])
    )
    labels = buttons(params["reply_markup"])
    assert labels[0] == (buy, "buy")
    assert not [url for _, url in labels if url.startswith("http")]


def test_the_buttons_add_the_running_subscription_not_an_ended_one(bot, tariffs):
    customer = _customer("en")
    now = timezone.now()
    running = subscription_for(customer, tariffs["month"])
    subscription_for(
        customer,
        tariffs["year"],
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=400),
        expires_at=now + timedelta(days=200),
    )
    bot.press("help:linux", language_code="en")
    params = edit(bot)
    assert "with Subscription 1 · Month added." in params["text"]
    feed = subscription_feed_url(subscription=running)
    assert buttons(params["reply_markup"])[0][1].startswith(f"{feed}/open/")


def test_an_unknown_platform_shows_the_picker(bot):
    bot.press("help:amiga", language_code="en")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    assert buttons(edit(bot)["reply_markup"])[:5] == PICKER


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


def test_a_support_contact_saved_in_the_console_reaches_the_running_bot(bot, runtime_setting):
    """The bot reads the runtime settings once per update (off the event loop): a contact
    saved in the console is on the very next update, with no restart."""
    bot.message("/help", language_code="en")
    assert "Write to support: @vpn_support" in bot.last_reply()["text"]
    runtime_setting("SUPPORT_CONTACT", "@new_helpdesk")
    bot.message("/help", language_code="en")
    reply = bot.last_reply()
    assert "Write to support: @new_helpdesk" in reply["text"]
    assert ("✉️ Contact support", "https://t.me/new_helpdesk") in buttons(reply["reply_markup"])
