"""The subscription tasks: the beat sweep that places keys a lost task left unplaced."""

import pytest

from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def test_lost_placements_are_found_within_a_minute_whatever_their_number(
    django_capture_on_commit_callbacks,
):
    """A worker killed after credits leaves subscriptions without keys: one beat run places
    all of them (the old sweep placed 200 per reconcile, every 10 minutes)."""
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
