"""The rule "running": one definition, asked of a queryset, a relation and a row alike."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Customer
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_running_is_active_and_not_past_its_end_whichever_way_it_is_asked():
    now = timezone.now()
    start = now - timedelta(days=40)
    running = SubscriptionFactory(started_at=start, expires_at=now + timedelta(seconds=1))
    ends_now = SubscriptionFactory(started_at=start, expires_at=now)
    ended = SubscriptionFactory(started_at=start, expires_at=now - timedelta(days=1))
    cancelled = SubscriptionFactory(
        started_at=start, expires_at=now + timedelta(days=5), status=SubscriptionStatus.CANCELLED
    )
    suspended = SubscriptionFactory(
        started_at=start, expires_at=now + timedelta(days=5), status=SubscriptionStatus.SUSPENDED
    )

    assert list(Subscription.objects.running(now)) == [running]
    assert [s for s in (running, ends_now, ended, cancelled, suspended) if s.is_running(now)] == [
        running
    ]
    customers = Customer.objects.filter(
        Subscription.objects.running_q(now, prefix="subscriptions__")
    )
    assert list(customers) == [running.customer]
    # Later, the running one has ended too.
    assert not Subscription.objects.running(now + timedelta(seconds=1)).exists()
    assert not running.is_running(now + timedelta(seconds=1))
