"""Refunding a YooKassa payment from the console returns the money through
``POST /v3/refunds`` (mocked with `responses`) with an idempotence key derived from the
payment; a failed call changes nothing, and no refund is ever paid twice."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from billing.models import PaymentStatus
from billing.services.payments import payment_idempotence_key
from billing.services.refunds import payment_refund
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import YOOKASSA_API, mark_paid, snapshot, yk_id, yookassa_refund
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog

pytestmark = pytest.mark.django_db

REFUNDS = f"{YOOKASSA_API}refunds"


@pytest.fixture
def paid(yookassa_api, superuser):
    payment = PaymentFactory(provider="yookassa", expires_at=timezone.now() + timedelta(hours=1))
    payment.provider_ref = yk_id(payment.pk)
    payment.save(update_fields=["provider_ref"])
    mark_paid(payment, provider_ref=yk_id(payment.pk))
    payment.refresh_from_db()
    return payment


def test_refund_goes_through_the_api(yookassa_api, paid, superuser):
    yookassa_api.post(REFUNDS, json=yookassa_refund(paid.provider_ref))
    expiry = paid.subscription.expires_at
    payment_refund(payment=paid, actor=superuser, reason="asked by the customer")

    paid.refresh_from_db()
    assert paid.status == PaymentStatus.REFUNDED
    assert paid.subscription.expires_at < expiry
    (call,) = yookassa_api.calls
    assert call.request.headers["Idempotence-Key"] == payment_idempotence_key(
        payment=paid, purpose="refund"
    )
    assert json.loads(call.request.body) == {
        "payment_id": paid.provider_ref,
        "amount": {"value": "299.00", "currency": "RUB"},
    }
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.extra_data["provider_refund_ref"] == yookassa_refund(paid.provider_ref)["id"]


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ReadTimeout("slow")},
        {"status": 400, "json": {"code": "invalid_request", "description": "too much"}},
        {"json": yookassa_refund("x", status="canceled")},
    ],
)
def test_a_failed_refund_call_changes_nothing(yookassa_api, paid, superuser, failure):
    yookassa_api.post(REFUNDS, **failure)
    before = snapshot()
    with pytest.raises(ApplicationError) as excinfo:
        payment_refund(payment=paid, actor=superuser, reason="asked")
    assert f"payment #{paid.pk}" in excinfo.value.message
    assert snapshot() == before


def test_a_retried_refund_reuses_the_key_and_a_done_one_is_never_repeated(
    yookassa_api, paid, superuser
):
    yookassa_api.post(REFUNDS, body=requests.ReadTimeout("slow"))
    yookassa_api.post(REFUNDS, json=yookassa_refund(paid.provider_ref))
    with pytest.raises(ApplicationError):
        payment_refund(payment=paid, actor=superuser, reason="asked")
    payment_refund(payment=paid, actor=superuser, reason="asked")
    with pytest.raises(ApplicationError):  # already refunded: refused before any call
        payment_refund(payment=paid, actor=superuser, reason="asked again")
    keys = [call.request.headers["Idempotence-Key"] for call in yookassa_api.calls]
    assert len(keys) == 2
    assert keys[0] == keys[1]


def test_other_providers_make_no_call(yookassa_api, superuser, billing_providers):
    payment = PaymentFactory(provider="robokassa")
    mark_paid(payment)
    payment_refund(payment=payment, actor=superuser, reason="returned in the cabinet")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert len(yookassa_api.calls) == 0
