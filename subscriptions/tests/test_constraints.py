"""The invariants the database holds on the subscriptions tables: a violation raises, whatever
the code above it does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.tests.helpers import violates
from subscriptions.models import Tariff
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def test_tariff_price_non_negative():
    assert violates(lambda: TariffFactory(price=Decimal("-0.01")))


def test_tariff_stars_price_positive_or_empty():
    assert violates(lambda: TariffFactory(price_stars=0))
    assert not violates(lambda: TariffFactory(price_stars=None))
    assert not violates(lambda: TariffFactory(price_stars=1))


def test_tariff_duration_positive():
    assert violates(lambda: TariffFactory(duration_days=0))


def test_tariff_price_is_decimal():
    tariff = TariffFactory(price=Decimal("299.99"))
    tariff.refresh_from_db()
    assert tariff.price == Decimal("299.99")
    assert isinstance(tariff.price, Decimal)
    assert Tariff._meta.get_field("price").decimal_places == 2


def test_subscription_identity_fields_unique():
    first = SubscriptionFactory()
    for field in ("client_uuid", "sub_id", "feed_token"):
        assert violates(lambda f=field: SubscriptionFactory(**{f: getattr(first, f)})), field


def test_subscription_cannot_expire_before_start():
    now = timezone.now()
    assert violates(lambda: SubscriptionFactory(started_at=now, expires_at=now - timedelta(1)))


def test_a_subscription_that_resets_traffic_always_knows_its_next_reset():
    from subscriptions.models import TrafficReset

    assert violates(
        lambda: SubscriptionFactory(traffic_reset=TrafficReset.MONTH, traffic_reset_next_at=None)
    )
    assert violates(
        lambda: SubscriptionFactory(
            traffic_reset=TrafficReset.NEVER, traffic_reset_next_at=timezone.now()
        )
    )
    assert SubscriptionFactory(tariff=TariffFactory(traffic_reset=TrafficReset.WEEK)).pk
