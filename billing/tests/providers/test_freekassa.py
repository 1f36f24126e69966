"""FreeKassa provider: vectors from docs/payments.md "FreeKassa: test vectors", tamper suite.

Expected hashes come from the published vectors or devtools.payment_signing, never from provider
code.
"""

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.exceptions import WebhookParseError, WebhookVerificationError
from billing.providers.base import params_from_request_data
from billing.providers.freekassa import FREEKASSA_IPS, FreeKassaProvider
from billing.tests.helpers import checkout_request
from devtools.payment_signing import freekassa_form_signature, freekassa_signature

FIXTURES = Path(__file__).parent / "fixtures" / "freekassa"
MERCHANT, SECRET1, SECRET2 = "12345", "s1", "s2"
ALLOWED_IP = "168.119.157.136"

F1_MD5 = "0cfc18ee7b1c44d4ff0d4fde5579b86e"  # 12345:299:s1:RUB:42
F1_URL = (
    "https://pay.freekassa.com/?m=12345&oa=299&currency=RUB&o=42"
    "&s=0cfc18ee7b1c44d4ff0d4fde5579b86e&lang=ru&us_user=7"
)
F1B_MD5 = "527a0931e8151bd4dbdbc4a8ceb85f44"  # 12345:299.00:s1:RUB:42
F1_LEGACY_MD5 = "933951eb67466d63dbc612ee1a43ad61"  # 12345:299:s1:42 (no currency; wrong)
F2_MD5 = "d8c7686e5d9a838079f33dd2c156c568"  # 12345:299:s2:42
F2B_MD5 = "64008821794f6789ccabdc187aca3ab3"  # 12345:299.00:s2:42


def make_request(**overrides):
    return checkout_request(**{"amount": Decimal("299"), **overrides})


def make_provider(**overrides):
    kwargs = {"merchant_id": MERCHANT, "secret1": SECRET1, "secret2": SECRET2, **overrides}
    return FreeKassaProvider(**kwargs)


def notify_params(**overrides):
    """F2 as parsed from the wire; ``None`` values drop the field."""
    params = {
        "MERCHANT_ID": MERCHANT,
        "AMOUNT": "299",
        "intid": "123456789",
        "MERCHANT_ORDER_ID": "42",
        "P_EMAIL": "buyer@example.com",
        "P_PHONE": "",
        "CUR_ID": "44",
        "SIGN": F2_MD5,
        "us_user": "7",
        "payer_account": "",
        "commission": "0",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def signed(**overrides):
    """Notification params with a *correct* SIGN for whatever fields were overridden."""
    params = notify_params(**overrides)
    params["SIGN"] = freekassa_signature(
        merchant_id=params["MERCHANT_ID"],
        amount=params["AMOUNT"],
        secret=SECRET2,
        order_id=params["MERCHANT_ORDER_ID"],
    )
    return params


def parse(provider, params, remote_ip=ALLOWED_IP):
    return provider.notification_parse(params=params, remote_ip=remote_ip)


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True))


def test_form_signature_vectors():
    provider = make_provider()
    assert provider.form_signature(amount="299", currency="RUB", order_id="42") == F1_MD5
    assert provider.form_signature(amount="299.00", currency="RUB", order_id="42") == F1B_MD5
    assert F1_LEGACY_MD5 not in {F1_MD5, F1B_MD5}


def test_checkout_f1_link_matches_vector():
    session = make_provider().checkout_create(request=make_request())

    url, expected_url = urlsplit(session.url), urlsplit(F1_URL)
    assert (url.scheme, url.netloc, url.path) == (
        expected_url.scheme,
        expected_url.netloc,
        expected_url.path,
    )
    assert query_of(session.url) == query_of(F1_URL)
    assert session.params == query_of(F1_URL)
    assert session.params["s"] != F1_LEGACY_MD5


@pytest.mark.parametrize(
    ("amount", "oa"),
    [
        (Decimal("299"), "299"),
        (Decimal("299.00"), "299"),
        (Decimal("299.5"), "299.50"),
        (Decimal("0.01"), "0.01"),
    ],
)
def test_checkout_oa_formatting_is_signed_as_sent(amount, oa):
    session = make_provider().checkout_create(request=make_request(amount=amount))
    query = query_of(session.url)
    assert query["oa"] == oa
    assert query["s"] == freekassa_form_signature(
        merchant_id="12345", amount=oa, secret="s1", currency="RUB", order_id=42
    )


