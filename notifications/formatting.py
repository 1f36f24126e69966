"""Money, dates and durations for people: one way, wherever a customer or an operator reads them.

Each function formats in `language` (a customer's ``language``), or in the active language
when it is None (inside ``translation.override``). Dates are shown in the service's time
zone (``TIME_ZONE``). The results may go into ``parse_mode=HTML`` messages as they are.
"""

import math
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import ngettext
from django_countries import countries

# XTR: Telegram Stars (https://core.telegram.org/bots/payments-stars), always whole stars.
CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "XTR": "⭐"}
# Signs English writes before the amount ("$4.99", "€5"); Russian writes every sign after it
# ("4,99 $"), and the rouble sign follows the amount in both ("1 296 ₽", "1,296 ₽").
SIGNS_BEFORE = {"en": frozenset({"USD", "EUR"})}


def _language(language: str | None):
    return translation.override(language) if language else nullcontext()


def money_format(amount: Decimal, currency: str, language: str | None = None) -> str:
    """The one money format per language, wherever a customer reads an amount:
    "1 296 ₽", "1 499,50 $" (ru) / "1,296 ₽", "$1,499.50" (en). Kopecks only when there are
    some; a currency without a sign is shown by its code after the amount ("5 KZT")."""
    places = 0 if amount == amount.to_integral_value() else 2
    with _language(language):
        number = formats.number_format(
            amount, decimal_pos=places, use_l10n=True, force_grouping=True
        )
        active = translation.get_language() or ""
    sign = escape(CURRENCY_SIGNS.get(currency, currency))
    if currency in SIGNS_BEFORE.get(active.split("-")[0], ()) and currency in CURRENCY_SIGNS:
        return f"{sign}{number}"
    return f"{number}\u00a0{sign}"


def money_totals_format(amounts: Mapping[str, Decimal], language: str | None = None) -> str:
    """Sums in several currencies, never added together: "1,300.50 ₽ + 10 $"; "0" when none."""
    if not amounts:
        return "0"
    return " + ".join(
        money_format(amount, currency, language) for currency, amount in sorted(amounts.items())
    )


def date_format(moment: datetime, language: str | None = None, *, short: bool = False) -> str:
    """A moment in the service's time zone, "Dec. 25, 2026, 2:30 p.m. (MSK)" in English (the
    language's DATETIME_FORMAT); `short`: the date alone, "25.12.2026" (ru), "12/25/2026" (en)."""
    local = timezone.localtime(moment, ZoneInfo(settings.TIME_ZONE))
    with _language(language):
        if short:
            return formats.date_format(local, "SHORT_DATE_FORMAT")
        return f"{formats.date_format(local, 'DATETIME_FORMAT')} ({local:%Z})"


def days(count: int, language: str | None = None) -> str:
    """ "30 days", "1 day" (and the Russian plural forms)."""
    with _language(language):
        return ngettext("%(days)d day", "%(days)d days", count) % {"days": count}


def time_left(delta: timedelta, language: str | None = None) -> str:
    """ "3 days" (rounded) from a day on, else "5 hours" (rounded up, at least 1)."""
    seconds = max(delta.total_seconds(), 0)
    if seconds >= 86400:
        return days(round(seconds / 86400), language)
    hours = max(1, math.ceil(seconds / 3600))
    with _language(language):
        return ngettext("%(hours)d hour", "%(hours)d hours", hours) % {"hours": hours}


_FLAG_BASE = 0x1F1E6  # REGIONAL INDICATOR SYMBOL LETTER A: two of them draw a flag


def country_flag(code: str) -> str:
    """The flag emoji of a 2-letter ISO 3166 code ("DE" → "🇩🇪"); "" for anything else."""
    code = (code or "").strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(_FLAG_BASE + ord(letter) - ord("A")) for letter in code)


def country_name(code: str, language: str | None = None) -> str:
    """A country's name in `language` ("NL" → "Netherlands" / "Нидерланды"), from
    django-countries' catalogues; the code itself when it names no country."""
    code = (code or "").strip().upper()
    with _language(language):
        return str(countries.name(code)) or code


def country_label(code: str, language: str | None = None) -> str:
    """How a customer sees a country: "🇳🇱 Netherlands" / "🇳🇱 Нидерланды"."""
    code = (code or "").strip().upper()
    with _language(language):
        name = str(countries.name(code))
    return f"{country_flag(code)} {name}" if name else code
