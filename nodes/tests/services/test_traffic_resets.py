"""Scheduled traffic resets on the panels (nodes/services/resets.py): each key's panel
counters are reset once per period, on every release, whatever retries, lost answers,
concurrent workers or a panel that is down do."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.selectors import node_keys_for_sync
from nodes.services.clients import x3ui_client_for_node, x3ui_clients_reset
from nodes.services.push import keys_push_lost, node_keys_push
from nodes.services.reconcile import node_reconcile
from nodes.services.resets import keys_traffic_reset_mark, keys_traffic_resets_apply
from nodes.tests.conftest import node_for
from nodes.x3ui import X3UIUnavailable
from notifications.tests.helpers import alerts_of
from subscriptions.services.lifecycle import subscription_create
from subscriptions.tests.factories import TariffFactory

pytestmark = pytest.mark.django_db

RELEASES = ["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"]
RESET_ROUTE = {
    "legacy": "POST panel/api/inbounds/{id}/resetClientTraffic/{email}",
    "v3": "POST panel/api/clients/resetTraffic/{email}",
}
GB = 1024**3


@pytest.fixture(params=RELEASES)
def release(request, sim_factory):
    sim = sim_factory(version=request.param)
    return sim, node_for(sim, name=f"panel-{request.param}")


def _bought(capture, **tariff):
    """A subscription whose one key is on the panel (synced)."""
    with capture(execute=True):
        sub = subscription_create(customer=CustomerFactory(), tariff=TariffFactory(**tariff))
    key = sub.keys.get()
    assert key.sync_state == SyncState.SYNCED
    return sub, key


def _mark(key, at=None):
    return keys_traffic_reset_mark(
        keys=NodeClient.objects.filter(pk=key.pk), at=at or timezone.now()
    )


def _resets(sim) -> int:
    return sim.request_counts[RESET_ROUTE[sim.generation]]


def _panel_used(sim, email) -> int:
    row = sim.snapshot()["traffic"][email]
    return row["up"] + row["down"]


def test_a_push_resets_the_panel_counters_once(release, django_capture_on_commit_callbacks):
    sim, node = release
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=3 * GB, down=GB)
    _mark(key)

    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    assert _panel_used(sim, key.email) == 0
    assert _resets(sim) == 1
    key.refresh_from_db()
    assert key.traffic_reset_done_at >= key.traffic_reset_due_at
    assert key.sync_state == SyncState.SYNCED

    # The new period's traffic: the task retried, the reconcile, another push change nothing.
    sim.set_traffic(key.email, up=100, down=200)
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    node_reconcile(node=node)
    assert _panel_used(sim, key.email) == 300
    assert _resets(sim) == 1
    key.refresh_from_db()
    assert (key.traffic_up, key.traffic_down) == (100, 200)


def test_a_key_with_nothing_to_reset_costs_no_request(release, django_capture_on_commit_callbacks):
    sim, node = release
    _sub, key = _bought(django_capture_on_commit_callbacks)
    _mark(key)
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert _resets(sim) == 0
    key.refresh_from_db()
    assert key.traffic_reset_done_at is not None


@override_settings(X3UI_READ_TIMEOUT=0.5)
def test_a_reset_whose_answer_was_lost_is_not_sent_again(
    release, django_capture_on_commit_callbacks
):
    """The panel applied it; the retry reads the counter back (lower than before the request)
    and leaves the new period's traffic alone."""
    sim, node = release
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=GB, down=GB)
    _mark(key)
    sim.add_fault("late", delay=1.5, path="eset", count=1)  # resetTraffic, resetClientTraffic
    x3ui_clients_reset()

    with pytest.raises(X3UIUnavailable, match="timed out"):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert _panel_used(sim, key.email) == 0  # the panel did reset
    sim.set_traffic(key.email, up=10, down=20)  # used since, in the new period

    node_keys_push(node_id=node.pk, key_ids=[key.pk])  # the task's retry

    assert _resets(sim) == 1
    assert _panel_used(sim, key.email) == 30
    key.refresh_from_db()
    assert key.traffic_reset_done_at is not None
    assert key.traffic_reset_sent_at is None


def test_a_reset_that_never_reached_the_panel_is_sent_by_the_retry(
    release, django_capture_on_commit_callbacks
):
    sim, node = release
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=GB, down=0)
    _mark(key)
    sim.add_fault("reset", path="eset", count=1)  # connection dropped, nothing applied

    with pytest.raises(X3UIUnavailable):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert _panel_used(sim, key.email) == GB

    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert _panel_used(sim, key.email) == 0


