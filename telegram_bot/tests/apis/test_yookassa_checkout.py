"""Buying through YooKassa in the bot, its API mocked (`responses`): offered only when
configured, under its title in the customer's language; one payment created at YooKassa per
checkout, its confirmation URL as the pay button; a failing API leaves nothing behind."""

import json

import pytest
import requests
import responses

from billing.models import Payment, PaymentStatus
from billing.tests.helpers import FREEKASSA, ROBOKASSA, YOOKASSA, YOOKASSA_API, yookassa_payment
from telegram_bot.tests.conftest import buttons, edit

pytestmark = pytest.mark.django_db

TITLES = {"en": "💳 Card, SBP, SberPay · YooKassa", "ru": "💳 Карта, СБП, SberPay · YooKassa"}


@pytest.fixture
def shop(tariffs, settings):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.PAYMENT_PENDING_TTL_MINUTES = 24 * 60
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0
    return tariffs


@pytest.fixture
def api(shop, settings):
    settings.BILLING_PROVIDERS = {**settings.BILLING_PROVIDERS, "yookassa": YOOKASSA}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def created(request):
    """What YooKassa answers to a create: a pending payment for what was asked."""
    body = json.loads(request.body)
    payment_id = int(body["metadata"]["payment_id"])
    answer = yookassa_payment(payment_id, status="pending", amount=body["amount"]["value"])
    return 200, {}, json.dumps(answer)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_offered_only_when_configured_and_titled_in_the_customer_language(
    bot, shop, settings, language
):
    month = shop["month"].pk
    bot.press(f"buy:t:{month}:0", language_code=language)
    assert TITLES[language] not in [text for text, _data in buttons(edit(bot)["reply_markup"])]

    settings.BILLING_PROVIDERS = {**settings.BILLING_PROVIDERS, "yookassa": YOOKASSA}
    bot.press(f"buy:t:{month}:0", language_code=language)
    labels = buttons(edit(bot)["reply_markup"])
    assert (TITLES[language], f"buy:p:{month}:0:yookassa") in labels


def test_one_payment_at_yookassa_per_checkout(bot, api, shop):
    api.add_callback(responses.POST, f"{YOOKASSA_API}payments", callback=created)
    bot.press(f"buy:p:{shop['month'].pk}:0:yookassa")
    payment = Payment.objects.get()
    url = yookassa_payment(payment.pk, status="pending")["confirmation"]["confirmation_url"]
    assert buttons(edit(bot)["reply_markup"])[0][1] == url
    assert payment.provider_ref == yookassa_payment(payment.pk)["id"]
    assert payment.checkout_url == url

    bot.press(f"buy:p:{payment.tariff_id}:0:yookassa")  # the same method again
    assert len(api.calls) == 1  # shown again from our row, not created twice
    assert Payment.objects.get().pk == payment.pk
    assert buttons(edit(bot)["reply_markup"])[0][1] == url


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"body": requests.ReadTimeout("slow")}, ("en", "The payment service is not answering")),
        ({"status": 500, "json": {"code": "internal_server_error"}}, ("ru", "Платёжный сервис")),
        ({"status": 400, "json": {"code": "invalid_request"}}, ("en", "The payment service")),
        ({"json": {"id": "x", "status": "canceled"}}, ("ru", "Этот способ оплаты недоступен")),
    ],
)
def test_a_failed_create_leaves_no_payment(bot, api, shop, failure, expected):
    language, text = expected
    api.post(f"{YOOKASSA_API}payments", **failure)
    bot.press(f"buy:p:{shop['month'].pk}:0:yookassa", language_code=language)
    assert text in edit(bot)["text"]
    assert not Payment.objects.exists()

    # Pressed again once YooKassa answers: one pending payment, payable.
    api.remove(responses.POST, f"{YOOKASSA_API}payments")
    api.add_callback(responses.POST, f"{YOOKASSA_API}payments", callback=created)
    bot.press(f"buy:p:{shop['month'].pk}:0:yookassa", language_code=language)
    assert Payment.objects.get().status == PaymentStatus.PENDING
