"""Traffic that resets on a schedule: a tariff's day, week or month, once per period.

A subscription snapshots its tariff's ``traffic_reset`` at purchase and knows when the
next reset is due (``traffic_reset_next_at``, from ``subscriptions/traffic_periods.py``).
The beat (``subscriptions_traffic_reset_due_task``) queues one
``subscription_traffic_reset_task`` per running subscription that is due; the task resets
it EXACTLY ONCE per period however often it is queued, run or retried: under the row's
lock it resets only while the stored due moment has passed, and moves that moment to the
next period in the same transaction. Resetting means: our counters go to zero, the keys
are marked for a reset of their panel counters (``nodes.services.resets``), the keys'
desired state is converged (a subscription that was over its limit is enabled again) and
each node gets one push after commit, which resets the counters before it pushes.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from nodes.models import NodeClient
from nodes.services.push import keys_push_on_commit
from nodes.services.resets import keys_traffic_reset_mark
from subscriptions.models import Subscription, TrafficReset
from subscriptions.services.keys import subscription_keys_converge_in_lock
from subscriptions.tasks import subscription_traffic_reset_task
from subscriptions.traffic_periods import traffic_reset_next

logger = logging.getLogger(__name__)


def subscription_traffic_reset_schedule(*, subscription: Subscription, period: str) -> None:
    """Set `subscription`'s reset period and its first reset, one period after its start
    (in memory: the caller saves). ``never`` clears the schedule."""
    subscription.traffic_reset = period
    subscription.traffic_reset_next_at = traffic_reset_next(
        period=period, anchor=subscription.started_at, after=subscription.started_at
    )


# The subscription's fields that ``subscription_traffic_zero_in_lock`` sets (the caller saves).
TRAFFIC_ZERO_FIELDS = ("traffic_used_bytes", "traffic_reset_last_at", "traffic_reset_next_at")


def subscription_traffic_zero_in_lock(*, subscription: Subscription, now: datetime) -> list:
    """Count `subscription`'s traffic from zero as of `now`, for a caller that holds its row
    lock and saves ``TRAFFIC_ZERO_FIELDS``: our counters go to zero, its keys are marked for
    a reset of their panel counters (returned), and a scheduled reset moves to the first
    period boundary after `now`. The caller converges the keys (their push resets them).

    A scheduled reset does this, and so does a renewal that starts a new term.
    """
    subscription.traffic_used_bytes = 0
    subscription.traffic_reset_last_at = now
    subscription.traffic_reset_next_at = traffic_reset_next(
        period=subscription.traffic_reset, anchor=subscription.started_at, after=now
    )
    return keys_traffic_reset_mark(
        keys=NodeClient.objects.filter(subscription=subscription), at=now
    )


def subscriptions_traffic_reset_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Beat: queue one reset task per running subscription whose reset is due; how many.

    The same subscription may be queued again by the next run before its task ran (a slow
    queue): the task's guard makes every copy after the first a no-op.
    """
    now = now or timezone.now()
    due = list(
        Subscription.objects.running(now)
        .exclude(traffic_reset=TrafficReset.NEVER)
        .filter(traffic_reset_next_at__lte=now)
        .order_by("traffic_reset_next_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        for subscription_id in due:
            transaction.on_commit(
                lambda subscription_id=subscription_id: subscription_traffic_reset_task.delay(
                    subscription_id
                ),
                robust=True,
            )
    return len(due)


@transaction.atomic
def subscription_traffic_reset(*, subscription_id: int, now: datetime | None = None) -> bool:
    """Reset the traffic of one subscription if its reset is due; False when it is not (it
    was reset already this period, it never resets, it is not running, it is gone).

    The guard is the stored due moment, read under the row's lock and moved past `now` in
    the same transaction: a second run, a retry or a copy of the task queued twice finds it
    in the future and changes nothing. A reset that was missed (the beat stopped) happens
    once, and the next one is the first period boundary after `now`.
    """
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .filter(pk=subscription_id)
        .first()
    )
    if (
        subscription is None
        or subscription.traffic_reset == TrafficReset.NEVER
        or subscription.traffic_reset_next_at is None
        or subscription.traffic_reset_next_at > now
        or not subscription.is_running(now)
    ):
        return False
    used = subscription.traffic_used_bytes
    due_at = subscription.traffic_reset_next_at
    marked = subscription_traffic_zero_in_lock(subscription=subscription, now=now)
    subscription.save(update_fields=[*TRAFFIC_ZERO_FIELDS, "updated_at"])
    keys = list(
        NodeClient.objects.filter(subscription=subscription)
        .select_related("node")
        .defer("node__panel_password", "node__panel_api_token")
        .order_by("pk")
    )
    versions = {key.pk: key.desired_version for key in keys}
    for key in keys:
        key.subscription = subscription
    subscription_keys_converge_in_lock(
        subscription=subscription, now=now, keys=keys, reason="traffic reset"
    )
    # The converge queued a push for the keys whose desired state changed (re-enabled);
    # the others need one for the reset alone.
    marked_ids = {key.pk for key in marked}
    keys_push_on_commit(
        keys=[k for k in keys if k.pk in marked_ids and k.desired_version == versions[k.pk]]
    )
    logger.info(
        "subscription #%s: traffic reset (%s, due %s; %s bytes used), next %s",
        subscription.pk,
        subscription.traffic_reset,
        due_at.isoformat(),
        used,
        subscription.traffic_reset_next_at.isoformat(),
    )
    return True
