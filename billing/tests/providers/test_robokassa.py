"""Robokassa provider: vectors from docs/payments.md "Robokassa: test vectors", tamper suite.

Expected hashes come from the published vectors, devtools.payment_signing or hashlib over a
vector's pre-hash string, never from provider code.
"""

import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.exceptions import (
    CheckoutError,
    WebhookError,
    WebhookParseError,
    WebhookVerificationError,
)
from billing.providers.base import (
    ReceiptItem,
    params_from_request_data,
)
from billing.providers.robokassa import INV_ID_MAX, RobokassaProvider
from billing.tests.helpers import checkout_request
from devtools.payment_signing import robokassa_signature

FIXTURES = Path(__file__).parent / "fixtures" / "robokassa"
LOGIN, PASSWORD1, PASSWORD2 = "demo-shop", "p1-secret", "p2-secret"
SECRETS = (PASSWORD1, PASSWORD2)
ALGORITHMS = ("md5", "sha256", "sha384", "sha512")

# R1: demo-shop:299.00:42:p1-secret:Shp_user=7
R1 = {
    "md5": "c0b235034f287364f0cdb7060d141120",
    "sha256": "4c28ab95fa49baa6acb7fb9d67aa318f061669e4a2b24a2ff7e74bb3c5625025",
    "sha384": "c84fa280e8ab9d92fd6bd50533fb7e3b984d9bfad1afeb77cf4471d0d0be285093c716e04303766a"
    "52e486e10d28c49f",
    "sha512": "26d2dd608f31aba36a2105562a27a3d6be8feeb7f359ba2b68066f84aa296ae9e324987ded07c61b"
    "e28b545b669734c47dfb178cd094f7332c13133e44eeb561",
}
R1_URL = (
    "https://auth.robokassa.ru/Merchant/Index.aspx?MerchantLogin=demo-shop&OutSum=299.00&InvId=42"
    "&Description=Order+42&SignatureValue=c0b235034f287364f0cdb7060d141120&Shp_user=7"
    "&Culture=ru&IsTest=1"
)
# R2: 299.00:42:p2-secret:Shp_user=7
R2 = {
    "md5": "c1d81018c21bd736536a17faf64416ca",
    "sha256": "71edfe9e1709d60db55cbf1d34cf702348e56725b80d0728fb0b624067f9c987",
    "sha384": "7fe4b9ade678a9d909c76f585b0013446fa5655298df9fda2d4cfccbf9f7b1f587a4b406c1a50700"
    "6669470c9a3178e8",
    "sha512": "95b6387bdcd155bd65104135a03d38b77f4c8c4436dec540f79d3e06aee4b534469176cc980e07f8"
    "a3dca56ca71c5085bf5408c58d800dcda759de34c36d04ad",
}
# R2b: 299.000000:42:p2-secret:Shp_user=7
R2B = {
    "md5": "ec0f4860d76f9f970b98b464d9a64a4b",
    "sha256": "d49126eb6fdc7cce254b7cc2bf47ec832d75cdc11d1aae2db1418a3d0478a643",
}
R3 = {
    "md5": "96e97d876ef85c684e483af753061c42",
    "sha256": "4115079fa472300c4aaae0a6970eef2a687c4e0a7c1e600f8cb87cfcd2fa53e6",
}
R5_RECEIPT_JSON = (
    '{"sno":"usn_income","items":[{"name":"Subscription","quantity":1,"sum":299,'
    '"payment_method":"full_payment","payment_object":"service","tax":"none"}]}'
)
R5_RECEIPT_ENCODED = (
    "%7B%22sno%22%3A%22usn_income%22%2C%22items%22%3A%5B%7B%22name%22%3A%22Subscription%22%2C"
    "%22quantity%22%3A1%2C%22sum%22%3A299%2C%22payment_method%22%3A%22full_payment%22%2C"
    "%22payment_object%22%3A%22service%22%2C%22tax%22%3A%22none%22%7D%5D%7D"
)
R5_MD5 = "3a83cf9ba55eb516ce486100b8f0fcb1"


