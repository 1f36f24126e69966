"""A banned customer is refused everywhere: commands, buttons, old keyboards; nothing changes."""

import pytest

from accounts.tests.factories import CustomerFactory
from billing.models import Payment
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import USER_ID, buttons, subscription_for

pytestmark = pytest.mark.django_db

REFUSAL = "Sorry, access to the service is closed for your account."


@pytest.fixture
def banned(db):
    return CustomerFactory(telegram_id=USER_ID, language="en", language_chosen=True, is_banned=True)


@pytest.mark.usefixtures("providers", "tariffs", "trial_tariff")
@pytest.mark.parametrize("text", ["/start", "/buy", "/subscriptions", "/trial", "/help", "hi"])
def test_commands(bot, banned, text):
    bot.message(text)
    assert bot.methods() == ["sendMessage"]
    assert bot.last_reply()["text"] == REFUSAL
    # Support within reach: the contact's button under the ban message.
    assert buttons(bot.last_reply()["reply_markup"]) == [
        ("✉️ Contact support", "https://t.me/vpn_support")
    ]
    assert not Subscription.objects.exists()


@pytest.mark.usefixtures("providers", "trial_tariff")
def test_buttons(bot, banned, tariffs):
    subscription = subscription_for(banned, tariffs["month"])
    month = tariffs["month"].pk
    presses = [
        "menu", "buy", "buy:n", f"buy:r:{subscription.pk}", f"buy:t:{month}:0",
        f"buy:p:{month}:0:robokassa", f"buy:p:{month}:{subscription.pk}:robokassa", "subs",
        f"subs:v:{subscription.pk}", f"subs:k:{subscription.pk}", f"subs:u:{subscription.pk}",
        f"subs:q:{subscription.pk}", "trial", "lang:ru",
    ]  # fmt: skip
    for data in presses:
        bot.api.reset()
        bot.press(data)
        assert bot.methods() == ["answerCallbackQuery", "sendMessage"], data
        assert bot.last_reply()["text"] == REFUSAL, data
    assert not Payment.objects.exists()
    assert Subscription.objects.count() == 1
    banned.refresh_from_db()
    assert banned.trial_used_at is None
    assert banned.language == "en"
