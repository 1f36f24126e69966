from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.models import BaseModel


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    BLOCKED = "blocked", _("Blocked by user")
    SKIPPED = "skipped", _("Skipped")


class OutboxAudience(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    ADMIN = "admin", _("Admin")


class OutboxMessage(BaseModel):
    """A Telegram message to deliver. Written in the caller's transaction; sent by Celery."""

    audience = models.CharField(
        max_length=10,
        choices=OutboxAudience.choices,
        default=OutboxAudience.CUSTOMER,
        verbose_name=_("audience"),
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbox_messages",
        verbose_name=_("customer"),
    )
    chat_id = models.BigIntegerField(db_index=True, verbose_name=_("chat id"))
    text = models.TextField(max_length=4096, verbose_name=_("text"))
    parse_mode = models.CharField(
        max_length=16, blank=True, default="HTML", verbose_name=_("parse mode")
    )
    reply_markup = models.JSONField(null=True, blank=True, verbose_name=_("reply markup"))
    # When set, a QR code of this string is sent as a photo with `text` as its caption.
    qr_payload = models.TextField(blank=True, default="", verbose_name=_("QR payload"))
    # Makes a notification happen once (e.g. "reminder:3d:sub42:2026-12-01").
    dedupe_key = models.CharField(  # noqa: DJ001 - NULL = no dedupe
        max_length=200, null=True, blank=True, verbose_name=_("dedupe key")
    )
    kind = models.CharField(
        max_length=40, blank=True, default="", db_index=True, verbose_name=_("kind")
    )
    # The broadcast this message belongs to: its progress is counted from these rows.
    broadcast = models.ForeignKey(
        "notifications.Broadcast",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="outbox_messages",
        verbose_name=_("broadcast"),
    )

    status = models.CharField(
        max_length=10,
        choices=OutboxStatus.choices,
        default=OutboxStatus.PENDING,
        db_index=True,
        verbose_name=_("status"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("next attempt at")
    )
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    # The Telegram message this row is: set when it is sent. Set before it is sent, the row
    # edits that message of the chat (its text, and its keyboard: none removes it) instead
    # of sending a new one (``customer_message(edit_message_id=...)``).
    telegram_message_id = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("Telegram message id")
    )

    class Meta:
        # The table was created by the telegram_bot app and kept its name when the model moved.
        verbose_name_plural = _("outbox messages")
        db_table = "telegram_bot_outboxmessage"
        ordering = ["-created_at"]
        verbose_name = _("outbox message")
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="outbox_unique_dedupe_key"),
            models.CheckConstraint(
                condition=~Q(audience="customer") | Q(customer__isnull=False),
                name="outbox_customer_message_has_customer",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        kind = self.kind or gettext("message")
        return f"{self.get_audience_display()}:{self.chat_id} {kind} {self.get_status_display()}"


class BroadcastAudience(models.TextChoices):
    ALL = "all", "Everyone"
    ACTIVE = "active", "With an active subscription"
    EXPIRED = "expired", "Expired in the last N days (and not renewed)"
    NEVER_PAID = "never_paid", "Never paid"


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Broadcast(BaseModel):
    """A message to many customers, delivered through the outbox (one row per recipient).

    Banned customers and those who blocked the bot are never recipients. The counters are
    recounted from the broadcast's outbox rows while it is delivered.
    """

    text = models.TextField(max_length=4096)
    button_text = models.CharField(max_length=64, blank=True, default="")
    button_url = models.URLField(max_length=500, blank=True, default="")
    audience = models.CharField(
        max_length=12, choices=BroadcastAudience.choices, default=BroadcastAudience.ALL
    )
    audience_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="For “expired in the last N days”: N.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=10,
        choices=BroadcastStatus.choices,
        default=BroadcastStatus.DRAFT,
        db_index=True,
    )
    recipients_total = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    blocked_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "telegram_bot_broadcast"  # kept from the telegram_bot app, like the outbox's
        ordering = ["-created_at"]
        permissions = [("send_broadcast", "Can send a broadcast")]
        constraints = [
            models.CheckConstraint(
                condition=Q(button_text="") | ~Q(button_url=""),
                name="broadcast_button_has_url",
            ),
        ]

    def __str__(self) -> str:
        first_line = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return f"#{self.pk} {first_line[:50]}"
