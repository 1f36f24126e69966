"""Every screen and notification, walked in Russian and English: nothing untranslated leaks,
every press is answered first, every screen has a way on (buttons), nothing is rejected."""

import re
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntryKind, Payment
from billing.services.gifts import _notify_gift_created, gift_redeem
from billing.services.ledger import balance_entry_add
from billing.services.refunds import payment_refund
from billing.tests.factories import GiftFactory
from nodes.models import NodeHealth
from nodes.tests.factories import REALITY_INBOUND, NodeFactory
from notifications.models import OutboxMessage
from notifications.services import outbox_queue
from subscriptions.deeplinks import APPS
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.notifications import (
    notify_keys_moved,
    notify_keys_ready,
    notify_subscription_reminder,
    notify_traffic_threshold,
    subscription_expired_message,
)
from subscriptions.operator_notifications import (
    notify_customer_banned,
    notify_customer_unbanned,
    notify_devices_reset,
    notify_subscription_extended,
    subscription_ended_by_operator_message,
)
from subscriptions.tests.factories import DeviceFactory
from telegram_bot.tests.conftest import buttons, subscription_for
from telegram_bot.tests.test_locale import po_entries

pytestmark = pytest.mark.django_db

RU_USER, EN_USER = 7100001, 7100002
# Latin words a Russian screen may contain: product and provider names, units, data, and
# "English" (each language is offered in its own name).
ALLOWED_LATIN = {
    "VPN", "QR", "MSK", "RUB", "Robokassa", "FreeKassa", "Telegram", "Test", "English",
    "Android", "iOS", "Windows", "macOS", "v2rayNG", "Hiddify", "Streisand", "V2Box", "v2rayN",
    "de-1", "Frankfurt", "nl-1", "Amsterdam", "Happ", "v2RayTun", "ELP-NX1",
    # /help's platforms and stores (product names).
    "Linux", "Google", "Play", "App", "Store", "GitHub",
}  # fmt: skip
# The apps the keys message offers to add the subscription to ("📲 Добавить в Happ").
ALLOWED_LATIN |= {word for app in APPS.values() for word in app.name.split()}
CYRILLIC = re.compile("[\u0400-\u04ff]")
MSGIDS = [
    entry["msgid"]
    for entry in po_entries(Path(settings.BASE_DIR) / "locale/ru/LC_MESSAGES/django.po")[1:]
]


