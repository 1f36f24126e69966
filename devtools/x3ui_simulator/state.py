"""The panel's storage: inbounds with their ``settings.clients``, ``client_traffics`` rows,
the v3 ``clients`` table, the simulated clock and the JSON state file."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from .gojson import go_bool, go_int

DEFAULT_STREAM_SETTINGS: Final = {
    "network": "tcp",
    "security": "reality",
    "externalProxy": [],
    "tcpSettings": {"acceptProxyProtocol": False, "header": {"type": "none"}},
    "realitySettings": {
        "show": False,
        "xver": 0,
        "target": "www.microsoft.com:443",
        "serverNames": ["www.microsoft.com"],
        "privateKey": "sim-private-key-not-secret",
        "shortIds": ["6ba85179e30d4fc2"],
        "settings": {
            "publicKey": "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw",
            "fingerprint": "chrome",
            "serverName": "",
            "spiderX": "/",
            "mldsa65Verify": "",
        },
    },
}
DEFAULT_SNIFFING: Final = {
    "enabled": True,
    "destOverride": ["http", "tls", "quic", "fakedns"],
    "metadataOnly": False,
    "routeOnly": False,
}


class StateMixin:
    """Storage helpers (part of ``X3UISimulator``; called with the lock held)."""

    # -- clock -----------------------------------------------------------------------------

    def _time(self) -> float:
        """The simulator's clock: wall time shifted by ``advance``."""
        return time.time() + self._clock_offset

    def _now_ms(self) -> int:
        return int(self._time() * 1000)

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (sessions, login limiter, timestamps)."""
        with self._lock:
            self._clock_offset += float(seconds)

    # -- state -----------------------------------------------------------------------------

    def _new_inbound(
        self,
        id: int | None = None,  # noqa: A002
        port: int | None = None,
        remark: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        ids = {int(i["id"]) for i in self._inbounds}
        ports = {int(i["port"]) for i in self._inbounds}
        inbound_id = int(id) if id is not None else max(ids, default=0) + 1
        inbound_port = int(port) if port is not None else max(ports, default=442) + 1
        if inbound_id in ids:
            raise ValueError(f"inbound id {inbound_id} already exists")
        if inbound_port in ports:
            raise ValueError(f"port {inbound_port} already used by another inbound")
        inbound: dict[str, Any] = {
            "id": inbound_id,
            "up": 0,
            "down": 0,
            "total": 0,
            "remark": remark,
            "enable": True,
            "expiryTime": 0,
            "trafficReset": "never",
            "lastTrafficResetTime": 0,
            "listen": "",
            "port": inbound_port,
            "protocol": "vless",
            "settings": {"clients": [], "decryption": "none", "encryption": "none"},
            "streamSettings": copy.deepcopy(DEFAULT_STREAM_SETTINGS),
            "tag": f"inbound-{inbound_port}",
            "sniffing": copy.deepcopy(DEFAULT_SNIFFING),
        }
        if self.spec.all_time:
            inbound["allTime"] = 0
        inbound.update(copy.deepcopy(fields))
        inbound["settings"].setdefault("clients", [])
        self._inbounds.append(inbound)
        return inbound

    def _load_state(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        self._inbounds = data.get("inbounds") or [data["inbound"]]  # format 1: one inbound
        self._traffic = data.get("traffic", {})
        self._next_traffic_id = int(data.get("next_traffic_id", data.get("next_id", 1)))
        self._sessions = data.get("sessions", {})
        self._tokens |= set(data.get("token_hashes", []))
        if self.generation == "v3":
            self._records = data.get("records") or {}
            self._next_record_id = int(data.get("next_record_id", 1))
            if "records" not in data:  # an upgrade from a legacy state: build the table
                for inbound in self._inbounds:
                    for entry in inbound["settings"]["clients"]:
                        self._upsert_record(entry, [int(inbound["id"])])
        for row in self._traffic.values():  # allTime exists up to v3.0.2 only
            if self.spec.all_time:
                row.setdefault("allTime", int(row.get("up", 0)) + int(row.get("down", 0)))
            else:
                row.pop("allTime", None)

    def _save_state(self) -> None:
        """Write the state atomically (temp file + rename); called with the lock held."""
        if not self.state_file:
            return
        data = {
            "format": 2,
            "version": self.version,
            "generation": self.generation,
            "inbounds": self._inbounds,
            "traffic": self._traffic,
            "next_traffic_id": self._next_traffic_id,
            "sessions": self._sessions,
            "token_hashes": sorted(self._tokens),
        }
        if self.generation == "v3":
            data["records"] = self._records
            data["next_record_id"] = self._next_record_id
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".x3ui-sim-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        Path(tmp).replace(self.state_file)

    def _get_inbound(self, inbound_id: Any) -> dict[str, Any] | None:
        for inbound in self._inbounds:
            if str(inbound["id"]) == str(inbound_id):
                return inbound
        return None

    def _require_inbound(self, inbound_id: int | None) -> dict[str, Any]:
        if inbound_id is None:
            return self._inbound
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            raise KeyError(f"no inbound {inbound_id}")
        return inbound

    @staticmethod
    def _entries(inbound: Mapping[str, Any], email: str) -> list[dict[str, Any]]:
        """The inbound's settings entries with this email, case-insensitively."""
        key = email.lower()
        return [c for c in inbound["settings"]["clients"] if str(c.get("email", "")).lower() == key]

    def _holders(self, email: str, *, exclude: int | None = None) -> list[dict[str, Any]]:
        """Inbounds whose settings hold this email (case-insensitive), but ``exclude``."""
        return [i for i in self._inbounds if int(i["id"]) != exclude and self._entries(i, email)]

    def _traffic_row(self, email: str) -> dict[str, Any] | None:
        if email in self._traffic:
            return self._traffic[email]
        key = email.lower()
        return next((r for n, r in self._traffic.items() if n.lower() == key), None)

    def _ensure_traffic(self, client: Mapping[str, Any], inbound_id: int) -> dict[str, Any]:
        """``AddClientStat``: ``ON CONFLICT(email) DO NOTHING`` (v3.0.2 web/service/
        inbound.go:2386-2397; v3.1.0 inbound.go:2191-2201): an existing row is kept as is."""
        email = str(client.get("email", ""))
        row = self._traffic.get(email)
        if row is not None:
            return row
        row = {
            "id": self._next_traffic_id,
            "inboundId": inbound_id,
            "enable": go_bool(client.get("enable")),
            "email": email,
            "uuid": "",
            "subId": "",
            "up": 0,
            "down": 0,
            "expiryTime": go_int(client.get("expiryTime")),
            "total": go_int(client.get("totalGB")),
            "reset": go_int(client.get("reset")),
            "lastOnline": 0,
        }
        if self.spec.all_time:
            row["allTime"] = 0
        self._traffic[email] = row
        self._next_traffic_id += 1
        return row

    def _update_traffic(self, old_email: str, client: Mapping[str, Any]) -> None:
        """``UpdateClientStat(oldEmail, client)``: rewrites enable, email, total, expiry and
        reset, keeps up/down (v2.8.3 web/service/inbound.go:1303-1315; v3.0.2 :2399-2411).
        A rename onto an email that already has a row merges into that row and drops the
        old one unless another inbound still holds it (v3.0.2 inbound.go:1404-1442)."""
        email = str(client.get("email") or "")
        row = self._traffic.get(old_email)
        if email != old_email and email in self._traffic:
            if row is not None and not self._holders(old_email):
                self._traffic.pop(old_email, None)
            row = self._traffic[email]
        elif row is not None:
            self._traffic.pop(old_email)
            self._traffic[email] = row
        if row is None:
            return
        row.update(
            email=email,
            enable=go_bool(client.get("enable")),
            total=go_int(client.get("totalGB")),
            expiryTime=go_int(client.get("expiryTime")),
            reset=go_int(client.get("reset")),
        )

    # v3 clients table --------------------------------------------------------------------

    def _find_record(self, email: str, *, fold: bool = False) -> dict[str, Any] | None:
        """``clients`` row by ``email = ?`` (exact, as SQLite compares text)."""
        record = self._records.get(email)
        if record is None and fold:
            key = email.lower()
            record = next((r for e, r in self._records.items() if e.lower() == key), None)
        return record

    def _sorted_records(self) -> list[dict[str, Any]]:
        return sorted(self._records.values(), key=lambda r: r["id"])

    def _upsert_record(self, client: Mapping[str, Any], inbound_ids: Iterable[int]) -> None:
        """``SyncInbound`` for one settings entry: the row keyed by email takes the entry's
        values (last one wins; v3.4.2 internal/web/service/client_link.go:68-106) and
        gains a link to each inbound (deduplicated)."""
        email = str(client.get("email", ""))
        record = self._records.get(email)
        if record is None:
            record = {
                "id": self._next_record_id,
                "email": email,
                "inboundIds": [],
                "created_at": go_int(client.get("created_at")) or self._now_ms(),
            }
            self._next_record_id += 1
            self._records[email] = record
        if client.get("id"):
            record["uuid"] = str(client["id"])
        record.setdefault("uuid", "")
        for key in ("subId", "flow", "comment", "group", "password", "auth", "security"):
            if key in client or key not in record:
                record[key] = str(client.get(key) or "")
        for key in ("limitIp", "totalGB", "expiryTime", "tgId", "reset"):
            record[key] = go_int(client.get(key))
        record["enable"] = go_bool(client.get("enable"))
        record["updated_at"] = go_int(client.get("updated_at")) or self._now_ms()
        for inbound_id in inbound_ids:
            if inbound_id not in record["inboundIds"]:
                record["inboundIds"].append(inbound_id)

    def _record_json(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``ClientRecord`` JSON: ``id`` is the row number, the UUID is ``uuid``
        (v3.1.0 database/model/model.go:319-338; extra keys per version)."""
        out: dict[str, Any] = {
            "id": record["id"],
            "email": record["email"],
            "subId": record.get("subId", ""),
            "uuid": record.get("uuid", ""),
            "password": record.get("password", ""),
            "auth": record.get("auth", ""),
            "flow": record.get("flow", ""),
            "security": record.get("security", ""),
            "reverse": None,
            "limitIp": record.get("limitIp", 0),
            "totalGB": record.get("totalGB", 0),
            "expiryTime": record.get("expiryTime", 0),
            "enable": bool(record.get("enable")),
            "tgId": record.get("tgId", 0),
            "comment": record.get("comment", ""),
            "reset": record.get("reset", 0),
        }
        for key in self.spec.record_extra_keys:  # allowedIPs is a comma-joined string
            out[key] = 0 if key == "keepAlive" else record.get(key, "")
        out["createdAt"] = record.get("created_at", 0)
        out["updatedAt"] = record.get("updated_at", 0)
        return out

    def _list_row(self, record: Mapping[str, Any], *, traffic: bool = True) -> dict[str, Any]:
        """A ``clients/list`` row: ``inboundIds`` null when unattached, ``traffic`` omitted
        without a row (v3.1.0 web/service/client.go:25-62,361-381)."""
        row = self._record_json(record)
        row["inboundIds"] = list(record["inboundIds"]) or None
        stats = self._traffic.get(record["email"]) if traffic else None
        if stats is not None:
            row["traffic"] = {**stats, "uuid": "", "subId": ""}  # gorm:"-", not filled here
        return row

    def _go_client(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``json.Marshal(model.Client)``: what the v3 API writes into settings.clients."""
        out: dict[str, Any] = {}
        if fields.get("id"):
            out["id"] = fields["id"]
        out["security"] = str(fields.get("security") or "")
        for key in ("password", "flow", "auth"):
            if fields.get(key):
                out[key] = fields[key]
        if fields.get("reverse"):
            out["reverse"] = fields["reverse"]
        out["email"] = str(fields.get("email") or "")
        out["limitIp"] = go_int(fields.get("limitIp"))
        out["totalGB"] = go_int(fields.get("totalGB"))
        out["expiryTime"] = go_int(fields.get("expiryTime"))
        out["enable"] = go_bool(fields.get("enable"))
        out["tgId"] = go_int(fields.get("tgId"))
        out["subId"] = str(fields.get("subId") or "")
        if fields.get("group"):
            out["group"] = fields["group"]
        out["comment"] = str(fields.get("comment") or "")
        out["reset"] = go_int(fields.get("reset"))
        for key in ("created_at", "updated_at"):
            if fields.get(key):
                out[key] = fields[key]
        for key in ("privateKey", "publicKey", "allowedIPs", "preSharedKey", "keepAlive"):
            if fields.get(key) and key in self.spec.client_types:
                out[key] = fields[key]
        return out
