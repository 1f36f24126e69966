"""An operator's extension, expiry, device reset, ban and unban are told to the customer,
once each, in their language, through the outbox (issue 19)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from notifications.models import OutboxMessage
from subscriptions.models import Device
from subscriptions.operator_notifications import notify_subscription_extended
from subscriptions.services.customers import customer_ban, customer_unban
from subscriptions.services.devices import subscription_devices_reset
from subscriptions.services.lifecycle import (
    subscription_expire,
    subscription_extend,
    subscriptions_expire_due,
)
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

SUPPORT_EN = {"text": "✉️ Contact support", "url": "https://t.me/vpn_support"}
SUPPORT_RU = {"text": "✉️ Написать в поддержку", "url": "https://t.me/vpn_support"}


@pytest.fixture(autouse=True)
def support_contact(runtime_setting, settings):
    runtime_setting("SUPPORT_CONTACT", "@vpn_support")


@pytest.fixture
def operator():
    return UserFactory(username="op")


def _subscription(language: str, **fields):
    tariff = TariffFactory(name="Месяц", name_en="Month", node_count=0)
    return SubscriptionFactory(customer=CustomerFactory(language=language), tariff=tariff, **fields)


def _messages(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=kind).order_by("pk"))


def _card(subscription, label: str) -> dict:
    return {"text": label, "callback_data": f"subs:v:{subscription.pk}"}


@pytest.mark.parametrize(
    ("language", "start", "label"),
    [
        ("en", "🎉 Subscription 1 · Month is extended by 10 days. It is valid until ", "📋 My"),
        ("ru", "🎉 Подписка 1 · Месяц продлена на 10 дней и действует до ", "📋 Мои"),
    ],
)
def test_an_operators_extension_is_told_once_per_extension(operator, language, start, label):
    subscription = _subscription(language)
    subscription_extend(subscription=subscription, days=10, actor=operator, tell_customer=True)
    (message,) = _messages("subscription-extended")
    assert message.text.startswith(start)
    assert message.reply_markup["inline_keyboard"][0][0]["text"].startswith(label)
    assert message.reply_markup["inline_keyboard"][0][0]["callback_data"] == (
        f"subs:v:{subscription.pk}"
    )
    # The same extension queued again is one message; the next extension is told again.
    subscription.refresh_from_db()
    notify_subscription_extended(subscription=subscription, days=10)
    assert len(_messages("subscription-extended")) == 1
    subscription_extend(subscription=subscription, days=10, actor=operator, tell_customer=True)
    assert len(_messages("subscription-extended")) == 2


def test_an_extension_not_from_an_operator_is_silent(operator):
    """A payment's credit extends without `tell_customer`: billing sends its own message."""
    subscription = _subscription("en")
    subscription_extend(subscription=subscription, days=30, actor=operator)
    assert _messages("subscription-extended") == []


def test_one_day_is_singular():
    subscription = _subscription("en")
    subscription_extend(subscription=subscription, days=1, tell_customer=True)
    assert "is extended by 1 day. It" in _messages("subscription-extended")[0].text


@pytest.mark.parametrize(
    ("language", "text", "support", "buttons"),
    [
        (
            "en",
            (
                "⛔ Subscription 1 · Month was ended by our support team, and its keys are "
                "switched off.\nIf you think this is a mistake, write to support."
            ),
            SUPPORT_EN,
            ["📋 My subscriptions", "« Menu"],
        ),
        (
            "ru",
            (
                "⛔ Подписка 1 · Месяц: поддержка завершила подписку, её ключи отключены.\n"
                "Если вы считаете это ошибкой, напишите в поддержку."
            ),
            SUPPORT_RU,
            ["📋 Мои подписки", "« Меню"],
        ),
    ],
)
def test_an_operators_expiry_is_told_once(operator, language, text, support, buttons):
    subscription = _subscription(language)
    subscription_expire(subscription=subscription, actor=operator, tell_customer=True)
    subscription_expire(subscription=subscription, actor=operator, tell_customer=True)
    (message,) = _messages("subscription-ended-by-operator")
    assert message.text == text
    rows = message.reply_markup["inline_keyboard"]
    assert rows[0] == [support]
    assert [button["text"] for button in rows[1]] == buttons
    # The sweep never tells it again as "has ended".
    subscriptions_expire_due(now=timezone.now() + timedelta(days=60))
    assert OutboxMessage.objects.count() == 1


