from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

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
    ALL = "all", _("Everyone")
    ACTIVE = "active", _("With a running subscription")
    EXPIRING = "expiring", _("Expiring in the next N days")
    EXPIRED = "expired", _("Expired in the last N days (and not renewed)")
    TRIAL = "trial", _("On a trial only")
    NEVER_PAID = "never_paid", _("Never paid")
    TARIFF = "tariff", _("With a running subscription on a tariff")
    NODE = "node", _("With a running key on a node")


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Done")
    STOPPED = "stopped", _("Stopped")
    FAILED = "failed", _("Failed")


class BroadcastButton(models.TextChoices):
    """Bot screens a broadcast's button may open (``notifications.callbacks``)."""

    NONE = "", _("No bot button")
    BUY = "buy", _("Buy")
    RENEW = "renew", _("Renew")
    SUBSCRIPTIONS = "subs", _("My subscriptions")


class BroadcastLanguage(models.TextChoices):
    ANY = "", _("Any language")
    RU = "ru", _("Russian")
    EN = "en", _("English")


# What Telegram's sendPhoto takes (https://core.telegram.org/bots/api#sendphoto): at most
# 10 MB, width + height at most 10000, a side at most 20 times the other.
BROADCAST_PHOTO_MAX_BYTES = 10 * 1024 * 1024
BROADCAST_PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
BROADCAST_PHOTO_MAX_DIMENSIONS = 10000
BROADCAST_PHOTO_MAX_RATIO = 20


def broadcast_photo_validate(photo) -> None:
    """Refuse a photo Telegram's sendPhoto would refuse, or one we do not send (not JPEG,
    PNG or WebP). Reads the image header with Pillow; the extension alone proves nothing."""

    if photo.size > BROADCAST_PHOTO_MAX_BYTES:
        raise ValidationError(
            _("The photo is %(size).1f MB; Telegram takes at most 10 MB."),
            code="photo_too_big",
            params={"size": photo.size / 1024 / 1024},
        )
    position = photo.tell() if hasattr(photo, "tell") else None
    try:
        photo.seek(0)
        with Image.open(photo) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValidationError(
            _("The file is not an image (JPEG, PNG or WebP)."), code="photo_not_image"
        ) from exc
    finally:
        if position is not None:
            photo.seek(position)
    if kind not in BROADCAST_PHOTO_FORMATS:
        raise ValidationError(
            _("The photo is %(kind)s; send a JPEG, PNG or WebP."),
            code="photo_format",
            params={"kind": kind},
        )
    if width + height > BROADCAST_PHOTO_MAX_DIMENSIONS or max(
        width, height
    ) > BROADCAST_PHOTO_MAX_RATIO * min(width, height):
        raise ValidationError(
            _(
                "The photo is %(width)sx%(height)s; Telegram takes width + height up to "
                "10000 and a side at most 20 times the other."
            ),
            code="photo_dimensions",
            params={"width": width, "height": height},
        )


class Broadcast(BaseModel):
    """A message to many customers, delivered through the outbox (one row per recipient).

    Each recipient gets the text in their language (the other one when theirs is empty),
    the photo (uploaded once, then sent by its Telegram ``file_id``) and the buttons.
    Banned customers and those who blocked the bot are never recipients. The counters are
    recounted from the broadcast's outbox rows while it is delivered.
    """

    text_ru = models.TextField(
        _("text (Russian)"),
        blank=True,
        default="",
        help_text=_(
            # Escaped: forms show a help text as HTML (Django's help_text docs).
            "Telegram HTML: &lt;b&gt;, &lt;i&gt;, &lt;u&gt;, &lt;s&gt;, &lt;a href&gt;, "
            "&lt;code&gt;, &lt;pre&gt;, &lt;blockquote&gt;, &lt;tg-spoiler&gt;. Customers "
            "whose language is Russian get it; English ones too when the English text is empty."
        ),
    )
    text_en = models.TextField(
        _("text (English)"),
        blank=True,
        default="",
        help_text=_(
            "Customers whose language is English get it; Russian ones too when the Russian "
            "text is empty."
        ),
    )
    photo = models.ImageField(
        _("photo"),
        upload_to="broadcasts/%Y/%m/",
        blank=True,
        validators=[broadcast_photo_validate],
        help_text=_(
            "Optional: JPEG, PNG or WebP up to 10 MB. With a photo the text is its caption: "
            "at most 1024 characters (4096 without)."
        ),
    )
    # Telegram's id of the photo once uploaded: every later recipient gets it by this id.
    photo_file_id = models.CharField(
        _("Telegram file id of the photo"), max_length=200, blank=True, default="", editable=False
    )
    button_screen = models.CharField(
        _("bot button"),
        max_length=8,
        choices=BroadcastButton.choices,
        blank=True,
        default=BroadcastButton.NONE,
        help_text=_(
            "A button that opens a screen of the bot, labelled in the customer's language."
        ),
    )
    button_text = models.CharField(_("link button text"), max_length=64, blank=True, default="")
    button_url = models.URLField(_("link button URL"), max_length=500, blank=True, default="")
    audience = models.CharField(
        _("audience"),
        max_length=12,
        choices=BroadcastAudience.choices,
        default=BroadcastAudience.ALL,
    )
    audience_days = models.PositiveIntegerField(
        _("N days"),
        default=30,
        validators=[MinValueValidator(1)],
        help_text=_("For “expiring in the next N days” and “expired in the last N days”."),
    )
    # Ids, not foreign keys: tariffs and nodes live in apps above this one (the console
    # checks them; docs/architecture.md).
    audience_tariff_id = models.PositiveIntegerField(
        _("tariff"), null=True, blank=True, help_text=_("For “on a tariff”.")
    )
    audience_node_id = models.PositiveIntegerField(
        _("node"), null=True, blank=True, help_text=_("For “on a node”.")
    )
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=BroadcastLanguage.choices,
        blank=True,
        default=BroadcastLanguage.ANY,
        help_text=_("Only customers with this language (any audience)."),
    )
    send_at = models.DateTimeField(
        _("send at"),
        null=True,
        blank=True,
        help_text=_("When a scheduled broadcast starts (never before)."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=BroadcastStatus.choices,
        default=BroadcastStatus.DRAFT,
        db_index=True,
    )
    recipients_total = models.PositiveIntegerField(_("recipients"), default=0)
    sent_count = models.PositiveIntegerField(_("sent"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    blocked_count = models.PositiveIntegerField(_("blocked"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        db_table = "telegram_bot_broadcast"  # kept from the telegram_bot app, like the outbox's
        ordering = ["-created_at"]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        permissions = [("send_broadcast", _("Can send a broadcast"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(button_text="") | ~Q(button_url=""),
                name="broadcast_button_has_url",
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(send_at__isnull=False),
                name="broadcast_scheduled_has_send_at",
            ),
        ]

    def __str__(self) -> str:
        body = (self.text_ru or self.text_en).strip()
        first_line = body.splitlines()[0] if body else ""
        return f"#{self.pk} {first_line[:50]}"

    def text_for(self, language: str) -> str:
        """The text a customer with `language` gets: theirs, else the other one."""
        if language == "en":
            return self.text_en.strip() or self.text_ru.strip()
        return self.text_ru.strip() or self.text_en.strip()
