"""The country of a subscription's keys, chosen from its card (issue 19), in both languages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeFactory
from telegram_bot.tests.apis.test_queries import data_queries
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db

TEXTS = {
    "en": ("🌍 Choose a country", "✅ Your keys are moving to 🇳🇱 NL.", "Now: 🇳🇱 NL."),
    "ru": ("🌍 Выбрать страну", "✅ Ваши ключи переезжают: 🇳🇱 NL.", "Сейчас: 🇳🇱 NL."),
}


@pytest.fixture
def nl(db):
    return NodeFactory(
        name="nl-1",
        country="NL",
        location="Amsterdam",
        health=NodeHealth.UP,
        inbound_cache=REALITY_INBOUND,
    )


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_country_is_changed_from_the_card_and_the_keys_move(bot, tariffs, node, nl, language):
    customer = CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)
    subscription = subscription_for(customer, tariffs["month"], node)
    choose, moved, now = TEXTS[language]

    bot.press(f"subs:v:{subscription.pk}")
    assert (choose, f"subs:c:{subscription.pk}") in buttons(edit(bot)["reply_markup"])

    bot.press(f"subs:c:{subscription.pk}")
    rows = buttons(edit(bot)["reply_markup"])
    assert rows[:2] == [
        ("🇩🇪 DE", f"subs:cs:{subscription.pk}:DE"),
        ("🇳🇱 NL", f"subs:cs:{subscription.pk}:NL"),
    ]

    bot.press(f"subs:cs:{subscription.pk}:NL")
    text = edit(bot)["text"]
    assert text.startswith(moved)
    assert now in text
    assert buttons(edit(bot)["reply_markup"])[1] == ("✓ 🇳🇱 NL", f"subs:cs:{subscription.pk}:NL")
    subscription.refresh_from_db()
    assert subscription.country == "NL"
    states = dict(subscription.keys.values_list("node__name", "sync_state"))
    assert states == {"de-1": SyncState.REMOVING, "nl-1": SyncState.PENDING}


def test_no_country_button_with_one_country(bot, tariffs, node, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"], node)
    bot.press(f"subs:v:{subscription.pk}")
    assert not [b for b in buttons(edit(bot)["reply_markup"]) if b[1].startswith("subs:c")]


def test_someone_elses_subscription_is_never_moved(bot, tariffs, node, nl, customer_en):
    other = subscription_for(CustomerFactory(), tariffs["month"], node)
    bot.press(f"subs:cs:{other.pk}:NL")
    assert edit(bot)["text"].startswith("This option is no longer available.")
    other.refresh_from_db()
    assert other.country == ""
    assert not NodeClient.objects.filter(node=nl).exists()


def test_a_country_the_tariff_does_not_offer_is_refused(bot, tariffs, node, nl, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"], node)
    bot.press(f"subs:cs:{subscription.pk}:FI")
    assert edit(bot)["text"].startswith("This country is not available for this subscription.")
    subscription.refresh_from_db()
    assert subscription.country == ""


def test_the_card_with_the_country_button_stays_within_the_query_budget(
    bot, tariffs, node, nl, customer_en
):
    subscription = subscription_for(customer_en, tariffs["month"], node)
    with CaptureQueriesContext(connection) as context:
        bot.press(f"subs:v:{subscription.pk}")
    assert len(data_queries(context)) <= 6, data_queries(context)
