"""HTTP to one 3x-ui panel, the half of ``X3UIClient`` (client.py) that knows nothing about
clients: the session, the login (with or without CSRF), ``_call`` (which logs in again once
when a session was not accepted), the response envelope, and every way a panel can fail
mapped to one of our exceptions (``exceptions.py``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Final, Self
from urllib.parse import quote

import requests

from .exceptions import (
    X3UIAuthError,
    X3UIDuplicateClient,
    X3UIError,
    X3UILoginRefused,
    X3UINotFound,
    X3UIRejected,
    X3UIUnavailable,
)
from .types import GENERATIONS, Generation, as_str

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = (5.0, 15.0)
#: Cookie names of the panel session: ``3x-ui`` since v2.3.8, ``session`` before.
SESSION_COOKIE_NAMES: Final = ("3x-ui", "session")
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# The only message text we ever branch on (docs/x3ui.md "Writes whose answer is lost"):
# the Go error inside the translated context stays English, e.g.
# "Something went wrong (Duplicate email: alice\n)" or "... (email already in use: alice\n)".
_DUPLICATE_RE: Final = re.compile(
    r"(?:duplicate email|email already in use)\s*:\s*(\S+?)\)?(?:\s|$)", re.IGNORECASE
)


def is_duplicate_message(msg: str) -> bool:
    """Whether a panel message says the client's email already exists (any version)."""
    return bool(_DUPLICATE_RE.search(msg or ""))


def duplicate_emails(msg: str) -> tuple[str, ...]:
    """The emails a duplicate-email message names, in order."""
    return tuple(m.group(1) for m in _DUPLICATE_RE.finditer(msg or ""))


class _RouteMissing(X3UINotFound):
    """HTTP 404 that survived a fresh login: the route does not exist on this panel.

    Internal: generation-specific calls catch it and re-detect the API; anything that
    escapes is converted by ``_route_error`` into a public ``X3UINotFound``/``X3UIAuthError``.
    """


