"""YooKassa notifications through the view, its API mocked (`responses`): stored first, taken
only from YooKassa's addresses and only as ``GET /v3/payments|refunds/{id}`` confirms them;
a credit, a cancellation and a refund each happen once; anything unconfirmed changes nothing
(docs/payments.md "YooKassa: notifications")."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.webhooks import webhook_event_reprocess
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    JSON,
    YK_IP,
    YOOKASSA_API,
    YOOKASSA_URL,
    snapshot,
    yk_id,
    yookassa_notification,
    yookassa_payment,
    yookassa_refund,
)
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxMessage
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment(db):
    """A pending YooKassa renewal of 299.00 RUB, created at YooKassa as yk_id(pk)."""
    payment = PaymentFactory(
        subscription=SubscriptionFactory(),
        provider="yookassa",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    payment.provider_ref = yk_id(payment.pk)
    payment.save(update_fields=["provider_ref"])
    return payment


def notify(client, event, obj, *, ip=YK_IP, content_type=JSON):
    return client.post(
        YOOKASSA_URL,
        yookassa_notification(event, obj),
        content_type=content_type,
        REMOTE_ADDR=ip,
    )


def confirm(api, payment, **fields):
    """The API's answer for `payment`: succeeded for 299.00 unless `fields` say otherwise."""
    api.get(
        f"{YOOKASSA_API}payments/{yk_id(payment.pk)}",
        json=yookassa_payment(payment.pk, **fields),
    )


def test_a_confirmed_notification_credits_once(client, yookassa_api, payment):
    confirm(yookassa_api, payment)
    expiry = payment.subscription.expires_at
    for _ in range(3):  # YooKassa repeats a delivery it is not sure of
        response = notify(client, "payment.succeeded", yookassa_payment(payment.pk))
        assert (response.status_code, response.content) == (200, b"OK")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.subscription.expires_at == expiry + timedelta(days=30)
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    statuses = list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["processed", "duplicate", "duplicate"]
    event = WebhookEvent.objects.get(status="processed")
    assert (event.event_key, event.payment_id) == (
        f"payment.succeeded:{yk_id(payment.pk)}",
        payment.pk,
    )


@pytest.mark.parametrize("ip", ["203.0.113.9", "185.71.76.200"])
def test_a_notification_from_a_foreign_address_changes_nothing(client, yookassa_api, payment, ip):
    before = snapshot()
    response = notify(client, "payment.succeeded", yookassa_payment(payment.pk), ip=ip)
    assert response.status_code == 400
    assert snapshot() == before
    assert len(yookassa_api.calls) == 0  # refused before the API was asked
    event = WebhookEvent.objects.get()  # but stored first
    assert (event.status, event.outcome, event.verified) == ("rejected", "ip_not_allowed", False)


def test_x_forwarded_for_is_not_believed_from_a_stranger(client, yookassa_api, payment):
    before = snapshot()
    response = client.post(
        YOOKASSA_URL,
        yookassa_notification("payment.succeeded", yookassa_payment(payment.pk)),
        content_type=JSON,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR=YK_IP,
    )
    assert response.status_code == 400
    assert snapshot() == before


def test_behind_our_proxy_the_forwarded_address_counts(client, yookassa_api, payment, settings):
    settings.TRUSTED_PROXY_IPS = ["10.0.0.1"]
    confirm(yookassa_api, payment)
    response = client.post(
        YOOKASSA_URL,
        yookassa_notification("payment.succeeded", yookassa_payment(payment.pk)),
        content_type=JSON,
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=YK_IP,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "api_fields",
    [
        {"status": "pending"},
        {"status": "canceled"},
        {"status": "waiting_for_capture"},
        {"amount": "1.00"},
        {"amount": "299.00", "currency": "USD"},
        {"metadata": {"payment_id": "999999"}},
    ],
)
def test_what_the_api_does_not_confirm_changes_nothing(client, yookassa_api, payment, api_fields):
    """The body says "succeeded for 299.00"; the API (the truth) says otherwise."""
    confirm(yookassa_api, payment, **api_fields)
    before = snapshot()
    response = notify(client, "payment.succeeded", yookassa_payment(payment.pk))
    assert response.status_code == 400
    after = snapshot()
    for key in ("payments", "subscriptions", "audit"):
        assert after[key] == before[key]
    # A confirmed payment for another amount: money was taken, the admins are told.
    assert {kind for _pk, kind, _chat in after["outbox"]} <= {"payment-mismatch"}
    assert WebhookEvent.objects.get().status == WebhookEventStatus.REJECTED


def test_a_payment_named_by_another_yookassa_payment_is_refused(client, yookassa_api, payment):
    """Genuine API data for payment Y whose metadata names our payment X: X was created at
    YooKassa as another id, so Y cannot pay for it."""
    other = yk_id(payment.pk + 1000)
    yookassa_api.get(
        f"{YOOKASSA_API}payments/{other}", json=yookassa_payment(payment.pk, object_id=other)
    )
    before = snapshot()
    response = notify(client, "payment.succeeded", yookassa_payment(payment.pk, object_id=other))
    assert response.status_code == 400
    assert snapshot() != before  # only the admins' alert was queued
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert WebhookEvent.objects.get().outcome == "provider_ref_mismatch"


