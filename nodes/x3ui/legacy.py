"""The legacy client API (``panel/api/inbounds/*``, up to v3.0.2; docs/x3ui.md).

Clients live inside the inbound's ``settings`` JSON; writes send that JSON as a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .exceptions import X3UIUnavailable
from .transport import PanelTransport, _q
from .types import Inbound, PanelClient

# The only legacy route whose inbounds carry their clients' traffic (docs/x3ui.md "Traffic").
_LEGACY_LIST: Final = "panel/api/inbounds/list"


def inbound_parse(row: Mapping[str, Any], endpoint: str) -> Inbound:
    """``Inbound.from_panel``, with a malformed JSON column reported as ``X3UIUnavailable``."""
    try:
        return Inbound.from_panel(row)
    except ValueError as exc:
        raise X3UIUnavailable(
            f"inbound has malformed JSON settings ({exc})", endpoint=endpoint
        ) from None


class LegacyInboundsAPI(PanelTransport):
    """Writes and listings of the legacy API; ``X3UIClient`` picks them on panels ≤ v3.0.2."""

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

    def _legacy_inbounds(self, payload: Any) -> list[Inbound]:
        """``GET panel/api/inbounds/list``: every inbound, each with its ``clientStats``."""
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise X3UIUnavailable("unexpected inbound list shape", endpoint=f"GET {_LEGACY_LIST}")
        return [
            inbound_parse(row, f"GET {_LEGACY_LIST}") for row in payload if isinstance(row, Mapping)
        ]
