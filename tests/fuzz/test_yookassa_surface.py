"""Property-based fuzzing of the YooKassa notification URL from one of YooKassa's own
addresses (the strongest sender there is): whatever the body says, never a 5xx and never a
change while the API (mocked) does not confirm a payment (docs/payments.md "YooKassa:
notifications")."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    FREEKASSA,
    JSON,
    ROBOKASSA,
    YK_IP,
    YOOKASSA,
    YOOKASSA_API,
    YOOKASSA_URL,
    snapshot,
    yk_id,
    yookassa_payment,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOT_FOUND = {"type": "error", "code": "not_found", "description": "no such object"}


@pytest.fixture
def world(settings, db):
    """One pending YooKassa payment; the API knows it as pending, and knows nothing else."""
    settings.BILLING_PROVIDERS = {
        "robokassa": ROBOKASSA,
        "freekassa": FREEKASSA,
        "yookassa": YOOKASSA,
    }
    settings.TRUSTED_PROXY_IPS = []
    payment = PaymentFactory(provider="yookassa", expires_at=timezone.now() + timedelta(hours=1))
    payment.provider_ref = yk_id(payment.pk)
    payment.save(update_fields=["provider_ref"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(
            f"{YOOKASSA_API}payments/{payment.provider_ref}",
            json=yookassa_payment(payment.pk, status="pending"),
        )
        api.get(
            re.compile(rf"{re.escape(YOOKASSA_API)}(payments|refunds)/.*"),
            status=404,
            json=NOT_FOUND,
        )
        yield payment


ids = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["", "../refunds", "a/b", "x?y=1", "%2e%2e", " " * 3]),
    st.integers(),
    st.none(),
)
events = st.one_of(
    st.sampled_from(
        ["payment.succeeded", "payment.canceled", "refund.succeeded", "payment.waiting_for_capture"]
    ),
    st.text(max_size=30),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
objects = st.fixed_dictionaries(
    {"id": ids},
    optional={
        "status": st.sampled_from(["succeeded", "canceled", "pending"]),
        "paid": st.booleans(),
        "amount": st.fixed_dictionaries(
            {"value": st.text(max_size=12), "currency": st.text(max_size=4)}
        ),
        "metadata": st.dictionaries(st.text(max_size=12), scalars, max_size=3),
        "payment_id": ids,
    },
)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda type_, event, obj: json.dumps(
                {"type": type_, "event": event, "object": obj}
            ).encode(),
            st.sampled_from(["notification", "other"]),
            events,
            st.one_of(objects, scalars),
        ),
    ),
    content_type=st.sampled_from([JSON, "application/json; charset=utf-8", "text/plain", ""]),
)
def test_no_unconfirmed_notification_changes_anything(world, body, content_type):
    before = snapshot()
    response = Client().generic(
        "POST", YOOKASSA_URL, body, content_type=content_type, REMOTE_ADDR=YK_IP
    )
    assert response.status_code < 500, response.content[:200]
    assert response.status_code == 400
    assert snapshot() == before
