"""Who a broadcast goes to: its audience as a queryset of customers.

The only part of notifications that reads subscriptions and payments (apps of higher layers,
docs/architecture.md): it is kept apart so it can move up to the console, which would then
hand the audience to the broadcast services.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from core.exceptions import ApplicationError
from notifications.models import BroadcastAudience
from subscriptions.models import Subscription, SubscriptionStatus


def broadcast_recipients(*, audience: str, days: int, now: datetime):
    """Customers a broadcast goes to: never the banned nor those who blocked the bot."""
    customers = Customer.objects.filter(is_banned=False, bot_blocked_at__isnull=True)
    running = Subscription.objects.running(now)
    if audience == BroadcastAudience.ALL:
        return customers
    if audience == BroadcastAudience.ACTIVE:
        return customers.filter(pk__in=running.values("customer_id"))
    if audience == BroadcastAudience.EXPIRED:
        recently_ended = Subscription.objects.filter(
            expires_at__gt=now - timedelta(days=days), expires_at__lte=now
        ).exclude(status=SubscriptionStatus.CANCELLED)
        return customers.filter(pk__in=recently_ended.values("customer_id")).exclude(
            pk__in=running.values("customer_id")
        )
    if audience == BroadcastAudience.NEVER_PAID:
        # A refunded payment was paid once: that customer did pay.
        ever_paid = Payment.objects.filter(
            status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED]
        ).values("customer_id")
        return customers.exclude(pk__in=ever_paid)
    raise ApplicationError(f"Unknown audience {audience!r}.", {"audience": audience})


def broadcast_audience_count(*, audience: str, days: int = 30, now: datetime | None = None) -> int:
    """How many customers a broadcast to `audience` would reach right now (one COUNT)."""
    return broadcast_recipients(audience=audience, days=days, now=now or timezone.now()).count()
