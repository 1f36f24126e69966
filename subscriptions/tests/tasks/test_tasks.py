"""The subscription tasks: the beat sweep that places keys a lost task left unplaced."""

import pytest

from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def test_lost_placements_are_found_within_a_minute_whatever_their_number(
    django_capture_on_commit_callbacks,
):
    """A worker killed after credits leaves subscriptions without keys: one beat run places
    all of them."""
    from django.conf import settings

    from subscriptions.tasks import subscriptions_place_missing_task
    from subscriptions.tests.factories import SubscriptionFactory

    NodeFactory(health=NodeHealth.UP)
    stranded = SubscriptionFactory.create_batch(230)
    with django_capture_on_commit_callbacks(execute=False):  # the panel is not the point
        placed = subscriptions_place_missing_task.apply().get()
    assert placed == 230
    assert all(s.keys.exists() for s in stranded)
    schedule = settings.CELERY_BEAT_SCHEDULE["subscriptions-place-missing"]["schedule"]
    assert schedule.total_seconds() <= 60


def test_a_lost_push_is_pushed_again_within_a_minute(
    django_capture_on_commit_callbacks, monkeypatch
):
    """A lost push is not left to the 10-minute reconcile: the 30 s sweep pushes it again."""
    from datetime import timedelta

    from django.utils import timezone

    from nodes.models import NodeClient
    from nodes.tests.factories import NodeClientFactory
    from subscriptions.tasks import subscriptions_place_missing_task

    node = NodeFactory(health=NodeHealth.UP)
    down = NodeFactory(health=NodeHealth.DOWN)
    lost = NodeClientFactory(node=node, sync_state=SyncState.PENDING)
    removing = NodeClientFactory(node=node, sync_state=SyncState.REMOVING)
    fresh = NodeClientFactory(node=node, sync_state=SyncState.PENDING)  # its task is queued
    synced = NodeClientFactory(node=node, sync_state=SyncState.SYNCED, synced_version=1)
    on_down = NodeClientFactory(node=down, sync_state=SyncState.PENDING)  # failover's job
    old = timezone.now() - timedelta(minutes=2)
    NodeClient.objects.exclude(pk=fresh.pk).update(updated_at=old)
    pushed = []
    monkeypatch.setattr(
        "nodes.tasks.node_keys_push_task.delay",
        lambda node_id, key_ids: pushed.append((node_id, key_ids)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_place_missing_task.apply().get()
    # (The sweep also places new keys for the subscriptions of `removing` and `on_down`,
    # left without a live key on a node that is up: those are pushed too.)
    again = {key_id for node_id, key_ids in pushed if node_id == node.pk for key_id in key_ids}
    assert {lost.pk, removing.pk} <= again
    assert again.isdisjoint({fresh.pk, synced.pk, on_down.pk})
    pushed.clear()
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_place_missing_task.apply().get()
    assert pushed == []  # left to the task just queued, for another minute
