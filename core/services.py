from typing import Any

from django.db import models

from core.models import AuditEvent, AuditLog


def model_update(*, instance: models.Model, data: dict[str, Any]) -> tuple[models.Model, bool]:
    """Set the given fields, validate and save only those that changed (HackSoft model_update)."""
    changed = [name for name, value in data.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, data[name])
    if changed:
        instance.full_clean()
        update_fields = [*changed]
        if any(f.name == "updated_at" for f in instance._meta.get_fields()):
            update_fields.append("updated_at")
        instance.save(update_fields=update_fields)
    return instance, bool(changed)


def audit_log_entry(
    *,
    event_type: AuditEvent,
    obj: models.Model | None = None,
    acting_user=None,
    actor_label: str = "",
    customer_id: int | None = None,
    message: str = "",
    extra_data: dict | None = None,
) -> AuditLog:
    """One unsaved audit row (``audit_log_write`` saves it; a sweep saves many with
    ``AuditLog.objects.bulk_create``)."""
    return AuditLog(
        event_type=event_type,
        acting_user=acting_user if getattr(acting_user, "pk", None) else None,
        actor_label=actor_label or ("" if getattr(acting_user, "pk", None) else "system"),
        customer_id=customer_id,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        message=message[:500],
        extra_data=extra_data or {},
    )


def audit_log_write(**fields: Any) -> AuditLog:
    """Append one audit row (``audit_log_entry``'s arguments), in the caller's transaction."""
    entry = audit_log_entry(**fields)
    entry.save(force_insert=True)
    return entry
