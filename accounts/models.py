import secrets
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import BaseModel


class User(AbstractUser):
    """An operator of the console. Subscribers are `Customer`s, not users."""

    telegram_id = models.BigIntegerField(
        null=True, blank=True, unique=True, verbose_name=_("Telegram ID")
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class Language(models.TextChoices):
    RU = "ru", "Русский"
    EN = "en", "English"


def referral_code_new() -> str:
    return secrets.token_urlsafe(6).replace("-", "a").replace("_", "b")


class Customer(BaseModel):
    """A subscriber, keyed by Telegram id."""

    telegram_id = models.BigIntegerField(unique=True, verbose_name=_("Telegram ID"))
    username = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("username")
    )
    first_name = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("first name")
    )
    last_name = models.CharField(
        max_length=128, blank=True, default="", verbose_name=_("last name")
    )
    language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.RU, verbose_name=_("language")
    )
    # True once the customer chose a language in the bot; Telegram's language no longer overrides.
    language_chosen = models.BooleanField(
        default=False, verbose_name=_("language chosen in the bot")
    )
    referral_code = models.CharField(
        max_length=16, unique=True, default=referral_code_new, verbose_name=_("referral code")
    )
    referred_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referrals",
        verbose_name=_("invited by"),
    )
    is_banned = models.BooleanField(default=False, db_index=True, verbose_name=_("banned"))
    banned_reason = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("ban reason")
    )
    bot_blocked_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("blocked the bot at")
    )
    trial_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("trial used at"))
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))
    # The balance in roubles: the sum of the customer's ``billing.BalanceEntry`` rows, kept
    # here so the database can refuse a negative one (the CHECK below). Only
    # ``billing.services.balance`` writes it, with F() in the transaction of each entry.
    balance = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), verbose_name=_("balance")
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at"]
        permissions = [
            ("ban_customer", "Can ban and unban customers"),
            ("message_customer", "Can send a message to a customer"),
            ("export_customer", "Can export customers as CSV"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(telegram_id__gt=0), name="customer_telegram_id_positive"
            ),
            models.CheckConstraint(
                condition=~Q(referred_by=models.F("id")), name="customer_not_self_referred"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="customer_balance_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else f"tg:{self.telegram_id}"

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or str(self)
