from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import BaseModel


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked by user"
    SKIPPED = "skipped", "Skipped"


class OutboxAudience(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    ADMIN = "admin", "Admin"


class OutboxMessage(BaseModel):
    """A Telegram message to deliver. Written in the caller's transaction; sent by Celery."""

    audience = models.CharField(
        max_length=10, choices=OutboxAudience.choices, default=OutboxAudience.CUSTOMER
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbox_messages",
    )
    chat_id = models.BigIntegerField(db_index=True)
    text = models.TextField(max_length=4096)
    parse_mode = models.CharField(max_length=16, blank=True, default="HTML")
    reply_markup = models.JSONField(null=True, blank=True)
    # When set, a QR code of this string is sent as a photo with `text` as its caption.
    qr_payload = models.TextField(blank=True, default="")
    # Makes a notification happen once (e.g. "reminder:3d:sub42:2026-12-01").
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL = no dedupe
    kind = models.CharField(max_length=40, blank=True, default="", db_index=True)

    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbox message"
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="outbox_unique_dedupe_key"),
            models.CheckConstraint(
                condition=~Q(audience="customer") | Q(customer__isnull=False),
                name="outbox_customer_message_has_customer",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.audience}:{self.chat_id} {self.kind or 'message'} {self.status}"
