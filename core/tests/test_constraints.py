"""The invariants the database holds on the core tables: a violation raises, whatever
the code above it does."""

import pytest

from core.tests.factories import AuditLogFactory

pytestmark = pytest.mark.django_db


def test_audit_log_is_append_only():
    row = AuditLogFactory(message="x")
    row.message = "changed"
    with pytest.raises(ValueError, match="append-only"):
        row.save()
