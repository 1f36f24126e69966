"""The clients API of 3x-ui v3.1+ (``panel/api/clients/*``, by email; docs/x3ui.md).

A client is one record shared by every inbound it is attached to, so writes carry our
inbound (``inboundIds``); ``bulkCreate`` is used where the panel has it (v3.4.2+).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .exceptions import X3UIRejected
from .transport import PanelTransport, _batch_rejection, _q, _RouteMissing
from .types import PanelClient, as_str


class ClientsAPI(PanelTransport):
    """Writes of the v3.1+ clients API; ``X3UIClient`` picks them on those panels."""

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
