"""Our own failures: 500 so the provider retries, the event (stored raw before processing)
marked FAILED with its traceback after the rollback, nothing half-done; the retry then
credits once. A failure after the credit committed leaves it credited: PROCESSED, with the
error beside it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.webhooks import webhook_event_reprocess
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send, snapshot
from core.models import AuditEvent, AuditLog
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


@pytest.fixture
def renewal(db):
    subscription = SubscriptionFactory()
    payment = PaymentFactory(
        subscription=subscription,
        provider="robokassa",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return payment, subscription


def test_internal_failure_is_500_then_retry_credits_once(client, renewal):
    payment, subscription = renewal
    expiry = subscription.expires_at
    params = robokassa_params(payment.pk)
    before = snapshot()

    with mock.patch(
        "billing.services.payments.subscription_extend",
        side_effect=RuntimeError("panel db exploded"),
    ):
        response = send(client, ROBOKASSA_URL, params)

    assert response.status_code == 500
    assert response.content == b"ERROR: internal_error"
    # Nothing half-done: no audit, still pending; only the admins' alert about the failure.
    after = snapshot()
    alert = [row for row in after["outbox"] if row[1] == "webhook-failed"]
    assert len(alert) == 2  # one per admin chat
    assert {**after, "outbox": [r for r in after["outbox"] if r not in alert]} == before
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.FAILED
    assert event.verified is True
    assert event.event_key == str(payment.pk)
    assert "RuntimeError: panel db exploded" in event.error
    assert "Traceback" in event.traceback
    assert "subscription_extend" in event.traceback or "panel db exploded" in event.traceback

    retry = send(client, ROBOKASSA_URL, params)
    assert retry.status_code == 200
    assert retry.content.decode() == f"OK{payment.pk}"
    again = send(client, ROBOKASSA_URL, params)
    assert again.content.decode() == f"OK{payment.pk}"

    payment.refresh_from_db()
    subscription.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert subscription.expires_at == expiry + timedelta(days=30)
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXTENDED).count() == 1
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        WebhookEventStatus.FAILED,
        WebhookEventStatus.PROCESSED,
        WebhookEventStatus.DUPLICATE,
    ]


def test_failure_in_the_notification_step_rolls_back_the_credit(client, renewal):
    """Even a failure after the subscription was extended undoes the extension."""
    payment, subscription = renewal
    expiry = subscription.expires_at
    with mock.patch(
        "billing.services.messages.outbox_queue", side_effect=RuntimeError("outbox down")
    ):
        response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.status_code == 500
    subscription.refresh_from_db()
    payment.refresh_from_db()
    assert subscription.expires_at == expiry
    assert payment.status == PaymentStatus.PENDING
    assert not AuditLog.objects.exists()
    # The outcome written in the rolled-back transaction went with it; the raw row stored
    # before processing stays, and records the failure.
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.FAILED
    assert "outbox down" in event.error


def test_a_parser_failure_still_keeps_the_raw_request_as_a_failed_row(client, renewal):
    """An unexpected error while verifying (a bug on odd input, not a refusal) is a 500 for
    the provider to retry, and the delivery is still stored raw, with the error."""
    payment, _subscription = renewal
    params = robokassa_params(payment.pk)
    with mock.patch(
        "billing.providers.robokassa.RobokassaProvider.notification_parse",
        side_effect=TypeError("parser bug"),
    ):
        response = send(client, ROBOKASSA_URL, params)
    assert response.status_code == 500
    event = WebhookEvent.objects.get()
    assert (event.status, event.verified) == (WebhookEventStatus.FAILED, False)
    assert event.error == "TypeError: parser bug"
    assert f"InvId={payment.pk}" in event.body
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_outcome_was_written_leaves_one_failed_row(renewal):
    """With real transactions: the failure comes after the PROCESSED outcome was written in
    the crediting transaction; the rollback takes the outcome back, and the row stored
    before processing is marked FAILED (still one row for the delivery)."""
    from django.test import Client

    payment, _subscription = renewal
    client = Client()
    with mock.patch(
        "billing.services.messages.outbox_queue", side_effect=RuntimeError("outbox down")
    ):
        response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.status_code == 500
    event = WebhookEvent.objects.get()
    assert (event.status, event.payment_id) == (WebhookEventStatus.FAILED, payment.pk)
    assert event.event_key == str(payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    retry = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert (retry.status_code, retry.content.decode()) == (200, f"OK{payment.pk}")
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        WebhookEventStatus.FAILED,
        WebhookEventStatus.PROCESSED,
    ]


def _after_commit_hook_fails(real_outbox_queue):
    """``outbox_queue`` as shipped, plus an after-commit hook that raises (a bug: the
    shipped hooks are ``robust``)."""
    from django.db import transaction

    def outbox_queue(messages):
        def hook():
            raise RuntimeError("hook bug")

        transaction.on_commit(hook)
        return real_outbox_queue(messages)

    return outbox_queue


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_commit_keeps_the_processed_row_with_the_error(renewal, caplog):
    """With real transactions: a step after the commit raises (building the reply, or an
    after-commit hook). The credit committed, so the event row stays PROCESSED, the one row
    of the delivery, with the error and traceback beside it; the 500 makes the provider
    deliver again, and that delivery is a DUPLICATE that changes nothing."""
    from django.test import Client

    payment, subscription = renewal
    client = Client()
    with mock.patch(
        "billing.providers.robokassa.RobokassaProvider.success_response",
        side_effect=RuntimeError("hook bug"),
    ):
        response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.status_code == 500
    event = WebhookEvent.objects.get()
    assert (event.status, event.outcome) == (WebhookEventStatus.PROCESSED, "credited")
    assert event.payment_id == payment.pk
    assert event.error == "RuntimeError: hook bug"
    assert "Traceback" in event.traceback
    assert "committed, then a later step failed" in caplog.text
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    extended = subscription.__class__.objects.get(pk=subscription.pk).expires_at

    retry = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert (retry.status_code, retry.content.decode()) == (200, f"OK{payment.pk}")
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        WebhookEventStatus.PROCESSED,
        WebhookEventStatus.DUPLICATE,
    ]
    assert subscription.__class__.objects.get(pk=subscription.pk).expires_at == extended
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_hook_that_raises_leaves_the_credit_processed(renewal, caplog):
    """The same through a (non-robust) after-commit hook of the crediting transaction."""
    from django.test import Client

    from billing.services.messages import outbox_queue

    payment, _subscription = renewal
    with mock.patch(
        "billing.services.messages.outbox_queue", side_effect=_after_commit_hook_fails(outbox_queue)
    ):
        response = send(Client(), ROBOKASSA_URL, robokassa_params(payment.pk))
    assert response.status_code == 500
    event = WebhookEvent.objects.get()
    assert (event.status, event.error) == (WebhookEventStatus.PROCESSED, "RuntimeError: hook bug")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_a_reprocess_that_fails_after_its_commit_keeps_its_processed_outcome(renewal):
    from django.test import Client

    payment, _subscription = renewal
    with mock.patch(
        "billing.services.payments.subscription_extend", side_effect=RuntimeError("boom")
    ):
        send(Client(), ROBOKASSA_URL, robokassa_params(payment.pk))
    failed = WebhookEvent.objects.get()
    assert failed.status == WebhookEventStatus.FAILED

    with (
        mock.patch(
            "billing.providers.robokassa.RobokassaProvider.success_response",
            side_effect=RuntimeError("hook bug"),
        ),
        pytest.raises(RuntimeError, match="hook bug"),
    ):
        webhook_event_reprocess(event=failed)
    failed.refresh_from_db()
    assert failed.status == WebhookEventStatus.PROCESSED
    assert failed.error == "RuntimeError: hook bug"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_reprocess_that_fails_again_is_a_new_failure(client, renewal, caplog):
    """The PROCESSED outcome set in the rolled-back transaction is not mistaken for a
    committed one: the row is written as this reprocess's failure (new error, new time)."""
    payment, _subscription = renewal
    with mock.patch(
        "billing.services.payments.subscription_extend", side_effect=RuntimeError("first")
    ):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    event = WebhookEvent.objects.get()
    first_failed_at = event.processed_at
    with (
        mock.patch("billing.services.messages.outbox_queue", side_effect=RuntimeError("second")),
        pytest.raises(RuntimeError, match="second"),
    ):
        webhook_event_reprocess(event=event)
    event.refresh_from_db()
    assert (event.status, event.error) == (WebhookEventStatus.FAILED, "RuntimeError: second")
    assert event.processed_at > first_failed_at
    assert "committed, then a later step failed" not in caplog.text
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert WebhookEvent.objects.count() == 1


