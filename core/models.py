from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BaseModel(models.Model):
    """created_at / updated_at on every domain row."""

    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, editable=False, verbose_name=_("created at")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        abstract = True


class AuditEvent(models.TextChoices):
    SUBSCRIPTION_CREATED = "subscription.created", _("Subscription created")
    SUBSCRIPTION_EXTENDED = "subscription.extended", _("Subscription extended")
    SUBSCRIPTION_EXPIRED = "subscription.expired", _("Subscription expired")
    SUBSCRIPTION_CANCELLED = "subscription.cancelled", _("Subscription cancelled")
    SUBSCRIPTION_SUSPENDED = "subscription.suspended", _("Subscription suspended")
    SUBSCRIPTION_RESUMED = "subscription.resumed", _("Subscription resumed")
    SUBSCRIPTION_SHORTENED = "subscription.shortened", _("Subscription shortened")
    PAYMENT_CREATED = "payment.created", _("Payment created")
    PAYMENT_PAID = "payment.paid", _("Payment paid")
    PAYMENT_FAILED = "payment.failed", _("Payment failed")
    PAYMENT_CANCELLED = "payment.cancelled", _("Payment cancelled")
    PAYMENT_REFUNDED = "payment.refunded", _("Payment refunded")
    PAYMENT_MANUAL = "payment.manual", _("Manual payment")
    KEY_CREATED = "key.created", _("Key created")
    KEY_MOVED = "key.moved", _("Key moved")
    KEY_REMOVED = "key.removed", _("Key removed")
    CUSTOMER_BANNED = "customer.banned", _("Customer banned")
    CUSTOMER_UNBANNED = "customer.unbanned", _("Customer unbanned")
    TRIAL_GRANTED = "trial.granted", _("Trial granted")
    DEVICE_REMOVED = "device.removed", _("Device removed")
    NODE_CHANGED = "node.changed", _("Node changed")
    ADMIN_ACTION = "admin.action", _("Admin action")


class AuditLog(models.Model):
    """Append-only record of every change of money or access: who, what, when.

    Modelled on zulip's RealmAuditLog: written in the same transaction as the change.
    """

    event_time = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("event time")
    )
    event_type = models.CharField(
        max_length=40, choices=AuditEvent.choices, db_index=True, verbose_name=_("event")
    )
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("operator"),
    )
    # Who acted when it was not an operator: "system", "bot", "robokassa", "celery", ...
    actor_label = models.CharField(
        max_length=64, blank=True, default="", verbose_name=_("actor label")
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_logs",
        verbose_name=_("customer"),
    )
    object_type = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("object type")
    )
    object_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("object id"))
    message = models.CharField(max_length=500, blank=True, default="", verbose_name=_("message"))
    extra_data = models.JSONField(default=dict, blank=True, verbose_name=_("extra data"))

    class Meta:
        verbose_name_plural = _("audit records")
        ordering = ["-event_time", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = _("audit record")

    def __str__(self) -> str:
        target = f"{self.object_type}#{self.object_id}" if self.object_type else ""
        return f"{self.event_time:%Y-%m-%d %H:%M} {self.event_type} {target}".rstrip()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("AuditLog rows are append-only")
        super().save(*args, **kwargs)

    @property
    def actor(self) -> str:
        if self.acting_user_id:
            return str(self.acting_user)
        return self.actor_label or "system"
