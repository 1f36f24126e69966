"""A pure HTTP client for one inbound on one 3x-ui panel (no ORM).

It hides the two incompatible client APIs (legacy ≤ v3.0.2, the clients API of v3.1+;
docs/x3ui.md) behind one set of methods, logs in with or without CSRF (v3.0+ vs older),
and turns every way a panel can fail into one of our exceptions (``exceptions.py``).

Request budget, because reconciliation runs against every node on a schedule:

- ``list_clients()`` is one request in both generations (``inbounds/list``, the only legacy
  route whose inbounds carry ``clientStats``, or ``/clients/list`` with embedded traffic).
  On a client built with ``generation=None`` the detection probe doubles as the listing,
  so detection costs nothing on v3 and one request on legacy panels.
- ``find_client()`` (one request) reads the panel's own record back; it settles a write
  whose answer was a refusal or came too late.
- Authentication: an API token costs nothing; a password login costs one request on panels
  without CSRF and two (``csrf-token`` + ``login``) on v3.0+. A new instance built with
  ``auth_state=`` from an earlier one's ``auth_state()`` (or with a long-lived
  ``requests.Session`` holding the panel cookie) skips the login entirely; an expired
  session costs one failed request and a normal login.
- ``request_count`` counts every HTTP request this instance made, logins included.

An instance is not thread-safe (it owns a cookie jar and a CSRF token); use one per task.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import quote

import requests

from .exceptions import (
    X3UIAuthError,
    X3UIDuplicateClient,
    X3UIError,
    X3UIForeignClient,
    X3UIInboundNotFound,
    X3UILoginRefused,
    X3UINotFound,
    X3UIRejected,
    X3UIUnavailable,
)
from .types import (
    GENERATION_LEGACY,
    GENERATION_V3,
    GENERATIONS,
    Generation,
    Inbound,
    PanelClient,
    ServerStatus,
    as_str,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


class X3UIClient:
    """Client for the clients of one inbound on one 3x-ui panel.

    ``base_url`` includes the panel's ``webBasePath`` (``https://h:2053/Abc123/``). Give
    either ``username``/``password`` or ``api_token`` (v3.0+; skips login and CSRF).
    ``generation`` is the value of ``generation`` from an earlier instance, so the caller
    can persist it and skip detection; ``None``/``"unknown"`` means detect on first use.
    ``timeout`` is the ``(connect, read)`` pair handed to every request.
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
        auth_state: Mapping[str, Any] | None = None,
        login_format: str = "form",
        two_factor_code: str = "",
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if login_format not in {"form", "json"}:
            raise ValueError("login_format must be 'form' or 'json'")
        self.base_url = base_url.rstrip("/") + "/"
        self.inbound_id = int(inbound_id)
        self.username = username
        self._password = password
        self._api_token = api_token
        self._two_factor_code = two_factor_code
        self.login_format = login_format
        self.timeout: tuple[float, float] = (
            (float(timeout), float(timeout))
            if isinstance(timeout, int | float)
            else (float(timeout[0]), float(timeout[1]))
        )
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
        if auth_state:
            self._restore_auth_state(auth_state)
        self._logged_in = bool(api_token) or self._has_session_cookie()

    def __repr__(self) -> str:
        auth = "token" if self._api_token else f"user={self.username!r}"
        return (
            f"X3UIClient({self.base_url!r}, inbound_id={self.inbound_id}, {auth}, "
            f"generation={self.generation!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session if this instance created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> X3UIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def auth_state(self) -> dict[str, Any]:
        """The panel session (cookies + CSRF token) to cache and pass back as ``auth_state=``.

        Reusing it lets the next instance skip ``csrf-token`` + ``login``, so an in-sync
        reconciliation costs one request. It is a credential: keep it in a cache, never in
        logs. A stale state is harmless (one 401, then a normal login).
        """
        cookies = [
            {
                "name": c.name,
                "value": c.value,
                "domain": c.domain,
                "path": c.path,
                "expires": c.expires,
            }
            for c in self.session.cookies
            if c.name in SESSION_COOKIE_NAMES
        ]
        return {
            "cookies": cookies,
            "csrf_token": self._csrf_token,
            "csrf_supported": self._csrf_supported,
        }

    def _restore_auth_state(self, state: Mapping[str, Any]) -> None:
        for item in state.get("cookies") or []:
            self.session.cookies.set_cookie(
                requests.cookies.create_cookie(
                    item["name"],
                    item["value"],
                    domain=item.get("domain", ""),
                    path=item.get("path", "/"),
                    expires=item.get("expires"),
                )
            )
        self._csrf_token = state.get("csrf_token") or None
        supported = state.get("csrf_supported")
        self._csrf_supported = supported if isinstance(supported, bool) else None

    # -- public operations -----------------------------------------------------------------

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

    def detect_generation(self, *, force: bool = False) -> Generation:
        """Which client API the panel has, probing only when unknown (or ``force``)."""
        if self.generation is not None and not force:
            return self.generation
        generation, _payload = self._probe_generation()
        return generation

    def list_clients(self) -> list[PanelClient]:
        """Every client of our inbound with its traffic, in one request when possible."""
        if self.generation is None:
            generation, payload = self._probe_generation()
            return self._parse_listing(generation, payload)
        return self._dispatch(
            legacy=lambda: self._parse_listing(GENERATION_LEGACY, self._call("GET", _LEGACY_LIST)),
            v3=lambda: self._parse_listing(
                GENERATION_V3, self._call("GET", "panel/api/clients/list")
            ),
        )

    def get_client(self, email: str) -> PanelClient | None:
        """One client of our inbound by email (case-insensitive, as v3.0+ compare), or None."""
        wanted = email.casefold()
        for client in self.list_clients():
            if client.email.casefold() == wanted:
                return client
        return None

    def find_client(self, email: str) -> PanelClient | None:
        """The panel's client with this email on *any* inbound, with ``inbound_ids``; or None.

        What a write's refusal or a late answer is settled with: the panel's own record,
        read back (one request in both generations). Legacy panels compare emails exactly
        (v2.x) or case-insensitively (v3.0); both are matched case-insensitively here and
        the first inbound that has it wins.
        """

        def legacy() -> PanelClient | None:
            wanted = email.casefold()
            found: PanelClient | None = None
            where: list[int] = []
            for inbound in self._legacy_inbounds(self._call("GET", _LEGACY_LIST)):
                for client in inbound.clients:
                    if client.email.casefold() == wanted:
                        found = found or client
                        where.append(inbound.id)
            if found is None:
                return None
            return PanelClient(**{**found.__dict__, "inbound_ids": tuple(where)})

        def v3() -> PanelClient | None:
            label = f"GET panel/api/clients/get/{_q(email)}"
            try:
                obj = self._call("GET", f"panel/api/clients/get/{_q(email)}")
            except X3UIRejected as exc:
                if isinstance(exc, _RouteMissing):
                    raise
                return None  # "Obtain (record not found)"
            if not isinstance(obj, Mapping) or not isinstance(obj.get("client"), Mapping):
                raise X3UIUnavailable("unexpected client record shape", endpoint=label)
            record = dict(obj["client"])
            record["inboundIds"] = obj.get("inboundIds")
            if isinstance(obj.get("traffic"), Mapping):
                record.setdefault("traffic", obj["traffic"])
            return PanelClient.from_panel(record)

        return self._dispatch(legacy=legacy, v3=v3)

    def add_client(self, client: PanelClient) -> None:
        """Add one client; ``X3UIDuplicateClient`` if its email exists (update instead)."""
        self.add_clients([client])

    def add_clients(self, clients: Iterable[PanelClient]) -> None:
        """Add clients in as few requests as the panel allows.

        Legacy: one ``addClient`` with every client; the panel checks them all first, so a
        duplicate refuses the whole batch. v3: one ``bulkCreate`` where the panel has it
        (per-client ``add`` otherwise); refusals are per client, and the raised
        ``X3UIRejected``/``X3UIDuplicateClient`` lists them in ``failures`` and the clients
        that did go in as ``added``. v3 forces ``enable=true`` on create, so clients meant
        to be disabled are updated right after (one extra request each).
        """
        batch = list(clients)
        if not batch:
            return
        self._dispatch(
            legacy=lambda: self._legacy_add(batch),
            v3=lambda: self._v3_add(batch),
        )

    def update_client(self, client: PanelClient) -> None:
        """Replace a client's settings (3x-ui updates replace, never patch).

        Legacy panels key the client by ``client.id`` (UUID), v3 by ``client.email``; both
        must be set. Renaming an email is not supported.
        """
        if not client.id or not client.email:
            raise ValueError("update_client needs both id and email")
        self._dispatch(
            legacy=lambda: self._legacy_update(client),
            v3=lambda: self._v3_update(client),
        )

    def delete_client(self, *, email: str = "", client_id: str = "") -> bool:
        """Remove a client from our inbound; give its email, its UUID, or (best) both.

        Returns True when this call removed it and False when the panel no longer has it
        (a retry after a delete whose answer came too late). Nothing else is touched:

        - legacy panels delete by UUID inside our inbound; a refusal is settled by reading
          the inbound back (gone: False). They refuse to delete an inbound's last client
          (``X3UIRejected``): a caller that must revoke the key disables it instead.
        - v3.1+ panels delete by email from *every* inbound it is attached to, so the
          record is read first: with both keys given, a client with another UUID is not
          ours (``X3UIForeignClient``); one also attached elsewhere is only detached.
        """
        if not email and not client_id:
            raise ValueError("delete_client needs email or client_id")

        def listed() -> PanelClient | None:
            return next(
                (
                    c
                    for c in self.list_clients()
                    if (client_id and c.id == client_id)
                    or (not client_id and c.email.casefold() == email.casefold())
                ),
                None,
            )

        def legacy() -> bool:
            uuid = client_id
            if not uuid:
                found = listed()
                if found is None:
                    return False
                uuid = found.id
            path = f"panel/api/inbounds/{self.inbound_id}/delClient/{_q(uuid)}"
            try:
                self._call("POST", path, allow_empty=True)
            except X3UIRejected as exc:
                if isinstance(exc, _RouteMissing):
                    raise
                if any(c.id == uuid for c in self.list_clients()):
                    raise
                return False
            return True

        def v3() -> bool:
            key = email
            if not key:
                found = listed()
                if found is None:
                    return False
                key = found.email
            record = self.find_client(key)
            if record is None or (
                record.inbound_ids is not None and self.inbound_id not in record.inbound_ids
            ):
                return False
            if client_id and record.id != client_id:
                raise X3UIForeignClient(
                    f"client {key} on this panel has another UUID: not ours, left alone",
                    endpoint=f"GET panel/api/clients/get/{_q(key)}",
                )
            if any(i != self.inbound_id for i in record.inbound_ids or ()):
                self._call(
                    "POST",
                    f"panel/api/clients/{_q(key)}/detach",
                    json_body={"inboundIds": [self.inbound_id]},
                    allow_empty=True,
                )
            else:
                self._call("POST", f"panel/api/clients/del/{_q(key)}", allow_empty=True)
            return True

        return self._dispatch(legacy=legacy, v3=v3)

    def get_inbound(self) -> Inbound:
        """Our inbound: port, protocol, parsed settings/streamSettings (for links), clients.

        A refusal ("Obtain (record not found)") means the panel user does not see our inbound:
        ``X3UIInboundNotFound``.
        """
        try:
            obj = self._call_public("GET", self._inbound_path())
        except X3UIRejected as exc:
            if exc.status_code == 404:
                raise
            raise X3UIInboundNotFound(
                f"inbound {self.inbound_id} not found: {_one_line(exc.msg)}",
                endpoint=exc.endpoint,
                status_code=exc.status_code,
                msg=exc.msg,
            ) from None
        return self._parse_inbound(obj)

    def server_status(self) -> ServerStatus:
        """Panel and Xray health (``POST server/status`` on panels ≤ v2.6)."""
        try:
            obj = self._call("GET", "panel/api/server/status")
        except _RouteMissing:
            obj = self._call_public("POST", "server/status")
        return ServerStatus.from_panel(obj)

    # -- generation dispatch ---------------------------------------------------------------

    def _dispatch(self, *, legacy: Callable[[], T], v3: Callable[[], T]) -> T:
        """Run the operation for the known generation; re-detect once if its route is gone.

        A panel upgraded from ≤ v3.0.2 to v3.1+ answers 404 on the legacy client routes
        (they were removed, not redirected), and the reverse on a downgrade.
        """
        generation = self.detect_generation()
        try:
            return (v3 if generation == GENERATION_V3 else legacy)()
        except _RouteMissing as exc:
            detected = self.detect_generation(force=True)
            if detected == generation:
                raise self._route_error(exc.endpoint) from None
            logger.info(
                "x3ui panel %s changed API generation: %s -> %s",
                self._host(),
                generation,
                detected,
            )
            try:
                return (v3 if detected == GENERATION_V3 else legacy)()
            except _RouteMissing as again:
                raise self._route_error(again.endpoint) from None

    def _probe_generation(self) -> tuple[Generation, Any]:
        """Detect the API and return the probe's payload, which is also the client listing.

        ``GET panel/api/clients/list`` answering JSON means v3.1+; a 404 means the legacy
        API, confirmed (and listed) with ``GET panel/api/inbounds/get/{id}``.
        """
        try:
            payload = self._call("GET", "panel/api/clients/list")
        except _RouteMissing:
            pass
        else:
            self.generation = GENERATION_V3
            return GENERATION_V3, payload
        try:
            payload = self._call("GET", _LEGACY_LIST)
        except _RouteMissing as exc:
            raise self._route_error(exc.endpoint, what="neither client API") from None
        self.generation = GENERATION_LEGACY
        return GENERATION_LEGACY, payload

    # -- per-generation implementations ----------------------------------------------------

    def _legacy_settings(self, clients: list[PanelClient]) -> dict[str, Any]:
        """The legacy write body: ``settings`` is a JSON *string* inside the JSON body."""
        return {
            "id": self.inbound_id,
            "settings": json.dumps({"clients": [c.to_panel() for c in clients]}),
        }

    def _legacy_add(self, batch: list[PanelClient]) -> None:
        # allow_empty: 3x-ui #3052, a successful addClient sometimes answers 200 with no body.
        self._call(
            "POST",
            "panel/api/inbounds/addClient",
            json_body=self._legacy_settings(batch),
            allow_empty=True,
        )

    def _legacy_update(self, client: PanelClient) -> None:
        self._call(
            "POST",
            f"panel/api/inbounds/updateClient/{_q(client.id)}",
            json_body=self._legacy_settings([client]),
            allow_empty=True,
        )

    def _v3_update(self, client: PanelClient) -> None:
        # ?inboundIds= keeps the update on our inbound: without it the panel rewrites the
        # client on every inbound the email is attached to.
        self._call(
            "POST",
            f"panel/api/clients/update/{_q(client.email)}?inboundIds={self.inbound_id}",
            json_body=client.to_panel(),
            allow_empty=True,
        )

    def _v3_add(self, batch: list[PanelClient]) -> None:
        payloads = [{"client": c.to_panel(), "inboundIds": [self.inbound_id]} for c in batch]
        failures: dict[str, str] = {}
        if len(batch) == 1:
            self._call("POST", "panel/api/clients/add", json_body=payloads[0], allow_empty=True)
        elif self._v3_bulk_supported is not False:
            try:
                obj = self._call("POST", "panel/api/clients/bulkCreate", json_body=payloads)
            except _RouteMissing:
                self._v3_bulk_supported = False
                failures = self._v3_add_each(batch, payloads)
            else:
                self._v3_bulk_supported = True
                skipped = (obj or {}).get("skipped") if isinstance(obj, Mapping) else None
                for row in skipped or []:
                    if isinstance(row, Mapping):
                        failures[as_str(row.get("email"))] = as_str(row.get("reason"))
        else:
            failures = self._v3_add_each(batch, payloads)
        failed = {email.casefold() for email in failures}
        added = [c for c in batch if c.email.casefold() not in failed]
        for client in added:
            if not client.enable:
                self._v3_update(client)
        if failures:
            raise _batch_rejection(
                failures, tuple(c.email for c in added), "POST panel/api/clients/bulkCreate"
            )

    def _v3_add_each(
        self, batch: list[PanelClient], payloads: list[dict[str, Any]]
    ) -> dict[str, str]:
        """Per-client ``add`` for v3 panels without ``bulkCreate``; collects refusals."""
        failures: dict[str, str] = {}
        for client, payload in zip(batch, payloads, strict=True):
            try:
                self._call("POST", "panel/api/clients/add", json_body=payload, allow_empty=True)
            except X3UIRejected as exc:
                if isinstance(exc, _RouteMissing):
                    raise
                failures[client.email] = exc.msg or exc.message
        return failures

    # -- parsing ---------------------------------------------------------------------------

    def _legacy_inbounds(self, payload: Any) -> list[Inbound]:
        """``GET panel/api/inbounds/list``: every inbound, each with its ``clientStats``."""
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise X3UIUnavailable("unexpected inbound list shape", endpoint=f"GET {_LEGACY_LIST}")
        inbounds = []
        for row in payload:
            if not isinstance(row, Mapping):
                continue
            try:
                inbounds.append(Inbound.from_panel(row))
            except ValueError as exc:
                raise X3UIUnavailable(
                    f"inbound has malformed JSON settings ({exc})", endpoint=f"GET {_LEGACY_LIST}"
                ) from None
        return inbounds

    def _parse_listing(self, generation: Generation, payload: Any) -> list[PanelClient]:
        if generation == GENERATION_LEGACY:
            # The list, not get/{id}: only GetInbounds preloads ClientStats, so get/{id}
            # reports no traffic on v2.x/v3.0 (docs/x3ui.md "Traffic").
            for inbound in self._legacy_inbounds(payload):
                if inbound.id == self.inbound_id:
                    return list(inbound.clients)
            raise X3UIInboundNotFound(
                f"inbound {self.inbound_id} not found", endpoint=f"GET {_LEGACY_LIST}"
            )
        if payload is None:  # obj: null is how Go encodes an empty slice
            return []
        if not isinstance(payload, list):
            raise X3UIUnavailable(
                "unexpected client list shape", endpoint="GET panel/api/clients/list"
            )
        clients = []
        for row in payload:
            if not isinstance(row, Mapping):
                continue
            client = PanelClient.from_panel(row)
            # A record attached to no inbound ("inboundIds": null) is on none of them.
            if client.inbound_ids is not None and self.inbound_id not in client.inbound_ids:
                continue
            clients.append(client)
        return clients

    def _parse_inbound(self, payload: Any) -> Inbound:
        endpoint = f"GET {self._inbound_path()}"
        if payload is None:
            raise X3UIInboundNotFound(f"inbound {self.inbound_id} not found", endpoint=endpoint)
        if not isinstance(payload, Mapping):
            raise X3UIUnavailable("unexpected inbound shape", endpoint=endpoint)
        try:
            return Inbound.from_panel(payload)
        except ValueError as exc:
            raise X3UIUnavailable(
                f"inbound has malformed JSON settings ({exc})", endpoint=endpoint
            ) from None

    # -- HTTP ------------------------------------------------------------------------------

    def _inbound_path(self) -> str:
        return f"panel/api/inbounds/get/{self.inbound_id}"

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
        except requests.Timeout as exc:
            raise X3UIUnavailable(
                f"{label}: timed out ({type(exc).__name__})", endpoint=label
            ) from exc
        except requests.ConnectionError as exc:
            raise X3UIUnavailable(
                f"{label}: connection failed ({type(exc).__name__})", endpoint=label
            ) from exc
        except requests.RequestException as exc:
            raise X3UIUnavailable(
                f"{label}: request failed ({type(exc).__name__})", endpoint=label
            ) from exc
        logger.debug("x3ui %s %s -> %s", self._host(), label, response.status_code)
        return response

    def _post_login(self) -> requests.Response:
        fields = {"username": self.username, "password": self._password}
        if self._two_factor_code:
            fields["twoFactorCode"] = self._two_factor_code
        if self.login_format == "json":
            return self._send("POST", "login", json_body=fields)
        return self._send("POST", "login", form=fields)

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


_LEGACY_LIST: Final = "panel/api/inbounds/list"


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
