"""The invariants the database holds on the billing tables: a violation raises, whatever
the code above it does."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Payment
from billing.tests.factories import PaymentFactory, WebhookEventFactory
from core.tests.helpers import violates

pytestmark = pytest.mark.django_db


def test_payment_amount_non_negative():
    assert violates(lambda: PaymentFactory(amount=Decimal("-1")))


def test_payment_provider_ref_unique_per_provider_when_set():
    PaymentFactory(provider="freekassa", provider_ref="abc")
    assert violates(lambda: PaymentFactory(provider="freekassa", provider_ref="abc"))
    PaymentFactory(provider="robokassa", provider_ref="abc")
    # Empty references do not collide.
    PaymentFactory(provider="freekassa", provider_ref="")
    PaymentFactory(provider="freekassa", provider_ref="")


def test_paid_payment_has_paid_at():
    payment = PaymentFactory()
    assert violates(lambda: Payment.objects.filter(pk=payment.pk).update(status="paid"))
    Payment.objects.filter(pk=payment.pk).update(status="paid", paid_at=timezone.now())


def test_webhook_event_processed_once_per_provider_event():
    WebhookEventFactory(event_key="15", processed=True)
    assert violates(lambda: WebhookEventFactory(event_key="15", processed=True))
    # Every delivery is still recorded: duplicates and rejects share the key freely.
    WebhookEventFactory(event_key="15", duplicate=True)
    WebhookEventFactory(event_key="15", rejected=True)
    WebhookEventFactory(provider="freekassa", event_key="15", processed=True)


def test_one_pending_payment_per_checkout():
    """Customer, tariff, renewed subscription (or none: a new one) and provider."""
    from subscriptions.tests.factories import SubscriptionFactory

    first = PaymentFactory(provider="robokassa")
    same = {"customer": first.customer, "tariff": first.tariff}
    assert violates(lambda: PaymentFactory(provider="robokassa", **same))
    PaymentFactory(provider="freekassa", **same)  # another method: another checkout
    PaymentFactory(provider="robokassa", status="cancelled", **same)
    subscription = SubscriptionFactory(customer=first.customer, tariff=first.tariff)
    PaymentFactory(subscription=subscription)  # a renewal is another checkout
    assert violates(lambda: PaymentFactory(subscription=subscription))
    Payment.objects.filter(pk=first.pk).update(status="paid", paid_at=timezone.now())
    PaymentFactory(provider="robokassa", **same)  # once paid, a new purchase may start
