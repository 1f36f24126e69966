"""Broadcasts: an operator's message to an audience of customers (docs/console.md).

The console owns them because choosing an audience reads subscriptions, payments and nodes;
each recipient's message is an ordinary outbox row (notifications), written once per customer
whatever happens to the task that writes them.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Customer, Language
from billing.models import Payment, PaymentStatus
from console.tasks import broadcast_enqueue_task
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write, model_update
from nodes.models import Node, NodeClient, SyncState
from notifications import texts
from notifications.callbacks import BUY, BUY_RENEW, SUBSCRIPTIONS, callback_data
from notifications.models import (
    Broadcast,
    BroadcastAudience,
    BroadcastButton,
    BroadcastStatus,
    OutboxAudience,
    OutboxMessage,
    OutboxStatus,
)
from notifications.services import (
    BROADCAST_KIND,
    BROADCAST_TEST_KIND,
    TELEGRAM_CAPTION_LIMIT,
    TELEGRAM_TEXT_LIMIT,
    outbox_queue,
)
from notifications.tasks import outbox_send_task
from notifications.telegram_html import telegram_html_error, telegram_html_length
from subscriptions.models import Subscription, SubscriptionStatus, Tariff

BROADCAST_BATCH_SIZE = 500
# Seconds between two recounts of a broadcast's progress while it is delivered.
BROADCAST_PROGRESS_EVERY = 30
BROADCAST_PROGRESS_MAX_CHECKS = 24 * 60 * 2
# Why a stopped broadcast's pending rows never went (their `last_error`).
BROADCAST_STOPPED_ERROR = "broadcast stopped"
# The fields an operator composes; everything else is the broadcast's state.
BROADCAST_FIELDS = (
    "text_ru",
    "text_en",
    "photo",
    "button_screen",
    "button_text",
    "button_url",
    "audience",
    "audience_days",
    "audience_tariff_id",
    "audience_node_id",
    "language",
)


def broadcast_recipients(*, broadcast: Broadcast, now: datetime):
    """Customers a broadcast goes to: its audience, narrowed to its language if it has one;
    never the banned nor those who blocked the bot."""
    customers = Customer.objects.filter(is_banned=False, bot_blocked_at__isnull=True)
    if broadcast.language:
        customers = customers.filter(language=broadcast.language)
    audience, days = broadcast.audience, broadcast.audience_days
    running = Subscription.objects.running(now)
    if audience == BroadcastAudience.ALL:
        return customers
    if audience == BroadcastAudience.ACTIVE:
        return customers.filter(pk__in=running.values("customer_id"))
    if audience == BroadcastAudience.EXPIRING:
        ending = running.filter(expires_at__lte=now + timedelta(days=days))
        return customers.filter(pk__in=ending.values("customer_id"))
    if audience == BroadcastAudience.EXPIRED:
        recently_ended = Subscription.objects.filter(
            expires_at__gt=now - timedelta(days=days), expires_at__lte=now
        ).exclude(status=SubscriptionStatus.CANCELLED)
        return customers.filter(pk__in=recently_ended.values("customer_id")).exclude(
            pk__in=running.values("customer_id")
        )
    if audience == BroadcastAudience.TRIAL:
        return customers.filter(pk__in=running.filter(is_trial=True).values("customer_id")).exclude(
            pk__in=running.filter(is_trial=False).values("customer_id")
        )
    if audience == BroadcastAudience.NEVER_PAID:
        # A refunded payment was paid once: that customer did pay.
        ever_paid = Payment.objects.filter(
            status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED]
        ).values("customer_id")
        return customers.exclude(pk__in=ever_paid)
    if audience == BroadcastAudience.TARIFF:
        on_tariff = running.filter(tariff_id=broadcast.audience_tariff_id)
        return customers.filter(pk__in=on_tariff.values("customer_id"))
    if audience == BroadcastAudience.NODE:
        keys = NodeClient.objects.filter(
            node_id=broadcast.audience_node_id,
            subscription__in=running,
        ).exclude(sync_state__in=[SyncState.REMOVING, SyncState.REMOVED])
        return customers.filter(pk__in=keys.values("subscription__customer_id"))
    raise ApplicationError(_("Unknown audience %(audience)r.") % {"audience": audience})


def broadcast_audience_count(*, broadcast: Broadcast, now: datetime | None = None) -> int:
    """How many customers the broadcast would reach right now (one COUNT)."""
    return broadcast_recipients(broadcast=broadcast, now=now or timezone.now()).count()


def broadcast_text_limit(broadcast: Broadcast) -> int:
    """The length Telegram allows: a caption's with a photo, a message's without."""
    return TELEGRAM_CAPTION_LIMIT if broadcast.photo else TELEGRAM_TEXT_LIMIT


def broadcast_problems(broadcast: Broadcast) -> dict[str, list[str]]:
    """What is wrong with a broadcast, by field ("__all__" for the whole), in the operator's
    words; empty when it can be sent. Reads the tariff or node an audience names."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if not broadcast.text_ru.strip() and not broadcast.text_en.strip():
        add("__all__", _("Write the text in at least one language."))
    limit = broadcast_text_limit(broadcast)
    for field in ("text_ru", "text_en"):
        text = getattr(broadcast, field).strip()
        if not text:
            continue
        error = telegram_html_error(text)
        if error:
            add(field, _("Telegram cannot read this HTML: %(error)s.") % {"error": error})
        length = telegram_html_length(text)
        if length > limit:
            add(
                field,
                (
                    _(
                        "With a photo the text is a caption: at most %(limit)s characters, "
                        "this is %(length)s."
                    )
                    if broadcast.photo
                    else _("At most %(limit)s characters, this is %(length)s.")
                )
                % {"limit": limit, "length": length},
            )
    if bool(broadcast.button_text.strip()) != bool(broadcast.button_url.strip()):
        add("button_text", _("A link button needs both a text and a URL."))
    if broadcast.audience in (BroadcastAudience.EXPIRING, BroadcastAudience.EXPIRED) and (
        not broadcast.audience_days or broadcast.audience_days < 1
    ):
        add("audience_days", _("N must be at least 1."))
    if broadcast.audience == BroadcastAudience.TARIFF and not (
        broadcast.audience_tariff_id
        and Tariff.objects.filter(pk=broadcast.audience_tariff_id).exists()
    ):
        add("audience_tariff_id", _("Choose the tariff."))
    if broadcast.audience == BroadcastAudience.NODE and not (
        broadcast.audience_node_id and Node.objects.filter(pk=broadcast.audience_node_id).exists()
    ):
        add("audience_node_id", _("Choose the node."))
    return problems


