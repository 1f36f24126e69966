"""A broadcast's bot-screen buttons (console.broadcasts.broadcast_markup) open the bot's own
screens: the callback data they carry lands in the handlers a menu press lands in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console.broadcasts import broadcast_markup
from notifications.models import Broadcast, BroadcastButton
from subscriptions.models import SubscriptionStatus
from telegram_bot.tests.conftest import buttons, edit, subscription_for

pytestmark = pytest.mark.django_db


def press_broadcast_button(bot, screen: str, language: str = "en") -> str:
    """Press the first button of a broadcast with that screen; return its callback data."""
    markup = broadcast_markup(Broadcast(text_en="Hi", button_screen=screen), language=language)
    label, data = buttons(markup)[0]
    assert label  # labelled in the customer's language, never empty
    bot.press(data)
    return data


def test_buy_button_opens_the_tariffs(bot, providers, tariffs, customer_en):
    assert press_broadcast_button(bot, BroadcastButton.BUY) == "buy"
    assert "<b>🛒 Choose a tariff</b>" in edit(bot)["text"]


def test_renew_button_renews_the_latest_paid_subscription_even_when_it_ended(
    bot, providers, tariffs, customer_en
):
    past = timezone.now() - timedelta(days=40)
    subscription_for(
        customer_en,
        tariffs["year"],
        status=SubscriptionStatus.EXPIRED,
        started_at=past - timedelta(days=400),
        expires_at=past - timedelta(days=35),
    )
    latest = subscription_for(
        customer_en,
        tariffs["month"],
        status=SubscriptionStatus.EXPIRED,
        started_at=past,
        expires_at=past + timedelta(days=30),
    )
    assert press_broadcast_button(bot, BroadcastButton.RENEW) == "buy:r"
    text = edit(bot)["text"]
    assert text.startswith(f"<b>🔄 Renew: Subscription {latest.number} · ")
    # The tariffs offered renew that subscription.
    assert any(data.endswith(f":{latest.pk}") for _, data in buttons(edit(bot)["reply_markup"])[:2])


def test_renew_button_without_a_paid_subscription_offers_a_purchase(
    bot, providers, tariffs, customer_en
):
    press_broadcast_button(bot, BroadcastButton.RENEW)
    params = edit(bot)
    assert "<b>🛒 Choose a tariff</b>" in params["text"]
    assert all(data.endswith(":0") for _, data in buttons(params["reply_markup"])[:3])


def test_my_subscriptions_button_opens_the_list(bot, tariffs, node, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"], node=node)
    assert press_broadcast_button(bot, BroadcastButton.SUBSCRIPTIONS) == "subs"
    assert f"Subscription {subscription.number}" in edit(bot)["text"]


def test_labels_follow_the_language():
    markup = broadcast_markup(Broadcast(button_screen=BroadcastButton.SUBSCRIPTIONS), language="ru")
    assert buttons(markup) == [("📋 Мои подписки", "subs")]
