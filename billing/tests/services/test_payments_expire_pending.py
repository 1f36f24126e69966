from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import PaymentStatus
from billing.services.checkout_settle import payments_expire_pending
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def test_only_pending_payments_past_their_expiry_are_cancelled():
    now = timezone.now()
    due = PaymentFactory(expires_at=now - timedelta(minutes=1))
    fresh = PaymentFactory(expires_at=now + timedelta(minutes=1))
    paid = PaymentFactory(
        status=PaymentStatus.PAID, paid_at=now, expires_at=now - timedelta(days=1)
    )
    no_expiry = PaymentFactory(expires_at=None)
    assert payments_expire_pending(now=now) == 1
    assert payments_expire_pending(now=now) == 0  # idempotent
    for payment in (due, fresh, paid, no_expiry):
        payment.refresh_from_db()
    states = {p.pk: p.status for p in (due, fresh, paid, no_expiry)}
    assert states == {
        due.pk: PaymentStatus.CANCELLED,
        fresh.pk: PaymentStatus.PENDING,
        paid.pk: PaymentStatus.PAID,
        no_expiry.pk: PaymentStatus.PENDING,
    }
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_CANCELLED)
    assert audit.object_id == str(due.pk)


def test_limit_and_batches():
    now = timezone.now()
    for _ in range(5):
        PaymentFactory(expires_at=now - timedelta(minutes=1))
    assert payments_expire_pending(now=now, limit=3) == 3
    assert payments_expire_pending(now=now) == 2
