"""Shared provider pieces: CheckoutRequest validation, request decoding, failure replies."""

from decimal import Decimal

import pytest

from billing.exceptions import WebhookParseError
from billing.providers.base import (
    PARAMS_MAX_FIELDS,
    CheckoutRequest,
    ReceiptItem,
    params_from_request_data,
)
from billing.providers.freekassa import FreeKassaProvider
from billing.providers.robokassa import RobokassaProvider

FORM = "application/x-www-form-urlencoded"


def make_request(**overrides):
    kwargs = {
        "payment_id": 42,
        "amount": Decimal("299.00"),
        "currency": "RUB",
        "description": "Order 42",
        **overrides,
    }
    return CheckoutRequest(**kwargs)


def test_checkout_request_defaults_and_immutability():
    request = make_request(custom_params={"user": "7"})
    assert request.language == "ru"
    assert request.email == ""
    assert request.receipt_items == ()
    with pytest.raises(TypeError):
        request.custom_params["user"] = "8"  # read-only mapping
    with pytest.raises(AttributeError):
        request.amount = Decimal(1)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"amount": 299.0}, TypeError),  # float: never
        ({"amount": 299}, TypeError),
        ({"amount": "299.00"}, TypeError),
        ({"amount": Decimal("NaN")}, ValueError),
        ({"amount": Decimal("Infinity")}, ValueError),
        ({"amount": Decimal("-1")}, ValueError),
        ({"amount": Decimal("0")}, ValueError),
        ({"amount": Decimal("299.001")}, ValueError),  # no silent rounding of money
        ({"amount": Decimal("1e40")}, ValueError),
        ({"payment_id": 0}, ValueError),
        ({"payment_id": True}, TypeError),
        ({"payment_id": "42"}, TypeError),
        ({"currency": "rub"}, ValueError),
        ({"language": "de"}, ValueError),
        ({"custom_params": {"User": "7"}}, ValueError),
        ({"custom_params": {"user": "Вася"}}, ValueError),
        ({"custom_params": {"user": "a:b"}}, ValueError),
        ({"custom_params": {"user": ""}}, ValueError),
        ({"custom_params": {"a": "1", "a1": "2"}}, ValueError),  # prefix keys sort ambiguously
        ({"receipt_items": ["item"]}, TypeError),
    ],
)
def test_checkout_request_rejects_bad_input(overrides, error):
    with pytest.raises(error):
        make_request(**overrides)


def test_checkout_request_accepts_trailing_zero_precision():
    assert make_request(amount=Decimal("299.000")).amount == Decimal("299")


@pytest.mark.parametrize(
    "overrides",
    [
        {"sum": 299.0},
        {"sum": Decimal("-1")},
        {"quantity": 0},
        {"quantity": 1.5},
        {"quantity": Decimal("NaN")},
        {"name": ""},
    ],
)
def test_receipt_item_rejects_bad_input(overrides):
    with pytest.raises((TypeError, ValueError)):
        ReceiptItem(**{"name": "VPN", "sum": Decimal("299.00"), **overrides})


def test_form_body_is_decoded():
    params = params_from_request_data(body=b"a=1&b=%D0%96+x&c=", content_type=FORM)
    assert params == {"a": "1", "b": "Ж x", "c": ""}


def test_query_string_used_when_body_empty():
    params = params_from_request_data(body=b"", content_type=None, query_string="a=1&b=2")
    assert params == {"a": "1", "b": "2"}
    params = params_from_request_data(body=b"", content_type=None, query_string=b"a=%D0%96")
    assert params == {"a": "Ж"}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"body": b"a=\xff", "content_type": FORM}, "encoding_invalid"),
        ({"body": b"a=%ff", "content_type": FORM}, "encoding_invalid"),
        ({"body": b"a=%C3%28", "content_type": FORM}, "encoding_invalid"),
        ({"body": b"a=%00", "content_type": FORM}, "encoding_invalid"),
        ({"body": b"", "content_type": None, "query_string": "a=é"}, "encoding_invalid"),
        ({"body": b"", "content_type": None, "query_string": "a=%EF%BF%BD"}, "encoding_invalid"),
        ({"body": b'{"a": 1}', "content_type": "application/json"}, "content_type_unsupported"),
        ({"body": b"a=1", "content_type": "multipart/form-data; b=x"}, "content_type_unsupported"),
        ({"body": b"a=1&a=2", "content_type": FORM}, "field_duplicate"),
        ({"body": b"a=1" * 100, "content_type": FORM, "max_bytes": 10}, "body_too_large"),
        (
            {"body": "&".join(f"k{i}=v" for i in range(500)).encode(), "content_type": FORM},
            "body_too_large",
        ),
    ],
)
def test_bad_requests_are_rejected(kwargs, reason):
    with pytest.raises(WebhookParseError) as excinfo:
        params_from_request_data(**kwargs)
    assert excinfo.value.reason == reason


def test_field_limit_is_inclusive():
    body = "&".join(f"k{i}=v" for i in range(PARAMS_MAX_FIELDS)).encode()
    assert len(params_from_request_data(body=body, content_type=FORM)) == PARAMS_MAX_FIELDS


def test_charset_parameter_and_case_are_tolerated():
    params = params_from_request_data(
        body=b"a=1", content_type="Application/X-WWW-Form-Urlencoded; charset=UTF-8"
    )
    assert params == {"a": "1"}


PROVIDERS = [
    RobokassaProvider(login="l", password1="p1", password2="p2"),
    FreeKassaProvider(merchant_id="1", secret1="s1", secret2="s2"),
]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.code)
@pytest.mark.parametrize("reason", ["signature_mismatch", "OK42", "YES", "<b>x</b>", "", None])
def test_failure_response_never_looks_like_success(provider, reason):
    body, content_type = provider.failure_response(reason=reason)
    assert content_type == "text/plain"
    assert not body.startswith("OK")
    assert body != "YES"
    assert body in {"ERROR: signature_mismatch", "ERROR: rejected"}


def test_value_objects_are_hashable():
    assert hash(make_request(custom_params={"user": "7"}))
