"""The v3 client API (v3.1 and later): ``panel/api/clients/*`` over the ``clients`` table,
with create, bulk create, update, delete, attach, detach, list and get."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from .gojson import check_go_value, go_bool, go_error, go_int, go_type_error, json_kind
from .messages import MSG_ADDED, MSG_DELETED, MSG_UPDATED
from .wire import BindError, Request, Response

_BULK_OWN_REASONS: Final = (
    "client email is required",
    "at least one inbound is required",
    "email already in use:",
    "subId already in use:",
)


def _bulk_reason(error: str) -> str:
    """bulkCreate builds its own skip reasons without ``common.NewError``'s newline
    (v3.4.2 client_bulk.go:1115-1215); errors from validation or addInboundClient keep it."""
    return error.rstrip("\n") if error.startswith(_BULK_OWN_REASONS) else error


def _forbidden_chars(text: str) -> bool:
    """v3.4.2 internal/web/service/client_crud.go:22-29 hasForbiddenClientChar."""
    return any(c in "/\\ " or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _flow_capable(inbound: Mapping[str, Any]) -> bool:
    """VLESS over tcp with tls/reality (v3.4.2 internal/web/service/inbound_protocol.go:32-54;
    the xhttp + VLESS-encryption case is not modelled)."""
    stream = inbound["streamSettings"]
    return inbound["protocol"] == "vless" and (
        stream.get("network", "tcp") == "tcp" and stream.get("security") in {"tls", "reality"}
    )


class V3ClientsMixin:
    """v3 client routes (part of ``X3UISimulator``)."""

    def _v3_validate(self, client: Mapping[str, Any]) -> str | None:
        """v3.4.2 internal/web/service/client_crud.go:45-58 (character checks v3.3.1+)."""
        email = str(client.get("email") or "")
        if not email.strip():
            return go_error("client email is required")
        if self.spec.email_chars_checked:
            if _forbidden_chars(email):
                return go_error("client email contains an invalid character:", email)
            if _forbidden_chars(str(client.get("subId") or "")):
                return go_error("client subId contains an invalid character:", client["subId"])
        return None

    def _settings_duplicate(self, client: Mapping[str, Any]) -> bool:
        """``addInboundClient``'s second check against every inbound's settings, case-
        insensitive, email+subId (v3.1.0 web/service/client.go:1392-1417,1444-1450;
        v3.4.2 internal/web/service/client_inbound_apply.go:213-241,280-286)."""
        key, sub = str(client.get("email") or "").lower(), str(client.get("subId") or "")
        subs = {
            str(e.get("subId") or "")
            for i in self._inbounds
            for e in i["settings"]["clients"]
            if str(e.get("email") or "").lower() == key
        }
        if not subs:
            return False
        return not sub or len(subs) > 1 or subs != {sub}

    def _v3_create(self, client: dict[str, Any], inbound_ids: list[int]) -> str | None:
        """``ClientService.Create``: None on success, else the Go error text
        (v3.1.0 web/service/client.go:393-455; v3.4.2 internal/web/service/client_crud.go:
        45-123; v3.6.0 :45-140). Inbounds handled before a failing one stay added."""
        problem = self._v3_validate(client)
        if problem:
            return problem
        if not inbound_ids:
            return go_error("at least one inbound is required")
        email = str(client["email"])
        client["subId"] = str(client.get("subId") or "") or str(uuid.uuid4())
        client["enable"] = True  # Create forces enable (v3.1.0 client.go:405-410)
        now = self._now_ms()
        client["created_at"] = go_int(client.get("created_at")) or now
        client["updated_at"] = now
        existing = self._find_record(email)  # exact "email = ?"
        if existing is not None and (not existing["subId"] or existing["subId"] != client["subId"]):
            return go_error("email already in use:", email)
        if self.spec.subid_unique_on_add and any(
            r["subId"] == client["subId"] and r["email"] != email for r in self._records.values()
        ):
            return go_error("subId already in use:", client["subId"])
        if not client.get("id"):
            reuse = self.spec.add_reuses_uuid and existing is not None
            client["id"] = existing["uuid"] if reuse else str(uuid.uuid4())
        for inbound_id in inbound_ids:
            inbound = self._get_inbound(inbound_id)
            if inbound is None:
                return "record not found"
            entry = dict(client)
            if self.spec.flow_filtered and not _flow_capable(inbound):
                entry["flow"] = ""
            if self._settings_duplicate(entry):
                return go_error("Duplicate email:", email)
            if self._entries(inbound, email):
                if self.spec.readd_same_inbound == "noop":
                    continue  # v3.6.0 client_inbound_apply.go:333-357
                if self.spec.readd_same_inbound == "unique_error":
                    # v3.1.0 client.go:241-248 + model.go:373-376, SQLite's raw text
                    return (
                        "UNIQUE constraint failed: "
                        "client_inbounds.client_id, client_inbounds.inbound_id"
                    )
            inbound["settings"]["clients"].append(self._go_client(entry))
            self._upsert_record(self._go_client(entry), [int(inbound["id"])])
            self._ensure_traffic(entry, int(inbound["id"]))
        return None

    def _h_v3_add(self, request: Request) -> Response:
        """v3.1.0 web/controller/client.go:94-110; v3.6.0 internal/web/controller/
        client.go:174-190 (obj: null, or {"nodePending": true} with remote nodes)."""
        try:
            client, inbound_ids = self._bind_create_payload(self._bind_json(request))
        except BindError as exc:
            return self._err(request, str(exc))
        error = self._v3_create(client, inbound_ids)
        self._save_state()
        if error is not None:
            return self._err(request, error)
        return self._ok(None, self._t(request, MSG_ADDED))

    def _h_v3_bulk_create(self, request: Request) -> Response:
        """v3.2.0+ (v3.4.2 internal/web/service/client_bulk.go:1099-1107,1165-1345):
        per-item failures never fail the request; reasons have no trailing newline."""
        try:
            payloads = self._bind_json(request)
            if not isinstance(payloads, list):
                raise BindError(
                    f"json: cannot unmarshal {json_kind(payloads)} into Go value of type "
                    "[]service.ClientCreatePayload"
                )
            bound = [self._bind_create_payload(p) for p in payloads]
        except BindError as exc:
            return self._err(request, str(exc))
        # Pass 1 (v3.4.2 client_bulk.go:1137-1184): validation and in-batch duplicates
        # (case-insensitive) are skipped at once; pass 2's failures are listed after them.
        skipped: list[dict[str, str]] = []
        prepared: list[tuple[dict[str, Any], list[int]]] = []
        seen_email: set[str] = set()
        seen_sub: dict[str, str] = {}
        for client, inbound_ids in bound:
            email = str(client.get("email") or "").strip()
            sub_id, key = str(client.get("subId") or ""), email.lower()
            error = self._v3_validate(client) or (
                None if inbound_ids else go_error("at least one inbound is required")
            )
            if error is None and key in seen_email:
                error = "email already in use: " + email
            elif error is None and sub_id and seen_sub.get(sub_id, key) != key:
                error = "subId already in use: " + sub_id
            if error is not None:
                skipped.append({"email": email, "reason": _bulk_reason(error)})
                continue
            seen_email.add(key)
            if sub_id:
                seen_sub[sub_id] = key
            prepared.append((client, inbound_ids))
        created = 0
        for client, inbound_ids in prepared:
            error = self._v3_create(client, inbound_ids)
            if error is None:
                created += 1
            else:
                skipped.append({"email": client["email"], "reason": _bulk_reason(error)})
        self._save_state()
        result: dict[str, Any] = {"created": created}
        if skipped:
            result["skipped"] = skipped
        return self._ok(result)

    def _inbound_filter(self, request: Request) -> list[int] | None:
        """``?inboundIds=1,2`` from v3.2.8 (v3.6.0 internal/web/controller/client.go:19-32):
        non-integers dropped; nothing parsed means no filter."""
        if not self.spec.update_inbound_filter:
            return None
        raw = ",".join(request.query.get("inboundIds", []))
        ids = [int(p) for p in raw.split(",") if p.strip().lstrip("-").isdigit()]
        return ids or None

    def _h_v3_update(self, request: Request, email: str) -> Response:
        """``ClientService.Update``: v3.1.0 web/service/client.go:552-611; v3.4.2
        internal/web/service/client_crud.go:265-423; v3.6.0 :311-515. Replace, not patch."""
        try:
            body = self._bind_client(self._bind_json(request))
        except BindError as exc:
            return self._err(request, str(exc))
        record = self._find_record(email)
        if record is None:  # GetRecordByEmail: gorm's error, all versions
            return self._err(request, "record not found")
        attached = list(record["inboundIds"])
        wanted = self._inbound_filter(request)
        if wanted is not None:
            attached = [i for i in attached if i in wanted]
        problem = self._v3_validate(body)
        if problem:
            return self._err(request, problem)
        new_email = str(body["email"])
        body["subId"] = str(body.get("subId") or "") or record["subId"] or str(uuid.uuid4())
        body["created_at"] = go_int(body.get("created_at")) or record["created_at"]
        body["updated_at"] = self._now_ms()
        if not body.get("id"):
            keep = self.spec.update_keeps_uuid or not attached
            body["id"] = record["uuid"] if keep else str(uuid.uuid4())
        if new_email != record["email"]:
            clash = self._find_record(new_email, fold=self.spec.rename_check_folds)
            if clash is not None and clash is not record:
                return self._err(request, go_error("Duplicate email:", new_email))
        check = self.spec.update_subid_check
        subid_checked = check == "always" or (
            check == "changed" and body["subId"] != record["subId"]
        )
        if subid_checked and any(
            r["subId"] == body["subId"] and r is not record for r in self._records.values()
        ):
            return self._err(request, go_error("Duplicate subId:", body["subId"]))
        old_email = record["email"]
        if not attached:
            self._update_detached(record, body)
        else:
            for inbound_id in attached:
                inbound = self._get_inbound(inbound_id)
                if inbound is None:
                    continue
                entries = inbound["settings"]["clients"]
                index = next(
                    (
                        i
                        for i, c in enumerate(entries)
                        if str(c.get("email", "")).lower() == old_email.lower()
                    ),
                    -1,
                )
                if index < 0:
                    return self._err(request, go_error("empty client ID"))
                entry = dict(body)
                if self.spec.flow_filtered and not _flow_capable(inbound):
                    entry["flow"] = ""
                entries[index] = self._go_client(entry)
                self._rename_record(record, new_email)
                self._upsert_record(entries[index], [])
        if attached:
            self._update_traffic(old_email, {**body, "email": record["email"]})
        elif old_email != record["email"] and old_email in self._traffic:
            self._traffic[record["email"]] = self._traffic.pop(old_email)
            self._traffic[record["email"]]["email"] = record["email"]
        self._save_state()
        return self._ok(None, self._t(request, MSG_UPDATED))

    def _rename_record(self, record: dict[str, Any], email: str) -> None:
        if record["email"] != email:
            self._records.pop(record["email"], None)
            record["email"] = email
            self._records[email] = record

    def _update_detached(self, record: dict[str, Any], body: Mapping[str, Any]) -> None:
        """Update of a row attached to no (selected) inbound: v3.1.0 writes updated_at
        only (client.go:577-611); v3.4.2 the rename, group and enable (client_crud.go:
        323-423); v3.6.0 every field (client_crud.go:441-468, #6053)."""
        mode = self.spec.detached_update
        if mode in {"partial", "full"}:
            self._rename_record(record, str(body["email"]))
            record["enable"] = go_bool(body.get("enable"))
            record["group"] = str(body.get("group") or "")
        if mode == "full":
            self._upsert_record(self._go_client(body), [])
        record["updated_at"] = self._now_ms()

    def _remove_from_inbound(self, inbound: dict[str, Any], email: str) -> int:
        entries = inbound["settings"]["clients"]
        kept = [c for c in entries if str(c.get("email", "")).lower() != email.lower()]
        inbound["settings"]["clients"] = kept
        return len(entries) - len(kept)

    def _h_v3_del(self, request: Request, email: str) -> Response:
        """v3.1.0 web/service/client.go:614-661; v3.4.2 internal/web/service/client_crud.go:
        426-480,585-602; v3.6.0 :517-599,699-716. The last client may go (no guard)."""
        keep_traffic = self.spec.keep_traffic_param and request.query.get("keepTraffic") == ["1"]
        record = self._find_record(email)
        if record is None:
            if not self.spec.del_scans_settings:
                return self._err(request, "record not found")
            removed = sum(self._remove_from_inbound(i, email) for i in self._inbounds)
            if not removed:
                problem = go_error(f'client "{email}" not found in any inbound or client record')
                return self._err(request, problem)
        else:
            for inbound_id in record["inboundIds"]:
                inbound = self._get_inbound(inbound_id)
                if inbound is not None:
                    self._remove_from_inbound(inbound, email)
            self._records.pop(record["email"], None)
        if not keep_traffic and not self._holders(email):
            self._traffic.pop(email, None)
        self._save_state()
        return self._ok(None, self._t(request, MSG_DELETED))

    def _attach_body(self, request: Request) -> list[int]:
        """``attachDetachBody{InboundIds []int}`` (v3.1.0 web/controller/client.go:335-352)."""
        data = self._bind_json(request)
        if not isinstance(data, dict):
            raise BindError(
                f"json: cannot unmarshal {json_kind(data)} into Go value of type "
                "controller.attachDetachBody"
            )
        value = data.get("inboundIds")
        bad = check_go_value(value, "[]int")
        if bad is not None:
            raise BindError(go_type_error(bad[0], "attachDetachBody", "inboundIds", bad[1]))
        return list(value or [])

    def _h_v3_attach(self, request: Request, email: str) -> Response:
        """Copy the stored row onto more inbounds, skipping attached ones (v3.1.0
        web/service/client.go:663-709; v3.6.0 internal/web/service/client_crud.go:601-657)."""
        try:
            wanted = self._attach_body(request)
        except BindError as exc:
            return self._err(request, str(exc))
        record = self._find_record(email)
        if record is None:
            return self._err(request, "record not found")
        for inbound_id in wanted:
            inbound = self._get_inbound(inbound_id)
            if inbound is None:
                self._save_state()
                return self._err(request, "record not found")
            if inbound_id in record["inboundIds"]:
                continue
            entry = self._go_client({**record, "id": record["uuid"]})
            if self.spec.flow_filtered and not _flow_capable(inbound):
                entry.pop("flow", None)
            inbound["settings"]["clients"].append(entry)
            record["inboundIds"].append(int(inbound_id))
            self._ensure_traffic(entry, int(inbound_id))
        self._save_state()
        return self._ok(None, self._t(request, MSG_ADDED))

    def _h_v3_detach(self, request: Request, email: str) -> Response:
        """``POST clients/{email}/detach {"inboundIds": [..]}`` in every v3 release: the row
        is kept even when attached to nothing (v3.1.0 web/controller/client.go:44,146-148,
        335-352; v3.6.0 internal/web/service/client_crud.go:764-800)."""
        try:
            wanted = self._attach_body(request)
        except BindError as exc:
            return self._err(request, str(exc))
        record = self._find_record(email)
        if record is None:
            return self._err(request, "record not found")
        for inbound_id in wanted:
            if inbound_id not in record["inboundIds"]:
                continue  # silently skipped
            inbound = self._get_inbound(inbound_id)
            if inbound is not None:
                self._remove_from_inbound(inbound, email)
            record["inboundIds"].remove(inbound_id)
        if not self.spec.detach_keeps_traffic and not self._holders(email):
            self._traffic.pop(email, None)
        self._save_state()
        return self._ok(None, self._t(request, MSG_DELETED))

    def _h_v3_list(self, request: Request) -> Response:
        return self._ok([self._list_row(r) for r in self._sorted_records()])

    def _h_v3_get(self, request: Request, email: str) -> Response:
        """v3.1.0 web/controller/client.go:79-92; v3.4.2 internal/web/controller/client.go:
        108-139 adds externalLinks and usedTraffic; v3.6.0 :109-148."""
        record = self._find_record(email)
        if record is None:
            return self._err(request, "record not found", self.spec.get_unknown_context)
        obj: dict[str, Any] = {
            "client": self._record_json(record),
            "inboundIds": sorted(record["inboundIds"]),
        }
        if self.spec.get_extras:
            stats = self._traffic.get(record["email"]) or {"up": 0, "down": 0}
            obj["externalLinks"] = []
            obj["usedTraffic"] = int(stats["up"]) + int(stats["down"])
        return self._ok(obj)
