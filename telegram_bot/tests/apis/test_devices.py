"""The devices screen: a subscription's devices (hardware ids) from its card, removing one
after a confirmation, the daily number of removals, someone else's device never touched."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from core.models import AuditEvent, AuditLog
from subscriptions.models import Device
from subscriptions.tests.factories import DeviceFactory, TariffFactory
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _removals_per_day(settings):
    settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 2


@pytest.fixture
def limited(db):
    return TariffFactory(name="Семья", name_en="Family", hwid_device_limit=3)


@pytest.fixture
def subscription(customer_en, limited):
    return subscription_for(customer_en, limited)


def _phone(subscription, **kwargs):
    fields = {
        "model": "ELP-NX1",
        "os": "Android",
        "os_version": "15",
        "user_agent": "Happ/3.19.1/Android",
        "last_seen_at": timezone.now() - timedelta(hours=2),
    }
    return DeviceFactory(subscription=subscription, **{**fields, **kwargs})


def test_the_card_counts_devices_and_opens_them(bot, subscription):
    _phone(subscription)
    bot.press(f"subs:v:{subscription.pk}")
    card = edit(bot)
    assert "Devices: 1 of 3" in card["text"].splitlines()
    assert ("📱 Devices", f"subs:d:{subscription.pk}") in buttons(card["reply_markup"])


def test_the_devices_screen_lists_model_system_app_and_last_seen(bot, subscription):
    phone = _phone(subscription)
    laptop = _phone(
        subscription, model="", os="Windows", os_version="11", user_agent="v2RayTun/1.4 (Win)"
    )
    Device.objects.filter(pk=laptop.pk).update(last_seen_at=timezone.now())
    bot.press(f"subs:d:{subscription.pk}")
    params = edit(bot)
    lines = params["text"].splitlines()
    assert lines[0] == "<b>📱 Devices of Subscription 1 · Family</b>"
    assert "2 of 3 devices:" in lines
    assert lines[lines.index("2 of 3 devices:") + 1] == "1. Windows 11 — v2RayTun"
    assert lines[lines.index("2 of 3 devices:") + 3] == "2. ELP-NX1 — Android 15 · Happ"
    assert any(line.strip().startswith("last seen ") and "(MSK)" in line for line in lines)
    assert "Removals left today: 2 of 2." in lines
    assert buttons(params["reply_markup"]) == [
        ("✖ Remove Windows 11", f"subs:dr:{subscription.pk}:{laptop.pk}"),
        ("✖ Remove ELP-NX1", f"subs:dr:{subscription.pk}:{phone.pk}"),
        ("« Back", f"subs:v:{subscription.pk}"),
        ("« Menu", "menu"),
    ]


def test_no_devices_yet(bot, customer_en):
    subscription = subscription_for(customer_en, TariffFactory(name_en="Month"))
    bot.press(f"subs:d:{subscription.pk}")
    text = edit(bot)["text"]
    assert "No devices yet." in text
    assert "Happ, v2RayTun" in text


def test_a_device_name_from_the_app_is_escaped(bot, subscription):
    _phone(subscription, model="<b>Phone</b> & co")
    bot.press(f"subs:d:{subscription.pk}")
    call = bot.calls("editMessageText")[-1]
    assert call.http_status == 200
    assert "&lt;b&gt;Phone&lt;/b&gt; &amp; co" in call.params["text"]


def test_remove_asks_first_then_removes_and_says_so(bot, subscription):
    phone = _phone(subscription)
    bot.press(f"subs:dr:{subscription.pk}:{phone.pk}")
    ask = edit(bot)
    assert ask["text"].startswith("Remove the device “ELP-NX1”?")
    assert "Its place goes to the next new device." in ask["text"]
    assert buttons(ask["reply_markup"]) == [
        ("✖ Yes, remove it", f"subs:dy:{subscription.pk}:{phone.pk}"),
        ("« Back", f"subs:d:{subscription.pk}"),
        ("« Menu", "menu"),
    ]
    assert Device.objects.filter(pk=phone.pk).exists()

    tablet = _phone(subscription, model="Tab S9")
    bot.press(f"subs:dy:{subscription.pk}:{phone.pk}")
    done = edit(bot)
    assert done["text"].startswith("✅ Device “ELP-NX1” removed.")
    assert "1 of 3 devices:\n1. Tab S9 — Android 15 · Happ" in done["text"]
    assert "Removals left today: 1 of 2." in done["text"]
    assert not Device.objects.filter(pk=phone.pk).exists()
    assert AuditLog.objects.get(event_type=AuditEvent.DEVICE_REMOVED).actor == "bot"

    bot.press(f"subs:dy:{subscription.pk}:{tablet.pk}")
    done = edit(bot)
    assert "No devices yet.\nThe limit is 3 devices." in done["text"]
    assert "Removals left" not in done["text"]


def test_a_repeated_confirmation_removes_nothing_more(bot, subscription):
    phone = _phone(subscription)
    bot.press(f"subs:dy:{subscription.pk}:{phone.pk}")
    bot.press(f"subs:dy:{subscription.pk}:{phone.pk}")
    assert edit(bot)["text"].startswith("This device is no longer in the list.")
    assert AuditLog.objects.filter(event_type=AuditEvent.DEVICE_REMOVED).count() == 1


def test_after_the_daily_removals_the_screen_says_when_and_offers_no_removal(bot, subscription):
    devices = [_phone(subscription, model=f"Phone {n}") for n in range(3)]
    for device in devices[:2]:
        bot.press(f"subs:dy:{subscription.pk}:{device.pk}")
    params = edit(bot)
    assert "The next removal is possible after " in params["text"]
    assert buttons(params["reply_markup"]) == [
        ("« Back", f"subs:v:{subscription.pk}"),
        ("« Menu", "menu"),
    ]
    # An old "remove" button shows the screen again; a forged confirmation is refused.
    bot.press(f"subs:dr:{subscription.pk}:{devices[2].pk}")
    assert "The next removal is possible after " in edit(bot)["text"]
    bot.press(f"subs:dy:{subscription.pk}:{devices[2].pk}")
    assert edit(bot)["text"].startswith("You can remove 2 devices a day.")
    assert Device.objects.filter(pk=devices[2].pk).exists()


@pytest.mark.parametrize("action", ["d", "dr", "dy"])
def test_someone_elses_devices_are_not_shown_or_removed(bot, limited, customer_en, action):
    other = subscription_for(CustomerFactory(), limited)
    device = _phone(other)
    bot.press(f"subs:{action}:{other.pk}:{device.pk}")
    text = edit(bot)["text"]
    assert "ELP-NX1" not in text
    assert Device.objects.filter(pk=device.pk).exists()
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("data", ["subs:d", "subs:d:x", "subs:dr:1", "subs:dy:1:x"])
def test_malformed_buttons_are_outdated(bot, customer_en, data):
    bot.press(data)
    assert bot.last_reply()["text"].startswith("This button is no longer active.")


def test_devices_in_russian(bot, limited):
    customer = CustomerFactory(telegram_id=USER_ID, language="ru")
    subscription = subscription_for(customer, limited)
    phone = _phone(subscription)
    bot.press(f"subs:d:{subscription.pk}")
    text = edit(bot)["text"]
    assert "<b>📱 Устройства: Подписка" in text
    assert "1 из 3 устройств:" in text
    assert "Удалений на сегодня осталось: 2 из 2." in text
    bot.press(f"subs:dy:{subscription.pk}:{phone.pk}")
    assert edit(bot)["text"].startswith("✅ Устройство «ELP-NX1» удалено.")
