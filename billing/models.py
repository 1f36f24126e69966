from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.models import BaseModel


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


class PaymentPurpose(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    TOP_UP = "top_up", "Balance top-up"


class Payment(BaseModel):
    """One purchase attempt. Its integer id is Robokassa's InvId and FreeKassa's order id.

    A ``top_up`` payment buys no tariff: crediting it adds its amount to the customer's
    balance (``billing.services.balance``); a payment with ``provider="balance"`` is a
    tariff paid from that balance."""

    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="payments"
    )
    # The customer's own numbering (1, 2, 3 … per customer, by creation): how messages to the
    # customer name the payment ("Payment 3"); the id stays the providers' and operators' one.
    number = models.PositiveIntegerField(editable=False)
    purpose = models.CharField(
        max_length=12, choices=PaymentPurpose.choices, default=PaymentPurpose.SUBSCRIPTION
    )
    # Empty exactly for a top-up (the constraint ``payment_purpose_tariff``).
    tariff = models.ForeignKey(
        "subscriptions.Tariff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    # The subscription a renewal extends; empty for a new purchase until it is credited.
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    provider = models.CharField(max_length=32, db_index=True)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="RUB")
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, db_index=True
    )
    description = models.CharField(max_length=255, blank=True, default="")
    # The provider's id of this payment: set when crediting (Robokassa, FreeKassa), or when
    # the payment is created through the provider's API (YooKassa's payment id). Unique per
    # provider (``payment_unique_provider_ref``).
    provider_ref = models.CharField(max_length=128, blank=True, default="")
    # Where the buyer pays, when the provider's API made it (YooKassa's confirmation_url):
    # shown again while the payment is pending. Empty for the signed-link providers.
    checkout_url = models.URLField(max_length=500, blank=True, default="")
    # The days this payment added to its subscription, so a refund takes back exactly those.
    days_credited = models.PositiveIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # The bot message that shows this checkout ("💳 Pay 499 ₽"): edited to "paid" once the
    # payment is credited (``billing.services.checkout``). Empty for payments made elsewhere.
    checkout_chat_id = models.BigIntegerField(null=True, blank=True)
    checkout_message_id = models.BigIntegerField(null=True, blank=True)
    # A new subscription's country (``Subscription.country``), chosen at checkout; "" = any.
    country = models.CharField(max_length=2, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A checkout is one pending payment per customer, tariff, renewed subscription
            # (or a new one) and provider: a second press reuses it (``checkout_payment_get``).
            models.UniqueConstraint(
                fields=["customer", "tariff", "subscription", "provider"],
                condition=Q(status="pending", subscription__isnull=False),
                name="payment_one_pending_renewal_checkout",
            ),
            models.UniqueConstraint(
                fields=["customer", "tariff", "provider"],
                condition=Q(status="pending", subscription__isnull=True),
                name="payment_one_pending_new_checkout",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_non_negative"),
            models.UniqueConstraint(
                fields=["customer", "number"], name="payment_number_per_customer"
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_ref"],
                condition=~Q(provider_ref=""),
                name="payment_unique_provider_ref",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(paid_at__isnull=False),
                name="payment_paid_has_paid_at",
            ),
            models.CheckConstraint(
                condition=(
                    Q(purpose=PaymentPurpose.SUBSCRIPTION, tariff__isnull=False)
                    | Q(
                        purpose=PaymentPurpose.TOP_UP,
                        tariff__isnull=True,
                        subscription__isnull=True,
                    )
                ),
                name="payment_purpose_tariff",
            ),
        ]
        # The pending-expiry sweep (payments_expire_pending) filters on exactly this pair.
        indexes = [models.Index(fields=["status", "expires_at"], name="payment_status_expires")]

    def __str__(self) -> str:
        return f"Payment #{self.pk} {self.amount} {self.currency} {self.status}"


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    DUPLICATE = "duplicate", "Duplicate"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


class WebhookEvent(BaseModel):
    """Every notification a provider sent us: stored raw as it arrives (RECEIVED), then given
    the outcome of its processing (one row per delivery: see ``billing.services``)."""

    provider = models.CharField(max_length=32, db_index=True)
    # The provider's identity of the notification (our payment id); empty if unparseable.
    event_key = models.CharField(max_length=128, blank=True, default="", db_index=True)
    method = models.CharField(max_length=8, default="POST")
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    query_string = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")
    body_truncated = models.BooleanField(default=False)
    # The body was not storable verbatim (not UTF-8, or NUL bytes): ``body`` holds an escaped
    # rendering for humans, so the stored request can no longer be re-verified.
    body_escaped = models.BooleanField(default=False)
    verified = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10,
        choices=WebhookEventStatus.choices,
        default=WebhookEventStatus.RECEIVED,
        db_index=True,
    )
    outcome = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    # A FAILED event an operator settled by hand (``webhook_event_dismiss``): off the
    # dashboard, and pruned after WEBHOOK_RETENTION_DAYS. A new failure clears it.
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one delivery of a provider event is ever the one that credited it.
            models.UniqueConstraint(
                fields=["provider", "event_key"],
                condition=Q(status="processed"),
                name="webhookevent_unique_processed_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_key or '?'} {self.status}"


class BalanceEntryKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    PURCHASE = "purchase", "Purchase"
    AUTO_RENEW = "auto_renew", "Auto-renewal"
    ADJUSTMENT = "adjustment", "Adjustment by an operator"
    REFUND = "refund", "Refund"
    REFERRAL = "referral", "Referral reward"


class BalanceEntry(BaseModel):
    """One change of a customer's balance, in roubles; the ledger is append-only.

    ``source_key`` names what caused it ("payment:17", "purchase:18",
    "autorenew:5:2026-01-01T00:00:00+00:00", "adjust:<uuid>") and is unique in the database,
    so a repeated notification, task run or form post can never add an entry twice.
    ``balance_after`` is the customer's balance once this entry is applied; the CHECKs here
    and on ``Customer.balance`` keep it from ever going below zero.
    """

    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="balance_entries"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    balance_after = models.DecimalField(max_digits=12, decimal_places=2)
    kind = models.CharField(max_length=12, choices=BalanceEntryKind.choices, db_index=True)
    source_key = models.CharField(max_length=128, unique=True)
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
    )
    # An operator's adjustment: who, and why.
    operator = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_adjustments",
    )
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "balance entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="balanceentry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="balanceentry_balance_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="balanceentry_customer")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+} RUB ({self.source_key})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Balance entries are append-only: add a new entry instead.")
        super().save(*args, **kwargs)


class ReferralReward(BaseModel):
    """The inviter's reward for one payment of the customer they invited: at most one per
    payment (the unique ``payment``), so a repeated notification can never reward twice.

    ``amount`` went to the inviter's balance (the ledger entry ``referral:<payment id>``),
    ``days`` onto ``subscription``. A refund of the payment takes them back once
    (``revoked_at``): ``amount_revoked`` is what the balance still held (it never goes
    below zero), ``days_revoked`` the days taken off (billing.services.referral).
    """

    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="referral_reward"
    )
    inviter = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="referral_rewards"
    )
    invitee = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="referral_rewards_caused"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    days = models.PositiveIntegerField(default=0)
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referral_rewards",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    amount_revoked = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    days_revoked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(amount_revoked__gte=0)
                & Q(amount_revoked__lte=F("amount")),
                name="referralreward_amounts_valid",
            ),
            models.CheckConstraint(
                condition=~Q(inviter=F("invitee")), name="referralreward_not_self"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"referral reward for payment #{self.payment_id}: {self.amount} RUB, {self.days} days"
        )
