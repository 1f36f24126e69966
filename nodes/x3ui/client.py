"""A pure HTTP client for one inbound on one 3x-ui panel (no ORM).

It hides the two incompatible client APIs (legacy ≤ v3.0.2, the clients API of v3.1+;
docs/x3ui.md) behind one set of methods.

Request budget, because reconciliation runs against every node on a schedule:

- ``list_clients()`` is one request in both generations (``inbounds/list``, the only legacy
  route whose inbounds carry ``clientStats``, or ``/clients/list`` with embedded traffic).
  On a client built with ``generation=None`` the detection probe doubles as the listing,
  so detection costs nothing on v3 and one request on legacy panels.
- ``find_client()`` (one request) reads the panel's own record back; it settles a write
  whose answer was a refusal or came too late.
- Authentication: an API token costs nothing; a password login costs one request on panels
  without CSRF and two (``csrf-token`` + ``login``) on v3.0+. A ``requests.Session`` that
  holds the panel cookie skips the login; an expired session costs one failed request and
  a normal login.

The HTTP half (session, login, envelope) is ``transport.py``; the two client APIs are
``legacy.py`` and ``clients_api.py``. An instance is not thread-safe (it owns a cookie jar
and a CSRF token); use one per task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .clients_api import ClientsAPI
from .exceptions import (
    X3UIForeignClient,
    X3UIInboundNotFound,
    X3UIRejected,
    X3UIUnavailable,
)
from .legacy import _LEGACY_LIST, LegacyInboundsAPI, inbound_parse
from .transport import _one_line, _q, _RouteMissing
from .types import (
    GENERATION_LEGACY,
    GENERATION_V3,
    Generation,
    Inbound,
    PanelClient,
    ServerStatus,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class X3UIClient(LegacyInboundsAPI, ClientsAPI):
    """Client for the clients of one inbound on one 3x-ui panel.

    ``base_url`` includes the panel's ``webBasePath`` (``https://h:2053/Abc123/``). Give
    either ``username``/``password`` or ``api_token`` (v3.0+; skips login and CSRF).
    ``generation`` is the value of ``generation`` from an earlier instance, so the caller
    can persist it and skip detection; ``None``/``"unknown"`` means detect on first use.
    ``timeout`` is the ``(connect, read)`` pair handed to every request.
    """

    def __repr__(self) -> str:
        auth = "token" if self._api_token else f"user={self.username!r}"
        return (
            f"X3UIClient({self.base_url!r}, inbound_id={self.inbound_id}, {auth}, "
            f"generation={self.generation!r})"
        )

    # -- public operations -----------------------------------------------------------------

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

    def reset_client_traffic(self, email: str) -> bool:
        """Zero the panel's upload/download counters of one client (a scheduled reset).

        True when the panel reset them; False when it has no client with this email (nothing
        to reset). One request, and one more to settle a refusal:

        - legacy: ``POST panel/api/inbounds/{inbound}/resetClientTraffic/{email}``
          (v2.8.3 web/controller/inbound.go:44,262-279; v3.0.2 :81,426-443). The panel
          finds the client's traffic row by exact email, sets up=down=0 and enable=true
          on it (v2.8.3 web/service/inbound.go:1731-1800; v3.0.2 :2836-2928, which also
          stamps the inbound's ``lastTrafficResetTime``).
        - v3.1+: ``POST panel/api/clients/resetTraffic/{email}`` (v3.1.0 web/controller/
          client.go:48,219-231; v3.4.2 internal/web/controller/client.go:74,456-468), the
          same reset on every inbound the record is attached to (v3.1.0 web/service/
          client.go:773-801). From v3.3.1 a disabled client is also *enabled*
          (v3.4.2 internal/web/service/client_traffic.go:16-57): the caller pushes its
          own desired state after a reset.

        The panel answers an unknown email with ``success: false`` and an English Go error
        inside a translated message ("Inbound Not Found For Email", "record not found");
        rather than parse it, a refusal is settled by reading the client back.
        """
        if not email:
            raise ValueError("reset_client_traffic needs an email")

        def send(path: str) -> bool:
            try:
                self._call("POST", path, allow_empty=True)
            except X3UIRejected as exc:
                if isinstance(exc, _RouteMissing) or exc.status_code == 404:
                    raise
                if self.find_client(email) is None:
                    return False
                raise
            return True

        return self._dispatch(
            legacy=lambda: send(
                f"panel/api/inbounds/{self.inbound_id}/resetClientTraffic/{_q(email)}"
            ),
            v3=lambda: send(f"panel/api/clients/resetTraffic/{_q(email)}"),
        )

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

    def list_inbounds(self) -> list[Inbound]:
        """Every inbound the panel user sees (``GET panel/api/inbounds/list``, a route of
        every supported version: 3x-ui web/controller/inbound.go ``getInbounds``), for an
        operator to pick ours from."""
        return self._legacy_inbounds(self._call_public("GET", _LEGACY_LIST))

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

    # -- parsing ---------------------------------------------------------------------------

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
        return inbound_parse(payload, endpoint)

    # -- paths ---------------------------------------------------------------------------

    def _inbound_path(self) -> str:
        return f"panel/api/inbounds/get/{self.inbound_id}"
