"""The read routes both generations share: inbounds, traffic, onlines, server status."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from .gojson import go_bool, go_error
from .messages import MSG_OBTAIN, MSG_TRAFFIC
from .wire import Request, Response


class SharedRoutesMixin:
    """Read routes of both client APIs (part of ``X3UISimulator``)."""

    def _h_traffic(self, request: Request, email: str) -> Response:
        """``GetClientTrafficByEmail`` (v3.0.2 web/service/inbound.go:2440-2476,3359-3372;
        the same in v3.6.0 internal/web/service/inbound_clients.go:449-470): the row by
        exact email, then its inbound's settings by exact email."""
        row = self._traffic.get(email)
        inbound = self._get_inbound(row["inboundId"]) if row is not None else None
        if row is not None and inbound is None:
            return self._err(request, "record not found", MSG_TRAFFIC)
        if row is None:
            return self._err(request, go_error("Inbound Not Found For Email:", email), MSG_TRAFFIC)
        entry = next((c for c in inbound["settings"]["clients"] if c.get("email") == email), None)
        if entry is None:
            problem = go_error("Client Not Found In Inbound For Email:", email)
            return self._err(request, problem, MSG_TRAFFIC)
        out = {**row, "uuid": str(entry.get("id") or ""), "subId": str(entry.get("subId") or "")}
        if self.spec.is_v2:  # v2.8.3 :1982 t.Enable = client.Enable
            out["enable"] = go_bool(entry.get("enable"))
        return self._ok(out)

    def _h_onlines(self, request: Request) -> Response:
        return self._ok(None)  # Go's nil slice when nobody is online

    def _client_stats(self, inbound: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Preloaded ``ClientStats`` (rows whose inboundId is this inbound), enriched from
        v3.0.2 (web/service/inbound.go:48-121): uuid/subId filled from settings by
        lower-cased email, and rows owned by a sibling inbound appended."""
        inbound_id = int(inbound["id"])
        rows = [dict(r) for r in self._traffic.values() if r["inboundId"] == inbound_id]
        if not self.spec.list_enriches:
            return sorted(rows, key=lambda r: r["id"])  # v2.8.3: uuid/subId stay ""
        have = {r["email"].lower() for r in rows}
        by_email = {}
        for entry in inbound["settings"]["clients"]:
            key = str(entry.get("email") or "").lower()
            by_email.setdefault(key, entry)
            if key and key not in have:
                sibling = self._traffic_row(str(entry.get("email")))
                if sibling is not None:
                    rows.append(dict(sibling))
                    have.add(key)
        for row in rows:
            entry = by_email.get(row["email"].lower())
            if entry is not None:
                row["uuid"] = str(entry.get("id") or "")
                row["subId"] = str(entry.get("subId") or "")
        return sorted(rows, key=lambda r: r["id"])

    def _inbound_out(self, inbound: Mapping[str, Any], *, stats: bool) -> dict[str, Any]:
        """The inbound as the API returns it: JSON columns as strings ≤ v3.0.2."""
        out = copy.deepcopy(dict(inbound))
        out["clientStats"] = self._client_stats(inbound) if stats else None
        if self.generation == "legacy":
            for key in ("settings", "streamSettings", "sniffing"):
                out[key] = json.dumps(out[key], indent=2, ensure_ascii=False)
        return out

    def _h_inbound_list(self, request: Request) -> Response:
        """``GetInbounds`` preloads ClientStats in every version (v2.8.3 web/service/
        inbound.go:31-39; v3.1.0 :126-135; v3.6.0 internal/web/service/inbound.go:164-171)."""
        return self._ok([self._inbound_out(i, stats=True) for i in self._inbounds])

    def _h_inbound_get(self, request: Request, inbound_id: str) -> Response:
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found", MSG_OBTAIN)
        return self._ok(self._inbound_out(inbound, stats=self.spec.get_preloads_stats))

    def _h_status(self, request: Request) -> Response:
        clients = sum(len(i["settings"]["clients"]) for i in self._inbounds)
        status: dict[str, Any] = {
            "cpu": 3.5,
            "cpuCores": 2,
            "logicalPro": 2,
            "cpuSpeedMhz": 2400,
            "mem": {"current": 512 * 1024 * 1024, "total": 2048 * 1024 * 1024},
            "swap": {"current": 0, "total": 0},
            "disk": {"current": 5 * 1024**3, "total": 20 * 1024**3},
            "xray": {"state": "running", "errorMsg": "", "version": "25.10.15"},
            "uptime": int(time.time() - self._started_at),
            "loads": [0.1, 0.1, 0.05],
            "tcpCount": clients,
            "udpCount": 0,
            "netIO": {"up": 0, "down": 0},
            "netTraffic": {"sent": 0, "recv": 0},
            "publicIP": {"ipv4": self.host, "ipv6": ""},
            "appStats": {"threads": threading.active_count(), "mem": 0, "uptime": 0},
        }
        if self.generation == "v3":
            status["panelVersion"] = self.version
        return self._ok(status)
