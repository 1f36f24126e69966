"""🤝 Invite friends (from the balance screen, /invite): the invite link, the rules as set,
how many were invited and paid, what was earned; in Russian and English."""

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from accounts.tests.factories import CustomerFactory
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import mark_paid
from telegram_bot.tests.conftest import buttons, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def invited(customer_en, providers, runtime_setting, settings):
    """Two friends invited by the test user, one of whom paid 299 ₽ (10%: 29.90 ₽)."""
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("REFERRAL_PERCENT", 10)
    runtime_setting("REFERRAL_DAYS", 0)
    runtime_setting("REFERRAL_EVERY_PAYMENT", False)
    CustomerFactory(referred_by=customer_en)
    mark_paid(PaymentFactory(customer=CustomerFactory(referred_by=customer_en)))
    return customer_en


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "🤝 Invite friends",
                "10% of a friend's first payment goes to your balance.",
                "Invited: 2 · paid: 1",
                "Earned: 29.90\xa0₽",
            ],
        ),
        (
            "ru",
            [
                "🤝 Пригласить друзей",
                "10% от первой оплаты друга — на ваш баланс.",
                "Приглашено: 2 · оплатили: 1",
                "Заработано: 29,90\xa0₽",
            ],
        ),
    ],
)
def test_invite_screen_from_the_balance(bot, invited, language, expected):
    invited.language = language
    invited.save()
    bot.message("/balance")
    invite = [item for item in buttons(bot.last_reply()["reply_markup"]) if item[1] == "bal:r"]
    assert [text for text, _ in invite] == [expected[0]]
    bot.press("bal:r")
    params = edit(bot)
    for line in expected:
        assert line in params["text"]
    link = f"https://t.me/vpnsite_bot?start={invited.referral_code}"
    assert f"<code>{link}</code>" in params["text"]
    share = buttons(params["reply_markup"])[0][1]
    assert parse_qs(urlparse(share).query)["url"] == [link]
    assert [data for _, data in buttons(params["reply_markup"])][1:] == ["bal", "menu"]


def test_invite_command_every_payment_and_days(bot, customer_en, runtime_setting, settings):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("REFERRAL_PERCENT", 5)
    runtime_setting("REFERRAL_DAYS", 3)
    runtime_setting("REFERRAL_EVERY_PAYMENT", True)
    bot.message("/invite")
    text = bot.last_reply()["text"]
    assert "5% of every payment of your friends goes to your balance." in text
    assert "+3 days to your subscription for every payment of your friends." in text
    assert "Invited: 0 · paid: 0" in text
    assert "Earned: 0\xa0₽" in text


def test_no_rewards_and_no_username(bot, customer_en, runtime_setting, settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    runtime_setting("REFERRAL_PERCENT", 0)
    runtime_setting("REFERRAL_DAYS", 0)
    bot.message("/invite")
    reply = bot.last_reply()
    assert "Invitations are not rewarded at the moment." in reply["text"]
    assert "The invite link is not available right now." in reply["text"]
    assert [data for _, data in buttons(reply["reply_markup"])] == ["bal", "menu"]
    assert Decimal("0") == customer_en.balance
