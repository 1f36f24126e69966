"""Property-based fuzzing of the webhooks and the feed: never a 5xx for bad input, and never
a state change unless an independent implementation of the provider's formula
(docs/payments.md) says the request is genuine.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Payment, PaymentStatus, WebhookEvent
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA,
    ROBOKASSA,
    freekassa_params,
    robokassa_params,
    snapshot,
)
from devtools.payment_signing import freekassa_signature, robokassa_signature
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
RK_URL = "/api/payments/robokassa/result/"
FK_URL = "/api/payments/freekassa/notify/"


@pytest.fixture
def world(settings, db):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.TRUSTED_PROXY_IPS = []
    payment = PaymentFactory(provider="robokassa", expires_at=timezone.now() + timedelta(hours=1))
    fk_payment = PaymentFactory(
        provider="freekassa", expires_at=timezone.now() + timedelta(hours=1)
    )
    return payment, fk_payment


def robokassa_genuine(params: dict[str, str], payment: Payment) -> bool:
    """Independent check: Password #2 signature over the values as sent, amount equal."""
    try:
        out_sum, inv_id, signature = params["OutSum"], params["InvId"], params["SignatureValue"]
        amount = Decimal(out_sum)
    except (KeyError, InvalidOperation):
        return False
    shp = {k: v for k, v in params.items() if k.startswith("Shp_")}
    expected = robokassa_signature(
        out_sum=out_sum, inv_id=inv_id, password=ROBOKASSA[1]["password2"], shp=shp
    )
    return (
        # Surrounding whitespace is forgiven, as billing.providers.base.signature_matches does.
        hmac.compare_digest(expected.lower().encode(), signature.strip().lower().encode())
        and inv_id == str(payment.pk)
        and amount == payment.amount
    )


def freekassa_genuine(params: dict[str, str], payment: Payment) -> bool:
    try:
        merchant, amount, order = (
            params["MERCHANT_ID"],
            params["AMOUNT"],
            params["MERCHANT_ORDER_ID"],
        )
        value = Decimal(amount)
    except (KeyError, InvalidOperation):
        return False
    expected = freekassa_signature(
        merchant_id=merchant, amount=amount, secret=FREEKASSA[1]["secret2"], order_id=order
    )
    return (
        hmac.compare_digest(expected.encode(), params.get("SIGN", "").strip().lower().encode())
        and merchant == FREEKASSA[1]["merchant_id"]
        and order == str(payment.pk)
        and value == payment.amount
    )


def _uncredit(payment: Payment) -> None:
    """Back to pending so later examples can try again (a test-only rewind)."""
    WebhookEvent.objects.filter(payment=payment).delete()
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.PENDING, paid_at=None, subscription=None
    )


def post(url: str, body: bytes, content_type="application/x-www-form-urlencoded", **extra):
    return Client().generic("POST", url, body, content_type=content_type, **extra)


def assert_reply(response, *, genuine: bool, state_before: dict) -> None:
    assert response.status_code < 500, response.content[:200]
    success = response.status_code == 200 and response.content.decode(
        "utf-8", "replace"
    ).startswith(("OK", "YES"))
    if not genuine:
        assert not success, response.content[:200]
        assert snapshot() == state_before


text = st.text(max_size=40)
field_names = st.sampled_from(
    ["OutSum", "InvId", "SignatureValue", "Shp_user", "MERCHANT_ID", "AMOUNT",
     "MERCHANT_ORDER_ID", "SIGN", "intid", "IsTest", "Culture"]
)  # fmt: skip


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_never_5xx_never_change_state(world, body):
    before = snapshot()
    for url in (RK_URL, FK_URL):
        response = post(url, body, REMOTE_ADDR=FK_IP)
        assert_reply(response, genuine=False, state_before=before)


@FUZZ
@given(
    fields=st.dictionaries(field_names | text, text, max_size=8),
    method=st.sampled_from(["GET", "POST"]),
)
def test_random_forms_never_5xx_never_change_state(world, fields, method):
    before = snapshot()
    for url in (RK_URL, FK_URL):
        if method == "GET":
            response = Client().get(f"{url}?{urlencode(fields)}", REMOTE_ADDR=FK_IP)
        else:
            response = post(url, urlencode(fields).encode(), REMOTE_ADDR=FK_IP)
        assert_reply(response, genuine=False, state_before=before)


