"""From the bot's payment link to the keys in the chat, against a simulated 3x-ui panel:
a notification delivered twice sends each message once."""

import pytest

from billing.models import Payment, PaymentStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from nodes.models import SyncState
from nodes.tests.conftest import node_for, panel_email
from notifications.models import OutboxMessage, OutboxStatus
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import USER_ID, buttons

pytestmark = pytest.mark.django_db


@pytest.fixture
def panel(sim_factory):
    sim = sim_factory(generation="v3")
    node_for(sim, name="de-1")  # checked once: fetches the inbound the links are built from
    return sim


@pytest.fixture
def shop(providers, tariffs, settings):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    return tariffs


def test_paid_twice_gives_one_payment_message_and_one_keys_message(
    bot, shop, panel, client, django_capture_on_commit_callbacks
):
    bot.message("/start", language_code="en")
    bot.press(f"buy:p:{shop['month'].pk}:0:robokassa", language_code="en")
    payment = Payment.objects.get()
    pay_url = buttons(bot.calls("editMessageText")[-1].params["reply_markup"])[0][1]
    assert f"InvId={payment.pk}" in pay_url
    before = len(bot.replies())

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
        assert response.status_code == 200
        assert response.content.decode() == f"OK{payment.pk}"

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    subscription = Subscription.objects.get()
    assert subscription.customer.telegram_id == USER_ID
    key = subscription.keys.get()
    assert key.sync_state == SyncState.SYNCED
    assert panel.client(panel_email(subscription, panel))["id"] == str(subscription.client_uuid)

    sent = bot.replies()[before:]
    paid = [
        m for m in sent if m.get("text", "").startswith(f"✅ Payment {payment.number} received")
    ]
    keys = [m for m in sent if m.get("text", "").startswith("<b>Your VPN keys are ready</b>")]
    photos = [m for m in sent if "photo" in m]
    assert (len(paid), len(keys), len(photos)) == (1, 1, 1), [m.get("text") for m in sent]
    assert "<code>vless://" in keys[0]["text"]
    assert subscription.feed_token in keys[0]["text"]
    assert ("📋 My subscriptions", f"subs:v:{subscription.pk}") in buttons(keys[0]["reply_markup"])
    assert photos[0]["photo"].data.startswith(b"\x89PNG")
    assert (
        not OutboxMessage.objects.exclude(status=OutboxStatus.SENT)
        .filter(customer__telegram_id=USER_ID)
        .exists()
    )

    # The keys button works in the bot right away.
    bot.press(f"subs:k:{subscription.pk}", language_code="en")
    assert "<code>vless://" in bot.calls("editMessageText")[-1].params["text"]


def test_a_redeemed_gift_gives_the_recipient_keys_as_a_purchase_does(
    bot, shop, panel, client, django_capture_on_commit_callbacks
):
    from billing.models import Gift

    buyer, recipient = USER_ID, USER_ID + 1
    bot.press(f"buy:gp:{shop['month'].pk}:robokassa", language_code="en", user_id=buyer)
    payment = Payment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
    assert not Subscription.objects.exists()
    code = Gift.objects.get().code

    bot.message(f"/start gift_{code}", language_code="en", user_id=recipient)
    with django_capture_on_commit_callbacks(execute=True):
        bot.press(f"gift:n:{code}", language_code="en", user_id=recipient)
    subscription = Subscription.objects.get()
    assert subscription.customer.telegram_id == recipient
    assert subscription.keys.get().sync_state == SyncState.SYNCED
    keys = [
        m
        for m in bot.replies(recipient)
        if m.get("text", "").startswith("<b>Your VPN keys are ready</b>")
    ]
    assert len(keys) == 1
    told = [m for m in bot.replies(buyer) if "was redeemed" in m.get("text", "")]
    assert len(told) == 1
