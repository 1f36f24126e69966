"""Helpers for tests of any app: the messages an admin page showed."""

from django.contrib.messages import get_messages


def texts(response) -> list[str]:
    """The messages the admin showed after `response`."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def levels(response) -> list[str]:
    return [m.level_tag for m in get_messages(response.wsgi_request)]
