"""Errors raised by the 3x-ui client, split by what the caller should do next (not by HTTP
details). Messages never contain the panel password or API token: they name the endpoint
relative to the panel's base path (itself a light secret) and the panel's own ``msg``.
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
    """Timeout, refused connection, 5xx, a body that is not the JSON envelope: try again
    later."""


class X3UIAuthError(X3UIError):
    """Bad credentials, a refused API token, or a session a new login could not restore: an
    operator has to fix the node's configuration."""


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
    """The panel understood us and said no (``success: false``, or refused the request
    outright): the same request will not succeed later."""

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
