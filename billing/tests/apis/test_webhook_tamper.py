"""Tampered and malformed notifications through the real view.

Each one must get a non-success reply, leave a REJECTED WebhookEvent saying why, and change
nothing else: payments, subscriptions, audit and outbox are compared before and after.
"""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from billing.models import WebhookEvent, WebhookEventStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA_URL,
    ROBOKASSA_URL,
    freekassa_params,
    is_success,
    robokassa_params,
    send,
    snapshot,
)
from devtools.payment_signing import freekassa_signature

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

ONE_MB = 1024 * 1024


@pytest.fixture
def payments(db):
    """One pending payment per provider, plus a paid one, so "unchanged" means something."""
    soon = timezone.now() + timedelta(hours=1)
    return {
        "robokassa": PaymentFactory(provider="robokassa", expires_at=soon),
        "freekassa": PaymentFactory(provider="freekassa", expires_at=soon),
    }


def flip_last_hex(signature: str) -> str:
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")


def changed(params: dict[str, str], changes: dict) -> dict[str, str]:
    """`params` with `changes` applied (a value of None removes the field)."""
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def rk(payment, **changes):
    return changed(robokassa_params(payment.pk), changes)


def fk(payment, **changes):
    return changed(freekassa_params(payment.pk), changes)


def big_form(params: dict[str, str], size: int) -> bytes:
    body = urlencode(params).encode()
    return body + b"&pad=" + b"x" * (size - len(body) - 5)


def robokassa_cases(payment):
    good = robokassa_params(payment.pk)
    return {
        "wrong signature": (rk(payment, SignatureValue=flip_last_hex(good["SignatureValue"])), {}),
        "signature for a different amount": (rk(payment, OutSum="1.00"), {}),
        "altered Shp_user": (rk(payment, Shp_user="8"), {}),
        "added Shp field": (rk(payment, Shp_extra="1"), {}),
        "signed with password 1": (robokassa_params(payment.pk, password="p1-secret"), {}),
        "unknown InvId (validly signed)": (robokassa_params(999999), {}),
        "InvId of another order": (rk(payment, InvId=str(payment.pk + 1000)), {}),
        "missing SignatureValue": (rk(payment, SignatureValue=None), {}),
        "missing OutSum": (rk(payment, OutSum=None), {}),
        "missing InvId": (rk(payment, InvId=None), {}),
        "non-numeric amount (validly signed)": (robokassa_params(payment.pk, "abc"), {}),
        "negative amount (validly signed)": (robokassa_params(payment.pk, "-299.00"), {}),
        "exponent amount (validly signed)": (robokassa_params(payment.pk, "2.99e2"), {}),
        "test payment in live mode": (rk(payment, IsTest="1"), {}),
    }


def freekassa_cases(payment):
    good = freekassa_params(payment.pk)
    spoofed = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": FK_IP}
    return {
        "wrong signature": (fk(payment, SIGN=flip_last_hex(good["SIGN"])), {"REMOTE_ADDR": FK_IP}),
        "signature for a different amount": (fk(payment, AMOUNT="1"), {"REMOTE_ADDR": FK_IP}),
        "signed with secret 1": (freekassa_params(payment.pk, secret="s1"), {"REMOTE_ADDR": FK_IP}),
        "unknown order (validly signed)": (freekassa_params(999999), {"REMOTE_ADDR": FK_IP}),
        "order id of another order": (
            fk(payment, MERCHANT_ORDER_ID=str(payment.pk + 1000)),
            {"REMOTE_ADDR": FK_IP},
        ),
        "wrong merchant id": (fk(payment, MERCHANT_ID="99999"), {"REMOTE_ADDR": FK_IP}),
        "foreign merchant, its own valid signature": (
            freekassa_params(payment.pk, merchant="99999"),
            {"REMOTE_ADDR": FK_IP},
        ),
        "disallowed IP": (good, {"REMOTE_ADDR": "203.0.113.9"}),
        "X-Forwarded-For spoofed, no trusted proxy": (good, spoofed),
        "missing SIGN": (fk(payment, SIGN=None), {"REMOTE_ADDR": FK_IP}),
        "missing AMOUNT": (fk(payment, AMOUNT=None), {"REMOTE_ADDR": FK_IP}),
        "missing MERCHANT_ORDER_ID": (fk(payment, MERCHANT_ORDER_ID=None), {"REMOTE_ADDR": FK_IP}),
        "non-numeric amount (validly signed)": (
            freekassa_params(payment.pk, "12,5"),
            {"REMOTE_ADDR": FK_IP},
        ),
    }


