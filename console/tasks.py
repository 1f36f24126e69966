"""The console's tasks: backups, alert checks, the daily summary, broadcasts and the analytics
page's preset figures."""

from celery import shared_task
from django.conf import settings

from console.alerts import alerts_check, daily_summary_send
from console.analytics_cache import analytics_precompute
from console.backups import backup_create, backup_send_to_admins, backups_rotate


@shared_task(acks_late=True, soft_time_limit=3500, time_limit=3600, ignore_result=True)
def backup_task() -> str:
    """Beat: daily database backup with rotation, sent to the admin chats when small."""
    path = backup_create()
    backups_rotate(directory=path.parent, keep=settings.BACKUP_KEEP)
    if settings.BACKUP_SEND_TO_ADMINS:
        backup_send_to_admins(path=path)
    return path.name


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def alerts_check_task() -> dict:
    """Beat (ALERTS_CHECK_INTERVAL): backlogs, bad-signature probing, unreported node states."""
    return alerts_check()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def daily_summary_task() -> int:
    """Beat (DAILY_SUMMARY_HOUR_UTC): the last 24 hours to the admin chats, once a day."""
    return daily_summary_send()


@shared_task(acks_late=True, soft_time_limit=240, time_limit=270, ignore_result=True)
def analytics_precompute_task() -> list[int]:
    """Beat (ANALYTICS_PRECOMPUTE_INTERVAL): the analytics page's presets computed and kept,
    so operators read them warm (console/analytics_cache.py). Returns each one's time in ms."""
    return [entry.compute_ms for entry in analytics_precompute()]


def _broadcast_enqueue_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: PLR0917
    from console.broadcasts import broadcast_enqueue_failed

    broadcast_enqueue_failed(broadcast_id=args[0], error=f"{type(exc).__name__}: {exc}")


@shared_task(
    acks_late=True,
    soft_time_limit=1800,
    time_limit=1860,
    ignore_result=True,
    on_failure=_broadcast_enqueue_failure,
)
def broadcast_enqueue_task(broadcast_id: int) -> int:
    """Write a broadcast's outbox rows in batches (idempotent), then watch its progress."""
    from console.broadcasts import BROADCAST_PROGRESS_EVERY, broadcast_enqueue

    written = broadcast_enqueue(broadcast_id=broadcast_id)
    broadcast_progress_task.apply_async((broadcast_id, 1), countdown=BROADCAST_PROGRESS_EVERY)
    return written


@shared_task(bind=True, acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def broadcast_progress_task(self, broadcast_id: int, check: int = 1) -> bool:
    """Recount a broadcast's delivery from its outbox rows until none is in flight.

    Eager mode (unit tests) cannot wait between checks, so it recounts once.
    """
    from console.broadcasts import (
        BROADCAST_PROGRESS_EVERY,
        BROADCAST_PROGRESS_MAX_CHECKS,
        broadcast_progress_refresh,
    )

    done = broadcast_progress_refresh(broadcast_id=broadcast_id)["done"]
    if not done and check < BROADCAST_PROGRESS_MAX_CHECKS and not self.request.is_eager:
        broadcast_progress_task.apply_async(
            (broadcast_id, check + 1), countdown=BROADCAST_PROGRESS_EVERY
        )
    return done


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def broadcasts_start_due_task() -> list[int]:
    """Beat (BROADCAST_SCHEDULE_INTERVAL): start scheduled broadcasts whose time has come."""
    from console.broadcasts import broadcasts_start_due

    return broadcasts_start_due()
