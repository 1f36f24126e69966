"""A local 3x-ui panel for development, demos and tests (``manage.py x3ui_simulator``).

It reproduces five real 3x-ui releases over the same HTTP API a real panel has, as read
from the panel's Go source (github.com/MHSanaei/3x-ui at the release tags; what we rely on
is summarised in docs/x3ui.md). Every version-specific behaviour is one field of
:data:`VERSIONS` (a :class:`PanelVersion`) with the ``tag:path:line`` it comes from;
handlers branch on those fields, never on version strings.

Versions (``version=``; the ``generation``/``csrf``/``bulk_create`` shorthand in brackets):

- ``"2.8.3"`` (``generation="legacy", csrf=False``): legacy client routes, settings as JSON
  strings, no CSRF, no API tokens, no login limiter (but a Telegram alert with the tried
  password), 401-JSON / 307 unauthenticated answers.
- ``"3.0.2"`` (``generation="legacy"``): the last legacy release: CSRF, Bearer tokens,
  login limiter, email+subId duplicate rule (a same-subId re-add appends a second copy).
- ``"3.1.0"`` (``generation="v3", bulk_create=False``): ``/panel/api/clients/*`` with a
  ``clients`` table linked to inbounds; a same-inbound re-add fails on the
  ``client_inbounds`` primary key; no ``bulkCreate``; ``get/{id}`` has no clientStats.
- ``"3.4.2"``: ``bulkCreate``, ``?inboundIds=`` on update, ``subId already in use``,
  typed ``allowedIPs``; a same-inbound re-add appends a second copy.
- ``"3.6.0"`` (``generation="v3"``, the default): a same-inbound re-add is a no-op.

Several inbounds: ``inbounds=[{"id": 1, "port": 443, "remark": "A"}, ...]`` or
``add_inbound(...)``; by default one VLESS/reality inbound from ``inbound_id``,
``inbound_port`` and ``inbound_remark``.

Not part of a real panel: two ways to inject faults, seed foreign clients, set traffic and
read per-route request counts: in process, the public methods of ``ControlMixin``
(control.py); over HTTP from any process, ``/__sim__/`` (outside any base path, no auth:
bind it to loopback): ``GET state`` (the snapshot, counts included);
``POST faults`` with one fault ``{"mode", "count"?, "delay"?, "path"?}`` or
``{"faults": [...]}`` (modes: ``FAULT_MODES`` in server.py, plus ``fail_next`` = ``http500``,
``expire_sessions``, ``clear``, and ``down`` which needs ``"seconds"`` because the control
API goes down too); ``DELETE faults``; ``POST expire-sessions``; ``POST seed``
``{"clients": [{"email", "inbound_id"?, "inbound_ids"?, ...}]}``; ``POST traffic``
``{"email","up","down"}``; ``POST counts/reset``; ``POST tokens`` ``{"token"}``;
``POST inbounds`` ``{"id"?, "port"?, "remark"?}``; ``POST advance`` ``{"seconds"}``;
``POST traffic-job`` (run the panel's traffic job now).

Like a real panel it runs its own traffic job (jobs.py): clients past their ``expiryTime``
or over their ``totalGB`` are disabled, clients with ``reset`` days renewed, every 10 s
(v2.8.3) or 5 s (v3.0.2+) of the simulator's clock, and once at start.

State is guarded by one lock, so concurrent requests are safe. With ``state_file`` every
mutation is written to JSON (sessions included, like a real panel's signed cookies that
survive restarts), and a restart with another version models a panel upgrade (a legacy
state read by a v3 version gets its ``clients`` rows built from the inbounds' settings).
The login limiter and the owner alerts are in memory only, as on a real panel.

A development tool: production code never imports it (tests/deploy checks that).
"""

from __future__ import annotations

from .auth import DEFAULT_SESSION_MAX_AGE
from .simulator import X3UISimulator
from .versions import VERSIONS, resolve_version

__all__ = ["DEFAULT_SESSION_MAX_AGE", "VERSIONS", "X3UISimulator", "resolve_version"]
