from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=40, time_limit=60, ignore_result=True)
def outbox_send_task(message_id: int) -> str:
    """Send one outbox message; reschedule itself when Telegram or our rate limit says wait."""
    from notifications.services import outbox_message_send

    result = outbox_message_send(message_id=message_id)
    if result.retry_in is not None:
        outbox_send_task.apply_async((message_id,), countdown=result.retry_in)
    if result.next_id is not None:  # messages to one chat go out in order, one by one
        outbox_send_task.delay(result.next_id)
    return result.status


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def outbox_flush_task() -> int:
    """Beat: pick up messages whose task was lost (broker restart, worker killed)."""
    from notifications.services import outbox_flush

    return outbox_flush()
