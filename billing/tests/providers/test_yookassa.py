"""YooKassa provider and API client against its API mocked with `responses`
(docs/payments.md "YooKassa: …"): the create request as documented, errors, timeouts, and a
notification trusted only from YooKassa's addresses and only as the API confirms it."""

import json
from base64 import b64encode
from decimal import Decimal

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured

from billing.exceptions import (
    CheckoutError,
    ProviderApiError,
    WebhookParseError,
    WebhookVerificationError,
)
from billing.providers import provider_label
from billing.providers.yookassa import YOOKASSA_IPS, YooKassaProvider
from billing.tests.helpers import (
    JSON,
    YK_IP,
    YOOKASSA,
    YOOKASSA_API,
    checkout_request,
    yk_id,
    yookassa_notification,
    yookassa_payment,
    yookassa_refund,
)

KEY = "vpnsite-create-42-1765000000000000"


@pytest.fixture
def provider():
    return YooKassaProvider(**YOOKASSA[1])


@pytest.fixture
def api():
    with responses.RequestsMock() as mocked:
        yield mocked


def created(payment_id=42, **extra):
    return yookassa_payment(payment_id, status="pending", **extra)


def test_create_sends_the_documented_request(provider, api):
    api.post(f"{YOOKASSA_API}payments", json=created())
    session = provider.checkout_create(request=checkout_request(idempotence_key=KEY))

    request = api.calls[0].request
    assert request.headers["Idempotence-Key"] == KEY
    assert request.headers["Authorization"] == "Basic " + b64encode(
        b"100500:test_yk_secret"
    ).decode("ascii")
    assert json.loads(request.body) == {
        "amount": {"value": "299.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {
            "type": "redirect",
            "return_url": "https://vpn.example/pay/success/",
            "locale": "ru_RU",
        },
        "description": "Order 42",
        "metadata": {"payment_id": "42", "user": "7"},
    }
    assert session.provider_ref == yk_id(42)
    assert session.url == created()["confirmation"]["confirmation_url"]


def test_a_retried_create_sends_the_same_key(provider, api):
    """Idempotence: the second request carries the first one's key, so YooKassa answers with
    the payment the first one made (the API's documented behaviour)."""
    api.post(f"{YOOKASSA_API}payments", body=requests.ConnectTimeout("slow"))
    api.post(f"{YOOKASSA_API}payments", json=created())
    request = checkout_request(idempotence_key=KEY)
    with pytest.raises(ProviderApiError) as excinfo:
        provider.checkout_create(request=request)
    assert excinfo.value.reason == "api_timeout"
    assert provider.checkout_create(request=request).provider_ref == yk_id(42)
    assert [call.request.headers["Idempotence-Key"] for call in api.calls] == [KEY, KEY]


def test_every_call_has_a_timeout(provider, monkeypatch):
    seen = []

    def fake_request(method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        raise requests.ReadTimeout("slow")

    monkeypatch.setattr(requests, "request", fake_request)
    for call in (
        lambda: provider.client.payment_create(body={}, idempotence_key=KEY),
        lambda: provider.client.payment_get(payment_id=yk_id(1)),
        lambda: provider.client.refund_create(body={}, idempotence_key=KEY),
        lambda: provider.client.refund_get(refund_id=yk_id(1)),
    ):
        with pytest.raises(ProviderApiError):
            call()
    assert seen == [(2.0, 2.0)] * 4


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            400,
            {"type": "error", "code": "invalid_request", "parameter": "amount"},
            "api_invalid_request",
        ),
        (401, {"type": "error", "code": "invalid_credentials"}, "api_invalid_credentials"),
        (429, {"type": "error", "code": "too_many_requests"}, "api_too_many_requests"),
        (500, {"type": "error", "code": "internal_server_error"}, "api_internal_server_error"),
        (502, "<html>bad gateway</html>", "api_bad_response"),
        (400, {"code": "Bad Code; rm -rf"}, "api_bad_response"),
        (202, {"type": "processing", "retry_after": 1800}, "api_in_progress"),
    ],
)
def test_error_answers_become_provider_api_errors(provider, api, status, body, reason):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    api.post(f"{YOOKASSA_API}payments", status=status, **kwargs)
    with pytest.raises(ProviderApiError) as excinfo:
        provider.checkout_create(request=checkout_request(idempotence_key=KEY))
    assert excinfo.value.reason == reason
    assert "test_yk_secret" not in str(excinfo.value) + repr(excinfo.value.extra)