def _broadcast_validate(broadcast: Broadcast) -> None:
    problems = broadcast_problems(broadcast)
    if not problems:
        try:
            broadcast.full_clean(exclude=["photo"])  # the form checked the upload already
        except ValidationError as exc:
            problems = exc.message_dict
    if problems:
        messages = [message for field_messages in problems.values() for message in field_messages]
        raise ApplicationError("; ".join(messages), {"errors": problems})


def _clean(data: dict) -> dict:
    return {
        name: (value.strip() if isinstance(value, str) else value)
        for name, value in data.items()
        if name in BROADCAST_FIELDS
    }


@transaction.atomic
def broadcast_create(*, actor, **data) -> Broadcast:
    """A draft broadcast (`data`: the fields of ``BROADCAST_FIELDS``); nothing is sent until
    it is started or scheduled. Bad input: ``ApplicationError`` and nothing saved."""
    broadcast = Broadcast(**_clean(data), created_by=actor if getattr(actor, "pk", None) else None)
    _broadcast_validate(broadcast)
    broadcast.save()
    return broadcast


@transaction.atomic
def broadcast_update(*, broadcast: Broadcast, data: dict) -> Broadcast:
    """Edit a draft; a scheduled or started broadcast is never edited."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status != BroadcastStatus.DRAFT:
        raise ApplicationError(_("Only a draft broadcast can be edited."))
    cleaned = _clean(data)
    for name, value in cleaned.items():
        setattr(locked, name, value)
    if "photo" in cleaned:
        locked.photo_file_id = ""  # another photo: upload it again
        cleaned["photo_file_id"] = ""
    _broadcast_validate(locked)
    locked, _changed = model_update(instance=locked, data=cleaned)
    return locked


def _audit(*, broadcast: Broadcast, actor, action: str, message: str, **extra) -> None:
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=broadcast,
        acting_user=actor if getattr(actor, "pk", None) else None,
        message=message,
        extra_data={"action": action, **extra},
    )


def _lock_startable(broadcast: Broadcast, *, allowed: tuple[str, ...]) -> Broadcast:
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status not in allowed:
        raise ApplicationError(
            _("Broadcast #%(id)s was already started (%(status)s).")
            % {"id": locked.pk, "status": locked.get_status_display()},
            {"broadcast_id": locked.pk, "status": locked.status},
        )
    _broadcast_validate(locked)
    return locked


def _begin(locked: Broadcast, *, now: datetime, actor) -> int:
    """Mark a locked broadcast sending and queue its enqueue task after commit."""
    count = broadcast_audience_count(broadcast=locked, now=now)
    if count == 0:
        raise ApplicationError(_("Nobody is in this audience right now."))
    locked.status = BroadcastStatus.SENDING
    locked.started_at = now
    locked.recipients_total = count
    if locked.created_by_id is None and getattr(actor, "pk", None):
        locked.created_by = actor
    locked.save(
        update_fields=["status", "started_at", "recipients_total", "created_by", "updated_at"]
    )
    broadcast_id = locked.pk
    transaction.on_commit(lambda: broadcast_enqueue_task.delay(broadcast_id))
    return count


@transaction.atomic
def broadcast_start(*, broadcast: Broadcast, actor, now: datetime | None = None) -> Broadcast:
    """Send a draft (or a scheduled broadcast) now: the rows are written by a task after
    commit. Audited with the operator and the recipient count at this moment."""
    now = now or timezone.now()
    locked = _lock_startable(broadcast, allowed=(BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED))
    count = _begin(locked, now=now, actor=actor)
    _audit(
        broadcast=locked,
        actor=actor,
        action="broadcast_start",
        message=f"broadcast #{locked.pk} started to {count} recipient(s)",
        audience=locked.audience,
        audience_days=locked.audience_days,
        language=locked.language,
        recipients=count,
    )
    return locked


@transaction.atomic
def broadcast_schedule(
    *, broadcast: Broadcast, actor, send_at: datetime, now: datetime | None = None
) -> Broadcast:
    """Schedule a draft for `send_at` (in the future); the beat task starts it then, never
    before (``broadcasts_start_due``)."""
    now = now or timezone.now()
    if send_at is None or timezone.is_naive(send_at):
        raise ApplicationError(_("Give the date and time to send at."))
    if send_at <= now:
        raise ApplicationError(
            _("The time to send at has passed: choose a later one, or send now.")
        )
    locked = _lock_startable(broadcast, allowed=(BroadcastStatus.DRAFT,))
    locked.status = BroadcastStatus.SCHEDULED
    locked.send_at = send_at
    locked.save(update_fields=["status", "send_at", "updated_at"])
    _audit(
        broadcast=locked,
        actor=actor,
        action="broadcast_schedule",
        message=f"broadcast #{locked.pk} scheduled for {send_at.isoformat()}",
        send_at=send_at.isoformat(),
    )
    return locked


def broadcasts_start_due(*, now: datetime | None = None) -> list[int]:
    """Beat: start every scheduled broadcast whose time has come. Each is locked and
    re-checked, so two beats (or a beat and an operator's "send now") start it once."""
    now = now or timezone.now()
    started = []
    due = Broadcast.objects.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now)
    for broadcast_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            locked = (
                Broadcast.objects.select_for_update()
                .filter(pk=broadcast_id, status=BroadcastStatus.SCHEDULED, send_at__lte=now)
                .first()
            )
            if locked is None:
                continue
            try:
                _broadcast_validate(locked)
                count = _begin(locked, now=now, actor=None)
            except ApplicationError as exc:
                Broadcast.objects.filter(pk=locked.pk).update(
                    status=BroadcastStatus.FAILED, last_error=exc.message[:2000], updated_at=now
                )
                count = 0
            _audit(
                broadcast=locked,
                actor=None,
                action="broadcast_start_scheduled",
                message=f"scheduled broadcast #{locked.pk} started to {count} recipient(s)",
                recipients=count,
            )
        if count:
            started.append(broadcast_id)
    return started


