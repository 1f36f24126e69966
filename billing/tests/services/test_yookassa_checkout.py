"""A YooKassa checkout link: the payment created at YooKassa once, with an idempotence key
derived from our payment (a retry sends the same key), then shown from our row."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from billing.services.payments import payment_checkout_url, payment_idempotence_key
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import YOOKASSA_API, yk_id, yookassa_payment
from core.exceptions import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(yookassa_api):
    return PaymentFactory(provider="yookassa", expires_at=timezone.now() + timedelta(hours=1))


def test_a_retry_after_a_timeout_sends_the_same_key_and_one_payment_is_kept(yookassa_api, pending):
    yookassa_api.post(f"{YOOKASSA_API}payments", body=requests.ReadTimeout("slow"))
    answer = yookassa_payment(pending.pk, status="pending")
    yookassa_api.post(f"{YOOKASSA_API}payments", json=answer)

    with pytest.raises(ApplicationError) as excinfo:
        payment_checkout_url(payment=pending)
    pending.refresh_from_db()
    assert (pending.provider_ref, pending.checkout_url) == ("", "")  # nothing half made
    assert "Платёжный сервис" in excinfo.value.message  # the customer's language (ru)

    url = payment_checkout_url(payment=pending)
    assert payment_checkout_url(payment=pending) == url  # shown again without a call
    keys = [call.request.headers["Idempotence-Key"] for call in yookassa_api.calls]
    assert keys == [payment_idempotence_key(payment=pending, purpose="create")] * 2
    assert json.loads(yookassa_api.calls[0].request.body) == json.loads(
        yookassa_api.calls[1].request.body
    )
    pending.refresh_from_db()
    assert pending.provider_ref == yk_id(pending.pk)
    assert pending.checkout_url == url == answer["confirmation"]["confirmation_url"]


def test_keys_differ_per_payment_and_purpose(yookassa_api, pending):
    other = PaymentFactory(provider="yookassa")
    keys = {
        payment_idempotence_key(payment=payment, purpose=purpose)
        for payment in (pending, other)
        for purpose in ("create", "refund")
    }
    assert len(keys) == 4
    assert all(len(key) <= 64 for key in keys)


def test_an_expired_payment_is_not_created_at_yookassa(yookassa_api, pending):
    pending.expires_at = timezone.now() - timedelta(minutes=1)
    with pytest.raises(ApplicationError):
        payment_checkout_url(payment=pending)
    assert len(yookassa_api.calls) == 0
