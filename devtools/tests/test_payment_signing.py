"""The test-side signature helper (devtools/payment_signing.py) against the reference test
vectors (docs/payments.md, "Robokassa: test vectors" and "FreeKassa: test vectors")."""

from urllib.parse import parse_qsl

import pytest

from devtools.payment_signing import (
    freekassa_form_signature,
    freekassa_signature,
    robokassa_signature,
)

LOGIN, PASSWORD1, PASSWORD2 = "demo-shop", "p1-secret", "p2-secret"
SHP = {"Shp_user": "7"}
RECEIPT = (
    "%7B%22sno%22%3A%22usn_income%22%2C%22items%22%3A%5B%7B%22name%22%3A%22Subscription%22"
    "%2C%22quantity%22%3A1%2C%22sum%22%3A299%2C%22payment_method%22%3A%22full_payment%22%2C"
    "%22payment_object%22%3A%22service%22%2C%22tax%22%3A%22none%22%7D%5D%7D"
)
R2_BODY = (
    "OutSum=299.00&InvId=42&Fee=11.66&EMail=buyer%40example.com"
    "&SignatureValue=C1D81018C21BD736536A17FAF64416CA&PaymentMethod=BankCard"
    "&IncCurrLabel=BankCardPSR&Shp_user=7"
)
F2_BODY = (
    "MERCHANT_ID=12345&AMOUNT=299&intid=123456789&MERCHANT_ORDER_ID=42"
    "&P_EMAIL=buyer%40example.com&P_PHONE=&CUR_ID=44&SIGN=d8c7686e5d9a838079f33dd2c156c568"
    "&us_user=7&payer_account=&commission=0"
)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("md5", "c0b235034f287364f0cdb7060d141120"),
        ("sha256", "4c28ab95fa49baa6acb7fb9d67aa318f061669e4a2b24a2ff7e74bb3c5625025"),
        (
            "sha384",
            (
                "c84fa280e8ab9d92fd6bd50533fb7e3b984d9bfad1afeb77cf4471d0d0be2850"
                "93c716e04303766a52e486e10d28c49f"
            ),
        ),
        (
            "sha512",
            (
                "26d2dd608f31aba36a2105562a27a3d6be8feeb7f359ba2b68066f84aa296ae9"
                "e324987ded07c61be28b545b669734c47dfb178cd094f7332c13133e44eeb561"
            ),
        ),
    ],
)
def test_robokassa_link_r1(algorithm, expected):
    signature = robokassa_signature(
        login=LOGIN,
        out_sum="299.00",
        inv_id=42,
        password=PASSWORD1,
        shp=SHP,
        algorithm=algorithm,
    )
    assert signature == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"shp": None}, "675aae8f3241932b184f76bd350399bd"),  # R1b
        ({"inv_id": ""}, "733eaff34be5d15f68479f12889606dc"),  # R1c
        ({"shp": {"shp_user": "7"}}, "4c39b2985c048791bf1a05fd26d2c9fa"),  # R1d
        ({"receipt": RECEIPT}, "3a83cf9ba55eb516ce486100b8f0fcb1"),  # R5
    ],
    ids=["R1b", "R1c", "R1d", "R5"],
)
def test_robokassa_link_variants(kwargs, expected):
    params = {"login": LOGIN, "out_sum": "299.00", "inv_id": 42, "password": PASSWORD1}
    params["shp"] = SHP
    params.update(kwargs)
    assert robokassa_signature(**params) == expected


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("md5", "c1d81018c21bd736536a17faf64416ca"),
        ("sha256", "71edfe9e1709d60db55cbf1d34cf702348e56725b80d0728fb0b624067f9c987"),
        (
            "sha384",
            (
                "7fe4b9ade678a9d909c76f585b0013446fa5655298df9fda2d4cfccbf9f7b1f5"
                "87a4b406c1a507006669470c9a3178e8"
            ),
        ),
        (
            "sha512",
            (
                "95b6387bdcd155bd65104135a03d38b77f4c8c4436dec540f79d3e06aee4b534"
                "469176cc980e07f8a3dca56ca71c5085bf5408c58d800dcda759de34c36d04ad"
            ),
        ),
    ],
)
def test_robokassa_result_r2(algorithm, expected):
    signature = robokassa_signature(
        out_sum="299.00", inv_id="42", password=PASSWORD2, shp=SHP, algorithm=algorithm
    )
    assert signature == expected


