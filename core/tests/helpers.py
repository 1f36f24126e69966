"""Helpers for tests of any app: the messages an admin page showed, constraint violations."""

from django.contrib.messages import get_messages
from django.db import IntegrityError, transaction


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
