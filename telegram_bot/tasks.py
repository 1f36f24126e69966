from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=40, time_limit=60, ignore_result=True)
def outbox_send_task(message_id: int) -> str:
    """Send one outbox message; reschedule itself when Telegram or our rate limit says wait."""
    from telegram_bot.services import outbox_message_send

    result = outbox_message_send(message_id=message_id)
    if result.retry_in is not None:
        outbox_send_task.apply_async((message_id,), countdown=result.retry_in)
    return result.status


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def outbox_flush_task() -> int:
    """Beat: pick up messages whose task was lost (broker restart, worker killed)."""
    from telegram_bot.services import outbox_flush

    return outbox_flush()
