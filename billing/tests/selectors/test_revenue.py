"""Revenue, billing's one definition (billing/selectors.py): PAID payments by `paid_at`, per
currency. A refunded, pending, failed or cancelled payment is never revenue."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import PaymentStatus
from billing.selectors import payments_credited_totals, payments_revenue, revenue_by_currency
from billing.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def payment(amount: str, status: str = PaymentStatus.PAID, **kwargs):
    if status in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
        kwargs.setdefault("paid_at", timezone.now())
    return PaymentFactory(amount=Decimal(amount), status=status, **kwargs)


@pytest.mark.parametrize(
    "status",
    [
        PaymentStatus.REFUNDED,
        PaymentStatus.PENDING,
        PaymentStatus.FAILED,
        PaymentStatus.CANCELLED,
    ],
)
def test_only_a_paid_payment_is_revenue(status):
    kept = payment("299.00")
    payment("1000.00", status)
    assert list(payments_revenue()) == [kept]
    assert revenue_by_currency() == {"RUB": Decimal("299.00")}


def test_a_refund_takes_the_payment_out_of_every_window():
    now = timezone.now()
    sold = payment("299.00", paid_at=now - timedelta(days=3))
    payment("100.00", paid_at=now - timedelta(days=3))
    assert revenue_by_currency(since=now - timedelta(days=7)) == {"RUB": Decimal("399.00")}
    sold.status, sold.refunded_at = PaymentStatus.REFUNDED, now
    sold.save()
    assert revenue_by_currency(since=now - timedelta(days=7)) == {"RUB": Decimal("100.00")}
    assert revenue_by_currency(since=now - timedelta(hours=1)) == {}


def test_the_window_is_on_paid_at_with_both_ends_included():
    now = timezone.now()
    since, until = now - timedelta(days=1), now
    payment("1.00", paid_at=since - timedelta(microseconds=1))  # just before
    payment("2.00", paid_at=since)
    payment("4.00", paid_at=until)
    payment("8.00", paid_at=until + timedelta(microseconds=1))  # just after
    payment("16.00", paid_at=now - timedelta(days=3), created_at=now)  # created now, paid earlier
    assert revenue_by_currency(since=since, until=until) == {"RUB": Decimal("6.00")}
    assert revenue_by_currency(since=since) == {"RUB": Decimal("14.00")}
    assert revenue_by_currency(until=until) == {"RUB": Decimal("23.00")}


def test_currencies_are_never_mixed():
    payment("299.00")
    payment("0.50", currency="USD")
    payment("1.25", currency="USD")
    assert revenue_by_currency() == {"RUB": Decimal("299.00"), "USD": Decimal("1.75")}
    assert all(isinstance(amount, Decimal) for amount in revenue_by_currency().values())


def test_nothing_paid_is_an_empty_dict():
    payment("299.00", PaymentStatus.PENDING)
    assert revenue_by_currency() == {}


def test_credited_totals_keep_refunded_payments_and_are_not_revenue():
    payment("299.00", provider="robokassa")
    payment("100.00", PaymentStatus.REFUNDED, provider="robokassa")
    payment("50.00", provider="freekassa")
    payment("999.00", PaymentStatus.PENDING, provider="robokassa")
    totals = {(row["provider"], row["currency"]): row for row in payments_credited_totals()}
    assert {key: (row["count"], row["amount"]) for key, row in totals.items()} == {
        ("freekassa", "RUB"): (1, Decimal("50.00")),
        ("robokassa", "RUB"): (2, Decimal("399.00")),
    }
    assert revenue_by_currency() == {"RUB": Decimal("349.00")}


def test_balance_money_counts_once_when_it_arrives():
    top_up = payment("500.00", top_up=True)
    payment("299.00", provider="balance")  # paid from that balance: moved, not earned
    assert list(payments_revenue()) == [top_up]
    assert revenue_by_currency() == {"RUB": Decimal("500.00")}
