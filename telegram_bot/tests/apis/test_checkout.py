"""Issue 19's checkout scenarios in the bot: the same method pressed twice, two methods
pressed and one paid, in both languages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Payment, PaymentStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from notifications.models import OutboxMessage
from subscriptions.tests.factories import SubscriptionFactory
from telegram_bot.tests.conftest import USER_ID, buttons, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(providers, tariffs, settings):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    return tariffs


def pay_link(bot) -> str:
    return buttons(edit(bot)["reply_markup"])[0][1]


@pytest.mark.parametrize(
    ("language", "payment_title"), [("en", "💳 Payment "), ("ru", "💳 Платёж ")]
)
def test_the_same_method_pressed_twice_shows_the_same_payment(bot, shop, language, payment_title):
    from billing.tests.factories import PaymentFactory

    other = PaymentFactory(tariff=shop["month"])  # someone else's: numbers are per customer
    month = shop["month"].pk
    bot.press(f"buy:p:{month}:0:robokassa", language_code=language)
    first_link = pay_link(bot)
    bot.press(f"buy:p:{month}:0:robokassa", language_code=language)
    payment = Payment.objects.exclude(pk=other.pk).get()
    assert payment.status == PaymentStatus.PENDING
    assert pay_link(bot) == first_link
    assert f"InvId={payment.pk}" in first_link  # the provider's order id stays the global one
    assert (payment.number, other.number) == (1, 1) != (payment.pk, other.pk)
    assert f"<b>{payment_title}{payment.number}</b>" in edit(bot)["text"]


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


# An outdated purchase button pressed after a purchase asks first.

AGAIN = {
    "en": (
        (
            "After this button was shown you already bought Subscription {number} · Month. "
            "Buy another one?"
        ),
        [("Yes, buy another one", "{data}"), ("No, show my subscription", "subs:v:{pk}")],
    ),
    "ru": (
        (
            "После того как появилась эта кнопка, вы уже купили: Подписка {number} · Месяц. "
            "Купить ещё одну?"
        ),
        [("Да, купить ещё одну", "{data}"), ("Нет, показать мою подписку", "subs:v:{pk}")],
    ),
}


@pytest.fixture
def pay(client, django_capture_on_commit_callbacks):
    """The provider's notification that `payment` is paid, and what follows on commit."""

    def notify(payment: Payment) -> Payment:
        with django_capture_on_commit_callbacks(execute=True):
            params = robokassa_params(payment.pk, str(payment.amount))
            response = send(client, ROBOKASSA_URL, params)
        assert response.status_code == 200
        payment.refresh_from_db()
        return payment

    return notify


def buy_and_pay(bot, pay, tariff, language) -> Payment:
    """The purchase made through the bot: the checkout, then the provider's notification."""
    bot.press(f"buy:p:{tariff.pk}:0:robokassa", language_code=language)
    return pay(Payment.objects.get(status=PaymentStatus.PENDING, provider="robokassa"))


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("data", ["buy:n", "buy:t:{month}:0", "buy:p:{month}:0:freekassa"])
def test_an_old_new_subscription_button_after_a_purchase_asks_first(bot, shop, pay, language, data):
    data = data.format(month=shop["month"].pk)
    SubscriptionFactory()  # someone else's: the customer's own number is not the global id
    old = bot.api.callback_update(user_id=USER_ID, data="x")["callback_query"]["message"]
    payment = buy_and_pay(bot, pay, shop["month"], language)
    number, pk = payment.subscription.number, payment.subscription_id
    assert number != pk

    # The message was shown a minute before the purchase (the double dates it so).
    bot.press(data, message_id=old["message_id"], language_code=language)
    text, keyboard = AGAIN[language]
    assert edit(bot)["text"] == text.format(number=number)
    assert buttons(edit(bot)["reply_markup"])[:2] == [
        (label, target.format(data=data, pk=pk)) for label, target in keyboard
    ]
    assert Payment.objects.count() == 1  # nothing started

    # Yes: the same button on the question, which is newer than the purchase, goes on.
    bot.press(data, message_id=old["message_id"], language_code=language)
    assert edit(bot)["text"] != text.format(number=number)
    if data.startswith("buy:p"):
        assert Payment.objects.filter(provider="freekassa", status="pending").count() == 1


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_old_renew_button_after_a_renewal_asks_first(bot, shop, pay, customer_en, language):
    from telegram_bot.tests.conftest import subscription_for

    customer_en.language = language
    customer_en.save()
    SubscriptionFactory()  # someone else's: the customer's own number is not the global id
    subscription = subscription_for(customer_en, shop["month"])
    old = bot.api.callback_update(user_id=USER_ID, data="x")["callback_query"]["message"]
    bot.press(f"buy:p:{shop['month'].pk}:{subscription.pk}:robokassa")
    pay(Payment.objects.get())
    bot.press(f"buy:r:{subscription.pk}", message_id=old["message_id"])
    assert edit(bot)["text"] == AGAIN[language][0].format(number=subscription.number)


