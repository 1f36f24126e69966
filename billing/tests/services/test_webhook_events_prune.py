"""Old webhook rows are pruned after a retention period, keeping credited ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import WebhookEvent, WebhookEventStatus
from billing.services.webhook_events import webhook_events_prune
from billing.tests.factories import WebhookEventFactory

pytestmark = pytest.mark.django_db

S = WebhookEventStatus


def event(status: str, *, days: float, dismissed_days: float | None = None) -> int:
    now = timezone.now()
    row = WebhookEventFactory(
        status=status,
        dismissed_at=now - timedelta(days=dismissed_days) if dismissed_days is not None else None,
    )
    WebhookEvent.objects.filter(pk=row.pk).update(created_at=now - timedelta(days=days))
    return row.pk


def test_old_webhook_rows_are_pruned_after_the_retention_keeping_credited_ones(settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    gone = [
        event(S.REJECTED, days=31),
        event(S.DUPLICATE, days=31),
        event(S.RECEIVED, days=31),
        event(S.FAILED, days=40, dismissed_days=31),
    ]
    kept = [
        event(S.PROCESSED, days=400),  # the record of a credit: forever
        event(S.FAILED, days=400),  # still waiting for an operator
        event(S.FAILED, days=40, dismissed_days=2),  # dismissed lately
        event(S.REJECTED, days=29),
        event(S.DUPLICATE, days=29),
        event(S.RECEIVED, days=29),
    ]
    assert webhook_events_prune() == len(gone)
    assert sorted(WebhookEvent.objects.values_list("pk", flat=True)) == sorted(kept)
    assert webhook_events_prune() == 0


def test_a_short_retention_never_takes_a_delivery_in_flight_nor_a_credit(settings):
    settings.WEBHOOK_RETENTION_DAYS = 0
    in_flight = event(S.RECEIVED, days=0.5)
    credited = event(S.PROCESSED, days=5)
    stale = event(S.RECEIVED, days=2)
    rejected = event(S.REJECTED, days=0.01)
    assert webhook_events_prune(batch=1) == 2
    assert sorted(WebhookEvent.objects.values_list("pk", flat=True)) == [in_flight, credited]
    assert not WebhookEvent.objects.filter(pk__in=[stale, rejected]).exists()
