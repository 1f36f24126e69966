from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def subscriptions_expire_due_task() -> int:
    """Beat: expire every active subscription whose term has ended."""
    from subscriptions.services import subscriptions_expire_due

    return len(subscriptions_expire_due())


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120, ignore_result=True)
def subscriptions_remind_due_task() -> int:
    """Beat: queue the expiry reminders that are due (each once per expiry)."""
    from subscriptions.services import subscriptions_remind_due

    return subscriptions_remind_due()
