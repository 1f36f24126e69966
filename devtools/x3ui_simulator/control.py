"""Not part of a real panel: the in-process control methods and the ``/__sim__/`` HTTP
control API (faults, seeding, traffic, counts, tokens, inbounds, the clock)."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from .server import Fault
from .wire import Request, Response


class ControlMixin:
    """Test and demo controls (part of ``X3UISimulator``)."""

    def set_down(self) -> None:
        """Close the listening socket: clients get "connection refused" until ``set_up``."""
        self._close_listener()
        self._down = True

    def set_up(self) -> None:
        """Listen again on the same port after ``set_down``."""
        if not self._stopping.is_set():
            self._listen(self.port)

    @property
    def is_down(self) -> bool:
        return self._down

    def add_fault(
        self, mode: str, *, count: int | None = None, delay: float = 0.0, path: str = ""
    ) -> Fault:
        """Inject a failure for the next ``count`` matching requests (all, if ``None``)."""
        fault = Fault(mode=mode, count=count, delay=delay, path=path)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def expire_sessions(self) -> None:
        """Invalidate every session cookie (like a password change / logout-all)."""
        with self._lock:
            self._sessions.clear()
            self._save_state()

    def reset_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()
            self.request_total = 0

    def add_api_token(self, token: str) -> None:
        with self._lock:
            self._tokens.add(hashlib.sha256(token.encode()).hexdigest())

    def add_inbound(
        self,
        id: int | None = None,  # noqa: A002 - the panel's own key name
        port: int | None = None,
        remark: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a VLESS/reality inbound (``fields`` override any inbound key)."""
        with self._lock:
            self._jobs_catch_up()
            inbound = self._new_inbound(id=id, port=port, remark=remark, **fields)
            self._save_state()
            return copy.deepcopy(inbound)

    def seed_client(
        self,
        email: str,
        *,
        inbound_id: int | None = None,
        inbound_ids: Iterable[int] | None = None,
        id: str | None = None,  # noqa: A002 - the panel's own key name
        enable: bool = True,
        sub_id: str | None = None,
        up: int = 0,
        down: int = 0,
        **fields: Any,
    ) -> dict[str, Any]:
        """Put a client on an inbound behind the API's back (a client we did not create).

        ``inbound_id`` picks the inbound (default: the first). On v3 versions
        ``inbound_ids`` attaches one ``clients`` row to several inbounds, and
        ``inbound_ids=[]`` makes a row attached to no inbound. Legacy versions store the
        client as the v2 UI writes it (``"tgId": ""``). Extra keyword arguments are stored
        as panel keys verbatim (``totalGB=…``, ``comment=…``).
        """
        client: dict[str, Any] = {
            "id": id or str(uuid.uuid4()),
            "flow": "xtls-rprx-vision",
            "email": email,
            "limitIp": 0,
            "totalGB": 0,
            "expiryTime": 0,
            "enable": enable,
            "tgId": "" if self.generation == "legacy" else 0,
            "subId": sub_id if sub_id is not None else secrets.token_hex(8),
            "comment": "",
            "reset": 0,
        }
        client.update(fields)
        with self._lock:
            self._jobs_catch_up()
            if inbound_ids is not None:
                targets = [int(i) for i in inbound_ids]
                if self.generation == "legacy" and len(targets) != 1:
                    raise ValueError("legacy panels have no clients table: one inbound_id")
            else:
                targets = [int(inbound_id) if inbound_id is not None else self.inbound_id]
            for target in targets:
                inbound = self._get_inbound(target)
                if inbound is None:
                    raise ValueError(f"no inbound {target}")
                if self._entries(inbound, email):
                    raise ValueError(f"email {email!r} already on inbound {target}")
            if self.generation == "v3" and self._find_record(email, fold=True) is not None:
                raise ValueError(f"email {email!r} already has a clients row")
            now = self._now_ms()
            client.setdefault("created_at", now)
            client.setdefault("updated_at", now)
            for target in targets:
                self._get_inbound(target)["settings"]["clients"].append(copy.deepcopy(client))
            if self.generation == "v3":
                self._upsert_record(client, targets)
            if targets or up or down:
                row = self._ensure_traffic(client, targets[0] if targets else 0)
                row.update(up=int(up), down=int(down))
            self._save_state()
        return copy.deepcopy(client)

    def set_traffic(self, email: str, *, up: int, down: int) -> None:
        """Set a client's counters, as Xray's stats would."""
        with self._lock:
            self._jobs_catch_up()
            row = self._traffic_row(email)
            if row is None:
                raise KeyError(email)
            row.update(up=int(up), down=int(down), lastOnline=self._now_ms())
            if "allTime" in row:
                row["allTime"] = int(up) + int(down)
            self._save_state()

    def clients(self, inbound_id: int | None = None) -> list[dict[str, Any]]:
        """A copy of an inbound's ``settings.clients`` as stored (default: the first)."""
        with self._lock:
            self._jobs_catch_up()
            return copy.deepcopy(self._require_inbound(inbound_id)["settings"]["clients"])

    def client(self, email: str, inbound_id: int | None = None) -> dict[str, Any] | None:
        """The first settings entry with this email (exact, else case-insensitive)."""
        with self._lock:
            self._jobs_catch_up()
            entries = self._entries(self._require_inbound(inbound_id), email)
            exact = [c for c in entries if c.get("email") == email]
            found = (exact or entries or [None])[0]
            return copy.deepcopy(found)

    def client_copies(self, email: str, inbound_id: int | None = None) -> int:
        """How many entries with this email (case-insensitive) an inbound's settings hold."""
        with self._lock:
            self._jobs_catch_up()
            return len(self._entries(self._require_inbound(inbound_id), email))

    def records(self) -> list[dict[str, Any]]:
        """v3 ``clients`` rows as ``clients/list`` shows them, without traffic
        (``inboundIds`` is ``None`` for a row attached to no inbound). Legacy: ``[]``."""
        with self._lock:
            self._jobs_catch_up()
            return [self._list_row(r, traffic=False) for r in self._sorted_records()]

    def snapshot(self) -> dict[str, Any]:
        """Everything a test or a benchmark may want to look at, JSON-safe."""
        with self._lock:
            self._jobs_catch_up()
            return {
                "version": self.version,
                "generation": self.generation,
                "csrf": self.csrf,
                "base_path": self.base_path,
                "port": self.port,
                "down": self._down,
                "inbound": copy.deepcopy(self._inbound),
                "inbounds": copy.deepcopy(self._inbounds),
                "traffic": copy.deepcopy(self._traffic),
                "records": self.records(),
                "sessions": len(self._sessions),
                "faults": [asdict(f) for f in self.faults],
                "request_counts": dict(self.request_counts),
                "request_total": self.request_total,
                "login_failures": self.login_failures,
                "owner_alerts": copy.deepcopy(self.owner_alerts),
                "clock_offset": self._clock_offset,
            }

    # -- control API -----------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        """``/__sim__/*``: fault injection and introspection from another process."""
        action = request.path[len("/__sim__/") :].strip("/")
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            return self._json({"error": "body must be JSON"}, 400)
        try:
            if request.method == "GET" and action == "state":
                return self._json(self.snapshot())
            if action == "faults" and request.method == "DELETE":
                self.clear_faults()
                return self._json({"faults": []})
            if request.method != "POST":
                return self._json({"error": "unknown control endpoint"}, 404)
            if action == "faults":
                return self._control_faults(body)
            if action == "faults/clear":
                self.clear_faults()
                return self._json({"faults": []})
            if action == "expire-sessions":
                self.expire_sessions()
                return self._json({"sessions": 0})
            if action == "seed":
                seeded = []
                for spec in body.get("clients", []):
                    fields = dict(spec)
                    seeded.append(self.seed_client(fields.pop("email"), **fields))
                return self._json({"clients": seeded})
            if action == "traffic":
                self.set_traffic(body["email"], up=body.get("up", 0), down=body.get("down", 0))
                return self._json({"ok": True})
            if action == "counts/reset":
                self.reset_counts()
                return self._json({"request_total": 0})
            if action == "tokens":
                self.add_api_token(str(body["token"]))
                return self._json({"ok": True})
            if action == "inbounds":
                return self._json({"inbound": self.add_inbound(**body)})
            if action == "advance":
                self.advance(float(body["seconds"]))
                return self._json({"clock_offset": self._clock_offset})
            if action == "traffic-job":
                return self._json(self.run_traffic_job())
        except (KeyError, TypeError, ValueError) as exc:
            return self._json({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return self._json({"error": "unknown control endpoint"}, 404)

    def _control_faults(self, body: Mapping[str, Any]) -> Response:
        specs = body.get("faults", [body])
        for spec in specs:
            mode = spec.get("mode")
            if mode in {"clear", "none"}:
                self.clear_faults()
                continue
            if mode == "expire_sessions":
                self.expire_sessions()
                continue
            if mode == "down":
                seconds = float(spec.get("seconds", 0))
                if seconds <= 0:
                    raise ValueError('"down" over HTTP needs "seconds" (the API goes down too)')
                self._schedule_down(seconds)
                continue
            if mode == "fail_next":
                mode = "http500"
            self.add_fault(
                str(mode),
                count=spec.get("count"),
                delay=float(spec.get("delay", 0.0)),
                path=str(spec.get("path", "")),
            )
        with self._lock:
            return self._json({"faults": [asdict(f) for f in self.faults]})

    def _schedule_down(self, seconds: float) -> None:
        """Go down after this response is written, come back after ``seconds``."""

        def run() -> None:
            time.sleep(0.05)  # let the control response leave first
            if self._stopping.is_set():
                return
            self.set_down()
            self._stopping.wait(seconds)
            self.set_up()

        helper = threading.Thread(target=run, name=f"x3ui-sim-down:{self.port}", daemon=True)
        self._helpers.append(helper)
        helper.start()