def test_a_reprocess_that_fails_before_setting_an_outcome_is_failed(client, renewal, caplog):
    """A DUPLICATE event reprocessed, failing before its outcome is written: the row in the
    database still equals the event in memory (the old DUPLICATE), which must not be taken
    for an outcome this reprocess committed. It becomes FAILED."""
    payment, _subscription = renewal
    send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    duplicate = WebhookEvent.objects.get(status=WebhookEventStatus.DUPLICATE)
    with (
        mock.patch(
            "billing.services.payments._payment_check", side_effect=RuntimeError("lookup failed")
        ),
        pytest.raises(RuntimeError, match="lookup failed"),
    ):
        webhook_event_reprocess(event=duplicate)
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.outcome) == (WebhookEventStatus.FAILED, "internal_error")
    assert duplicate.error == "RuntimeError: lookup failed"
    assert "committed, then a later step failed" not in caplog.text


def test_reprocessing_a_failed_event_credits_once(client, renewal):
    payment, _subscription = renewal
    with mock.patch(
        "billing.services.payments.subscription_extend", side_effect=RuntimeError("boom")
    ):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    failed = WebhookEvent.objects.get()

    event = webhook_event_reprocess(event=failed)
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.error == ""
    assert event.traceback == ""
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID

    # Reprocessing again (or the provider's retry) never credits a second time.
    assert webhook_event_reprocess(event=event).status == WebhookEventStatus.PROCESSED
    assert send(client, ROBOKASSA_URL, robokassa_params(payment.pk)).status_code == 200
    duplicate = WebhookEvent.objects.order_by("-pk").first()
    assert webhook_event_reprocess(event=duplicate).status == WebhookEventStatus.DUPLICATE
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1


