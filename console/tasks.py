"""The console's beat tasks: backups, alert checks and the daily summary."""

from celery import shared_task
from django.conf import settings

from console.alerts import alerts_check, daily_summary_send
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
