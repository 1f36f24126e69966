"""Devices (hardware ids) in the console: listed on the subscription's page, reset by an action
that asks a reason and audits it; "support" sees them but cannot reset; the tariff's limit is
edited with the tariff."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.tests.admin.conftest import action
from core.models import AuditEvent, AuditLog
from core.tests.helpers import levels, texts
from subscriptions.models import Device, Tariff
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = reverse("admin:subscriptions_subscription_changelist")


def _page(client, subscription):
    return client.get(reverse("admin:subscriptions_subscription_change", args=[subscription.pk]))


@pytest.mark.parametrize("client_fixture", ["as_superuser", "as_support", "as_operator"])
def test_devices_are_listed_read_only_on_the_subscription_page(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    subscription = SubscriptionFactory(tariff=TariffFactory(hwid_device_limit=3))
    DeviceFactory(subscription=subscription, model="ELP-NX1", hwid="5f3a9c1e7b2d4a60")
    DeviceFactory(model="Someone else's phone")
    page = _page(client, subscription)
    assert page.status_code == 200
    content = page.content.decode()
    assert "ELP-NX1" in content
    assert "5f3a9c1e7b2d4a60" in content
    assert "Someone else" not in content
    assert "devices-TOTAL_FORMS" in content  # the inline
    assert 'name="devices-0-model"' not in content  # read-only
    assert "Device limit (hardware id)" in content


def test_the_page_reads_devices_in_one_query_however_many(as_superuser):
    subscription = SubscriptionFactory()
    DeviceFactory(subscription=subscription)
    _page(as_superuser, subscription)  # warm per-process caches
    with CaptureQueriesContext(connection) as few:
        _page(as_superuser, subscription)
    for _ in range(10):
        DeviceFactory(subscription=subscription)
    with CaptureQueriesContext(connection) as many:
        _page(as_superuser, subscription)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_reset_asks_a_reason_then_removes_every_device_and_audits(as_superuser, superuser):
    subscription = SubscriptionFactory()
    for _ in range(2):
        DeviceFactory(subscription=subscription)
    kept = DeviceFactory()
    page = action(as_superuser, SUBSCRIPTIONS, "reset_devices_selected", [subscription.pk])
    assert page.status_code == 200
    assert b'name="reason"' in page.content

    response = action(
        as_superuser,
        SUBSCRIPTIONS,
        "reset_devices_selected",
        [subscription.pk],
        reason="new phone",
    )
    assert response.status_code == 302
    assert "Reset the devices of 1 subscription(s)." in texts(response)[0]
    assert list(Device.objects.all()) == [kept]
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert (audit.acting_user, audit.object_id) == (superuser, str(subscription.pk))
    assert audit.extra_data["action"] == "subscription_devices_reset"


def test_reset_of_a_subscription_without_devices_is_an_error(as_superuser):
    subscription = SubscriptionFactory()
    response = action(
        as_superuser, SUBSCRIPTIONS, "reset_devices_selected", [subscription.pk], reason="x"
    )
    assert levels(response) == ["error"]
    assert "has no devices to reset" in texts(response)[0]
    assert not AuditLog.objects.exists()


def test_support_cannot_reset_devices(as_support):
    subscription = SubscriptionFactory()
    DeviceFactory(subscription=subscription)
    assert b"reset_devices_selected" not in as_support.get(SUBSCRIPTIONS).content
    action(as_support, SUBSCRIPTIONS, "reset_devices_selected", [subscription.pk], reason="x")
    assert Device.objects.filter(subscription=subscription).exists()
    assert not AuditLog.objects.exists()


def test_operators_can_reset_devices(as_operator):
    subscription = SubscriptionFactory()
    DeviceFactory(subscription=subscription)
    assert b"reset_devices_selected" in as_operator.get(SUBSCRIPTIONS).content
    action(as_operator, SUBSCRIPTIONS, "reset_devices_selected", [subscription.pk], reason="x")
    assert not Device.objects.exists()


def test_the_tariffs_hardware_id_limit_is_edited_and_listed(as_superuser):
    response = as_superuser.post(
        reverse("admin:subscriptions_tariff_add"),
        {
            "name": "Family",
            "duration_days": "30",
            "price": "499.00",
            "currency": "RUB",
            "device_limit": "5",
            "hwid_device_limit": "5",
            "traffic_limit_gb": "0",
            "traffic_reset": "never",
            "node_count": "1",
            "sort_order": "0",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert Tariff.objects.get(name="Family").hwid_device_limit == 5
    listing = as_superuser.get(reverse("admin:subscriptions_tariff_changelist"))
    assert "Device limit (hardware id)" in listing.content.decode()
    refused = as_superuser.post(
        reverse("admin:subscriptions_tariff_add"),
        {"name": "Bad", "duration_days": "30", "price": "1", "hwid_device_limit": "-1"},
    )
    assert "hwid_device_limit" in refused.context["adminform"].form.errors
