from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_expire,
    subscription_extend,
    subscription_shorten,
    subscriptions_expire_due,
)
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_create_snapshots_tariff_and_audits(customer):
    tariff = TariffFactory(duration_days=30, device_limit=2, traffic_limit_gb=50, node_count=0)
    now = at(2026, 1, 31, 12)
    sub = subscription_create(customer=customer, tariff=tariff, actor_label="bot", now=now)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.started_at == now
    assert sub.expires_at == at(2026, 3, 2, 12)  # 30 days across February (28 days)
    assert (sub.device_limit, sub.traffic_limit_bytes, sub.node_count) == (2, 50 * 1024**3, 0)
    # Editing the tariff later changes nothing already bought.
    tariff.device_limit = 9
    tariff.save()
    sub.refresh_from_db()
    assert sub.device_limit == 2
    log = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_CREATED)
    assert (log.object_id, log.customer_id, log.actor) == (str(sub.pk), customer.pk, "bot")


@pytest.mark.parametrize(
    ("expires", "days", "expected"),
    [
        (at(2026, 1, 31, 23, 30), 30, at(2026, 3, 2, 23, 30)),  # non-leap February
        (at(2028, 1, 31, 23, 30), 30, at(2028, 3, 1, 23, 30)),  # leap February
        (at(2026, 12, 31, 23, 59), 1, at(2027, 1, 1, 23, 59)),  # year boundary
        (at(2026, 4, 30, 0, 0), 31, at(2026, 5, 31, 0, 0)),
    ],
)
def test_extend_active_adds_to_expiry(expires, days, expected):
    now = expires - timedelta(days=5)
    sub = SubscriptionFactory(started_at=now - timedelta(days=20), expires_at=expires)
    sub = subscription_extend(subscription=sub, days=days, now=now)
    assert sub.expires_at == expected
    assert sub.status == SubscriptionStatus.ACTIVE
    sub.refresh_from_db()
    assert sub.expires_at == expected


def test_extend_expired_restarts_from_now():
    now = at(2026, 2, 27, 10)
    sub = SubscriptionFactory(
        status=SubscriptionStatus.EXPIRED,
        started_at=at(2026, 1, 1),
        expires_at=at(2026, 1, 31),
        traffic_used_bytes=123,
        reminders_sent=["3d", "1d"],
    )
    sub = subscription_extend(subscription=sub, days=30, now=now)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.expires_at == at(2026, 3, 29, 10)
    assert sub.traffic_used_bytes == 0
    assert sub.reminders_sent == []
    log = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXTENDED)
    assert log.extra_data["mode"] == "restart"


def test_extend_active_but_past_expiry_restarts_from_now():
    """The sweep may not have run yet: the time already lost is not sold twice."""
    now = at(2026, 5, 10)
    sub = SubscriptionFactory(started_at=at(2026, 4, 1), expires_at=at(2026, 5, 1))
    sub = subscription_extend(subscription=sub, days=10, now=now)
    assert sub.expires_at == at(2026, 5, 20)


def test_extend_rejects_non_positive_days():
    sub = SubscriptionFactory()
    with pytest.raises(ApplicationError):
        subscription_extend(subscription=sub, days=0)
    assert not AuditLog.objects.exists()


def test_extend_clears_reminders_for_the_new_expiry():
    sub = SubscriptionFactory(reminders_sent=["3d"])
    sub = subscription_extend(subscription=sub, days=30)
    assert sub.reminders_sent == []


def test_expire_is_idempotent_and_moves_expiry_back_when_early():
    now = at(2026, 3, 1)
    sub = SubscriptionFactory(started_at=at(2026, 2, 1), expires_at=at(2026, 3, 20))
    sub = subscription_expire(subscription=sub, actor_label="admin", now=now)
    assert sub.status == SubscriptionStatus.EXPIRED
    assert sub.expires_at == now
    subscription_expire(subscription=sub, now=now + timedelta(days=1))
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXPIRED).count() == 1


def test_shorten_never_goes_below_now_and_expires_when_nothing_left():
    now = at(2026, 3, 1)
    sub = SubscriptionFactory(started_at=at(2026, 2, 1), expires_at=at(2026, 3, 31))
    sub = subscription_shorten(subscription=sub, days=10, now=now)
    assert sub.expires_at == at(2026, 3, 21)
    assert sub.status == SubscriptionStatus.ACTIVE
    sub = subscription_shorten(subscription=sub, days=30, now=now)
    assert sub.expires_at == now
    assert sub.status == SubscriptionStatus.EXPIRED


def test_sweep_expires_only_due_subscriptions():
    now = timezone.now()
    due = SubscriptionFactory(started_at=now - timedelta(30), expires_at=now - timedelta(1))
    running = SubscriptionFactory(started_at=now, expires_at=now + timedelta(1))
    already = SubscriptionFactory(
        status=SubscriptionStatus.EXPIRED,
        started_at=now - timedelta(30),
        expires_at=now - timedelta(2),
    )
    assert subscriptions_expire_due(now=now) == [due.pk]
    assert Subscription.objects.get(pk=running.pk).status == SubscriptionStatus.ACTIVE
    assert Subscription.objects.get(pk=already.pk).status == SubscriptionStatus.EXPIRED
    assert subscriptions_expire_due(now=now) == []


def test_sweep_leaves_a_subscription_extended_after_selection():
    now = timezone.now()
    sub = SubscriptionFactory(started_at=now - timedelta(30), expires_at=now - timedelta(1))
    # Extended between the sweep's SELECT and its lock: expire(only_if_due) must not undo it.
    subscription_extend(subscription=sub, days=30, now=now)
    result = subscription_expire(subscription=sub, now=now, only_if_due=True)
    assert result.status == SubscriptionStatus.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_extends_add_both_durations(on_postgres):
    start = timezone.now()
    sub = SubscriptionFactory(started_at=start, expires_at=start + timedelta(days=10))

    def extend(days):
        return lambda: subscription_extend(subscription=Subscription(pk=sub.pk), days=days)

    assert run_concurrently([extend(30), extend(7), extend(1), extend(90)]) == []
    sub.refresh_from_db()
    assert sub.expires_at == start + timedelta(days=10 + 30 + 7 + 1 + 90)
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXTENDED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_extend_and_expire_sweep_never_lose_the_extension(on_postgres):
    now = timezone.now()
    sub = SubscriptionFactory(started_at=now - timedelta(30), expires_at=now - timedelta(1))

    def extend():
        subscription_extend(subscription=Subscription(pk=sub.pk), days=30)

    assert run_concurrently([extend, subscriptions_expire_due]) == []
    sub.refresh_from_db()
    # Whichever ran first, the paid-for 30 days are there and the subscription is active.
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.expires_at >= now + timedelta(days=29)
    assert connection.vendor == "postgresql"
