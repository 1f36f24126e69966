"""Operator actions on tariffs."""

from django.db import transaction

from core.models import AuditEvent
from core.services import audit_log_write, model_update
from subscriptions.models import Tariff


@transaction.atomic
def tariff_save(*, tariff: Tariff, changed_fields: list[str], actor) -> Tariff:
    """Create or change a tariff (validated), audited with the operator's name.

    Subscriptions already sold keep their snapshotted limits; only new sales change.
    """
    created = tariff.pk is None
    tariff.full_clean()
    tariff.save()
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=tariff,
        acting_user=actor,
        message=f"tariff {tariff.name} {'added' if created else 'changed'}",
        extra_data={
            "action": "tariff_add" if created else "tariff_change",
            "fields": sorted(changed_fields),
            "price": str(tariff.price),
            "price_stars": tariff.price_stars,
            "duration_days": tariff.duration_days,
        },
    )
    return tariff


@transaction.atomic
def tariff_set_active(*, tariff: Tariff, active: bool, actor) -> bool:
    """Offer a tariff in the bot, or stop selling it. Returns whether anything changed."""
    _tariff, changed = model_update(instance=tariff, data={"is_active": active})
    if changed:
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            obj=tariff,
            acting_user=actor,
            message=f"tariff {tariff.name} {'enabled' if active else 'disabled'}",
            extra_data={"action": "tariff_set_active", "is_active": active},
        )
    return changed
