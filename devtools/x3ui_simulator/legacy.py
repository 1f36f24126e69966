"""The legacy client API (up to v3.0.2): ``panel/api/inbounds/addClient``, ``updateClient``,
``delClient``, ``delClientByEmail``, with settings sent as a JSON string."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .gojson import go_error
from .messages import MSG_ADDED, MSG_DELETED, MSG_INBOUND_UPDATED, MSG_UPDATED
from .wire import BindError, GoPanic, Request, Response


class LegacyClientsMixin:
    """Legacy client routes (part of ``X3UISimulator``)."""

    def _legacy_payload(self, request: Request) -> tuple[int, list[dict[str, Any]]]:
        """``{"id": int, "settings": "<JSON string>"}`` → (inbound id, clients); settings
        is a Go string (v2.8.3 database/model/model.go:52; v3.0.2 model.go:62)."""
        data = self._bind(request)
        raw_id = data.get("id")
        if request.content_type == "application/json":
            if not isinstance(raw_id, int) or isinstance(raw_id, bool):
                raise BindError(
                    "json: cannot unmarshal string into Go struct field Inbound.id of type int"
                )
            if not isinstance(data.get("settings", ""), str):
                raise BindError(
                    "json: cannot unmarshal object into Go struct field "
                    "Inbound.settings of type string"
                )
        try:
            inbound_id = int(raw_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BindError(f'strconv.ParseInt: parsing "{raw_id}": invalid syntax') from None
        try:
            settings = json.loads(data.get("settings") or "")
        except ValueError:
            raise BindError("unexpected end of JSON input") from None
        clients = settings.get("clients") if isinstance(settings, dict) else None
        if not isinstance(clients, list) or not all(isinstance(c, dict) for c in clients):
            raise GoPanic  # interface conversion: interface {} is nil, not []interface {}
        return inbound_id, clients

    def _legacy_duplicate(self, clients: Iterable[Mapping[str, Any]]) -> str | None:
        """``checkEmailsExistForClients``: the first payload email that counts as taken.

        v2.8.3 web/service/inbound.go:121-149: any email already in any inbound, or twice
        in the payload, case-insensitively. v3.0.2 inbound.go:187-279: the same email is
        allowed again only with the same non-empty subId (an email seen with two subIds,
        or with none, is locked)."""
        stored: dict[str, str] = {}
        for inbound in self._inbounds:
            for entry in inbound["settings"]["clients"]:
                key = str(entry.get("email") or "").lower()
                sub = str(entry.get("subId") or "")
                stored[key] = sub if stored.get(key, sub) == sub else ""
        seen: dict[str, str] = {}
        for client in clients:
            email = str(client.get("email") or "")
            if not email:
                continue
            key, sub = email.lower(), str(client.get("subId") or "")
            if self.spec.legacy_dup_rule == "any":
                if key in seen or key in stored:
                    return email
                seen[key] = sub
                continue
            if key in seen:
                if seen[key] != sub or not sub:
                    return email
                continue
            seen[key] = sub
            if key in stored and (not sub or not stored[key] or stored[key] != sub):
                return email
        return None

    def _legacy_check(self, client: Mapping[str, Any]) -> str | None:
        """v3.0.2 inbound.go:852-854 "client email is required", :868-871 "empty client ID"
        (v2.8.3 accepts an empty email)."""
        if self.spec.legacy_email_required and not str(client.get("email") or "").strip():
            return go_error("client email is required")
        if not client.get("id"):
            return go_error("empty client ID")
        return None

    def _h_legacy_add(self, request: Request) -> Response:
        """``AddInboundClient``: v2.8.3 web/service/inbound.go:524-640; v3.0.2 :814-940."""
        try:
            inbound_id, clients = self._legacy_payload(request)
        except BindError as exc:
            return self._err(request, str(exc), MSG_INBOUND_UPDATED)
        duplicate = self._legacy_duplicate(clients)  # checked before the inbound is loaded
        if duplicate is not None:
            return self._err(request, go_error("Duplicate email:", duplicate))
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        for client in clients:
            problem = self._legacy_check(client)
            if problem:
                return self._err(request, problem)
        now = self._now_ms()
        for client in clients:
            # Exactly as sent, unknown keys kept (legacy addClient stores the map as sent).
            stored = dict(client)
            stored.setdefault("created_at", now)
            stored["updated_at"] = now
            # v3.0.2 inbound.go:881-882: appended even when the email is already here
            inbound["settings"]["clients"].append(stored)
            if stored.get("email"):  # v2.8.3 :610-636: an empty email gets no traffic row
                self._ensure_traffic(stored, int(inbound["id"]))
        self._save_state()
        return self._ok(None, self._t(request, MSG_ADDED))

    def _h_legacy_update(self, request: Request, client_id: str) -> Response:
        """``UpdateInboundClient``: v2.8.3 inbound.go:730-903; v3.0.2 :1268-1515."""
        try:
            inbound_id, clients = self._legacy_payload(request)
        except BindError as exc:
            return self._err(request, str(exc), MSG_INBOUND_UPDATED)
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        entries = inbound["settings"]["clients"]
        if entries and not clients:
            raise GoPanic  # clients[0] on an empty payload
        # the first entry whose uuid matches (v2.8.3 :758-776; v3.0.2 :1296-1317)
        index = next((i for i, c in enumerate(entries) if c.get("id") == client_id), -1)
        if index < 0 or not clients[0].get("id"):
            return self._err(request, go_error("empty client ID"))
        old, new = entries[index], dict(clients[0])
        old_email, email = str(old.get("email") or ""), str(new.get("email") or "")
        if self.spec.legacy_email_required and not email.strip():
            return self._err(request, go_error("client email is required"))
        # exact != decides whether to check (v2.8.3 :783-791; v3.0.2 :1323-1335)
        if email and email != old_email and self._legacy_duplicate([new]) is not None:
            return self._err(request, go_error("Duplicate email:", email))
        # whole-map replacement; created_at kept, updated_at now (v2.8.3 :799-818)
        new["created_at"] = old.get("created_at") or self._now_ms()
        new["updated_at"] = self._now_ms()
        entries[index] = new
        if not email:  # v2.8.3 :851-859: an emptied email loses its traffic row
            self._traffic.pop(old_email, None)
        else:
            self._update_traffic(old_email, new)
        self._save_state()
        return self._ok(None, self._t(request, MSG_UPDATED))

    def _legacy_drop_traffic(self, email: str, inbound_id: int) -> str | None:
        """After a delete: v2.8.3 always drops the row; v3.0.2 only if no other inbound
        holds the email (inbound.go:1212-1239). A missing row fails the delete with
        ``record not found`` (v2.8.3 :700-704; v3.0.2 :1228-1232)."""
        if email not in self._traffic:
            return "record not found"
        if self.spec.is_v2 or not self._holders(email, exclude=inbound_id):
            self._traffic.pop(email, None)
        return None

    def _h_legacy_del(self, request: Request, inbound_id: str, client_id: str) -> Response:
        """``DelInboundClient``: v2.8.3 inbound.go:642-728; v3.0.2 :1153-1266."""
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        entries = inbound["settings"]["clients"]
        kept = [c for c in entries if c.get("id") != client_id]  # every copy goes
        if len(kept) == len(entries) and not self.spec.legacy_del_unknown_ok:
            problem = go_error("Client Not Found In Inbound For ID:", client_id)
            return self._err(request, problem)
        if not kept:
            return self._err(request, go_error("no client remained in Inbound"))
        if len(kept) < len(entries):
            email = str(next(c for c in entries if c.get("id") == client_id).get("email") or "")
            inbound["settings"]["clients"] = kept
            problem = self._legacy_drop_traffic(email, int(inbound["id"]))
            if problem:
                inbound["settings"]["clients"] = entries  # the transaction rolls back
                return self._err(request, problem)
        self._save_state()
        return self._ok(None, self._t(request, MSG_DELETED))

    def _h_legacy_del_by_email(self, request: Request, inbound_id: str, email: str) -> Response:
        """``DelInboundClientByEmail`` with the controller's own English texts
        (v2.8.3 web/controller/inbound.go:394-412, service :2329-2420; v3.0.2 controller
        :578-596, service :3782-3889). The email match is exact."""
        if not inbound_id.lstrip("-").isdigit():
            return self._fail(f'Invalid inbound ID (strconv.Atoi: parsing "{inbound_id}": ...)')
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._fail("Failed to delete client by email (record not found)")
        entries = inbound["settings"]["clients"]
        kept = [c for c in entries if c.get("email") != email]
        if len(kept) == len(entries):
            problem = go_error(f"client with email {email} not found")
            return self._fail(f"Failed to delete client by email ({problem})")
        if not kept:
            problem = go_error("no client remained in Inbound")
            return self._fail(f"Failed to delete client by email ({problem})")
        if self.spec.is_v2 and email not in self._traffic:
            problem = go_error("Inbound Not Found For Email:", email)
            return self._fail(f"Failed to delete client by email ({problem})")
        inbound["settings"]["clients"] = kept
        if not self._holders(email) or self.spec.is_v2:  # v3.0.2 keeps a shared row
            self._traffic.pop(email, None)
        self._save_state()
        return self._ok(None, "Client deleted successfully")