def test_checkout_email_language_and_currency():
    session = make_provider().checkout_create(
        request=make_request(language="en", email="buyer@example.com", currency="USD")
    )
    query = query_of(session.url)
    assert (query["lang"], query["em"], query["currency"]) == ("en", "buyer@example.com", "USD")
    assert query["s"] == freekassa_form_signature(
        merchant_id="12345", amount="299", secret="s1", currency="USD", order_id=42
    )


def test_checkout_custom_params_are_us_prefixed_and_unsigned():
    session = make_provider().checkout_create(
        request=make_request(custom_params={"user": "7", "plan": "m1"})
    )
    query = query_of(session.url)
    assert (query["us_user"], query["us_plan"]) == ("7", "m1")
    assert query["s"] == F1_MD5


def test_notify_f2_recorded_post_body_is_accepted():
    fixture = json.loads((FIXTURES / "notify_paid.json").read_text(encoding="utf-8"))
    provider = make_provider()
    params = params_from_request_data(
        body=fixture["body"].encode(), content_type=fixture["content_type"]
    )

    notification = provider.notification_parse(params=params, remote_ip=fixture["remote_addr"])

    assert notification.payment_id == 42
    assert notification.amount == Decimal("299")
    assert notification.event_key == "42"
    assert notification.provider_ref == "123456789"
    assert notification.payment_method == "44"
    assert notification.currency is None  # CUR_ID is a payment system, not a currency
    assert notification.raw == params
    assert provider.success_response(notification=notification) == (
        fixture["expected_reply"],
        "text/plain",
    )


def test_notify_signature_vector():
    provider = make_provider()
    assert provider.notification_signature(amount="299", order_id="42") == F2_MD5
    assert provider.notification_signature(amount="299.00", order_id="42") == F2B_MD5


@pytest.mark.parametrize(
    "sign", [F2_MD5, F2_MD5.upper(), f" {F2_MD5}\n"], ids=["lower", "T-F5-upper", "padded"]
)
def test_notify_signature_any_case(sign):
    assert parse(make_provider(), notify_params(SIGN=sign)).payment_id == 42


@pytest.mark.parametrize("amount", ["299", "299.00", "299.000000"])
def test_notify_amount_formats_all_accepted_and_equal(amount):
    notification = parse(make_provider(), signed(AMOUNT=amount))
    assert notification.amount == Decimal("299.00")


def test_notify_t_f9_f2b_amount_with_decimals():
    notification = parse(make_provider(), notify_params(AMOUNT="299.00", SIGN=F2B_MD5))
    assert notification.amount == Decimal("299")


def test_notify_t_f6_unsigned_fields_changed_do_not_change_identity():
    provider = make_provider()
    original = parse(provider, notify_params())
    tampered = parse(provider, notify_params(us_user="8", intid="1", CUR_ID="4"))
    assert tampered.event_key == original.event_key == "42"
    assert tampered.payment_id == original.payment_id
    # provider_ref *does* follow intid: it is informational and must never be a dedupe key.
    assert tampered.provider_ref == "1"


def test_notify_t_f7_duplicate_yields_same_event_key():
    provider = make_provider()
    first, second = parse(provider, notify_params()), parse(provider, notify_params())
    assert first == second
    assert provider.success_response(notification=second) == ("YES", "text/plain")


def test_notify_t_f8_valid_signature_wrong_amount_is_parsed_for_services_to_reject():
    params = notify_params(AMOUNT="199", SIGN="47b4ae33527fe3d56a71e5605b189b95")
    notification = parse(make_provider(), params)
    assert notification.amount == Decimal("199")


def test_notify_get_query_string_accepted():
    fixture = json.loads((FIXTURES / "notify_paid.json").read_text(encoding="utf-8"))
    params = params_from_request_data(body=b"", content_type="", query_string=fixture["body"])
    assert parse(make_provider(), params).payment_id == 42


@pytest.mark.parametrize("intid", ["", "abc def", "x" * 65, "1;DROP"])
def test_notify_malformed_unsigned_intid_is_dropped_not_fatal(intid):
    assert parse(make_provider(), notify_params(intid=intid)).provider_ref == ""
    assert parse(make_provider(), notify_params(intid=None)).provider_ref == ""


