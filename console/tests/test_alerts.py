"""Alerts to the admin chats: each fires once per episode (console/alerts.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.tests.factories import PaymentFactory
from console import alerts
from console.tasks import alerts_check_task, daily_summary_task
from nodes import alerts as node_alerts
from nodes.models import Node, NodeHealth
from nodes.services.health import node_health_check
from nodes.tests.conftest import PASSWORD, USERNAME
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage, OutboxStatus
from notifications.services import notify_customer
from notifications.tests.factories import OutboxMessageFactory
from notifications.tests.helpers import ADMIN_CHATS, alerts_of
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@override_settings(NODE_DOWN_AFTER_FAILURES=1, NODE_ALERT_FLAP_GUARD_MINUTES=30)
def test_a_flapping_node_gives_one_down_and_one_up(sim_factory):
    sim = sim_factory(generation="v3")
    node = NodeFactory(
        name="flappy",
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=sim.inbound_id,
        health=NodeHealth.UP,
    )

    def check(up: bool) -> str:
        (sim.set_up if up else sim.set_down)()
        node.refresh_from_db()
        return node_health_check(node=node)

    assert check(up=False) == NodeHealth.DOWN
    assert (alerts_of("node-down"), alerts_of("node-up")) == (1, 0)
    down = OutboxMessage.objects.filter(kind="node-down").first()
    assert "flappy" in down.text
    assert "failed checks" in down.text

    assert check(up=True) == NodeHealth.UP
    assert (alerts_of("node-down"), alerts_of("node-up")) == (1, 1)

    for _ in range(3):  # flapping within the guard window: nothing more
        assert check(up=False) == NodeHealth.DOWN
        assert check(up=True) == NodeHealth.UP
        alerts.alerts_check()
    assert (alerts_of("node-down"), alerts_of("node-up")) == (1, 1)

    # It ends down: held back during the guard, reported once the guard has passed.
    assert check(up=False) == NodeHealth.DOWN
    alerts.alerts_check()
    assert alerts_of("node-down") == 1
    later = timezone.now() + timedelta(minutes=31)
    alerts.alerts_check(now=later)
    alerts.alerts_check(now=later + timedelta(minutes=1))
    assert (alerts_of("node-down"), alerts_of("node-up")) == (2, 1)
    assert "flapping" in OutboxMessage.objects.filter(kind="node-down").first().text

    assert check(up=True) == NodeHealth.UP  # and back: told at once
    assert (alerts_of("node-down"), alerts_of("node-up")) == (2, 2)


def test_down_and_up_once_each_for_a_plain_outage():
    node = NodeFactory(name="de-2", health=NodeHealth.UP)
    for _ in range(3):
        assert node_alerts.node_alert_sync(node_id=node.pk) == ""  # up and nobody told otherwise
    Node.objects.filter(pk=node.pk).update(health=NodeHealth.DOWN, last_error="timeout")
    assert node_alerts.node_alert_sync(node_id=node.pk) == "down"
    assert node_alerts.node_alert_sync(node_id=node.pk) == ""
    assert "timeout" in OutboxMessage.objects.filter(kind="node-down").first().text
    Node.objects.filter(pk=node.pk).update(health=NodeHealth.DEGRADED)
    assert node_alerts.node_alert_sync(node_id=node.pk, detail="812 ms") == "up"
    assert node_alerts.node_alert_sync(node_id=node.pk) == ""
    assert (alerts_of("node-down"), alerts_of("node-up")) == (1, 1)


def test_a_disabled_node_is_not_reported_by_the_periodic_check():
    NodeFactory(name="off", health=NodeHealth.DOWN, is_enabled=False)
    assert node_alerts.nodes_alert_sync() == []
    assert alerts_of("node-down") == 0


@override_settings(OUTBOX_BACKLOG_ALERT_MINUTES=10)
def test_outbox_backlog_alerts_once_and_recovers_once():
    customer = CustomerFactory()
    stuck = notify_customer(customer=customer, text="your keys")
    now = timezone.now()
    assert alerts.outbox_backlog_check(now=now) == ""  # fresh: not a backlog
    OutboxMessage.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(minutes=11))
    assert alerts.outbox_backlog_check(now=now) == "firing"
    assert alerts.outbox_backlog_check(now=now) == ""
    assert "1 message(s) still unsent after 10 minutes" in (
        OutboxMessage.objects.filter(kind="outbox-backlog").first().text
    )
    OutboxMessage.objects.filter(pk=stuck.pk).update(status=OutboxStatus.SENT)
    assert alerts.outbox_backlog_check(now=now) == "recovered"
    assert alerts.outbox_backlog_check(now=now) == ""
    assert (alerts_of("outbox-backlog"), alerts_of("outbox-backlog-recovered")) == (1, 1)


def test_broadcasts_are_not_a_backlog():
    customer = CustomerFactory()
    OutboxMessageFactory(
        customer=customer, kind="broadcast", created_at=timezone.now() - timedelta(hours=1)
    )
    assert alerts.outbox_backlog_check() == ""


@override_settings(QUEUE_BACKLOG_ALERT_SIZE=100)
def test_queue_backlog_needs_two_checks_in_a_row(monkeypatch):
    lengths = iter([500, 50, 500, 500, 800, 20, 20])
    monkeypatch.setattr("console.alerts.celery_backlog", lambda: next(lengths))
    outcomes = [alerts.queue_backlog_check() for _ in range(7)]
    assert outcomes == ["", "", "", "firing", "", "recovered", ""]
    assert (alerts_of("queue-backlog"), alerts_of("queue-backlog-recovered")) == (1, 1)
    assert "500 task(s) waiting (limit 100)" in (
        OutboxMessage.objects.filter(kind="queue-backlog").first().text
    )


def test_an_unreachable_broker_is_not_a_backlog(monkeypatch):
    def broken():
        raise ConnectionError("redis is down")

    monkeypatch.setattr("console.alerts.celery_backlog", broken)
    assert alerts.queue_backlog_check() == ""


def test_the_periodic_check_runs_every_rule_and_survives_one_failing(monkeypatch):
    def broken(*, now=None):
        raise RuntimeError("bug")

    monkeypatch.setattr("billing.alerts.webhook_bad_signature_check", broken)
    result = alerts_check_task.delay().get()
    assert result["webhook_bad_signature"] == "error"
    assert set(result) == {
        "nodes",
        "webhook_bad_signature",
        "webhook_failed",
        "outbox_backlog",
        "queue_backlog",
    }


def test_daily_summary_content_and_once_a_day():
    now = timezone.now()
    old = CustomerFactory()
    CustomerFactory.create_batch(2)
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=3))
    PaymentFactory(status="paid", paid_at=now - timedelta(hours=2), amount=Decimal("299.00"))
    PaymentFactory(status="paid", paid_at=now - timedelta(hours=5), amount=Decimal("2990.00"))
    PaymentFactory(status="paid", paid_at=now - timedelta(days=2), amount=Decimal("100.00"))
    PaymentFactory(status="pending")
    SubscriptionFactory(expires_at=now + timedelta(days=10))
    NodeFactory(name="de-1", health=NodeHealth.UP)
    down = NodeFactory(name="nl-1", health=NodeHealth.DOWN)
    NodeClientFactory(node=down, sync_state="error")

    summary = alerts.daily_summary_get(now=now)
    assert summary.payments == 2
    assert summary.revenue == {"RUB": Decimal("3289.00")}
    assert summary.nodes_down == ["nl-1"]

    assert daily_summary_task.delay().get() == ADMIN_CHATS
    text = OutboxMessage.objects.get(kind="daily-summary", chat_id=900001).text
    customers_total = type(old).objects.count()
    new_customers = customers_total - 1
    assert f"New customers: {new_customers} (total {customers_total})" in text
    assert "Payments: 2, revenue 3,289\xa0₽" in text
    assert f"Active subscriptions: {summary.subscriptions_active}" in text
    assert "Nodes: 1 up, 0 degraded, 1 down" in text
    assert "Down: nl-1" in text
    assert "Keys in error: 1" in text
    assert alerts.daily_summary_send(now=now) == 0  # the same day again: nothing
    assert alerts_of("daily-summary") == 1


def test_beat_runs_the_checks_and_the_summary(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["alerts-check"]["task"] == alerts_check_task.name
    assert schedule["alerts-daily-summary"]["task"] == daily_summary_task.name
    assert schedule["alerts-daily-summary"]["schedule"].hour == {settings.DAILY_SUMMARY_HOUR_UTC}
