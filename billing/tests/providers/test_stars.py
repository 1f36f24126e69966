"""The Telegram Stars provider: signed invoice payloads, and a stored successful_payment
update parsed into a notification (no database)."""

import json
from decimal import Decimal

import pytest
from django.test import override_settings

from billing.exceptions import CheckoutError, WebhookParseError, WebhookVerificationError
from billing.providers.stars import (
    PAYLOAD_MAX_BYTES,
    StarsProvider,
    stars_payload,
    stars_payload_payment_id,
)
from billing.tests.helpers import checkout_request
from tests.doubles.telegram_api import TelegramApiDouble

PROVIDER = StarsProvider()


def update_body(**kwargs) -> bytes:
    defaults = {"user_id": 7, "payload": stars_payload(42), "total_amount": 50}
    update = TelegramApiDouble(token=None).successful_payment_update(**{**defaults, **kwargs})
    return json.dumps(update).encode()


def parse(body: bytes):
    params = PROVIDER.params_decode(
        body=body, content_type="application/json", query_string="", max_bytes=16384
    )
    return PROVIDER.notification_parse(params=params, remote_ip=None)


def test_payload_names_the_payment_and_fits_telegram():
    payload = stars_payload(42)
    assert stars_payload_payment_id(payload) == 42
    assert 1 <= len(payload.encode()) <= PAYLOAD_MAX_BYTES


@pytest.mark.parametrize(
    "payload",
    [
        "42",  # unsigned
        stars_payload(42).replace("42:", "43:", 1),  # another payment, the same signature
        stars_payload(42) + "x",
        "",
    ],
)
def test_a_payload_we_did_not_sign_names_nothing(payload):
    with pytest.raises(WebhookVerificationError) as caught:
        stars_payload_payment_id(payload)
    assert caught.value.reason == "payload_invalid"


def test_a_payload_signed_with_another_secret_is_refused():
    with override_settings(SECRET_KEY="another-secret-key-of-another-shop"):
        foreign = stars_payload(42)
    with pytest.raises(WebhookVerificationError):
        stars_payload_payment_id(foreign)


def test_successful_payment_becomes_a_notification_keyed_by_the_charge():
    notification = parse(update_body(charge_id="stxABC"))
    assert notification.payment_id == 42
    assert notification.amount == Decimal("50")
    assert notification.currency == "XTR"
    assert notification.event_key == notification.provider_ref == "stxABC"
    assert notification.raw["user_id"] == "7"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"payload": "42:forged"}, "payload_invalid"),
        ({"total_amount": 0}, "amount_invalid"),
        ({"total_amount": -5}, "amount_invalid"),
        ({"total_amount": 1.5}, "amount_invalid"),
        ({"charge_id": "bad charge id"}, "field_invalid"),
    ],
)
def test_tampered_or_malformed_payments_are_refused(kwargs, reason):
    with pytest.raises((WebhookVerificationError, WebhookParseError)) as caught:
        parse(update_body(**kwargs))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", json.dumps({"message": {"text": "hi"}}).encode(), b"\xff"]
)
def test_an_update_without_successful_payment_is_refused(body):
    with pytest.raises(WebhookParseError) as caught:
        parse(body)
    assert caught.value.reason == "body_invalid"


def test_stars_have_no_payment_link():
    with pytest.raises(CheckoutError) as caught:
        PROVIDER.checkout_create(request=checkout_request(currency="XTR"))
    assert caught.value.reason == "invoice_only"
