from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def payments_expire_pending_task() -> int:
    """Beat: cancel pending payments nobody paid before their expiry (idempotent)."""
    from billing.services import payments_expire_pending

    return payments_expire_pending()
