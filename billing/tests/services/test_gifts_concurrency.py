"""Gifts under real concurrency (PostgreSQL threads): a storm of one gift payment's
notification makes one gift; 50 people redeeming one code at once get one redemption."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import Gift, GiftStatus, PaymentPurpose, PaymentStatus
from billing.services.gifts import gift_redeem
from billing.tests.apis.test_webhook_concurrency import THREADS, deliver_in_parallel
from billing.tests.factories import GiftFactory, PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from notifications.models import OutboxMessage
from subscriptions.models import Subscription

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("billing_providers")]


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_deliveries_of_a_gift_payment_make_one_gift(on_postgres):
    payment = PaymentFactory(
        purpose=PaymentPurpose.GIFT, expires_at=timezone.now() + timedelta(hours=1)
    )
    results, sends = deliver_in_parallel(ROBOKASSA_URL, robokassa_params(payment.pk), {})
    assert results == [(200, f"OK{payment.pk}")] * THREADS
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert Gift.objects.filter(payment=payment).count() == 1
    assert not Subscription.objects.exists()
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    # The buyer's code once, the admins' notice once per chat; no keys to place.
    assert OutboxMessage.objects.filter(kind="gift-created").count() == 1
    assert sends["place"] == []
    assert len(sends["send"]) == 3


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_redemptions_redeem_once(on_postgres):
    gift = GiftFactory()
    recipients = [CustomerFactory() for _ in range(50)]
    refusals: list[str] = []

    def redeem(customer):
        def call():
            try:
                gift_redeem(customer=customer, code=gift.code)
            except ApplicationError as exc:
                refusals.append(exc.extra["reason"])

        return call

    errors = run_concurrently([redeem(customer) for customer in recipients])
    assert errors == []
    assert refusals == ["redeemed"] * 49
    gift.refresh_from_db()
    assert gift.status == GiftStatus.REDEEMED
    subscription = Subscription.objects.get()
    assert subscription.customer == gift.redeemed_by
    assert gift.subscription == subscription
    assert OutboxMessage.objects.filter(kind="gift-redeemed").count() == 1
