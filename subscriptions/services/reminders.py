"""Expiry reminders: "3 days left", each once per expiry."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscriptions.models import Subscription
from subscriptions.notifications import notify_subscription_reminder


def _reminder_label(days: int) -> str:
    return f"{days}d"


def subscriptions_remind_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue the expiry reminders that are due (SUBSCRIPTION_REMINDER_DAYS); returns how many.

    A reminder is due once the time left falls to its threshold. When several fell due
    together (beat was down), only the nearest is sent; a threshold as long as the whole term
    is skipped (a 3-day trial needs no "3 days left"). `reminders_sent` records them for the
    current `expires_at` (an extension clears it) under the subscription's row lock, and the
    outbox dedupe key names the expiry too: each reminder goes out once per expiry.
    """
    thresholds = sorted({days for days in settings.SUBSCRIPTION_REMINDER_DAYS if days > 0})
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
