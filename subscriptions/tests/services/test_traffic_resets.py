"""Traffic that resets on a schedule (subscriptions/services/traffic_resets.py): exactly once
per period, pushed to the panels, keys over the limit enabled again."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import close_old_connections
from django.utils import timezone

from nodes.models import Node, NodeClient, NodeHealth, SyncState
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import node_for
from nodes.tests.factories import NodeFactory
from subscriptions.models import Subscription, TrafficReset
from subscriptions.services.lifecycle import subscription_create
from subscriptions.services.traffic import subscriptions_traffic_enforce
from subscriptions.services.traffic_resets import (
    subscription_traffic_reset,
    subscriptions_traffic_reset_due,
)
from subscriptions.tasks import subscription_traffic_reset_task
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from subscriptions.traffic_periods import traffic_reset_next

pytestmark = pytest.mark.django_db

GB = 1024**3
RESET_ROUTE = {
    "legacy": "POST panel/api/inbounds/{id}/resetClientTraffic/{email}",
    "v3": "POST panel/api/clients/resetTraffic/{email}",
}


def _due(sub, *, ago=timedelta(minutes=1)):
    """Make `sub`'s next reset due `ago` before now."""
    Subscription.objects.filter(pk=sub.pk).update(traffic_reset_next_at=timezone.now() - ago)


def _monthly(capture, customer, *, limit_gb=1, execute=True):
    tariff = TariffFactory(traffic_reset=TrafficReset.MONTH, traffic_limit_gb=limit_gb)
    with capture(execute=execute):
        return subscription_create(customer=customer, tariff=tariff)


def test_a_purchase_snapshots_the_period_and_schedules_the_first_reset(customer):
    NodeFactory(health=NodeHealth.UP)
    monthly = TariffFactory(traffic_reset=TrafficReset.MONTH)
    sub = subscription_create(customer=customer, tariff=monthly)
    assert sub.traffic_reset == TrafficReset.MONTH
    assert sub.traffic_reset_next_at == traffic_reset_next(
        period=TrafficReset.MONTH, anchor=sub.started_at, after=sub.started_at
    )
    assert sub.traffic_reset_next_at > sub.started_at + timedelta(days=27)
    # Editing the tariff later does not change what was bought.
    monthly.traffic_reset = TrafficReset.DAY
    monthly.save()
    sub.refresh_from_db()
    assert sub.traffic_reset == TrafficReset.MONTH
    never = subscription_create(customer=customer, tariff=TariffFactory())
    assert (never.traffic_reset, never.traffic_reset_next_at) == (TrafficReset.NEVER, None)


def test_a_due_reset_zeroes_our_counters_marks_the_keys_and_moves_the_next_one(
    customer, django_capture_on_commit_callbacks
):
    NodeFactory(health=NodeHealth.UP)
    sub = _monthly(django_capture_on_commit_callbacks, customer, execute=False)
    key = sub.keys.get()
    NodeClient.objects.filter(pk=key.pk).update(traffic_up=GB, traffic_down=GB)
    Subscription.objects.filter(pk=sub.pk).update(traffic_used_bytes=2 * GB)
    _due(sub)
    now = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks:
        assert subscription_traffic_reset(subscription_id=sub.pk, now=now) is True

    sub.refresh_from_db()
    key.refresh_from_db()
    assert sub.traffic_used_bytes == 0
    assert sub.traffic_reset_last_at == now
    assert sub.traffic_reset_next_at == traffic_reset_next(
        period=TrafficReset.MONTH, anchor=sub.started_at, after=now
    )
    assert (key.traffic_up, key.traffic_down) == (0, 0)
    assert key.traffic_reset_due_at == now
    assert key.enable is True  # was disabled at 2 GB of 1 GB: enabled again
    assert len(callbacks) == 1  # one push for the node: the reset and the enable together


