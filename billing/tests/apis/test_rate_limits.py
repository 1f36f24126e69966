"""The reject limit slows down a prober without ever touching a real provider."""

import pytest
from django.test import Client

from billing.models import PaymentStatus
from billing.tests.helpers import (
    FK_IP,
    FREEKASSA_URL,
    ROBOKASSA_URL,
    freekassa_params,
    robokassa_params,
    send,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings, billing_providers):
    settings.WEBHOOK_REJECTS_PER_MINUTE = 3
    return settings


def test_a_prober_is_limited_after_n_rejects_and_only_itself(limits, pending_payment):
    client = Client()
    bad = robokassa_params(pending_payment.pk, password="wrong")
    codes = [
        send(client, ROBOKASSA_URL, bad, REMOTE_ADDR="203.0.113.9").status_code for _ in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]
    # Another sender with a genuine notification is not affected.
    good = send(
        client, ROBOKASSA_URL, robokassa_params(pending_payment.pk), REMOTE_ADDR="198.51.100.7"
    )
    assert (good.status_code, good.content) == (200, f"OK{pending_payment.pk}".encode())
    pending_payment.refresh_from_db()
    assert pending_payment.status == PaymentStatus.PAID


def test_genuine_notifications_never_count(limits, pending_payment):
    client = Client()
    for _ in range(6):
        reply = send(
            client, ROBOKASSA_URL, robokassa_params(pending_payment.pk), REMOTE_ADDR="198.51.100.7"
        )
        assert reply.status_code == 200


def test_the_providers_published_addresses_are_never_limited(limits):
    client = Client()
    bad = freekassa_params(999999)
    codes = {send(client, FREEKASSA_URL, bad, REMOTE_ADDR=FK_IP).status_code for _ in range(6)}
    assert codes == {400}


def test_zero_switches_the_limit_off(limits, pending_payment):
    limits.WEBHOOK_REJECTS_PER_MINUTE = 0
    bad = robokassa_params(pending_payment.pk, password="wrong")
    codes = {
        send(Client(), ROBOKASSA_URL, bad, REMOTE_ADDR="203.0.113.9").status_code for _ in range(6)
    }
    assert codes == {400}
