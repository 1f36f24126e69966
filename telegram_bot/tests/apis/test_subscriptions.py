"""/subscriptions: the card, keys as copyable code, the subscription URL, a QR photo, renew."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.models import GIB, SubscriptionStatus
from subscriptions.selectors import subscription_feed_url
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for
from tests.doubles.telegram_api import Upload

pytestmark = pytest.mark.django_db


def test_no_subscriptions_suggests_buying_and_the_trial(bot, trial_tariff, customer_en):
    bot.message("/subscriptions")
    reply = bot.last_reply()
    assert reply["text"].startswith("You have no subscriptions yet.")
    assert buttons(reply["reply_markup"]) == [
        ("🛒 Buy", "buy"),
        ("🎁 Free trial", "trial"),
        ("« Menu", "menu"),
    ]


def test_no_trial_button_once_the_trial_was_used(bot, trial_tariff):
    CustomerFactory(
        telegram_id=USER_ID, language="en", language_chosen=True, trial_used_at=timezone.now()
    )
    bot.message("/subscriptions")
    assert buttons(bot.last_reply()["reply_markup"]) == [("🛒 Buy", "buy"), ("« Menu", "menu")]


def test_one_subscription_is_shown_directly(bot, tariffs, node, customer_en):
    family = tariffs["family"]
    subscription = subscription_for(customer_en, family, node, traffic_used_bytes=GIB * 3 // 2)
    bot.message("/subscriptions")
    reply = bot.last_reply()
    lines = reply["text"].splitlines()
    assert lines[0] == "<b>📋 Subscription 1 · Family</b>"
    assert "Status: ✅ active" in lines
    assert any(line.startswith("Valid until: ") and "(MSK)" in line for line in lines)
    assert "Time left: 30 days" in lines
    assert "Traffic: 1.5 GB of 500 GB" in lines
    assert "Devices: up to 5 devices" in lines
    assert "Locations: 🇩🇪 Франкфурт" in lines
    pk = subscription.pk
    assert buttons(reply["reply_markup"]) == [
        ("🔑 Keys", f"subs:k:{pk}"),
        ("🔗 Subscription URL", f"subs:u:{pk}"),
        ("📷 QR code", f"subs:q:{pk}"),
        ("🔄 Renew", f"buy:r:{pk}"),
        ("📱 Devices", f"subs:d:{pk}"),
        ("« Menu", "menu"),
    ]


def test_many_subscriptions_are_a_list_to_pick_from(bot, tariffs, customer_en):
    now = timezone.now()
    running = subscription_for(customer_en, tariffs["month"])
    ended = subscription_for(
        customer_en,
        tariffs["year"],
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(days=400),
        expires_at=now - timedelta(days=35),
    )
    subscription_for(customer_en, tariffs["year"], status=SubscriptionStatus.CANCELLED)
    bot.press("subs")
    params = edit(bot)
    assert params["text"].startswith("<b>📋 Your subscriptions</b>")
    # Named by the customer's own numbers and the tariff; one word for the state.
    assert "• Subscription 1 · Month: ✅ active until " in params["text"]
    assert "• Subscription 2 · Year: ⛔ ended " in params["text"]
    assert "ended, ended" not in params["text"]
    data = [data for _, data in buttons(params["reply_markup"])]
    assert data == [f"subs:v:{running.pk}", f"subs:v:{ended.pk}", "buy", "menu"]

    bot.press(f"subs:v:{ended.pk}")
    card = edit(bot)
    assert "Status: ⛔ ended" in card["text"]
    assert "Renew it to switch the same keys on again." in card["text"]
    assert buttons(card["reply_markup"])[-2:] == [
        ("« All subscriptions", "subs"),
        ("« Menu", "menu"),
    ]


def test_keys_are_copyable_code_with_the_subscription_url(bot, tariffs, node, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"], node)
    # A second, healthy node and a key that is being removed (not shown).
    other = NodeFactory(
        name="nl-1", country="NL", location="Amsterdam", inbound_cache=REALITY_INBOUND
    )
    NodeClientFactory(subscription=subscription, node=other, sync_state=SyncState.SYNCED)
    gone = NodeFactory(name="fi-1", country="FI", inbound_cache=REALITY_INBOUND)
    NodeClientFactory(subscription=subscription, node=gone, sync_state=SyncState.REMOVING)

    bot.press(f"subs:k:{subscription.pk}")
    params = edit(bot)
    text = params["text"]
    assert text.count("<code>vless://") == 2
    assert "🇩🇪 Франкфурт\n<code>vless://" in text
    assert "🇳🇱 Amsterdam\n<code>vless://" in text
    visible = re.sub(r"<code>.*?</code>", "", text, flags=re.S)
    assert "de-1" not in visible
    assert "nl-1" not in visible
    assert "fi-1" not in text
    feed = subscription_feed_url(subscription=subscription)
    assert f"<code>{feed}</code>" in text
    assert buttons(params["reply_markup"]) == [
        # One tap adds the subscription to an app, through our https page (Telegram's URL
        # buttons take no custom scheme): subscriptions/page.py.
        ("📲 Add to Happ", f"{feed}/open/happ"),
        ("📲 Add to v2RayTun", f"{feed}/open/v2raytun"),
        ("📲 Add to Hiddify", f"{feed}/open/hiddify"),
        ("📲 Add to Streisand", f"{feed}/open/streisand"),
        ("📲 Add to v2rayNG", f"{feed}/open/v2rayng"),
        ("📲 Add to sing-box", f"{feed}/open/sing-box"),
        ("📲 Add to Clash Verge", f"{feed}/open/clash-verge"),
        ("📲 Add to FlClash", f"{feed}/open/flclash"),
        ("📷 QR code", f"subs:q:{subscription.pk}"),
        ("❓ How to connect", "help"),
        ("« Back", f"subs:v:{subscription.pk}"),
        ("« Menu", "menu"),
    ]


def test_keys_not_on_a_panel_yet(bot, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"subs:k:{subscription.pk}")
    assert "Your keys are being set up on our servers." in edit(bot)["text"]
    bot.press(f"subs:v:{subscription.pk}")
    assert "Locations: your keys are being set up" in edit(bot)["text"]


def test_many_keys_stay_within_telegrams_limit(bot, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    for i in range(30):
        node = NodeFactory(name=f"node-{i:02}", health=NodeHealth.UP, inbound_cache=REALITY_INBOUND)
        NodeClientFactory(subscription=subscription, node=node, sync_state=SyncState.SYNCED)
    bot.press(f"subs:k:{subscription.pk}")
    call = bot.calls("editMessageText")[-1]
    assert call.http_status == 200
    assert len(call.params["text"]) <= 4096
    assert "more: add the subscription URL to get them all." in call.params["text"]


def test_subscription_url_screen(bot, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    url = subscription_feed_url(subscription=subscription)
    bot.press(f"subs:u:{subscription.pk}")
    params = edit(bot)
    assert f"<code>{url}</code>" in params["text"]
    assert buttons(params["reply_markup"]) == [
        ("Open subscription page", url),
        ("📷 QR code", f"subs:q:{subscription.pk}"),
        ("« Back", f"subs:v:{subscription.pk}"),
        ("« Menu", "menu"),
    ]


def test_qr_code_is_a_photo_made_here(bot, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"subs:q:{subscription.pk}")
    assert bot.methods() == ["answerCallbackQuery", "sendPhoto"]
    params = bot.calls("sendPhoto")[0].params
    assert isinstance(params["photo"], Upload)
    assert params["photo"].data.startswith(b"\x89PNG")
    assert params["caption"] == "Scan this QR code in your VPN app to add the subscription."
    assert buttons(params["reply_markup"]) == [
        ("« Back", f"subs:v:{subscription.pk}"),
        ("« Menu", "menu"),
    ]
    # "Back" under the photo (which cannot be edited into text) sends the card anew.
    update = bot.api.callback_update(user_id=USER_ID, data=f"subs:v:{subscription.pk}")
    message = update["callback_query"]["message"]
    message.pop("text")
    message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    bot.process(update)
    assert bot.methods()[-2:] == ["answerCallbackQuery", "sendMessage"]
    assert bot.last_reply()["text"].startswith("<b>📋 Subscription 1 · Month")


def test_renew_from_the_card_goes_to_the_buy_flow(bot, providers, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"buy:r:{subscription.pk}")
    assert edit(bot)["text"].startswith(f"<b>🔄 Renew: Subscription {subscription.number} · ")


@pytest.mark.parametrize("action", ["v", "k", "u", "q"])
def test_someone_elses_subscription_is_not_shown(bot, tariffs, customer_en, action):
    other = subscription_for(CustomerFactory(), tariffs["month"])
    bot.press(f"subs:{action}:{other.pk}")
    assert "sendPhoto" not in bot.methods()
    text = edit(bot)["text"]
    assert text.startswith("This subscription was not found. Here are your subscriptions:")
    assert other.feed_token not in text
    assert "You have no subscriptions yet." in text


def test_subscriptions_in_russian(bot, tariffs, node):
    customer = CustomerFactory(telegram_id=USER_ID, language="ru")
    subscription_for(customer, tariffs["month"], node)
    bot.message("/subscriptions", language_code="ru")
    text = bot.last_reply()["text"]
    assert "<b>📋 Подписка 1 · Месяц</b>" in text
    assert "Статус: ✅ активна" in text
    assert "Осталось: 30 дней" in text
    assert "Трафик: израсходовано 0 МБ, без ограничений" in text
    assert "Устройства: до 3 устройств" in text


def test_a_single_subscription_has_no_back_to_the_list(bot, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"subs:v:{subscription.pk}")
    assert ("« All subscriptions", "subs") not in buttons(edit(bot)["reply_markup"])


def test_suspended_subscription_offers_buying_not_renewal(bot, tariffs, customer_en):
    subscription = subscription_for(
        customer_en, tariffs["month"], status=SubscriptionStatus.SUSPENDED
    )
    bot.press(f"subs:v:{subscription.pk}")
    params = edit(bot)
    assert "Status: ⏸ suspended" in params["text"]
    assert ("🛒 Buy", "buy") in buttons(params["reply_markup"])
    assert f"buy:r:{subscription.pk}" not in str(params["reply_markup"])


def test_the_card_shows_the_next_traffic_reset(bot, tariffs, node, customer_en):
    from subscriptions.models import Subscription, TrafficReset
    from subscriptions.tests.factories import TariffFactory

    monthly = TariffFactory(name="Monthly GB", traffic_limit_gb=100, traffic_reset="month")
    year = timezone.now() + timedelta(days=365)
    subscription = subscription_for(customer_en, monthly, node, expires_at=year)
    assert subscription.traffic_reset == TrafficReset.MONTH
    moment = timezone.localtime(subscription.traffic_reset_next_at)
    bot.message("/subscriptions")
    lines = bot.last_reply()["text"].splitlines()
    reset = [line for line in lines if line.startswith("Traffic resets every month, next on ")]
    assert len(reset) == 1
    assert str(moment.day) in reset[0]
    assert "(MSK)" in reset[0]
    assert lines.index(reset[0]) == lines.index("Traffic: 0 MB of 100 GB") + 1

    # Not for a subscription whose tariff never resets, nor one whose term ends before its
    # next reset, nor one that has ended.
    plain = subscription_for(customer_en, tariffs["month"], node)
    bot.press(f"subs:v:{plain.pk}")
    assert "Traffic resets" not in edit(bot)["text"]
    short = subscription_for(customer_en, monthly, node)  # 30 days: ends before the reset
    bot.press(f"subs:v:{short.pk}")
    assert "Traffic resets" not in edit(bot)["text"]
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=timezone.now())
    bot.press(f"subs:v:{subscription.pk}")
    assert "Traffic resets" not in edit(bot)["text"]


@pytest.mark.parametrize(
    ("period", "text"),
    [
        ("day", "Трафик обнуляется каждый день, следующий раз "),
        ("week", "Трафик обнуляется каждую неделю, следующий раз "),
        ("month", "Трафик обнуляется каждый месяц, следующий раз "),
    ],
)
def test_the_next_traffic_reset_in_russian(bot, node, period, text):
    from subscriptions.tests.factories import TariffFactory

    customer = CustomerFactory(telegram_id=USER_ID, language="ru")
    year = timezone.now() + timedelta(days=365)
    subscription_for(customer, TariffFactory(traffic_reset=period), node, expires_at=year)
    bot.message("/subscriptions", language_code="ru")
    assert text in bot.last_reply()["text"]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_my_subscriptions_under_the_keys_message_opens_a_new_message(bot, tariffs, language):
    """Issue 19: "📋 My subscriptions" under "your VPN keys are ready" overwrote the keys."""
    customer = CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)
    subscription = subscription_for(customer, tariffs["month"])
    keys_markup = {
        "inline_keyboard": [
            [{"text": "Open", "url": "https://vpn.example.com/sub/x"}],
            [{"text": "📋", "callback_data": f"subs:v:{subscription.pk}"}],
        ]
    }
    bot.press(f"subs:v:{subscription.pk}", reply_markup=keys_markup, message_text="keys")
    assert "editMessageText" not in bot.methods()
    assert bot.methods()[-1] == "sendMessage"
    # A menu message (callback buttons only) is still edited in place.
    bot.press(f"subs:v:{subscription.pk}")
    assert bot.methods()[-1] == "editMessageText"
