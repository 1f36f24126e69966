"""Keys messages carry the bot's buttons; kinds and dedupe keys stay as they were."""

import pytest

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxMessage
from subscriptions.notifications import notify_keys_moved, notify_keys_ready
from subscriptions.selectors import subscription_feed_url
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_keys_ready_has_the_page_my_subscription_and_help():
    subscription = SubscriptionFactory(customer=CustomerFactory(language="en"))
    notify_keys_ready(subscription=subscription)
    notify_keys_ready(subscription=subscription)  # deduplicated
    ready = OutboxMessage.objects.get(kind="keys-ready")
    assert ready.dedupe_key == f"keys-ready:{subscription.pk}"
    assert ready.reply_markup == {
        "inline_keyboard": [
            [
                {
                    "text": "Open subscription page",
                    "url": subscription_feed_url(subscription=subscription),
                }
            ],
            [
                {"text": "📋 My subscriptions", "callback_data": f"subs:v:{subscription.pk}"},
                {"text": "❓ How to connect", "callback_data": "help"},
            ],
        ]
    }
    qr = OutboxMessage.objects.get(kind="keys-qr")
    assert qr.dedupe_key == f"keys-qr:{subscription.pk}"


def test_keys_moved_offers_renewal_in_russian():
    subscription = SubscriptionFactory(customer=CustomerFactory(language="ru"))
    notify_keys_moved(subscription=subscription)
    moved = OutboxMessage.objects.get(kind="keys-moved")
    assert moved.dedupe_key is None
    assert moved.reply_markup["inline_keyboard"][1] == [
        {"text": "📋 Мои подписки", "callback_data": f"subs:v:{subscription.pk}"},
        {"text": "🔄 Продлить", "callback_data": f"buy:r:{subscription.pk}"},
    ]
    assert moved.reply_markup["inline_keyboard"][0][0]["text"] == "Открыть страницу подписки"
