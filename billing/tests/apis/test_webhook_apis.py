"""The notification endpoints end to end: each notification twice -> one credit, one extension."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA_URL,
    ROBOKASSA_URL,
    freekassa_params,
    is_success,
    robokassa_params,
    send,
)
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

AMOUNTS = ["299", "299.00", "299.000000"]


def deliver(client, provider, payment, amount, method):
    if provider == "robokassa":
        return send(client, ROBOKASSA_URL, robokassa_params(payment.pk, amount), method=method)
    return send(
        client,
        FREEKASSA_URL,
        freekassa_params(payment.pk, amount),
        method=method,
        REMOTE_ADDR=FK_IP,
    )


def expected_body(provider, payment):
    return f"OK{payment.pk}" if provider == "robokassa" else "YES"


@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("amount", AMOUNTS)
def test_renewal_posted_twice_extends_once(client, provider, method, amount):
    subscription = SubscriptionFactory()
    before_expiry = subscription.expires_at
    payment = PaymentFactory(
        subscription=subscription,
        provider=provider,
        expires_at=timezone.now() + timedelta(hours=1),
    )

    first = deliver(client, provider, payment, amount, method)
    second = deliver(client, provider, payment, amount, method)

    assert first.status_code == second.status_code == 200
    assert first.content.decode() == second.content.decode() == expected_body(provider, payment)
    assert first["Content-Type"].startswith("text/plain")
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.subscription_id == subscription.pk
    assert payment.days_credited == 30
    assert payment.paid_at is not None
    assert subscription.expires_at == before_expiry + timedelta(days=30)
    assert Subscription.objects.count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXTENDED).count() == 1
    customer_messages = OutboxMessage.objects.filter(
        audience=OutboxAudience.CUSTOMER, kind="payment-paid"
    )
    assert customer_messages.count() == 1
    assert OutboxMessage.objects.filter(kind="payment-new").count() == 2  # two admin chats
    events = list(WebhookEvent.objects.order_by("pk"))
    assert [e.status for e in events] == [
        WebhookEventStatus.PROCESSED,
        WebhookEventStatus.DUPLICATE,
    ]
    assert all(e.verified and e.payment_id == payment.pk for e in events)
    assert events[0].method == method
    assert events[1].outcome == "already_paid"


@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
def test_new_purchase_creates_one_subscription(client, provider):
    payment = PaymentFactory(provider=provider, expires_at=timezone.now() + timedelta(hours=1))
    responses = [deliver(client, provider, payment, "299.00", "POST") for _ in range(3)]
    assert all(is_success(r) for r in responses)
    payment.refresh_from_db()
    assert Subscription.objects.count() == 1
    subscription = Subscription.objects.get()
    assert payment.subscription == subscription
    assert subscription.customer == payment.customer
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_CREATED).count() == 1
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count() == 1
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.DUPLICATE).count() == 2


def test_freekassa_intid_is_stored_as_provider_ref(client):
    payment = PaymentFactory(provider="freekassa")
    params = freekassa_params(payment.pk, intid="987654")
    assert is_success(send(client, FREEKASSA_URL, params, REMOTE_ADDR=FK_IP))
    payment.refresh_from_db()
    assert payment.provider_ref == "987654"


def test_replay_with_altered_unsigned_fields_is_a_duplicate(client):
    """FreeKassa's intid/us_*/CUR_ID are unsigned: a replay changing them credits nothing."""
    payment = PaymentFactory(provider="freekassa")
    assert is_success(send(client, FREEKASSA_URL, freekassa_params(payment.pk), REMOTE_ADDR=FK_IP))
    replay = freekassa_params(payment.pk, intid="1", us_user="8", CUR_ID="4")
    response = send(client, FREEKASSA_URL, replay, REMOTE_ADDR=FK_IP)
    assert response.content == b"YES"
    payment.refresh_from_db()
    assert payment.provider_ref == "123456789"
    assert Subscription.objects.count() == 1


def test_lowercase_robokassa_signature_and_unsigned_fields_accepted(client, pending_payment):
    params = robokassa_params(pending_payment.pk)
    params["SignatureValue"] = params["SignatureValue"].lower()
    params.update({"EMail": "evil@example.com", "Fee": "0"})
    response = send(client, ROBOKASSA_URL, params)
    assert response.content.decode() == f"OK{pending_payment.pk}"


