from django.conf import settings
from django.db import models
from django.utils import timezone


class BaseModel(models.Model):
    """created_at / updated_at on every domain row."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.TextChoices):
    SUBSCRIPTION_CREATED = "subscription.created", "Subscription created"
    SUBSCRIPTION_EXTENDED = "subscription.extended", "Subscription extended"
    SUBSCRIPTION_EXPIRED = "subscription.expired", "Subscription expired"
    SUBSCRIPTION_CANCELLED = "subscription.cancelled", "Subscription cancelled"
    SUBSCRIPTION_SUSPENDED = "subscription.suspended", "Subscription suspended"
    SUBSCRIPTION_RESUMED = "subscription.resumed", "Subscription resumed"
    SUBSCRIPTION_SHORTENED = "subscription.shortened", "Subscription shortened"
    PAYMENT_CREATED = "payment.created", "Payment created"
    PAYMENT_PAID = "payment.paid", "Payment paid"
    PAYMENT_FAILED = "payment.failed", "Payment failed"
    PAYMENT_CANCELLED = "payment.cancelled", "Payment cancelled"
    PAYMENT_REFUNDED = "payment.refunded", "Payment refunded"
    PAYMENT_MANUAL = "payment.manual", "Manual payment"
    KEY_CREATED = "key.created", "Key created"
    KEY_MOVED = "key.moved", "Key moved"
    KEY_REMOVED = "key.removed", "Key removed"
    CUSTOMER_BANNED = "customer.banned", "Customer banned"
    CUSTOMER_UNBANNED = "customer.unbanned", "Customer unbanned"
    TRIAL_GRANTED = "trial.granted", "Trial granted"
    DEVICE_REMOVED = "device.removed", "Device removed"
    NODE_CHANGED = "node.changed", "Node changed"
    ADMIN_ACTION = "admin.action", "Admin action"


class AuditLog(models.Model):
    """Append-only record of every change of money or access: who, what, when.

    Modelled on zulip's RealmAuditLog: written in the same transaction as the change.
    """

    event_time = models.DateTimeField(default=timezone.now, db_index=True)
    event_type = models.CharField(max_length=40, choices=AuditEvent.choices, db_index=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Who acted when it was not an operator: "system", "bot", "robokassa", "celery", ...
    actor_label = models.CharField(max_length=64, blank=True, default="")
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_logs",
    )
    object_type = models.CharField(max_length=64, blank=True, default="", db_index=True)
    object_id = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=500, blank=True, default="")
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = "audit record"

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