def test_exactly_once_per_period_however_often_the_task_runs(
    customer, django_capture_on_commit_callbacks
):
    """A retried or twice-queued task: the second run finds the next reset in the future and
    leaves the traffic of the new period alone."""
    NodeFactory(health=NodeHealth.UP)
    sub = _monthly(django_capture_on_commit_callbacks, customer, limit_gb=0, execute=False)
    _due(sub)
    with django_capture_on_commit_callbacks(execute=False):
        assert subscription_traffic_reset_task.apply(args=[sub.pk]).get() is True
    Subscription.objects.filter(pk=sub.pk).update(traffic_used_bytes=5 * GB)  # new period
    NodeClient.objects.filter(subscription=sub).update(traffic_up=5 * GB)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert subscription_traffic_reset_task.apply(args=[sub.pk]).get() is False
        assert subscription_traffic_reset(subscription_id=sub.pk) is False

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 5 * GB
    assert sub.keys.get().traffic_up == 5 * GB
    assert callbacks == []


def test_nothing_happens_before_the_due_moment_or_when_not_running(customer):
    NodeFactory(health=NodeHealth.UP)
    tariff = TariffFactory(traffic_reset=TrafficReset.DAY)
    sub = subscription_create(customer=customer, tariff=tariff)
    Subscription.objects.filter(pk=sub.pk).update(traffic_used_bytes=GB)
    assert subscription_traffic_reset(subscription_id=sub.pk) is False  # due tomorrow
    _due(sub)
    Subscription.objects.filter(pk=sub.pk).update(expires_at=timezone.now())
    assert subscription_traffic_reset(subscription_id=sub.pk) is False  # ended
    assert subscription_traffic_reset(subscription_id=10**9) is False  # gone
    sub.refresh_from_db()
    assert sub.traffic_used_bytes == GB


def test_the_beat_queues_one_task_per_due_running_subscription(
    django_capture_on_commit_callbacks,
):
    monthly = TariffFactory(traffic_reset=TrafficReset.MONTH)
    due = SubscriptionFactory(tariff=monthly)
    later = SubscriptionFactory(tariff=monthly)  # due in a month
    ended = SubscriptionFactory(tariff=monthly)
    SubscriptionFactory()  # never resets
    _due(due)
    _due(ended)
    Subscription.objects.filter(pk=ended.pk).update(expires_at=timezone.now())
    with (
        mock.patch("subscriptions.tasks.subscription_traffic_reset_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert subscriptions_traffic_reset_due() == 1
    delay.assert_called_once_with(due.pk)  # not `later` (in a month), `ended`, or never
    assert later.traffic_reset_next_at > timezone.now()


def test_the_beat_runs_every_minute_on_the_keys_queue():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["subscriptions-traffic-reset-due"]
    assert entry["task"] == "subscriptions.tasks.subscriptions_traffic_reset_due_task"
    assert entry["schedule"].total_seconds() <= 60
    assert settings.CELERY_TASK_ROUTES["subscriptions.tasks.*"] == {"queue": "keys"}


def test_two_workers_resetting_at_once_reset_once(customer, on_postgres, transactional_db):
    """The row lock serialises them; the second sees the next reset in the future."""
    NodeFactory(health=NodeHealth.UP)
    sub = subscription_create(
        customer=customer, tariff=TariffFactory(traffic_reset=TrafficReset.DAY)
    )
    _due(sub)
    results = []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            with mock.patch("nodes.services.push.node_keys_push_task.delay"):
                results.append(subscription_traffic_reset(subscription_id=sub.pk))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]


def test_a_total_summed_before_a_reset_does_not_land_after_it(
    customer, django_capture_on_commit_callbacks
):
    """The enforcement read the subscription and the old counters; the reset committed before
    it wrote: the old total is not written and the keys stay enabled."""
    NodeFactory(health=NodeHealth.UP)
    sub = _monthly(django_capture_on_commit_callbacks, customer, execute=False)
    NodeClient.objects.filter(subscription=sub).update(traffic_up=2 * GB)
    _due(sub)
    real_filter = NodeClient.objects.filter
    calls = []

    def filter_then_reset(*args, **kwargs):
        """The enforcement's read of the counters; then another worker resets, meanwhile."""
        if calls:
            return real_filter(*args, **kwargs)
        calls.append(1)
        rows = list(
            real_filter(*args, **kwargs).values_list(
                "subscription_id", "email", "node__panel_url", "traffic_up", "traffic_down"
            )
        )
        with django_capture_on_commit_callbacks(execute=False):
            assert subscription_traffic_reset(subscription_id=sub.pk) is True
        stale = mock.Mock()
        stale.values_list.return_value = rows
        return stale

    with (
        mock.patch.object(NodeClient.objects, "filter", filter_then_reset),
        django_capture_on_commit_callbacks(execute=False),
    ):
        subscriptions_traffic_enforce(subscription_ids={sub.pk})

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 0
    assert sub.keys.get().enable is True


@pytest.mark.parametrize("version", ["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"])
def test_over_the_limit_then_reset_on_a_panel(
    version, sim_factory, customer, django_capture_on_commit_callbacks
):
    """The whole way on each release: over its limit the key is disabled on the panel; the
    reset zeroes the panel's counters and enables it there; the new period counts from 0."""
    sim = sim_factory(version=version)
    node = node_for(sim)
    sub = _monthly(django_capture_on_commit_callbacks, customer)
    key = sub.keys.get()
    sim.set_traffic(key.email, up=GB, down=GB // 2)
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)
    assert sim.client(key.email)["enable"] is False
    _due(sub)

    with django_capture_on_commit_callbacks(execute=True):
        assert subscription_traffic_reset(subscription_id=sub.pk) is True

    row = sim.snapshot()["traffic"][key.email]
    assert (row["up"], row["down"], row["enable"]) == (0, 0, True)
    assert sim.client(key.email)["enable"] is True
    assert sim.request_counts[RESET_ROUTE[sim.generation]] == 1
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    sim.set_traffic(key.email, up=100, down=200)
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)
    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 300
    assert sim.request_counts[RESET_ROUTE[sim.generation]] == 1


