"""Helpers for tests of any app: the messages an admin page showed, constraint violations,
races between threads."""

import threading

from django.contrib.messages import get_messages
from django.db import IntegrityError, connections, transaction


def texts(response) -> list[str]:
    """The messages the admin showed after `response`."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def levels(response) -> list[str]:
    return [m.level_tag for m in get_messages(response.wsgi_request)]


def violates(fn) -> bool:
    """Whether `fn` breaks a database constraint (run in a savepoint, so the test goes on)."""
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def run_concurrently(calls, *, timeout: float = 60) -> list[Exception]:
    """Run each of `calls` in its own thread, all released at once; the exceptions raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[Exception] = []

    def run(call):
        try:
            barrier.wait(timeout=10)
            call()
        except Exception as exc:  # noqa: BLE001 - surfaced to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
