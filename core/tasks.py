import logging

from celery import current_app, shared_task
from celery.exceptions import Retry

logger = logging.getLogger(__name__)

# A batch that failed inside ``tasks_run_task`` is sent on its own after this many seconds,
# to retry under its own task's policy.
TASKS_RUN_RETRY_SECONDS = 10


@shared_task(acks_late=True, soft_time_limit=150, time_limit=180, ignore_result=True)
def tasks_run_task(batches: list[list]) -> int:
    """Run the task batches queued after commit (one broker message: one transaction's, or
    a web worker's window of them, see ``core.transactions.TasksPublisher``).

    Each ``[task name, items]`` runs here, in order. One that raises, asks for a retry or
    meets the soft time limit is sent on its own instead: it then retries under its own
    task's policy (from its first attempt) and does not hold up the others. If even that
    send fails (broker down), the beat's sweeps (outbox flush, reconcile) pick the work up.
    Returns how many batches ran here.
    """
    done = 0
    for name, items in batches:
        task = current_app.tasks[name]
        try:
            task.apply(args=(items,), throw=True)
        except Retry:
            logger.info("%s asked for a retry inside a batch; sending it alone", name)
            _send_alone(task, items)
        except Exception:  # handed over below, whatever it was
            logger.exception("%s failed inside a batch; sending it alone", name)
            _send_alone(task, items)
        else:
            done += 1
    return done


def _send_alone(task, items: list) -> None:
    try:
        task.apply_async((items,), countdown=TASKS_RUN_RETRY_SECONDS)
    except Exception:
        logger.exception("%s could not be sent alone; the beat sweeps will catch up", task.name)


@shared_task(soft_time_limit=10, time_limit=20)
def ping_task(token: str) -> str:
    """Round trip used by smoke tests and /readyz tooling: proves a worker consumes tasks."""
    return f"pong:{token}"


@shared_task(acks_late=True, soft_time_limit=3500, time_limit=3600, ignore_result=True)
def backup_task() -> str:
    """Beat: daily database backup with rotation, sent to the admin chats when small."""
    from django.conf import settings

    from core.backups import backup_create, backup_send_to_admins, backups_rotate

    path = backup_create()
    backups_rotate(directory=path.parent, keep=settings.BACKUP_KEEP)
    if settings.BACKUP_SEND_TO_ADMINS:
        backup_send_to_admins(path=path)
    return path.name


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def alerts_check_task() -> dict:
    """Beat (ALERTS_CHECK_INTERVAL): backlogs, bad-signature probing, unreported node states."""
    from core.alerts import alerts_check

    return alerts_check()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def daily_summary_task() -> int:
    """Beat (DAILY_SUMMARY_HOUR_UTC): the last 24 hours to the admin chats, once a day."""
    from core.alerts import daily_summary_send

    return daily_summary_send()