def make_provider(**overrides):
    kwargs = {"login": LOGIN, "password1": PASSWORD1, "password2": PASSWORD2, **overrides}
    return RobokassaProvider(**kwargs)


def hexdigest(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def result_params(**overrides):
    """R2 as parsed from the wire; ``None`` values drop the field."""
    params = {
        "OutSum": "299.00",
        "InvId": "42",
        "Fee": "11.66",
        "EMail": "buyer@example.com",
        "SignatureValue": R2["md5"].upper(),
        "PaymentMethod": "BankCard",
        "IncCurrLabel": "BankCardPSR",
        "Shp_user": "7",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def signed(provider_password: str = PASSWORD2, algorithm: str = "md5", **overrides):
    """Result params with a *correct* signature for whatever fields were overridden."""
    params = result_params(**overrides)
    params["SignatureValue"] = robokassa_signature(
        out_sum=params["OutSum"],
        inv_id=params["InvId"],
        password=provider_password,
        shp={k: v for k, v in params.items() if k.lower().startswith("shp_")},
        algorithm=algorithm,
    ).upper()
    return params


def assert_no_secret_leak(exc: Exception, *extra_forbidden: str) -> None:
    rendered = f"{exc} {exc!r} {getattr(exc, 'message', '')} {getattr(exc, 'extra', '')}"
    for secret in (*SECRETS, *extra_forbidden):
        assert secret.lower() not in rendered.lower()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_link_signature_r1_every_algorithm(algorithm):
    provider = make_provider(hash_algorithm=algorithm)
    signature = provider.link_signature(out_sum="299.00", inv_id="42", shp={"Shp_user": "7"})
    assert signature == R1[algorithm]
    assert signature == hexdigest(algorithm, "demo-shop:299.00:42:p1-secret:Shp_user=7")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("md5", "675aae8f3241932b184f76bd350399bd"),
        ("sha256", "f59939872f7c48208608134b563538bf48ee8fd61650f8f5b030dd7d64f4ae0b"),
    ],
)
def test_link_signature_r1b_without_shp(algorithm, expected):
    provider = make_provider(hash_algorithm=algorithm)
    assert provider.link_signature(out_sum="299.00", inv_id="42") == expected


def test_link_signature_r1c_empty_inv_id_keeps_its_slot():
    provider = make_provider()
    signature = provider.link_signature(out_sum="299.00", inv_id="", shp={"Shp_user": "7"})
    assert signature == "733eaff34be5d15f68479f12889606dc"


def test_link_signature_r1d_lowercase_prefix_is_a_different_hash():
    provider = make_provider()
    assert (
        provider.link_signature(out_sum="299.00", inv_id="42", shp={"shp_user": "7"})
        == "4c39b2985c048791bf1a05fd26d2c9fa"
    )


def test_link_signature_r5_with_receipt():
    provider = make_provider()
    signature = provider.link_signature(
        out_sum="299.00", inv_id="42", receipt=R5_RECEIPT_ENCODED, shp={"Shp_user": "7"}
    )
    assert signature == R5_MD5


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checkout_r1_link_matches_vector(algorithm):
    provider = make_provider(hash_algorithm=algorithm, test_mode=True)

    session = provider.checkout_create(request=checkout_request())

    url, expected_url = urlsplit(session.url), urlsplit(R1_URL)
    assert (url.scheme, url.netloc, url.path) == (
        expected_url.scheme,
        expected_url.netloc,
        expected_url.path,
    )
    expected = {**query_of(R1_URL), "SignatureValue": R1[algorithm]}
    # Deliberate addition to the vector: Encoding=utf-8 (unsigned) so that Cyrillic
    # descriptions are not read as windows-1251 (docs/payments.md "Robokassa: payment link").
    assert query_of(session.url) == {**expected, "Encoding": "utf-8"}
    assert session.params == query_of(session.url)


