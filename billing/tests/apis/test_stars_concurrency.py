"""50 identical successful_payment deliveries at once, each through the bot's service with its
own connection and real transactions (PostgreSQL): one credit; the other 49 wait on the
payment's row lock, see it PAID and are duplicates."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.stars import stars_payment_received
from billing.tests.stars_helpers import paid_update, stars_payment
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory

THREADS = 50

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("stars_enabled")]


def deliver_in_parallel(update):
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def worker(index):
        try:
            barrier.wait(timeout=30)
            results[index] = stars_payment_received(update=update).status_code
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    with (
        mock.patch("subscriptions.tasks.subscription_keys_converge_task.delay") as place,
        mock.patch("notifications.tasks.outbox_send_task.delay"),
    ):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return results, [c.args for c in place.call_args_list]


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_successful_payments_credit_exactly_once(on_postgres):
    subscription = SubscriptionFactory()
    expiry = subscription.expires_at
    payment = stars_payment(subscription=subscription)

    results, placements = deliver_in_parallel(paid_update(payment, charge_id="stxSTORM"))

    assert results == [200] * THREADS
    assert placements == [(subscription.pk,)]
    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.provider_ref == "stxSTORM"
    assert subscription.expires_at == expiry + timedelta(days=subscription.tariff.duration_days)
    assert Subscription.objects.count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXTENDED).count() == 1
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1
    assert not OutboxMessage.objects.filter(kind="stars-uncredited").exists()
    statuses = list(WebhookEvent.objects.values_list("status", flat=True))
    assert len(statuses) == THREADS
    assert statuses.count(WebhookEventStatus.PROCESSED) == 1
    assert statuses.count(WebhookEventStatus.DUPLICATE) == THREADS - 1
