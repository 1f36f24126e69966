"""Operator actions on customers: ban / unban (keys follow) and messages (through the outbox)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage, OutboxStatus
from subscriptions.services.customers import customer_ban, customer_message_send, customer_unban
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(username="op")


def synced_key(subscription, node):
    key = NodeClientFactory(subscription=subscription, node=node, enable=True)
    key.sync_state, key.synced_version = SyncState.SYNCED, key.desired_version
    key.save()
    return key


def test_ban_disables_every_key_audits_and_tells_the_customer(operator):
    node = NodeFactory(health=NodeHealth.UP)
    customer = CustomerFactory(language="en")
    keys = [synced_key(SubscriptionFactory(customer=customer), node) for _ in range(2)]

    banned = customer_ban(customer=customer, reason="chargeback fraud", actor=operator)

    assert banned.is_banned
    assert banned.banned_reason == "chargeback fraud"
    for key in keys:
        key.refresh_from_db()
        assert key.enable is False
        assert key.sync_state == SyncState.PENDING  # queued for the panel
    audit = AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_BANNED)
    assert audit.acting_user == operator
    assert audit.customer_id == customer.pk
    assert audit.extra_data["subscriptions_resynced"] == 2
    message = OutboxMessage.objects.get(customer=customer, kind="customer-banned")
    assert "suspended" in message.text
    assert message.parse_mode == ""


def test_ban_needs_a_reason_and_is_refused_twice(operator):
    customer = CustomerFactory()
    with pytest.raises(ApplicationError, match="reason"):
        customer_ban(customer=customer, reason="  ", actor=operator)
    customer_ban(customer=customer, reason="spam", actor=operator)
    with pytest.raises(ApplicationError, match="already banned"):
        customer_ban(customer=customer, reason="spam", actor=operator)
    assert AuditLog.objects.filter(event_type=AuditEvent.CUSTOMER_BANNED).count() == 1


def test_unban_enables_keys_of_running_subscriptions_only(operator):
    node = NodeFactory(health=NodeHealth.UP)
    customer = CustomerFactory(language="ru")
    running = synced_key(SubscriptionFactory(customer=customer), node)
    ended_sub = SubscriptionFactory(
        customer=customer,
        started_at=timezone.now() - timedelta(days=60),
        expires_at=timezone.now() - timedelta(days=30),
        status="expired",
    )
    ended = synced_key(ended_sub, NodeFactory(health=NodeHealth.UP))
    customer_ban(customer=customer, reason="mistake", actor=operator)

    customer_unban(customer=customer, actor=operator, reason="paid back")

    customer.refresh_from_db()
    assert not customer.is_banned
    assert customer.banned_reason == ""
    running.refresh_from_db()
    ended.refresh_from_db()
    assert running.enable is True
    assert ended.enable is False
    audit = AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_UNBANNED)
    assert audit.acting_user == operator
    assert audit.extra_data["ban_reason"] == "mistake"
    assert "восстановлен" in OutboxMessage.objects.get(kind="customer-unbanned").text


def test_unban_of_a_customer_who_is_not_banned_is_refused(operator):
    with pytest.raises(ApplicationError, match="not banned"):
        customer_unban(customer=CustomerFactory(), actor=operator)


def test_message_goes_through_the_outbox_as_plain_text_and_is_audited(operator):
    customer = CustomerFactory()
    message = customer_message_send(customer=customer, text=" Hi <there> & co ", actor=operator)
    assert message.status == OutboxStatus.PENDING
    assert message.text == "Hi <there> & co"
    assert message.parse_mode == ""
    assert message.kind == "operator-message"
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == operator
    assert audit.extra_data["outbox_id"] == message.pk


def test_message_to_a_customer_who_blocked_the_bot_is_kept_as_skipped(operator):
    customer = CustomerFactory(bot_blocked_at=timezone.now())
    message = customer_message_send(customer=customer, text="hello", actor=operator)
    assert message.status == OutboxStatus.SKIPPED


def test_empty_message_is_refused(operator):
    with pytest.raises(ApplicationError, match="empty"):
        customer_message_send(customer=CustomerFactory(), text="   ", actor=operator)
    assert not OutboxMessage.objects.exists()
