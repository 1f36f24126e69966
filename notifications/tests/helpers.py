"""Counting the alerts that went to the admin chats (one outbox row per chat each)."""

from notifications.models import OutboxAudience, OutboxMessage

ADMIN_CHATS = 2  # TELEGRAM_ADMIN_CHAT_IDS in the test settings


def alerts_of(kind: str) -> int:
    """How many alerts of `kind` went out (one row per admin chat each)."""
    rows = OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN, kind=kind).count()
    assert rows % ADMIN_CHATS == 0
    return rows // ADMIN_CHATS
