"""vless:// links and the subscription endpoint (``/sub/{subId}``), the v3 ``links`` and
``subLinks`` routes, and the routes both generations share: inbounds, traffic, onlines,
server status."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from .gojson import go_bool, go_error
from .messages import MSG_OBTAIN, MSG_TRAFFIC
from .wire import Request, Response


class LinksMixin:
    """Links, subscription and shared read routes (part of ``X3UISimulator``)."""

    def _h_v3_links(self, request: Request, email: str) -> Response:
        record = self._find_record(email)
        if record is None:
            return self._err(request, "record not found", MSG_OBTAIN)
        links = []
        for inbound_id in record["inboundIds"]:
            inbound = self._get_inbound(inbound_id)
            for entry in self._entries(inbound, email) if inbound else []:
                links.append(self.vless_link(entry, request.host, inbound))
        return self._ok(links)

    def _h_v3_sub_links(self, request: Request, sub_id: str) -> Response:
        return self._ok([self.vless_link(c, request.host, i) for i, c in self._by_sub(sub_id)])

    # -- shared routes ---------------------------------------------------------------------

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

    # -- subscription ----------------------------------------------------------------------

    def vless_link(
        self, client: Mapping[str, Any], host: str, inbound: Mapping[str, Any] | None = None
    ) -> str:
        """The subscription engine's vless:// link (3x-ui's sub/subService.go), deterministic.

        Where the panel picks a random ``serverNames``/``shortIds`` entry this takes the
        first; ``spx`` uses the v3.5+ deterministic hash. ``inbound`` defaults to the first.
        """
        inbound = inbound if inbound is not None else self._inbound
        stream = inbound["streamSettings"]
        network = stream.get("network", "tcp")
        security = stream.get("security", "none")
        params: dict[str, str] = {"type": network}
        if "encryption" in inbound["settings"]:
            params["encryption"] = str(inbound["settings"]["encryption"])
        if network == "tcp":
            header = (stream.get("tcpSettings") or {}).get("header") or {}
            if header.get("type") == "http":
                req = header.get("request") or {}
                params["path"] = (req.get("path") or ["/"])[0]
                params["host"] = ",".join((req.get("headers") or {}).get("Host") or [])
                params["headerType"] = "http"
        elif network in {"ws", "httpupgrade"}:
            ws = stream.get(f"{network}Settings") or {}
            params["path"] = ws.get("path", "/")
            params["host"] = ws.get("host") or (ws.get("headers") or {}).get("Host", "")
        elif network == "grpc":
            grpc = stream.get("grpcSettings") or {}
            params["serviceName"] = grpc.get("serviceName", "")
            params["authority"] = grpc.get("authority", "")
            if grpc.get("multiMode"):
                params["mode"] = "multi"
        if security == "reality":
            reality = stream.get("realitySettings") or {}
            inner = reality.get("settings") or {}
            params["security"] = "reality"
            params["pbk"] = inner.get("publicKey", "")
            params["fp"] = inner.get("fingerprint", "")
            params["sni"] = (reality.get("serverNames") or [""])[0]
            params["sid"] = (reality.get("shortIds") or [""])[0]
            seed = f"{inner.get('spiderX', '')}|{client.get('subId') or client.get('email')}"
            params["spx"] = "/" + hashlib.sha256(seed.encode()).hexdigest()[:15]
            if inner.get("mldsa65Verify"):
                params["pqv"] = inner["mldsa65Verify"]
        elif security == "tls":
            tls = stream.get("tlsSettings") or {}
            params["security"] = "tls"
            if tls.get("alpn"):
                params["alpn"] = ",".join(tls["alpn"])
            if tls.get("serverName"):
                params["sni"] = tls["serverName"]
            fingerprint = (tls.get("settings") or {}).get("fingerprint")
            if fingerprint:
                params["fp"] = fingerprint
        else:
            params["security"] = "none"
        flow = str(client.get("flow") or "")
        if flow and network == "tcp" and security in {"tls", "reality"}:
            params["flow"] = flow
        query = urlencode(sorted(params.items()), quote_via=quote_plus)
        remark = f"{inbound.get('remark', '')}-{client.get('email', '')}"
        if self.generation == "v3":  # v3.2+: QueryEscape with %20 for spaces
            fragment = quote_plus(remark).replace("+", "%20")
        else:  # Go url.URL.String()
            fragment = quote(remark, safe="@:/,;=+!()*$&'~")
        listen = str(inbound.get("listen") or "")
        address = listen if listen not in {"", "0.0.0.0", "::", "::0"} else host  # noqa: S104
        return f"vless://{client.get('id')}@{address}:{inbound['port']}?{query}#{fragment}"

    def _by_sub(self, sub_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(inbound, settings entry) pairs with this subId, over every inbound."""
        return [
            (inbound, client)
            for inbound in self._inbounds
            for client in inbound["settings"]["clients"]
            if sub_id and client.get("subId") == sub_id
        ]

    def _h_sub(self, request: Request, sub_id: str) -> Response:
        if request.method != "GET":
            return Response(404)
        pairs = [
            (inbound, client)
            for inbound, client in self._by_sub(sub_id)
            if inbound.get("enable", True) and (client.get("enable") or not self.spec.is_v2)
        ]
        if not pairs:
            if self.generation == "v3":
                return Response(404)
            return Response(400, b"Error!", [("Content-Type", "text/plain; charset=utf-8")])
        text = "".join(self.vless_link(c, request.host, i) + "\n" for i, c in pairs)
        emails = list(dict.fromkeys(str(c.get("email")) for _i, c in pairs))
        rows = [self._traffic_row(e) or {} for e in emails]
        totals = [int(c.get("totalGB") or 0) for _i, c in pairs]
        expiries = {int(c.get("expiryTime") or 0) for _i, c in pairs}
        expire = next(iter(expiries)) if len(expiries) == 1 else 0
        userinfo = (
            f"upload={sum(int(r.get('up', 0)) for r in rows)}; "
            f"download={sum(int(r.get('down', 0)) for r in rows)}; "
            f"total={0 if 0 in totals else sum(totals)}; "
            f"expire={max(expire, 0) // 1000}"
        )
        return Response(
            200,
            base64.b64encode(text.encode()),
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Subscription-Userinfo", userinfo),
                ("Profile-Update-Interval", "12"),
            ],
        )
