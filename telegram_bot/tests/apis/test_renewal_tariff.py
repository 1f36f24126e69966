"""A renewal with another tariff moves the subscription onto it: the card names the new one
(issue 19: "Month" renewed with "3 months" still said "Month")."""

from decimal import Decimal

import pytest

from accounts.tests.factories import CustomerFactory
from subscriptions.services.lifecycle import subscription_extend
from subscriptions.tests.factories import TariffFactory
from telegram_bot.tests.conftest import USER_ID, subscription_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "title", "devices"),
    [
        ("en", "<b>📋 Subscription 1 · 3 months</b>", "Devices: up to 5 devices"),
        ("ru", "<b>📋 Подписка 1 · 3 месяца</b>", "Устройства: до 5 устройств"),
    ],
)
def test_the_card_shows_the_tariff_of_the_renewal(bot, tariffs, language, title, devices):
    customer = CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)
    subscription = subscription_for(customer, tariffs["month"])
    quarter = TariffFactory(
        name="3 месяца",
        name_en="3 months",
        duration_days=90,
        price=Decimal("799"),
        device_limit=5,
    )
    subscription_extend(subscription=subscription, days=90, tariff=quarter, place_keys_now=False)
    bot.message("/subscriptions", language_code=language)
    lines = bot.last_reply()["text"].splitlines()
    assert lines[0] == title
    assert devices in lines
    assert not [line for line in lines if "Month" in line or "Месяц" in line]
