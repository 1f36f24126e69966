"""/sub/<token> and the device limit by hardware id: apps that send ``X-HWID`` are recorded; a
new one over the limit gets the placeholder and 3x-ui's ``X-Hwid-*`` headers; a known one and
an app that sends no id are served; the bookkeeping costs at most one query."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.feed import PLACEHOLDER_UUID
from subscriptions.models import Device, SubscriptionStatus
from subscriptions.services.devices import DEVICE_SEEN_REFRESH
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory
from subscriptions.vless import vless_link_parse

pytestmark = pytest.mark.django_db

HAPP = {
    "HTTP_USER_AGENT": "Happ/3.19.1/Android",
    "HTTP_X_DEVICE_OS": "Android",
    "HTTP_X_VER_OS": "15",
    "HTTP_X_DEVICE_MODEL": "ELP-NX1",
}
HWID_HEADERS = ("X-Hwid-Active", "X-Hwid-Limit", "X-Hwid-Max-Devices-Reached")


@pytest.fixture(autouse=True)
def _contacts(runtime_setting, settings):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpnsite_help")


def _subscription(limit: int, **kwargs):
    subscription = SubscriptionFactory(tariff=TariffFactory(hwid_device_limit=limit), **kwargs)
    node = NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND)
    NodeClientFactory(subscription=subscription, node=node, sync_state=SyncState.SYNCED)
    return subscription


def _get(subscription, hwid: str | None = None, method: str = "get", **headers):
    meta = {**HAPP, **headers}
    if hwid is not None:
        meta["HTTP_X_HWID"] = hwid
    return getattr(Client(), method)(f"/sub/{subscription.feed_token}", **meta)


def _remarks(response) -> list[tuple[str, str]]:
    """(uuid, remark) of every entry of the body."""
    lines = base64.b64decode(response.content).decode().splitlines()
    return [(vless_link_parse(line)[0], vless_link_parse(line)[4]) for line in lines]


def _served(response, subscription) -> bool:
    assert response.status_code == 200
    return [uuid for uuid, _ in _remarks(response)] == [str(subscription.client_uuid)]


def _hwid_headers(response) -> dict[str, str]:
    return {name: response[name] for name in HWID_HEADERS if response.has_header(name)}


def test_a_new_device_is_recorded_with_what_the_app_says_about_it():
    subscription = _subscription(limit=2)
    response = _get(subscription, "5f3a9c1e7b2d4a60")
    assert _served(response, subscription)
    assert _hwid_headers(response) == {"X-Hwid-Active": "true"}
    device = Device.objects.get(subscription=subscription)
    assert (device.hwid, device.os, device.os_version, device.model, device.user_agent) == (
        "5f3a9c1e7b2d4a60",
        "Android",
        "15",
        "ELP-NX1",
        "Happ/3.19.1/Android",
    )
    assert device.created_at == device.last_seen_at


def test_a_new_device_over_the_limit_gets_the_placeholder_and_the_hwid_headers():
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription, hwid="first-device-01")
    response = _get(subscription, "second-device-02")
    assert response.status_code == 200
    [(uuid, remark)] = _remarks(response)
    assert uuid == PLACEHOLDER_UUID
    assert remark == "Лимит устройств исчерпан — удалите устройство в @vpnsite_bot"
    assert _hwid_headers(response) == {
        "X-Hwid-Active": "true",
        "X-Hwid-Limit": "true",
        "X-Hwid-Max-Devices-Reached": "true",
    }
    assert base64.b64decode(response["Announce"].removeprefix("base64:")).decode() == remark
    # Userinfo still tells the truth about the subscription itself.
    assert (
        f"expire={int(subscription.expires_at.timestamp())}" in (response["Subscription-Userinfo"])
    )
    assert Device.objects.filter(subscription=subscription).count() == 1


def test_the_placeholder_speaks_the_customers_language(settings, runtime_setting):
    subscription = _subscription(limit=1)
    subscription.customer.language = "en"
    subscription.customer.save()
    DeviceFactory(subscription=subscription)
    [(_uuid, remark)] = _remarks(_get(subscription, "another-device"))
    assert remark == "Device limit reached — remove a device in @vpnsite_bot"
    settings.TELEGRAM_BOT_USERNAME = ""
    runtime_setting("SUPPORT_CONTACT", "")
    [(_uuid, remark)] = _remarks(_get(subscription, "another-device"))
    assert remark == "Device limit reached — remove a device you no longer use"


def test_head_answers_a_refused_device_like_get():
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription)
    got, head = _get(subscription, "new-device-x"), _get(subscription, "new-device-x", "head")
    assert (head.status_code, head.content) == (200, b"")
    assert _hwid_headers(head) == _hwid_headers(got)
    assert head["Announce"] == got["Announce"]


def test_a_known_device_is_served_at_the_limit_and_over_it():
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription, hwid="known-device-1")
    response = _get(subscription, "known-device-1")
    assert _served(response, subscription)
    assert _hwid_headers(response) == {"X-Hwid-Active": "true"}
    assert "Announce" not in response
    # Two new devices racing for the last place can leave one too many: both stay served.
    DeviceFactory(subscription=subscription, hwid="known-device-2")
    assert _served(_get(subscription, "known-device-2"), subscription)
    assert _served(_get(subscription, "known-device-1"), subscription)


def test_an_app_that_sends_no_id_is_served_and_not_recorded():
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription)
    response = _get(subscription)
    assert _served(response, subscription)
    assert _hwid_headers(response) == {"X-Hwid-Active": "true"}
    assert Device.objects.filter(subscription=subscription).count() == 1


@pytest.mark.parametrize(
    "hwid",
    [
        "",
        "   ",
        "abc12",  # shorter than 6
        "a" * 65,  # longer than the column
        "has space inside",
        "one-hwid-aa,two-hwid-bb",  # two X-HWID headers, joined by the server
        "id\x00with-nul",
        "устройство-1",
        "<script>alert(1)</script>",
    ],
)
def test_a_malformed_id_is_treated_as_no_id(hwid):
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription)
    response = _get(subscription, hwid)
    assert _served(response, subscription)
    assert "X-Hwid-Max-Devices-Reached" not in response
    assert Device.objects.filter(subscription=subscription).count() == 1


def test_an_id_is_trimmed_and_keeps_its_case():
    subscription = _subscription(limit=3)
    _get(subscription, "  AbC-123_xyz=  ")
    _get(subscription, "abc-123_xyz=")
    assert sorted(Device.objects.values_list("hwid", flat=True)) == ["AbC-123_xyz=", "abc-123_xyz="]


def test_details_are_cleaned_and_cut_to_their_columns():
    subscription = _subscription(limit=0)
    raw_utf8 = "Redmi Note 12 Про".encode().decode("latin-1")  # as WSGI hands it over
    _get(
        subscription,
        "clean-me-123",
        HTTP_X_DEVICE_MODEL=raw_utf8,
        HTTP_X_DEVICE_OS="And\x1broid\u200b  OS",
        HTTP_X_VER_OS="1" * 500,
        HTTP_USER_AGENT="UA " * 200,
    )
    device = Device.objects.get(subscription=subscription)
    assert device.model == "Redmi Note 12 Про"
    assert device.os == "Android OS"
    assert device.os_version == "1" * 64
    assert len(device.user_agent) == 256
    assert device.user_agent.startswith("UA UA")


def test_without_a_limit_devices_are_recorded_and_no_hwid_header_is_sent():
    subscription = _subscription(limit=0)
    for n in range(4):
        response = _get(subscription, f"device-{n:04}")
        assert _served(response, subscription)
        assert _hwid_headers(response) == {}
    assert Device.objects.filter(subscription=subscription).count() == 4


def test_a_stale_known_device_is_seen_again_and_its_details_refreshed():
    subscription = _subscription(limit=1)
    long_ago = timezone.now() - DEVICE_SEEN_REFRESH - timedelta(minutes=1)
    device = DeviceFactory(
        subscription=subscription, hwid="old-phone-1", os_version="14", last_seen_at=long_ago
    )
    Device.objects.filter(pk=device.pk).update(created_at=long_ago - timedelta(days=3))
    assert _served(_get(subscription, "old-phone-1"), subscription)
    device.refresh_from_db()
    assert device.last_seen_at > long_ago
    assert device.os_version == "15"
    assert device.created_at == long_ago - timedelta(days=3)  # first seen is kept


def test_a_fresh_known_device_is_not_written():
    subscription = _subscription(limit=1)
    recent = timezone.now() - DEVICE_SEEN_REFRESH + timedelta(minutes=5)
    device = DeviceFactory(subscription=subscription, hwid="fresh-phone", last_seen_at=recent)
    _get(subscription, "fresh-phone")
    device.refresh_from_db()
    assert device.last_seen_at == recent


@pytest.mark.parametrize("state", ["ended", "banned", "over-traffic"])
def test_a_subscription_that_cannot_be_used_says_so_first_and_records_nothing(state):
    now = timezone.now()
    kwargs = {}
    if state == "ended":
        kwargs = {"status": SubscriptionStatus.EXPIRED, "expires_at": now - timedelta(days=1)}
        kwargs["started_at"] = now - timedelta(days=31)
    elif state == "over-traffic":
        kwargs = {"traffic_limit_bytes": 10, "traffic_used_bytes": 10}
    subscription = _subscription(limit=1, **kwargs)
    if state == "banned":
        subscription.customer.is_banned = True
        subscription.customer.save()
    DeviceFactory(subscription=subscription)
    response = _get(subscription, "brand-new-device")
    [(_uuid, remark)] = _remarks(response)
    assert "устройств" not in remark
    assert _hwid_headers(response) == {"X-Hwid-Active": "true"}
    assert Device.objects.filter(subscription=subscription).count() == 1


def test_the_browser_page_ignores_the_id():
    subscription = _subscription(limit=1)
    DeviceFactory(subscription=subscription)
    response = Client().get(
        f"/sub/{subscription.feed_token}",
        HTTP_USER_AGENT="Mozilla/5.0",
        HTTP_ACCEPT="text/html",
        HTTP_X_HWID="browser-device",
    )
    assert response["Content-Type"].startswith("text/html")
    assert _hwid_headers(response) == {}
    assert Device.objects.filter(subscription=subscription).count() == 1


class TestQueries:
    """The feed's own queries (the subscription, its keys) plus at most one for devices."""

    def _count(self, subscription, hwid=None) -> tuple[int, object]:
        runtime_settings()  # cached, as in a running server
        with CaptureQueriesContext(connection) as captured:
            response = _get(subscription, hwid)
        return len(captured.captured_queries), response

    def test_no_id_adds_nothing(self):
        count, response = self._count(_subscription(limit=2))
        assert response.status_code == 200
        assert count == 2

    def test_a_new_device_adds_one_upsert(self):
        subscription = _subscription(limit=2)
        count, _response = self._count(subscription, "brand-new-1")
        assert count == 3
        assert Device.objects.filter(subscription=subscription).count() == 1

    def test_a_fresh_known_device_adds_nothing(self):
        subscription = _subscription(limit=2)
        DeviceFactory(subscription=subscription, hwid="known-one")
        count, _response = self._count(subscription, "known-one")
        assert count == 2

    def test_a_stale_known_device_adds_one(self):
        subscription = _subscription(limit=2)
        stale = timezone.now() - DEVICE_SEEN_REFRESH
        DeviceFactory(subscription=subscription, hwid="known-one", last_seen_at=stale)
        count, _response = self._count(subscription, "known-one")
        assert count == 3

    def test_a_refused_device_costs_the_one_query_of_the_placeholder(self):
        subscription = _subscription(limit=1)
        DeviceFactory(subscription=subscription)
        count, response = self._count(subscription, "refused-one")
        assert response["X-Hwid-Max-Devices-Reached"] == "true"
        assert count == 1
