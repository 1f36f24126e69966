"""Raw storage is capped per delivery.

A rejected delivery once stored ~260 KB (100 headers of 2 KB and a 64 KB body)."""

import json

import pytest
from django.test import Client

from billing.models import WebhookEvent, WebhookEventStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send

pytestmark = pytest.mark.django_db

BODY_CAP = 16 * 1024
# Headers (4 KB of names and values, plus JSON punctuation), outcome and error text.
OVERHEAD = 6 * 1024


def stored_size(event: WebhookEvent) -> int:
    return sum(
        len(value.encode("utf-8"))
        for value in (
            event.body,
            event.query_string,
            json.dumps(event.headers, ensure_ascii=False),
            event.outcome,
            event.error,
            event.traceback,
            event.method,
            event.event_key,
        )
    )


def flood_headers(count: int = 100, size: int = 2048) -> dict[str, str]:
    return {f"HTTP_X_FILLER_{n}": chr(ord("a") + n % 26) * size for n in range(count)}


@pytest.mark.parametrize(
    "body",
    [b"OutSum=" + b"9" * 70_000, b"\xff" * 70_000, b"\x00" * 70_000],
    ids=["long", "not-utf8", "nul"],
)
def test_raw_storage_is_capped_per_delivery(billing_providers, settings, body):
    settings.WEBHOOK_BODY_MAX_BYTES = BODY_CAP
    settings.WEBHOOK_REJECTS_PER_MINUTE = 0
    query = "q=" + "z" * 70_000
    reply = Client().generic(
        "POST",
        f"{ROBOKASSA_URL}?{query}",
        body,
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR="203.0.113.9",
        **flood_headers(),
    )
    assert reply.status_code == 400
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.REJECTED
    assert event.body_truncated is True
    assert stored_size(event) <= BODY_CAP + OVERHEAD
    # What matters to read the delivery later is kept, and the cut is said.
    assert event.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert int(event.headers["X-Vpnsite-Headers-Dropped"]) > 0


def test_a_genuine_notification_is_stored_whole(pending_payment, settings):
    settings.WEBHOOK_BODY_MAX_BYTES = BODY_CAP
    reply = send(
        Client(),
        ROBOKASSA_URL,
        robokassa_params(pending_payment.pk),
        HTTP_USER_AGENT="Robokassa",
        REMOTE_ADDR="185.59.216.65",
    )
    assert reply.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.body_truncated, event.body_escaped) == (False, False)
    assert event.headers["User-Agent"] == "Robokassa"
    assert "X-Vpnsite-Headers-Dropped" not in event.headers
