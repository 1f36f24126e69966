"""The core factories build rows the models accept."""

import pytest

from accounts.tests.factories import CustomerFactory, UserFactory
from core.models import AuditEvent
from core.tests.factories import AuditLogFactory

pytestmark = pytest.mark.django_db


def test_audit_log_factory():
    row = AuditLogFactory()
    row.full_clean()
    assert (row.event_type, row.actor) == (AuditEvent.ADMIN_ACTION, "system")
    operator, customer = UserFactory(), CustomerFactory()
    row = AuditLogFactory(
        event_type=AuditEvent.CUSTOMER_BANNED, acting_user=operator, customer=customer
    )
    row.full_clean()
    assert row.actor == str(operator)
