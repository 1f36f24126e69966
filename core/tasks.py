from celery import shared_task


@shared_task(soft_time_limit=10, time_limit=20)
def ping_task(token: str) -> str:
    """Round trip used by smoke tests and /readyz tooling: proves a worker consumes tasks."""
    return f"pong:{token}"
