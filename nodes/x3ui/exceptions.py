"""Errors raised by the 3x-ui client.

The split is about what the caller should do next, not about HTTP details:

- ``X3UIUnavailable``: try again later (timeouts, refused connections, 5xx, a body that is
  not the JSON envelope). Celery tasks retry on this one only.
- ``X3UIRejected``: the panel understood us and said no (``success: false``). Retrying the
  same request will not help.
- ``X3UIDuplicateClient``: a rejection that means "this email already exists", so a caller
  that was trying to create a client can update it instead.
- ``X3UINotFound``: the panel has no such endpoint, inbound or client.
- ``X3UIAuthError``: bad credentials, a rejected API token, or a session that could not be
  restored by logging in again. An operator has to fix the node's configuration.

Messages never contain the panel password or API token: they name the endpoint relative to
the panel's base path (which is itself a light secret) and the panel's own ``msg``.
"""

from __future__ import annotations

from collections.abc import Mapping


class X3UIError(Exception):
    """Base class: anything that went wrong talking to a 3x-ui panel."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status_code: int | None = None,
        msg: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The request, as ``"METHOD relative/path"``, without host or base path.
        self.endpoint = endpoint
        #: HTTP status of the last response, when there was one.
        self.status_code = status_code
        #: The panel's own ``msg`` (often translated: show it, never branch on it).
        self.msg = msg


class X3UIUnavailable(X3UIError):
    """The panel could not be reached or answered garbage: retry later."""


class X3UIAuthError(X3UIError):
    """Login failed, the API token was refused, or the session could not be restored."""


class X3UILoginRefused(X3UIAuthError):
    """The panel refused the username/password (or a login is paused after such a refusal).

    3x-ui v3.0+ blocks a user for 15 minutes after five failed logins in five minutes (even
    with the right password afterwards), and v2.x sends its owner a Telegram alert for
    every failure: a caller must not try again soon. ``sent`` is False when no request was
    made because the login was paused (``X3UIClient.login_paused_until``).
    """

    def __init__(self, message: str, *, sent: bool = True, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.sent = sent


class X3UIRejected(X3UIError):
    """The panel answered ``success: false`` (or refused the request outright)."""

    def __init__(
        self,
        message: str,
        *,
        failures: Mapping[str, str] | None = None,
        added: tuple[str, ...] = (),
        **kwargs,
    ) -> None:
        super().__init__(message, **kwargs)
        #: Per-email reasons when a batch was partly refused (v3 ``bulkCreate``).
        self.failures: dict[str, str] = dict(failures or {})
        #: Emails that *were* added before/while the rest failed (partial batches only).
        self.added = added


class X3UIDuplicateClient(X3UIRejected):
    """The email (or its subId) is already taken on the panel: update instead of add."""

    def __init__(self, message: str, *, emails: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(message, **kwargs)
        #: The duplicate emails, as far as the panel's message names them.
        self.emails = emails


class X3UINotFound(X3UIRejected):
    """The endpoint, inbound or client does not exist on this panel."""


class X3UIInboundNotFound(X3UINotFound):
    """Our inbound is not on the panel (deleted, or not visible to the panel user we log in
    as): a problem of the node, not of any key."""


class X3UIForeignClient(X3UIRejected):
    """A client that is not ours holds the email we need: it is never updated or deleted."""
