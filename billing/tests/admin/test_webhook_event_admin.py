"""The webhook log admin: read-only, reprocess, the error filter; what billing registers."""

from unittest import mock

import pytest
from django.urls import reverse

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests.factories import WebhookEventFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from core.models import AuditEvent, AuditLog
from core.tests.helpers import texts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

EVENTS = "admin:billing_webhookevent_changelist"


def test_webhook_events_are_read_only(as_superuser, pending_payment):
    send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
    event = WebhookEvent.objects.get()
    assert as_superuser.get(reverse(EVENTS)).status_code == 200
    assert as_superuser.get(reverse(EVENTS), {"status": "processed"}).status_code == 200
    assert as_superuser.get(reverse(EVENTS), {"verified__exact": "1"}).status_code == 200
    change = reverse("admin:billing_webhookevent_change", args=[event.pk])
    page = as_superuser.get(change)
    assert page.status_code == 200
    assert "OutSum=299.00" in page.content.decode()
    as_superuser.post(change, {"status": "failed"})
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert as_superuser.get(reverse("admin:billing_webhookevent_add")).status_code == 403
    delete = reverse("admin:billing_webhookevent_delete", args=[event.pk])
    assert as_superuser.get(delete).status_code == 403


def test_reprocess_action(as_superuser, pending_payment):
    with mock.patch(
        "billing.services.payments.subscription_create", side_effect=RuntimeError("boom")
    ):
        send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
    send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk, "1.00"))
    failed, rejected = WebhookEvent.objects.order_by("pk")
    assert failed.status == WebhookEventStatus.FAILED

    response = as_superuser.post(
        reverse(EVENTS),
        {"action": "reprocess_selected", "_selected_action": [failed.pk, rejected.pk]},
        follow=True,
    )
    messages = texts(response)
    assert any("1 Processed (credited)" in text for text in messages), messages
    assert any("1 Rejected (amount_mismatch)" in text for text in messages), messages
    pending_payment.refresh_from_db()
    assert pending_payment.status == PaymentStatus.PAID

    # Again: the processed one stays processed, nothing is credited twice.
    as_superuser.post(
        reverse(EVENTS),
        {"action": "reprocess_selected", "_selected_action": [failed.pk, rejected.pk]},
    )
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1


def test_reprocess_reports_internal_errors(as_superuser, pending_payment):
    with mock.patch(
        "billing.services.payments.subscription_create", side_effect=RuntimeError("boom")
    ):
        send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
        response = as_superuser.post(
            reverse(EVENTS),
            {"action": "reprocess_selected", "_selected_action": [WebhookEvent.objects.get().pk]},
            follow=True,
        )
    assert any("failed: RuntimeError: boom" in text for text in texts(response))
    assert WebhookEvent.objects.get().status == WebhookEventStatus.FAILED


def test_only_the_billing_models_operators_need_are_registered():
    from django.contrib import admin

    billing_models = {
        model._meta.model_name
        for model in admin.site._registry
        if model._meta.app_label == "billing"
    }
    assert billing_models == {
        "payment",
        "webhookevent",
        "balanceentry",
        "gift",
        "promocode",
        "promoredemption",
        "referralreward",
    }


def test_the_webhook_log_filters_events_that_recorded_an_error(as_superuser):
    """A FAILED event, and a PROCESSED one whose after-commit step failed, both show under
    "Has an error"; a clean one under "No error"."""
    failed = WebhookEventFactory(failed=True, error="RuntimeError: boom")
    credited_then_failed = WebhookEventFactory(processed=True, error="RuntimeError: hook")
    clean = WebhookEventFactory(processed=True)

    def listed(value):
        response = as_superuser.get(reverse(EVENTS), {"has_error": value})
        assert response.status_code == 200
        return {event.pk for event in response.context["cl"].result_list}

    assert listed("yes") == {failed.pk, credited_then_failed.pk}
    assert listed("no") == {clean.pk}


def test_a_reprocess_is_audited_under_the_operator(as_superuser, superuser, pending_payment):
    """The reprocess itself has a row naming the operator, and so has the credit it made
    (the provider stays beside them): a live delivery's credit names no operator."""
    with mock.patch(
        "billing.services.payments.subscription_create", side_effect=RuntimeError("boom")
    ):
        send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
    failed = WebhookEvent.objects.get()
    as_superuser.post(
        reverse(EVENTS), {"action": "reprocess_selected", "_selected_action": [failed.pk]}
    )

    reprocess = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert reprocess.acting_user == superuser
    assert reprocess.object_type == "billing.webhookevent"
    assert reprocess.object_id == str(failed.pk)
    assert reprocess.extra_data["status_before"] == WebhookEventStatus.FAILED
    assert reprocess.extra_data["status"] == WebhookEventStatus.PROCESSED
    credit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_PAID)
    assert credit.acting_user == superuser
    assert credit.actor_label == "robokassa"
    assert "Reprocessed by root" in credit.message


def test_a_failing_reprocess_is_audited_under_the_operator(
    as_superuser, superuser, pending_payment
):
    with mock.patch(
        "billing.services.payments.subscription_create", side_effect=RuntimeError("boom")
    ):
        send(as_superuser, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
        as_superuser.post(
            reverse(EVENTS),
            {"action": "reprocess_selected", "_selected_action": [WebhookEvent.objects.get().pk]},
        )
    row = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert row.acting_user == superuser
    assert row.extra_data["status"] == WebhookEventStatus.FAILED


def test_a_live_delivery_names_no_operator(client, pending_payment):
    send(client, ROBOKASSA_URL, robokassa_params(pending_payment.pk))
    credit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_PAID)
    assert credit.acting_user is None
    assert credit.actor_label == "robokassa"
    assert not AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).exists()
