"""Celery tasks for subscriptions. Each takes one subscription's id (or none: a beat sweep)
and calls a service."""

import logging

from celery import shared_task
from django.db import DatabaseError

from nodes.services.push import keys_push_lost
from nodes.tasks import provision_backoff
from subscriptions.models import Subscription

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def subscriptions_expire_due_task() -> int:
    """Beat: expire every active subscription whose term has ended."""
    from subscriptions.services.lifecycle import subscriptions_expire_due

    return len(subscriptions_expire_due())


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def subscriptions_remind_due_task() -> int:
    """Beat: queue the expiry reminders that are due (each once per expiry)."""
    from subscriptions.services.reminders import subscriptions_remind_due

    return subscriptions_remind_due()


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    ignore_result=True,
    max_retries=5,
)
def subscription_keys_converge_task(self, subscription_id: int) -> bool:
    """Place and update the keys of a subscription a payment changed (queued on commit).

    A subscription deleted since is skipped. Retried on a database error; the reconcile
    beat places whatever is still missing.
    """
    from subscriptions.services.keys import subscription_keys_converge

    try:
        subscription_keys_converge(subscription=Subscription(pk=subscription_id))
    except Subscription.DoesNotExist:
        logger.info("keys converge: subscription #%s no longer exists", subscription_id)
        return False
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=provision_backoff(self.request.retries)) from exc
    return True


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def subscriptions_place_missing_task() -> int:
    """Beat: place the keys of subscriptions left without any (a lost placement task) and
    push again the keys whose push task was lost."""
    from subscriptions.services.keys import subscriptions_place_missing

    placed = subscriptions_place_missing()
    keys_push_lost()
    return placed


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def subscriptions_traffic_reset_due_task() -> int:
    """Beat: queue a traffic reset for every running subscription whose reset is due."""
    from subscriptions.services.traffic_resets import subscriptions_traffic_reset_due

    return subscriptions_traffic_reset_due()


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
    max_retries=5,
)
def subscription_traffic_reset_task(self, subscription_id: int) -> bool:
    """Reset one subscription's traffic if it is due (queued on commit by the beat).

    Exactly once per period however often it runs: the service's guard. Retried on a
    database error; the panels follow through ``node_keys_push_task`` and the reconcile.
    """
    from subscriptions.services.traffic_resets import subscription_traffic_reset

    try:
        return subscription_traffic_reset(subscription_id=subscription_id)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=provision_backoff(self.request.retries)) from exc