@transaction.atomic
def broadcast_stop(*, broadcast: Broadcast, actor, now: datetime | None = None) -> int:
    """Stop a scheduled or sending broadcast: its pending rows are cancelled (``skipped``,
    never sent), no more are written; those sent or being sent stay counted. Returns how
    many rows were cancelled."""
    now = now or timezone.now()
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status not in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING):
        raise ApplicationError(
            _("Broadcast #%(id)s is not scheduled or sending (%(status)s).")
            % {"id": locked.pk, "status": locked.get_status_display()}
        )
    cancelled = OutboxMessage.objects.filter(
        broadcast=locked, kind=BROADCAST_KIND, status=OutboxStatus.PENDING
    ).update(status=OutboxStatus.SKIPPED, last_error=BROADCAST_STOPPED_ERROR, updated_at=now)
    locked.status = BroadcastStatus.STOPPED
    locked.finished_at = now
    locked.save(update_fields=["status", "finished_at", "updated_at"])
    _audit(
        broadcast=locked,
        actor=actor,
        action="broadcast_stop",
        message=f"broadcast #{locked.pk} stopped, {cancelled} message(s) cancelled",
        cancelled=cancelled,
    )
    transaction.on_commit(lambda: broadcast_progress_refresh(broadcast_id=locked.pk))
    return cancelled


