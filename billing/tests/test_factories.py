"""The billing factories build rows the models accept."""

import pytest

from billing.models import WebhookEventStatus
from billing.tests.factories import (
    PaymentFactory,
    PromoCodeFactory,
    PromoRedemptionFactory,
    WebhookEventFactory,
)
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("trait", "status"),
    [
        ({}, WebhookEventStatus.RECEIVED),
        ({"processed": True}, WebhookEventStatus.PROCESSED),
        ({"duplicate": True}, WebhookEventStatus.DUPLICATE),
        ({"rejected": True}, WebhookEventStatus.REJECTED),
        ({"failed": True}, WebhookEventStatus.FAILED),
    ],
)
def test_webhook_event_factory(trait, status):
    event = WebhookEventFactory(**trait)
    event.full_clean()
    assert event.status == status
    assert (event.processed_at is None) == (status == WebhookEventStatus.RECEIVED)


def test_processed_events_of_different_payments_never_collide():
    events = [WebhookEventFactory(processed=True) for _ in range(3)]
    assert len({event.event_key for event in events}) == 3
    payment = PaymentFactory()
    assert WebhookEventFactory(processed=True, payment=payment).event_key == str(payment.pk)


def test_payment_factory():
    PaymentFactory().full_clean()
    renewal = PaymentFactory(subscription=SubscriptionFactory())
    renewal.full_clean()
    assert renewal.customer == renewal.subscription.customer
    assert renewal.tariff == renewal.subscription.tariff


def test_promo_factories():
    promo = PromoCodeFactory()
    promo.full_clean()
    redemption = PromoRedemptionFactory(promo=promo)
    redemption.full_clean()
    assert redemption.once is promo.once_per_customer
