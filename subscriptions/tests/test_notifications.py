"""Keys messages carry the bot's buttons; kinds and dedupe keys stay as they were."""

import pytest

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxMessage
from subscriptions.notifications import notify_keys_moved, notify_keys_ready
from subscriptions.selectors import subscription_feed_url
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def _add(app_name: str, url: str, label: str = "📲 Add to") -> dict:
    return {"text": f"{label} {app_name}", "url": url}


def test_keys_ready_has_the_page_the_apps_my_subscription_and_help(settings):
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    subscription = SubscriptionFactory(customer=CustomerFactory(language="en"))
    notify_keys_ready(subscription=subscription)
    notify_keys_ready(subscription=subscription)  # deduplicated
    ready = OutboxMessage.objects.get(kind="keys-ready")
    assert ready.dedupe_key == f"keys-ready:{subscription.pk}"
    feed = f"https://vpn.example.com/sub/{subscription.feed_token}"
    assert subscription_feed_url(subscription=subscription) == feed
    assert ready.reply_markup == {
        "inline_keyboard": [
            [{"text": "Open subscription page", "url": feed}],
            # Telegram's URL buttons take only http(s) and tg://: our page opens the app.
            [_add("Happ", f"{feed}/open/happ"), _add("v2RayTun", f"{feed}/open/v2raytun")],
            [_add("Hiddify", f"{feed}/open/hiddify"), _add("Streisand", f"{feed}/open/streisand")],
            [_add("v2rayNG", f"{feed}/open/v2rayng"), _add("sing-box", f"{feed}/open/sing-box")],
            [
                _add("Clash Verge", f"{feed}/open/clash-verge"),
                _add("FlClash", f"{feed}/open/flclash"),
            ],
            [
                {"text": "📋 My subscriptions", "callback_data": f"subs:v:{subscription.pk}"},
                {"text": "❓ How to connect", "callback_data": "help"},
            ],
        ]
    }
    # The text says what it said before the buttons came.
    assert ready.text.startswith("<b>Your VPN keys are ready</b>")
    assert ready.text.endswith(f"<code>{feed}</code>")
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


def test_keys_ready_app_buttons_speak_russian(settings):
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    subscription = SubscriptionFactory(customer=CustomerFactory(language="ru"))
    notify_keys_ready(subscription=subscription)
    rows = OutboxMessage.objects.get(kind="keys-ready").reply_markup["inline_keyboard"]
    feed = f"https://vpn.example.com/sub/{subscription.feed_token}"
    assert rows[1] == [
        _add("Happ", f"{feed}/open/happ", "📲 Добавить в"),
        _add("v2RayTun", f"{feed}/open/v2raytun", "📲 Добавить в"),
    ]
