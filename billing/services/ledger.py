"""The balance ledger: one append-only ``BalanceEntry`` per change, and its running total on
``Customer.balance``.

Why a cached column (and not only ``BalanceEntry.balance_after``): the database itself then
refuses a negative balance, atomically, whatever the caller did. Each change is one
``UPDATE customer SET balance = balance + amount`` (an ``F()`` expression) and one entry
INSERT in the same transaction; the CHECK ``customer_balance_non_negative`` fails the UPDATE
that would go below zero, and the UNIQUE ``source_key`` fails a second entry for the same
cause. One customer's changes also queue up on the customer's row (``select_for_update``),
so the clear "not enough money" message is given before the database would have to refuse.
Nothing here imports the rest of billing (payments and the balance services call this).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import BalanceEntry, Payment
from core.exceptions import ApplicationError
from notifications.formatting import money_format

# Provider code of a tariff paid from the balance (no external provider involved).
BALANCE_PROVIDER = "balance"
# The balance's currency: top-ups, purchases and the ledger are in roubles.
BALANCE_CURRENCY = "RUB"
CENT = Decimal("0.01")


class InsufficientBalanceError(ApplicationError):
    """The balance is smaller than a debit: nothing changed."""


@dataclass(frozen=True)
class BalanceChange:
    """What ``balance_entry_add`` did: ``created`` is False when `source_key` was used."""

    entry: BalanceEntry
    created: bool


def money_check(amount: Any) -> Decimal:
    """`amount` as a Decimal of whole kopecks, or ``ApplicationError``."""
    try:
        exact = (
            isinstance(amount, Decimal) and amount.is_finite() and amount == amount.quantize(CENT)
        )
    except InvalidOperation:
        exact = False
    if not exact:
        raise ApplicationError(
            "Amount must be a decimal with at most two decimal places.", {"amount": str(amount)}
        )
    return amount


@transaction.atomic
def balance_entry_add(
    *,
    customer_id: int,
    amount: Decimal,
    kind: str,
    source_key: str,
    payment: Payment | None = None,
    operator=None,
    reason: str = "",
) -> BalanceChange:
    """Add `amount` (negative: a debit) to the customer's balance, once per `source_key`.

    A `source_key` already in the ledger returns that entry (``created=False``) and changes
    nothing, if it names the same customer and amount; otherwise ``ApplicationError``. A debit
    larger than the balance raises ``InsufficientBalanceError`` (in the customer's language).
    """
    amount = money_check(amount)
    if amount == 0:
        raise ApplicationError("A balance entry needs a non-zero amount.", {"amount": "0"})
    if not source_key or len(source_key) > 128:
        raise ApplicationError("A balance entry needs a source key of 1-128 characters.")
    # The lock: one customer's balance changes queue up here (PostgreSQL).
    customer = Customer.objects.select_for_update().only("pk", "balance", "language")
    customer = customer.get(pk=customer_id)
    existing = BalanceEntry.objects.filter(source_key=source_key).first()
    if existing is not None:
        return _repeated(existing, customer_id=customer_id, amount=amount)
    if customer.balance + amount < 0:
        raise _insufficient(customer=customer, amount=amount)
    try:
        with transaction.atomic():
            Customer.objects.filter(pk=customer_id).update(balance=F("balance") + amount)
            balance_after = (
                Customer.objects.filter(pk=customer_id).values_list("balance", flat=True).get()
            )
            entry = BalanceEntry(
                customer_id=customer_id,
                amount=amount,
                balance_after=balance_after,
                kind=kind,
                source_key=source_key,
                payment=payment,
                operator=operator,
                reason=(reason or "")[:255],
            )
            entry.save(force_insert=True)
    except IntegrityError:
        # Without the row lock (SQLite) a concurrent change got there first: the same cause
        # (the unique key), or a debit that would now go below zero (the CHECK).
        existing = BalanceEntry.objects.filter(source_key=source_key).first()
        if existing is not None:
            return _repeated(existing, customer_id=customer_id, amount=amount)
        customer.refresh_from_db(fields=["balance"])
        raise _insufficient(customer=customer, amount=amount) from None
    return BalanceChange(entry=entry, created=True)


def _repeated(entry: BalanceEntry, *, customer_id: int, amount: Decimal) -> BalanceChange:
    if entry.customer_id != customer_id or entry.amount != amount:
        raise ApplicationError(
            "This source key names another balance change.",
            {"source_key": entry.source_key, "entry_id": entry.pk},
        )
    return BalanceChange(entry=entry, created=False)


def _insufficient(*, customer: Customer, amount: Decimal) -> InsufficientBalanceError:
    with translation.override(customer.language):
        return InsufficientBalanceError(
            _("Not enough money on your balance: %(balance)s, needed %(amount)s.")
            % {
                "balance": money_format(customer.balance, BALANCE_CURRENCY),
                "amount": money_format(-amount, BALANCE_CURRENCY),
            },
            {"customer_id": customer.pk, "balance": str(customer.balance), "amount": str(amount)},
        )