def test_checkout_amount_is_two_decimals_and_signed_as_sent():
    provider = make_provider()
    for amount, out_sum in [
        (Decimal("299"), "299.00"),
        (Decimal("299.5"), "299.50"),
        (Decimal("0.01"), "0.01"),
    ]:
        session = provider.checkout_create(
            request=checkout_request(amount=amount, custom_params={})
        )
        query = query_of(session.url)
        assert query["OutSum"] == out_sum
        assert query["SignatureValue"] == robokassa_signature(
            login=LOGIN, out_sum=out_sum, inv_id=42, password=PASSWORD1
        )


def test_checkout_live_mode_has_no_is_test_and_english_culture_and_email():
    provider = make_provider()
    session = provider.checkout_create(
        request=checkout_request(language="en", email="buyer@example.com")
    )
    query = query_of(session.url)
    assert "IsTest" not in query
    assert query["Culture"] == "en"
    assert query["Email"] == "buyer@example.com"


def test_checkout_shp_params_sorted_and_signed():
    provider = make_provider()
    request = checkout_request(custom_params={"user": "7", "b": "2", "a": "1"})
    session = provider.checkout_create(request=request)
    query = query_of(session.url)
    assert [k for k in session.params if k.startswith("Shp_")] == ["Shp_a", "Shp_b", "Shp_user"]
    assert query["SignatureValue"] == hexdigest(
        "md5", "demo-shop:299.00:42:p1-secret:Shp_a=1:Shp_b=2:Shp_user=7"
    )


def test_checkout_description_is_truncated_to_100_chars_and_utf8_encoded():
    provider = make_provider()
    description = "Подписка VPN " * 20
    session = provider.checkout_create(request=checkout_request(description=description))
    assert query_of(session.url)["Description"] == description[:100]


def test_checkout_r5_receipt_is_urlencoded_signed_and_double_encoded_in_url():
    provider = make_provider(receipt_enabled=True, receipt_sno="usn_income")
    session = provider.checkout_create(request=checkout_request(description="Subscription"))

    assert session.params["Receipt"] == R5_RECEIPT_ENCODED
    assert session.params["SignatureValue"] == R5_MD5
    # One round of transport decoding yields the URL-encoded JSON Robokassa hashes.
    assert query_of(session.url)["Receipt"] == R5_RECEIPT_ENCODED
    assert provider.receipt_encode(request=checkout_request(description="Subscription")) == (
        R5_RECEIPT_ENCODED
    )
    assert json.loads(unquote_plus(R5_RECEIPT_ENCODED)) == json.loads(R5_RECEIPT_JSON)


def test_checkout_receipt_with_explicit_items_must_add_up():
    provider = make_provider(receipt_enabled=True)
    items = (
        ReceiptItem(name="VPN 30 days", sum=Decimal("249.50")),
        ReceiptItem(name="Extra device", sum=Decimal("49.50")),
    )
    session = provider.checkout_create(request=checkout_request(receipt_items=items))
    receipt = json.loads(unquote_plus(session.params["Receipt"]))
    assert "sno" not in receipt
    assert [item["sum"] for item in receipt["items"]] == [249.5, 49.5]

    with pytest.raises(CheckoutError) as excinfo:
        provider.checkout_create(request=checkout_request(receipt_items=items[:1]))
    assert excinfo.value.reason == "receipt_sum_mismatch"


def test_checkout_receipt_items_ignored_when_receipts_disabled():
    provider = make_provider()
    items = (ReceiptItem(name="VPN", sum=Decimal("299.00")),)
    session = provider.checkout_create(request=checkout_request(receipt_items=items))
    assert "Receipt" not in session.params
    assert session.params["SignatureValue"] == R1["md5"]