def test_unreachable_api(provider, api):
    api.post(f"{YOOKASSA_API}payments", body=requests.ConnectionError("refused"))
    with pytest.raises(ProviderApiError) as excinfo:
        provider.checkout_create(request=checkout_request(idempotence_key=KEY))
    assert excinfo.value.reason == "api_unreachable"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (created(amount="1.00"), "amount_mismatch"),
        (created(currency="USD"), "amount_mismatch"),
        (yookassa_payment(42, status="canceled"), "payment_not_pending"),
        ({**created(), "confirmation": {"type": "redirect"}}, "api_answer"),
        (
            {**created(), "confirmation": {"confirmation_url": "http://evil.example/"}},
            "api_answer",
        ),
        (created(id="../../refunds"), "api_answer"),
    ],
)
def test_an_unusable_create_answer_is_refused(provider, api, answer, reason):
    api.post(f"{YOOKASSA_API}payments", json=answer)
    with pytest.raises(CheckoutError) as excinfo:
        provider.checkout_create(request=checkout_request(idempotence_key=KEY))
    assert excinfo.value.reason == reason


def test_create_needs_a_key(provider):
    with pytest.raises(CheckoutError):
        provider.checkout_create(request=checkout_request())


def test_english_checkout_page(provider):
    body = provider.payment_body(request=checkout_request(language="en"))
    assert body["confirmation"]["locale"] == "en_US"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shop_id": "", "secret_key": "s", "return_url": "https://x/"},
        {"shop_id": "1", "secret_key": "", "return_url": "https://x/"},
        {"shop_id": "1", "secret_key": "s", "return_url": "/pay/success/"},
        {"shop_id": "1", "secret_key": "s", "return_url": "https://x/", "allowed_ips": ["nope"]},
    ],
)
def test_misconfiguration_fails_at_startup(kwargs):
    with pytest.raises(ImproperlyConfigured):
        YooKassaProvider(**kwargs)


def test_label_in_both_languages(yookassa_api):
    assert provider_label("yookassa", "en") == "💳 Card, SBP, SberPay · YooKassa"
    assert provider_label("yookassa", "ru") == "💳 Карта, СБП, SberPay · YooKassa"


# --- notifications -------------------------------------------------------------------------


def decoded(event, obj):
    return json.loads(yookassa_notification(event, obj))


def test_notification_confirmed_by_the_api(provider, api):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", json=yookassa_payment(42))
    # The body claims another amount and payment: only the id and the event are used.
    body = decoded("payment.succeeded", yookassa_payment(42, amount="1.00", metadata={}))
    notification = provider.notification_parse(params=body, remote_ip=YK_IP)
    assert notification.payment_id == 42
    assert notification.amount == Decimal("299.00")
    assert notification.currency == "RUB"
    assert notification.provider_ref == yk_id(42)
    assert notification.provider_ref_confirmed is True
    assert notification.kind == "paid"
    assert notification.event_key == f"payment.succeeded:{yk_id(42)}"
    assert notification.payment_method == "sbp"


@pytest.mark.parametrize(
    "ip", ["203.0.113.9", "185.71.76.32", "77.75.156.12", None, "2a03:5180::1", "garbage"]
)
def test_notification_from_a_foreign_address_is_refused_before_any_call(provider, api, ip):
    body = decoded("payment.succeeded", yookassa_payment(42))
    with pytest.raises(WebhookVerificationError) as excinfo:
        provider.notification_parse(params=body, remote_ip=ip)
    assert excinfo.value.reason == "ip_not_allowed"
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "ip", ["185.71.76.0", "185.71.77.31", "77.75.153.127", "77.75.156.11", "2a02:5180::1"]
)
def test_every_published_range_is_accepted(provider, api, ip):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", json=yookassa_payment(42))
    body = decoded("payment.succeeded", yookassa_payment(42))
    assert provider.notification_parse(params=body, remote_ip=ip).payment_id == 42
    assert provider.allowed_ips == YOOKASSA_IPS


@pytest.mark.parametrize(
    ("event", "api_status"),
    [
        ("payment.succeeded", "pending"),
        ("payment.succeeded", "canceled"),
        ("payment.succeeded", "waiting_for_capture"),
        ("payment.canceled", "succeeded"),
        ("payment.canceled", "pending"),
    ],
)
def test_notification_the_api_does_not_confirm_is_refused(provider, api, event, api_status):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", json=yookassa_payment(42, status=api_status))
    body = decoded(event, yookassa_payment(42))
    with pytest.raises(WebhookVerificationError) as excinfo:
        provider.notification_parse(params=body, remote_ip=YK_IP)
    assert excinfo.value.reason == "not_confirmed"


