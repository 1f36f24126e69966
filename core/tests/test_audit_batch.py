"""audit_log_batch: the audit rows of a block leave in one INSERT when it ends."""

from contextlib import suppress
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from billing.tests.factories import PaymentFactory
from billing.tests.helpers import mark_paid
from core.models import AuditEvent, AuditLog
from core.services import audit_log_batch, audit_log_write

pytestmark = pytest.mark.django_db


def write(n: int) -> AuditLog:
    return audit_log_write(event_type=AuditEvent.PAYMENT_PAID, message=f"row {n}")


def audit_inserts(captured) -> list[str]:
    return [q["sql"] for q in captured if 'INTO "core_auditlog"' in q["sql"]]


def test_rows_are_written_together_when_the_block_ends_in_order():
    with CaptureQueriesContext(connection) as captured, transaction.atomic(), audit_log_batch():
        rows = [write(n) for n in range(3)]
        assert all(row.pk is None for row in rows)
        assert not AuditLog.objects.exists()
    assert len(audit_inserts(captured)) == 1
    assert [AuditLog.objects.get(pk=row.pk).message for row in rows] == [
        "row 0",
        "row 1",
        "row 2",
    ]


def test_a_block_left_by_an_exception_writes_nothing():
    def fail_after_writing():
        with audit_log_batch():
            write(1)
            raise RuntimeError("boom")

    # The test's own transaction stays open: only the missing INSERT can show here.
    with CaptureQueriesContext(connection) as captured, pytest.raises(RuntimeError):
        fail_after_writing()
    assert audit_inserts(captured) == []
    assert not AuditLog.objects.exists()


def test_outside_a_transaction_the_block_refuses(transactional_db):
    with pytest.raises(TransactionManagementError), audit_log_batch():
        pass


def test_a_nested_block_writes_its_rows_when_it_ends():
    with CaptureQueriesContext(connection) as captured, audit_log_batch():
        write(1)
        with audit_log_batch():
            write(2)
        assert AuditLog.objects.count() == 1  # the inner block's row
        write(3)
    assert len(audit_inserts(captured)) == 2
    assert AuditLog.objects.count() == 3


def test_a_row_written_inside_a_rolled_back_savepoint_is_not_kept():
    with audit_log_batch():
        write(1)
        with suppress(RuntimeError), transaction.atomic():
            write(2)  # a savepoint opened in the block: written at once...
            raise RuntimeError("inner step failed")  # ...and rolled back with it
        with transaction.atomic(savepoint=False):
            write(3)  # no savepoint of its own: waits for the block's end
        assert list(AuditLog.objects.values_list("message", flat=True)) == []
    assert sorted(AuditLog.objects.values_list("message", flat=True)) == ["row 1", "row 3"]


def test_outside_a_block_each_row_is_written_at_once():
    row = write(1)
    assert row.pk is not None
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_a_credit_writes_its_audit_rows_in_one_insert(tariff):
    payment = PaymentFactory(tariff=tariff, amount=Decimal("299.00"))
    with CaptureQueriesContext(connection) as captured:
        mark_paid(payment)
    assert len(audit_inserts(captured)) == 1
    assert sorted(AuditLog.objects.values_list("event_type", flat=True)) == sorted(
        [AuditEvent.PAYMENT_PAID, AuditEvent.SUBSCRIPTION_CREATED]
    )
