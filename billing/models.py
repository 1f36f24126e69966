from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.models import BaseModel


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class PaymentPurpose(models.TextChoices):
    """What a payment buys: a subscription for the payer (a new one or a renewal), a gift
    (a ``Gift`` code for someone else: ``billing.services.gifts``), or roubles on the payer's
    balance (``billing.services.balance``)."""

    SUBSCRIPTION = "subscription", _("Subscription")
    GIFT = "gift", _("Gift")
    TOP_UP = "top_up", _("Balance top-up")


class Payment(BaseModel):
    """One purchase attempt. Its integer id is Robokassa's InvId and FreeKassa's order id.

    A ``top_up`` payment buys no tariff: crediting it adds its amount to the customer's
    balance (``billing.services.balance``); a payment with ``provider="balance"`` is a
    tariff paid from that balance."""

    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("customer"),
    )
    # The customer's own numbering (1, 2, 3 … per customer, by creation): how messages to the
    # customer name the payment ("Payment 3"); the id stays the providers' and operators' one.
    number = models.PositiveIntegerField(editable=False, verbose_name=_("number (per customer)"))
    purpose = models.CharField(
        max_length=12,
        choices=PaymentPurpose.choices,
        default=PaymentPurpose.SUBSCRIPTION,
        verbose_name=_("purpose"),
    )
    # Empty exactly for a top-up (the constraint ``payment_purpose_tariff``). A gift never
    # gets a subscription of the payer's: its credit makes a ``Gift``.
    tariff = models.ForeignKey(
        "subscriptions.Tariff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("tariff"),
    )
    # The subscription a renewal extends; empty for a new purchase until it is credited.
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("subscription"),
    )
    provider = models.CharField(max_length=32, db_index=True, verbose_name=_("provider"))
    amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        verbose_name=_("amount"),
    )
    currency = models.CharField(max_length=3, default="RUB", verbose_name=_("currency"))
    status = models.CharField(
        max_length=10,
        choices=PaymentStatus.choices,
        default=PaymentStatus.PENDING,
        db_index=True,
        verbose_name=_("status"),
    )
    description = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("description")
    )
    # The provider's id of this payment: set when crediting (Robokassa, FreeKassa), or when
    # the payment is created through the provider's API (YooKassa's payment id). Unique per
    # provider (``payment_unique_provider_ref``).
    provider_ref = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("provider reference")
    )
    # Where the buyer pays, when the provider's API made it (YooKassa's confirmation_url):
    # shown again while the payment is pending. Empty for the signed-link providers.
    checkout_url = models.URLField(
        max_length=500, blank=True, default="", verbose_name=_("checkout URL")
    )
    # The days this payment added to its subscription, so a refund takes back exactly those.
    days_credited = models.PositiveIntegerField(default=0, verbose_name=_("days credited"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded at"))
    # The bot message that shows this checkout ("💳 Pay 499 ₽"): edited to "paid" once the
    # payment is credited (``billing.services.checkout``). Empty for payments made elsewhere.
    checkout_chat_id = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("checkout chat id")
    )
    checkout_message_id = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("checkout message id")
    )
    # A new subscription's country (``Subscription.country``), chosen at checkout; "" = any.
    country = models.CharField(max_length=2, blank=True, default="", verbose_name=_("country"))
    # The promo code this payment was priced with (``billing.services.promo``) and the
    # tariff's price before it: ``amount`` is what the customer pays, fixed at checkout.
    promo = models.ForeignKey(
        "billing.PromoCode",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("promo code"),
    )
    price_before_promo = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        verbose_name=_("price before promo code"),
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        permissions = [("export_payment", "Can export payments as CSV")]
        constraints = [
            # A checkout is one pending payment per customer, tariff, renewed subscription
            # (or a new one) and provider: a second press reuses it (``checkout_payment_get``).
            models.UniqueConstraint(
                fields=["customer", "tariff", "subscription", "provider"],
                condition=Q(status="pending", subscription__isnull=False),
                name="payment_one_pending_renewal_checkout",
            ),
            # Buying a tariff for oneself and as a gift are two checkouts.
            models.UniqueConstraint(
                fields=["customer", "tariff", "provider", "purpose"],
                condition=Q(status="pending", subscription__isnull=True),
                name="payment_one_pending_new_checkout",
            ),
            models.CheckConstraint(
                condition=~Q(purpose="gift") | Q(subscription__isnull=True),
                name="payment_gift_has_no_subscription",
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
                    Q(
                        purpose__in=[PaymentPurpose.SUBSCRIPTION, PaymentPurpose.GIFT],
                        tariff__isnull=False,
                    )
                    | Q(
                        purpose=PaymentPurpose.TOP_UP,
                        tariff__isnull=True,
                        subscription__isnull=True,
                    )
                ),
                name="payment_purpose_tariff",
            ),
            models.CheckConstraint(
                condition=Q(promo__isnull=True)
                | Q(price_before_promo__isnull=False, price_before_promo__gte=F("amount")),
                name="payment_promo_has_price_before",
            ),
        ]
        # The pending-expiry sweep (checkout_settle.payments_expire_pending) filters on this pair.
        indexes = [models.Index(fields=["status", "expires_at"], name="payment_status_expires")]

    def __str__(self) -> str:
        return gettext("Payment #%(id)s %(amount)s %(currency)s %(status)s") % {
            "id": self.pk,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.get_status_display(),
        }


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    DUPLICATE = "duplicate", _("Duplicate")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed")


