"""Broadcasts in the console: compose, see the recipient count, confirm, follow progress."""

import pytest
from django.urls import reverse

from accounts.tests.factories import CustomerFactory
from core.models import AuditEvent, AuditLog
from core.tests.helpers import texts
from notifications.models import Broadcast, BroadcastStatus, OutboxStatus
from notifications.tests.factories import BroadcastFactory, OutboxMessageFactory

pytestmark = pytest.mark.django_db


def compose(client, **data):
    payload = {
        "text": "Big news",
        "button_text": "",
        "button_url": "",
        "audience": "all",
        "audience_days": "30",
        **data,
    }
    return client.post(reverse("admin:notifications_broadcast_add"), payload)


def test_compose_preview_and_send(as_superuser, superuser, monkeypatch):
    started = []
    monkeypatch.setattr("console.broadcasts.broadcast_enqueue_task.delay", started.append)
    CustomerFactory()
    CustomerFactory()
    CustomerFactory(is_banned=True)
    response = compose(as_superuser, button_text="Open", button_url="https://example.com/")
    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.created_by == superuser
    assert broadcast.status == BroadcastStatus.DRAFT

    change = as_superuser.get(reverse("admin:notifications_broadcast_change", args=[broadcast.pk]))
    assert b"Recipients right now" in change.content
    assert b"broadcast-send-link" in change.content

    send_url = reverse("admin:notifications_broadcast_send", args=[broadcast.pk])
    confirm = as_superuser.get(send_url)
    assert confirm.status_code == 200
    assert confirm.context["recipients"] == 2
    assert b"Yes, send to 2" in confirm.content

    with pytest.MonkeyPatch.context():
        done = as_superuser.post(send_url)
    assert done.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.QUEUED
    assert broadcast.recipients_total == 2
    assert AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION).acting_user == superuser
    assert "being sent to 2" in texts(done)[0]

    # Started: the page is read-only and shows the progress from the outbox rows.
    OutboxMessageFactory(
        chat_id=1,
        text="Big news",
        status=OutboxStatus.SENT,
        broadcast=broadcast,
    )
    page = as_superuser.get(reverse("admin:notifications_broadcast_change", args=[broadcast.pk]))
    html = page.content.decode()
    assert 'id="broadcast-progress"' in html
    assert "1 of 1 messages" in html
    assert "broadcast-send-link" not in html
    assert 'name="text"' not in html
    # A second send is refused with a clear error.
    again = as_superuser.post(send_url)
    assert "already started" in texts(again)[-1]


def test_a_button_needs_both_fields(as_superuser):
    response = compose(as_superuser, button_text="Open")
    assert response.status_code == 200
    assert "A button needs both a text and a URL." in response.content.decode()
    assert not Broadcast.objects.exists()


def test_support_cannot_send(as_support, superuser):
    broadcast = BroadcastFactory(created_by=superuser)
    CustomerFactory()
    send_url = reverse("admin:notifications_broadcast_send", args=[broadcast.pk])
    assert as_support.get(send_url).status_code == 403
    assert as_support.post(send_url).status_code == 403
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
    assert as_support.get(reverse("admin:notifications_broadcast_add")).status_code == 403
