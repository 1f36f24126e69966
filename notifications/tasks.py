from celery import shared_task


def _outbox_send_one(message_id: int) -> str:
    from notifications.services import outbox_message_send

    result = outbox_message_send(message_id=message_id)
    if result.retry_in is not None:
        outbox_send_task.apply_async((message_id,), countdown=result.retry_in)
    if result.next_id is not None:  # messages to one chat go out in order, one by one
        outbox_send_task.delay(result.next_id)
    return result.status


@shared_task(acks_late=True, soft_time_limit=40, time_limit=60, ignore_result=True)
def outbox_send_task(message_id: int) -> str:
    """Send one outbox message; reschedule itself when Telegram or our rate limit says wait."""
    return _outbox_send_one(message_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def outbox_flush_task() -> int:
    """Beat: pick up messages whose task was lost (broker restart, worker killed)."""
    from notifications.services import outbox_flush

    return outbox_flush()


def _broadcast_enqueue_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: PLR0917
    from notifications.services import broadcast_enqueue_failed

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
    from notifications.services import BROADCAST_PROGRESS_EVERY, broadcast_enqueue

    written = broadcast_enqueue(broadcast_id=broadcast_id)
    broadcast_progress_task.apply_async((broadcast_id, 1), countdown=BROADCAST_PROGRESS_EVERY)
    return written


@shared_task(bind=True, acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def broadcast_progress_task(self, broadcast_id: int, check: int = 1) -> bool:
    """Recount a broadcast's delivery from its outbox rows until none is in flight.

    Eager mode (unit tests) cannot wait between checks, so it recounts once.
    """
    from notifications.services import (
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
