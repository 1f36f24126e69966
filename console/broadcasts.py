"""Broadcasts: an operator's message to an audience of customers (docs/console.md).

The console owns them because choosing an audience reads subscriptions and payments; each
recipient's message is an ordinary outbox row (notifications), written once per customer
whatever happens to the task that writes them.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from console.tasks import broadcast_enqueue_task
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write, model_update
from notifications.models import (
    Broadcast,
    BroadcastAudience,
    BroadcastStatus,
    OutboxAudience,
    OutboxMessage,
    OutboxStatus,
)
from notifications.services import BROADCAST_KIND, TELEGRAM_TEXT_LIMIT
from notifications.tasks import outbox_send_task
from subscriptions.models import Subscription, SubscriptionStatus

BROADCAST_BATCH_SIZE = 500
# Seconds between two recounts of a broadcast's progress while it is delivered.
BROADCAST_PROGRESS_EVERY = 30
BROADCAST_PROGRESS_MAX_CHECKS = 24 * 60 * 2


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


def _broadcast_validate(broadcast) -> None:
    if not broadcast.text.strip():
        raise ApplicationError("The broadcast has no text.")
    if bool(broadcast.button_text.strip()) != bool(broadcast.button_url.strip()):
        raise ApplicationError("A button needs both a text and a URL.")
    try:
        broadcast.full_clean()
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages), {"errors": exc.message_dict}) from exc


@transaction.atomic
def broadcast_create(
    *,
    text: str,
    audience: str,
    actor,
    audience_days: int = 30,
    button_text: str = "",
    button_url: str = "",
):
    """A draft broadcast; nothing is sent until `broadcast_start`."""
    broadcast = Broadcast(
        text=(text or "").strip(),
        button_text=(button_text or "").strip(),
        button_url=(button_url or "").strip(),
        audience=audience,
        audience_days=audience_days,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _broadcast_validate(broadcast)
    broadcast.save()
    return broadcast


@transaction.atomic
def broadcast_update(*, broadcast, data: dict):
    """Edit a draft (text, button, audience); a started broadcast is never edited."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status != BroadcastStatus.DRAFT:
        raise ApplicationError("Only a draft broadcast can be edited.")
    editable = {"text", "button_text", "button_url", "audience", "audience_days"}
    for name, value in data.items():
        if name in editable:
            setattr(locked, name, value.strip() if isinstance(value, str) else value)
    _broadcast_validate(locked)
    locked, _changed = model_update(
        instance=locked, data={name: getattr(locked, name) for name in editable}
    )
    return locked


@transaction.atomic
def broadcast_start(*, broadcast, actor, now: datetime | None = None):
    """Start sending a draft: it is queued, and a task writes the outbox rows after commit.

    Audited with the operator and the recipient count at this moment.
    """
    now = now or timezone.now()
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status != BroadcastStatus.DRAFT:
        raise ApplicationError(
            f"Broadcast #{locked.pk} was already started ({locked.get_status_display()}).",
            {"broadcast_id": locked.pk, "status": locked.status},
        )
    _broadcast_validate(locked)
    count = broadcast_audience_count(audience=locked.audience, days=locked.audience_days, now=now)
    if count == 0:
        raise ApplicationError("Nobody is in this audience right now.")
    locked.status = BroadcastStatus.QUEUED
    locked.started_at = now
    locked.recipients_total = count
    if locked.created_by_id is None and getattr(actor, "pk", None):
        locked.created_by = actor
    locked.save(
        update_fields=["status", "started_at", "recipients_total", "created_by", "updated_at"]
    )
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=locked,
        acting_user=actor,
        message=f"broadcast #{locked.pk} started to {count} recipient(s)",
        extra_data={
            "action": "broadcast_start",
            "audience": locked.audience,
            "audience_days": locked.audience_days,
            "recipients": count,
        },
    )
    broadcast_id = locked.pk
    transaction.on_commit(lambda: broadcast_enqueue_task.delay(broadcast_id))
    return locked


def _broadcast_markup(broadcast) -> dict | None:
    if not broadcast.button_text:
        return None
    return {"inline_keyboard": [[{"text": broadcast.button_text, "url": broadcast.button_url}]]}


