"""Issue 19's checkout scenarios in the bot: the same method pressed twice, two methods
pressed and one paid, in both languages."""

import pytest

from billing.models import Payment, PaymentStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from notifications.models import OutboxMessage
from telegram_bot.tests.conftest import USER_ID, buttons, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(providers, tariffs, settings):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    return tariffs


def pay_link(bot) -> str:
    return buttons(edit(bot)["reply_markup"])[0][1]


@pytest.mark.parametrize(
    ("language", "payment_title"), [("en", "💳 Payment #"), ("ru", "💳 Платёж №")]
)
def test_the_same_method_pressed_twice_shows_the_same_payment(bot, shop, language, payment_title):
    month = shop["month"].pk
    bot.press(f"buy:p:{month}:0:robokassa", language_code=language)
    first_link = pay_link(bot)
    bot.press(f"buy:p:{month}:0:robokassa", language_code=language)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    assert pay_link(bot) == first_link
    assert f"InvId={payment.pk}" in first_link
    assert f"<b>{payment_title}{payment.pk}</b>" in edit(bot)["text"]


def test_the_same_method_from_a_renewal_twice_is_one_renewal(bot, shop, customer_en):
    from telegram_bot.tests.conftest import subscription_for

    subscription = subscription_for(customer_en, shop["month"])
    for _ in range(2):
        bot.press(f"buy:p:{shop['year'].pk}:{subscription.pk}:freekassa")
    assert Payment.objects.get().subscription == subscription


EDITED = {
    "en": ("✅ Paid: Month — 299\xa0₽", "✅ This purchase is already paid: Month — 299\xa0₽"),
    "ru": ("✅ Оплачено: Месяц — 299\xa0₽", "✅ Эта покупка уже оплачена: Месяц — 299\xa0₽"),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_two_methods_pressed_one_paid_both_messages_lose_their_pay_button(
    bot, shop, client, django_capture_on_commit_callbacks, language
):
    paid, superseded = EDITED[language]
    month = shop["month"].pk
    robokassa_press = bot.press(f"buy:p:{month}:0:robokassa", language_code=language)
    freekassa_press = bot.press(f"buy:p:{month}:0:freekassa", language_code=language)
    robokassa = Payment.objects.get(provider="robokassa")
    freekassa = Payment.objects.get(provider="freekassa")
    # Each checkout message is the pressed one, edited into the checkout.
    assert (
        robokassa.checkout_message_id == robokassa_press["callback_query"]["message"]["message_id"]
    )
    assert (
        freekassa.checkout_message_id == freekassa_press["callback_query"]["message"]["message_id"]
    )
    assert robokassa.checkout_chat_id == USER_ID

    for _ in range(2):  # the provider notifies twice
        with django_capture_on_commit_callbacks(execute=True):
            response = send(client, ROBOKASSA_URL, robokassa_params(robokassa.pk, "299.00"))
        assert response.status_code == 200

    edits = {
        call.params["message_id"]: call.params
        for call in bot.calls("editMessageText")
        if call.params.get("message_id")
        in (robokassa.checkout_message_id, freekassa.checkout_message_id)
        and "reply_markup" not in call.params
    }
    assert edits[robokassa.checkout_message_id]["text"].startswith(paid)
    assert edits[freekassa.checkout_message_id]["text"].startswith(superseded)
    # Exactly once each, whatever the provider repeats.
    assert OutboxMessage.objects.filter(kind="checkout-paid").count() == 1
    assert OutboxMessage.objects.filter(kind="checkout-superseded").count() == 1
    assert OutboxMessage.objects.get(kind="checkout-paid").status == "sent"
    freekassa.refresh_from_db()
    assert freekassa.status == PaymentStatus.CANCELLED


def test_a_checkout_message_deleted_before_the_payment_is_fine(
    bot, shop, client, django_capture_on_commit_callbacks
):
    bot.press(f"buy:p:{shop['month'].pk}:0:robokassa", language_code="en")
    payment = Payment.objects.get()
    Payment.objects.filter(pk=payment.pk).update(checkout_message_id=999_999)  # not in the chat
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
    assert response.status_code == 200
    assert OutboxMessage.objects.get(kind="checkout-paid").status == "skipped"
    assert OutboxMessage.objects.get(kind="payment-paid").status == "sent"
