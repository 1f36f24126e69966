"""Observability fixtures: the bot's fixtures that the logging suites drive (the bot against
the Bot API double, its payment providers and tariffs)."""

from telegram_bot.tests.conftest import (  # noqa: F401 - fixtures
    bot,
    providers,
    tariffs,
    telegram_api,
)
