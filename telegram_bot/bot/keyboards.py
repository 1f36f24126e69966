"""Inline keyboards and the callback-data scheme.

Callback data is ``<prefix>[:<arg>...]`` (at most 64 bytes, Telegram's limit), e.g. ``menu``,
``help``, ``lang``, ``lang:en``. Everything a button needs is in its data, so keyboards sent
before a restart keep working: the bot holds no per-chat state. Each flow owns a prefix and
registers ``CallbackQueryHandler(..., pattern=callback_pattern(PREFIX))``; data no flow
claims (an old keyboard) ends in the fallback handler.

The main menu is built from a list of `MenuEntry`; a new flow adds its entry to
`MAIN_MENU` (or passes its own list) and handles the entry's callback data.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from accounts.models import Language
from telegram_bot.bot import texts

CALLBACK_DATA_MAX_BYTES = 64
SEPARATOR = ":"

# Prefixes, one per flow. Short on purpose: they travel in every button.
MENU = "menu"
HELP = "help"
LANGUAGE = "lang"


def callback_data(prefix: str, *args: str) -> str:
    """Join a prefix and its arguments; refuse data Telegram would reject."""
    data = SEPARATOR.join((prefix, *args))
    if len(data.encode()) > CALLBACK_DATA_MAX_BYTES:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_MAX_BYTES} bytes: {data!r}")
    return data


def callback_pattern(prefix: str) -> str:
    """A regex matching `prefix` alone or followed by arguments (``lang``, ``lang:en``)."""
    return rf"^{re.escape(prefix)}(?:{re.escape(SEPARATOR)}.*)?$"


def callback_args(data: str | None) -> list[str]:
    """The arguments after the prefix: ``"lang:en"`` -> ``["en"]``."""
    return (data or "").split(SEPARATOR)[1:]


@dataclass(frozen=True)
class MenuEntry:
    """A main-menu button: its callback data and a label function ``(language=) -> str``."""

    callback_data: str
    label: Callable[..., str]


HELP_ENTRY = MenuEntry(callback_data(HELP), texts.button_help)
LANGUAGE_ENTRY = MenuEntry(callback_data(LANGUAGE), texts.button_language)

# In display order. Only flows that work are listed: buying, subscriptions and the trial
# add their entries when they exist.
MAIN_MENU: tuple[MenuEntry, ...] = (HELP_ENTRY, LANGUAGE_ENTRY)


def _rows(
    buttons: Sequence[InlineKeyboardButton], per_row: int
) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def main_menu_keyboard(
    *, language: str, entries: Sequence[MenuEntry] = MAIN_MENU, per_row: int = 2
) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(entry.label(language=language), callback_data=entry.callback_data)
        for entry in entries
    ]
    return InlineKeyboardMarkup(_rows(buttons, per_row))


def back_to_menu_button(*, language: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(texts.button_menu(language=language), callback_data=MENU)


def help_keyboard(*, language: str) -> InlineKeyboardMarkup:
    rows = []
    url = texts.support_url()
    if url:
        rows.append([InlineKeyboardButton(texts.button_support(language=language), url=url)])
    rows.append([back_to_menu_button(language=language)])
    return InlineKeyboardMarkup(rows)


def language_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """Each language in its own name; the current one is ticked."""
    choices = [
        InlineKeyboardButton(
            ("✓ " if code == language else "") + str(label),
            callback_data=callback_data(LANGUAGE, code),
        )
        for code, label in Language.choices
    ]
    return InlineKeyboardMarkup([choices, [back_to_menu_button(language=language)]])
