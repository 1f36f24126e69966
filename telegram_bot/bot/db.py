"""The one way bot handlers reach the database: sync services run via ``sync_to_async``."""

import functools
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

P = ParamSpec("P")
R = TypeVar("R")

# How often the poller recycles its database connection (see `_with_usable_connection`).
CONNECTION_CHECK_SECONDS = 1.0
_checked = threading.local()


def connection_check_due(*, now: float | None = None) -> bool:
    """Whether this thread's connection is due a check (at most once per interval)."""
    now = time.monotonic() if now is None else now
    if now - getattr(_checked, "at", float("-inf")) < CONNECTION_CHECK_SECONDS:
        return False
    _checked.at = now
    return True


def _with_usable_connection(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        # A long-running poller has no request cycle to recycle connections, so do what
        # request_started does: drop a connection that broke (database restart) or aged
        # past CONN_MAX_AGE. Never inside an atomic block (a test's transaction). Once a
        # second, not before every call: with CONN_MAX_AGE=0 (SQLite) each check reconnects
        # and with CONN_HEALTH_CHECKS each pings, several times per update otherwise.
        if not connection.in_atomic_block and connection_check_due():
            close_old_connections()
        return func(*args, **kwargs)

    return inner


async def call_service(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a sync service or selector in Django's sync thread and await its result."""
    return await sync_to_async(_with_usable_connection(func), thread_sensitive=True)(
        *args, **kwargs
    )