def result(out_sum="299.00", inv_id=42, password=PASSWORD2, shp=SHP, algorithm="md5"):
    return robokassa_signature(
        out_sum=out_sum, inv_id=inv_id, password=password, shp=shp, algorithm=algorithm
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"out_sum": "299.000000"}, "ec0f4860d76f9f970b98b464d9a64a4b"),
        (
            {"out_sum": "299.000000", "algorithm": "sha256"},
            "d49126eb6fdc7cce254b7cc2bf47ec832d75cdc11d1aae2db1418a3d0478a643",
        ),
        ({"shp": None}, "f5c7a56a1c57a00a5d14a1ca55efd2ff"),
        ({"shp": {"shp_user": "7"}}, "060ab1b39cf4cd100635f50bdc3bd8f6"),
        (  # sent unsorted, signed sorted
            {"shp": {"Shp_user": "7", "Shp_b": "2", "Shp_a": "1"}},
            "aeae54927b461b4987ab6395d38bbd31",
        ),
        ({"password": PASSWORD1}, "96e97d876ef85c684e483af753061c42"),
        (
            {"password": PASSWORD1, "algorithm": "sha256"},
            "4115079fa472300c4aaae0a6970eef2a687c4e0a7c1e600f8cb87cfcd2fa53e6",
        ),
        ({"shp": {"Shp_user": "8"}}, "eb40c66d58d3847a95360de44e4fde84"),
        ({"inv_id": 43}, "a0e3604c45481097ad07cc26ac8b61ed"),
        ({"out_sum": "199.00"}, "2fb8b1997bb8bdaf7eb136c5ae22124a"),
        ({"out_sum": "1.00"}, "103b8dae217a678fc585595364e06274"),
    ],
    ids=[
        "R2b-md5",
        "R2b-sha256",
        "R2c",
        "R2d",
        "R4",
        "R3-md5",
        "R3-sha256",
        "T-R2",
        "T-R3",
        "T-R10",
        "T-R11",
    ],
)
def test_robokassa_variants(kwargs, expected):
    assert result(**kwargs) == expected


def test_robokassa_the_reference_body_is_signed_as_the_helper_signs():
    params = dict(parse_qsl(R2_BODY, keep_blank_values=True))
    shp = {key: value for key, value in params.items() if key.startswith("Shp_")}
    expected = robokassa_signature(
        out_sum=params["OutSum"], inv_id=params["InvId"], password=PASSWORD2, shp=shp
    )
    assert params["SignatureValue"] == expected.upper()


@pytest.mark.parametrize(
    ("merchant", "amount", "secret", "order", "expected"),
    [
        ("12345", "299", "s2", 42, "d8c7686e5d9a838079f33dd2c156c568"),  # F2
        ("12345", "299.00", "s2", "42", "64008821794f6789ccabdc187aca3ab3"),  # F2b
        ("12345", "299", "s1", 42, "933951eb67466d63dbc612ee1a43ad61"),  # T-F3 (secret 1)
        ("12345", "1", "s2", 42, "6205dcd4dcd8d74a719ff6579320edb2"),  # T-F1
        ("12345", "299", "s2", 43, "8f7fdf4f0905ff1e41a967fec9ed5544"),  # T-F2
        ("12345", "199", "s2", 42, "47b4ae33527fe3d56a71e5605b189b95"),  # T-F8
        ("14963", "99", "secret_word_2", "ID_234", "c0905625cf96d7730487a4dda69c6a09"),
        ("12345", "100", "secret_key_second", 10, "7f590bc40563dc9ff96269e586ba6e65"),
    ],
    ids=["F2", "F2b", "T-F3", "T-F1", "T-F2", "T-F8", "freekassa-node", "laravel-freekassa"],
)
def test_freekassa_notification(merchant, amount, secret, order, expected):
    assert (
        freekassa_signature(merchant_id=merchant, amount=amount, secret=secret, order_id=order)
        == expected
    )


def test_freekassa_the_reference_body_is_signed_as_the_helper_signs():
    params = dict(parse_qsl(F2_BODY, keep_blank_values=True))
    assert params["SIGN"] == freekassa_signature(
        merchant_id=params["MERCHANT_ID"],
        amount=params["AMOUNT"],
        secret="s2",
        order_id=params["MERCHANT_ORDER_ID"],
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("299", "0cfc18ee7b1c44d4ff0d4fde5579b86e"), ("299.00", "527a0931e8151bd4dbdbc4a8ceb85f44")],
    ids=["F1", "F1b"],
)
def test_freekassa_form(amount, expected):
    signature = freekassa_form_signature(
        merchant_id="12345", amount=amount, secret="s1", currency="RUB", order_id=42
    )
    assert signature == expected
