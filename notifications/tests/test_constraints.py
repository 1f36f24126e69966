"""The invariants the database holds on the notifications tables: a violation raises, whatever
the code above it does."""

import pytest

from accounts.tests.factories import CustomerFactory
from core.tests.helpers import violates
from notifications.models import OutboxAudience
from notifications.tests.factories import OutboxMessageFactory

pytestmark = pytest.mark.django_db


def test_outbox_dedupe_key_unique_and_customer_messages_need_customer():
    customer = CustomerFactory()
    OutboxMessageFactory(customer=customer, dedupe_key="k")
    assert violates(lambda: OutboxMessageFactory(customer=customer, dedupe_key="k"))
    assert violates(lambda: OutboxMessageFactory(customer=None))
    OutboxMessageFactory(audience=OutboxAudience.ADMIN, customer=None)