def test_reply_ignores_accept_header(client, pending_payment):
    response = send(
        client,
        ROBOKASSA_URL,
        robokassa_params(pending_payment.pk),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.content.decode() == f"OK{pending_payment.pk}"


def test_unconfigured_provider_is_404_and_records_nothing(client, settings, pending_payment):
    settings.BILLING_PROVIDERS = {}
    response = send(client, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
    assert response.status_code == 404
    assert not response.content.startswith(b"OK")
    assert WebhookEvent.objects.count() == 0


def test_other_methods_are_refused(client, pending_payment):
    response = send(client, ROBOKASSA_URL, robokassa_params(pending_payment.pk), method="PUT")
    assert response.status_code == 405
    assert not response.content.startswith(b"OK")
    assert Payment.objects.get().status == PaymentStatus.PENDING


@pytest.mark.parametrize("url", [ROBOKASSA_URL, FREEKASSA_URL])
@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "DELETE"])
def test_only_get_and_post_are_answered_and_nothing_else_is_stored(
    client, billing_providers, url, method
):
    response = client.generic(method, url, b"", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert WebhookEvent.objects.count() == 0


def test_cookies_and_authorization_are_not_stored(client, pending_payment):
    client.cookies["sessionid"] = "secret-session"
    send(
        client,
        ROBOKASSA_URL,
        robokassa_params(pending_payment.pk),
        HTTP_AUTHORIZATION="Bearer secret-token",
        HTTP_USER_AGENT="Robokassa",
    )
    event = WebhookEvent.objects.get()
    lowered = {key.lower() for key in event.headers}
    assert "cookie" not in lowered
    assert "authorization" not in lowered
    assert event.headers["User-Agent"] == "Robokassa"
    assert "secret" not in str(event.headers)
    assert event.remote_ip == "127.0.0.1"
    assert event.body.startswith("OutSum=299.00&InvId=")


@pytest.mark.parametrize("status", [PaymentStatus.CANCELLED, PaymentStatus.FAILED, "expired"])
def test_late_notification_still_credits_and_is_flagged(client, status):
    expires_at = timezone.now() - timedelta(minutes=5)
    payment = PaymentFactory(
        provider="robokassa",
        status=PaymentStatus.PENDING if status == "expired" else status,
        expires_at=expires_at,
    )
    response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.content.decode() == f"OK{payment.pk}"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_PAID)
    assert audit.extra_data["late"] is True
    assert audit.extra_data["status_before"] == (
        PaymentStatus.PENDING if status == "expired" else status
    )
    assert "LATE" in audit.message
    assert WebhookEvent.objects.get().outcome == "credited_late"
    admin_text = OutboxMessage.objects.filter(kind="payment-new").first().text
    assert "⚠️" in admin_text  # the "paid late" line (admins read LANGUAGE_CODE)


def test_amount_mismatch_with_valid_signature_is_rejected_and_alerted_once(client, pending_payment):
    params = robokassa_params(pending_payment.pk, "199.00")  # correctly signed, wrong amount
    first = send(client, ROBOKASSA_URL, params)
    second = send(client, ROBOKASSA_URL, params)
    for response in (first, second):
        assert response.status_code == 400
        assert response.content == b"ERROR: amount_mismatch"
    pending_payment.refresh_from_db()
    assert pending_payment.status == PaymentStatus.PENDING
    assert Subscription.objects.count() == 0
    assert not AuditLog.objects.exists()
    assert not OutboxMessage.objects.filter(audience=OutboxAudience.CUSTOMER).exists()
    # One alert per admin chat, not one per retry.
    assert OutboxMessage.objects.filter(kind="payment-mismatch").count() == 2
    event = WebhookEvent.objects.order_by("pk").first()
    assert event.status == WebhookEventStatus.REJECTED
    assert event.verified is True
    assert event.outcome == "amount_mismatch"
    assert event.payment_id == pending_payment.pk
    assert "199.00" in event.error


def test_sub_kopeck_amount_is_a_mismatch(client, pending_payment):
    response = send(client, ROBOKASSA_URL, robokassa_params(pending_payment.pk, "299.001"))
    assert response.status_code == 400
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_payment_of_another_provider_is_rejected(client, pending_payment):
    """A FreeKassa notification naming a Robokassa payment."""
    response = send(client, FREEKASSA_URL, freekassa_params(pending_payment.pk), REMOTE_ADDR=FK_IP)
    assert response.status_code == 400
    assert response.content == b"ERROR: provider_mismatch"
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_refunded_payment_is_a_duplicate(client):
    payment = PaymentFactory(
        provider="robokassa", status=PaymentStatus.REFUNDED, paid_at=timezone.now()
    )
    response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.content.decode() == f"OK{payment.pk}"
    assert WebhookEvent.objects.get().status == WebhookEventStatus.DUPLICATE
    assert Payment.objects.get().status == PaymentStatus.REFUNDED
    assert Subscription.objects.count() == 0


def test_amount_is_decimal_equal_not_float(client):
    payment = PaymentFactory(provider="freekassa", amount=Decimal("0.10"))
    response = send(client, FREEKASSA_URL, freekassa_params(payment.pk, "0.1"), REMOTE_ADDR=FK_IP)
    assert response.content == b"YES"