def test_a_panel_that_is_down_gets_the_reset_when_it_is_back(
    release, django_capture_on_commit_callbacks
):
    """Counters read while the reset is due are not ours to count; the reconcile after the
    node's return resets them and stores zero."""
    sim, node = release
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=2 * GB, down=0)
    _mark(key)
    sim.set_down()
    with pytest.raises(X3UIUnavailable):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.SYNCED)
    type(node).objects.filter(pk=node.pk).update(health=NodeHealth.DOWN)
    assert node_keys_push(node_id=node.pk, key_ids=[key.pk]).deferred

    sim.set_up()
    type(node).objects.filter(pk=node.pk).update(health=NodeHealth.UP)
    node.refresh_from_db()
    node_reconcile(node=node)

    assert _panel_used(sim, key.email) == 0
    assert _resets(sim) == 1
    key.refresh_from_db()
    assert (key.traffic_up, key.traffic_down) == (0, 0)
    assert key.traffic_reset_done_at is not None


def test_counters_of_a_key_whose_reset_is_refused_are_not_stored(
    sim_factory, django_capture_on_commit_callbacks
):
    """A reset the panel refuses leaves the key due (tried at every reconcile, the admins told
    once) and its old counters out of our totals."""
    sim = sim_factory(version="3.0.2")
    node = node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=GB, down=GB)
    _mark(key)
    with sim._lock:  # a traffic row whose inbound is gone: listed, but the reset is refused
        sim._traffic[key.email]["inboundId"] = 99

    node_reconcile(node=node)
    node_reconcile(node=node)

    key.refresh_from_db()
    assert (key.traffic_up, key.traffic_down) == (0, 0)
    assert key.traffic_reset_done_at is None
    assert alerts_of("traffic-reset-refused") == 1  # not one per reconcile
    with sim._lock:
        sim._traffic[key.email]["inboundId"] = sim.inbound_id
    node_reconcile(node=node)
    key.refresh_from_db()
    assert key.traffic_reset_done_at is not None
    assert _panel_used(sim, key.email) == 0


def test_two_workers_with_the_same_listing_send_one_reset(
    sim_factory, django_capture_on_commit_callbacks
):
    """A push and a reconcile that loaded the key before either reset it: one request."""
    sim = sim_factory(version="3.4.2")
    node = node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=GB, down=0)
    _mark(key)
    client = x3ui_client_for_node(node=node)
    listing = client.list_clients()
    first = node_keys_for_sync(node=node, key_ids=[key.pk])
    second = node_keys_for_sync(node=node, key_ids=[key.pk])
    at = timezone.now()

    for keys in (first, second):
        keys_traffic_resets_apply(
            client=client, node=node, keys=keys, panel_clients=listing, listed_at=at
        )

    assert _resets(sim) == 1


def test_counters_listed_before_a_reset_do_not_land_after_it(
    sim_factory, django_capture_on_commit_callbacks, monkeypatch
):
    """A reconcile that listed the panel, then saw the reset marked before it stored the
    counters, stores nothing of the period that ended."""
    from nodes.services import reconcile

    sim = sim_factory(version="3.6.0")
    node = node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    sim.set_traffic(key.email, up=GB, down=GB)
    real = reconcile.keys_traffic_resets_apply

    def mark_then_apply(**kwargs):
        _mark(key)  # committed by another worker after the keys were loaded
        return real(**kwargs)

    monkeypatch.setattr(reconcile, "keys_traffic_resets_apply", mark_then_apply)
    node_reconcile(node=node)
    key.refresh_from_db()
    assert (key.traffic_up, key.traffic_down) == (0, 0)


@pytest.mark.parametrize("version", ["3.4.2", "3.6.0"])
def test_a_disabled_key_stays_disabled_where_the_reset_enables_it(
    version, sim_factory, django_capture_on_commit_callbacks
):
    """v3.3.1+ enables a disabled client on reset; the push sends our desired state after."""
    sim = sim_factory(version=version)
    node = node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    NodeClient.objects.filter(pk=key.pk).update(enable=False, desired_version=2)
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert sim.client(key.email)["enable"] is False
    sim.set_traffic(key.email, up=GB, down=0)
    _mark(key)

    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    assert _resets(sim) == 1
    assert sim.client(key.email)["enable"] is False


def test_a_lost_reset_push_is_queued_again(django_capture_on_commit_callbacks, sim_factory):
    sim = sim_factory(version="3.6.0")
    node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    _mark(key, at=timezone.now() - timedelta(minutes=5))
    NodeClient.objects.filter(pk=key.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks() as callbacks:
        assert keys_push_lost() == 1
    assert len(callbacks) == 1


def test_a_refused_reset_is_not_pushed_again_every_minute(
    django_capture_on_commit_callbacks, sim_factory
):
    """Once tried, a reset is left to the task's retries and the reconcile."""
    sim = sim_factory(version="3.6.0")
    node_for(sim)
    _sub, key = _bought(django_capture_on_commit_callbacks)
    _mark(key, at=timezone.now() - timedelta(minutes=5))
    NodeClient.objects.filter(pk=key.pk).update(
        updated_at=timezone.now() - timedelta(minutes=5),
        traffic_reset_sent_at=timezone.now() - timedelta(minutes=4),
        traffic_reset_sent_counter=10,
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert keys_push_lost() == 0
    assert callbacks == []
