"""Alerts about payment notifications (billing/alerts.py): bad signatures, failed ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from billing import alerts
from billing.models import WebhookEvent
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from notifications.models import OutboxMessage
from notifications.tests.helpers import alerts_of

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("billing_providers")
@override_settings(WEBHOOK_BAD_SIGNATURE_ALERT_THRESHOLD=10)
def test_bad_signatures_over_the_threshold_alert_once_per_hour(client):
    def probe(times: int) -> None:
        for number in range(times):
            forged = robokassa_params(1000 + number, "1.00", password="guess")
            assert (
                send(client, ROBOKASSA_URL, forged, REMOTE_ADDR="198.51.100.7").status_code == 400
            )

    base = datetime(2026, 1, 10, 12, 30, tzinfo=UTC)
    probe(10)
    WebhookEvent.objects.update(created_at=base)
    assert alerts.webhook_bad_signature_check(now=base + timedelta(minutes=1)) == []  # = N
    probe(1)
    WebhookEvent.objects.update(created_at=base)
    assert alerts.webhook_bad_signature_check(now=base + timedelta(minutes=1)) == ["robokassa"]
    assert alerts.webhook_bad_signature_check(now=base + timedelta(minutes=2)) == []
    assert alerts_of("webhook-bad-signature") == 1
    text = OutboxMessage.objects.filter(kind="webhook-bad-signature").first().text
    assert "11 robokassa notifications" in text
    assert "198.51.100.7 (11)" in text
    # The next clock hour is a new window (the probes are still within the last hour)...
    assert alerts.webhook_bad_signature_check(now=base + timedelta(minutes=31)) == ["robokassa"]
    # ...and an hour after the probing stopped there is nothing to say.
    assert alerts.webhook_bad_signature_check(now=base + timedelta(minutes=61)) == []
    assert alerts_of("webhook-bad-signature") == 2
