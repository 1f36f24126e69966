"""Alert primitives: an alert is an admin message with a dedupe key, through the outbox.

The outbox rows are the alerts' memory: an episode is "open" when the latest alert of its
kind is the firing one and not its recovery, so the state survives restarts and is the same
for every process. The alerts themselves live with what they watch: nodes (nodes/alerts.py),
payment notifications (billing/alerts.py), backlogs and the daily summary (console/alerts.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from notifications.models import OutboxAudience, OutboxMessage
from notifications.services import notify_admins

RECOVERED = "-recovered"


def alert_send(*, text: str, kind: str, dedupe_key: str) -> int:
    """Queue `text` to every admin chat once (per `dedupe_key`); how many were queued."""
    with transaction.atomic():
        return len(notify_admins(text=text, kind=kind, dedupe_key=dedupe_key))


def alert_stamp(now: datetime) -> str:
    """The moment an episode's alert went out: its dedupe key (the decision itself is made
    under a row lock or the check lock, from the alerts already sent)."""
    return f"{now:%Y%m%d%H%M%S%f}"


def alert_episode_sync(
    *, name: str, firing: bool, now: datetime, firing_text: str, recovered_text: str
) -> str:
    """Open an episode (one alert) or close it (one "recovered"); returns what was done."""
    last = (
        OutboxMessage.objects.filter(
            audience=OutboxAudience.ADMIN, kind__in=[name, f"{name}{RECOVERED}"]
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    is_open = last is not None and last.kind == name
    if firing and not is_open:
        alert_send(text=firing_text, kind=name, dedupe_key=f"{name}:{alert_stamp(now)}")
        return "firing"
    if not firing and is_open:
        episode = (last.dedupe_key or "").split(":")[1:2] or [alert_stamp(now)]
        alert_send(
            text=recovered_text,
            kind=f"{name}{RECOVERED}",
            dedupe_key=f"{name}{RECOVERED}:{episode[0]}",
        )
        return "recovered"
    return ""
