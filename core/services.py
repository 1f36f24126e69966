from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.transaction import TransactionManagementError

from core.models import AuditEvent, AuditLog
from core.sql import row_insert, rows_insert


def model_update(*, instance: models.Model, data: dict[str, Any]) -> tuple[models.Model, bool]:
    """Set the given fields, validate and save only those that changed (HackSoft model_update)."""
    changed = [name for name, value in data.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, data[name])
    if changed:
        instance.full_clean()
        update_fields = [*changed]
        if any(f.name == "updated_at" for f in instance._meta.get_fields()):
            update_fields.append("updated_at")
        instance.save(update_fields=update_fields)
    return instance, bool(changed)


def audit_log_write(
    *,
    event_type: AuditEvent,
    obj: models.Model | None = None,
    acting_user=None,
    actor_label: str = "",
    customer_id: int | None = None,
    message: str = "",
    extra_data: dict | None = None,
) -> AuditLog:
    """Append one audit row, in the caller's transaction (one bound INSERT, ``core.sql``).

    Inside ``audit_log_batch`` the row is written with the block's others when it ends, and
    the instance returned has no primary key yet.
    """
    row = AuditLog(
        event_type=event_type,
        acting_user=acting_user if getattr(acting_user, "pk", None) else None,
        actor_label=actor_label or ("" if getattr(acting_user, "pk", None) else "system"),
        customer_id=customer_id,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        message=message[:500],
        extra_data=extra_data or {},
    )
    batch = _audit_batch.get()
    if batch is not None and batch.takes_now():
        batch.rows.append(row)
        return row
    return row_insert(row)


class _AuditBatch:
    def __init__(self, connection) -> None:
        self.connection = connection
        self.savepoints = self._savepoints()
        self.rows: list[AuditLog] = []

    def _savepoints(self) -> tuple[str, ...]:
        # atomic(savepoint=False) records None: it opens no savepoint of its own.
        return tuple(sid for sid in self.connection.savepoint_ids if sid is not None)

    def takes_now(self) -> bool:
        """Only rows written under the savepoints the block began in wait for its end: a
        row written inside a savepoint opened since then is written at once, so rolling
        that savepoint back takes the row with it."""
        return self._savepoints() == self.savepoints


_audit_batch: ContextVar[_AuditBatch | None] = ContextVar("audit_batch", default=None)


@contextmanager
def audit_log_batch(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Write the audit rows of the block with one INSERT when it ends.

    For a service that writes several rows in one transaction (a payment's credit writes the
    subscription's and the payment's). The block must run inside that transaction, so the
    rows still commit or roll back with the change; rows written inside a savepoint opened
    in the block are written at once (see ``_AuditBatch.takes_now``). A block left by an
    exception writes nothing (its transaction is rolling back). A nested block writes its
    own rows when it ends.
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        raise TransactionManagementError("audit_log_batch runs inside a transaction")
    batch = _AuditBatch(connection)
    token = _audit_batch.set(batch)
    try:
        yield
    finally:
        _audit_batch.reset(token)
    rows_insert(batch.rows, using=using)
