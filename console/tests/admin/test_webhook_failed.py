"""A FAILED payment notification alerts once and stays on the dashboard until reprocessed
or dismissed: the provider may have taken the money, nothing was credited."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import alerts as billing_alerts
from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.webhook_events import webhook_event_dismiss
from billing.tests.conftest import billing_providers  # noqa: F401 - a fixture
from billing.tests.factories import PaymentFactory, WebhookEventFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from console import alerts
from console.tests.admin.conftest import action
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import texts
from notifications.models import OutboxAudience, OutboxMessage
from notifications.tests.helpers import ADMIN_CHATS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

CHANGELIST = reverse("admin:billing_webhookevent_changelist")


def failed_alerts() -> list[str]:
    rows = OutboxMessage.objects.filter(
        audience=OutboxAudience.ADMIN, kind=billing_alerts.WEBHOOK_FAILED
    )
    texts_ = list(rows.values_list("text", flat=True))
    assert len(texts_) % ADMIN_CHATS == 0
    return texts_[::ADMIN_CHATS]


@pytest.fixture
def payment(db):
    return PaymentFactory(provider="robokassa", expires_at=timezone.now() + timedelta(hours=1))


def deliver_failing(payment, times: int = 1) -> list[int]:
    """The provider delivers (and redelivers) a notification our code fails on."""
    client = Client(raise_request_exception=False)
    with mock.patch(
        "billing.services.payments.subscription_create",
        side_effect=RuntimeError("panel db exploded"),
    ):
        codes = [
            send(client, ROBOKASSA_URL, robokassa_params(payment.pk)).status_code
            for _ in range(times)
        ]
    assert codes == [500] * times
    return list(
        WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def on_dashboard(client) -> str:
    html = client.get(reverse("admin:index")).content.decode()
    start = html.find('id="webhooks-failed"')
    return "" if start < 0 else html[start : html.find("</table>", start)]


def test_a_failed_event_alerts_once(payment):
    events = deliver_failing(payment, times=3)
    assert len(events) == 3  # every redelivery is its own FAILED row
    sent = failed_alerts()
    assert len(sent) == 1
    assert f"payment #{payment.pk}" in sent[0]
    assert "panel db exploded" in sent[0]
    # The periodic check does not repeat it.
    alerts.alerts_check()
    assert len(failed_alerts()) == 1


def test_a_failed_event_alerts_even_when_the_live_alert_was_lost(payment):
    with mock.patch(
        "billing.services.webhooks.webhook_failed_alert", side_effect=RuntimeError("db gone")
    ):
        deliver_failing(payment)
    assert failed_alerts() == []
    assert alerts.alerts_check()["webhook_failed"] == ADMIN_CHATS
    assert len(failed_alerts()) == 1
    alerts.alerts_check()
    assert len(failed_alerts()) == 1


def test_a_failed_event_stays_on_the_dashboard_until_reprocessed(as_superuser, payment):
    [event_id] = deliver_failing(payment)
    assert f"#{event_id}<" in on_dashboard(as_superuser)
    assert "Failed payment notifications: 1" in on_dashboard(as_superuser)
    # Still there later: nothing but an operator takes it off.
    alerts.alerts_check()
    assert f"#{event_id}<" in on_dashboard(as_superuser)

    response = action(as_superuser, CHANGELIST, "reprocess_selected", [event_id])
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert on_dashboard(as_superuser) == ""


def test_a_failed_event_stays_on_the_dashboard_until_dismissed(as_superuser, superuser, payment):
    [event_id] = deliver_failing(payment)
    # The action asks for a reason first; without one nothing changes.
    page = action(as_superuser, CHANGELIST, "dismiss_selected", [event_id])
    assert page.status_code == 200
    assert b"reason" in page.content
    assert f"#{event_id}<" in on_dashboard(as_superuser)

    response = action(
        as_superuser, CHANGELIST, "dismiss_selected", [event_id], reason="no money was taken"
    )
    assert response.status_code == 302
    assert "Dismissed 1 failed event(s)." in texts(response)
    assert on_dashboard(as_superuser) == ""
    event = WebhookEvent.objects.get(pk=event_id)
    assert (event.status, event.dismissed_at is not None) == (WebhookEventStatus.FAILED, True)
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == superuser
    assert audit.extra_data["action"] == "webhook_event_dismiss"
    assert audit.extra_data["reason"] == "no money was taken"
    assert "no money was taken" in audit.message

    # The dashboard's link lists exactly the events still needing attention.
    [failing_again] = [pk for pk in deliver_failing(payment) if pk != event_id]
    html = as_superuser.get(reverse("admin:index")).content.decode()
    link = html.split('id="webhooks-failed"')[1].split('href="')[1].split('"')[0]
    listing = as_superuser.get(link.replace("&amp;", "&"))
    assert [e.pk for e in listing.context["cl"].result_list] == [failing_again]


def test_dismissing_needs_a_failed_event_and_a_reason_and_changes_nothing_else(superuser, payment):
    [event_id] = deliver_failing(payment)
    event = WebhookEvent.objects.get(pk=event_id)
    with pytest.raises(ApplicationError, match="needs a reason"):
        webhook_event_dismiss(event=event, actor=superuser, reason="  ")
    rejected = WebhookEventFactory(rejected=True)
    with pytest.raises(ApplicationError, match="Only a failed event can be dismissed"):
        webhook_event_dismiss(event=rejected, actor=superuser, reason="x")
    assert not WebhookEvent.objects.filter(dismissed_at__isnull=False).exists()
    assert not AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).exists()
    webhook_event_dismiss(event=event, actor=superuser, reason="settled")
    with pytest.raises(ApplicationError, match="already dismissed"):
        webhook_event_dismiss(event=event, actor=superuser, reason="again")
    assert AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).count() == 1
