"""Readiness probes: the database and the broker answer."""

from django.db import DatabaseError


def database_check(*, connection) -> str:
    """'' when the database answers SELECT 1, otherwise a short reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"database unreachable: {exc.__class__.__name__}"
    return ""


def broker_check(*, timeout: float = 2.0) -> str:
    """'' when the Celery broker accepts a connection, otherwise a short reason."""
    from vpnsite.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any transport failure means "not ready"
        return f"broker unreachable: {exc.__class__.__name__}"
    return ""
