"""The panel's own traffic job: it renews, and disables, clients without anyone asking.

Every release runs ``XrayTrafficJob`` on a timer (``PanelVersion.traffic_job_seconds``:
every 10 s on v2.8.3, every 5 s from v3.0.2; first 5 s after start plus one period) and once
when Xray starts (``GetXrayConfig`` calls ``AddTraffic(nil, nil)``: v2.8.3 web/service/
xray.go:103, v3.0.2 :106, v3.1.0 :112, v3.4.2 internal/web/service/xray.go:129, v3.6.0
:162). After adding Xray's counters, ``AddTraffic`` runs, in one transaction:

1. ``autoRenewClients``: a ``client_traffics`` row with ``reset`` > 0 days whose
   ``expiry_time`` has passed gets ``expiry_time`` moved forward by whole ``reset`` periods
   until it is no longer past, its counters zeroed and, when disabled, ``enable`` back on;
   the settings entries with that email take the new ``expiryTime`` (and ``enable``);
2. ``disableInvalidClients``: a row still enabled with ``total > 0 and up + down >= total``
   or ``expiry_time > 0 and expiry_time <= now`` is removed from the running Xray and gets
   ``enable = false``; what else changes is ``PanelVersion.job_disable_writes`` (on v2.8.3
   the inbound's settings keep ``"enable": true``, and Xray's config leaves the client out
   because its row is disabled: v2.8.3 web/service/xray.go:117-132);
3. ``disableInvalidInbounds``: an enabled inbound over its ``total`` or past its
   ``expiryTime`` gets ``enable = false`` (v2.8.3 inbound.go:1185-1217, v3.0.2 :2093-2125,
   v3.1.0 :1910-1942, v3.4.2 internal/web/service/inbound_disable.go:17-49, v3.6.0 :18-50).

Sources: v2.8.3 web/service/inbound.go:905-947 (``AddTraffic``), v3.0.2 :1780-1831, v3.1.0
:1582-1633 (``addTrafficLocked``), v3.4.2 internal/web/service/inbound_traffic.go:34-78,
v3.6.0 :33-79; the functions' own lines are cited in versions.py.

The simulator has no Xray (its status always says running), so the job runs lazily: before a
request or an in-process read or write is served, the ticks that fell due since the last run
are run as one, as of the latest tick. Between two requests nothing else changes the state
and every condition only becomes true as time passes, so what a client can observe is the
same as with a timer; only the ``updated_at`` the job writes is the latest tick's. Not
modelled: cross-panel ``client_global_traffics`` (v3.4.2+, empty without a master), nodes
(``node_id``), delayed-start expiry (negative ``expiryTime``, rewritten from Xray's traffic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .gojson import go_bool, go_int

_START_DELAY: Final = 5  # web.go: time.Sleep(5 * time.Second) before AddJob
_DAY_MS: Final = 86_400_000


def _depleted(row: Mapping[str, Any], now_ms: int) -> bool:
    total, expiry = go_int(row.get("total")), go_int(row.get("expiryTime"))
    used = go_int(row.get("up")) + go_int(row.get("down"))
    return (total > 0 and used >= total) or (0 < expiry <= now_ms)


class TrafficJobMixin:
    """The traffic job (part of ``X3UISimulator``)."""

    def run_traffic_job(self) -> dict[str, int]:
        """Run the job now, as a tick would (renewed, disabled clients, disabled inbounds)."""
        with self._lock:
            done = self._traffic_job(self._now_ms())
            if any(done.values()):
                self._save_state()
            return done

    def _jobs_start(self) -> None:
        """Xray's start: one run now, then the timer (called once the state is loaded)."""
        if any(self._traffic_job(self._now_ms()).values()):
            self._save_state()
        self._job_next_at = self._time() + _START_DELAY + self.spec.traffic_job_seconds

    def _jobs_catch_up(self) -> None:
        """Run the ticks due since the last run as one, as of the latest (lock held)."""
        now = self._time()
        if now < self._job_next_at:
            return
        period = self.spec.traffic_job_seconds
        tick = self._job_next_at + ((now - self._job_next_at) // period) * period
        self._job_next_at = tick + period
        if any(self._traffic_job(int(tick * 1000)).values()):
            self._save_state()

    def _traffic_job(self, now_ms: int) -> dict[str, int]:
        return {
            "renewed": self._job_renew(now_ms),
            "disabled": self._job_disable_clients(now_ms),
            "inbounds_disabled": self._job_disable_inbounds(now_ms),
        }

    # -- autoRenewClients ------------------------------------------------------------------

    def _job_renew(self, now_ms: int) -> int:
        rows = [
            row
            for row in self._traffic.values()
            if go_int(row.get("reset")) > 0 and 0 < go_int(row.get("expiryTime")) <= now_ms
        ]
        if self.spec.job_renew_via_links:  # only emails linked to an inbound are renewed
            rows = [r for r in rows if (self._records.get(r["email"]) or {}).get("inboundIds")]
        for row in rows:
            if self.spec.job_renew_via_links:
                inbound_ids = list(self._records[row["email"]]["inboundIds"])
            else:
                inbound_ids = [row["inboundId"]]
            for inbound_id in inbound_ids:
                inbound = self._get_inbound(inbound_id)
                for entry in inbound["settings"]["clients"] if inbound else []:
                    if entry.get("email") != row["email"]:
                        continue
                    expiry = go_int(row["expiryTime"])
                    while expiry < now_ms:
                        expiry += go_int(row["reset"]) * _DAY_MS
                    entry["expiryTime"] = expiry
                    row.update(expiryTime=expiry, up=0, down=0)
                    if not go_bool(row.get("enable")):
                        row["enable"] = True
                        if self.spec.job_renew_enables_entry:
                            entry["enable"] = True
                    if self.generation == "v3":  # SyncInbound: the record follows settings
                        self._upsert_record(entry, [])
        return len(rows)

    # -- disableInvalidClients -------------------------------------------------------------

    def _job_disable_clients(self, now_ms: int) -> int:
        rows = [
            row
            for row in self._traffic.values()
            if go_bool(row.get("enable")) and _depleted(row, now_ms)
        ]
        if not rows:
            return 0
        mode = self.spec.job_disable_writes
        if mode == "siblings":
            self._job_disable_siblings(rows, now_ms)
        elif mode == "records":
            self._job_disable_records(rows, now_ms)
        for row in rows:
            row["enable"] = False
        return len(rows)

    def _job_disable_siblings(self, rows: list[dict[str, Any]], now_ms: int) -> None:
        """v3.0.2 inbound.go:2127-2312: the emails, matched case-insensitively, on the
        row's own inbound, and on other inbounds whose entry carries the subId of the row's
        own entry (none or empty: the row's inbound only); then every entry of those
        inbounds with such an email, enabled or not, gets enable false and the row's total
        and expiry."""
        by_email = {str(r["email"]).lower(): r for r in rows if r["email"]}
        members = [
            (int(inbound["id"]), entry)
            for inbound in self._inbounds
            for entry in inbound["settings"]["clients"]
            if str(entry.get("email", "")).lower() in by_email
        ]
        holder_sub: dict[str, str] = {}
        for inbound_id, entry in members:
            key = str(entry.get("email")).lower()
            if inbound_id == by_email[key]["inboundId"]:
                holder_sub[key] = str(entry.get("subId") or "")
        targets: set[tuple[int, str]] = set()
        for inbound_id, entry in members:
            key = str(entry.get("email")).lower()
            expected = holder_sub.get(key, "")
            if not expected and inbound_id != by_email[key]["inboundId"]:
                continue
            if expected and str(entry.get("subId") or "") != expected:
                continue
            targets.add((inbound_id, str(entry.get("email"))))
        for inbound in self._inbounds:
            for entry in inbound["settings"]["clients"]:
                email = str(entry.get("email", ""))
                if (int(inbound["id"]), email) not in targets:
                    continue
                row = by_email[email.lower()]
                entry.update(
                    enable=False,
                    totalGB=go_int(row.get("total")),
                    expiryTime=go_int(row.get("expiryTime")),
                    updated_at=now_ms,
                )

    def _job_disable_records(self, rows: list[dict[str, Any]], now_ms: int) -> None:
        """v3.1+: every inbound the record (by exact email) is linked to has its entries
        with that exact email turned off if on (``markClientsDisabledInSettings``); the
        record gets enable false and updated_at."""
        by_inbound: dict[int, set[str]] = {}
        for row in rows:
            record = self._records.get(row["email"])
            if record is None:
                continue
            for inbound_id in record["inboundIds"]:
                by_inbound.setdefault(int(inbound_id), set()).add(row["email"])
            record.update(enable=False, updated_at=now_ms)
        for inbound_id, emails in by_inbound.items():
            inbound = self._get_inbound(inbound_id)
            for entry in inbound["settings"]["clients"] if inbound else []:
                if entry.get("email") in emails and go_bool(entry.get("enable")):
                    entry.update(enable=False, updated_at=now_ms)

    # -- disableInvalidInbounds ------------------------------------------------------------

    def _job_disable_inbounds(self, now_ms: int) -> int:
        hit = [i for i in self._inbounds if go_bool(i.get("enable")) and _depleted(i, now_ms)]
        for inbound in hit:
            inbound["enable"] = False
        return len(hit)