class WebhookEvent(BaseModel):
    """Every notification a provider sent us: stored raw as it arrives (RECEIVED), then given
    the outcome of its processing (one row per delivery: see ``billing.services``)."""

    provider = models.CharField(max_length=32, db_index=True, verbose_name=_("provider"))
    # The provider's identity of the notification (our payment id); empty if unparseable.
    event_key = models.CharField(
        max_length=128, blank=True, default="", db_index=True, verbose_name=_("event key")
    )
    method = models.CharField(max_length=8, default="POST", verbose_name=_("method"))
    remote_ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("remote IP"))
    headers = models.JSONField(default=dict, blank=True, verbose_name=_("headers"))
    query_string = models.TextField(blank=True, default="", verbose_name=_("query string"))
    body = models.TextField(blank=True, default="", verbose_name=_("body"))
    body_truncated = models.BooleanField(default=False, verbose_name=_("body truncated"))
    # The body was not storable verbatim (not UTF-8, or NUL bytes): ``body`` holds an escaped
    # rendering for humans, so the stored request can no longer be re-verified.
    body_escaped = models.BooleanField(default=False, verbose_name=_("body escaped"))
    verified = models.BooleanField(default=False, verbose_name=_("verified"))
    status = models.CharField(
        max_length=10,
        choices=WebhookEventStatus.choices,
        default=WebhookEventStatus.RECEIVED,
        db_index=True,
        verbose_name=_("status"),
    )
    outcome = models.CharField(max_length=255, blank=True, default="", verbose_name=_("outcome"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    traceback = models.TextField(blank=True, default="", verbose_name=_("traceback"))
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
        verbose_name=_("payment"),
    )
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))
    # A FAILED event an operator settled by hand (``webhook_event_dismiss``): off the
    # dashboard, and pruned after WEBHOOK_RETENTION_DAYS. A new failure clears it.
    dismissed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("dismissed at"))

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
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
        return f"{self.provider} {self.event_key or '?'} {self.get_status_display()}"


class BalanceEntryKind(models.TextChoices):
    TOP_UP = "top_up", _("Top-up")
    PURCHASE = "purchase", _("Purchase")
    AUTO_RENEW = "auto_renew", _("Auto-renewal")
    ADJUSTMENT = "adjustment", _("Adjustment by an operator")
    REFUND = "refund", _("Refund")
    REFERRAL = "referral", _("Referral reward")


