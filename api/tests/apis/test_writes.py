"""The API's writes go through the console's services: same effects, an audit row naming
the token's owner (and the token), and bad input answered in the error shape with nothing
changed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.scopes import Scope
from api.tests.conftest import assert_error
from billing.models import Payment, PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operators(tokens):
    return tokens[Scope.OPERATORS]


def snapshot() -> tuple:
    """What a refused request must leave as it was."""
    return (
        list(Subscription.objects.order_by("pk").values_list("status", "expires_at")),
        list(Payment.objects.order_by("pk").values_list("status", "refunded_at")),
        list(NodeClient.objects.order_by("pk").values_list("sync_state", "enable", "attempts")),
        AuditLog.objects.count(),
    )


def assert_audited_by(row: AuditLog, issued) -> None:
    assert row.acting_user == issued.owner
    assert row.actor == str(issued.owner)
    assert row.actor_label == f"api:{issued.token.prefix}"


def test_extend_adds_days_and_audits_the_owner(api, tokens):
    issued = tokens[Scope.SUPPORT]
    subscription = SubscriptionFactory()
    before = subscription.expires_at
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/",
        issued.raw,
        {"days": 10, "reason": "outage compensation"},
    )
    assert response.status_code == 200, response.content
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=10)
    assert OutboxMessage.objects.filter(kind="subscription-extended").count() == 1
    body = response.json()
    assert body["id"] == subscription.pk
    assert (
        body["expires_at"]
        == subscription.expires_at.astimezone(timezone.get_current_timezone()).isoformat()
    )
    row = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXTENDED)
    assert_audited_by(row, issued)
    assert row.message == "outage compensation"
    assert row.extra_data["days"] == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"days": 0, "reason": "x"}, "days"),
        ({"days": -3, "reason": "x"}, "days"),
        ({"days": 3651, "reason": "x"}, "days"),
        ({"days": "ten", "reason": "x"}, "days"),
        ({"days": 2.5, "reason": "x"}, "days"),
        ({"days": 5}, "reason"),
        ({"days": 5, "reason": ""}, "reason"),
        ({"days": 5, "reason": "r" * 256}, "reason"),
        ({}, "days"),
    ],
)
def test_extend_with_bad_input_changes_nothing(api, tokens, body, field):
    subscription = SubscriptionFactory()
    before = snapshot()
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/", tokens[Scope.SUPPORT].raw, body
    )
    error = assert_error(response, 400, "invalid")
    assert field in error["fields"]
    assert all(isinstance(m, str) for m in error["fields"][field])
    assert snapshot() == before


@pytest.mark.parametrize(
    ("request_body", "answer"),
    [
        (("{not json", "application/json"), (400, "parse_error")),
        (('["days", 5]', "application/json"), (400, "invalid")),
        (
            ("days=5&reason=x", "application/x-www-form-urlencoded"),
            (415, "unsupported_media_type"),
        ),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, operators, request_body, answer):
    payload, content_type = request_body
    status, code = answer
    subscription = SubscriptionFactory()
    before = snapshot()
    response = api.client.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/",
        payload,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {operators.raw}",
    )
    assert_error(response, status, code)
    assert snapshot() == before


def test_expire_ends_now_disables_keys_and_audits(api, operators):
    subscription = SubscriptionFactory()
    key = NodeClientFactory(subscription=subscription, node=NodeFactory(health=NodeHealth.UP))
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/expire/", operators.raw, {"reason": "fraud"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "expired"
    assert response.json()["is_running"] is False
    subscription.refresh_from_db()
    key.refresh_from_db()
    assert subscription.status == SubscriptionStatus.EXPIRED
    assert subscription.expires_at <= timezone.now()
    assert key.enable is False
    assert_audited_by(AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXPIRED), operators)


def test_expire_twice_is_one_expiry(api, operators):
    subscription = SubscriptionFactory()
    path = f"/api/v1/subscriptions/{subscription.pk}/expire/"
    assert api.post(path, operators.raw, {"reason": "a"}).status_code == 200
    assert api.post(path, operators.raw, {"reason": "b"}).status_code == 200
    assert AuditLog.objects.filter(event_type=AuditEvent.SUBSCRIPTION_EXPIRED).count() == 1
    # Told to the customer once (issue 19).
    assert OutboxMessage.objects.filter(kind="subscription-ended-by-operator").count() == 1


def test_expire_needs_a_reason(api, operators):
    subscription = SubscriptionFactory()
    before = snapshot()
    response = api.post(f"/api/v1/subscriptions/{subscription.pk}/expire/", operators.raw, {})
    assert "reason" in assert_error(response, 400, "invalid")["fields"]
    assert snapshot() == before


def test_reprovision_pushes_keys_again_and_audits(
    api, operators, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory()
    key = NodeClientFactory(subscription=subscription, node=NodeFactory(health=NodeHealth.UP))
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.ERROR, attempts=6)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(f"/api/v1/subscriptions/{subscription.pk}/reprovision/", operators.raw)
    assert response.status_code == 200, response.content
    assert response.json()["keys_pushed"] == 1
    assert response.json()["subscription"]["id"] == subscription.pk
    key.refresh_from_db()
    assert (key.sync_state, key.attempts) == (SyncState.PENDING, 0)
    row = AuditLog.objects.get(
        event_type=AuditEvent.ADMIN_ACTION, object_type="subscriptions.subscription"
    )
    assert_audited_by(row, operators)
    assert row.extra_data["retried_key_ids"] == [key.pk]


def paid_renewal() -> Payment:
    subscription = SubscriptionFactory()
    return PaymentFactory(
        subscription=subscription,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        amount=Decimal("299.00"),
        days_credited=10,
    )


def test_refund_marks_refunded_takes_the_days_back_and_audits(api, operators):
    payment = paid_renewal()
    before = payment.subscription.expires_at
    response = api.post(
        f"/api/v1/payments/{payment.pk}/refund/", operators.raw, {"reason": "duplicate charge"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert response.json()["amount"] == "299.00"
    payment.refresh_from_db()
    payment.subscription.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.subscription.expires_at == before - timedelta(days=10)
    refunded = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert_audited_by(refunded, operators)
    assert "duplicate charge" in refunded.message
    assert_audited_by(AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_SHORTENED), operators)


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.REFUNDED])
def test_refund_of_a_payment_that_is_not_paid_is_rejected(api, operators, status):
    payment = PaymentFactory(status=status)
    before = snapshot()
    response = api.post(f"/api/v1/payments/{payment.pk}/refund/", operators.raw, {"reason": "x"})
    body = assert_error(response, 400, "rejected")
    assert "Only a paid payment can be refunded" in body["message"]
    assert body["fields"] == {}
    assert snapshot() == before


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "r" * 256}])
def test_refund_needs_a_reason(api, operators, body):
    payment = paid_renewal()
    before = snapshot()
    response = api.post(f"/api/v1/payments/{payment.pk}/refund/", operators.raw, body)
    assert "reason" in assert_error(response, 400, "invalid")["fields"]
    assert snapshot() == before


def test_support_cannot_refund_or_expire(api, tokens):
    payment = paid_renewal()
    before = snapshot()
    support = tokens[Scope.SUPPORT].raw
    refund = api.post(f"/api/v1/payments/{payment.pk}/refund/", support, {"reason": "x"})
    assert_error(refund, 403, "scope_insufficient")
    expire = api.post(
        f"/api/v1/subscriptions/{payment.subscription_id}/expire/", support, {"reason": "x"}
    )
    assert_error(expire, 403, "scope_insufficient")
    assert snapshot() == before


def test_read_only_cannot_write_anything(api, tokens):
    payment = paid_renewal()
    before = snapshot()
    reader = tokens[Scope.READ_ONLY].raw
    for path, body in [
        (f"/api/v1/subscriptions/{payment.subscription_id}/extend/", {"days": 1, "reason": "x"}),
        (f"/api/v1/payments/{payment.pk}/refund/", {"reason": "x"}),
    ]:
        assert_error(api.post(path, reader, body), 403, "scope_insufficient")
    for method in ("put", "patch", "delete"):
        response = api.call(method, f"/api/v1/payments/{payment.pk}/", reader, {"status": "paid"})
        assert_error(response, 405, "method_not_allowed")
    assert_error(api.post("/api/v1/customers/", reader, {}), 405, "method_not_allowed")
    assert snapshot() == before


def test_reconcile_queues_the_nodes_task_and_audits(
    api, operators, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("nodes.tasks.node_reconcile_task.delay", queued.append)
    node = NodeFactory(name="fra-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/nodes/{node.pk}/reconcile/", operators.raw)
    assert response.status_code == 202, response.content
    assert response.json() == {
        "node": node.pk,
        "queued": True,
        "detail": "Reconciliation of fra-1 queued.",
    }
    assert queued == [node.pk]
    row = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION, object_type="nodes.node")
    assert_audited_by(row, operators)
    assert row.extra_data == {"action": "node_reconcile"}


def test_an_unknown_object_is_404_in_the_error_shape(api, operators):
    assert_error(api.get("/api/v1/subscriptions/999999/", operators.raw), 404, "not_found")
    before = snapshot()
    response = api.post("/api/v1/payments/999999/refund/", operators.raw, {"reason": "x"})
    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/nothing/", "/api/v1/customers", "/api/v1/"])
def test_an_unknown_path_is_404_in_the_error_shape(api, operators, path):
    body = assert_error(api.get(path, operators.raw), 404, "not_found")
    assert "/api/v1/docs/" in body["message"]


def test_messages_are_english_whatever_the_accept_language(api, tokens):
    subscription = SubscriptionFactory()
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/",
        tokens[Scope.SUPPORT].raw,
        {"days": 0},
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    body = assert_error(response, 400, "invalid")
    assert body["fields"]["days"] == ["Ensure this value is greater than or equal to 1."]
    assert body["fields"]["reason"] == ["This field is required."]
