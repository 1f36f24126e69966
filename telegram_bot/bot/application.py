"""Builds the bot: the PTB `Application` with our handlers, error handler and commands.

Docs: https://docs.python-telegram-bot.org/en/v22.5/telegram.ext.applicationbuilder.html
"""

import logging
import time
from collections.abc import Iterator
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.urls import reverse
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    LinkPreviewOptions,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

from accounts.models import Language
from accounts.services import RUSSIAN_READING_LANGUAGES
from core import metrics_files
from core.logging import update_id_var
from core.metrics import bot_update_observe
from core.runtime_settings import runtime_settings, runtime_settings_fresh, runtime_settings_pinned
from telegram_bot.bot import texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers import (
    balance,
    buy,
    countries,
    devices,
    fallback,
    gifts,
    membership,
    promo,
    stars,
    start,
    stats,
    subscriptions,
    trial,
)
from telegram_bot.bot.handlers import help as help_flow
from telegram_bot.bot.handlers import language as language_flow
from telegram_bot.bot.handlers.errors import error_handler

logger = logging.getLogger(__name__)

# Registered in this order in group 0: the first handler whose check matches wins, so the
# catch-all `fallback` comes last. A new flow goes before it.
FLOWS: tuple[ModuleType, ...] = (
    start,
    gifts,  # before buy: its ``buy`` pattern would take ``buy:g…`` too
    buy,
    stars,
    subscriptions,
    countries,
    devices,
    balance,
    trial,
    help_flow,
    language_flow,
    stats,
    membership,
    # Last: its text handler answers any plain message (the code, or the fallback's hint).
    promo,
)


def command_languages() -> Iterator[tuple[str, str]]:
    """(Telegram language_code, our language) for each command list we publish.

    "" is Telegram's default list, seen by users whose client language has no list of its
    own; those users are answered in English (see `language_from_telegram`).
    """
    yield "", Language.EN
    yield Language.EN.value, Language.EN
    for code in sorted(RUSSIAN_READING_LANGUAGES):
        yield code, Language.RU


async def _publish_commands(
    application: Application, *, admin: bool = False, scope: BotCommandScope | None = None
) -> None:
    for language_code, language in command_languages():
        pairs = texts.commands(language=language)
        if admin:
            pairs += texts.admin_commands(language=language)
        try:
            await application.bot.set_my_commands(
                [BotCommand(name, description) for name, description in pairs],
                scope=scope,
                language_code=language_code or None,
            )
        except TelegramError as exc:
            # Cosmetic: a bad admin chat id must not keep the bot from starting.
            logger.warning("setMyCommands (%s, %r) failed: %s", scope, language_code, exc)


# The menu button's text: the product's name, the same in every language (one default
# button serves every chat).
MENU_BUTTON_TEXT = "VPN"


def miniapp_url() -> str | None:
    """The Mini App's address (/app/) when the site has a public https address: Telegram
    opens only https Mini Apps (WebAppInfo, https://core.telegram.org/bots/api#webappinfo)."""
    base = settings.PUBLIC_BASE_URL
    if not base.startswith("https://"):
        return None
    return f"{base}{reverse('miniapp')}"


async def _publish_menu_button(application: Application) -> None:
    """The menu button next to the chat's input field opens the Mini App
    (setChatMenuButton without chat_id: every private chat's default,
    https://core.telegram.org/bots/api#setchatmenubutton); without a public https address
    it keeps opening the command list."""
    url = miniapp_url()
    if url is None:
        return
    try:
        await application.bot.set_chat_menu_button(
            menu_button=MenuButtonWebApp(text=MENU_BUTTON_TEXT, web_app=WebAppInfo(url=url))
        )
    except TelegramError as exc:
        logger.warning("setChatMenuButton (%s) failed: %s", url, exc)


async def post_init(application: Application) -> None:
    """Publish the command menu in every language (admin chats also see /stats) and the
    menu button that opens the Mini App."""
    await _publish_commands(application)
    await _publish_menu_button(application)
    for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS:
        await _publish_commands(application, admin=True, scope=BotCommandScopeChat(chat_id))
    logger.info("bot @%s ready (API %s)", application.bot.username, settings.TELEGRAM_API_BASE_URL)


def update_kind(update: object) -> str:
    """message, callback_query, my_chat_member, ... (a bounded label for metrics)."""
    if isinstance(update, Update):
        for kind in Update.ALL_TYPES:
            if getattr(update, kind, None) is not None:
                return str(kind)
    return "other"


async def _runtime_settings_for_update() -> dict:
    """The runtime settings (support contact, trial tariff...) read once per update, off the
    event loop; with the database unreachable, the last values read (the handlers that need
    the database fail on their own)."""
    try:
        return await call_service(runtime_settings_fresh)
    except DatabaseError as exc:
        logger.warning("runtime settings unreadable, using the last values read: %s", exc)
        return runtime_settings()


class MeteredApplication(Application):
    """The Application, with every update counted and timed (`vpnsite_bot_updates_total`,
    `vpnsite_bot_update_duration_seconds`) and its id on every log line it causes. A handler
    that raised (PTB hands the error to the error handlers) counts as result="error". The
    handlers themselves know nothing of this."""

    async def process_update(self, update: object) -> None:
        failed_updates = self.__dict__.setdefault("_failed_updates", set())
        token = update_id_var.set(getattr(update, "update_id", None))
        started = time.perf_counter()
        failed = True
        try:
            with runtime_settings_pinned(await _runtime_settings_for_update()):
                await super().process_update(update)
            failed = False
        finally:
            failed = id(update) in failed_updates or failed
            failed_updates.discard(id(update))
            bot_update_observe(
                kind=update_kind(update),
                result="error" if failed else "ok",
                seconds=time.perf_counter() - started,
            )
            update_id_var.reset(token)

    async def process_error(self, update: object | None, error: Exception, *args, **kwargs):
        if update is not None:
            self.__dict__.setdefault("_failed_updates", set()).add(id(update))
        return await super().process_error(update, error, *args, **kwargs)


def build_application() -> Application:
    """The bot, talking to TELEGRAM_API_BASE_URL with explicit timeouts on every call."""
    token = settings.TELEGRAM_BOT_TOKEN
    if not token:
        raise ImproperlyConfigured("TELEGRAM_BOT_TOKEN is empty")
    api = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    connect_timeout, read_timeout = settings.TELEGRAM_HTTP_TIMEOUT
    if metrics_files.metrics_directory() is not None:
        metrics_files.service_start()  # fold the metrics files of the bot this one replaces
    application = (
        ApplicationBuilder()
        .application_class(MeteredApplication)
        .token(token)
        # PTB appends the token to both: {api}/bot<token>/<method>, {api}/file/bot<token>/...
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .write_timeout(read_timeout)
        .pool_timeout(connect_timeout)
        # getUpdates waits `timeout` (long polling) on top of this read timeout.
        .get_updates_connect_timeout(connect_timeout)
        .get_updates_read_timeout(read_timeout)
        .get_updates_write_timeout(read_timeout)
        .get_updates_pool_timeout(connect_timeout)
        .post_init(post_init)
        .build()
    )
    for flow in FLOWS:
        application.add_handlers(flow.HANDLERS)
    application.add_handlers(fallback.HANDLERS)
    application.add_error_handler(error_handler)
    return application
