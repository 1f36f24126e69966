"""The country of a subscription's keys, chosen from its card (issue 19), in both languages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory
from core.runtime_settings import runtime_settings
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeFactory
from telegram_bot.tests.apis.test_queries import data_queries
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db

TEXTS = {
    "en": (
        "🌍 Choose a country",
        "✅ Your keys are moving to 🇳🇱 Netherlands.",
        "Now: 🇳🇱 Netherlands.",
    ),
    "ru": (
        "🌍 Выбрать страну",
        "✅ Ваши ключи переезжают: 🇳🇱 Нидерланды.",
        "Сейчас: 🇳🇱 Нидерланды.",
    ),
}
# Countries by name in the customer's language (django-countries' catalogues), never a code.
NAMES = {"en": ("🇩🇪 Germany", "🇳🇱 Netherlands"), "ru": ("🇩🇪 Германия", "🇳🇱 Нидерланды")}


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
        (NAMES[language][0], f"subs:cs:{subscription.pk}:DE"),
        (NAMES[language][1], f"subs:cs:{subscription.pk}:NL"),
    ]

    bot.press(f"subs:cs:{subscription.pk}:NL")
    text = edit(bot)["text"]
    assert text.startswith(moved)
    assert now in text
    assert buttons(edit(bot)["reply_markup"])[1] == (
        f"✓ {NAMES[language][1]}",
        f"subs:cs:{subscription.pk}:NL",
    )
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
    runtime_settings()  # warm, as in any running bot
    with CaptureQueriesContext(connection) as context:
        bot.press(f"subs:v:{subscription.pk}")
    assert len(data_queries(context)) <= 6, data_queries(context)


# The country chosen at purchase.

CHOOSE = {
    "en": "<b>🌍 Where should your keys be?</b>\n\nChoose a country for your subscription “Month”.",
    "ru": "<b>🌍 Где будут ваши ключи?</b>\n\nВыберите страну для подписки «Месяц».",  # noqa: RUF001
}


@pytest.fixture
def shop(providers, tariffs, node, nl):
    """What is on sale, on a German and a Dutch node."""
    return tariffs


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_new_subscription_picks_its_country_at_purchase(
    bot, shop, client, django_capture_on_commit_callbacks, language
):
    from billing.models import Payment
    from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send

    CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)
    month = shop["month"].pk
    bot.press(f"buy:t:{month}:0")
    assert edit(bot)["text"].startswith(CHOOSE[language])
    assert buttons(edit(bot)["reply_markup"])[:2] == [
        (NAMES[language][0], f"buy:t:{month}:0:DE"),
        (NAMES[language][1], f"buy:t:{month}:0:NL"),
    ]
    bot.press(f"buy:t:{month}:0:NL")
    assert buttons(edit(bot)["reply_markup"])[0][1] == f"buy:p:{month}:0:robokassa:NL"
    bot.press(f"buy:p:{month}:0:robokassa:NL")
    payment = Payment.objects.get()
    assert payment.country == "NL"
    assert buttons(edit(bot)["reply_markup"])[1][1] == f"buy:t:{month}:0:NL"  # other method

    with django_capture_on_commit_callbacks(execute=True):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
    payment.refresh_from_db()
    subscription = payment.subscription
    assert subscription.country == "NL"
    assert list(subscription.keys.values_list("node__country", flat=True)) == ["NL"]


def test_a_renewal_keeps_its_country_and_asks_none(bot, shop, node, customer_en):
    subscription = subscription_for(customer_en, shop["month"], node)
    bot.press(f"buy:t:{shop['month'].pk}:{subscription.pk}")
    assert edit(bot)["text"].endswith("Choose a payment method:")


def test_one_country_asks_none(bot, providers, tariffs, node, customer_en):
    bot.press(f"buy:t:{tariffs['month'].pk}:0")
    assert edit(bot)["text"].endswith("Choose a payment method:")


def test_a_country_the_tariff_does_not_offer_makes_no_payment(bot, shop, customer_en):
    from billing.models import Payment

    bot.press(f"buy:p:{shop['month'].pk}:0:robokassa:FI")
    assert edit(bot)["text"] == "This country is not available for this subscription."
    assert not Payment.objects.exists()