def test_third_party_published_vectors_reproduce():
    """docs/payments.md "FreeKassa: test vectors": freekassa-node README and the
    maksa988/laravel-freekassa tests."""
    node = make_provider(merchant_id="14963", secret2="secret_word_2")
    assert node.notification_signature(amount="99", order_id="ID_234") == (
        "c0905625cf96d7730487a4dda69c6a09"
    )
    laravel = make_provider(secret2="secret_key_second", check_ip=False)
    params = {
        "MERCHANT_ID": "12345",
        "AMOUNT": "100",
        "MERCHANT_ORDER_ID": "10",
        "SIGN": "7f590bc40563dc9ff96269e586ba6e65",
    }
    notification = laravel.notification_parse(params=params, remote_ip=None)
    assert (notification.payment_id, notification.amount) == (10, Decimal("100"))


@pytest.mark.parametrize(
    ("overrides", "correct_signature"),
    [
        ({"AMOUNT": "1"}, "6205dcd4dcd8d74a719ff6579320edb2"),  # T-F1
        ({"MERCHANT_ORDER_ID": "43"}, "8f7fdf4f0905ff1e41a967fec9ed5544"),  # T-F2
        ({"SIGN": F1_LEGACY_MD5}, None),  # T-F3 signed with secret word 1
        ({"SIGN": F1_MD5}, None),  # the form signature is not a notification signature
        ({"SIGN": F2_MD5[:-1] + "7"}, None),
        ({"SIGN": "Ж" * 32}, None),
        ({"AMOUNT": "299.00"}, F2B_MD5),  # formatting is signed too
    ],
    ids=["T-F1-amount", "T-F2-order", "T-F3-secret1", "form-sign", "flipped", "non-ascii", "fmt"],
)
def test_notify_tampered_is_rejected(overrides, correct_signature):
    provider = make_provider()
    with pytest.raises(WebhookVerificationError) as excinfo:
        parse(provider, notify_params(**overrides))
    assert excinfo.value.reason == "signature_mismatch"
    rendered = f"{excinfo.value} {excinfo.value!r} {excinfo.value.extra!r}"
    if correct_signature:
        assert correct_signature not in rendered
    body, content_type = provider.failure_response(reason=excinfo.value.reason)
    assert body != "YES"
    assert content_type == "text/plain"


@pytest.mark.parametrize("merchant", ["99999", "012345", "12345 ", ""])
def test_notify_t_f4_foreign_merchant_rejected(merchant):
    provider = make_provider()
    params = signed(MERCHANT_ID=merchant) if merchant else notify_params(MERCHANT_ID=merchant)
    # Even a SIGN computed for the foreign merchant id does not help.
    with pytest.raises((WebhookVerificationError, WebhookParseError)) as excinfo:
        parse(provider, params)
    expected = "field_missing" if not merchant else "merchant_mismatch"
    assert excinfo.value.reason == expected


@pytest.mark.parametrize("remote_ip", ["203.0.113.9", None, "", "not-an-ip", "168.119.157.137"])
def test_notify_t_f10_disallowed_ip_rejected_when_check_on(remote_ip):
    with pytest.raises(WebhookVerificationError) as excinfo:
        parse(make_provider(), notify_params(), remote_ip=remote_ip)
    assert excinfo.value.reason == "ip_not_allowed"
    assert parse(make_provider(check_ip=False), notify_params(), remote_ip=remote_ip)


@pytest.mark.parametrize("remote_ip", [*FREEKASSA_IPS, "::ffff:51.250.54.238"])
def test_notify_every_documented_ip_is_allowed(remote_ip):
    assert parse(make_provider(), notify_params(), remote_ip=remote_ip).payment_id == 42


def test_notify_ip_check_runs_before_anything_else():
    with pytest.raises(WebhookVerificationError) as excinfo:
        parse(make_provider(), {"garbage": "\ufffd"}, remote_ip="203.0.113.9")
    assert excinfo.value.reason == "ip_not_allowed"


