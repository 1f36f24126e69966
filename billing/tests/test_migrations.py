"""0005: duplicate pending payments of one checkout, left by the code before the rule, are
cancelled (the newest kept) so the "one pending payment per checkout" constraints can be added."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0004_webhookevent_dismissed_at")]


def _migrate(targets=None):
    executor = MigrationExecutor(connection)
    return executor.migrate(targets or executor.loader.graph.leaf_nodes()).apps


def test_duplicates_are_cancelled_the_newest_kept():
    old = _migrate(BEFORE)
    Customer = old.get_model("accounts", "Customer")
    Tariff = old.get_model("subscriptions", "Tariff")
    Payment = old.get_model("billing", "Payment")
    customer = Customer.objects.create(telegram_id=777, referral_code="mig0005")
    tariff = Tariff.objects.create(name="Месяц", duration_days=30, price=299)
    now = timezone.now()

    def pending(provider, **kwargs):
        return Payment.objects.create(
            customer=customer, tariff=tariff, provider=provider, amount=299, **kwargs
        ).pk

    first, second, newest = pending("robokassa"), pending("robokassa"), pending("robokassa")
    other_method = pending("freekassa")
    paid = pending("robokassa", status="paid", paid_at=now)

    new = _migrate()
    statuses = dict(new.get_model("billing", "Payment").objects.values_list("pk", "status"))
    assert statuses == {
        first: "cancelled",
        second: "cancelled",
        newest: "pending",
        other_method: "pending",
        paid: "paid",
    }
