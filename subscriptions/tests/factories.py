from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.traffic_periods import traffic_reset_next


class TariffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tariff

    name = factory.Sequence(lambda n: f"Tariff {n}")
    duration_days = 30
    price = Decimal("299.00")
    device_limit = 3
    traffic_limit_gb = 0
    node_count = 1


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    tariff = factory.SubFactory(TariffFactory)
    status = SubscriptionStatus.ACTIVE
    started_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(days=30))
    device_limit = factory.SelfAttribute("tariff.device_limit")
    traffic_limit_bytes = factory.LazyAttribute(lambda o: o.tariff.traffic_limit_bytes)
    traffic_reset = factory.SelfAttribute("tariff.traffic_reset")
    traffic_reset_next_at = factory.LazyAttribute(
        lambda o: traffic_reset_next(
            period=o.traffic_reset, anchor=o.started_at, after=o.started_at
        )
    )