def broadcast_enqueue(
    *, broadcast_id: int, batch_size: int = BROADCAST_BATCH_SIZE, now: datetime | None = None
) -> int:
    """Write one outbox row per recipient, in batches; each batch's sends go out on commit.

    Safe to run again (a lost or retried task): the dedupe key `broadcast:<id>:<customer>`
    makes a second row for the same customer impossible, so nobody gets it twice. The
    audience is evaluated as the rows are written. Returns how many rows this run wrote.
    """
    now = now or timezone.now()
    claimed = Broadcast.objects.filter(
        pk=broadcast_id, status__in=[BroadcastStatus.QUEUED, BroadcastStatus.SENDING]
    ).update(status=BroadcastStatus.SENDING, updated_at=now)
    if not claimed:
        return 0
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    recipients = broadcast_recipients(
        audience=broadcast.audience, days=broadcast.audience_days, now=broadcast.started_at or now
    )
    markup = _broadcast_markup(broadcast)
    before = OutboxMessage.objects.filter(broadcast_id=broadcast.pk).count()
    last_pk = 0
    while True:
        batch = list(
            recipients.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "telegram_id")[:batch_size]
        )
        if not batch:
            break
        last_pk = batch[-1][0]
        with transaction.atomic():
            OutboxMessage.objects.bulk_create(
                [
                    OutboxMessage(
                        audience=OutboxAudience.CUSTOMER,
                        customer_id=customer_id,
                        chat_id=telegram_id,
                        text=broadcast.text[:TELEGRAM_TEXT_LIMIT],
                        parse_mode="",
                        reply_markup=markup,
                        kind=BROADCAST_KIND,
                        dedupe_key=f"broadcast:{broadcast.pk}:{customer_id}",
                        broadcast=broadcast,
                        next_attempt_at=now,
                    )
                    for customer_id, telegram_id in batch
                ],
                ignore_conflicts=True,
            )
            # Pending rows of this batch (new ones, or left by a run that died): send them.
            due = list(
                OutboxMessage.objects.filter(
                    broadcast=broadcast,
                    customer_id__in=[customer_id for customer_id, _ in batch],
                    status=OutboxStatus.PENDING,
                ).values_list("pk", flat=True)
            )
            transaction.on_commit(lambda due=due: [outbox_send_task.delay(pk) for pk in due])
    total = OutboxMessage.objects.filter(broadcast_id=broadcast.pk).count()
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients_total=total, updated_at=now)
    broadcast_progress_refresh(broadcast_id=broadcast.pk)
    return total - before


def broadcast_progress(*, broadcast_id: int) -> dict[str, int]:
    """Delivery counts of a broadcast from its outbox rows, in one grouped query."""
    counts = dict.fromkeys(OutboxStatus.values, 0)
    rows = (
        OutboxMessage.objects.filter(broadcast_id=broadcast_id)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[status] for status in OutboxStatus.values)
    counts["in_flight"] = counts[OutboxStatus.PENDING] + counts[OutboxStatus.SENDING]
    return counts


def broadcast_progress_refresh(*, broadcast_id: int, now: datetime | None = None) -> dict:
    """Store the counters of a sending broadcast; it is done when no row is in flight."""
    now = now or timezone.now()
    counts = broadcast_progress(broadcast_id=broadcast_id)
    fields = {
        "sent_count": counts[OutboxStatus.SENT],
        "failed_count": counts[OutboxStatus.FAILED],
        "blocked_count": counts[OutboxStatus.BLOCKED] + counts[OutboxStatus.SKIPPED],
        "updated_at": now,
    }
    started = Broadcast.objects.filter(pk=broadcast_id).exclude(status=BroadcastStatus.DRAFT)
    started.update(**fields)
    done = counts["in_flight"] == 0
    if done:
        started.filter(status=BroadcastStatus.SENDING).update(
            status=BroadcastStatus.DONE, finished_at=now
        )
    counts["done"] = done
    return counts


def broadcast_enqueue_failed(*, broadcast_id: int, error: str) -> None:
    """The enqueue task gave up: the broadcast is marked failed (rows written so far stay)."""
    Broadcast.objects.filter(
        pk=broadcast_id, status__in=[BroadcastStatus.QUEUED, BroadcastStatus.SENDING]
    ).update(status=BroadcastStatus.FAILED, last_error=error[:2000], updated_at=timezone.now())
