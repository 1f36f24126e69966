from datetime import timedelta
from decimal import Decimal

import factory
from django.db.models import Max
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from subscriptions.models import Device, Subscription, SubscriptionStatus, Tariff
from subscriptions.traffic_periods import traffic_reset_next


class TariffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tariff

    name = factory.Sequence(lambda n: f"Tariff {n}")
    duration_days = 30
    price = Decimal("299.00")
    device_limit = 3
    hwid_device_limit = 0
    traffic_limit_gb = 0
    node_count = 1


def _next_number(customer) -> int:
    if customer.pk is None:  # built, not saved
        return 1
    last = Subscription.objects.filter(customer=customer).aggregate(n=Max("number"))["n"]
    return (last or 0) + 1


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    tariff = factory.SubFactory(TariffFactory)
    # The customer's next number, as `subscription_create` assigns it.
    number = factory.LazyAttribute(lambda o: _next_number(o.customer))
    status = SubscriptionStatus.ACTIVE
    started_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(days=30))
    device_limit = factory.SelfAttribute("tariff.device_limit")
    hwid_device_limit = factory.SelfAttribute("tariff.hwid_device_limit")
    traffic_limit_bytes = factory.LazyAttribute(lambda o: o.tariff.traffic_limit_bytes)
    traffic_reset = factory.SelfAttribute("tariff.traffic_reset")
    traffic_reset_next_at = factory.LazyAttribute(
        lambda o: traffic_reset_next(
            period=o.traffic_reset, anchor=o.started_at, after=o.started_at
        )
    )


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    subscription = factory.SubFactory(SubscriptionFactory)
    hwid = factory.Sequence(lambda n: f"hwid-{n:08d}")
    os = "Android"
    os_version = "14"
    model = factory.Sequence(lambda n: f"Pixel {n}")
    user_agent = "Happ/3.19.1/Android"
    last_seen_at = factory.LazyFunction(timezone.now)
