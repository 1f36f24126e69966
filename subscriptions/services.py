"""Writes to subscriptions. Billing, the bot and the admin call these; nobody else sets the fields.

Every function is atomic and takes a row lock on the subscription, so concurrent calls
(two payments for the same renewal, an admin extend racing the expiry sweep) serialise
instead of overwriting each other.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.services import subscription_keys_sync
from subscriptions.models import Subscription, SubscriptionStatus, Tariff


def _locked(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().get(pk=subscription.pk)


@transaction.atomic
def subscription_create(
    *,
    customer: Customer,
    tariff: Tariff,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """A new active subscription for `tariff.duration_days` from now, limits snapshotted."""
    now = now or timezone.now()
    subscription = Subscription(
        customer=customer,
        tariff=tariff,
        status=SubscriptionStatus.ACTIVE,
        started_at=now,
        expires_at=now + timedelta(days=tariff.duration_days),
        device_limit=tariff.device_limit,
        traffic_limit_bytes=tariff.traffic_limit_bytes,
        node_count=tariff.node_count,
        is_trial=tariff.is_trial,
    )
    # Field validation only: foreign keys, uniqueness and constraints are the database's
    # job, and checking them here would cost a query each on the payment path.
    subscription.full_clean(
        exclude=["customer", "tariff"], validate_unique=False, validate_constraints=False
    )
    subscription.save()
    audit_log_write(
        event_type=AuditEvent.SUBSCRIPTION_CREATED,
        obj=subscription,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=customer.pk,
        message=reason or f"{tariff.name}: {tariff.duration_days} days",
        extra_data={
            "tariff_id": tariff.pk,
            "expires_at": subscription.expires_at.isoformat(),
        },
    )
    subscription_keys_sync(subscription=subscription, now=now)
    return subscription


@transaction.atomic
def subscription_extend(
    *,
    subscription: Subscription,
    days: int,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Add `days`: to `expires_at` while it is still running, else restart from now.

    A suspended or cancelled subscription is reactivated by an extension (it was paid for).
    """
    if days <= 0:
        raise ApplicationError("Extension must be a positive number of days", {"days": days})
    now = now or timezone.now()
    subscription = _locked(subscription)
    before_status, before_expiry = subscription.status, subscription.expires_at
    running = subscription.status == SubscriptionStatus.ACTIVE and subscription.expires_at > now
    if running:
        subscription.expires_at += timedelta(days=days)
    else:
        subscription.started_at = min(subscription.started_at, now)
        subscription.expires_at = now + timedelta(days=days)
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.reminders_sent = []
        subscription.traffic_used_bytes = 0
    if running:
        # Reminders are for a specific expiry; a new expiry deserves new reminders.
        subscription.reminders_sent = []
    subscription.save(
        update_fields=[
            "expires_at",
            "started_at",
            "status",
            "reminders_sent",
            "traffic_used_bytes",
            "updated_at",
        ]
    )
    audit_log_write(
        event_type=AuditEvent.SUBSCRIPTION_EXTENDED,
        obj=subscription,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=subscription.customer_id,
        message=reason or f"+{days} days",
        extra_data={
            "days": days,
            "mode": "extend" if running else "restart",
            "status_before": before_status,
            "expires_before": before_expiry.isoformat(),
            "expires_after": subscription.expires_at.isoformat(),
        },
    )
    subscription_keys_sync(subscription=subscription, now=now)
    return subscription


@transaction.atomic
def subscription_shorten(
    *,
    subscription: Subscription,
    days: int,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Take back `days` (a refund), never below now; expires the subscription if it hits now."""
    if days <= 0:
        raise ApplicationError("Days to take back must be positive", {"days": days})
    now = now or timezone.now()
    subscription = _locked(subscription)
    before = subscription.expires_at
    subscription.expires_at = max(subscription.expires_at - timedelta(days=days), now)
    subscription.expires_at = max(subscription.expires_at, subscription.started_at)
    subscription.save(update_fields=["expires_at", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.SUBSCRIPTION_SHORTENED,
        obj=subscription,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=subscription.customer_id,
        message=reason or f"-{days} days",
        extra_data={
            "days": days,
            "expires_before": before.isoformat(),
            "expires_after": subscription.expires_at.isoformat(),
        },
    )
    if subscription.expires_at <= now and subscription.status == SubscriptionStatus.ACTIVE:
        subscription = subscription_expire(
            subscription=subscription,
            actor=actor,
            actor_label=actor_label,
            reason="no time left after refund",
            now=now,
        )
    else:
        subscription_keys_sync(subscription=subscription, now=now)
    return subscription


@transaction.atomic
def subscription_expire(
    *,
    subscription: Subscription,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: datetime | None = None,
    only_if_due: bool = False,
) -> Subscription:
    """Mark expired. Idempotent: an already expired subscription is returned unchanged.

    Expiring early (an operator's "expire now") moves `expires_at` back to now, so the
    database never claims time the customer no longer has. With `only_if_due` (the sweep),
    a subscription extended after it was selected is left alone.
    """
    now = now or timezone.now()
    subscription = _locked(subscription)
    if subscription.status == SubscriptionStatus.EXPIRED:
        return subscription
    if only_if_due and (
        subscription.status != SubscriptionStatus.ACTIVE or subscription.expires_at > now
    ):
        return subscription
    before_status, before_expiry = subscription.status, subscription.expires_at
    subscription.status = SubscriptionStatus.EXPIRED
    if subscription.expires_at > now:
        subscription.expires_at = max(now, subscription.started_at)
    subscription.save(update_fields=["status", "expires_at", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.SUBSCRIPTION_EXPIRED,
        obj=subscription,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=subscription.customer_id,
        message=reason or "expired",
        extra_data={
            "status_before": before_status,
            "expires_before": before_expiry.isoformat(),
            "early": before_expiry > now,
        },
    )
    subscription_keys_sync(subscription=subscription, now=now)
    return subscription


def subscriptions_expire_due(
    *, now: datetime | None = None, limit: int = 500, chunk: int = 100
) -> list[int]:
    """Expire every active subscription past `expires_at`; returns the ids it expired.

    Subscriptions are expired in chunks, one transaction each: the key changes of a chunk
    reach each panel as one batched push, and a failure holds back one chunk at most.
    """
    now = now or timezone.now()
    due = list(
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE, expires_at__lte=now
        ).values_list("pk", flat=True)[:limit]
    )
    expired = []
    for start in range(0, len(due), chunk):
        with transaction.atomic():
            for pk in due[start : start + chunk]:
                subscription = subscription_expire(
                    subscription=Subscription(pk=pk),
                    actor_label="system",
                    reason="term ended",
                    now=now,
                    only_if_due=True,
                )
                if subscription.status == SubscriptionStatus.EXPIRED:
                    expired.append(pk)
    return expired