def test_api_down_while_confirming_fails_the_delivery_for_a_retry(client, yookassa_api, payment):
    yookassa_api.get(
        f"{YOOKASSA_API}payments/{yk_id(payment.pk)}", body=requests.ConnectTimeout("slow")
    )
    before = snapshot()
    response = notify(client, "payment.succeeded", yookassa_payment(payment.pk))
    assert response.status_code == 500  # YooKassa delivers it again
    assert snapshot()["payments"] == before["payments"]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.FAILED
    assert "ProviderApiError" in event.error

    # The API is back: reprocessing the stored delivery credits it.
    yookassa_api.replace(
        "GET", f"{YOOKASSA_API}payments/{yk_id(payment.pk)}", json=yookassa_payment(payment.pk)
    )
    assert webhook_event_reprocess(event=event).status == WebhookEventStatus.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_canceled_marks_a_pending_payment_cancelled_once(client, yookassa_api, payment):
    confirm(yookassa_api, payment, status="canceled")
    for _ in range(2):
        response = notify(client, "payment.canceled", yookassa_payment(payment.pk))
        assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_CANCELLED).count() == 1
    statuses = list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["processed", "duplicate"]


def test_canceled_never_unpays_a_paid_payment(client, yookassa_api, payment):
    confirm(yookassa_api, payment)
    notify(client, "payment.succeeded", yookassa_payment(payment.pk))
    yookassa_api.replace(
        "GET",
        f"{YOOKASSA_API}payments/{yk_id(payment.pk)}",
        json=yookassa_payment(payment.pk, status="canceled"),
    )
    before = snapshot()
    assert notify(client, "payment.canceled", yookassa_payment(payment.pk)).status_code == 200
    assert snapshot() == before


def test_a_refund_made_at_yookassa_refunds_once(client, yookassa_api, payment):
    confirm(yookassa_api, payment)
    notify(client, "payment.succeeded", yookassa_payment(payment.pk))
    payment.refresh_from_db()
    paid_until = payment.subscription.expires_at
    refund = yookassa_refund(yk_id(payment.pk))
    yookassa_api.get(f"{YOOKASSA_API}refunds/{refund['id']}", json=refund)
    for _ in range(2):
        assert notify(client, "refund.succeeded", refund).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.subscription.expires_at == paid_until - timedelta(days=30)
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_REFUNDED).count() == 1
    assert not [c for c in yookassa_api.calls if c.request.method == "POST"]  # no refund call
    assert OutboxMessage.objects.filter(kind="payment-refunded").count() == 1


@pytest.mark.parametrize(
    ("refund_fields", "outcome"),
    [({"amount": "100.00"}, "refund_partial"), ({"status": "pending"}, "not_confirmed")],
)
def test_a_partial_or_unconfirmed_refund_changes_nothing(
    client, yookassa_api, payment, refund_fields, outcome
):
    confirm(yookassa_api, payment)
    notify(client, "payment.succeeded", yookassa_payment(payment.pk))
    refund = yookassa_refund(yk_id(payment.pk))
    yookassa_api.get(
        f"{YOOKASSA_API}refunds/{refund['id']}", json={**refund, **_refund_api(refund_fields)}
    )
    before = snapshot()["payments"]
    assert notify(client, "refund.succeeded", refund).status_code == 400
    assert snapshot()["payments"] == before
    assert WebhookEvent.objects.order_by("-pk").first().outcome == outcome


def _refund_api(fields):
    if "amount" in fields:
        return {"amount": {"value": fields["amount"], "currency": "RUB"}}
    return fields


def test_a_form_body_is_refused(client, yookassa_api, payment):
    response = client.post(
        YOOKASSA_URL, {"event": "payment.succeeded"}, REMOTE_ADDR=YK_IP
    )  # multipart, not JSON
    assert response.status_code == 400
    assert WebhookEvent.objects.get().outcome == "content_type_unsupported"


def test_a_confirmed_other_amount_alerts_the_admins_once_naming_our_payment(
    client, yookassa_api, payment
):
    confirm(yookassa_api, payment, amount="1.00")
    for _ in range(2):
        assert notify(client, "payment.succeeded", yookassa_payment(payment.pk)).status_code == 400
    alerts = OutboxMessage.objects.filter(kind="payment-mismatch")
    assert alerts.count() == 2  # one per admin chat, once for both deliveries
    texts = [alert.text for alert in alerts]
    assert all(f"платеже №{payment.pk} " in text for text in texts), texts  # LANGUAGE_CODE
    assert all("amount_mismatch" in alert.text for alert in alerts)
