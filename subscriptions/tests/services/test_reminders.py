"""Expiry reminders: each threshold once per expiry; an extension brings new ones."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.notifications import KIND_REMINDER
from subscriptions.services.lifecycle import subscription_extend
from subscriptions.services.reminders import reminder_days, subscriptions_remind_due
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def reminders():
    return OutboxMessage.objects.filter(kind=KIND_REMINDER).order_by("pk")


def subscription_ending_in(left: timedelta, **kwargs):
    kwargs.setdefault("started_at", NOW - timedelta(days=27))
    return SubscriptionFactory(expires_at=NOW + left, **kwargs)


def test_default_thresholds_are_three_days_and_one_day(settings):
    assert settings.SUBSCRIPTION_REMINDER_DAYS == [3, 1]
    assert reminder_days() == [1, 3]  # the runtime setting's default is the environment's


def test_each_reminder_once_per_expiry_and_again_after_an_extension(runtime_setting):
    runtime_setting("REMINDER_DAYS", "3,1")
    subscription = subscription_ending_in(timedelta(days=3, hours=1))

    assert subscriptions_remind_due(now=NOW) == 0  # more than 3 days left

    day_3 = NOW + timedelta(hours=2)  # 2 days 23 hours left
    assert subscriptions_remind_due(now=day_3) == 1
    assert subscriptions_remind_due(now=day_3) == 0  # the same run again: nothing new
    assert subscriptions_remind_due(now=day_3 + timedelta(hours=12)) == 0
    subscription.refresh_from_db()
    assert subscription.reminders_sent == ["3d"]

    day_1 = NOW + timedelta(days=2, hours=2)  # 23 hours left
    assert subscriptions_remind_due(now=day_1) == 1
    assert subscriptions_remind_due(now=day_1) == 0
    subscription.refresh_from_db()
    assert subscription.reminders_sent == ["3d", "1d"]

    first, second = reminders()
    assert (
        first.dedupe_key == f"reminder:{subscription.pk}:3d:{subscription.expires_at.isoformat()}"
    )
    assert second.dedupe_key.startswith(f"reminder:{subscription.pk}:1d:")
    # The customer reads Russian (the factory's default).
    assert "закончится через 3 дня" in first.text
    assert "закончится через 23 часа" in second.text

    # Renewed: a new expiry, so new reminders when it nears.
    subscription = subscription_extend(subscription=subscription, days=30, now=day_1)
    assert subscription.reminders_sent == []
    assert subscriptions_remind_due(now=day_1) == 0
    later = subscription.expires_at - timedelta(days=2)
    assert subscriptions_remind_due(now=later) == 1
    assert subscriptions_remind_due(now=later) == 0
    assert reminders().count() == 3
    assert reminders().last().dedupe_key.endswith(subscription.expires_at.isoformat())


def test_a_late_sweep_sends_only_the_nearest_reminder():
    subscription = subscription_ending_in(timedelta(hours=5))
    assert subscriptions_remind_due(now=NOW) == 1
    subscription.refresh_from_db()
    assert sorted(subscription.reminders_sent) == ["1d", "3d"]
    assert reminders().get().dedupe_key.startswith(f"reminder:{subscription.pk}:1d:")
    assert subscriptions_remind_due(now=NOW + timedelta(hours=1)) == 0


def test_a_short_trial_gets_no_reminder_longer_than_its_term():
    tariff = TariffFactory(duration_days=3, price=0, is_trial=True)
    trial = SubscriptionFactory(
        tariff=tariff, is_trial=True, started_at=NOW, expires_at=NOW + timedelta(days=3)
    )
    assert subscriptions_remind_due(now=NOW + timedelta(minutes=5)) == 0
    assert subscriptions_remind_due(now=NOW + timedelta(days=2, hours=1)) == 1
    message = reminders().get()
    assert message.dedupe_key.startswith(f"reminder:{trial.pk}:1d:")
    assert message.reply_markup["inline_keyboard"][0][0]["callback_data"] == "buy"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": SubscriptionStatus.EXPIRED},
        {"status": SubscriptionStatus.SUSPENDED},
        {"customer__is_banned": True},
    ],
)
def test_no_reminders_for_ended_suspended_or_banned(kwargs):
    subscription_ending_in(timedelta(days=1), **kwargs)
    assert subscriptions_remind_due(now=NOW) == 0
    assert not reminders().exists()


def test_reminder_text_and_buttons_in_the_customers_language():
    customer = CustomerFactory(language="en")
    tariff = TariffFactory(name="Месяц", name_en="Month")
    subscription = subscription_ending_in(timedelta(days=1), customer=customer, tariff=tariff)
    subscriptions_remind_due(now=NOW)
    message = reminders().get()
    assert message.chat_id == customer.telegram_id
    assert message.text.startswith(
        f"⏰ Subscription {subscription.number} · Month ends in 1 day, on March 2, 2026"
    )
    assert message.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "🔄 Renew", "callback_data": f"buy:r:{subscription.pk}"},
                {"text": "📋 My subscriptions", "callback_data": f"subs:v:{subscription.pk}"},
            ]
        ]
    }


def test_thresholds_come_from_the_runtime_setting_without_a_restart(runtime_setting):
    runtime_setting("REMINDER_DAYS", "7")
    subscription_ending_in(timedelta(days=6))
    assert subscriptions_remind_due(now=NOW) == 1
    runtime_setting("REMINDER_DAYS", "")
    subscription_ending_in(timedelta(days=1))
    assert subscriptions_remind_due(now=NOW) == 0


def test_the_beat_task_is_scheduled_and_runs_the_service(settings):
    from django.utils import timezone

    from subscriptions.tasks import subscriptions_remind_due_task

    entry = settings.CELERY_BEAT_SCHEDULE["subscriptions-remind-due"]
    assert entry["task"] == subscriptions_remind_due_task.name
    now = timezone.now()
    SubscriptionFactory(started_at=now - timedelta(days=29), expires_at=now + timedelta(hours=20))
    assert subscriptions_remind_due_task.apply().get() == 1
    assert reminders().count() == 1


def test_the_reminder_names_the_subscription_by_the_customers_own_number_in_russian():
    """Issue 19: every message names a subscription the same way ("Подписка 2 · Месяц"),
    never by the global id."""
    customer = CustomerFactory(language="ru")
    tariff = TariffFactory(name="Месяц", name_en="Month")
    subscription_ending_in(timedelta(days=30), customer=customer, tariff=tariff)
    second = subscription_ending_in(timedelta(days=1), customer=customer, tariff=tariff)
    subscriptions_remind_due(now=NOW)
    text = reminders().get().text
    assert text.startswith(f"⏰ Подписка {second.number} · Месяц закончится через")
    assert second.number == 2
    assert f"№{second.pk}" not in text