EXPECTED_REASONS = {
    "wrong signature": "signature_mismatch",
    "signature for a different amount": "signature_mismatch",
    "altered Shp_user": "signature_mismatch",
    "added Shp field": "signature_mismatch",
    "signed with password 1": "signature_mismatch",
    "signed with secret 1": "signature_mismatch",
    "unknown InvId (validly signed)": "payment_unknown",
    "unknown order (validly signed)": "payment_unknown",
    "InvId of another order": "signature_mismatch",
    "order id of another order": "signature_mismatch",
    "missing SignatureValue": "signature_missing",
    "missing SIGN": "signature_missing",
    "missing OutSum": "field_missing",
    "missing InvId": "field_missing",
    "missing AMOUNT": "field_missing",
    "missing MERCHANT_ORDER_ID": "field_missing",
    "non-numeric amount (validly signed)": "amount_invalid",
    "negative amount (validly signed)": "amount_invalid",
    "exponent amount (validly signed)": "amount_invalid",
    "test payment in live mode": "test_payment_in_live_mode",
    "wrong merchant id": "merchant_mismatch",
    "foreign merchant, its own valid signature": "merchant_mismatch",
    "disallowed IP": "ip_not_allowed",
    "X-Forwarded-For spoofed, no trusted proxy": "ip_not_allowed",
}


def assert_rejected(response, reason, before):
    assert response.status_code == 400, response.content
    assert not is_success(response)
    body = response.content.decode("utf-8", "replace")
    assert not body.startswith("OK")
    assert body != "YES"
    assert body == f"ERROR: {reason}"
    assert snapshot() == before
    event = WebhookEvent.objects.order_by("-pk").first()
    assert event.status == WebhookEventStatus.REJECTED
    assert event.outcome == reason
    assert event.error  # a human-readable why
    assert event.processed_at is not None
    return event


ROBOKASSA_CASE_NAMES = [
    "wrong signature",
    "signature for a different amount",
    "altered Shp_user",
    "added Shp field",
    "signed with password 1",
    "unknown InvId (validly signed)",
    "InvId of another order",
    "missing SignatureValue",
    "missing OutSum",
    "missing InvId",
    "non-numeric amount (validly signed)",
    "negative amount (validly signed)",
    "exponent amount (validly signed)",
    "test payment in live mode",
]
FREEKASSA_CASE_NAMES = [
    "wrong signature",
    "signature for a different amount",
    "signed with secret 1",
    "unknown order (validly signed)",
    "order id of another order",
    "wrong merchant id",
    "foreign merchant, its own valid signature",
    "disallowed IP",
    "X-Forwarded-For spoofed, no trusted proxy",
    "missing SIGN",
    "missing AMOUNT",
    "missing MERCHANT_ORDER_ID",
    "non-numeric amount (validly signed)",
]


TAMPERED = {
    "robokassa": (ROBOKASSA_URL, robokassa_cases),
    "freekassa": (FREEKASSA_URL, freekassa_cases),
}


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize(
    ("provider", "case"),
    [("robokassa", case) for case in ROBOKASSA_CASE_NAMES]
    + [("freekassa", case) for case in FREEKASSA_CASE_NAMES],
)
def test_tampered(client, payments, provider, case, method):
    url, cases = TAMPERED[provider]
    params, extra = cases(payments[provider])[case]
    before = snapshot()
    response = send(client, url, params, method=method, **extra)
    event = assert_rejected(response, EXPECTED_REASONS[case], before)
    assert event.provider == provider
    assert event.method == method


def test_freekassa_spoofed_forwarded_for_behind_trusted_proxy(client, settings, payments):
    """Our proxy appends the real peer; a FreeKassa IP the sender put in front is ignored."""
    settings.TRUSTED_PROXY_IPS = ["10.0.0.1"]
    before = snapshot()
    response = send(
        client,
        FREEKASSA_URL,
        freekassa_params(payments["freekassa"].pk),
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=f"{FK_IP}, 203.0.113.9",
    )
    event = assert_rejected(response, "ip_not_allowed", before)
    assert event.remote_ip == "203.0.113.9"
    assert event.headers["X-Forwarded-For"] == f"{FK_IP}, 203.0.113.9"


