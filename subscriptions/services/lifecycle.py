"""A subscription's life: created, extended, shortened, expired, re-provisioned; the trial.

Billing, the bot and the console call these; nobody else sets the fields. Every function is
atomic and takes a row lock on the subscription, so concurrent calls (two payments for the
same renewal, an admin extend racing the expiry sweep) serialise instead of overwriting
each other. Each change ends in ``subscription_keys_converge_in_lock`` (services/keys.py),
an expiry in ``subscriptions_keys_converge_ended``.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.services import audit_log_entry, audit_log_write, model_update
from nodes.models import SyncState
from nodes.services.push import node_keys_retry
from notifications.services import outbox_queue_deduped
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.notifications import subscription_expired_message
from subscriptions.operator_notifications import (
    notify_subscription_extended,
    subscription_ended_by_operator_message,
)
from subscriptions.selectors import trial_tariff_get, trial_tariff_id
from subscriptions.services.keys import (
    subscription_keys_converge,
    subscription_keys_converge_in_lock,
    subscriptions_keys_converge_ended,
)
from subscriptions.services.numbers import subscription_number_next
from subscriptions.services.traffic_resets import (
    TRAFFIC_ZERO_FIELDS,
    subscription_traffic_reset_schedule,
    subscription_traffic_zero_in_lock,
)
from subscriptions.traffic_periods import traffic_reset_next

# What a renewal with another tariff changes (`subscription_extend`).
TARIFF_FIELDS = (
    "tariff",
    "device_limit",
    "hwid_device_limit",
    "traffic_limit_bytes",
    "node_count",
    "traffic_reset",
)


def _locked(subscription: Subscription) -> Subscription:
    """The current row, locked (only the subscription's row), with customer and tariff."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=subscription.pk)
    )


@transaction.atomic
def subscription_create(
    *,
    customer: Customer,
    tariff: Tariff,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: datetime | None = None,
    place_keys_now: bool = True,
    country: str = "",
) -> Subscription:
    """A new active subscription for `tariff.duration_days` from now, limits snapshotted;
    its keys go to `country` (an ISO code, "" = any) when it has room (``placement``).

    ``place_keys_now=False``: the keys are placed by a task after commit (see
    ``subscription_keys_converge_in_lock``), as a payment credit does.
    """
    now = now or timezone.now()
    subscription = Subscription(
        customer=customer,
        tariff=tariff,
        number=subscription_number_next(customer_id=customer.pk),
        status=SubscriptionStatus.ACTIVE,
        started_at=now,
        expires_at=now + timedelta(days=tariff.duration_days),
        device_limit=tariff.device_limit,
        hwid_device_limit=tariff.hwid_device_limit,
        traffic_limit_bytes=tariff.traffic_limit_bytes,
        node_count=tariff.node_count,
        is_trial=tariff.is_trial,
        country=country.upper(),
    )
    subscription_traffic_reset_schedule(subscription=subscription, period=tariff.traffic_reset)
    # Field validation only: foreign keys, uniqueness and constraints are the database's
    # job, and checking them here would cost a query each on the payment path.
    subscription.full_clean(
        exclude=["customer", "tariff"], validate_unique=False, validate_constraints=False
    )
    subscription.save(force_insert=True)
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
    subscription_keys_converge_in_lock(
        subscription=subscription, now=now, keys=[], place_now=place_keys_now
    )
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
    place_keys_now: bool = True,
    tariff: Tariff | None = None,
    tell_customer: bool = False,
) -> Subscription:
    """Add `days`: to `expires_at` while it is still running, else restart from now.

    ``tell_customer``: an operator's extension (the console, the API) is told to the
    customer, once (``notify_subscription_extended``); a payment's credit has its own message.

    A renewal with another `tariff` moves the subscription onto it: from then on it runs on
    that tariff's limits and every message names it by that tariff.

    A suspended or cancelled subscription is reactivated by an extension (it was paid for).
    The existing keys get the new expiry in this transaction; with ``place_keys_now=False``
    missing keys are placed by a task after commit.
    """
    if days <= 0:
        raise ApplicationError("Extension must be a positive number of days", {"days": days})
    now = now or timezone.now()
    subscription = _locked(subscription)
    before_status, before_expiry = subscription.status, subscription.expires_at
    running = subscription.is_running(now)
    if running:
        subscription.expires_at += timedelta(days=days)
    else:
        subscription.started_at = min(subscription.started_at, now)
        subscription.expires_at = now + timedelta(days=days)
        subscription.status = SubscriptionStatus.ACTIVE
        # A new term counts traffic from zero, on the panels too: every live key's expiry
        # changes, so the converge below pushes each of them, and the push resets them.
        subscription_traffic_zero_in_lock(subscription=subscription, now=now)
    # Reminders are for a specific expiry; a new expiry deserves new reminders.
    subscription.reminders_sent = []
    tariff_before = subscription.tariff_id
    switched = tariff is not None and tariff.pk != tariff_before
    if switched:
        subscription.tariff = tariff
        subscription.device_limit = tariff.device_limit
        subscription.hwid_device_limit = tariff.hwid_device_limit
        subscription.traffic_limit_bytes = tariff.traffic_limit_bytes
        # The new tariff's number of nodes: the converge below places the keys it lacks,
        # or takes the surplus ones off their panels.
        subscription.node_count = tariff.node_count
        if subscription.traffic_reset != tariff.traffic_reset:
            # The new period counts from the term's start, as a new subscription's does.
            subscription.traffic_reset = tariff.traffic_reset
            subscription.traffic_reset_next_at = traffic_reset_next(
                period=tariff.traffic_reset, anchor=subscription.started_at, after=now
            )
    subscription.save(
        update_fields=[
            *(TARIFF_FIELDS if switched else ()),
            "expires_at",
            "started_at",
            "status",
            "reminders_sent",
            *TRAFFIC_ZERO_FIELDS,
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
            **({"tariff_before": tariff_before, "tariff_after": tariff.pk} if switched else {}),
        },
    )
    subscription_keys_converge_in_lock(subscription=subscription, now=now, place_now=place_keys_now)
    if tell_customer:
        notify_subscription_extended(subscription=subscription, days=days)
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
        subscription_keys_converge_in_lock(subscription=subscription, now=now)
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
    tell_customer: bool = False,
) -> Subscription:
    """Mark expired. Idempotent: an already expired subscription is returned unchanged.

    ``tell_customer``: an operator's "expire now" is told to the customer, once per expiry
    (``subscription_ended_by_operator_message``); a refund's has its own message.

    Expiring early (an operator's "expire now") moves `expires_at` back to now, so the
    database never claims time the customer no longer has. With `only_if_due`, a
    subscription extended after it was selected is left alone. The rule is
    ``_subscriptions_expire_locked``'s, the sweep's, for a chunk of one.
    """
    now = now or timezone.now()
    subscription = _locked(subscription)
    expired = _subscriptions_expire_locked(
        subscriptions=[subscription],
        now=now,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        only_if_due=only_if_due,
    )
    if expired and tell_customer:
        message = subscription_ended_by_operator_message(subscription=subscription)
        if message is not None:
            outbox_queue_deduped([message])
    return subscription