class PanelTransport:
    """Session, login and requests for one panel; ``X3UIClient`` adds the client APIs.

    The constructor's arguments are ``X3UIClient``'s (see there).
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str = "",
        password: str = "",
        api_token: str = "",
        inbound_id: int,
        generation: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/") + "/"
        self.inbound_id = int(inbound_id)
        self.username = username
        self._password = password
        self._api_token = api_token
        self.timeout = timeout  # requests' (connect, read) pair, or one value for both
        #: ``"legacy"`` or ``"v3"`` once known; persist it on the Node.
        self.generation: Generation | None = (
            generation if generation in GENERATIONS else None  # type: ignore[assignment]
        )
        #: Every HTTP request this instance sent (logins and probes included).
        self.request_count = 0
        #: Logins the panel accepted (a request riding on an old session cookie is not one).
        self.login_count = 0
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._csrf_token: str | None = None
        # None: not known yet; False: the panel predates CSRF (GET csrf-token was 404).
        self._csrf_supported: bool | None = None
        # v3 bulkCreate exists in later v3.x; None until tried, False after a 404.
        self._v3_bulk_supported: bool | None = None
        #: Unix time before which ``login()`` refuses to send credentials (set by the caller
        #: after the panel refused them: 3x-ui's limiter and owner alerts, see
        #: ``X3UILoginRefused``).
        self.login_paused_until: float = 0.0
        self._logged_in = bool(api_token) or self._has_session_cookie()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session if this instance created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- login and requests ------------------------------------------------------------

    def login(self) -> None:
        """Log in with username/password (fetching a CSRF token first on v3.0+ panels).

        A no-op with an API token. Raises ``X3UIAuthError`` for refused credentials.
        """
        if self._api_token:
            return
        if not self.username or not self._password:
            raise X3UIAuthError("no panel credentials configured", endpoint="POST login")
        if time.time() < self.login_paused_until:
            raise X3UILoginRefused(
                "login paused after the panel refused these credentials "
                f"(until {time.strftime('%H:%M:%S UTC', time.gmtime(self.login_paused_until))})",
                endpoint="POST login",
                sent=False,
            )
        self._logged_in = False
        if self._csrf_supported is not False:
            self._fetch_csrf_token()
        response = self._post_login()
        if response.status_code == 403 and self._csrf_supported is False:
            # We had cached "no CSRF" but the panel was upgraded to v3.0+: try once more.
            self._csrf_supported = None
            self._fetch_csrf_token()
            response = self._post_login()
        if response.status_code == 403:
            raise X3UIAuthError(
                "login forbidden (CSRF token or panel domain check)",
                endpoint="POST login",
                status_code=403,
            )
        if response.status_code == 404:
            raise X3UIAuthError(
                "login endpoint not found: check the panel URL and its base path",
                endpoint="POST login",
                status_code=404,
            )
        try:
            self._envelope(response, "POST login")
        except X3UIRejected as exc:
            raise X3UILoginRefused(
                f"login refused: {_one_line(exc.msg) or 'bad credentials'}",
                endpoint="POST login",
                status_code=response.status_code,
                msg=exc.msg,
            ) from None
        self._logged_in = True
        self.login_count += 1

    def _host(self) -> str:
        return requests.utils.urlparse(self.base_url).netloc

    def _has_session_cookie(self) -> bool:
        host = requests.utils.urlparse(self.base_url).hostname or ""
        return any(
            cookie.name in SESSION_COOKIE_NAMES and host.endswith(cookie.domain.lstrip("."))
            for cookie in self.session.cookies
        )

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One HTTP request with our headers and timeout; transport errors become Unavailable.

        Redirects are never followed: a lost session must show up as 3xx/401/404, not as
        the 200 HTML login page a followed redirect would produce.
        """
        headers = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}
        if self._api_token:
            headers["Authorization"] = f"Bearer {self._api_token}"
        elif method not in _SAFE_METHODS and self._csrf_token:
            headers["X-CSRF-Token"] = self._csrf_token
        label = f"{method} {endpoint}"
        self.request_count += 1
        try:
            response = self.session.request(
                method,
                self.base_url + endpoint,
                json=json_body,
                data=form,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            what = "request failed"
            if isinstance(exc, requests.Timeout):  # before ConnectionError: ConnectTimeout is both
                what = "timed out"
            elif isinstance(exc, requests.ConnectionError):
                what = "connection failed"
            raise X3UIUnavailable(
                f"{label}: {what} ({type(exc).__name__})", endpoint=label
            ) from exc
        logger.debug("x3ui %s %s -> %s", self._host(), label, response.status_code)
        return response

    def _post_login(self) -> requests.Response:
        return self._send(
            "POST", "login", form={"username": self.username, "password": self._password}
        )

    def _fetch_csrf_token(self) -> None:
        """``GET {base}csrf-token``: the token on v3.0+, a 404 on older panels."""
        response = self._send("GET", "csrf-token")
        if response.status_code == 404:
            self._csrf_supported = False
            self._csrf_token = None
            return
        obj = self._envelope(response, "GET csrf-token")
        if not isinstance(obj, str) or not obj:
            raise X3UIUnavailable("csrf-token answered without a token", endpoint="GET csrf-token")
        self._csrf_supported = True
        self._csrf_token = obj

    @staticmethod
    def _auth_failed(response: requests.Response) -> bool:
        """401, 403, 404 or any redirect: how each 3x-ui version says "not logged in"."""
        return response.status_code in {401, 403, 404} or 300 <= response.status_code < 400

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Any = None,
        allow_empty: bool = False,
    ) -> Any:
        """Authenticated request returning the envelope's ``obj``; re-logs in once if needed.

        Raises ``_RouteMissing`` for a 404 that a fresh session does not cure; callers that
        are not generation-aware use ``_call_public`` instead.
        """
        label = f"{method} {endpoint}"
        fresh_login = False
        if not self._logged_in:
            self.login()
            fresh_login = True
        if (
            method not in _SAFE_METHODS
            and not self._api_token
            and self._csrf_supported is not False
            and self._csrf_token is None
        ):
            # A session reused from an earlier instance: we have its cookie, not its token.
            self._fetch_csrf_token()
        response = self._send(method, endpoint, json_body=json_body)
        if self._auth_failed(response):
            if self._api_token:
                if response.status_code == 404:
                    raise _RouteMissing(f"{label}: not found", endpoint=label, status_code=404)
                raise X3UIAuthError(
                    f"{label}: API token refused (HTTP {response.status_code})",
                    endpoint=label,
                    status_code=response.status_code,
                    msg=_peek_msg(response),
                )
            if response.status_code == 404 and fresh_login:
                raise _RouteMissing(f"{label}: not found", endpoint=label, status_code=404)
            logger.info(
                "x3ui %s: session not accepted (HTTP %s), logging in again",
                self._host(),
                response.status_code,
            )
            self.login()
            response = self._send(method, endpoint, json_body=json_body)
            if response.status_code == 404:
                raise _RouteMissing(f"{label}: not found", endpoint=label, status_code=404)
            if self._auth_failed(response):
                self._logged_in = False
                raise X3UIAuthError(
                    f"{label}: session could not be restored (HTTP {response.status_code})",
                    endpoint=label,
                    status_code=response.status_code,
                )
        return self._envelope(response, label, allow_empty=allow_empty)

    def _call_public(self, method: str, endpoint: str, *, json_body: Any = None) -> Any:
        """``_call`` for routes every supported version has: a 404 becomes a public error."""
        try:
            return self._call(method, endpoint, json_body=json_body)
        except _RouteMissing as exc:
            raise self._route_error(exc.endpoint) from None

    def _route_error(self, endpoint: str, what: str = "") -> X3UIError:
        """A 404 that logging in did not cure, as a public exception.

        With an API token a 404 is also what an unknown token gets (it falls through to
        the session check), so it is reported as an auth problem.
        """
        subject = what or endpoint
        if self._api_token:
            return X3UIAuthError(
                f"{subject}: HTTP 404 with an API token (token not accepted, or wrong base path)",
                endpoint=endpoint,
                status_code=404,
            )
        return X3UINotFound(
            f"{subject}: HTTP 404 (wrong base path, or a panel version without this API)",
            endpoint=endpoint,
            status_code=404,
        )

    def _envelope(
        self, response: requests.Response, label: str, *, allow_empty: bool = False
    ) -> Any:
        """Unwrap ``{"success","msg","obj"}``; map everything else to our exceptions."""
        status = response.status_code
        if status >= 500 or status in {408, 429}:
            raise X3UIUnavailable(f"{label}: HTTP {status}", endpoint=label, status_code=status)
        if status >= 300:
            raise X3UIRejected(
                f"{label}: HTTP {status}",
                endpoint=label,
                status_code=status,
                msg=_peek_msg(response),
            )
        body = response.content or b""
        if not body.strip():
            if allow_empty:
                return None
            raise X3UIUnavailable(f"{label}: empty body", endpoint=label, status_code=status)
        content_type = response.headers.get("Content-Type", "").lower()
        if "html" in content_type or body.lstrip()[:1] == b"<":
            raise X3UIUnavailable(
                f"{label}: HTML instead of JSON (login page, proxy or wrong URL)",
                endpoint=label,
                status_code=status,
            )
        try:
            data = response.json()
        except ValueError:
            raise X3UIUnavailable(
                f"{label}: body is not JSON", endpoint=label, status_code=status
            ) from None
        if not isinstance(data, dict) or "success" not in data:
            raise X3UIUnavailable(
                f"{label}: not a 3x-ui response envelope", endpoint=label, status_code=status
            )
        if not data.get("success"):
            raise _rejection(as_str(data.get("msg")), label, status)
        return data.get("obj")


