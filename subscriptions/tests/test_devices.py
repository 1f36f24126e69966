"""What a request says about its device: the id validated, the details cleaned; the reply
headers; a recorded device's short name."""

import pytest

from subscriptions.devices import (
    DeviceHeaders,
    device_headers_parse,
    device_label,
    header_text,
    hwid_reply_headers,
    hwid_valid,
)
from subscriptions.models import Device


@pytest.mark.parametrize(
    "value",
    [
        "5f3a9c1e7b2d4a60",  # hex (Happ-style)
        "270DD26E-160D-4257-B8AC-654800E12F24",  # UUID (INCY)
        "a" * 64,  # a SHA-256 hex digest
        "dGVzdC1od2lk==",  # base64
        "abcd-ef01-2345-6789",  # sing-box clients' form
        "router.v2:minis_1+/",
        "abcdef",  # the shortest: 6 (3x-ui's minimum)
    ],
)
def test_ids_apps_send_are_accepted(value):
    assert hwid_valid(value) == value
    assert hwid_valid(f"  {value}\t") == value


@pytest.mark.parametrize(
    "value",
    [None, "", "abcde", "a" * 65, "with space", "a,b-c-d-e-f", "иденти-фикатор", "x\x00yyyyyy"],
)
def test_anything_else_is_no_id(value):
    assert hwid_valid(value) == ""
    assert device_headers_parse({"X-HWID": value or ""}) is None


def test_headers_without_an_id_name_no_device():
    assert device_headers_parse({"X-Device-Model": "Pixel 8", "User-Agent": "Happ/3"}) is None


def test_the_details_fit_their_columns():
    device = device_headers_parse(
        {
            "X-HWID": "hwid-123456",
            "X-Device-OS": "x" * 100,
            "X-Ver-OS": "1" * 100,
            "X-Device-Model": "m" * 300,
            "User-Agent": "u" * 600,
        }
    )
    for name in ("os", "os_version", "model", "user_agent"):
        assert len(getattr(device, name)) == Device._meta.get_field(name).max_length


def test_header_text_recovers_utf8_drops_controls_and_squeezes_spaces():
    assert header_text("Про".encode().decode("latin-1"), 10) == "Про"
    assert header_text("naïve", 10) == "naïve"  # already text: kept
    assert header_text("\xe9t\xe9", 10) == "\xe9t\xe9"  # latin-1 that is not UTF-8: kept
    assert header_text(" a\x00b\x1b[31mc\u200b\r\n  d ", 20) == "ab[31mc d"
    assert header_text(None, 5) == ""
    assert header_text("abcdefgh", 5) == "abcde"


def test_reply_headers():
    assert hwid_reply_headers(limit=0, refused=False) == {}
    assert hwid_reply_headers(limit=2, refused=False) == {"X-Hwid-Active": "true"}
    assert hwid_reply_headers(limit=2, refused=True) == {
        "X-Hwid-Active": "true",
        "X-Hwid-Limit": "true",
        "X-Hwid-Max-Devices-Reached": "true",
    }


def test_device_label():
    assert device_label(Device(hwid="abcdef123", model="Pixel 8", os="Android")) == "Pixel 8"
    assert device_label(Device(hwid="abcdef123", os="Android", os_version="15")) == "Android 15"
    assert device_label(Device(hwid="abcdef123")) == "abcdef12"


def test_device_headers_are_plain_values():
    assert DeviceHeaders(hwid="abcdef") == DeviceHeaders(hwid="abcdef", os="", model="")
