"""The balance ledger (``billing.services.ledger``): once per source key, never below zero,
append-only; the balance is the sum of the entries."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, BalanceEntryKind
from billing.services.ledger import InsufficientBalanceError, balance_entry_add
from core.exceptions import ApplicationError
from core.tests.helpers import run_concurrently

pytestmark = pytest.mark.django_db


def add(customer, amount, key, kind=BalanceEntryKind.ADJUSTMENT):
    return balance_entry_add(
        customer_id=customer.pk, amount=Decimal(amount), kind=kind, source_key=key
    )


def balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def entries_sum(customer) -> Decimal:
    total = BalanceEntry.objects.filter(customer=customer).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def test_same_source_key_twice_adds_one_entry():
    customer = CustomerFactory()
    first = add(customer, "300", "payment:1", BalanceEntryKind.TOP_UP)
    second = add(customer, "300", "payment:1", BalanceEntryKind.TOP_UP)
    assert (first.created, second.created) == (True, False)
    assert second.entry.pk == first.entry.pk
    assert BalanceEntry.objects.count() == 1
    assert balance(customer) == Decimal("300") == first.entry.balance_after


def test_a_key_naming_another_change_is_refused():
    customer = CustomerFactory()
    add(customer, "300", "payment:1")
    with pytest.raises(ApplicationError):
        add(customer, "200", "payment:1")
    with pytest.raises(ApplicationError):
        add(CustomerFactory(), "300", "payment:1")
    assert balance(customer) == Decimal("300")


def test_debit_beyond_the_balance_changes_nothing():
    customer = CustomerFactory(language="en")
    add(customer, "100", "a")
    with pytest.raises(InsufficientBalanceError) as error:
        add(customer, "-100.01", "b")
    assert "Not enough money on your balance" in error.value.message
    assert balance(customer) == Decimal("100")
    assert BalanceEntry.objects.count() == 1
    # Exactly down to zero is allowed.
    assert add(customer, "-100", "c").entry.balance_after == 0


def test_running_totals_and_sum():
    customer = CustomerFactory()
    for index, amount in enumerate(["500", "-299", "100.50", "-0.50"]):
        add(customer, amount, f"k{index}")
    afters = list(
        BalanceEntry.objects.filter(customer=customer)
        .order_by("pk")
        .values_list("balance_after", flat=True)
    )
    assert afters == [Decimal("500"), Decimal("201"), Decimal("301.50"), Decimal("301")]
    assert balance(customer) == entries_sum(customer) == Decimal("301")


@pytest.mark.parametrize("amount", ["0", "1.001", "NaN"])
def test_bad_amounts_are_refused(amount):
    customer = CustomerFactory()
    with pytest.raises(ApplicationError):
        add(customer, amount, "x")
    assert BalanceEntry.objects.count() == 0


def test_entries_are_append_only():
    customer = CustomerFactory()
    entry = add(customer, "10", "x").entry
    entry.reason = "changed"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_debits_never_go_below_zero(on_postgres):
    """20 threads debit 100 each from a balance of 500: exactly 5 succeed."""
    customer = CustomerFactory()
    add(customer, "500", "seed")
    calls = [
        (lambda i=i: add(customer, "-100", f"debit:{i}", BalanceEntryKind.PURCHASE))
        for i in range(20)
    ]
    errors = run_concurrently(calls)
    assert len(errors) == 15
    assert all(isinstance(error, InsufficientBalanceError) for error in errors)
    assert balance(customer) == 0 == entries_sum(customer)
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.PURCHASE).count() == 5
    assert sorted(BalanceEntry.objects.values_list("balance_after", flat=True)) == [
        Decimal(n) for n in ("0", "100", "200", "300", "400", "500")
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_same_key_adds_once(on_postgres):
    customer = CustomerFactory()
    errors = run_concurrently([lambda: add(customer, "250", "payment:9")] * 20)
    assert errors == []
    assert BalanceEntry.objects.count() == 1
    assert balance(customer) == Decimal("250")