def test_freekassa_behind_trusted_proxy_is_accepted(client, settings, payments):
    settings.TRUSTED_PROXY_IPS = ["10.0.0.0/8"]
    response = send(
        client,
        FREEKASSA_URL,
        freekassa_params(payments["freekassa"].pk),
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=FK_IP,
    )
    assert response.content == b"YES"
    assert WebhookEvent.objects.get().remote_ip == FK_IP


def test_freekassa_without_ip_check_accepts_any_sender(client, settings, payments):
    path, kwargs = settings.BILLING_PROVIDERS["freekassa"]
    settings.BILLING_PROVIDERS = {
        **settings.BILLING_PROVIDERS,
        "freekassa": (path, {**kwargs, "check_ip": False}),
    }
    response = send(
        client,
        FREEKASSA_URL,
        freekassa_params(payments["freekassa"].pk),
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.content == b"YES"


@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
@pytest.mark.parametrize("size", [ONE_MB, ONE_MB + 1])
def test_one_megabyte_body(client, payments, provider, size):
    """A valid notification padded to 1 MB (at and past Django's in-memory limit)."""
    payment = payments[provider]
    if provider == "robokassa":
        url, params, extra = ROBOKASSA_URL, robokassa_params(payment.pk), {}
    else:
        url, params, extra = FREEKASSA_URL, freekassa_params(payment.pk), {"REMOTE_ADDR": FK_IP}
    before = snapshot()
    response = send(client, url, big_form(params, size), **extra)
    event = assert_rejected(response, "body_too_large", before)
    assert event.body_truncated is True
    assert len(event.body.encode()) == 64 * 1024


@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
def test_non_utf8_bytes(client, payments, provider):
    payment = payments[provider]
    if provider == "robokassa":
        url, params, extra = ROBOKASSA_URL, robokassa_params(payment.pk), {}
    else:
        url, params, extra = FREEKASSA_URL, freekassa_params(payment.pk), {"REMOTE_ADDR": FK_IP}
    body = urlencode(params).encode() + b"&note=\xff\xfe\xc3(\x00"
    before = snapshot()
    response = send(client, url, body, **extra)
    event = assert_rejected(response, "encoding_invalid", before)
    assert event.body_escaped is True
    assert "\\xff" in event.body
    assert "\x00" not in event.body


def test_percent_encoded_non_utf8_in_a_signed_field(client, payments):
    payment = payments["robokassa"]
    body = urlencode(robokassa_params(payment.pk)).encode() + b"&Shp_x=%FF"
    before = snapshot()
    response = send(client, ROBOKASSA_URL, body)
    assert_rejected(response, "encoding_invalid", before)


def test_duplicate_field_smuggling(client, payments):
    payment = payments["robokassa"]
    body = urlencode(robokassa_params(payment.pk)).encode() + b"&OutSum=1.00"
    before = snapshot()
    assert_rejected(send(client, ROBOKASSA_URL, body), "field_duplicate", before)


def test_json_body_is_refused(client, payments):
    before = snapshot()
    response = send(
        client,
        ROBOKASSA_URL,
        b'{"OutSum": "299.00"}',
        content_type="application/json",
    )
    assert_rejected(response, "content_type_unsupported", before)


def test_empty_request(client, payments):
    before = snapshot()
    response = send(client, ROBOKASSA_URL, b"")
    assert_rejected(response, "field_missing", before)


def test_wrong_amount_with_valid_signature_freekassa(client, payments):
    payment = payments["freekassa"]
    params = freekassa_params(payment.pk, "199")
    assert params["SIGN"] == freekassa_signature(
        merchant_id="12345", amount="199", secret="s2", order_id=payment.pk
    )
    response = send(client, FREEKASSA_URL, params, REMOTE_ADDR=FK_IP)
    assert response.status_code == 400
    assert response.content == b"ERROR: amount_mismatch"
    payment.refresh_from_db()
    assert payment.status == "pending"
    assert payment.subscription_id is None