def test_api_answering_for_another_object_is_refused(provider, api):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", json=yookassa_payment(42, id=yk_id(43)))
    with pytest.raises(WebhookVerificationError):
        provider.notification_parse(
            params=decoded("payment.succeeded", yookassa_payment(42)), remote_ip=YK_IP
        )


def test_succeeded_but_not_paid_is_refused(provider, api):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", json=yookassa_payment(42, paid=False))
    with pytest.raises(WebhookVerificationError):
        provider.notification_parse(
            params=decoded("payment.succeeded", yookassa_payment(42)), remote_ip=YK_IP
        )


def test_api_failure_while_confirming_is_an_api_error(provider, api):
    api.get(f"{YOOKASSA_API}payments/{yk_id(42)}", body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderApiError):
        provider.notification_parse(
            params=decoded("payment.succeeded", yookassa_payment(42)), remote_ip=YK_IP
        )


def test_refund_notification_confirmed_by_the_refund_api(provider, api):
    refund = yookassa_refund(yk_id(42))
    api.get(f"{YOOKASSA_API}refunds/{refund['id']}", json=refund)
    notification = provider.notification_parse(
        params=decoded("refund.succeeded", refund), remote_ip=YK_IP
    )
    assert (notification.kind, notification.payment_id) == ("refunded", 0)
    assert notification.provider_ref == yk_id(42)
    assert notification.amount == Decimal("299.00")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "notification", "event": "payment.waiting_for_capture", "object": {"id": "a"}},
        {"type": "notification", "event": "payment.succeeded", "object": {"id": "../x"}},
        {"type": "notification", "event": "payment.succeeded", "object": "x"},
        {"type": "other", "event": "payment.succeeded", "object": {"id": "a"}},
        {"event": "payment.succeeded"},
    ],
)
def test_malformed_notifications_are_refused_before_any_call(provider, api, body):
    with pytest.raises(WebhookParseError):
        provider.notification_parse(params=body, remote_ip=YK_IP)
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"a": 1, "a": 2}', JSON, "body_invalid"),
        (b"[1]", JSON, "body_invalid"),
        (b"{", JSON, "body_invalid"),
        (b'{"a": "\xff"}', JSON, "encoding_invalid"),
        (b'{"a": 1}', "application/x-www-form-urlencoded", "content_type_unsupported"),
        (b'{"a": "' + b"x" * 100 + b'"}', JSON, "body_too_large"),
    ],
)
def test_body_decoding_is_strict(provider, body, content_type, reason):
    with pytest.raises(WebhookParseError) as excinfo:
        provider.params_decode(body=body, content_type=content_type, query_string="", max_bytes=64)
    assert excinfo.value.reason == reason


def test_refund_request(provider, api):
    api.post(f"{YOOKASSA_API}refunds", json=yookassa_refund(yk_id(42), status="pending"))
    refund = provider.refund_create(
        provider_ref=yk_id(42), amount=Decimal("299.00"), currency="RUB", idempotence_key=KEY
    )
    assert refund.status == "pending"
    request = api.calls[0].request
    assert request.headers["Idempotence-Key"] == KEY
    assert json.loads(request.body) == {
        "payment_id": yk_id(42),
        "amount": {"value": "299.00", "currency": "RUB"},
    }


def test_refund_cancelled_by_yookassa(provider, api):
    api.post(
        f"{YOOKASSA_API}refunds",
        json=yookassa_refund(
            yk_id(42), status="canceled", cancellation_details={"reason": "insufficient_funds"}
        ),
    )
    with pytest.raises(ProviderApiError) as excinfo:
        provider.refund_create(
            provider_ref=yk_id(42), amount=Decimal("299.00"), currency="RUB", idempotence_key=KEY
        )
    assert excinfo.value.reason == "refund_canceled"
    assert "insufficient_funds" in excinfo.value.extra["details"]


def test_an_object_yookassa_does_not_know_is_refused_not_failed(provider, api):
    api.get(
        f"{YOOKASSA_API}payments/{yk_id(42)}",
        status=404,
        json={"type": "error", "code": "not_found", "description": "Payment doesn't exist"},
    )
    with pytest.raises(WebhookVerificationError) as excinfo:
        provider.notification_parse(
            params=decoded("payment.succeeded", yookassa_payment(42)), remote_ip=YK_IP
        )
    assert excinfo.value.reason == "not_confirmed"