class BalanceEntry(BaseModel):
    """One change of a customer's balance, in roubles; the ledger is append-only.

    ``source_key`` names what caused it ("payment:17", "purchase:18",
    "autorenew:5:2026-01-01T00:00:00+00:00", "adjust:<uuid>") and is unique in the database,
    so a repeated notification, task run or form post can never add an entry twice.
    ``balance_after`` is the customer's balance once this entry is applied; the CHECKs here
    and on ``Customer.balance`` keep it from ever going below zero.
    """

    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="balance_entries",
        verbose_name=_("customer"),
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("amount"))
    balance_after = models.DecimalField(
        max_digits=12, decimal_places=2, verbose_name=_("balance after")
    )
    kind = models.CharField(
        max_length=12, choices=BalanceEntryKind.choices, db_index=True, verbose_name=_("kind")
    )
    source_key = models.CharField(max_length=128, unique=True, verbose_name=_("source key"))
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
        verbose_name=_("payment"),
    )
    # An operator's adjustment: who, and why.
    operator = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_adjustments",
        verbose_name=_("operator"),
    )
    reason = models.CharField(max_length=255, blank=True, default="", verbose_name=_("reason"))

    class Meta:
        verbose_name = _("balance entry")
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = _("balance entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="balanceentry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="balanceentry_balance_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="balanceentry_customer")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+} RUB ({self.source_key})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Balance entries are append-only: add a new entry instead.")
        super().save(*args, **kwargs)


class GiftStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REDEEMED = "redeemed", _("Redeemed")
    # Refunded before anyone redeemed it: it can no longer be redeemed.
    CANCELLED = "cancelled", _("Cancelled")


class Gift(BaseModel):
    """A paid gift payment's code: redeemed once, by someone other than the buyer, into a new
    subscription or an extension of a running one (``billing.services.gifts``)."""

    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="gift", verbose_name=_("payment")
    )
    code = models.CharField(max_length=32, unique=True, verbose_name=_("code"))
    status = models.CharField(
        max_length=10,
        choices=GiftStatus.choices,
        default=GiftStatus.ACTIVE,
        db_index=True,
        verbose_name=_("status"),
    )
    # Redemption is refused from then on (GIFT_VALIDITY_DAYS after the payment).
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    redeemed_by = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gifts_redeemed",
        verbose_name=_("redeemed by"),
    )
    redeemed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("redeemed at"))
    # The subscription it made or extended, and by how many days (a refund takes them back).
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gifts",
        verbose_name=_("subscription"),
    )
    days_credited = models.PositiveIntegerField(default=0, verbose_name=_("days credited"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))

    class Meta:
        verbose_name = _("gift")
        verbose_name_plural = _("gifts")
        ordering = ["-created_at"]
        constraints = [
            # Redeemed means: by someone, at a time, into a subscription; and only then.
            models.CheckConstraint(
                condition=(
                    Q(
                        status="redeemed",
                        redeemed_by__isnull=False,
                        redeemed_at__isnull=False,
                        subscription__isnull=False,
                    )
                    | (
                        ~Q(status="redeemed")
                        & Q(
                            redeemed_by__isnull=True,
                            redeemed_at__isnull=True,
                            subscription__isnull=True,
                        )
                    )
                ),
                name="gift_redeemed_fields_together",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Gift …%(code)s %(status)s") % {
            "code": self.code[-4:],
            "status": self.get_status_display(),
        }


class PromoKind(models.TextChoices):
    DAYS = "days", _("Extra days on a purchase")
    FREE_DAYS = "free_days", _("Free days (no payment)")
    PERCENT = "percent", _("Percentage discount")
    AMOUNT = "amount", _("Fixed discount")
    FREE_TARIFF = "free_tariff", _("Free tariff (no payment)")


class PromoCode(BaseModel):
    """A code a customer enters at checkout or opens as ``/start promo_<CODE>``; the rules
    (``billing.services.promo``) and what each kind does are in docs/payments.md."""

    code = models.CharField(
        max_length=32, unique=True, help_text=_("Letters, digits, _ and -."), verbose_name=_("code")
    )
    kind = models.CharField(max_length=12, choices=PromoKind.choices, verbose_name=_("kind"))
    # DAYS / FREE_DAYS: the days added.
    days = models.PositiveIntegerField(default=0, verbose_name=_("days"))
    # PERCENT: 1..100 off the price.
    percent = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("percent"))
    # AMOUNT: roubles off the price (never below 0).
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, verbose_name=_("amount")
    )
    # FREE_TARIFF: the tariff granted.
    free_tariff = models.ForeignKey(
        "subscriptions.Tariff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="free_promo_codes",
        verbose_name=_("free tariff"),
    )
    # Limits. Empty ``tariffs`` = every tariff.
    tariffs = models.ManyToManyField(
        "subscriptions.Tariff", blank=True, related_name="promo_codes", verbose_name=_("tariffs")
    )
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty = no limit."), verbose_name=_("max uses")
    )
    once_per_customer = models.BooleanField(default=True, verbose_name=_("once per customer"))
    new_customers_only = models.BooleanField(
        default=False,
        help_text=_("Only customers who never paid."),
        verbose_name=_("new customers only"),
    )
    valid_from = models.DateTimeField(null=True, blank=True, verbose_name=_("valid from"))
    valid_until = models.DateTimeField(null=True, blank=True, verbose_name=_("valid until"))
    is_active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__gte=1, percent__lte=100),
                name="promo_percent_1_100",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="promo_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["days", "free_days"], days__gte=1)
                    | Q(kind="percent", percent__isnull=False)
                    | Q(kind="amount", amount__isnull=False)
                    | Q(kind="free_tariff", free_tariff__isnull=False)
                ),
                name="promo_kind_has_value",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=F("valid_from")),
                name="promo_valid_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class PromoRedemptionStatus(models.TextChoices):
    # Held by a pending payment: counts as a use; released if the payment is never paid.
    RESERVED = "reserved", _("Reserved")
    # The payment was credited, or a free grant was made. A refund keeps it used.
    USED = "used", _("Used")
    RELEASED = "released", _("Released")