def test_an_expiry_without_tell_customer_is_silent_and_no_support_means_no_button(
    runtime_setting, operator, settings
):
    subscription = _subscription("en")
    subscription_expire(subscription=subscription, actor=operator)
    assert not OutboxMessage.objects.exists()
    runtime_setting("SUPPORT_CONTACT", "")
    other = _subscription("en")
    subscription_expire(subscription=other, actor=operator, tell_customer=True)
    (message,) = _messages("subscription-ended-by-operator")
    assert len(message.reply_markup["inline_keyboard"]) == 1


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "en",
            [
                "📱 Subscription 1 · Month: our support team removed 2 devices:",
                "• Pixel 8",
                "• Pixel 9",
                "",
                (
                    "Your apps keep working: each is added again when it next updates the "
                    "subscription, up to the device limit."
                ),
            ],
        ),
        (
            "ru",
            [
                "📱 Подписка 1 · Месяц: поддержка удалила 2 устройства:",
                "• Pixel 8",
                "• Pixel 9",
                "",
                (
                    "Приложения продолжат работать: каждое снова добавится при следующем "
                    "обновлении подписки, в пределах лимита устройств."
                ),
            ],
        ),
    ],
)
def test_a_device_reset_names_the_devices_once_per_reset(operator, language, lines):
    subscription = _subscription(language)
    DeviceFactory(subscription=subscription, model="Pixel 8")
    DeviceFactory(subscription=subscription, model="Pixel 9")
    subscription_devices_reset(subscription=subscription, actor=operator, reason="lost phone")
    (message,) = _messages("devices-reset")
    assert message.text.splitlines() == lines
    assert message.reply_markup["inline_keyboard"][0] == [
        SUPPORT_EN if language == "en" else SUPPORT_RU
    ]
    assert message.reply_markup["inline_keyboard"][1][0]["callback_data"] == (
        f"subs:v:{subscription.pk}"
    )
    # The next reset is another message.
    DeviceFactory(subscription=subscription, model="Pixel 10")
    subscription_devices_reset(subscription=subscription, actor=operator)
    assert len(_messages("devices-reset")) == 2
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("language", "said", "support", "buttons"),
    [
        (
            "en",
            (
                (
                    "Your VPN access has been suspended by an administrator. "
                    "If you think this is a mistake, contact support."
                ),
                "Your VPN access has been restored. Your keys work again.",
            ),
            SUPPORT_EN,
            [("📋 My subscriptions", "subs"), ("« Menu", "menu")],
        ),
        (
            "ru",
            (
                (
                    "Доступ к VPN приостановлен администратором. "
                    "Если это ошибка, напишите в поддержку."
                ),
                "Доступ к VPN восстановлен. Ваши ключи снова работают.",
            ),
            SUPPORT_RU,
            [("📋 Мои подписки", "subs"), ("« Меню", "menu")],
        ),
    ],
)
def test_ban_and_unban_are_told_once_each_with_support(operator, language, said, support, buttons):
    banned, unbanned = said
    customer = CustomerFactory(language=language)
    customer_ban(customer=customer, reason="spam", actor=operator)
    (ban,) = _messages("customer-banned")
    assert ban.text == banned
    assert ban.reply_markup == {"inline_keyboard": [[support]]}
    customer_unban(customer=customer, actor=operator)
    (unban,) = _messages("customer-unbanned")
    assert unban.text == unbanned
    assert [(b["text"], b["callback_data"]) for b in unban.reply_markup["inline_keyboard"][0]] == (
        buttons
    )
    # A second ban is a new event and is told again; keys differ per ban.
    customer_ban(customer=customer, reason="spam again", actor=operator)
    first, second = _messages("customer-banned")
    assert first.dedupe_key != second.dedupe_key
    assert first.dedupe_key.startswith(f"banned:{customer.pk}:")


def test_a_banned_customer_is_not_told_of_extensions_or_device_resets(operator):
    subscription = _subscription("en")
    DeviceFactory(subscription=subscription)
    customer_ban(customer=subscription.customer, reason="spam", actor=operator)
    subscription_extend(subscription=subscription, days=5, actor=operator, tell_customer=True)
    subscription_devices_reset(subscription=subscription, actor=operator)
    subscription_expire(subscription=subscription, actor=operator, tell_customer=True)
    assert [m.kind for m in OutboxMessage.objects.all()] == ["customer-banned"]
