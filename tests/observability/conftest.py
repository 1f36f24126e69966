"""Observability fixtures: the other apps' fixtures that the logging suites drive (simulated
panels, the bot against the Bot API double, its payment providers and tariffs)."""

from nodes.tests.conftest import sim_factory  # noqa: F401 - fixture
from telegram_bot.tests.conftest import (  # noqa: F401 - fixtures
    bot,
    providers,
    tariffs,
    telegram_api,
)
