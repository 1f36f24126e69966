"""Billing's beat tasks: each runs its service and is scheduled."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import PaymentStatus, WebhookEvent
from billing.tasks import payments_expire_pending_task, webhook_events_prune_task
from billing.tests.factories import PaymentFactory, WebhookEventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def test_payments_expire_pending_task_and_beat_entry():
    due = PaymentFactory(expires_at=timezone.now() - timedelta(minutes=1))
    assert payments_expire_pending_task.delay().get() == 1
    due.refresh_from_db()
    assert due.status == PaymentStatus.CANCELLED
    entry = settings.CELERY_BEAT_SCHEDULE["payments-expire-pending"]
    assert entry["task"] == "billing.tasks.payments_expire_pending_task"
    assert entry["schedule"].total_seconds() > 0


def test_webhook_events_prune_task_runs_daily(settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    old = WebhookEventFactory(rejected=True)
    WebhookEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    kept = WebhookEventFactory(rejected=True)
    assert webhook_events_prune_task.delay().get() == 1
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [kept.pk]
    entry = settings.CELERY_BEAT_SCHEDULE["webhook-events-prune"]
    assert entry["task"] == "billing.tasks.webhook_events_prune_task"
