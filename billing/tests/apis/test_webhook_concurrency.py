"""50 identical notifications at once through the view, with real transactions (PostgreSQL):
exactly one credits; the other 49 wait on the payment's row lock, see it PAID and answer as
duplicates. Without the lock they would answer 500 or credit again.
"""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA_URL,
    JSON,
    ROBOKASSA_URL,
    YK_IP,
    YOOKASSA_API,
    YOOKASSA_URL,
    freekassa_params,
    mark_paid,
    robokassa_params,
    send,
    yk_id,
    yookassa_notification,
    yookassa_payment,
    yookassa_refund,
)
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory

THREADS = 50

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("billing_providers")]


def deliver_in_parallel(url, params, extra):
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def worker(index):
        try:
            client = Client()
            barrier.wait(timeout=30)
            response = send(client, url, params, **extra)
            results[index] = (response.status_code, response.content.decode())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[index] = ("exception", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    # The outbox rows and the key rows are what we count; sending messages to Telegram and
    # placing keys (the transaction's after-commit tasks) is recorded, not run.
    with (
        mock.patch("subscriptions.tasks.subscription_keys_converge_task.delay") as place,
        mock.patch("notifications.tasks.outbox_send_task.delay") as send_message,
    ):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return results, {
        "place": [c.args for c in place.call_args_list],
        "send": sorted(c.args[0] for c in send_message.call_args_list),
    }


def assert_one_enqueue(sends, *, subscription_id):
    """One transaction queued work after commit: one placement, one send per message."""
    assert sends["place"] == [(subscription_id,)]
    # The customer's message and one per admin chat.
    assert sends["send"] == sorted(OutboxMessage.objects.values_list("pk", flat=True))
    assert len(sends["send"]) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["robokassa", "freekassa", "yookassa"])
def test_fifty_parallel_deliveries_credit_exactly_once(on_postgres, provider, request):
    subscription = SubscriptionFactory()
    expiry = subscription.expires_at
    payment = PaymentFactory(
        subscription=subscription,
        provider=provider,
        expires_at=timezone.now() + timedelta(hours=1),
        provider_ref=yk_id(1) if provider == "yookassa" else "",
    )
    if provider == "robokassa":
        url, params, extra = ROBOKASSA_URL, robokassa_params(payment.pk), {}
        success = f"OK{payment.pk}"
    elif provider == "yookassa":
        # Each of the 50 asks the (mocked) API, which confirms every time.
        api = request.getfixturevalue("yookassa_api")
        answer = yookassa_payment(payment.pk, object_id=yk_id(1))
        api.get(f"{YOOKASSA_API}payments/{yk_id(1)}", json=answer)
        url, params = YOOKASSA_URL, yookassa_notification("payment.succeeded", answer)
        extra, success = {"REMOTE_ADDR": YK_IP, "content_type": JSON}, "OK"
    else:
        url, params, extra = FREEKASSA_URL, freekassa_params(payment.pk), {"REMOTE_ADDR": FK_IP}
        success = "YES"

    results, sends = deliver_in_parallel(url, params, extra)

    assert results == [(200, success)] * THREADS
    assert_one_enqueue(sends, subscription_id=subscription.pk)
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert subscription.expires_at == expiry + timedelta(days=30)
    assert Subscription.objects.count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXTENDED).count() == 1
    assert (
        OutboxMessage.objects.filter(audience=OutboxAudience.CUSTOMER, kind="payment-paid").count()
        == 1
    )
    statuses = list(WebhookEvent.objects.values_list("status", flat=True))
    assert len(statuses) == THREADS
    assert statuses.count(WebhookEventStatus.PROCESSED) == 1
    assert statuses.count(WebhookEventStatus.DUPLICATE) == THREADS - 1


@pytest.mark.django_db(transaction=True)
def test_parallel_new_purchase_creates_one_subscription(on_postgres):
    payment = PaymentFactory(provider="robokassa", expires_at=timezone.now() + timedelta(hours=1))
    results, sends = deliver_in_parallel(ROBOKASSA_URL, robokassa_params(payment.pk), {})
    assert results == [(200, f"OK{payment.pk}")] * THREADS
    assert Subscription.objects.count() == 1
    assert_one_enqueue(sends, subscription_id=Subscription.objects.get().pk)
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_CREATED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_yookassa_refunds_refund_once(on_postgres, request):
    """YooKassa's refund.succeeded 50 times at once: the days come back off once."""
    api = request.getfixturevalue("yookassa_api")
    subscription = SubscriptionFactory()
    payment = PaymentFactory(
        subscription=subscription,
        provider="yookassa",
        expires_at=timezone.now() + timedelta(hours=1),
        provider_ref=yk_id(7),
    )
    mark_paid(payment, provider_ref=yk_id(7))
    subscription.refresh_from_db()
    paid_until = subscription.expires_at
    refund = yookassa_refund(yk_id(7))
    api.get(f"{YOOKASSA_API}refunds/{refund['id']}", json=refund)

    results, _sends = deliver_in_parallel(
        YOOKASSA_URL,
        yookassa_notification("refund.succeeded", refund),
        {"REMOTE_ADDR": YK_IP, "content_type": JSON},
    )

    assert results == [(200, "OK")] * THREADS
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert subscription.expires_at == paid_until - timedelta(days=30)
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_REFUNDED).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_SHORTENED).count() == 1
    statuses = list(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses.count(WebhookEventStatus.PROCESSED) == 1
    assert statuses.count(WebhookEventStatus.DUPLICATE) == THREADS - 1
