"""Money, dates and durations: the one formatter every message and the /stats screen use."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from notifications.formatting import (
    date_format,
    days,
    money_format,
    money_totals_format,
    time_left,
)

NBSP = "\xa0"
CHRISTMAS = datetime(2026, 12, 25, 11, 30, tzinfo=UTC)  # 14:30 in Moscow


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        (Decimal("299.00"), "RUB", "ru", "299 ₽"),
        (Decimal("2990"), "RUB", "ru", "2 990 ₽"),
        (Decimal("2990"), "RUB", "en", "2,990 ₽"),
        (Decimal("1499.5"), "USD", "ru", "1 499,50 $"),
        (Decimal("1499.50"), "USD", "en", "$1,499.50"),
        (Decimal("4.99"), "USD", "en", "$4.99"),
        (Decimal("5"), "EUR", "en", "€5"),
        (Decimal("5"), "EUR", "ru", "5 €"),
        (Decimal("1296"), "RUB", "ru", "1 296 ₽"),
        (Decimal("1296.00"), "RUB", "en", "1,296 ₽"),
        (Decimal("10.00"), "EUR", "en", "€10"),
        (Decimal("0.01"), "RUB", "ru", "0,01 ₽"),
        (Decimal("5"), "KZT", "en", "5 KZT"),
    ],
)
def test_money_format(amount, currency, language, expected):
    assert money_format(amount, currency, language) == expected.replace(" ", NBSP)


def test_money_format_follows_the_active_language_when_none_is_given():
    with translation.override("ru"):
        assert money_format(Decimal("1499.50"), "USD") == f"1{NBSP}499,50{NBSP}$"
    with translation.override("en"):
        assert money_format(Decimal("1499.50"), "USD") == "$1,499.50"


def test_money_format_leaves_the_active_language_alone():
    with translation.override("ru"):
        money_format(Decimal(1), "RUB", "en")
        assert translation.get_language() == "ru"


def test_money_totals_never_add_currencies_and_sort_them():
    amounts = {"USD": Decimal("10.00"), "RUB": Decimal("1300.50")}
    assert money_totals_format(amounts, "en") == f"1,300.50{NBSP}₽ + $10"
    assert money_totals_format(amounts, "ru") == f"1{NBSP}300,50{NBSP}₽ + 10{NBSP}$"
    assert money_totals_format({}, "ru") == "0"


def test_date_format_in_the_service_time_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    assert date_format(CHRISTMAS, "ru") == "25 декабря 2026 г. 14:30 (MSK)"  # noqa: RUF001
    assert date_format(CHRISTMAS, "en") == "Dec. 25, 2026, 2:30 p.m. (MSK)"
    assert date_format(CHRISTMAS, "ru", short=True) == "25.12.2026"
    assert date_format(CHRISTMAS, "en", short=True) == "12/25/2026"


def test_date_format_short_is_the_local_day_not_the_utc_one(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    late_utc = datetime(2026, 12, 24, 22, 0, tzinfo=UTC)  # already the 25th in Moscow
    assert date_format(late_utc, "ru", short=True) == "25.12.2026"


def test_days_and_time_left():
    assert [days(n, "ru") for n in (1, 3, 5)] == ["1 день", "3 дня", "5 дней"]
    assert days(30, "en") == "30 days"
    assert time_left(timedelta(days=2, hours=13), "en") == "3 days"
    assert time_left(timedelta(minutes=61), "en") == "2 hours"
    assert time_left(timedelta(seconds=-5), "ru") == "1 час"
