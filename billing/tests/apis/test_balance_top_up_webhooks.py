"""Top-up notifications through the real views: 50 identical ones at once credit the balance
once (PostgreSQL, real transactions); a tampered or wrong-amount one changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.balance import balance_top_up_create
from billing.tests.apis.test_webhook_concurrency import THREADS, deliver_in_parallel
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA_URL,
    ROBOKASSA_URL,
    freekassa_params,
    robokassa_params,
    send,
)
from notifications.models import OutboxAudience, OutboxMessage

pytestmark = pytest.mark.usefixtures("billing_providers")


def top_up(provider: str, amount: str = "500"):
    customer = CustomerFactory()
    payment = balance_top_up_create(customer=customer, amount=Decimal(amount), provider=provider)
    return customer, payment


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["robokassa", "freekassa"])
def test_fifty_parallel_top_up_notifications_credit_once(on_postgres, provider):
    customer, payment = top_up(provider)
    if provider == "robokassa":
        url, params, extra = ROBOKASSA_URL, robokassa_params(payment.pk, "500.00"), {}
        success = f"OK{payment.pk}"
    else:
        url, params = FREEKASSA_URL, freekassa_params(payment.pk, "500.00")
        extra, success = {"REMOTE_ADDR": FK_IP}, "YES"

    results, _sends = deliver_in_parallel(url, params, extra)

    assert results == [(200, success)] * THREADS
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("500")
    assert BalanceEntry.objects.count() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert (
        OutboxMessage.objects.filter(
            audience=OutboxAudience.CUSTOMER, kind="balance-topped-up"
        ).count()
        == 1
    )
    statuses = list(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses.count(WebhookEventStatus.PROCESSED) == 1
    assert statuses.count(WebhookEventStatus.DUPLICATE) == THREADS - 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        lambda pk: robokassa_params(pk, "5000.00"),  # a larger amount, validly signed
        lambda pk: {**robokassa_params(pk, "500.00"), "OutSum": "5000.00"},  # tampered
        lambda pk: robokassa_params(pk, "500.00", password="wrong"),  # not ours
    ],
    ids=["amount", "tampered", "signature"],
)
def test_wrong_or_tampered_top_up_notification_changes_nothing(client, params):
    customer, payment = top_up("robokassa")
    response = send(client, ROBOKASSA_URL, params(payment.pk))
    assert not response.content.startswith(b"OK")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert Customer.objects.get(pk=customer.pk).balance == 0
    assert BalanceEntry.objects.count() == 0


@pytest.mark.django_db
def test_late_top_up_is_still_credited_once(client):
    customer, payment = top_up("robokassa")
    payment.expires_at = timezone.now() - timedelta(minutes=1)
    payment.save(update_fields=["expires_at"])
    for _ in range(2):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "500.00"))
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("500")
