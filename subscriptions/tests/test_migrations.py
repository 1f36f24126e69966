"""Migration 0007 numbers the subscriptions that exist per customer, by creation (issue 19)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from subscriptions.models import Subscription
from subscriptions.tests.factories import TariffFactory

# Migrations need real transactions (SQLite's schema editor refuses to run inside one).
pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_NUMBERS = [("subscriptions", "0006_traffic_reset_schedule")]


def _migrate(targets=None):
    executor = MigrationExecutor(connection)
    return executor.migrate(targets or executor.loader.graph.leaf_nodes()).apps


def test_existing_subscriptions_are_numbered_per_customer_by_creation():
    anna, boris = CustomerFactory(), CustomerFactory()
    tariff = TariffFactory()
    old = _migrate(BEFORE_NUMBERS)
    old_subscription = old.get_model("subscriptions", "Subscription")
    now = timezone.now()

    def make(customer, created_days_ago):
        row = old_subscription.objects.create(
            customer_id=customer.pk,
            tariff_id=tariff.pk,
            started_at=now,
            expires_at=now + timedelta(days=30),
        )
        # created_at is auto_now_add: set the creation the test wants afterwards.
        old_subscription.objects.filter(pk=row.pk).update(
            created_at=now - timedelta(days=created_days_ago)
        )
        return row.pk

    # Interleaved ids; Anna's second row (by id) was created first.
    anna_later = make(anna, 5)
    boris_first = make(boris, 9)
    anna_first = make(anna, 10)
    anna_last = make(anna, 1)
    _migrate()
    numbers = dict(Subscription.objects.values_list("pk", "number"))
    assert numbers == {anna_first: 1, anna_later: 2, anna_last: 3, boris_first: 1}