def test_reprocess_reverifies_the_stored_request(client, renewal):
    payment, _subscription = renewal
    params = robokassa_params(payment.pk)
    params["Shp_user"] = "8"
    send(client, ROBOKASSA_URL, params)
    rejected = WebhookEvent.objects.get()
    assert rejected.status == WebhookEventStatus.REJECTED
    event = webhook_event_reprocess(event=rejected)
    assert event.status == WebhookEventStatus.REJECTED
    assert event.outcome == "signature_mismatch"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_reprocess_of_a_truncated_request_stays_rejected(client, settings, renewal):
    payment, _subscription = renewal
    settings.WEBHOOK_BODY_MAX_BYTES = 64
    send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    event = WebhookEvent.objects.get()
    assert event.body_truncated
    event = webhook_event_reprocess(event=event)
    assert event.status == WebhookEventStatus.REJECTED
    assert event.outcome == "stored_request_incomplete"


def test_reprocess_a_get_notification(client, renewal):
    payment, _subscription = renewal
    with mock.patch(
        "billing.services.payments.subscription_extend", side_effect=RuntimeError("boom")
    ):
        send(client, ROBOKASSA_URL, robokassa_params(payment.pk), method="GET")
    event = webhook_event_reprocess(event=WebhookEvent.objects.get())
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.method == "GET"


def test_a_broker_down_at_commit_still_answers_success_and_leaves_work_to_the_sweeps(
    client, renewal, caplog, django_capture_on_commit_callbacks
):
    """The credit committed: the provider gets its success reply, not a 5xx for a payment
    that was credited; the queued rows are found again by the beat's sweeps."""
    from kombu.exceptions import OperationalError

    from notifications.models import OutboxMessage, OutboxStatus

    payment, _subscription = renewal
    down = mock.Mock(side_effect=OperationalError("down"))
    with (
        mock.patch("notifications.tasks.outbox_send_task.delay", down),
        mock.patch("subscriptions.tasks.subscription_keys_converge_task.delay", down),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = send(client, ROBOKASSA_URL, robokassa_params(payment.pk))
    assert callbacks  # the credit's after-commit publishes did run, and failed
    assert down.call_count == len(callbacks)
    assert (response.status_code, response.content.decode()) == (200, f"OK{payment.pk}")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED
    # Still pending in the outbox: the flush beat sends them when the broker is back.
    assert OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count() == 3
    assert "in on_commit()" in caplog.text
