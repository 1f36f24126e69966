import secrets
import uuid
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import BaseModel

GIB = 1024**3


class TrafficReset(models.TextChoices):
    """How often a subscription's used traffic goes back to zero
    (``subscriptions/traffic_periods.py``)."""

    NEVER = "never", _("Never")
    DAY = "day", _("Every day")
    WEEK = "week", _("Every week")
    MONTH = "month", _("Every month")


class Tariff(BaseModel):
    name = models.CharField(max_length=100, verbose_name=_("name"))
    name_en = models.CharField(
        max_length=100, blank=True, default="", verbose_name=_("name in English")
    )
    duration_days = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], verbose_name=_("duration (days)")
    )
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        verbose_name=_("price"),
    )
    currency = models.CharField(max_length=3, default="RUB", verbose_name=_("currency"))
    # The price in Telegram Stars (currency XTR, whole stars: https://core.telegram.org/bots/payments-stars);
    # empty: not sold for Stars (billing's "stars" provider is not offered for this tariff).
    price_stars = models.PositiveIntegerField(
        _("price in Telegram Stars"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Whole stars (⭐). Empty = this tariff is not sold for Telegram Stars"),
    )
    device_limit = models.PositiveIntegerField(
        default=0,
        help_text=_("3x-ui limitIp; 0 = no limit"),
        verbose_name=_("device limit (3x-ui limitIp)"),
    )
    hwid_device_limit = models.PositiveIntegerField(
        _("device limit (hardware id)"),
        default=0,
        help_text=_(
            "Devices by the hardware id apps send (X-HWID); a new one over the limit gets "
            "a notice instead of the servers. 0 = no limit"
        ),
    )
    traffic_limit_gb = models.PositiveIntegerField(
        default=0, help_text=_("0 = unlimited"), verbose_name=_("traffic limit (GB)")
    )
    traffic_reset = models.CharField(
        max_length=5,
        choices=TrafficReset.choices,
        default=TrafficReset.NEVER,
        help_text=(
            _(
                "Used traffic goes back to zero every day, week or month, counted from the "
                "subscription's start in the service's time zone (a month started on the 31st "
                "resets on the last day of shorter months)."
            )
        ),
        verbose_name=_("traffic reset"),
    )
    node_count = models.PositiveSmallIntegerField(
        default=1,
        help_text=_("Nodes a subscription is placed on: 1 = one picked, 0 = every eligible"),
        verbose_name=_("node count"),
    )
    eligible_nodes = models.ManyToManyField(
        "nodes.Node",
        blank=True,
        related_name="tariffs",
        help_text=_("Empty = every node"),
        verbose_name=_("eligible nodes"),
    )
    is_trial = models.BooleanField(default=False, verbose_name=_("trial"))
    is_active = models.BooleanField(default=True, db_index=True, verbose_name=_("active"))
    sort_order = models.PositiveIntegerField(default=0, verbose_name=_("sort order"))

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["sort_order", "price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="tariff_price_non_negative"),
            models.CheckConstraint(
                condition=Q(duration_days__gt=0), name="tariff_duration_positive"
            ),
            models.CheckConstraint(
                condition=Q(price_stars__isnull=True) | Q(price_stars__gt=0),
                name="tariff_price_stars_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def traffic_limit_bytes(self) -> int:
        return self.traffic_limit_gb * GIB


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    SUSPENDED = "suspended", _("Suspended")


def sub_id_new() -> str:
    # 3x-ui subIds are short lowercase alphanumerics.
    return secrets.token_hex(8)


def feed_token_new() -> str:
    return secrets.token_urlsafe(24)


class SubscriptionQuerySet(models.QuerySet):
    @staticmethod
    def running_q(now=None, *, prefix: str = "") -> Q:
        """The rule "running": active and not past its end (the customer paid for now).

        The one definition: ``running()`` filters by it, ``Subscription.is_running`` asks it
        of one row, and a ``Count(filter=...)`` or a query across a relation (``prefix``,
        e.g. ``"subscriptions__"``) uses this ``Q``.
        """
        now = now or timezone.now()
        return Q(**{f"{prefix}status": SubscriptionStatus.ACTIVE, f"{prefix}expires_at__gt": now})

    def running(self, now=None) -> "SubscriptionQuerySet":
        """Subscriptions running at `now` (``running_q``)."""
        return self.filter(self.running_q(now))


class Subscription(BaseModel):
    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="subscriptions",
        verbose_name=_("customer"),
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("tariff")
    )
    # The customer's own numbering (1, 2, 3 … per customer, by creation): how every message
    # names the subscription ("Subscription 2 · 3 months"); see services.lifecycle.
    number = models.PositiveIntegerField(editable=False, verbose_name=_("number (per customer)"))
    status = models.CharField(
        max_length=10,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
        db_index=True,
        verbose_name=_("status"),
    )
    started_at = models.DateTimeField(verbose_name=_("started at"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))
    # Shared by every key of this subscription, persisted before any panel call (idempotency).
    client_uuid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("client UUID")
    )
    sub_id = models.CharField(
        max_length=32, default=sub_id_new, unique=True, editable=False, verbose_name=_("sub id")
    )
    feed_token = models.CharField(
        max_length=64,
        default=feed_token_new,
        unique=True,
        editable=False,
        verbose_name=_("feed token"),
    )
    # Limits snapshotted from the tariff at purchase, so editing a tariff never changes
    # what a customer already bought.
    device_limit = models.PositiveIntegerField(
        default=0, verbose_name=_("device limit (3x-ui limitIp)")
    )
    hwid_device_limit = models.PositiveIntegerField(_("device limit (hardware id)"), default=0)
    traffic_limit_bytes = models.PositiveBigIntegerField(
        default=0, verbose_name=_("traffic limit (bytes)")
    )
    node_count = models.PositiveSmallIntegerField(default=1, verbose_name=_("node count"))
    traffic_used_bytes = models.PositiveBigIntegerField(
        default=0, verbose_name=_("traffic used (bytes)")
    )
    # Snapshotted from the tariff like the limits; the next reset is due at
    # traffic_reset_next_at (None exactly when it never resets), the last one happened at
    # traffic_reset_last_at (services/traffic_resets.py).
    traffic_reset = models.CharField(
        max_length=5,
        choices=TrafficReset.choices,
        default=TrafficReset.NEVER,
        verbose_name=_("traffic reset"),
    )
    traffic_reset_next_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("next traffic reset at")
    )
    traffic_reset_last_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last traffic reset at")
    )
    is_trial = models.BooleanField(default=False, verbose_name=_("trial"))
    # Which reminders were already queued for the current expires_at ("3d", "1d").
    reminders_sent = models.JSONField(default=list, blank=True, verbose_name=_("reminders sent"))
    # When the customer was sent their keys (the first time a key was synced).
    keys_notified_at = models.DateTimeField(null=True, blank=True, verbose_name=_("keys sent at"))
    # The country (ISO 3166 code, as ``Node.country``) the subscriber chose for the keys;
    # empty: any. Placement prefers its nodes (``services.placement``); changing it moves
    # the keys (``services.countries``).
    country = models.CharField(max_length=2, blank=True, default="", verbose_name=_("country"))
    # The customer's switch: renew from the balance shortly before expiry
    # (``billing.services.autorenew``); off takes effect at once (read under the row lock).
    auto_renew = models.BooleanField(default=False, verbose_name=_("auto-renew"))

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at"]
        permissions = [
            ("extend_subscription", "Can extend subscriptions"),
            ("export_subscription", "Can export subscriptions as CSV"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "number"], name="subscription_number_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gte=models.F("started_at")),
                name="subscription_expires_after_start",
            ),
            models.CheckConstraint(
                condition=(
                    Q(traffic_reset=TrafficReset.NEVER, traffic_reset_next_at__isnull=True)
                    | (
                        ~Q(traffic_reset=TrafficReset.NEVER)
                        & Q(traffic_reset_next_at__isnull=False)
                    )
                ),
                name="subscription_traffic_reset_scheduled",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer} {self.tariff}"

    def is_running(self, now=None) -> bool:
        """``SubscriptionQuerySet.running_q`` asked of this row."""
        now = now or timezone.now()
        return self.status == SubscriptionStatus.ACTIVE and self.expires_at > now

    def traffic_limit_reached(self, used: int | None = None) -> bool:
        """Whether `used` bytes (default: ``traffic_used_bytes``) reach a set traffic limit."""
        used = self.traffic_used_bytes if used is None else used
        return bool(self.traffic_limit_bytes) and used >= self.traffic_limit_bytes


class Device(BaseModel):
    """A device that fetched a subscription with a hardware id (``X-HWID``): one row per
    (subscription, hwid). ``created_at`` is when it was first seen.

    The feed records it (``subscriptions.services.devices``); the subscriber removes one in
    the bot, an operator resets them all in the console. What the apps send and how panels
    use it: docs/x3ui.md "Devices by hardware id".
    """

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.CASCADE,
        related_name="devices",
        verbose_name=_("subscription"),
    )
    hwid = models.CharField(_("hardware id"), max_length=64)
    os = models.CharField(_("OS"), max_length=64, blank=True, default="")
    os_version = models.CharField(_("OS version"), max_length=64, blank=True, default="")
    model = models.CharField(max_length=128, blank=True, default="", verbose_name=_("model"))
    user_agent = models.CharField(
        max_length=256, blank=True, default="", verbose_name=_("User-Agent")
    )
    last_seen_at = models.DateTimeField(verbose_name=_("last seen at"))

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "hwid"], name="device_one_row_per_subscription_hwid"
            ),
            models.CheckConstraint(condition=~Q(hwid=""), name="device_hwid_not_empty"),
        ]

    def __str__(self) -> str:
        return self.model or self.os or self.hwid
