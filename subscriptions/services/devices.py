"""Devices by hardware id: the feed records them, the subscriber removes one in the bot, an
operator resets them all in the console (docs/x3ui.md "Devices by hardware id").

The feed's part costs at most one query: ``subscription_by_feed_token`` already read whether
the device is known and when it was last recorded, so a known device seen within
``DEVICE_SEEN_REFRESH`` costs nothing and anything else is one upsert. The upsert is keyed by
(subscription, hwid), so two racing requests of one new device make one row; two *different*
new devices racing for the last free place can both get it (each read the count before the
other wrote), leaving the subscription one device over its limit per extra racer. A lock or
a recount would cost queries on every feed request; the overshoot is bounded by how many new
devices fetch within the same instant, the next new device is refused, and the subscriber
sees and can remove them in the bot.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Customer
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from notifications.formatting import date_format
from subscriptions.devices import DeviceHeaders, device_label
from subscriptions.models import Device, Subscription, SubscriptionStatus
from subscriptions.operator_notifications import notify_devices_reset
from subscriptions.selectors import DeviceRemovals, device_removals_get

# A known device's last_seen_at is written again only when older than this (apps refresh a
# subscription every few hours, Hiddify probes with HEAD every minute).
DEVICE_SEEN_REFRESH = timedelta(hours=1)

_UPDATED_ON_CONFLICT = ["os", "os_version", "model", "user_agent", "last_seen_at", "updated_at"]


def device_record_due(*, subscription: Subscription, now: datetime) -> bool:
    """Whether the device named to ``subscription_by_feed_token`` must be written: it is new
    (``device_seen_at`` None) or was last recorded ``DEVICE_SEEN_REFRESH`` ago or more."""
    seen_at = getattr(subscription, "device_seen_at", None)
    return seen_at is None or now - seen_at >= DEVICE_SEEN_REFRESH


def device_record(
    *, subscription: Subscription, device: DeviceHeaders, now: datetime | None = None
) -> bool:
    """Record that `device` fetched the feed of `subscription`; True when it wrote.

    At most one statement: nothing when the device is known and fresh, else one
    ``INSERT … ON CONFLICT (subscription, hwid) DO UPDATE`` of its details and last_seen_at
    (its ``created_at``, the first time seen, is kept). The device limit is not checked here:
    the feed refused a new device over it before (``selectors.feed_device_refused``).
    """
    now = now or timezone.now()
    if not device_record_due(subscription=subscription, now=now):
        return False
    Device.objects.bulk_create(
        [
            Device(
                subscription=subscription,
                hwid=device.hwid,
                os=device.os,
                os_version=device.os_version,
                model=device.model,
                user_agent=device.user_agent,
                created_at=now,
                last_seen_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["subscription", "hwid"],
        update_fields=_UPDATED_ON_CONFLICT,
    )
    return True


@dataclass(frozen=True)
class DeviceRemoved:
    label: str
    removals: DeviceRemovals  # after this removal


def _cooldown_error(removals: DeviceRemovals) -> ApplicationError:
    """In the active language: how many removals a day, and when the next one is possible."""
    message = ngettext(
        "You can remove %(count)d device a day.",
        "You can remove %(count)d devices a day.",
        removals.limit,
    ) % {"count": removals.limit}
    message += " " + _("The next one is possible after %(date)s.") % {
        "date": date_format(removals.next_at)
    }
    return ApplicationError(
        message,
        {"used": removals.used, "limit": removals.limit, "next_at": removals.next_at.isoformat()},
    )


@transaction.atomic
def device_remove(
    *,
    customer: Customer,
    subscription_id: int,
    device_id: int,
    now: datetime | None = None,
    actor_label: str = "bot",
) -> DeviceRemoved:
    """The subscriber removes one device of their subscription (from the bot, or the Mini
    App: `actor_label` "miniapp"), audited.

    At most ``SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY`` per subscription in any 24 hours (the
    audit rows are the count), so a limit by hardware id cannot be rotated among many people.
    The subscription row is locked first: two taps at once serialise and see each other's
    removal. Refusals are ``ApplicationError``s in the customer's language; nothing changes.
    """
    now = now or timezone.now()
    with translation.override(customer.language):
        subscription = (
            Subscription.objects.select_for_update()
            .filter(pk=subscription_id, customer=customer)
            .exclude(status=SubscriptionStatus.CANCELLED)
            .first()
        )
        if subscription is None:
            raise ApplicationError(
                _("This subscription was not found."), {"subscription_id": subscription_id}
            )
        device = Device.objects.filter(subscription=subscription, pk=device_id).first()
        if device is None:
            raise ApplicationError(
                _("This device is no longer in the list."),
                {"subscription_id": subscription_id, "device_id": device_id},
            )
        removals = device_removals_get(subscription=subscription, now=now)
        if removals.left == 0:
            raise _cooldown_error(removals)
    label = device_label(device)
    device.delete()
    audit_log_write(
        event_type=AuditEvent.DEVICE_REMOVED,
        obj=subscription,
        actor_label=actor_label,
        customer_id=customer.pk,
        message=f"device removed by the subscriber: {label}",
        extra_data={
            "device_id": device_id,
            "hwid": device.hwid,
            "model": device.model,
            "os": device.os,
            "last_seen_at": device.last_seen_at.isoformat(),
        },
    )
    left = None if removals.left is None else removals.left - 1
    after = DeviceRemovals(
        limit=removals.limit, used=removals.used + 1, left=left, next_at=removals.next_at
    )
    return DeviceRemoved(label=label, removals=after)


@transaction.atomic
def subscription_devices_reset(*, subscription: Subscription, actor, reason: str = "") -> int:
    """An operator removes every device of `subscription` (the console), audited with the
    devices removed, the customer told once (``notify_devices_reset``). Returns how many; a
    subscription without devices is refused."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    devices = list(Device.objects.filter(subscription=locked).order_by("pk"))
    if not devices:
        raise ApplicationError("has no devices to reset", {"subscription_id": locked.pk})
    Device.objects.filter(pk__in=[device.pk for device in devices]).delete()
    audit = audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=locked,
        acting_user=actor,
        customer_id=locked.customer_id,
        message=f"devices reset: {len(devices)} removed" + (f" ({reason})" if reason else ""),
        extra_data={
            "action": "subscription_devices_reset",
            "reason": reason,
            "devices": [
                {"id": device.pk, "hwid": device.hwid, "model": device.model, "os": device.os}
                for device in devices
            ],
        },
    )
    notify_devices_reset(
        subscription=Subscription.objects.select_related("customer", "tariff").get(pk=locked.pk),
        labels=[device_label(device) for device in devices],
        audit_id=audit.pk,
    )
    return len(devices)
