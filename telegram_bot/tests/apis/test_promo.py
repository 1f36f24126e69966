"""Promo codes in the bot: the checkout's "🎟 Promo code" button, the code typed as a message,
the deep link ``/start promo_CODE``, every refusal in both languages, free grants."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus, PromoKind, PromoRedemption
from billing.tests.factories import PromoCodeFactory
from billing.tests.helpers import mark_paid
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import USER_ID, buttons, edit, subscription_for

pytestmark = pytest.mark.django_db


def last_text(bot) -> str:
    return bot.last_reply()["text"]


def test_walk_enter_a_code_at_checkout_and_pay_the_discounted_price_en(
    bot, providers, tariffs, customer_en
):
    month = tariffs["month"].pk
    PromoCodeFactory(code="SPRING", percent=20)
    bot.press(f"buy:t:{month}:0")
    assert buttons(edit(bot)["reply_markup"]) == [
        ("💳 Card, SBP · Robokassa", f"buy:p:{month}:0:robokassa"),
        ("💳 Card, SBP · FreeKassa", f"buy:p:{month}:0:freekassa"),
        ("🎁 As a gift", f"buy:g:{month}"),
        ("🎟 Promo code", f"promo:{month}:0"),
        ("« Back", "buy:n"),
        ("« Menu", "menu"),
    ]
    bot.press(f"promo:{month}:0")
    assert edit(bot)["text"] == "🎟 Send the promo code as a message."
    assert buttons(edit(bot)["reply_markup"]) == [
        ("« Back", f"buy:t:{month}:0"),
        ("« Menu", "menu"),
    ]
    bot.message(" spring ")
    text = last_text(bot)
    assert "🎟 Promo code <code>SPRING</code>: 239.20\xa0₽ instead of 299\xa0₽." in text
    assert text.endswith("Choose a payment method:")
    bot.press(f"buy:p:{month}:0:robokassa")
    payment = Payment.objects.get()
    assert (payment.amount, payment.price_before_promo, payment.promo.code) == (
        Decimal("239.20"),
        Decimal("299.00"),
        "SPRING",
    )
    checkout = edit(bot)
    assert "239.20\xa0₽" in checkout["text"]
    assert "SPRING" in checkout["text"]
    mark_paid(payment, amount="239.20")
    assert PromoRedemption.objects.get().status == "used"
    # Paid before the next screens were shown (else the bot asks whether to buy again).
    Payment.objects.filter(pk=payment.pk).update(paid_at=timezone.now() - timedelta(hours=1))
    # Once per customer: the next purchase's screen says so, and the payment is full price.
    bot.press(f"buy:t:{month}:0")
    assert (
        "🎟 Promo code <code>SPRING</code>: You have already used this promo code."
        in edit(bot)["text"]
    )
    bot.press(f"buy:p:{month}:0:freekassa")
    assert Payment.objects.filter(status=PaymentStatus.PENDING).get().amount == Decimal("299")


def test_walk_in_russian(bot, providers, tariffs):
    month = tariffs["month"].pk
    PromoCodeFactory(code="VESNA", kind=PromoKind.AMOUNT, percent=None, amount=Decimal("100"))
    bot.message("/start", language_code="ru")
    bot.press(f"buy:t:{month}:0", language_code="ru")
    assert ("🎟 Промокод", f"promo:{month}:0") in buttons(edit(bot)["reply_markup"])
    bot.press(f"promo:{month}:0", language_code="ru")
    assert edit(bot)["text"] == "🎟 Отправьте промокод сообщением."
    bot.message("vesna", language_code="ru")
    assert "🎟 Промокод <code>VESNA</code>: 199\xa0₽ вместо 299\xa0₽." in last_text(bot)
    bot.press(f"promo:{month}:0", language_code="ru")
    bot.message("nope", language_code="ru")
    assert last_text(bot) == "🎟 Промокод <code>NOPE</code>: Такого промокода нет."
    assert buttons(bot.last_reply()["reply_markup"]) == [
        ("🎟 Ввести другой код", f"promo:{month}:0"),
        ("« Назад", f"buy:t:{month}:0"),
        ("« Меню", "menu"),
    ]


@pytest.mark.parametrize(
    ("fields", "messages"),
    [
        (
            {"valid_until": timezone.now() - timedelta(days=1)},
            (
                "This promo code has expired or is not active yet.",
                "Срок действия промокода истёк или ещё не начался.",
            ),
        ),
        (
            {"max_uses": 0},
            ("This promo code has been used up.", "Этот промокод уже израсходован."),
        ),
        (
            {"new_customers_only": True, "_paid": True},
            (
                "This promo code is only for new customers.",
                "Этот промокод только для новых клиентов.",
            ),
        ),
        (
            {"_used": True},
            ("You have already used this promo code.", "Вы уже использовали этот промокод."),
        ),
    ],
)
@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.usefixtures("providers")
def test_refusals_in_both_languages(bot, tariffs, fields, messages, language):
    customer = CustomerFactory(telegram_id=USER_ID, language=language, language_chosen=True)
    fields = dict(fields)  # the parameter is shared by both languages' runs
    paid, used = fields.pop("_paid", False), fields.pop("_used", False)
    promo = PromoCodeFactory(code="CODE", **fields)
    if paid or used:
        payment = Payment.objects.create(
            customer=customer,
            number=1,
            tariff=tariffs["month"],
            provider="robokassa",
            amount=Decimal("269.10") if used else Decimal("299"),
            price_before_promo=Decimal("299") if used else None,
            promo=promo if used else None,
        )
        if used:
            PromoRedemption.objects.create(
                promo=promo, customer=customer, payment=payment, status="used", once=True
            )
        mark_paid(payment, amount=str(payment.amount))
    bot.message("/start promo_code")
    expected = dict(zip(("en", "ru"), messages, strict=True))[language]
    assert last_text(bot).endswith(f"<code>CODE</code>: {expected}")


def test_not_for_this_tariff_is_said_on_the_tariff_and_the_payment_is_full_price(
    bot, providers, tariffs, customer_en
):
    promo = PromoCodeFactory(code="YEARONLY", percent=50)
    promo.tariffs.set([tariffs["year"]])
    bot.message("/start promo_yearonly")
    assert last_text(bot) == (
        "🎟 Promo code <code>YEARONLY</code> is saved: it applies when you pay. Choose a tariff."
    )
    assert buttons(bot.last_reply()["reply_markup"]) == [("🛒 Buy", "buy"), ("« Menu", "menu")]
    month, year = tariffs["month"].pk, tariffs["year"].pk
    bot.press(f"buy:t:{month}:0")
    assert "YEARONLY</code>: This promo code is not valid for this tariff." in edit(bot)["text"]
    bot.press(f"buy:p:{month}:0:robokassa")
    assert Payment.objects.get().amount == Decimal("299")
    bot.press(f"buy:t:{year}:0")
    assert "1,495\xa0₽ instead of 2,990\xa0₽" in edit(bot)["text"]


def test_deep_link_of_a_free_days_code_extends_the_subscription_at_once(
    bot, providers, tariffs, customer_en
):
    subscription = subscription_for(customer_en, tariffs["month"])
    expiry = subscription.expires_at
    PromoCodeFactory(code="GIFT7", kind=PromoKind.FREE_DAYS, percent=None, days=7)
    bot.message("/start promo_GIFT7")
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=7)
    assert last_text(bot).startswith(
        "🎁 Promo code <code>GIFT7</code> activated: Subscription 1 · Month, running until"
    )
    assert not Payment.objects.exists()


def test_deep_link_keeps_the_start_greeting_and_no_referral(bot, providers, tariffs):
    PromoCodeFactory(code="HELLO")
    bot.message("/start promo_HELLO", language_code="en")
    texts = [m["text"] for m in bot.replies()]
    assert len(texts) == 2
    assert "HELLO" in texts[1]


def test_a_code_that_makes_the_price_zero_is_a_free_grant_not_a_payment(
    bot, providers, tariffs, customer_en
):
    month = tariffs["month"].pk
    PromoCodeFactory(code="FREE", percent=100)
    bot.message("/start promo_FREE")
    bot.press(f"buy:t:{month}:0")
    params = edit(bot)
    assert "🎁 Promo code <code>FREE</code>: this purchase is free." in params["text"]
    assert buttons(params["reply_markup"]) == [
        ("🎁 Get it free", f"buy:p:{month}:0:free"),
        ("🎟 Promo code", f"promo:{month}:0"),
        ("« Back", "buy:n"),
        ("« Menu", "menu"),
    ]
    bot.press(f"buy:p:{month}:0:free")
    assert not Payment.objects.exists()
    subscription = Subscription.objects.get()
    assert subscription.tariff_id == month
    assert "activated: Subscription 1 · Month" in edit(bot)["text"]
    # The code is spent: pressing the old button again grants nothing more.
    bot.press(f"buy:p:{month}:0:free")
    assert Subscription.objects.count() == 1


def test_the_button_is_offered_only_while_a_code_is_switched_on(
    bot, providers, tariffs, customer_en
):
    month = tariffs["month"].pk
    PromoCodeFactory(is_active=False)
    bot.press(f"buy:t:{month}:0")
    assert ("🎟 Promo code", f"promo:{month}:0") not in buttons(edit(bot)["reply_markup"])
    PromoCodeFactory()
    bot.press(f"buy:t:{month}:0")
    assert ("🎟 Promo code", f"promo:{month}:0") in buttons(edit(bot)["reply_markup"])


def test_text_without_a_question_is_the_fallback(bot, customer_en):
    PromoCodeFactory(code="SPRING")
    bot.message("SPRING")
    assert not PromoRedemption.objects.exists()
    assert "SPRING" not in last_text(bot)


def test_back_from_the_question_ends_it(bot, providers, tariffs, customer_en):
    month = tariffs["month"].pk
    PromoCodeFactory(code="SPRING")
    bot.press(f"promo:{month}:0")
    bot.press(f"buy:t:{month}:0")  # « Back
    bot.message("SPRING")
    assert "SPRING" not in last_text(bot)


def test_a_free_days_code_typed_at_checkout_is_granted_at_once(
    bot, providers, tariffs, customer_en
):
    subscription = subscription_for(customer_en, tariffs["month"])
    expiry = subscription.expires_at
    PromoCodeFactory(code="BONUS3", kind=PromoKind.FREE_DAYS, percent=None, days=3)
    bot.press(f"promo:{tariffs['year'].pk}:{subscription.pk}")
    bot.message("bonus3")
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=3)
    assert "🎁 Promo code <code>BONUS3</code> activated" in last_text(bot)
    assert buttons(bot.last_reply()["reply_markup"]) == [
        ("📋 My subscriptions", "subs"),
        ("« Menu", "menu"),
    ]