def test_notify_custom_allowlist_supports_cidr():
    provider = make_provider(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert parse(provider, notify_params(), remote_ip="10.20.30.40")
    assert parse(provider, notify_params(), remote_ip="2001:db8::5")
    with pytest.raises(WebhookVerificationError):
        parse(provider, notify_params(), remote_ip=ALLOWED_IP)


@pytest.mark.parametrize("value", [None, "", " "], ids=["absent", "empty", "blank"])
def test_notify_missing_sign(value):
    with pytest.raises(WebhookVerificationError) as excinfo:
        parse(make_provider(), notify_params(SIGN=value))
    assert excinfo.value.reason == "signature_missing"


@pytest.mark.parametrize("field", ["MERCHANT_ID", "AMOUNT", "MERCHANT_ORDER_ID"])
@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_notify_missing_signed_field(field, value):
    with pytest.raises(WebhookParseError) as excinfo:
        parse(make_provider(), notify_params(**{field: value}))
    assert excinfo.value.reason == "field_missing"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("abc", "amount_invalid"),
        ("NaN", "amount_invalid"),
        ("Infinity", "amount_invalid"),
        ("inf", "amount_invalid"),
        ("-1", "amount_invalid"),
        ("1e3", "amount_invalid"),
        ("299,00", "amount_invalid"),
        ("299 ", "amount_invalid"),
        ("٢٩٩", "amount_invalid"),
        ("0", "amount_not_positive"),
        ("9" * 13, "amount_out_of_range"),
        ("9" * 100_000, "amount_out_of_range"),
    ],
)
def test_notify_correctly_signed_but_bad_amount_is_rejected(amount, reason):
    with pytest.raises(WebhookParseError) as excinfo:
        parse(make_provider(), signed(AMOUNT=amount))
    assert excinfo.value.reason == reason
    assert len(str(excinfo.value.extra)) < 200


@pytest.mark.parametrize("order_id", ["0", "-42", "042", "ID_234", "4.2", "9" * 20, "9" * 5000])
def test_notify_correctly_signed_but_bad_order_id_is_rejected(order_id):
    with pytest.raises(WebhookParseError) as excinfo:
        parse(make_provider(), signed(MERCHANT_ORDER_ID=order_id))
    assert excinfo.value.reason == "order_id_invalid"


def test_notify_big_order_id_within_bigint_is_accepted():
    notification = parse(make_provider(), signed(MERCHANT_ORDER_ID=str(2**63 - 1)))
    assert notification.payment_id == 2**63 - 1


def test_notify_non_utf8_is_rejected():
    with pytest.raises(WebhookParseError) as excinfo:
        params_from_request_data(
            body=b"MERCHANT_ID=12345&AMOUNT=299&P_EMAIL=%C3%28&MERCHANT_ORDER_ID=42",
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )
    assert excinfo.value.reason == "encoding_invalid"
    with pytest.raises(WebhookParseError) as excinfo:
        parse(make_provider(), notify_params(P_EMAIL="\udcc3("))
    assert excinfo.value.reason == "encoding_invalid"


def test_errors_never_contain_secrets():
    provider = make_provider(secret1="SECRET-ONE-xyz", secret2="SECRET-TWO-xyz")
    cases = [
        (notify_params(), ALLOWED_IP),  # signature mismatch (signed with "s2")
        (notify_params(), "203.0.113.9"),
        (notify_params(MERCHANT_ID="99999"), ALLOWED_IP),
        (notify_params(AMOUNT=None), ALLOWED_IP),
        (notify_params(SIGN=None), ALLOWED_IP),
    ]
    for params, remote_ip in cases:
        with pytest.raises((WebhookVerificationError, WebhookParseError)) as excinfo:
            parse(provider, params, remote_ip=remote_ip)
        rendered = f"{excinfo.value} {excinfo.value!r} {excinfo.value.extra!r}"
        assert "SECRET-" not in rendered
        assert provider.notification_signature(amount="299", order_id="42") not in rendered


@pytest.mark.parametrize(
    "overrides",
    [{"merchant_id": ""}, {"secret1": ""}, {"secret2": ""}, {"merchant_id": "shop-1"}],
)
def test_bad_configuration_is_rejected(overrides):
    with pytest.raises(ImproperlyConfigured):
        make_provider(**overrides)


def test_integer_merchant_id_is_accepted():
    assert parse(make_provider(merchant_id=12345), notify_params()).payment_id == 42


def test_repr_hides_secrets():
    text = repr(make_provider(secret1="top-secret-1", secret2="top-secret-2"))
    assert "top-secret" not in text


def test_bad_allowlist_entry_fails_at_construction():
    with pytest.raises(ImproperlyConfigured):
        make_provider(allowed_ips=["168.119.157.136", "168.119.157.0/33"])
