"""Traffic at 80% and 100% of the limit: told once per threshold and traffic period (issue 19)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from nodes.models import NodeClient, SyncState
from nodes.tests.factories import NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from subscriptions.notifications import KIND_TRAFFIC, traffic_thresholds_crossed
from subscriptions.services.traffic import subscriptions_traffic_enforce
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

GB = 1024**3


@pytest.fixture
def sync():
    """A traffic sync: the panel's counter of the subscription's key, then the enforce."""
    node = NodeFactory()

    def run(subscription: Subscription, used: int) -> None:
        NodeClient.objects.update_or_create(
            subscription=subscription,
            node=node,
            defaults={
                "email": f"s{subscription.pk}",
                "sync_state": SyncState.SYNCED,
                "synced_version": 1,
                "traffic_up": 0,
                "traffic_down": used,
            },
        )
        with mock.patch("subscriptions.services.keys.keys_push_on_commit"):
            subscriptions_traffic_enforce(subscription_ids={subscription.pk})

    return run


def _limited(language: str, **fields) -> Subscription:
    customer = CustomerFactory(language=language)
    tariff = TariffFactory(name="Месяц", name_en="Month", traffic_limit_gb=10, node_count=0)
    return SubscriptionFactory(customer=customer, tariff=tariff, **fields)


def _traffic_messages() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=KIND_TRAFFIC).order_by("pk"))


def test_80_then_100_percent_each_told_once_with_renew_buttons(sync):
    subscription = _limited("en")
    sync(subscription, 7 * GB)
    assert _traffic_messages() == []
    sync(subscription, 8 * GB)  # 80%
    sync(subscription, 8 * GB + 1)  # a repeated sync: nothing new
    (eighty,) = _traffic_messages()
    assert eighty.text == (
        "📶 Subscription 1 · Month: 80% of the traffic is used. When it runs out, the VPN "
        "pauses until the traffic resets; you can renew or buy more in advance."
    )
    buttons = [
        {"text": "🔄 Renew", "callback_data": f"buy:r:{subscription.pk}"},
        {"text": "📋 My subscriptions", "callback_data": f"subs:v:{subscription.pk}"},
    ]
    assert eighty.reply_markup == {"inline_keyboard": [buttons]}
    sync(subscription, 10 * GB)  # 100%
    sync(subscription, 11 * GB)
    eighty_again, full = _traffic_messages()
    assert eighty_again.pk == eighty.pk
    assert full.text.startswith(
        "⚠️ Subscription 1 · Month: the traffic limit is reached, so the VPN is paused"
    )
    assert full.reply_markup == {"inline_keyboard": [buttons]}
    assert full.chat_id == subscription.customer.telegram_id


def test_a_jump_past_both_thresholds_tells_both_once_in_russian(sync):
    subscription = _limited("ru")
    sync(subscription, 12 * GB)
    sync(subscription, 13 * GB)
    eighty, full = _traffic_messages()
    assert eighty.text.startswith("📶 Подписка 1 · Месяц: израсходовано 80% трафика.")
    assert full.text.startswith("⚠️ Подписка 1 · Месяц: лимит трафика исчерпан")
    assert full.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "🔄 Продлить", "callback_data": f"buy:r:{subscription.pk}"},
                {"text": "📋 Мои подписки", "callback_data": f"subs:v:{subscription.pk}"},
            ]
        ]
    }


def test_the_next_traffic_period_is_told_again(sync):
    subscription = _limited("en")
    sync(subscription, 9 * GB)
    # The traffic resets: a new period starts with the counters at zero.
    Subscription.objects.filter(pk=subscription.pk).update(
        traffic_reset_last_at=timezone.now() + timedelta(seconds=1), traffic_used_bytes=0
    )
    NodeClient.objects.filter(subscription=subscription).update(traffic_down=0)
    subscription.refresh_from_db()
    sync(subscription, 9 * GB)
    assert len(_traffic_messages()) == 2
    assert len({message.dedupe_key for message in _traffic_messages()}) == 2


def test_a_trial_offers_the_tariffs_and_no_limit_tells_nothing(sync):
    trial = _limited("en", is_trial=True)
    sync(trial, 9 * GB)
    (message,) = _traffic_messages()
    buy = {"text": "🛒 Buy", "callback_data": "buy"}
    assert message.reply_markup["inline_keyboard"][0][0] == buy
    unlimited = SubscriptionFactory(tariff=TariffFactory(traffic_limit_gb=0, node_count=0))
    sync(unlimited, 500 * GB)
    assert len(_traffic_messages()) == 1


def test_a_counter_that_drops_and_rises_again_in_the_period_is_not_told_twice(sync):
    """A key moved to another node: the old panel's counter stops counting, the total drops
    and rises over 80% again in the same period; the dedupe key keeps it to one message."""
    subscription = _limited("en")
    sync(subscription, 9 * GB)
    sync(subscription, 1 * GB)
    sync(subscription, 9 * GB)
    assert len(_traffic_messages()) == 1


def test_a_reset_committed_during_the_sync_is_not_told_the_old_periods_traffic(sync):
    """The total read before a traffic reset is not written after it, and neither is its
    80%/100% notice: the new period's notice must still go out when it is reached."""
    subscription = _limited("en")
    real = traffic_thresholds_crossed

    def reset_meanwhile(**kwargs):
        # A reset commits between the sync's read and its write.
        Subscription.objects.filter(pk=subscription.pk).update(
            traffic_used_bytes=0, traffic_reset_last_at=timezone.now()
        )
        return real(**kwargs)

    with mock.patch(
        "subscriptions.services.traffic.traffic_thresholds_crossed", side_effect=reset_meanwhile
    ):
        sync(subscription, 9 * GB)
    subscription.refresh_from_db()
    assert subscription.traffic_used_bytes == 0
    assert _traffic_messages() == []