def broadcast_markup(broadcast: Broadcast, *, language: str) -> dict | None:
    """The inline keyboard of the message in `language`: the bot screen's button (its label
    and callback data as the bot's own keyboards have them), then the link button."""
    row = []
    screen = broadcast.button_screen
    if screen == BroadcastButton.BUY:
        row.append({"text": texts.button_buy(language=language), "callback_data": BUY})
    elif screen == BroadcastButton.RENEW:
        data = callback_data(BUY, BUY_RENEW)
        row.append({"text": texts.button_renew(language=language), "callback_data": data})
    elif screen == BroadcastButton.SUBSCRIPTIONS:
        label = texts.button_my_subscriptions(language=language)
        row.append({"text": label, "callback_data": SUBSCRIPTIONS})
    keyboard = [row] if row else []
    if broadcast.button_text:
        keyboard.append([{"text": broadcast.button_text, "url": broadcast.button_url}])
    return {"inline_keyboard": keyboard} if keyboard else None


@transaction.atomic
def broadcast_test_send(*, broadcast: Broadcast, actor) -> list[OutboxMessage]:
    """Send the broadcast to the operator alone (their Telegram id on their user), once per
    language it has a text in, through the outbox; not counted in its progress. Audited."""
    chat_id = getattr(actor, "telegram_id", None)
    if not chat_id:
        raise ApplicationError(
            _(
                "Your operator account has no Telegram id: set it on your user "
                "(Users, your user, the field “Telegram id”) and press the bot's Start first."
            )
        )
    _broadcast_validate(broadcast)
    languages = [code for code in Language.values if getattr(broadcast, f"text_{code}").strip()]
    rows = outbox_queue(
        [
            OutboxMessage(
                audience=OutboxAudience.ADMIN,
                chat_id=chat_id,
                text=broadcast.text_for(language),
                parse_mode="HTML",
                reply_markup=broadcast_markup(broadcast, language=language),
                kind=BROADCAST_TEST_KIND,
                broadcast=broadcast,
            )
            for language in languages
        ]
    )
    _audit(
        broadcast=broadcast,
        actor=actor,
        action="broadcast_test_send",
        message=f"broadcast #{broadcast.pk} test sent to the operator ({', '.join(languages)})",
        chat_id=chat_id,
        languages=languages,
    )
    return rows