def _subscriptions_expire_locked(
    *,
    subscriptions: list[Subscription],
    now: datetime,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    only_if_due: bool = False,
) -> list[Subscription]:
    """What expiring means, for rows the caller has locked (customer and tariff loaded):
    the one definition, used by ``subscription_expire`` (one row) and the sweep (a chunk).

    Each row that is not expired yet (with `only_if_due`: that is active and no longer
    running) becomes expired, its `expires_at` moved back to now if that was later (never
    before its start); one audit row each; its keys are disabled and pushed after commit
    (``subscriptions_keys_converge_ended``). The rows in memory are changed too. A constant
    number of statements whatever the number of rows: one UPDATE of the subscriptions, one
    INSERT of audit rows, one SELECT and one UPDATE of keys. Returns the rows it expired.
    """
    expiring = [
        subscription
        for subscription in subscriptions
        if subscription.status != SubscriptionStatus.EXPIRED
        and not (
            only_if_due
            and (subscription.status != SubscriptionStatus.ACTIVE or subscription.is_running(now))
        )
    ]
    if not expiring:
        return []
    stamp = timezone.now()
    audit = []
    moved_back: dict[int, datetime] = {}
    for subscription in expiring:
        before_status, before_expiry = subscription.status, subscription.expires_at
        subscription.status = SubscriptionStatus.EXPIRED
        if subscription.expires_at > now:
            subscription.expires_at = max(now, subscription.started_at)
            moved_back[subscription.pk] = subscription.expires_at
        subscription.updated_at = stamp
        audit.append(
            audit_log_entry(
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
        )
    changes = {"status": SubscriptionStatus.EXPIRED, "updated_at": stamp}
    if moved_back:
        changes["expires_at"] = Case(
            *(When(pk=pk, then=Value(moment)) for pk, moment in moved_back.items()),
            default=F("expires_at"),
            output_field=Subscription._meta.get_field("expires_at"),
        )
    Subscription.objects.filter(pk__in=[s.pk for s in expiring]).update(**changes)
    AuditLog.objects.bulk_create(audit)
    subscriptions_keys_converge_ended(subscriptions=expiring, now=now)
    return expiring


def subscriptions_expire_due(
    *, now: datetime | None = None, limit: int = 500, chunk: int = 100
) -> list[int]:
    """Expire every active subscription past `expires_at` (at most `limit` of them, oldest
    first); returns the ids it expired.

    Chunks of `chunk`, one transaction each, in a constant number of statements per chunk:
    the due rows are taken with their row locks, skipping rows another transaction holds
    (``skip_locked``: two beat runs never take the same rows, and a subscription being
    renewed right now is left to its renewal); ``_subscriptions_expire_locked`` expires
    them; one INSERT queues their "your subscription has ended" messages, each in its
    customer's language and once per expiry (the outbox's dedupe key). After commit, one
    push task per node carries the chunk's keys and one outbox flush sends the messages
    (``outbox_queue_deduped``); a failure holds back one chunk at most.
    """
    now = now or timezone.now()
    expired: list[int] = []
    taken = 0
    while taken < limit:
        with transaction.atomic():
            rows = list(
                Subscription.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("customer", "tariff")
                .filter(status=SubscriptionStatus.ACTIVE, expires_at__lte=now)
                .order_by("expires_at")[: min(chunk, limit - taken)]
            )
            if not rows:
                break
            taken += len(rows)
            done = _subscriptions_expire_locked(
                subscriptions=rows,
                now=now,
                actor_label="system",
                reason="term ended",
                only_if_due=True,
            )
            outbox_queue_deduped(
                [
                    message
                    for subscription in done
                    if (message := subscription_expired_message(subscription=subscription))
                ]
            )
        expired += [subscription.pk for subscription in done]
    return expired


@transaction.atomic
def subscription_trial_grant(*, customer: Customer, now: datetime | None = None) -> Subscription:
    """The customer's one free trial: a subscription on the trial tariff, audited.

    The customer row is locked first, so two concurrent requests (a double tap, two devices)
    serialise and the second one sees `trial_used_at`. Refusals are `ApplicationError`s in
    the customer's language, for the bot to show as they are.
    """
    now = now or timezone.now()
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    with translation.override(locked.language):
        if locked.is_banned:
            raise ApplicationError(_("Your account is blocked."), {"customer_id": locked.pk})
        if locked.trial_used_at is not None:
            raise ApplicationError(
                _("You have already used your free trial."),
                {"customer_id": locked.pk, "trial_used_at": locked.trial_used_at.isoformat()},
            )
        tariff = trial_tariff_get()
        if tariff is None:
            raise ApplicationError(
                _("There is no free trial at the moment."),
                {"trial_tariff_id": trial_tariff_id()},
            )
    locked, _changed = model_update(instance=locked, data={"trial_used_at": now})
    subscription = subscription_create(
        customer=locked, tariff=tariff, actor_label="bot", reason="free trial", now=now
    )
    audit_log_write(
        event_type=AuditEvent.TRIAL_GRANTED,
        obj=subscription,
        actor_label="bot",
        customer_id=locked.pk,
        message=f"free trial: {tariff.name}, {tariff.duration_days} days",
        extra_data={"tariff_id": tariff.pk, "expires_at": subscription.expires_at.isoformat()},
    )
    return subscription


@transaction.atomic
def subscription_reprovision(*, subscription: Subscription, actor, actor_label: str = "") -> int:
    """Push every key of `subscription` to its panel again and place missing ones.

    For a customer whose app stopped working: it repairs a panel that lost or changed the
    client without waiting for reconciliation. Returns the number of keys pushed again.
    """
    key_ids = list(
        subscription.keys.exclude(sync_state=SyncState.REMOVED).values_list("pk", flat=True)
    )
    retried = node_keys_retry(key_ids=key_ids)
    keys = subscription_keys_converge(subscription=subscription, reason="re-provision")
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=subscription,
        acting_user=actor,
        actor_label=actor_label,
        customer_id=subscription.customer_id,
        message=f"re-provision: {retried} key(s) pushed again",
        extra_data={
            "action": "subscription_reprovision",
            "retried_key_ids": key_ids,
            "keys_after": [key.pk for key in keys],
        },
    )
    return retried
