"""Telegram Stars in the bot, in both languages: the method offered only for tariffs with a
Stars price, the invoice, the pre-checkout answer, the successful_payment credited once."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from billing.models import Payment, PaymentStatus, WebhookEvent
from billing.providers.stars import stars_payload_payment_id
from billing.tests.helpers import ROBOKASSA
from billing.tests.stars_helpers import STARS_PROVIDER
from notifications.models import OutboxMessage
from telegram_bot.tests.conftest import USER_ID, buttons, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, tariffs):
    """Robokassa and Stars; the month costs 50 stars, the year has no Stars price."""
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "stars": STARS_PROVIDER}
    settings.PAYMENT_PENDING_TTL_MINUTES = 24 * 60
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    tariffs["month"].price_stars = 50
    tariffs["month"].save()
    return tariffs


def test_stars_are_offered_only_for_a_tariff_with_a_stars_price(bot, shop, customer_en):
    month, year = shop["month"].pk, shop["year"].pk
    bot.press(f"buy:t:{month}:0")
    assert buttons(edit(bot)["reply_markup"])[:2] == [
        ("💳 Card, SBP · Robokassa", f"buy:p:{month}:0:robokassa"),
        ("⭐ Telegram Stars · 50\xa0⭐", f"buy:p:{month}:0:stars"),
    ]
    bot.press(f"buy:t:{year}:0")
    assert "stars" not in str(edit(bot)["reply_markup"])


def test_stars_switched_off_are_not_offered(bot, shop, settings, customer_en):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA}
    bot.press(f"buy:t:{shop['month'].pk}:0")
    assert "stars" not in str(edit(bot)["reply_markup"])
    bot.press(f"buy:p:{shop['month'].pk}:0:stars")
    assert not Payment.objects.exists()
    assert bot.calls("sendInvoice") == []


WALK = {
    "en": {
        "checkout": ["Month — 50\xa0⭐, ⭐ Telegram Stars", "tap “Pay 50\xa0⭐” on it"],
        "title": "VPN: Month",
        "other": "« Another payment method",
        "paid": "✅ Paid: Month — 50\xa0⭐",
        "expired": "This payment can no longer be paid. Please start a new one.",
        "lost": "⚠️ We received your stars but could not apply them",
    },
    "ru": {
        "checkout": [
            "Месяц — 50\xa0⭐, ⭐ Telegram Stars",
            "нажмите в нём «Заплатить 50\xa0⭐»",
        ],
        "title": "VPN: Месяц",
        "other": "« Другой способ оплаты",
        "paid": "✅ Оплачено: Месяц — 50\xa0⭐",
        "expired": "Этот платёж больше нельзя оплатить. Пожалуйста, создайте новый.",
        "lost": "⚠️ Мы получили ваши звёзды, но не смогли",
    },
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_stars_walk_invoice_pre_checkout_payment(
    bot, shop, language, django_capture_on_commit_callbacks
):
    words = WALK[language]
    month = shop["month"].pk
    press = bot.press(f"buy:p:{month}:0:stars", language_code=language)
    payment = Payment.objects.get()
    assert (payment.provider, payment.currency, int(payment.amount)) == ("stars", "XTR", 50)
    checkout = edit(bot)
    for text in words["checkout"]:
        assert text in checkout["text"]
    # No link to open: the invoice below carries the Pay button.
    assert [text for text, _data in buttons(checkout["reply_markup"])] == [
        words["other"],
        {"en": "« Menu", "ru": "« Меню"}[language],
    ]
    assert payment.checkout_message_id == press["callback_query"]["message"]["message_id"]
    [invoice] = bot.api.sent_invoices(USER_ID)
    assert invoice["title"] == words["title"]
    assert invoice["currency"] == "XTR"
    assert not invoice.get("provider_token")
    assert [price["amount"] for price in invoice["prices"]] == [50]
    assert stars_payload_payment_id(invoice["payload"]) == payment.pk

    query = bot.api.pre_checkout_update(
        user_id=USER_ID, payload=invoice["payload"], total_amount=50, language_code=language
    )
    bot.process(query)
    assert bot.api.pre_checkout_answer(query["pre_checkout_query"]["id"]) == {
        "ok": True,
        "error_message": None,
    }

    paid = bot.api.successful_payment_update(
        user_id=USER_ID, payload=invoice["payload"], total_amount=50, charge_id="stxWALK"
    )
    with django_capture_on_commit_callbacks(execute=True):
        bot.process(paid)
    with django_capture_on_commit_callbacks(execute=True):
        bot.process(paid)  # delivered twice: still one credit
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.provider_ref == "stxWALK"
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1
    assert OutboxMessage.objects.get(kind="checkout-paid").status == "sent"
    edits = [
        c.params["text"]
        for c in bot.calls("editMessageText")
        if c.params.get("message_id") == payment.checkout_message_id
    ]
    assert edits[-1].startswith(words["paid"])
    assert WebhookEvent.objects.count() == 2

    # The invoice pressed again after the payment: refused, in the customer's language.
    again = bot.api.pre_checkout_update(
        user_id=USER_ID, payload=invoice["payload"], total_amount=50, language_code=language
    )
    bot.process(again)
    answer = bot.api.pre_checkout_answer(again["pre_checkout_query"]["id"])
    assert answer["ok"] is False
    assert (
        answer["error_message"]
        == {
            "en": "This purchase is already paid.",
            "ru": "Эта покупка уже оплачена.",
        }[language]
    )


@pytest.mark.parametrize("language", ["en", "ru"])
def test_pre_checkout_of_an_expired_invoice_is_refused(bot, shop, language):
    bot.press(f"buy:p:{shop['month'].pk}:0:stars", language_code=language)
    [invoice] = bot.api.sent_invoices(USER_ID)
    Payment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    query = bot.api.pre_checkout_update(
        user_id=USER_ID, payload=invoice["payload"], total_amount=50, language_code=language
    )
    bot.process(query)
    answer = bot.api.pre_checkout_answer(query["pre_checkout_query"]["id"])
    assert answer == {"ok": False, "error_message": WALK[language]["expired"]}


def test_pre_checkout_is_answered_even_when_the_check_fails(bot, shop, customer_en):
    query = bot.api.pre_checkout_update(
        user_id=USER_ID, payload="1:x", total_amount=50, language_code="en"
    )
    with mock.patch(
        "telegram_bot.bot.handlers.stars.stars_pre_checkout_check", side_effect=RuntimeError
    ):
        bot.process(query)
    answer = bot.api.pre_checkout_answer(query["pre_checkout_query"]["id"])
    assert answer["ok"] is False
    assert answer["error_message"].startswith("Payments are temporarily unavailable.")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_payment_that_cannot_be_credited_is_explained(bot, shop, language):
    bot.press(f"buy:p:{shop['month'].pk}:0:stars", language_code=language)
    [invoice] = bot.api.sent_invoices(USER_ID)
    bot.process(
        bot.api.successful_payment_update(
            user_id=USER_ID, payload=invoice["payload"], total_amount=49, charge_id="stxLESS"
        )
    )
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert bot.last_reply()["text"].startswith(WALK[language]["lost"])


def test_a_slow_pre_checkout_check_is_refused_in_time(bot, shop, customer_en, monkeypatch):
    """Telegram cancels a purchase unanswered after 10 s: a check slower than the bot's
    budget is answered "not now" at the budget, not when it finishes."""
    monkeypatch.setattr("telegram_bot.bot.handlers.stars.PRE_CHECKOUT_CHECK_SECONDS", 0.2)
    answered_at = []

    def slow_check(**kwargs):
        time.sleep(1.5)
        answered_at.append(bot.api.calls_to("answerPreCheckoutQuery"))
        return ""

    query = bot.api.pre_checkout_update(
        user_id=USER_ID, payload="1:x", total_amount=50, language_code="en"
    )
    with mock.patch("telegram_bot.bot.handlers.stars.stars_pre_checkout_check", slow_check):
        bot.process(query)
    answer = bot.api.pre_checkout_answer(query["pre_checkout_query"]["id"])
    assert answer["ok"] is False
    # The answer went out while the slow check was still running.
    assert len(answered_at) == 1
    assert len(answered_at[0]) == 1