@pytest.mark.parametrize("version", ["2.8.3", "3.6.0"])
def test_a_panel_down_at_the_reset_gets_it_when_it_is_back(
    version, sim_factory, customer, django_capture_on_commit_callbacks
):
    """Its old counters never come back into our total: the reset is made by the reconcile
    that follows the node's return."""
    sim = sim_factory(version=version)
    node = node_for(sim)
    sub = _monthly(django_capture_on_commit_callbacks, customer)
    key = sub.keys.get()
    sim.set_traffic(key.email, up=2 * GB, down=0)
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)
    _due(sub)
    sim.set_down()
    Node.objects.filter(pk=node.pk).update(health=NodeHealth.DOWN)

    with django_capture_on_commit_callbacks(execute=True):
        subscription_traffic_reset(subscription_id=sub.pk)  # the push is deferred
    assert sim.request_counts[RESET_ROUTE[sim.generation]] == 0

    sim.set_up()
    Node.objects.filter(pk=node.pk).update(health=NodeHealth.UP)
    node.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 0
    assert sim.snapshot()["traffic"][key.email]["up"] == 0
    assert sim.client(key.email)["enable"] is True
    assert sim.request_counts[RESET_ROUTE[sim.generation]] == 1


@pytest.mark.parametrize("version", ["2.8.3", "3.6.0"])
def test_a_renewal_that_starts_a_new_term_counts_traffic_from_zero_on_the_panel(
    version, sim_factory, customer, django_capture_on_commit_callbacks
):
    """Before, the panel kept the ended term's counters: the next reconcile put the old total
    back and the key was disabled again at once."""
    from subscriptions.services.lifecycle import subscription_expire, subscription_extend

    sim = sim_factory(version=version)
    node = node_for(sim)
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory(traffic_limit_gb=1))
    key = sub.keys.get()
    sim.set_traffic(key.email, up=GB, down=GB)
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)
        subscription_expire(subscription=sub, reason="test")
    assert sim.client(key.email)["enable"] is False

    with django_capture_on_commit_callbacks(execute=True):
        subscription_extend(subscription=sub, days=30, reason="paid")
    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 0
    assert sim.snapshot()["traffic"][key.email]["up"] == 0
    assert sim.client(key.email)["enable"] is True
    assert sim.request_counts[RESET_ROUTE[sim.generation]] == 1
