"""A local 3x-ui panel for development, demos and tests (``manage.py x3ui_simulator``).

It reproduces five real 3x-ui releases over the same HTTP API a real panel has, as read
from the panel's Go source (github.com/MHSanaei/3x-ui at the release tags; what we rely on
is summarised in docs/x3ui.md). Every version-specific behaviour is one field of :data:`VERSIONS` (a
:class:`PanelVersion`) with the ``tag:path:line`` it comes from; handlers branch on those
fields, never on version strings.

Versions (``version=``), and the ``generation`` shorthand kept for older callers:

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

Not part of a real panel: the control API under ``/__sim__/`` (outside any base path) and
the in-process methods below, used to inject faults, seed foreign clients, set traffic and
read per-route request counts. The subscription endpoint is served on the panel port at
``/sub/`` rather than on a separate ``subPort``.

Control, in process: ``add_fault(mode, count=None, delay=0, path="")`` with ``mode`` one of
``reset | slow | late | http500 | empty | empty_ok | html`` (``count`` = the next N matching
requests, ``path`` = only URLs containing it; ``late`` applies the request, then waits
``delay`` seconds before answering), ``clear_faults()``, ``set_down()`` / ``set_up()``
(listener closed: connection refused), ``expire_sessions()``, ``advance(seconds)`` (moves
the simulator's clock: sessions, login limiter), ``add_inbound(...)``,
``seed_client(email, inbound_id=None, inbound_ids=None, ...)``, ``set_traffic(email, up=,
down=)``, ``add_api_token(t)``, ``request_counts`` (a Counter keyed by route, e.g.
``"GET panel/api/clients/list"``), ``reset_counts()``, ``clients(inbound_id=None)``,
``client(email, inbound_id=None)``, ``client_copies(email, inbound_id=None)``,
``records()`` (v3 ``clients`` rows with their ``inboundIds``), ``owner_alerts`` (the
Telegram login notifications the panel owner would get), ``login_failures``, ``snapshot()``.

Control, over HTTP (any process): ``GET /__sim__/state`` (the snapshot, counts included);
``POST /__sim__/faults`` with one fault ``{"mode", "count"?, "delay"?, "path"?}`` or
``{"faults": [...]}`` (extra modes: ``fail_next`` = ``http500``, ``expire_sessions``,
``clear``, and ``down`` which needs ``"seconds"`` because the control API goes down too);
``DELETE /__sim__/faults``; ``POST /__sim__/expire-sessions``; ``POST /__sim__/seed``
``{"clients": [{"email", "inbound_id"?, "inbound_ids"?, ...}]}``; ``POST /__sim__/traffic``
``{"email","up","down"}``; ``POST /__sim__/counts/reset``; ``POST /__sim__/tokens``
``{"token"}``; ``POST /__sim__/inbounds`` ``{"id"?, "port"?, "remark"?}``;
``POST /__sim__/advance`` ``{"seconds"}``. It has no auth: bind it to loopback.

State is guarded by one lock, so concurrent requests are safe. With ``state_file`` every
mutation is written to JSON (sessions included, like a real panel's signed cookies that
survive restarts), and a restart with another version models a panel upgrade (a legacy
state read by a v3 version gets its ``clients`` rows built from the inbounds' settings).
The login limiter and the owner alerts are in memory only, as on a real panel.

Modules, one topic each (``X3UISimulator`` combines the mixins of the modules with methods):
``versions`` (the version table), ``simulator`` (the class, its configuration and state
attributes), ``server`` (listener, faults, routing), ``wire`` (request, response, Go
failures), ``gojson`` (encoding/json errors, gin binding), ``state`` (inbounds, traffic
rows, the v3 ``clients`` table, the clock, the state file), ``auth`` (sessions, CSRF,
tokens, login limiter, owner alerts), ``legacy`` and ``v3`` (the two client APIs),
``links`` (vless links, ``/sub/``, inbounds, traffic, status), ``control`` (the in-process
and ``/__sim__/`` controls), ``messages`` (the panel's texts).

A development tool: production code never imports it (tests/deploy checks that).
"""

from __future__ import annotations

from .auth import (
    COOKIE_NAME,
    DEFAULT_SESSION_MAX_AGE,
    LOGIN_COOLDOWN,
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW,
)
from .server import FAULT_MODES, Fault
from .simulator import X3UISimulator
from .state import DEFAULT_SNIFFING, DEFAULT_STREAM_SETTINGS
from .versions import VERSIONS, PanelVersion, resolve_version

__all__ = [
    "COOKIE_NAME",
    "DEFAULT_SESSION_MAX_AGE",
    "DEFAULT_SNIFFING",
    "DEFAULT_STREAM_SETTINGS",
    "FAULT_MODES",
    "LOGIN_COOLDOWN",
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW",
    "VERSIONS",
    "Fault",
    "PanelVersion",
    "X3UISimulator",
    "resolve_version",
]
