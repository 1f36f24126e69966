import factory

from core.models import AuditEvent, AuditLog


class AuditLogFactory(factory.django.DjangoModelFactory):
    """An audit record written by the system (no operator, no customer) unless told
    otherwise. Rows are append-only: build them with their final values."""

    class Meta:
        model = AuditLog

    event_type = AuditEvent.ADMIN_ACTION
    actor_label = "system"
    message = factory.Sequence(lambda n: f"audit record {n}")