def latin_words(text: str) -> set[str]:
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
    # Tags first: a link's address is inside its tag (<a href="https://…">).
    text = re.sub(r"<[^>]+>|&\w+;", " ", text)
    text = re.sub(r"https?://\S+|@\w+", " ", text)
    return set(re.findall(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*", text)) - ALLOWED_LATIN


# The operators' node names of the world below: never shown, not even in a key's remark
# (client apps list servers by it).
INTERNAL_NODE_NAME = re.compile(r"\b(?:de-1|nl-1)\b")


def visible(text: str) -> str:
    """What a customer reads: without the copyable keys and links."""
    return re.sub(r"<code>.*?</code>", " ", text, flags=re.S)


def repeated_word(text: str) -> str | None:
    """A word said twice in a row ("ended, ended", "закончилась, закончилась"), or None."""
    words = re.findall(r"\w+", re.sub(r"<[^>]+>", " ", visible(text)).casefold())
    return next((a for a, b in pairwise(words) if a == b and a.isalpha()), None)


def test_the_walk_checks_catch_repeats_and_node_names():
    assert repeated_word("⛔ ended, ended 25.12.2026") == "ended"
    assert repeated_word("⛔ закончилась, закончилась 25.12") == "закончилась"
    assert repeated_word("✅ active until 25.12") is None
    assert INTERNAL_NODE_NAME.search("Locations: 🇩🇪 Frankfurt · de-1")
    assert INTERNAL_NODE_NAME.search("🇩🇪 Frankfurt\n<code>vless://x#de-1</code>")
    assert not INTERNAL_NODE_NAME.search("🇩🇪 Frankfurt\n<code>vless://x#%F0%9F%87%A9</code>")


def screens_of(calls) -> list[str]:
    """Text (or caption) and button labels of every message sent or edited."""
    out = []
    for call in calls:
        if call.method in ("sendMessage", "editMessageText", "sendPhoto"):
            out.append(call.params.get("text") or call.params.get("caption") or "")
            out += [label for label, _ in buttons(call.params.get("reply_markup"))]
    return out


@pytest.fixture
def world(providers, tariffs, trial_tariff):
    """The same world for a Russian and an English customer; returns ids per user."""
    node = NodeFactory(
        name="de-1",
        country="DE",
        location="Frankfurt",
        health=NodeHealth.UP,
        inbound_cache=REALITY_INBOUND,
    )
    NodeFactory(name="nl-1", location="Amsterdam", inbound_cache=REALITY_INBOUND)
    ids = {}
    now = timezone.now()
    for user_id, language in ((RU_USER, "ru"), (EN_USER, "en")):
        customer = CustomerFactory(
            telegram_id=user_id, language=language, language_chosen=True, first_name="Test"
        )
        running = subscription_for(
            customer, tariffs["month"], node, traffic_used_bytes=10**9, hwid_device_limit=2
        )
        devices = [
            DeviceFactory(
                subscription=running,
                model="ELP-NX1",
                os="Android",
                os_version="15",
                user_agent="Happ/3.19.1/Android",
            )
            for _ in range(2)
        ]
        ended = subscription_for(
            customer,
            tariffs["family"],
            node,
            status=SubscriptionStatus.EXPIRED,
            started_at=now - timedelta(days=60),
            expires_at=now - timedelta(days=30),
        )
        trial = subscription_for(customer, trial_tariff, is_trial=True)
        # Money on the balance: "from the balance" is offered, and its history has a line.
        balance_entry_add(
            customer_id=customer.pk,
            amount=Decimal("1000"),
            kind=BalanceEntryKind.ADJUSTMENT,
            source_key=f"walk:{user_id}",
        )
        # A gift someone else bought for this customer (redeemed on their running one).
        gift = GiftFactory(payment__tariff=tariffs["month"])
        ids[user_id] = {
            "gift": gift.code,
            "customer": customer,
            "sub": running,
            "ended": ended,
            "trial": trial,
            "devices": devices,
        }
    return ids


def steps(ids: dict, tariffs: dict) -> list[str]:
    sub, ended, trial = ids["sub"].pk, ids["ended"].pk, ids["trial"].pk
    first, second = (device.pk for device in ids["devices"])
    month, family = tariffs["month"].pk, tariffs["family"].pk
    gift = ids["gift"]
    return [
        "/start", "/help", "/language", "/buy", "/subscriptions", "/trial", "hello", "/nope",
        "menu", "help", "lang", "buy", "buy:n", f"buy:r:{sub}", f"buy:r:{ended}",
        f"buy:r:{trial}", "buy:r:999999", f"buy:t:{month}:0", f"buy:t:{month}:{sub}",
        "buy:t:999999:0", f"buy:p:{month}:0:robokassa", f"buy:p:{month}:{sub}:freekassa",
        f"buy:p:{family}:{ended}:robokassa", f"buy:p:{month}:0:paypal", "subs",
        f"subs:v:{sub}", f"subs:v:{ended}", f"subs:v:{trial}", f"subs:k:{sub}",
        f"subs:k:{ended}", f"subs:k:{trial}", f"subs:u:{sub}", f"subs:q:{sub}",
        "subs:v:999999", f"subs:d:{sub}", f"subs:d:{ended}", f"subs:dr:{sub}:{first}",
        f"subs:dy:{sub}:{first}", f"subs:dy:{sub}:{first}", f"subs:dy:{sub}:{second}",
        f"subs:dr:{sub}:{second}", f"subs:d:{trial}", "subs:d:999999", "trial", "promo:old",
        "buy:x", "help:android", "help:ios", "help:windows", "help:macos", "help:linux",
        "help:nope", "bal", "/balance", "bal:t:300", "bal:p:300:robokassa", "bal:p:7:robokassa",
        f"buy:p:{month}:{sub}:balance", "bal:y:LATEST", "bal:y:LATEST", "bal:y:999999",
        f"buy:p:{family}:0:balance", "bal:y:LATEST", f"buy:p:{family}:0:balance",
        f"subs:ar:{sub}:1", f"subs:ar:{sub}:0", f"subs:ar:{trial}:1",
        "help:nope", f"buy:g:{month}", f"buy:gp:{month}:robokassa", "buy:g:999999",
        f"buy:gp:{month}:paypal", "/gift", f"/gift {gift}", f"gift:r:{gift}:{sub}",
        f"gift:n:{gift}", "/start gift_ABCDEFGHJKMN", "gift:x",
    ]  # fmt: skip


def run(bot, user_id: int, step: str) -> list:
    if "LATEST" in step:  # the customer's latest payment from the balance
        latest = Payment.objects.filter(customer__telegram_id=user_id, provider="balance")
        step = step.replace("LATEST", str(latest.latest("pk").pk))
    before = len(bot.api.calls)
    if step.startswith("/") or step == "hello":
        bot.message(step, user_id=user_id)
    else:
        bot.press(step, user_id=user_id)
    return [c for c in bot.api.calls[before:] if c.method != "getMe"]


def notifications(ids: dict) -> list[str]:
    customer = ids["customer"]
    last = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    notify_keys_ready(subscription=ids["sub"])
    notify_keys_moved(subscription=ids["sub"])
    notify_subscription_reminder(subscription=ids["sub"], reminder="3d")
    notify_subscription_reminder(subscription=ids["trial"], reminder="1d")
    notify_traffic_threshold(subscription=ids["sub"], percent=80)
    notify_traffic_threshold(subscription=ids["sub"], percent=100)
    # What an operator's actions tell the customer (the console and the API).
    notify_subscription_extended(subscription=ids["sub"], days=7)
    notify_devices_reset(subscription=ids["sub"], labels=["ELP-NX1 · Android 15"], audit_id=1)
    notify_customer_banned(customer=customer, audit_id=2)
    notify_customer_unbanned(customer=customer, audit_id=3)
    # What the expiry sweep queues for each ended subscription.
    outbox_queue(
        [
            subscription_expired_message(
                subscription=Subscription.objects.select_related("customer", "tariff").get(
                    pk=ids[name].pk
                )
            )
            for name in ("ended", "trial")
        ]
        + [
            subscription_ended_by_operator_message(
                subscription=Subscription.objects.select_related("customer", "tariff").get(
                    pk=ids["sub"].pk
                )
            )
        ]
    )
    # Gifts: the buyer's code, the buyer told it was used; a redeemed gift refunded.
    bought = GiftFactory(payment__customer=customer, payment__tariff=ids["sub"].tariff)
    _notify_gift_created(gift=bought, payment=bought.payment)
    gift_redeem(customer=CustomerFactory(), code=bought.code)
    received = GiftFactory(payment__tariff=ids["sub"].tariff)
    gift_redeem(customer=customer, code=received.code)
    payment_refund(payment=received.payment, actor=None, reason="chargeback")
    messages = OutboxMessage.objects.filter(customer=customer, pk__gt=last).order_by("pk")
    assert len(messages) == 17
    out = []
    for message in messages:
        out.append(message.text)
        out += [
            b["text"]
            for row in (message.reply_markup or {}).get("inline_keyboard", [])
            for b in row
        ]
    return out


def test_every_screen_in_both_languages(runtime_setting, bot, world, tariffs, settings):
    runtime_setting("SUPPORT_CONTACT", "@vpn_support")
    settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 1
    walked = {}
    for user_id in (RU_USER, EN_USER):
        for step in steps(world[user_id], tariffs):
            calls = run(bot, user_id, step)
            assert calls, step
            if not step.startswith("/") and step != "hello":
                assert calls[0].method == "answerCallbackQuery", step
            answers = [c for c in calls if c.method != "answerCallbackQuery"]
            assert answers, f"{step}: no answer"
            for call in answers:
                assert call.http_status == 200, (step, call.params)
                assert call.params.get("reply_markup"), f"{step}: a screen without buttons"
            walked[(user_id, step.split(":")[0], len(walked))] = screens_of(answers)
        walked[(user_id, "notifications", 0)] = notifications(world[user_id])

    ru = [(key, text) for key, texts in walked.items() if key[0] == RU_USER for text in texts]
    en = [(key, text) for key, texts in walked.items() if key[0] == EN_USER for text in texts]
    assert len(ru) == len(en) > 150

    # No word twice in a row ("ended, ended"), no internal node name shown to a customer.
    repeats = [(key, t) for key, t in ru + en if repeated_word(t)]
    assert repeats == []
    internal = [(key, t) for key, t in ru + en if INTERNAL_NODE_NAME.search(t)]
    assert internal == []

    leaks = {(key[1], text): latin_words(text) for key, text in ru if latin_words(text)}
    assert leaks == {}
    long_msgids = [m for m in MSGIDS if len(m) > 12 and CYRILLIC.search(m) is None]
    verbatim = [(key, m) for key, text in ru for m in long_msgids if m in text]
    assert verbatim == []
    cyrillic_in_en = [
        (key, text) for key, text in en if CYRILLIC.search(text) and text != "Русский"
    ]
    assert cyrillic_in_en == []
    # The two languages differ on every screen (a missing translation would make them equal).
    same = [
        ru_text for (_, ru_text), (_, en_text) in zip(ru, en, strict=True) if ru_text == en_text
    ]
    assert [text for text in same if latin_words(text) or CYRILLIC.search(text)] == []