def test_a_button_shown_after_the_purchase_does_not_ask(bot, shop, pay):
    buy_and_pay(bot, pay, shop["month"], "en")
    Payment.objects.update(paid_at=Payment.objects.get().paid_at - timedelta(minutes=5))
    bot.press("buy:n", language_code="en")  # a message dated a minute ago
    assert edit(bot)["text"].startswith("<b>🛒 Choose a tariff</b>")


# With several subscriptions, /buy asks which one to renew.

CHOICE = {
    "en": (
        (
            "<b>🛒 Renew or buy</b>\n\nYou have 2 active subscriptions. Choose the one to "
            "renew, or buy a new subscription."
        ),
        "🔄 Renew #{number} {tariff} · until ",
        "🆕 A new subscription",
    ),
    "ru": (
        (
            "<b>🛒 Продлить или купить</b>\n\nУ вас 2 активные подписки. "  # noqa: RUF001
            "Выберите, какую продлить, или купите новую подписку."
        ),
        "🔄 Продлить №{number} {tariff} · до ",
        "🆕 Новая подписка",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_buy_with_two_subscriptions_asks_which_to_renew(bot, shop, customer_en, language):
    from telegram_bot.tests.conftest import subscription_for

    customer_en.language = language
    customer_en.save()
    now = timezone.now()
    SubscriptionFactory()  # someone else's: the customer's own numbers are not the global ids
    month = subscription_for(customer_en, shop["month"], expires_at=now + timedelta(days=40))
    family = subscription_for(customer_en, shop["family"], expires_at=now + timedelta(days=10))
    bot.message("/buy")
    reply = bot.last_reply()
    text, renew, new = CHOICE[language]
    assert reply["text"] == text
    names = {"en": ("Month", "Family"), "ru": ("Месяц", "Семья")}[language]
    rows = buttons(reply["reply_markup"])
    assert [data for _, data in rows] == [
        f"buy:r:{month.pk}",
        f"buy:r:{family.pk}",
        "buy:n",
        "menu",
    ]
    assert (month.number, family.number) == (1, 2) != (month.pk, family.pk)
    assert rows[0][0].startswith(renew.format(number=month.number, tariff=names[0]))
    assert rows[1][0].startswith(renew.format(number=family.number, tariff=names[1]))
    assert rows[2][0] == new
    assert not Payment.objects.exists()

    # The second one chosen: its renewal, not the first's.
    bot.press(f"buy:r:{family.pk}", language_code=language)
    title = {"en": "Subscription 2 · Family", "ru": "Подписка 2 · Семья"}[language]
    assert (
        edit(bot)["text"].split("\n")[0]
        == {
            "en": f"<b>🔄 Renew: {title}</b>",
            "ru": f"<b>🔄 Продление: {title}</b>",
        }[language]
    )
    assert buttons(edit(bot)["reply_markup"])[0][1] == f"buy:t:{shop['family'].pk}:{family.pk}"


def test_the_menus_buy_button_with_two_subscriptions_asks_too(bot, shop, customer_en):
    from telegram_bot.tests.conftest import subscription_for

    subscription_for(customer_en, shop["month"])
    subscription_for(customer_en, shop["year"])
    bot.press("buy")
    assert edit(bot)["text"].startswith("<b>🛒 Renew or buy</b>")


def test_buy_with_one_subscription_and_a_trial_renews_the_paid_one(
    bot, shop, trial_tariff, customer_en
):
    from telegram_bot.tests.conftest import subscription_for

    paid = subscription_for(customer_en, shop["month"])
    subscription_for(customer_en, trial_tariff, is_trial=True)
    bot.message("/buy")
    assert bot.last_reply()["text"].startswith(f"<b>🔄 Renew: Subscription {paid.number} · ")


def test_the_questions_stay_within_the_query_budget(bot, shop, trial_tariff, customer_en):
    """bench/README.md: at most 6 queries per update; the chooser costs no more than /buy."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from telegram_bot.tests.apis.test_queries import data_queries
    from telegram_bot.tests.conftest import subscription_for

    subscription_for(customer_en, shop["month"])
    subscription_for(customer_en, shop["year"])
    bot.message("/start")  # warms the trial-offer cache
    with CaptureQueriesContext(connection) as context:
        bot.message("/buy")
    assert len(data_queries(context)) <= 4, data_queries(context)
    with CaptureQueriesContext(connection) as context:
        bot.press("buy:n")
    assert len(data_queries(context)) <= 5, data_queries(context)
