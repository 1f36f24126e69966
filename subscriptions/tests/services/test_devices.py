"""Devices by hardware id: the feed's upsert (and its races), the subscriber's removal with its
cooldown, the operator's reset."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from subscriptions import views
from subscriptions.devices import DeviceHeaders
from subscriptions.models import Device, SubscriptionStatus
from subscriptions.selectors import (
    DEVICE_REMOVAL_WINDOW,
    device_removals_get,
    feed_device_refused,
    subscription_by_feed_token,
)
from subscriptions.services.devices import (
    DEVICE_SEEN_REFRESH,
    device_record,
    device_remove,
    subscription_devices_reset,
)
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def _subscription(limit: int, **kwargs):
    return SubscriptionFactory(tariff=TariffFactory(hwid_device_limit=limit), **kwargs)


def _read(subscription, hwid: str):
    """What the feed reads for one request."""
    return subscription_by_feed_token(token=subscription.feed_token, hwid=hwid)


class TestRecord:
    def test_the_tariffs_limit_is_snapshotted_into_the_subscription(self, customer):
        from subscriptions.services.lifecycle import subscription_create

        tariff = TariffFactory(hwid_device_limit=2)
        subscription = subscription_create(customer=customer, tariff=tariff)
        tariff.hwid_device_limit = 9
        tariff.save()
        subscription.refresh_from_db()
        assert subscription.hwid_device_limit == 2

    def test_the_read_tells_the_count_and_whether_the_device_is_known(self):
        subscription = _subscription(limit=3)
        seen = timezone.now() - timedelta(minutes=5)
        DeviceFactory(subscription=subscription, hwid="known-aaa", last_seen_at=seen)
        DeviceFactory(subscription=subscription)
        DeviceFactory(hwid="known-aaa")  # the same id on another subscription
        known, new = _read(subscription, "known-aaa"), _read(subscription, "new-bbbb")
        assert (known.device_count, known.device_seen_at) == (2, seen)
        assert (new.device_count, new.device_seen_at) == (2, None)
        assert not hasattr(_read(subscription, ""), "device_seen_at")

    def test_racing_requests_of_one_new_device_make_one_row(self):
        subscription = _subscription(limit=2)
        first, second = _read(subscription, "same-device"), _read(subscription, "same-device")
        assert [feed_device_refused(first), feed_device_refused(second)] == [False, False]
        now = timezone.now()
        assert device_record(
            subscription=first, device=DeviceHeaders(hwid="same-device", model="A"), now=now
        )
        assert device_record(
            subscription=second,
            device=DeviceHeaders(hwid="same-device", model="B"),
            now=now + timedelta(seconds=1),
        )
        device = Device.objects.get(subscription=subscription)
        assert device.model == "B"
        assert device.created_at == now  # first seen is the first write

    def test_two_new_devices_racing_for_the_last_place_overshoot_by_one_and_no_more(self):
        subscription = _subscription(limit=2)
        DeviceFactory(subscription=subscription)
        reads = [_read(subscription, hwid) for hwid in ("racer-one", "racer-two")]
        assert [feed_device_refused(read) for read in reads] == [False, False]
        for read, hwid in zip(reads, ("racer-one", "racer-two"), strict=True):
            device_record(subscription=read, device=DeviceHeaders(hwid=hwid))
        assert Device.objects.filter(subscription=subscription).count() == 3
        # The overshoot stops there: the next new device is refused, the racers are served.
        assert feed_device_refused(_read(subscription, "latecomer"))
        assert not feed_device_refused(_read(subscription, "racer-two"))

    def test_a_fresh_device_is_not_written_a_stale_one_is(self):
        subscription = _subscription(limit=1)
        now = timezone.now()
        DeviceFactory(subscription=subscription, hwid="my-phone", last_seen_at=now)
        device = DeviceHeaders(hwid="my-phone")
        later = now + DEVICE_SEEN_REFRESH - timedelta(seconds=1)
        assert not device_record(
            subscription=_read(subscription, "my-phone"), device=device, now=later
        )
        assert device_record(
            subscription=_read(subscription, "my-phone"),
            device=device,
            now=now + DEVICE_SEEN_REFRESH,
        )
        assert Device.objects.get().last_seen_at == now + DEVICE_SEEN_REFRESH


@pytest.mark.django_db(transaction=True)
class TestRacesThroughTheFeed:
    """Real concurrent requests (PostgreSQL): both read before either writes."""

    def _race(self, subscription, hwids):
        barrier = threading.Barrier(len(hwids))
        real = views.device_record

        def record_after_every_read(**kwargs):
            barrier.wait(timeout=10)
            return real(**kwargs)

        def fetch(hwid):
            return lambda: Client().get(
                f"/sub/{subscription.feed_token}", HTTP_USER_AGENT="Happ/3.19.1", HTTP_X_HWID=hwid
            )

        with mock.patch.object(views, "device_record", record_after_every_read):
            assert run_concurrently([fetch(hwid) for hwid in hwids]) == []

    def test_one_new_device_twice_at_once_is_one_row(self, on_postgres):
        subscription = _subscription(limit=1)
        self._race(subscription, ["twin-device", "twin-device"])
        assert Device.objects.filter(subscription=subscription).count() == 1
        assert connection.vendor == "postgresql"

    def test_two_new_devices_at_once_for_the_last_place(self, on_postgres):
        subscription = _subscription(limit=2)
        DeviceFactory(subscription=subscription)
        self._race(subscription, ["racer-one", "racer-two"])
        assert Device.objects.filter(subscription=subscription).count() == 3
        assert feed_device_refused(_read(subscription, "latecomer"))


class TestRemove:
    @pytest.fixture(autouse=True)
    def _per_day(self, settings):
        settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 2

    def test_removes_the_device_and_audits_it(self):
        subscription = _subscription(limit=2)
        device = DeviceFactory(subscription=subscription, model="Pixel 8")
        removed = device_remove(
            customer=subscription.customer, subscription_id=subscription.pk, device_id=device.pk
        )
        assert removed.label == "Pixel 8"
        assert (removed.removals.left, removed.removals.used) == (1, 1)
        assert not Device.objects.exists()
        audit = AuditLog.objects.get(event_type=AuditEvent.DEVICE_REMOVED)
        assert (audit.actor, audit.customer_id, audit.object_id) == (
            "bot",
            subscription.customer_id,
            str(subscription.pk),
        )
        assert audit.extra_data["hwid"] == device.hwid

    def test_the_cooldown_refuses_more_than_the_daily_number_and_says_when(self):
        subscription = _subscription(limit=5)
        subscription.customer.language = "en"
        subscription.customer.save()
        devices = [DeviceFactory(subscription=subscription) for _ in range(3)]
        for device in devices[:2]:
            device_remove(
                customer=subscription.customer, subscription_id=subscription.pk, device_id=device.pk
            )
        first = AuditLog.objects.order_by("event_time").first().event_time
        with pytest.raises(ApplicationError, match=r"You can remove 2 devices a day\.") as exc:
            device_remove(
                customer=subscription.customer,
                subscription_id=subscription.pk,
                device_id=devices[2].pk,
            )
        assert "The next one is possible after" in exc.value.message
        assert exc.value.extra["next_at"] == (first + DEVICE_REMOVAL_WINDOW).isoformat()
        assert Device.objects.filter(pk=devices[2].pk).exists()
        assert AuditLog.objects.count() == 2
        # Once the first removal is 24 hours old, one more is allowed.
        device_remove(
            customer=subscription.customer,
            subscription_id=subscription.pk,
            device_id=devices[2].pk,
            now=first + DEVICE_REMOVAL_WINDOW,
        )
        assert not Device.objects.exists()

    def test_the_refusal_speaks_russian_to_a_russian_customer(self):
        subscription = _subscription(limit=5)
        devices = [DeviceFactory(subscription=subscription) for _ in range(3)]
        for device in devices[:2]:
            device_remove(
                customer=subscription.customer, subscription_id=subscription.pk, device_id=device.pk
            )
        with pytest.raises(ApplicationError, match="Удалять можно 2 устройства в сутки"):
            device_remove(
                customer=subscription.customer,
                subscription_id=subscription.pk,
                device_id=devices[2].pk,
            )

    def test_zero_switches_the_cooldown_off(self, settings):
        settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 0
        subscription = _subscription(limit=5)
        for device in [DeviceFactory(subscription=subscription) for _ in range(5)]:
            removed = device_remove(
                customer=subscription.customer, subscription_id=subscription.pk, device_id=device.pk
            )
            assert removed.removals.left is None
        assert not Device.objects.exists()

    def test_the_cooldown_is_per_subscription_and_an_operators_reset_does_not_count(self):
        customer = CustomerFactory(language="en")
        first, second = _subscription(limit=5, customer=customer), _subscription(limit=5)
        for device in [DeviceFactory(subscription=first) for _ in range(2)]:
            device_remove(customer=customer, subscription_id=first.pk, device_id=device.pk)
        DeviceFactory(subscription=second)
        subscription_devices_reset(subscription=second, actor=UserFactory(), reason="x")
        now = timezone.now()
        assert device_removals_get(subscription=first, now=now).left == 0
        removals = device_removals_get(subscription=second, now=now)
        assert (removals.used, removals.left) == (0, 2)

    @pytest.mark.parametrize("whose", ["another customer", "another subscription", "cancelled"])
    def test_only_the_customers_own_device_is_removed(self, whose):
        subscription = _subscription(limit=2)
        subscription.customer.language = "en"
        subscription.customer.save()
        device = DeviceFactory(subscription=subscription)
        customer, subscription_id, device_id = subscription.customer, subscription.pk, device.pk
        if whose == "another customer":
            customer = CustomerFactory(language="en")
            expected = "This subscription was not found."
        elif whose == "another subscription":
            device_id = DeviceFactory(subscription=_subscription(limit=2)).pk
            expected = "This device is no longer in the list."
        else:
            subscription.status = SubscriptionStatus.CANCELLED
            subscription.save()
            expected = "This subscription was not found."
        with pytest.raises(ApplicationError, match=expected):
            device_remove(customer=customer, subscription_id=subscription_id, device_id=device_id)
        assert Device.objects.count() == (2 if whose == "another subscription" else 1)
        assert not AuditLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_removals_at_once_never_pass_the_daily_number(on_postgres, settings):
    settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 1
    subscription = _subscription(limit=5)
    devices = [DeviceFactory(subscription=subscription) for _ in range(2)]

    def remove(device):
        return lambda: device_remove(
            customer=subscription.customer, subscription_id=subscription.pk, device_id=device.pk
        )

    errors = run_concurrently([remove(devices[0]), remove(devices[1])])
    assert [type(error) for error in errors] == [ApplicationError]
    assert Device.objects.filter(subscription=subscription).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.DEVICE_REMOVED).count() == 1


class TestReset:
    def test_removes_every_device_and_audits_them(self):
        operator = UserFactory(username="op")
        subscription = _subscription(limit=2)
        devices = [DeviceFactory(subscription=subscription) for _ in range(2)]
        other = DeviceFactory()
        assert (
            subscription_devices_reset(
                subscription=subscription, actor=operator, reason="new phone"
            )
            == 2
        )
        assert list(Device.objects.all()) == [other]
        audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
        assert audit.acting_user == operator
        assert audit.extra_data["action"] == "subscription_devices_reset"
        assert [d["id"] for d in audit.extra_data["devices"]] == [d.pk for d in devices]
        assert "new phone" in audit.message
        # The subscriber's daily removals are untouched by it.
        assert device_removals_get(subscription=subscription, now=timezone.now()).used == 0

    def test_a_subscription_without_devices_is_refused_and_nothing_is_written(self):
        with pytest.raises(ApplicationError, match="has no devices to reset"):
            subscription_devices_reset(subscription=_subscription(limit=1), actor=UserFactory())
        assert not AuditLog.objects.exists()