class PromoRedemption(BaseModel):
    """One use of a promo code by a customer: tied to the payment it priced, or (free
    days, free tariff) to the subscription it granted."""

    promo = models.ForeignKey(
        PromoCode,
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("promo code"),
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="promo_redemptions",
        verbose_name=_("customer"),
    )
    payment = models.OneToOneField(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="promo_redemption",
        verbose_name=_("payment"),
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="promo_redemptions",
        verbose_name=_("subscription"),
    )
    status = models.CharField(
        max_length=10, choices=PromoRedemptionStatus.choices, verbose_name=_("status")
    )
    # The promo's once-per-customer flag when redeemed (the unique constraint below needs it
    # on this row).
    once = models.BooleanField(verbose_name=_("once per customer"))
    discount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), verbose_name=_("discount")
    )
    days = models.PositiveIntegerField(default=0, verbose_name=_("days"))

    class Meta:
        verbose_name = _("promo code use")
        verbose_name_plural = _("promo code uses")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["promo", "customer"],
                condition=Q(once=True) & ~Q(status="released"),
                name="promo_redemption_once_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0), name="promo_redemption_discount_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(promo)s by %(customer)s (%(status)s)") % {
            "promo": self.promo,
            "customer": self.customer_id,
            "status": self.get_status_display(),
        }


class ReferralReward(BaseModel):
    """The inviter's reward for one payment of the customer they invited: at most one per
    payment (the unique ``payment``), so a repeated notification can never reward twice.

    ``amount`` went to the inviter's balance (the ledger entry ``referral:<payment id>``),
    ``days`` onto ``subscription``. A refund of the payment takes them back once
    (``revoked_at``): ``amount_revoked`` is what the balance still held (it never goes
    below zero), ``days_revoked`` the days taken off (billing.services.referral).
    """

    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="referral_reward", verbose_name=_("payment")
    )
    inviter = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="referral_rewards",
        verbose_name=_("inviter"),
    )
    invitee = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        related_name="referral_rewards_caused",
        verbose_name=_("invitee"),
    )
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), verbose_name=_("amount")
    )
    days = models.PositiveIntegerField(default=0, verbose_name=_("days"))
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referral_rewards",
        verbose_name=_("subscription"),
    )
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    amount_revoked = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), verbose_name=_("amount revoked")
    )
    days_revoked = models.PositiveIntegerField(default=0, verbose_name=_("days revoked"))

    class Meta:
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
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
        return gettext(
            "referral reward for payment #%(payment)s: %(amount)s RUB, %(days)s days"
        ) % {"payment": self.payment_id, "amount": self.amount, "days": self.days}
