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


def test_customer_balance_never_below_zero():
    from accounts.models import Customer
    from accounts.tests.factories import CustomerFactory

    customer = CustomerFactory()
    assert violates(
        lambda: Customer.objects.filter(pk=customer.pk).update(balance=Decimal("-0.01"))
    )
    Customer.objects.filter(pk=customer.pk).update(balance=Decimal("0"))


def test_balance_entry_source_key_unique():
    from billing.tests.factories import BalanceEntryFactory

    BalanceEntryFactory(source_key="payment:1")
    assert violates(lambda: BalanceEntryFactory(source_key="payment:1"))


def test_balance_entry_balance_after_never_below_zero_and_amount_not_zero():
    from billing.tests.factories import BalanceEntryFactory

    assert violates(lambda: BalanceEntryFactory(amount=Decimal("-5"), balance_after=Decimal("-5")))
    assert violates(lambda: BalanceEntryFactory(amount=Decimal("0"), balance_after=Decimal("0")))
    BalanceEntryFactory(amount=Decimal("-5"), balance_after=Decimal("0"))


def test_payment_purpose_matches_tariff():
    payment = PaymentFactory()
    # A subscription payment needs its tariff; a top-up has none (and no subscription).
    assert violates(lambda: Payment.objects.filter(pk=payment.pk).update(purpose="top_up"))
    assert violates(lambda: PaymentFactory(tariff=None, amount=Decimal("100")))
    PaymentFactory(top_up=True)
