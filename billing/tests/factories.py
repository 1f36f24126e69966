from datetime import timedelta

import factory
from django.db.models import Max
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import (
    BalanceEntry,
    BalanceEntryKind,
    Gift,
    GiftStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    PromoCode,
    PromoKind,
    PromoRedemption,
    PromoRedemptionStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from subscriptions.tests.factories import TariffFactory


def _next_number(customer) -> int:
    if customer.pk is None:  # built, not saved
        return 1
    last = Payment.objects.filter(customer=customer).aggregate(n=Max("number"))["n"]
    return (last or 0) + 1


class PaymentFactory(factory.django.DjangoModelFactory):
    """A new purchase; given a `subscription`, a renewal of it (its customer, its tariff)."""

    class Meta:
        model = Payment

    subscription = None
    customer = factory.Maybe(
        "subscription",
        factory.SelfAttribute("subscription.customer"),
        factory.SubFactory(CustomerFactory),
    )
    tariff = factory.Maybe(
        "subscription",
        factory.SelfAttribute("subscription.tariff"),
        factory.SubFactory(TariffFactory),
    )
    # The customer's next number, as `payment_create` assigns it.
    number = factory.LazyAttribute(lambda o: _next_number(o.customer))
    provider = "robokassa"
    amount = factory.Maybe(
        "tariff", factory.SelfAttribute("tariff.price"), factory.LazyFunction(lambda: 500)
    )
    currency = "RUB"

    class Params:
        # A balance top-up: no tariff, no subscription (``PaymentFactory(top_up=True)``).
        top_up = factory.Trait(purpose=PaymentPurpose.TOP_UP, tariff=None, subscription=None)


class BalanceEntryFactory(factory.django.DjangoModelFactory):
    """A ledger row as an operator's adjustment would write it. It does not move
    ``Customer.balance``: services do (``billing.services.ledger``); tests of the ledger
    use them."""

    class Meta:
        model = BalanceEntry

    customer = factory.SubFactory(CustomerFactory)
    amount = 100
    balance_after = factory.SelfAttribute("amount")
    kind = BalanceEntryKind.ADJUSTMENT
    source_key = factory.Sequence(lambda n: f"test:{n}")
    reason = "test"


class GiftFactory(factory.django.DjangoModelFactory):
    """An active gift of a paid gift payment (redeem it with ``gift_redeem``)."""

    class Meta:
        model = Gift

    payment = factory.SubFactory(
        PaymentFactory,
        purpose=PaymentPurpose.GIFT,
        status=PaymentStatus.PAID,
        paid_at=factory.LazyFunction(timezone.now),
    )
    code = factory.Sequence(lambda n: f"GFT{n:09d}".replace("0", "A").replace("1", "B"))
    status = GiftStatus.ACTIVE
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=180))


class WebhookEventFactory(factory.django.DjangoModelFactory):
    """A stored delivery, RECEIVED by default; the traits give it an outcome
    (``WebhookEventFactory(failed=True)``). Its event key is its payment's id, or a fresh
    number, so PROCESSED events never collide on "one processed event per key"."""

    class Meta:
        model = WebhookEvent

    provider = "robokassa"
    payment = None
    event_key = factory.LazyAttributeSequence(
        lambda o, n: str(o.payment.pk) if o.payment is not None else str(900_000 + n)
    )
    method = "POST"
    remote_ip = "203.0.113.10"
    headers = factory.LazyFunction(lambda: {"Content-Type": "application/x-www-form-urlencoded"})
    status = WebhookEventStatus.RECEIVED

    class Params:
        processed = factory.Trait(
            status=WebhookEventStatus.PROCESSED,
            verified=True,
            outcome="credited",
            processed_at=factory.LazyFunction(timezone.now),
        )
        duplicate = factory.Trait(
            status=WebhookEventStatus.DUPLICATE,
            verified=True,
            outcome="already_paid",
            processed_at=factory.LazyFunction(timezone.now),
        )
        rejected = factory.Trait(
            status=WebhookEventStatus.REJECTED,
            outcome="signature_mismatch",
            processed_at=factory.LazyFunction(timezone.now),
        )
        failed = factory.Trait(
            status=WebhookEventStatus.FAILED,
            outcome="internal_error",
            error="RuntimeError: boom",
            processed_at=factory.LazyFunction(timezone.now),
        )


class PromoCodeFactory(factory.django.DjangoModelFactory):
    """A 10 % discount code, once per customer, no other limit."""

    class Meta:
        model = PromoCode

    code = factory.Sequence(lambda n: f"PROMO{n}")
    kind = PromoKind.PERCENT
    percent = 10


class PromoRedemptionFactory(factory.django.DjangoModelFactory):
    """A used redemption of a fresh code by a fresh customer, without a payment."""

    class Meta:
        model = PromoRedemption

    promo = factory.SubFactory(PromoCodeFactory)
    customer = factory.SubFactory(CustomerFactory)
    status = PromoRedemptionStatus.USED
    once = factory.SelfAttribute("promo.once_per_customer")
