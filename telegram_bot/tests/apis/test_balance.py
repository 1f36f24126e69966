"""💰 Balance in the bot: the screen, a top-up through a provider, paying a tariff from the
balance (confirmed, charged once), a short balance, and the auto-renew switch."""

from decimal import Decimal

import pytest

from accounts.models import Customer
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentPurpose, PaymentStatus
from billing.services.ledger import balance_entry_add
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import buttons, edit, subscription_for

pytestmark = pytest.mark.django_db


def fund(customer, amount):
    balance_entry_add(
        customer_id=customer.pk,
        amount=Decimal(amount),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key=f"test:{customer.pk}:{amount}",
    )


def balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def screen(bot) -> tuple[str, list[tuple[str, str]]]:
    params = edit(bot) if bot.calls("editMessageText") else bot.last_reply()
    return params["text"], buttons(params.get("reply_markup"))


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", ("Your balance: 500\xa0₽", "+500\xa0₽ · correction by support")),
     ("ru", ("Ваш баланс: 500\xa0₽", "+500\xa0₽ · корректировка поддержкой"))],
)  # fmt: skip
def test_balance_screen(bot, providers, customer_en, language, expected):
    title, history = expected
    customer_en.language = language
    customer_en.save()
    fund(customer_en, "500")
    bot.message("/balance")
    reply = bot.last_reply()
    assert title in reply["text"]
    assert history in reply["text"]
    assert [data for _, data in buttons(reply["reply_markup"])][:4] == [
        "bal:t:100",
        "bal:t:300",
        "bal:t:500",
        "bal:t:1000",
    ]


def test_without_providers_no_top_up_is_offered(bot, customer_en, settings):
    settings.BILLING_PROVIDERS = {}
    bot.message("/balance")
    reply = bot.last_reply()
    assert "Top-ups are not available" in reply["text"]
    assert [data for _, data in buttons(reply["reply_markup"])] == ["bal:r", "menu"]


@pytest.fixture
def sending(providers, settings):
    """Providers configured, and the outbox sends at once (eager tasks cannot wait)."""
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0
    return providers


def test_top_up_through_a_provider_credits_the_balance_once(
    bot, sending, customer_en, client, django_capture_on_commit_callbacks
):
    bot.press("bal:t:300")
    assert [data for _, data in screen(bot)[1]][:2] == [
        "bal:p:300:robokassa",
        "bal:p:300:freekassa",
    ]
    bot.press("bal:p:300:robokassa")
    payment = Payment.objects.get()
    assert (payment.purpose, payment.amount) == (PaymentPurpose.TOP_UP, Decimal("300"))
    text, keyboard = screen(bot)
    assert f"Payment {payment.number}" in text
    assert f"InvId={payment.pk}" in keyboard[0][1]
    payment.refresh_from_db()
    assert payment.checkout_message_id is not None
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "300.00"))
    assert balance(customer_en) == Decimal("300")
    assert BalanceEntry.objects.count() == 1
    # The checkout message says "paid" and lost its pay button; the customer is told once.
    edits = [
        call.params
        for call in bot.calls("editMessageText")
        if call.params.get("message_id") == payment.checkout_message_id
    ]
    assert edits[-1]["text"].startswith("✅ Paid: Balance top-up — 300\xa0₽")
    assert "reply_markup" not in edits[-1]
    told = [m["text"] for m in bot.replies() if "added to your balance" in m["text"]]
    assert len(told) == 1


def test_an_amount_not_offered_is_refused(bot, providers, customer_en):
    bot.press("bal:p:7:robokassa")
    assert "between 50 and 50000" in screen(bot)[0]
    assert Payment.objects.count() == 0


def test_from_the_balance_is_offered_only_when_it_pays(bot, providers, tariffs, customer_en):
    month = tariffs["month"].pk
    fund(customer_en, "298")
    bot.press(f"buy:t:{month}:0")
    assert all("balance" not in data for _, data in screen(bot)[1])
    fund(customer_en, "1")
    bot.press(f"buy:t:{month}:0")
    assert ("💰 From the balance (299\xa0₽)", f"buy:p:{month}:0:balance") in screen(bot)[1]


def test_pay_from_the_balance_asks_then_charges_once(bot, providers, tariffs, customer_en):
    fund(customer_en, "1000")
    month = tariffs["month"].pk
    bot.press(f"buy:p:{month}:0:balance")
    payment = Payment.objects.get(provider="balance")
    text, keyboard = screen(bot)
    assert "Pay <b>299\xa0₽</b> from your balance" in text
    assert "1,000\xa0₽ → 701\xa0₽" in text
    assert keyboard[0] == ("✅ Pay 299\xa0₽ from the balance", f"bal:y:{payment.pk}")
    assert balance(customer_en) == Decimal("1000")  # nothing charged before the confirmation

    for _ in range(2):
        bot.press(f"bal:y:{payment.pk}")
    assert "Paid from your balance" in screen(bot)[0]
    assert balance(customer_en) == Decimal("701")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert Subscription.objects.get(customer=customer_en).pk == payment.subscription_id


def test_short_balance_says_so_and_changes_nothing(bot, providers, tariffs, customer_en):
    fund(customer_en, "1000")
    bot.press(f"buy:p:{tariffs['year'].pk}:0:balance")
    payment = Payment.objects.get(provider="balance")
    bot.press(f"bal:y:{payment.pk}")
    text, keyboard = screen(bot)
    assert "Not enough money on your balance: 1,000\xa0₽, needed 2,990\xa0₽" in text
    assert ("💰 Balance", "bal") in keyboard
    assert balance(customer_en) == Decimal("1000")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_auto_renew_switch_on_the_card(bot, providers, tariffs, customer_en, trial_tariff):
    subscription = subscription_for(customer_en, tariffs["month"])
    bot.press(f"subs:v:{subscription.pk}")
    text, keyboard = screen(bot)
    assert "Auto-renew from the balance is off." in text
    assert ("🔄 Turn auto-renew on", f"subs:ar:{subscription.pk}:1") in keyboard

    bot.press(f"subs:ar:{subscription.pk}:1")
    subscription.refresh_from_db()
    assert subscription.auto_renew is True
    text, keyboard = screen(bot)
    assert "Auto-renew is on: renewed from your balance 1 day before it ends." in text
    assert ("⏸ Turn auto-renew off", f"subs:ar:{subscription.pk}:0") in keyboard

    bot.press(f"subs:ar:{subscription.pk}:0")
    subscription.refresh_from_db()
    assert subscription.auto_renew is False

    trial = subscription_for(customer_en, trial_tariff, is_trial=True)
    bot.press(f"subs:v:{trial.pk}")
    assert all("subs:ar" not in data for _, data in screen(bot)[1])
    bot.press(f"subs:ar:{trial.pk}:1")
    trial.refresh_from_db()
    assert trial.auto_renew is False


def test_someone_elses_subscription_cannot_be_switched(bot, tariffs, customer_en):
    from accounts.tests.factories import CustomerFactory

    other = subscription_for(CustomerFactory(), tariffs["month"])
    bot.press(f"subs:ar:{other.pk}:1")
    other.refresh_from_db()
    assert other.auto_renew is False