def broadcast_enqueue(
    *, broadcast_id: int, batch_size: int = BROADCAST_BATCH_SIZE, now: datetime | None = None
) -> int:
    """Write one outbox row per recipient, in batches; each batch's sends go out on commit.

    Safe to run again or twice at once (a lost, retried or duplicated task): the dedupe key
    `broadcast:<id>:<customer>` makes a second row for the same customer impossible, and a
    row is sent by whoever claims it first, so nobody gets it twice. Each batch locks the
    broadcast and goes on only while it is sending: after a stop no row is written. Returns
    how many rows this run wrote.
    """
    now = now or timezone.now()
    broadcast = Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).first()
    if broadcast is None:
        return 0
    recipients = broadcast_recipients(broadcast=broadcast, now=broadcast.started_at or now)
    variants = {
        code: (broadcast.text_for(code), broadcast_markup(broadcast, language=code))
        for code in Language.values
    }
    before = OutboxMessage.objects.filter(broadcast_id=broadcast.pk, kind=BROADCAST_KIND).count()
    last_pk = 0
    while True:
        batch = list(
            recipients.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "telegram_id", "language")[:batch_size]
        )
        if not batch:
            break
        last_pk = batch[-1][0]
        with transaction.atomic():
            status = (
                Broadcast.objects.select_for_update()
                .filter(pk=broadcast_id)
                .values_list("status", flat=True)
                .first()
            )
            if status != BroadcastStatus.SENDING:
                if status != BroadcastStatus.DONE:
                    break  # stopped (or failed) meanwhile: no more rows
                # Another run of this task found nothing in flight and called it done
                # while this one still had recipients to write: sending again.
                Broadcast.objects.filter(pk=broadcast_id).update(
                    status=BroadcastStatus.SENDING, finished_at=None
                )
            OutboxMessage.objects.bulk_create(
                [
                    OutboxMessage(
                        audience=OutboxAudience.CUSTOMER,
                        customer_id=customer_id,
                        chat_id=telegram_id,
                        text=variants.get(language, variants[Language.RU])[0],
                        parse_mode="HTML",
                        reply_markup=variants.get(language, variants[Language.RU])[1],
                        kind=BROADCAST_KIND,
                        dedupe_key=f"broadcast:{broadcast.pk}:{customer_id}",
                        broadcast=broadcast,
                        next_attempt_at=now,
                    )
                    for customer_id, telegram_id, language in batch
                ],
                ignore_conflicts=True,
            )
            # Pending rows of this batch (new ones, or left by a run that died): send them.
            due = list(
                OutboxMessage.objects.filter(
                    broadcast=broadcast,
                    kind=BROADCAST_KIND,
                    customer_id__in=[customer_id for customer_id, _, _ in batch],
                    status=OutboxStatus.PENDING,
                ).values_list("pk", flat=True)
            )
            transaction.on_commit(lambda due=due: [outbox_send_task.delay(pk) for pk in due])
    total = OutboxMessage.objects.filter(broadcast_id=broadcast.pk, kind=BROADCAST_KIND).count()
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients_total=total, updated_at=now)
    broadcast_progress_refresh(broadcast_id=broadcast.pk)
    return total - before


def broadcast_progress(*, broadcast_id: int) -> dict[str, int]:
    """Delivery counts of a broadcast from its outbox rows, in one grouped query (test sends
    to the operator left out). ``skipped`` rows are those a stop cancelled."""
    counts = dict.fromkeys(OutboxStatus.values, 0)
    rows = (
        OutboxMessage.objects.filter(broadcast_id=broadcast_id, kind=BROADCAST_KIND)
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
    """Store the counters of a started broadcast; a sending one is done when no row is in
    flight."""
    now = now or timezone.now()
    counts = broadcast_progress(broadcast_id=broadcast_id)
    fields = {
        "sent_count": counts[OutboxStatus.SENT],
        "failed_count": counts[OutboxStatus.FAILED],
        "blocked_count": counts[OutboxStatus.BLOCKED],
        "updated_at": now,
    }
    started = Broadcast.objects.filter(pk=broadcast_id).exclude(
        status__in=[BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED]
    )
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
    Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).update(
        status=BroadcastStatus.FAILED, last_error=error[:2000], updated_at=timezone.now()
    )
