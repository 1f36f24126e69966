"""The invariants the database holds on the billing tables: a violation raises, whatever
the code above it does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Payment, PromoKind
from billing.tests.factories import (
    PaymentFactory,
    PromoCodeFactory,
    PromoRedemptionFactory,
    WebhookEventFactory,
)
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


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": PromoKind.PERCENT, "percent": 0},
        {"kind": PromoKind.PERCENT, "percent": 101},
        {"kind": PromoKind.PERCENT, "percent": None},
        {"kind": PromoKind.AMOUNT, "percent": None, "amount": Decimal("-1")},
        {"kind": PromoKind.AMOUNT, "percent": None, "amount": None},
        {"kind": PromoKind.DAYS, "percent": None, "days": 0},
        {"kind": PromoKind.FREE_DAYS, "percent": None, "days": 0},
        {"kind": PromoKind.FREE_TARIFF, "percent": None},
        {"valid_from": timezone.now(), "valid_until": timezone.now() - timedelta(days=1)},
    ],
)
def test_promo_code_needs_a_sane_value(fields):
    assert violates(lambda: PromoCodeFactory(**fields))


@pytest.mark.parametrize("fields", [{"percent": 1}, {"percent": 100}])
def test_promo_code_percent_bounds_are_allowed(fields):
    assert not violates(lambda: PromoCodeFactory(**fields))


def test_promo_one_counted_use_per_customer_of_a_once_code():
    redemption = PromoRedemptionFactory()
    same = {"promo": redemption.promo, "customer": redemption.customer}
    # A released use does not count; a code for many uses is not limited here.
    assert not violates(lambda: PromoRedemptionFactory(**same, status="released"))
    assert violates(lambda: PromoRedemptionFactory(**same, status="reserved"))
    many = PromoRedemptionFactory(promo__once_per_customer=False)
    again = {"promo": many.promo, "customer": many.customer}
    assert not violates(lambda: PromoRedemptionFactory(**again))


def test_promo_payment_keeps_its_price_before():
    promo = PromoCodeFactory()
    assert violates(lambda: PaymentFactory(promo=promo, price_before_promo=None))
    assert violates(
        lambda: PaymentFactory(
            promo=promo, amount=Decimal("300"), price_before_promo=Decimal("299")
        )
    )
    assert not violates(
        lambda: PaymentFactory(
            promo=promo, amount=Decimal("0.01"), price_before_promo=Decimal("299")
        )
    )


def test_promo_redemption_discount_non_negative():
    assert violates(lambda: PromoRedemptionFactory(discount=Decimal("-0.01")))
