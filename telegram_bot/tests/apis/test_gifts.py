"""Gifts in the bot, in both languages: buying a tariff as a gift up to its paid code, and
redeeming a code from its deep link, /gift or a plain message."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import Gift, GiftStatus, Payment, PaymentPurpose, PaymentStatus
from billing.tests.factories import GiftFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db

BUY = {
    "en": ("🎁 As a gift", "<b>🎁 A gift: Month</b>", "🎁 Gift: Month — 299\xa0₽", "Gift code:"),
    "ru": (
        "🎁 В подарок",  # noqa: RUF001
        "<b>🎁 В подарок: Месяц</b>",  # noqa: RUF001
        "🎁 Подарок: Месяц — 299\xa0₽",
        "Код подарка:",
    ),
}


@pytest.fixture
def shop(providers, tariffs, settings):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    return tariffs


@pytest.mark.parametrize("language", ["en", "ru"])
def test_buying_a_gift_ends_in_a_code_and_a_link(
    bot, shop, client, django_capture_on_commit_callbacks, language
):
    button, title, checkout, code_line = BUY[language]
    month = shop["month"].pk
    bot.press(f"buy:t:{month}:0", language_code=language)
    assert (button, f"buy:g:{month}") in buttons(edit(bot)["reply_markup"])

    bot.press(f"buy:g:{month}", language_code=language)
    screen = edit(bot)
    assert screen["text"].startswith(title)
    assert [data for _text, data in buttons(screen["reply_markup"])] == [
        f"buy:gp:{month}:robokassa",
        f"buy:gp:{month}:freekassa",
        f"buy:t:{month}:0",
        "menu",
    ]

    bot.press(f"buy:gp:{month}:robokassa", language_code=language)
    bot.press(f"buy:gp:{month}:robokassa", language_code=language)  # the same checkout again
    payment = Payment.objects.get()
    assert (payment.purpose, payment.status) == (PaymentPurpose.GIFT, PaymentStatus.PENDING)
    assert payment.subscription is None
    assert checkout in edit(bot)["text"]

    for _ in range(2):  # the provider notifies twice
        with django_capture_on_commit_callbacks(execute=True):
            assert send(client, ROBOKASSA_URL, robokassa_params(payment.pk)).status_code == 200
    gift = Gift.objects.get()
    assert not Subscription.objects.exists()
    sent = [m for m in bot.replies() if code_line in m["text"]]
    assert len(sent) == 1
    assert f"https://t.me/vpnsite_bot?start=gift_{gift.code}" in sent[0]["text"]


def test_a_gift_checkout_leaves_the_purchase_for_oneself_alone(bot, shop, customer_en):
    month = shop["month"].pk
    bot.press(f"buy:p:{month}:0:robokassa")
    bot.press(f"buy:gp:{month}:robokassa")
    assert sorted(Payment.objects.values_list("purpose", "status")) == [
        (PaymentPurpose.GIFT, PaymentStatus.PENDING),
        (PaymentPurpose.SUBSCRIPTION, PaymentStatus.PENDING),
    ]


OFFER = {
    "en": ("<b>🎁 A gift for you</b>", "🆕 Start a new subscription", "🎁 Gift redeemed: "),
    "ru": ("<b>🎁 Вам подарок</b>", "🆕 Оформить новую подписку", "🎁 Подарок активирован: "),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_deep_link_offers_the_gift_and_redeems_it_once(bot, shop, language):
    gift = GiftFactory(payment__tariff=shop["month"], payment__customer__language="en")
    bot.message(f"/start gift_{gift.code}", language_code=language)
    title, new_button, redeemed = OFFER[language]
    offer = bot.last_reply()
    assert offer["text"].startswith(title)
    assert buttons(offer["reply_markup"])[0] == (new_button, f"gift:n:{gift.code}")
    customer = Customer.objects.get(telegram_id=USER_ID)
    assert customer.referred_by is None

    bot.press(f"gift:n:{gift.code}", language_code=language)
    assert edit(bot)["text"].startswith(redeemed)
    subscription = Subscription.objects.get()
    assert subscription.customer == customer
    gift.refresh_from_db()
    assert (gift.status, gift.redeemed_by) == (GiftStatus.REDEEMED, customer)
    assert OutboxMessage.objects.filter(kind="gift-redeemed").count() == 1

    bot.press(f"gift:n:{gift.code}", language_code=language)  # an old button, pressed again
    assert Subscription.objects.count() == 1
    assert edit(bot)["text"] == (
        "🎁 This gift has already been redeemed."
        if language == "en"
        else "🎁 Этот подарок уже активирован."
    )
    assert OutboxMessage.objects.filter(kind="gift-redeemed").count() == 1


def test_a_running_subscription_with_the_same_limits_can_take_the_days(bot, shop, customer_en):
    gift = GiftFactory(payment__tariff=shop["year"])
    own = subscription_for(customer_en, shop["month"], expires_at=timezone.now() + timedelta(5))
    subscription_for(customer_en, shop["family"])  # other limits: not offered
    bot.message(f"/gift {gift.code.lower()}")
    offered = buttons(bot.last_reply()["reply_markup"])
    assert [data for _text, data in offered] == [
        f"gift:n:{gift.code}",
        f"gift:r:{gift.code}:{own.pk}",
        "menu",
    ]
    bot.press(f"gift:r:{gift.code}:{own.pk}")
    own.refresh_from_db()
    assert own.expires_at > timezone.now() + timedelta(days=369)
    assert edit(bot)["text"].startswith("🎁 Gift redeemed: Subscription")
    assert "stay the same" in edit(bot)["text"]


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("unknown", "🎁 There is no gift with this code."),
        ("expired", "🎁 This gift code has expired."),
        ("own", "🎁 You cannot redeem your own gift: send the link to the person it is for."),
    ],
)
def test_refused_codes_say_why(bot, shop, customer_en, case, text):
    gift = GiftFactory(
        payment__customer=customer_en if case == "own" else CustomerFactory(),
        expires_at=timezone.now() - timedelta(1 if case == "expired" else -1),
    )
    code = "ABCDEFGHJKMN" if case == "unknown" else gift.code
    bot.message(code)  # the code on its own, as a message
    assert bot.last_reply()["text"] == text
    bot.press(f"gift:n:{code}")
    assert edit(bot)["text"] == text
    assert not Subscription.objects.exists()
    assert Gift.objects.get().status == GiftStatus.ACTIVE


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "🎁 To redeem a gift"), ("ru", "🎁 Чтобы активировать подарок")],
)
def test_gift_without_a_code_says_how(bot, language, text):
    bot.message("/gift", language_code=language)
    assert bot.last_reply()["text"].startswith(text)
