"""Resetting one client's traffic counters, as each release does it: legacy
``POST panel/api/inbounds/{id}/resetClientTraffic/{email}``, v3.1+
``POST panel/api/clients/resetTraffic/{email}``."""

from __future__ import annotations

from typing import Any

from .gojson import go_bool, go_error
from .messages import MSG_INBOUND_UPDATED, MSG_TRAFFIC_RESET
from .wire import Request, Response


class TrafficResetMixin:
    """Traffic reset routes of both client APIs (part of ``X3UISimulator``)."""

    def _traffic_with_entry(self, email: str) -> tuple[dict[str, Any] | None, str | None]:
        """``GetClientTrafficByEmail``: the row by exact email, then the settings entry of
        the row's inbound by exact email (v2.8.3 web/service/inbound.go:1344-1380,1974-1988;
        v3.0.2 :2440-2476,3359-3372). Returns (row, Go error)."""
        row = self._traffic.get(email)
        if row is None:
            return None, go_error("Inbound Not Found For Email:", email)
        inbound = self._get_inbound(row["inboundId"])
        if inbound is None:
            return None, "record not found"
        entry = next((c for c in inbound["settings"]["clients"] if c.get("email") == email), None)
        if entry is None:
            return None, go_error("Client Not Found In Inbound For Email:", email)
        return row, None

    def _reset_row(self, inbound_id: int, email: str) -> str | None:
        """``resetClientTrafficLocked(id, email)``: None on success, else the Go error
        (v2.8.3 web/service/inbound.go:1731-1800; v3.0.2 :2836-2928; v3.6.0 internal/web/
        service/inbound_traffic.go:579-697).

        A row whose client is disabled loads inbound `inbound_id` to re-add the client to
        Xray (not modelled): a missing inbound fails the reset. v2.8.3 takes ``enable``
        from the settings entry (:1982), later releases from the row. Then up=down=0 and
        enable=true are saved; from v3.0.2 the inbound's ``lastTrafficResetTime`` is
        stamped (v3.0.2 :2911-2914)."""
        row, problem = self._traffic_with_entry(email)
        if problem is not None:
            return problem
        assert row is not None
        enabled = go_bool(row.get("enable"))
        if self.spec.is_v2:
            inbound = self._get_inbound(row["inboundId"])
            entry = next(c for c in inbound["settings"]["clients"] if c.get("email") == email)
            enabled = go_bool(entry.get("enable"))
        inbound = self._get_inbound(inbound_id)
        if not enabled and inbound is None:
            return "record not found"
        row.update(up=0, down=0, enable=True)
        if not self.spec.is_v2 and inbound is not None:
            inbound["lastTrafficResetTime"] = self._now_ms()
        return None

    def _h_legacy_reset_traffic(self, request: Request, inbound_id: str, email: str) -> Response:
        """v2.8.3 web/controller/inbound.go:261-279; v3.0.2 :425-443. The inbound id is
        parsed (a bad one answers with the "inbound updated" text, as the controller does)
        but not checked against the client's inbound."""
        if not inbound_id.lstrip("-").isdigit():
            problem = f'strconv.Atoi: parsing "{inbound_id}": invalid syntax'
            return self._err(request, problem, MSG_INBOUND_UPDATED)
        problem = self._reset_row(int(inbound_id), email)
        if problem is not None:
            return self._err(request, problem)
        self._save_state()
        return self._ok(None, self._t(request, MSG_TRAFFIC_RESET))

    def _h_v3_reset_traffic(self, request: Request, email: str) -> Response:
        """``ClientService.ResetTrafficByEmail`` (v3.1.0 web/service/client.go:773-801;
        v3.4.2 internal/web/service/client_traffic.go:16-57; v3.6.0 the same). From v3.3.1
        a disabled record is enabled first (an update of the record, whose failure is only
        logged); a record on no inbound has its rows reset by email."""
        record = self._find_record(email)
        if record is None:  # GetRecordByEmail: gorm's error
            return self._err(request, "record not found")
        if self.spec.reset_enables_client and not go_bool(record.get("enable")):
            self._enable_record(record)
        attached = list(record["inboundIds"])
        if not attached:
            row = self._traffic.get(email)  # ResetClientTrafficByEmail: "email = ?"
            if row is not None:
                row.update(up=0, down=0, enable=True)
        for inbound_id in attached:
            problem = self._reset_row(inbound_id, email)
            if problem is not None:
                self._save_state()
                return self._err(request, problem)
        self._save_state()
        return self._ok(None, self._t(request, MSG_TRAFFIC_RESET))

    def _enable_record(self, record: dict[str, Any]) -> None:
        """``s.Update(rec.Id, rec.ToClient() with Enable=true)``: the record, its settings
        entries on every attached inbound and its traffic row (``UpdateClientStat``) become
        enabled (v3.4.2 internal/web/service/client_traffic.go:30-40)."""
        now = self._now_ms()
        record["enable"] = True
        record["updated_at"] = now
        for inbound_id in record["inboundIds"]:
            inbound = self._get_inbound(inbound_id)
            if inbound is None:
                continue
            for entry in self._entries(inbound, record["email"]):
                entry["enable"] = True
                entry["updated_at"] = now
        row = self._traffic.get(record["email"])
        if row is not None:
            row["enable"] = True