def test_checkout_rejects_non_rub_and_oversized_inv_id():
    provider = make_provider()
    with pytest.raises(CheckoutError) as excinfo:
        provider.checkout_create(request=checkout_request(currency="USD"))
    assert excinfo.value.reason == "currency_unsupported"
    with pytest.raises(CheckoutError) as excinfo:
        provider.checkout_create(request=checkout_request(payment_id=INV_ID_MAX + 1))
    assert excinfo.value.reason == "payment_id_out_of_range"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_result_r2_recorded_post_body_is_accepted():
    fixture = load_fixture("result_paid.json")
    provider = make_provider()
    params = params_from_request_data(
        body=fixture["body"].encode(), content_type=fixture["content_type"]
    )

    notification = provider.notification_parse(params=params, remote_ip=fixture["remote_addr"])

    assert notification.payment_id == 42
    assert notification.amount == Decimal("299.00")
    assert notification.event_key == "42"
    assert notification.currency is None
    assert notification.provider_ref == ""
    assert notification.payment_method == "BankCard"
    assert notification.raw == params
    assert provider.success_response(notification=notification) == (
        fixture["expected_reply"],
        "text/plain",
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", [str.upper, str.lower], ids=["upper", "lower"])
def test_result_r2_every_algorithm_any_case(algorithm, case):
    provider = make_provider(hash_algorithm=algorithm)
    assert (
        provider.result_signature(out_sum="299.00", inv_id="42", shp={"Shp_user": "7"})
        == (R2[algorithm])
    )
    params = result_params(SignatureValue=case(R2[algorithm]))
    notification = provider.notification_parse(params=params, remote_ip=None)
    assert (notification.payment_id, notification.amount) == (42, Decimal("299"))


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_result_r2b_six_decimals_is_hashed_as_received(algorithm):
    provider = make_provider(hash_algorithm=algorithm)
    params = result_params(OutSum="299.000000", SignatureValue=R2B[algorithm].upper())
    notification = provider.notification_parse(params=params, remote_ip=None)
    assert notification.amount == Decimal("299.00")
    assert str(notification.amount) == "299.000000"  # exact; equality is by value


@pytest.mark.parametrize("out_sum", ["299", "299.00", "299.000000"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_result_amount_formats_all_accepted_and_equal(out_sum, algorithm):
    provider = make_provider(hash_algorithm=algorithm)
    params = signed(algorithm=algorithm, OutSum=out_sum)
    assert params["SignatureValue"].lower() == hexdigest(
        algorithm, f"{out_sum}:42:p2-secret:Shp_user=7"
    )
    notification = provider.notification_parse(params=params, remote_ip=None)
    assert notification.amount == Decimal("299.00")
    assert notification.event_key == "42"


@pytest.mark.parametrize(
    "params",
    [
        result_params(Shp_user=None, SignatureValue="F5C7A56A1C57A00A5D14A1CA55EFD2FF"),
        result_params(  # a lowercase shp_ key is signed verbatim
            Shp_user=None, shp_user="7", SignatureValue="060AB1B39CF4CD100635F50BDC3BD8F6"
        ),
        {  # three Shp_ sent unsorted are sorted before hashing
            "Shp_user": "7",
            "OutSum": "299.00",
            "Shp_b": "2",
            "InvId": "42",
            "SignatureValue": "AEAE54927B461B4987AB6395D38BBD31",
            "Shp_a": "1",
        },
        result_params(SignatureValue="c1d81018c21bd736536a17faf64416ca"),
        result_params(out_summ="299.000000", inv_id="42", crc="deadbeef", IncSum="299"),
    ],
    ids=["r2c-without-shp", "r2d-lowercase-shp", "r4-unsorted-shp", "t-r7-lowercase", "aliases"],
)
def test_result_signed_variants_are_accepted(params):
    assert make_provider().notification_parse(params=params, remote_ip=None).payment_id == 42


def test_result_t_r8_unsigned_fields_changed_still_valid_and_same_event_key():
    provider = make_provider()
    original = provider.notification_parse(params=result_params(), remote_ip=None)
    tampered = provider.notification_parse(
        params=result_params(EMail="evil@x", Fee="0"), remote_ip=None
    )
    assert tampered.event_key == original.event_key == "42"
    assert tampered.amount == original.amount


def test_result_t_r9_duplicate_yields_same_event_key():
    provider = make_provider()
    first = provider.notification_parse(params=result_params(), remote_ip=None)
    second = provider.notification_parse(params=result_params(), remote_ip=None)
    assert first == second
    assert provider.success_response(notification=second) == ("OK42", "text/plain")


@pytest.mark.parametrize(
    ("out_sum", "signature"),
    [("199.00", "2fb8b1997bb8bdaf7eb136c5ae22124a"), ("1.00", "103b8dae217a678fc585595364e06274")],
    ids=["T-R10", "T-R11"],
)
def test_result_valid_signature_wrong_amount_is_parsed_for_services_to_reject(out_sum, signature):
    """Providers verify and parse; the amount check against the order is the service's job."""
    provider = make_provider()
    params = result_params(OutSum=out_sum, SignatureValue=signature.upper())
    notification = provider.notification_parse(params=params, remote_ip=None)
    assert notification.amount == Decimal(out_sum)
    assert notification.amount != Decimal("299")


def test_result_t_r12_get_query_string_accepted():
    fixture = load_fixture("result_paid.json")
    provider = make_provider()
    params = params_from_request_data(body=b"", content_type=None, query_string=fixture["body"])
    assert provider.notification_parse(params=params, remote_ip=None).payment_id == 42


def test_signature_is_compared_with_compare_digest():
    provider = make_provider()
    with mock.patch("billing.providers.base.hmac.compare_digest", wraps=hmac.compare_digest) as spy:
        provider.notification_parse(params=result_params(), remote_ip=None)
    spy.assert_called_once()


@pytest.mark.parametrize(
    ("overrides", "correct_signature"),
    [
        ({"OutSum": "1.00"}, "103b8dae217a678fc585595364e06274"),  # T-R1
        ({"Shp_user": "8"}, "eb40c66d58d3847a95360de44e4fde84"),  # T-R2
        ({"InvId": "43"}, "a0e3604c45481097ad07cc26ac8b61ed"),  # T-R3
        ({"SignatureValue": R3["md5"].upper()}, None),  # T-R4 signed with Password#1
        ({"SignatureValue": "C1D81018C21BD736536A17FAF64416CB"}, None),  # T-R5 flipped char
        ({"Shp_extra": "1"}, None),  # an added Shp_* is signed too
        ({"Shp_user": None}, None),  # a removed Shp_* as well
        ({"SignatureValue": "not-hex-at-all"}, None),
        ({"SignatureValue": "Ж" * 32}, None),  # non-ASCII must not crash compare_digest
        ({"SignatureValue": R2["md5"] * 2}, None),
    ],
    ids=[
        "T-R1-amount",
        "T-R2-shp",
        "T-R3-invid",
        "T-R4-password1",
        "T-R5-flipped",
        "shp-added",
        "shp-removed",
        "garbage",
        "non-ascii",
        "too-long",
    ],
)
def test_result_tampered_is_rejected(overrides, correct_signature):
    provider = make_provider()
    params = result_params(**overrides)
    with pytest.raises(WebhookVerificationError) as excinfo:
        provider.notification_parse(params=params, remote_ip=None)
    assert excinfo.value.reason == "signature_mismatch"
    # The reply must never hand back the signature that *would* have been valid.
    leaked = [correct_signature] if correct_signature else []
    assert_no_secret_leak(excinfo.value, *leaked)
    body, content_type = provider.failure_response(reason=excinfo.value.reason)
    assert not body.startswith("OK")
    assert content_type == "text/plain"


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_result_signature_of_another_algorithm_is_rejected(algorithm):
    provider = make_provider()  # md5 shop
    params = result_params(SignatureValue=R2[algorithm])
    with pytest.raises(WebhookVerificationError):
        provider.notification_parse(params=params, remote_ip=None)


@pytest.mark.parametrize("value", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_result_t_r6_missing_signature(value):
    provider = make_provider()
    with pytest.raises(WebhookVerificationError) as excinfo:
        provider.notification_parse(params=result_params(SignatureValue=value), remote_ip=None)
    assert excinfo.value.reason == "signature_missing"


@pytest.mark.parametrize("field", ["OutSum", "InvId"])
@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_result_missing_signed_field(field, value):
    provider = make_provider()
    with pytest.raises(WebhookParseError) as excinfo:
        provider.notification_parse(params=result_params(**{field: value}), remote_ip=None)
    assert excinfo.value.reason == "field_missing"
    assert excinfo.value.extra == {"field": field}


@pytest.mark.parametrize(
    ("out_sum", "reason"),
    [
        ("abc", "amount_invalid"),
        ("NaN", "amount_invalid"),
        ("nan", "amount_invalid"),
        ("Infinity", "amount_invalid"),
        ("-Infinity", "amount_invalid"),
        ("-1", "amount_invalid"),
        ("-299.00", "amount_invalid"),
        ("+299", "amount_invalid"),
        ("1e3", "amount_invalid"),
        ("2.99E2", "amount_invalid"),
        ("299,00", "amount_invalid"),
        (" 299.00", "amount_invalid"),
        ("299.", "amount_invalid"),
        (".5", "amount_invalid"),
        ("0x12b", "amount_invalid"),
        ("1_000", "amount_invalid"),
        ("٢٩٩", "amount_invalid"),  # Arabic-Indic digits: Decimal() would accept them
        ("\uff10", "amount_invalid"),  # full-width zero
        ("0", "amount_not_positive"),
        ("0.000000", "amount_not_positive"),
        ("9" * 13, "amount_out_of_range"),
        ("1." + "0" * 9, "amount_out_of_range"),
        ("9" * 10_000, "amount_out_of_range"),
    ],
)
def test_result_correctly_signed_but_bad_amount_is_rejected(out_sum, reason):
    """Even a valid signature cannot smuggle a non-plain amount past parsing."""
    provider = make_provider()
    with pytest.raises(WebhookParseError) as excinfo:
        provider.notification_parse(params=signed(OutSum=out_sum), remote_ip=None)
    assert excinfo.value.reason == reason
    assert len(str(excinfo.value.extra)) < 200  # huge values are not copied into logs


def test_result_amount_at_upper_bound_is_accepted():
    provider = make_provider()
    notification = provider.notification_parse(
        params=signed(OutSum="9" * 12 + ".99999999"), remote_ip=None
    )
    assert notification.amount == Decimal("999999999999.99999999")


@pytest.mark.parametrize(
    "inv_id",
    ["0", "-1", "042", "abc", "4.2", "1e3", " 42", "٤٢", str(INV_ID_MAX + 1), "9" * 1000],
)
def test_result_correctly_signed_but_bad_inv_id_is_rejected(inv_id):
    provider = make_provider()
    with pytest.raises(WebhookParseError) as excinfo:
        provider.notification_parse(params=signed(InvId=inv_id), remote_ip=None)
    assert excinfo.value.reason == "order_id_invalid"


def test_result_max_inv_id_is_accepted():
    provider = make_provider()
    notification = provider.notification_parse(params=signed(InvId=str(INV_ID_MAX)), remote_ip=None)
    assert notification.payment_id == INV_ID_MAX
    assert provider.success_response(notification=notification)[0] == f"OK{INV_ID_MAX}"


def test_result_huge_shp_value_does_not_crash():
    provider = make_provider()
    notification = provider.notification_parse(params=signed(Shp_user="7" * 50_000), remote_ip=None)
    assert notification.payment_id == 42


def test_result_non_utf8_is_rejected():
    provider = make_provider()
    for bad in ["\udcff", "caf\ufffd"]:  # surrogateescape leftovers / errors="replace"
        with pytest.raises(WebhookParseError) as excinfo:
            provider.notification_parse(params=result_params(EMail=bad), remote_ip=None)
        assert excinfo.value.reason == "encoding_invalid"
    with pytest.raises(WebhookParseError) as excinfo:
        params_from_request_data(
            body=b"OutSum=299.00&InvId=42&EMail=\xff\xfe",
            content_type="application/x-www-form-urlencoded",
        )
    assert excinfo.value.reason == "encoding_invalid"


def test_result_non_string_values_are_rejected():
    provider = make_provider()
    with pytest.raises(WebhookParseError) as excinfo:
        provider.notification_parse(params={**result_params(), "InvId": 42}, remote_ip=None)
    assert excinfo.value.reason == "field_invalid"


def test_result_test_notification_refused_in_live_mode_accepted_in_test_mode():
    live = make_provider()
    with pytest.raises(WebhookVerificationError) as excinfo:
        live.notification_parse(params=result_params(IsTest="1"), remote_ip=None)
    assert excinfo.value.reason == "test_payment_in_live_mode"
    assert live.notification_parse(params=result_params(IsTest="0"), remote_ip=None)

    test = make_provider(test_mode=True)
    assert test.notification_parse(params=result_params(IsTest="1"), remote_ip=None)


def test_result_ip_check_is_off_by_default_and_enforced_when_on():
    assert make_provider().notification_parse(params=result_params(), remote_ip="203.0.113.9")

    provider = make_provider(check_ip=True)
    assert provider.notification_parse(params=result_params(), remote_ip="185.59.217.65")
    for remote_ip in ["203.0.113.9", None, "", "garbage"]:
        with pytest.raises(WebhookVerificationError) as excinfo:
            provider.notification_parse(params=result_params(), remote_ip=remote_ip)
        assert excinfo.value.reason == "ip_not_allowed"


def test_all_rejections_share_the_webhook_error_base():
    provider = make_provider()
    for params in [result_params(OutSum="1.00"), result_params(InvId=None)]:
        with pytest.raises(WebhookError):
            provider.notification_parse(params=params, remote_ip=None)


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_redirect_r3_password1(algorithm):
    provider = make_provider(hash_algorithm=algorithm)
    params = {
        "OutSum": "299.00",
        "InvId": "42",
        "SignatureValue": R3[algorithm].upper(),
        "Culture": "ru",
        "Shp_user": "7",
    }
    assert provider.redirect_verify(params=params) == 42


def test_redirect_rejects_result_signature():
    provider = make_provider()
    with pytest.raises(WebhookVerificationError):
        provider.redirect_verify(params=result_params())


@pytest.mark.parametrize("algorithm", ["sha1", "ripemd160", "crc32", ""])
def test_unsupported_hash_algorithm_is_a_configuration_error(algorithm):
    with pytest.raises(ImproperlyConfigured):
        make_provider(hash_algorithm=algorithm)


def test_hash_algorithm_is_case_insensitive():
    assert make_provider(hash_algorithm="SHA256").hash_algorithm == "sha256"


@pytest.mark.parametrize("missing", ["login", "password1", "password2"])
def test_missing_credentials_are_a_configuration_error(missing):
    with pytest.raises(ImproperlyConfigured):
        make_provider(**{missing: ""})


def test_repr_hides_passwords():
    provider = make_provider()
    assert PASSWORD1 not in repr(provider)
    assert PASSWORD2 not in repr(provider)


def test_bad_allowlist_entry_fails_at_construction():
    with pytest.raises(ImproperlyConfigured):
        make_provider(check_ip=True, allowed_ips=["185.59.216.65", "not-an-ip"])
