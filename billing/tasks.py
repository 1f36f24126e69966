from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def payments_expire_pending_task() -> int:
    """Beat: cancel pending payments nobody paid before their expiry (idempotent)."""
    from billing.services.checkout_settle import payments_expire_pending

    return payments_expire_pending()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True)
def webhook_events_prune_task() -> int:
    """Beat, daily: delete webhook log rows past WEBHOOK_RETENTION_DAYS (never credited ones)."""
    from billing.services.webhook_events import webhook_events_prune

    return webhook_events_prune()


@shared_task(acks_late=True, soft_time_limit=250, time_limit=300, ignore_result=True)
def subscriptions_autorenew_due_task() -> int:
    """Beat: auto-renew due subscriptions from the balance (each period charged once)."""
    from billing.services.autorenew import subscriptions_autorenew_due

    return subscriptions_autorenew_due()