def _q(value: str) -> str:
    """Quote one path segment (emails may contain ``@``, ``+`` …)."""
    return quote(value, safe="@")


def _peek_msg(response: requests.Response) -> str:
    """The ``msg`` of a non-200 JSON answer, if it has one (e.g. token scope 403)."""
    try:
        data = response.json()
    except ValueError:
        return ""
    return as_str(data.get("msg")) if isinstance(data, dict) else ""


def _one_line(text: str) -> str:
    """Panel messages end in Go's ``Sprintln`` newline; keep our messages on one line."""
    return " ".join(text.split())


def _rejection(msg: str, label: str, status: int) -> X3UIRejected:
    text = _one_line(msg)
    if is_duplicate_message(msg):
        return X3UIDuplicateClient(
            f"{label}: duplicate client: {text}",
            endpoint=label,
            status_code=status,
            msg=msg,
            emails=duplicate_emails(msg),
        )
    return X3UIRejected(
        f"{label}: panel refused: {text or '(no message)'}",
        endpoint=label,
        status_code=status,
        msg=msg,
    )


def _batch_rejection(
    failures: Mapping[str, str], added: tuple[str, ...], label: str
) -> X3UIRejected:
    """One exception for a partly refused v3 batch; duplicate-only batches stay duplicates."""
    summary = "; ".join(f"{email}: {_one_line(reason)}" for email, reason in failures.items())
    message = f"{label}: {len(failures)} client(s) refused: {summary}"
    if all(is_duplicate_message(reason) for reason in failures.values()):
        return X3UIDuplicateClient(
            message,
            endpoint=label,
            msg=summary,
            emails=tuple(failures),
            failures=failures,
            added=added,
        )
    return X3UIRejected(message, endpoint=label, msg=summary, failures=failures, added=added)
