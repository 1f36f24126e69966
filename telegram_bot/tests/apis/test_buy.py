"""/buy: tariffs -> payment method -> one pending payment per press, renewals included."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus
from subscriptions.models import SubscriptionStatus
from telegram_bot.tests.conftest import buttons, edit, subscription_for

pytestmark = pytest.mark.django_db


def test_buy_lists_tariffs_on_sale_with_details(bot, providers, tariffs, trial_tariff, customer_en):
    bot.message("/buy")
    reply = bot.last_reply()
    text = reply["text"]
    assert text.startswith("<b>🛒 Choose a tariff</b>")
    assert "<b>Month</b> — 299\xa0₽\n30 days · up to 3 devices · unlimited traffic" in text
    assert "<b>Year</b> — 2,990\xa0₽" in text
    assert "<b>Family</b> — 499.50\xa0₽\n30 days · up to 5 devices · 500 GB of traffic" in text
    assert "Trial" not in text  # the trial tariff is never sold
    month, year, family = tariffs["month"].pk, tariffs["year"].pk, tariffs["family"].pk
    assert buttons(reply["reply_markup"]) == [
        ("Month · 30 days · 299\xa0₽", f"buy:t:{month}:0"),
        ("Year · 365 days · 2,990\xa0₽", f"buy:t:{year}:0"),
        ("Family · 30 days · 499.50\xa0₽", f"buy:t:{family}:0"),
        ("« Menu", "menu"),
    ]


def test_tariff_names_follow_the_language(bot, providers, tariffs):
    bot.message("/buy", language_code="ru")
    assert (
        "<b>Месяц</b> — 299\xa0₽\n30 дней · до 3 устройств · безлимитный трафик"
        in (bot.last_reply()["text"])
    )


def test_buy_button_from_the_menu_edits_in_place(bot, providers, tariffs, customer_en):
    bot.press("buy")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    assert edit(bot)["text"].startswith("<b>🛒 Choose a tariff</b>")


def test_choosing_a_tariff_offers_the_configured_methods_and_a_way_back(
    bot, providers, tariffs, customer_en
):
    month = tariffs["month"].pk
    bot.press(f"buy:t:{month}:0")
    params = edit(bot)
    assert params["text"].endswith("Choose a payment method:")
    assert "<b>Month</b> — 299\xa0₽" in params["text"]
    assert buttons(params["reply_markup"]) == [
        ("💳 Card, SBP · Robokassa", f"buy:p:{month}:0:robokassa"),
        ("💳 Card, SBP · FreeKassa", f"buy:p:{month}:0:freekassa"),
        ("« Back", "buy:n"),
        ("« Menu", "menu"),
    ]


def test_only_configured_providers_are_offered(bot, providers, settings, tariffs, customer_en):
    settings.BILLING_PROVIDERS = {"freekassa": providers["freekassa"]}
    bot.press(f"buy:t:{tariffs['month'].pk}:0")
    assert [text for text, _ in buttons(edit(bot)["reply_markup"])][:1] == [
        "💳 Card, SBP · FreeKassa"
    ]
    assert "Robokassa" not in str(edit(bot)["reply_markup"])


def test_each_press_on_a_method_creates_exactly_one_pending_payment(
    bot, providers, tariffs, customer_en
):
    month = tariffs["month"]
    bot.press(f"buy:p:{month.pk}:0:robokassa")
    payment = Payment.objects.get()
    assert (payment.status, payment.provider, payment.tariff, payment.subscription) == (
        PaymentStatus.PENDING,
        "robokassa",
        month,
        None,
    )
    assert payment.customer == customer_en
    params = edit(bot)
    text = params["text"]
    assert f"<b>💳 Payment {payment.number}</b>" in text
    assert "Month — 299\xa0₽, 💳 Card, SBP · Robokassa" in text
    assert "your keys arrive in this chat automatically" in text
    assert "valid for 24 hours" in text
    (pay_text, pay_url), other, menu = buttons(params["reply_markup"])
    assert pay_text == "💳 Pay 299\xa0₽"
    link = urlsplit(pay_url)
    assert link.netloc == "auth.robokassa.ru"
    assert parse_qs(link.query)["InvId"] == [str(payment.pk)]
    assert other == ("« Another payment method", f"buy:t:{month.pk}:0")
    assert menu == ("« Menu", "menu")

    bot.press(f"buy:p:{month.pk}:0:freekassa")
    assert Payment.objects.count() == 2
    assert Payment.objects.filter(provider="freekassa", status=PaymentStatus.PENDING).count() == 1


def test_link_validity_in_minutes(bot, providers, settings, tariffs, customer_en):
    settings.PAYMENT_PENDING_TTL_MINUTES = 45
    bot.press(f"buy:p:{tariffs['month'].pk}:0:freekassa")
    assert "The payment link is valid for 45 minutes." in edit(bot)["text"]


def test_buy_with_a_running_subscription_renews_it(bot, providers, tariffs, customer_en):
    subscription = subscription_for(customer_en, tariffs["month"])
    month, year = tariffs["month"].pk, tariffs["year"].pk
    bot.message("/buy")
    reply = bot.last_reply()
    assert reply["text"].startswith(f"<b>🔄 Renew: Subscription {subscription.number} · Month</b>")
    assert "the time you buy is added to that" in reply["text"]
    # Only tariffs with the subscription's limits: Family (5 devices) would not add devices.
    assert buttons(reply["reply_markup"]) == [
        ("Month · 30 days · 299\xa0₽", f"buy:t:{month}:{subscription.pk}"),
        ("Year · 365 days · 2,990\xa0₽", f"buy:t:{year}:{subscription.pk}"),
        ("🆕 A new subscription instead", "buy:n"),
        ("« Menu", "menu"),
    ]

    bot.press(f"buy:t:{year}:{subscription.pk}")
    until = subscription.expires_at + timedelta(days=365)
    assert (
        f"Renewal: Subscription {subscription.number} · Month, then running until "
        in (edit(bot)["text"])
    )
    assert ("« Back", f"buy:r:{subscription.pk}") in buttons(edit(bot)["reply_markup"])

    bot.press(f"buy:p:{year}:{subscription.pk}:robokassa")
    payment = Payment.objects.get()
    assert payment.subscription == subscription
    assert payment.tariff_id == year
    text = edit(bot)["text"]
    assert f"After payment: Subscription {subscription.number} · Month, running until" in text
    assert str(until.year) in text
    assert "your keys simply keep working" in text


def test_new_subscription_instead_of_renewal(bot, providers, tariffs, customer_en):
    subscription_for(customer_en, tariffs["month"])
    bot.press("buy:n")
    assert edit(bot)["text"].startswith("<b>🛒 Choose a tariff</b>")
    bot.press(f"buy:p:{tariffs['family'].pk}:0:robokassa")
    assert Payment.objects.get().subscription is None


def test_renew_button_of_an_expired_subscription(bot, providers, tariffs, customer_en):
    past = timezone.now() - timedelta(days=40)
    subscription = subscription_for(
        customer_en,
        tariffs["month"],
        status=SubscriptionStatus.EXPIRED,
        started_at=past,
        expires_at=past + timedelta(days=30),
    )
    bot.press(f"buy:r:{subscription.pk}")
    text = edit(bot)["text"]
    assert text.startswith(f"<b>🔄 Renew: Subscription {subscription.number} · ")
    assert "once paid, it starts again from the moment of payment" in text
    bot.press(f"buy:p:{tariffs['month'].pk}:{subscription.pk}:freekassa")
    assert Payment.objects.get().subscription == subscription


def test_renewing_a_trial_offers_a_new_subscription(
    bot, providers, tariffs, trial_tariff, customer_en
):
    trial = subscription_for(customer_en, trial_tariff, is_trial=True)
    bot.press(f"buy:r:{trial.pk}")
    text = edit(bot)["text"]
    assert text.startswith("A free trial cannot be extended, but you can buy a subscription.")
    assert "<b>🛒 Choose a tariff</b>" in text
    assert all(data.endswith(":0") for _, data in buttons(edit(bot)["reply_markup"])[:3])


def test_someone_elses_subscription_is_never_renewed(bot, providers, tariffs, customer_en):
    other = subscription_for(CustomerFactory(), tariffs["month"])
    bot.press(f"buy:r:{other.pk}")
    assert edit(bot)["text"].startswith("That subscription can no longer be renewed.")
    bot.press(f"buy:t:{tariffs['month'].pk}:{other.pk}")
    assert edit(bot)["text"].startswith("This option is no longer available.")
    bot.press(f"buy:p:{tariffs['month'].pk}:{other.pk}:robokassa")
    assert not Payment.objects.exists()
    params = edit(bot)
    assert params["text"] == "This option is no longer available. Please choose again."
    assert buttons(params["reply_markup"]) == [("🛒 Buy", "buy"), ("« Menu", "menu")]


def test_a_renewal_cannot_be_paid_with_a_tariff_of_other_limits(
    bot, providers, tariffs, customer_en
):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"buy:p:{tariffs['family'].pk}:{subscription.pk}:robokassa")
    assert not Payment.objects.exists()
    assert "no longer available" in edit(bot)["text"]


def test_a_renewal_keeps_the_hardware_id_device_limit(bot, providers, tariffs, customer_en):
    """A tariff that differs only in its device limit by hardware id is not a renewal."""
    subscription = subscription_for(customer_en, tariffs["month"])
    tariffs["year"].hwid_device_limit = 5
    tariffs["year"].save()
    bot.message("/buy")
    data = [data for _, data in buttons(bot.last_reply()["reply_markup"])]
    assert data == [f"buy:t:{tariffs['month'].pk}:{subscription.pk}", "buy:n", "menu"]
    bot.press(f"buy:p:{tariffs['year'].pk}:{subscription.pk}:robokassa")
    assert not Payment.objects.exists()


def test_tariff_taken_off_sale_after_the_keyboard_was_sent(bot, providers, tariffs, customer_en):
    month = tariffs["month"]
    month.is_active = False
    month.save()
    bot.press(f"buy:t:{month.pk}:0")
    text = edit(bot)["text"]
    assert text.startswith("This option is no longer available. Here is what you can choose now:")
    assert "<b>Year</b>" in text
    assert "<b>Month</b>" not in text


def test_unknown_provider_is_refused_politely(bot, providers, tariffs, customer_en):
    bot.press(f"buy:p:{tariffs['month'].pk}:0:paypal")
    assert not Payment.objects.exists()
    assert edit(bot)["text"] == "This payment method is not available."
    assert buttons(edit(bot)["reply_markup"]) == [("🛒 Buy", "buy"), ("« Menu", "menu")]


def test_no_providers_configured_is_not_a_dead_end(bot, settings, tariffs, customer_en):
    settings.BILLING_PROVIDERS = {}
    settings.TELEGRAM_SUPPORT_CONTACT = "@vpn_support"
    bot.message("/buy")
    reply = bot.last_reply()
    assert reply["text"].startswith("Payments are temporarily unavailable.")
    assert buttons(reply["reply_markup"]) == [
        ("✉️ Contact support", "https://t.me/vpn_support"),
        ("❓ Help", "help"),
        ("« Menu", "menu"),
    ]
    bot.press(f"buy:t:{tariffs['month'].pk}:0")
    assert edit(bot)["text"].startswith("Payments are temporarily unavailable.")


def test_nothing_on_sale_is_not_a_dead_end(bot, providers, customer_en):
    bot.message("/buy")
    reply = bot.last_reply()
    assert reply["text"].startswith("There is nothing on sale right now.")
    assert ("« Menu", "menu") in buttons(reply["reply_markup"])


def test_a_payment_press_from_before_a_restart_still_works(bot, providers, tariffs, customer_en):
    """Keyboards carry everything: a fresh application answers an old button."""
    bot.press(f"buy:p:{tariffs['year'].pk}:0:freekassa", message_id=4242, message_text="old")
    assert bot.methods() == ["answerCallbackQuery", "editMessageText"]
    assert Payment.objects.get().tariff == tariffs["year"]


def test_buy_in_russian(bot, providers, tariffs):
    bot.press(f"buy:p:{tariffs['month'].pk}:0:robokassa", language_code="ru")
    text = edit(bot)["text"]
    assert "Месяц — 299\xa0₽, 💳 Карта, СБП · Robokassa" in text
    assert "ключи автоматически придут в этот чат" in text
    assert "Срок действия ссылки на оплату: 24 часа." in text
    assert buttons(edit(bot)["reply_markup"])[0][0] == "💳 Оплатить 299\xa0₽"


def test_a_renewal_cannot_be_paid_with_a_tariff_that_resets_traffic_otherwise(
    bot, providers, tariffs, customer_en
):
    """Same devices and traffic, but a monthly reset: more than the subscription has."""
    from subscriptions.tests.factories import TariffFactory

    monthly = TariffFactory(name_en="Month, resets", traffic_reset="month", sort_order=9)
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"buy:r:{subscription.pk}")
    offered = [data for _, data in buttons(edit(bot)["reply_markup"])]
    assert f"buy:t:{tariffs['year'].pk}:{subscription.pk}" in offered
    assert f"buy:t:{monthly.pk}:{subscription.pk}" not in offered
    bot.press(f"buy:p:{monthly.pk}:{subscription.pk}:robokassa")
    assert not Payment.objects.exists()
