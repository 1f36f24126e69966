"""The expiry sweep tells the customer once, with a renew button."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.notifications import KIND_EXPIRED
from subscriptions.services.lifecycle import (
    subscription_expire,
    subscription_extend,
    subscriptions_expire_due,
)
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def notices():
    return OutboxMessage.objects.filter(kind=KIND_EXPIRED)


def ended(**kwargs):
    kwargs.setdefault("started_at", NOW - timedelta(days=31))
    return SubscriptionFactory(expires_at=NOW - timedelta(hours=1), **kwargs)


def test_sweep_sends_one_notice_per_expiry():
    customer = CustomerFactory(language="en")
    subscription = ended(customer=customer, tariff=TariffFactory(name="Месяц", name_en="Month"))
    assert subscriptions_expire_due(now=NOW) == [subscription.pk]
    assert subscriptions_expire_due(now=NOW) == []
    # An admin "expire" of an already expired subscription is a no-op: no second notice.
    subscription_expire(subscription=subscription, now=NOW)
    message = notices().get()
    assert message.dedupe_key == f"expired:{subscription.pk}:{subscription.expires_at}"
    assert message.chat_id == customer.telegram_id
    assert message.text.startswith(
        f"⛔ Subscription {subscription.number} · Month has ended, and its keys are switched off."
    )
    assert message.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "🔄 Renew", "callback_data": f"buy:r:{subscription.pk}"},
                {"text": "« Menu", "callback_data": "menu"},
            ]
        ]
    }


def test_renewed_and_expired_again_is_a_new_notice():
    subscription = ended()
    subscriptions_expire_due(now=NOW)
    subscription = subscription_extend(subscription=subscription, days=1, now=NOW)
    later = NOW + timedelta(days=2)
    assert subscriptions_expire_due(now=later) == [subscription.pk]
    assert notices().count() == 2
    assert len(set(notices().values_list("dedupe_key", flat=True))) == 2


def test_trial_notice_leads_to_the_tariffs():
    trial = ended(is_trial=True, customer=CustomerFactory(language="ru"))
    subscriptions_expire_due(now=NOW)
    message = notices().get()
    assert message.text.startswith("⛔ Пробный период закончился, его ключи отключены.")  # noqa: RUF001
    assert message.reply_markup["inline_keyboard"][0][0] == {
        "text": "🛒 Купить",
        "callback_data": "buy",
    }
    assert str(trial.pk) in message.dedupe_key


def test_no_notice_for_a_banned_customer_or_a_subscription_not_due():
    ended(customer=CustomerFactory(is_banned=True))
    SubscriptionFactory(expires_at=NOW + timedelta(days=1), started_at=NOW - timedelta(days=1))
    subscriptions_expire_due(now=NOW)
    assert not notices().exists()


def test_no_notice_when_the_sweep_finds_nothing_to_expire():
    ended(status=SubscriptionStatus.SUSPENDED)
    assert subscriptions_expire_due(now=NOW) == []
    assert not notices().exists()
