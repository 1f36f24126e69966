"""build_application(): the API address, the command menus, keyboards and texts."""

import inspect
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from notifications import callbacks
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.application import build_application

pytestmark = pytest.mark.django_db

RU_NAMES = [
    "start",
    "buy",
    "subscriptions",
    "balance",
    "invite",
    "trial",
    "gift",
    "help",
    "language",
]


def descriptions(commands: list[dict]) -> list[str]:
    return [c["description"] for c in commands]


def test_the_bot_talks_to_telegram_api_base_url(bot, telegram_api, settings):
    bot.message("/start")
    get_me = telegram_api.calls_to("getMe")
    assert get_me
    assert get_me[0].token == settings.TELEGRAM_BOT_TOKEN
    application = build_application()
    assert application.bot.base_url == f"{telegram_api.base_url}/bot{settings.TELEGRAM_BOT_TOKEN}"
    assert application.bot.base_file_url == (
        f"{telegram_api.base_url}/file/bot{settings.TELEGRAM_BOT_TOKEN}"
    )


def test_every_request_has_timeouts(settings):
    application = build_application()
    connect, read = settings.TELEGRAM_HTTP_TIMEOUT
    for request in (application.bot.request, application.updater.bot._request[0]):
        assert request.read_timeout == read
        assert request._client.timeout.connect == connect


def test_build_without_token_is_refused(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(ImproperlyConfigured, match="TELEGRAM_BOT_TOKEN"):
        build_application()


def test_post_init_publishes_commands_in_both_languages(bot, telegram_api):
    bot.post_init()
    ru = telegram_api.commands(language_code="ru")
    en = telegram_api.commands(language_code="en")
    default = telegram_api.commands()
    assert [c["command"] for c in ru] == RU_NAMES
    assert descriptions(ru) == [
        "Главное меню",
        "Купить или продлить подписку",
        "Мои подписки и ключи",
        "Баланс, пополнение и история",
        "Пригласить друзей",
        "Пробный период",
        "Активировать подарок",
        "Как подключиться",
        "Сменить язык",
    ]
    assert descriptions(en) == [
        "Main menu",
        "Buy or renew a subscription",
        "My subscriptions and keys",
        "Balance, top-ups and history",
        "Invite friends",
        "Free trial",
        "Redeem a gift code",
        "How to connect",
        "Change the language",
    ]
    assert default == en
    for code in ("uk", "be", "kk"):
        assert telegram_api.commands(language_code=code) == ru


def test_post_init_adds_stats_in_admin_chats(bot, telegram_api, settings):
    bot.post_init()
    for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS:
        scope = {"type": "chat", "chat_id": chat_id}
        assert [c["command"] for c in telegram_api.commands(scope=scope, language_code="ru")] == [
            *RU_NAMES,
            "stats",
        ]
        assert descriptions(telegram_api.commands(scope=scope))[-1] == "Service statistics"


def test_post_init_survives_a_rejected_command_list(bot, telegram_api):
    telegram_api.fail_next("setMyCommands", status=400, description="Bad Request: chat not found")
    bot.post_init()  # logged, not raised: the bot must still start
    assert telegram_api.commands(language_code="ru")


def test_post_init_sets_the_menu_button_to_the_mini_app_on_a_public_https_site(
    bot, telegram_api, settings
):
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    bot.post_init()
    assert telegram_api.menu_button() == {
        "type": "web_app",
        "text": "VPN",
        "web_app": {"url": "https://vpn.example.com/app/"},
    }


def test_post_init_leaves_the_menu_button_alone_without_https(bot, telegram_api, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    bot.post_init()
    assert telegram_api.calls_to("setChatMenuButton") == []
    assert telegram_api.menu_button() == {"type": "commands"}


def test_post_init_survives_a_rejected_menu_button(bot, telegram_api, settings):
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    telegram_api.fail_next("setChatMenuButton", status=400, description="Bad Request: nope")
    bot.post_init()  # logged, not raised
    assert telegram_api.commands(language_code="ru")


def test_callback_data_helpers():
    assert callbacks.callback_data("lang", "en") == "lang:en"
    assert callbacks.callback_args("lang:en") == ["en"]
    assert callbacks.callback_args("lang") == []
    assert callbacks.callback_args(None) == []
    pattern = re.compile(callbacks.callback_pattern("lang"))
    assert pattern.match("lang")
    assert pattern.match("lang:en")
    assert not pattern.match("language")
    assert not pattern.match("xlang")
    with pytest.raises(ValueError, match="64 bytes"):
        callbacks.callback_data("x", "я" * 40)


@pytest.mark.parametrize("language", ["ru", "en"])
def test_keyboards_fit_telegram_limits(language):
    for markup in (
        keyboards.main_menu_keyboard(language=language),
        keyboards.help_keyboard(language=language),
        keyboards.language_keyboard(language=language),
    ):
        for row in markup.inline_keyboard:
            for button in row:
                assert button.text
                if button.callback_data is not None:
                    assert 1 <= len(button.callback_data.encode()) <= 64


def test_main_menu_takes_the_entries_it_shows():
    entry = keyboards.MenuEntry("x", lambda *, language: f"X-{language}")
    markup = keyboards.main_menu_keyboard(language="en", entries=[entry, keyboards.HELP_ENTRY])
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["X-en", "❓ Help"]]


def test_texts_exist_in_both_languages():
    assert texts.menu(language="ru") == "Главное меню. Выберите, что вы хотите сделать:"
    assert texts.menu(language="en") == "Main menu. Choose what you would like to do:"
    assert texts.button_language(language="ru") == "🌐 Язык"
    assert texts.button_language(language="en") == "🌐 Language"
    assert texts.fallback(language="ru").startswith("Я не понял")
    assert texts.error(language="en").startswith("Something went wrong")
    for language in ("ru", "en"):
        for name, description in texts.commands(language=language):
            assert 1 <= len(description) <= 256
            assert re.fullmatch(r"[a-z0-9_]{1,32}", name)


def test_admin_alert_is_kept_within_telegram_limit():
    alert = texts.admin_error_alert(
        language="en",
        error_type="X",
        error_message="m",
        context="c",
        traceback_tail="<'&'>" * 3000,
    )
    assert len(alert) <= 4096
    assert alert.endswith("</pre>")


def test_every_handler_is_async_with_a_one_line_docstring():
    application = build_application()
    callbacks = [h.callback for group in application.handlers.values() for h in group]
    callbacks += list(application.error_handlers)
    assert len(callbacks) >= 10
    for callback in callbacks:
        assert inspect.iscoroutinefunction(callback), callback
        doc = (callback.__doc__ or "").strip()
        assert doc, callback.__qualname__
        assert "\n" not in doc, callback.__qualname__
