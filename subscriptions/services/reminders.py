"""Expiry reminders: "3 days left", each once per expiry."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.forms import days_list_parse
from core.runtime_settings import runtime_settings
from subscriptions.models import Subscription
from subscriptions.notifications import notify_subscription_reminder

logger = logging.getLogger(__name__)


def reminder_days() -> list[int]:
    """The reminder thresholds in days, ascending (the console refuses anything but whole
    days from 1 to 60; a bad environment default is logged and skipped)."""
    value = runtime_settings().get("REMINDER_DAYS") or ""
    try:
        return sorted(set(days_list_parse(str(value))))
    except ValueError:
        logger.error("REMINDER_DAYS %r is not a list of days: no reminders are sent", value)
        return []


def _reminder_label(days: int) -> str:
    return f"{days}d"


def subscriptions_remind_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue the expiry reminders that are due (runtime setting REMINDER_DAYS, default
    SUBSCRIPTION_REMINDER_DAYS); returns how many.

    A reminder is due once the time left falls to its threshold. When several fell due
    together (beat was down), only the nearest is sent; a threshold as long as the whole term
    is skipped (a 3-day trial needs no "3 days left"). `reminders_sent` records them for the
    current `expires_at` (an extension clears it) under the subscription's row lock, and the
    outbox dedupe key names the expiry too: each reminder goes out once per expiry.
    """
    thresholds = reminder_days()
    if not thresholds:
        return 0
    now = now or timezone.now()
    candidates = list(
        Subscription.objects.running(now)
        .filter(
            expires_at__lte=now + timedelta(days=thresholds[-1]),
            customer__is_banned=False,
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(
        _subscription_remind(subscription_id=pk, thresholds=thresholds, now=now)
        for pk in candidates
    )


@transaction.atomic
def _subscription_remind(*, subscription_id: int, thresholds: list[int], now: datetime) -> bool:
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .filter(Subscription.objects.running_q(now), pk=subscription_id)
        .first()
    )
    if subscription is None:
        return False
    left = subscription.expires_at - now
    term = subscription.expires_at - subscription.started_at
    due = [d for d in thresholds if left <= timedelta(days=d) < term]
    sent = list(subscription.reminders_sent or [])
    fresh = [d for d in due if _reminder_label(d) not in sent]
    if not fresh:
        return False
    subscription.reminders_sent = sent + [_reminder_label(d) for d in fresh]
    subscription.save(update_fields=["reminders_sent", "updated_at"])
    notify_subscription_reminder(
        subscription=subscription, reminder=_reminder_label(min(fresh)), now=now
    )
    return True