def _mutate(params: dict[str, str], data) -> dict[str, str]:
    mutated = dict(params)
    key = data.draw(st.sampled_from(sorted(mutated)))
    action = data.draw(st.sampled_from(["drop", "replace", "flip", "append", "case"]))
    value = mutated[key]
    if action == "drop":
        del mutated[key]
    elif action == "replace":
        mutated[key] = data.draw(text)
    elif action == "flip" and value:
        i = data.draw(st.integers(0, len(value) - 1))
        mutated[key] = value[:i] + chr((ord(value[i]) + 1) % 0x10FFFF or 65) + value[i + 1 :]
    elif action == "append":
        mutated[key] = value + data.draw(st.text(min_size=1, max_size=3))
    else:
        mutated[key] = value.swapcase()
    return mutated


MUTATED = {
    "robokassa": (0, robokassa_params, robokassa_genuine, RK_URL, {}),
    "freekassa": (1, freekassa_params, freekassa_genuine, FK_URL, {"REMOTE_ADDR": FK_IP}),
}


@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
@FUZZ
@given(data=st.data())
def test_mutated_notifications(world, provider, data):
    index, params_for, genuine_for, url, extra = MUTATED[provider]
    payment = world[index]
    params = _mutate(params_for(payment.pk, str(payment.amount)), data)
    before = snapshot()
    genuine = genuine_for(params, payment)
    response = post(url, urlencode(params).encode(), **extra)
    assert_reply(response, genuine=genuine, state_before=before)
    payment.refresh_from_db()
    if payment.status == PaymentStatus.PAID:
        assert genuine  # a credit only ever follows a genuine notification
        _uncredit(payment)


@pytest.fixture
def feed_subscription(db):
    return SubscriptionFactory()


@FUZZ
@given(
    data=st.data(),
    agent=st.sampled_from(["v2rayNG/1.8", "Mozilla/5.0 Chrome/120", "", "curl/8"]),
    accept=st.sampled_from(["*/*", "text/html", ""]),
)
def test_feed_never_5xx_and_only_the_real_token_answers(feed_subscription, data, agent, accept):
    real = feed_subscription.feed_token
    token = data.draw(
        st.one_of(
            st.text(max_size=80),
            st.just(real),
            st.builds(lambda cut: real[:cut], st.integers(0, len(real) - 1)),
            st.builds(lambda extra: real + extra, st.text(min_size=1, max_size=4)),
        )
    )
    # Every example comes from one address, and shrinking replays hundreds of them: the
    # per-address limit (tested on its own) would answer 429 here.
    with override_settings(FEED_REQUESTS_PER_MINUTE=1_000_000):
        # Percent-encoded whole: a "?" or "#" in the token must reach the view as part of it,
        # not start a query string (then "/sub/<real>?x" would rightly answer the real feed).
        response = Client().get(
            "/sub/" + quote(token, safe=""), HTTP_USER_AGENT=agent, HTTP_ACCEPT=accept
        )
    assert response.status_code in {200, 404}, response.status_code
    if response.status_code == 200:
        assert token == real


@FUZZ
@given(
    values=st.lists(
        st.one_of(st.text(max_size=20), st.sampled_from(["clash", "SING-BOX", "links"])),
        min_size=1,
        max_size=3,
    ),
    agent=st.sampled_from(["v2rayNG/1.8", "clash-verge/v2.4.2", "SFA/1.12.0", ""]),
)
def test_feed_format_parameter_is_served_or_refused_never_5xx(feed_subscription, values, agent):
    """Any ``?format=`` (docs/feed.md): a format we serve answers 200, anything else 400."""
    from subscriptions.feed_formats import FORMAT_NAMES

    with override_settings(FEED_REQUESTS_PER_MINUTE=1_000_000):
        response = Client().get(
            f"/sub/{feed_subscription.feed_token}",
            {"format": values},
            HTTP_USER_AGENT=agent,
        )
    names = {value.strip().lower() for value in values}
    known = names <= set(FORMAT_NAMES) and len({FORMAT_NAMES[n] for n in names}) == 1
    assert response.status_code == (200 if known else 400), (values, response.content[:80])
