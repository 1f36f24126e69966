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
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import struct
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlencode, urlsplit

logger = logging.getLogger(__name__)

FAULT_MODES: Final = (
    "down",  # listener closed: connection refused (over HTTP needs "seconds")
    "reset",  # connection accepted, then closed without a response
    "slow",  # wait "delay" seconds, then process and answer normally
    "late",  # process the request fully, then wait "delay" seconds before answering
    "http500",  # HTTP 500, empty body (gin recovery)
    "empty",  # HTTP 200, empty body, request not processed
    "empty_ok",  # request processed, then HTTP 200 with an empty body (3x-ui #3052)
    "html",  # HTTP 200 HTML page (a proxy or login page)
)
COOKIE_NAME: Final = "3x-ui"
# Route placeholders (the panel's names, kept in counted route names) -> handler arguments.
_PARAM_NAMES: Final = {
    "id": "inbound_id",
    "clientId": "client_id",
    "email": "email",
    "subId": "sub_id",
}
DEFAULT_SESSION_MAX_AGE: Final = 360 * 60  # sessionMaxAge default since v2.6.5: 6 h

# v3.0.2 web/controller/login_limiter.go:10-12 (the same in v3.1.0 …:9-13, v3.6.0 …:9-12)
LOGIN_MAX_FAILURES: Final = 5
LOGIN_WINDOW: Final = 5 * 60.0
LOGIN_COOLDOWN: Final = 15 * 60.0

_MSG_WRONG: Final = "Something went wrong"
_MSG_OBTAIN: Final = "Obtain"
_MSG_TRAFFIC: Final = "Error getting traffics."
# v2.8.3 translate.en_US.toml:110 and v3.0.2 en-US.json:114 have a leading space; v3.1.0
# en-US.json:118 and later do not (PanelVersion.login_ok_msg).
_MSG_LOGIN_OK: Final = "You have successfully logged into your account."
_MSG_LOGIN_BAD: Final = "Invalid username or password or two-factor code."
_MSG_BAD_FORM: Final = "The Input data format is invalid."
_MSG_NO_USER: Final = "Username is required"
_MSG_NO_PASS: Final = "Password is required"  # noqa: S105 - a message
_MSG_ADDED: Final = "Inbound client(s) have been added."
_MSG_UPDATED: Final = "Inbound client has been updated."
_MSG_DELETED: Final = "Inbound client has been deleted."
_MSG_EXPIRED: Final = "Your session has expired, please log in again"
# addClient/updateClient bind errors use this misleading key (v2.8.3 web/controller/
# inbound.go:202-205; v3.0.2 :334-339)
_MSG_INBOUND_UPDATED: Final = "Inbound has been successfully updated."
# A few strings in Russian, so tests can check that nothing branches on translated text.
# As on a real panel only the context is translated; the Go error in brackets stays English.
_RU: Final = {
    _MSG_WRONG: "Что-то пошло не так",
    _MSG_OBTAIN: "Получение",
    _MSG_TRAFFIC: "Ошибка получения трафика.",
    _MSG_LOGIN_OK: "Вы успешно вошли в аккаунт.",
    " " + _MSG_LOGIN_OK: " Вы успешно вошли в аккаунт.",
    _MSG_LOGIN_BAD: "Неверное имя пользователя, пароль или код двухфакторной аутентификации.",
    _MSG_ADDED: "Клиент(ы) добавлен(ы).",
    _MSG_UPDATED: "Клиент обновлён.",
    _MSG_DELETED: "Клиент удалён.",
    _MSG_EXPIRED: "Ваша сессия истекла, войдите снова",
}

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


# -- the version table ---------------------------------------------------------------------

# Go types of model.Client's JSON keys, as the v3 client API binds them (ShouldBindJSON).
# v3.1.0 database/model/model.go:299-317
_CLIENT_TYPES_310: Final = {
    "id": "string",
    "security": "string",
    "password": "string",
    "flow": "string",
    "reverse": "reverse",
    "auth": "string",
    "email": "string",
    "limitIp": "int",
    "totalGB": "int64",
    "expiryTime": "int64",
    "enable": "bool",
    "tgId": "int64",
    "subId": "string",
    "comment": "string",
    "reset": "int",
    "created_at": "int64",
    "updated_at": "int64",
}
# v3.4.2 internal/database/model/model.go:594-618: WireGuard keys and group
_CLIENT_TYPES_342: Final = {
    **_CLIENT_TYPES_310,
    "privateKey": "string",
    "publicKey": "string",
    "allowedIPs": "[]string",
    "preSharedKey": "string",
    "keepAlive": "int",
    "group": "string",
}
# v3.6.0 internal/database/model/model.go:859-885: MTProto secret and adTag
_CLIENT_TYPES_360: Final = {**_CLIENT_TYPES_342, "secret": "string", "adTag": "string"}


@dataclass(frozen=True)
class PanelVersion:
    """What differs between the releases the simulator reproduces (see VERSIONS)."""

    name: str
    api: str  # "legacy" (inbounds/addClient …) or "v3" (clients/* + the clients table)
    # CSRF middleware, Bearer API tokens, POST logout, bare 401/404 when unauthenticated:
    # v3.0.2 web/controller/api.go:33-62, web/middleware/security.go:41-66, index.go:44-45
    csrf: bool
    # v3.0.2 web/controller/login_limiter.go (absent in v2.8.3: no limiter anywhere)
    login_limiter: bool
    # v2.8.3 web/service/tgbot.go:2599-2628 sends "Password==…"; v3.0.2 tgbot.go:109-115
    # LoginAttempt{Username, IP, Time, Status, Reason} has no password
    alert_has_password: bool
    login_ok_msg: str  # translate.en_US.toml:110 / en-US.json:114 vs v3.1.0 en-US.json:118
    # Inbound.allTime and ClientTraffic.allTime: v2.8.3 database/model/model.go:40,
    # xray/client_traffic.go:14; v3.0.2 model.go:50; gone in v3.1.0 model.go
    all_time: bool
    # inbounds/list fills clientStats uuid/subId and tops up rows owned by a sibling
    # inbound: v3.0.2 web/service/inbound.go:48-133 enrichClientStats (v2.8.3 :31-39 not)
    list_enriches: bool
    # inbounds/get/{id} preloads ClientStats: only from v3.2.5 GetInboundDetail
    # (v3.4.2 internal/web/service/inbound.go:922-932); v2.8.3 inbound.go:331-339,
    # v3.0.2 :460-468 and v3.1.0 :657-665 use First() with no Preload -> null
    get_preloads_stats: bool
    # v2.8.3 web/web.go:267 also mounts the server controller on the bare base path with
    # no auth: GET {basePath}status answers anyone (removed in adf324260, v2.8.4)
    public_status: bool = False
    # -- legacy client API
    # "any": v2.8.3 inbound.go:121-149 any existing email is a duplicate (ToLower);
    # "email+subId": v3.0.2 inbound.go:187-279 same non-empty subId may re-use the email
    legacy_dup_rule: str = "any"
    # v3.0.2 inbound.go:852-854,1323-1325 "client email is required" (v2.8.3 accepts "")
    legacy_email_required: bool = False
    # delClient of an unknown uuid: v2.8.3 inbound.go:666-687 success no-op; v3.0.2
    # inbound.go:1192-1194 "Client Not Found In Inbound For ID:"
    legacy_del_unknown_ok: bool = True
    # -- v3 client API
    client_types: Mapping[str, str] = field(default_factory=dict)
    # same email+subId re-added to an inbound that already holds it:
    # "unique_error" v3.1.0 web/service/client.go:241-248 (client_inbounds PK, rolled back);
    # "append" v3.4.2 internal/web/service/client_link.go:148-151 (links deduped, copy kept);
    # "noop" v3.6.0 internal/web/service/client_inbound_apply.go:333-357 (#5770)
    readd_same_inbound: str = "append"
    # v3.2.5+ "subId already in use": v3.4.2 internal/web/service/client_crud.go:87-97
    subid_unique_on_add: bool = False
    # v3.3.1+ forbidden / \ space and control characters: v3.4.2 client_crud.go:22-43
    email_chars_checked: bool = False
    # v3.2.5+ clientWithInboundFlow clears flow the inbound cannot carry:
    # v3.4.2 client_crud.go:108,149-154, inbound_protocol.go:32-54
    flow_filtered: bool = False
    # v3.5.0+ add re-uses the stored uuid when "id" is omitted: v3.6.0 client_crud.go:85-98
    add_reuses_uuid: bool = False
    # v3.2.0+ POST clients/bulkCreate: v3.4.2 internal/web/controller/client.go:373-389
    bulk_create: bool = False
    # v3.2.8+ update honours ?inboundIds=: v3.4.2 client_crud.go:271-287
    update_inbound_filter: bool = False
    # v3.3.1+ update keeps id when omitted: v3.4.2 client_crud.go:309-321; v3.1.0
    # web/service/client.go:587 fillProtocolDefaults mints a new uuid
    update_keeps_uuid: bool = False
    # rename collision: v3.4.2 client_crud.go:323-332 exact "email = ?" on clients; v3.1.0
    # goes through UpdateInboundClient's settings check (case-insensitive)
    rename_check_folds: bool = False
    # Duplicate subId on update: "" none (v3.1.0 client.go:552-611), "always" (v3.4.2
    # client_crud.go:340-349), "changed" (v3.6.0 client_crud.go:383-393, #6065)
    update_subid_check: str = ""
    # update of a client attached to no inbound: "timestamp" (v3.1.0 client.go:577-611),
    # "partial" = email, group, enable (v3.4.2 client_crud.go:352-423), "full" (v3.6.0
    # client_crud.go:441-468, #6053)
    detached_update: str = "full"
    # del of an unknown email: v3.1.0 "record not found"; v3.2.0+ scans settings, then
    # `client %q not found in any inbound or client record` (v3.4.2 client_crud.go:585-602)
    del_scans_settings: bool = False
    # ?keepTraffic=1 honoured: v3.6.0 client_crud.go:547 (5e1cb7693, #5970) only
    keep_traffic_param: bool = False
    # detach keeps the traffic row: v3.4.2 client_crud.go:668, v3.6.0 :790 (v3.1.0 drops
    # it when the email is on no other inbound, client.go:1914-1942)
    detach_keeps_traffic: bool = False
    # clients/get/{email}: externalLinks + usedTraffic from v3.4.2 (controller/client.go:
    # 108-139); unknown email context: "" (the missing i18n key "get") in v3.1.0/v3.4.2,
    # "Obtain" in v3.6.0 (internal/web/controller/client.go:109-148)
    get_extras: bool = False
    get_unknown_context: str = ""
    # ClientRecord keys beyond v3.1.0's (database/model/model.go:319-338):
    # v3.4.2 model.go:620-640, v3.6.0 model.go:887-910
    record_extra_keys: tuple[str, ...] = ()

    @property
    def is_v2(self) -> bool:
        return self.name.startswith("2.")


_LEGACY_302: Final = PanelVersion(
    name="3.0.2",
    api="legacy",
    csrf=True,
    login_limiter=True,
    alert_has_password=False,
    login_ok_msg=" " + _MSG_LOGIN_OK,
    all_time=True,
    list_enriches=True,
    get_preloads_stats=False,
    legacy_dup_rule="email+subId",
    legacy_email_required=True,
    legacy_del_unknown_ok=False,
)
_V3_310: Final = PanelVersion(
    name="3.1.0",
    api="v3",
    csrf=True,
    login_limiter=True,
    alert_has_password=False,
    login_ok_msg=_MSG_LOGIN_OK,
    all_time=False,
    list_enriches=True,
    get_preloads_stats=False,
    client_types=_CLIENT_TYPES_310,
    readd_same_inbound="unique_error",
    rename_check_folds=True,
    detached_update="timestamp",
)
_V3_342: Final = PanelVersion(
    **{
        **asdict(_V3_310),
        "name": "3.4.2",
        "get_preloads_stats": True,
        "client_types": _CLIENT_TYPES_342,
        "readd_same_inbound": "append",
        "subid_unique_on_add": True,
        "email_chars_checked": True,
        "flow_filtered": True,
        "bulk_create": True,
        "update_inbound_filter": True,
        "update_keeps_uuid": True,
        "rename_check_folds": False,
        "update_subid_check": "always",
        "detached_update": "partial",
        "del_scans_settings": True,
        "detach_keeps_traffic": True,
        "get_extras": True,
        "record_extra_keys": (
            "privateKey",
            "publicKey",
            "allowedIPs",
            "preSharedKey",
            "keepAlive",
            "group",
        ),
    }
)
#: The releases the simulator reproduces, by version name.
VERSIONS: Final[dict[str, PanelVersion]] = {
    "2.8.3": PanelVersion(
        **{
            **asdict(_LEGACY_302),
            "name": "2.8.3",
            "csrf": False,
            "login_limiter": False,
            "alert_has_password": True,
            "list_enriches": False,
            "legacy_dup_rule": "any",
            "legacy_email_required": False,
            "legacy_del_unknown_ok": True,
            "public_status": True,
        }
    ),
    "3.0.2": _LEGACY_302,
    "3.1.0": _V3_310,
    "3.4.2": _V3_342,
    "3.6.0": PanelVersion(
        **{
            **asdict(_V3_342),
            "name": "3.6.0",
            "client_types": _CLIENT_TYPES_360,
            "readd_same_inbound": "noop",
            "add_reuses_uuid": True,
            "update_subid_check": "changed",
            "detached_update": "full",
            "keep_traffic_param": True,
            "get_unknown_context": _MSG_OBTAIN,
            "record_extra_keys": (*_V3_342.record_extra_keys, "secret", "adTag"),
        }
    ),
}


def resolve_version(
    version: str | None = None,
    generation: str | None = None,
    csrf: bool | None = None,
    bulk_create: bool | None = None,
) -> PanelVersion:
    """``version`` or the older shorthand: legacy→3.0.2, legacy+csrf=False→2.8.3,
    v3→3.6.0, v3+bulk_create=False→3.1.0. Contradictory combinations are refused."""
    if generation is not None and generation not in {"legacy", "v3"}:
        raise ValueError("generation must be 'legacy' or 'v3'")
    if version is None:
        generation = generation or "v3"
        if generation == "legacy":
            if bulk_create is False:
                raise ValueError("bulk_create=False is a v3 flavour (v3.1.x)")
            version = "2.8.3" if csrf is False else "3.0.2"
        else:
            if csrf is False:
                raise ValueError("every v3.1+ panel has CSRF; csrf=False is a legacy flavour")
            version = "3.1.0" if bulk_create is False else "3.6.0"
    spec = VERSIONS.get(str(version).lstrip("v"))
    if spec is None:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
    if generation is not None and generation != spec.api:
        raise ValueError(f"version {spec.name} is not generation {generation!r}")
    if csrf is not None and csrf != spec.csrf:
        raise ValueError(f"version {spec.name} has csrf={spec.csrf}")
    if bulk_create is not None and spec.api == "v3" and bulk_create != spec.bulk_create:
        raise ValueError(f"version {spec.name} has bulk_create={spec.bulk_create}")
    return spec


# -- Go-flavoured helpers ------------------------------------------------------------------


def _go_error(*parts: object) -> str:
    """``common.NewError`` text: ``fmt.Sprintln`` joins with spaces and ends with ``\\n``."""
    return " ".join(str(p) for p in parts) + "\n"


def _json_kind(value: Any) -> str:
    """encoding/json's name for a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type_error(value: Any, struct: str, path: str, go_type: str) -> str:
    """encoding/json v1 ``UnmarshalTypeError.Error()`` (Struct = innermost type, Field =
    the full dotted path), e.g. ``Client.client.allowedIPs`` (x3ui-v3.md Q2)."""
    kind = _json_kind(value)
    if kind == "number" and go_type in {"int", "int64"}:
        kind = f"number {json.dumps(value)}"
    return f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}"


def _check_go_value(value: Any, go_type: str) -> tuple[Any, str] | None:
    """None when ``value`` decodes into ``go_type``, else (offending value, its Go type):
    for a slice the offending element and the element type, as encoding/json reports."""
    if value is None:  # null leaves the Go zero value
        return None
    if go_type.startswith("[]"):
        if not isinstance(value, list):
            return value, go_type
        return next(
            (bad for v in value if (bad := _check_go_value(v, go_type[2:])) is not None), None
        )
    ok = {
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "int64": isinstance(value, int) and not isinstance(value, bool),
        "reverse": isinstance(value, dict),  # *model.ClientReverse{Tag string}
    }.get(go_type, True)
    if ok:
        return None
    return value, "model.ClientReverse" if go_type == "reverse" else go_type


def _bind_struct(
    data: Mapping[str, Any], types: Mapping[str, str], struct: str, prefix: str = ""
) -> tuple[dict[str, Any], str | None]:
    """Decode a JSON object into a Go struct: unknown keys dropped, keys matched
    case-insensitively (exact match preferred), the first type error kept, as
    encoding/json v1 does. Returns (known fields by their JSON names, error or None)."""
    folded = {k.lower(): k for k in types}
    out: dict[str, Any] = {}
    error = None
    for key, value in data.items():
        name = key if key in types else folded.get(key.lower())
        if name is None:
            continue
        bad = _check_go_value(value, types[name])
        if bad is not None:
            if error is None:
                error = _go_type_error(bad[0], struct, prefix + name, bad[1])
            continue
        if value is not None:
            out[name] = value
    return out, error


def _go_bool(value: Any) -> bool:
    """A model.Client field decoded with the error ignored: a non-bool is false."""
    return value is True


def _go_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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


@dataclass
class Fault:
    """One injected failure; ``count=None`` means until cleared, ``path`` filters by substring."""

    mode: str
    count: int | None = None
    delay: float = 0.0
    path: str = ""

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES or self.mode == "down":
            raise ValueError(f"unknown fault mode {self.mode!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    host: str
    remote_ip: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def is_xhr(self) -> bool:
        return self.headers.get("X-Requested-With", "") == "XMLHttpRequest"

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    abort: bool = False  # close the socket without answering


class _BindError(ValueError):
    """gin binding failed: reported as ``success:false`` with the Go error text."""


class _Panic(Exception):
    """A Go panic (type assertion on malformed settings): gin recovery answers 500."""


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the owning simulator; one instance per connection."""

    sim: X3UISimulator  # set on the per-simulator subclass
    protocol_version = "HTTP/1.0"  # one request per connection: stop() never waits on idle
    timeout = 10

    def do_GET(self) -> None:
        self.sim._serve(self)

    do_POST = do_GET  # noqa: N815 - http.server's naming
    do_PUT = do_GET  # noqa: N815
    do_DELETE = do_GET  # noqa: N815
    do_HEAD = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("x3ui-sim %s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs under a burst of concurrent clients,
    # which shows up as 1 s connect timeouts; a real panel (Go) listens with SOMAXCONN.
    request_queue_size = 128


class X3UISimulator:
    """An in-process 3x-ui panel; ``start()`` it, point a client at ``url``, ``stop()`` it."""

    def __init__(
        self,
        *,
        version: str | None = None,
        generation: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str = "admin",  # noqa: S107 - a local stand-in's default login
        base_path: str = "/",
        inbound_id: int = 1,
        inbound_port: int = 443,
        inbound_remark: str = "DE-Reality",
        inbounds: Iterable[Mapping[str, Any]] | None = None,
        api_tokens: Iterable[str] = (),
        csrf: bool | None = None,
        bulk_create: bool | None = None,
        session_max_age: int = DEFAULT_SESSION_MAX_AGE,
        lang: str = "en",
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.spec = resolve_version(version, generation, csrf, bulk_create)
        self.version = self.spec.name
        self.generation = self.spec.api
        self.csrf = self.spec.csrf
        self.bulk_create = self.spec.bulk_create
        self.host = host
        self._requested_port = port
        self.username = username
        self._password = password
        self.base_path = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        self.session_max_age = int(session_max_age)
        self.lang = lang
        self.state_file = Path(state_file) if state_file else None
        self._tokens = {hashlib.sha256(t.encode()).hexdigest() for t in api_tokens if t}

        self._lock = threading.RLock()
        self._listener_lock = threading.Lock()  # start/stop/down/up may race (control API)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._helpers: list[threading.Thread] = []
        self.port = port
        self._down = False
        self._clock_offset = 0.0

        self.faults: list[Fault] = []
        self.request_counts: Counter[str] = Counter()
        self.request_total = 0
        self.owner_alerts: list[dict[str, Any]] = []
        self.login_failures = 0
        self._limiter: dict[str, dict[str, Any]] = {}

        self._sessions: dict[str, dict[str, Any]] = {}
        self._inbounds: list[dict[str, Any]] = []
        self._traffic: dict[str, dict[str, Any]] = {}  # exact email -> client_traffics row
        self._records: dict[str, dict[str, Any]] = {}  # exact email -> v3 clients row
        self._next_traffic_id = 1
        self._next_record_id = 1
        self._started_at = time.time()
        specs = list(inbounds) if inbounds is not None else []
        if not specs:
            specs = [{"id": inbound_id, "port": inbound_port, "remark": inbound_remark}]
        for spec in specs:
            self._new_inbound(**spec)
        if self.state_file and self.state_file.exists():
            self._load_state()
        self._routes = self._build_routes()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The panel base URL including the base path, as a Node's ``panel_url``."""
        return f"http://{self.host}:{self.port}{self.base_path}"

    @property
    def root_url(self) -> str:
        """Scheme, host and port: where ``/__sim__/`` and ``/sub/`` live."""
        return f"http://{self.host}:{self.port}"

    @property
    def inbound_id(self) -> int:
        """The first inbound's id (the one single-inbound callers mean)."""
        return int(self._inbounds[0]["id"])

    @property
    def inbound_ids(self) -> list[int]:
        with self._lock:
            return [int(i["id"]) for i in self._inbounds]

    @property
    def _inbound(self) -> dict[str, Any]:
        return self._inbounds[0]

    def start(self) -> X3UISimulator:
        """Bind (port 0 picks a free one) and serve from a daemon thread."""
        self._stopping.clear()
        self._listen(self._requested_port)
        return self

    def stop(self) -> None:
        """Stop serving and join every thread this simulator started.

        Handlers sleeping in a ``slow``/``late`` fault wait on ``_stopping`` and give up
        at once (their connection is dropped), so stopping never waits for a delay.
        """
        self._stopping.set()
        self._close_listener()
        for helper in self._helpers:
            helper.join(timeout=5)
        self._helpers.clear()
        with self._lock:
            self._save_state()

    def __enter__(self) -> X3UISimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _listen(self, port: int) -> None:
        with self._listener_lock:
            if self._server is not None:
                return
            self._listen_locked(port)

    def _listen_locked(self, port: int) -> None:
        handler = type("SimHandler", (_Handler,), {"sim": self})
        server = _Server((self.host, port), handler)
        self.port = server.server_address[1]
        self._requested_port = self.port  # set_up() after set_down() rebinds the same port
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"x3ui-sim:{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        self._down = False
        thread.start()

    def _close_listener(self) -> None:
        with self._listener_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=5)

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

    # -- in-process control ----------------------------------------------------------------

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
            return copy.deepcopy(self._require_inbound(inbound_id)["settings"]["clients"])

    def client(self, email: str, inbound_id: int | None = None) -> dict[str, Any] | None:
        """The first settings entry with this email (exact, else case-insensitive)."""
        with self._lock:
            entries = self._entries(self._require_inbound(inbound_id), email)
            exact = [c for c in entries if c.get("email") == email]
            found = (exact or entries or [None])[0]
            return copy.deepcopy(found)

    def client_copies(self, email: str, inbound_id: int | None = None) -> int:
        """How many entries with this email (case-insensitive) an inbound's settings hold."""
        with self._lock:
            return len(self._entries(self._require_inbound(inbound_id), email))

    def records(self) -> list[dict[str, Any]]:
        """v3 ``clients`` rows as ``clients/list`` shows them, without traffic
        (``inboundIds`` is ``None`` for a row attached to no inbound). Legacy: ``[]``."""
        with self._lock:
            return [self._list_row(r, traffic=False) for r in self._sorted_records()]

    def snapshot(self) -> dict[str, Any]:
        """Everything a test or a benchmark may want to look at, JSON-safe."""
        with self._lock:
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
            "enable": _go_bool(client.get("enable")),
            "email": email,
            "uuid": "",
            "subId": "",
            "up": 0,
            "down": 0,
            "expiryTime": _go_int(client.get("expiryTime")),
            "total": _go_int(client.get("totalGB")),
            "reset": _go_int(client.get("reset")),
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
            enable=_go_bool(client.get("enable")),
            total=_go_int(client.get("totalGB")),
            expiryTime=_go_int(client.get("expiryTime")),
            reset=_go_int(client.get("reset")),
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
                "created_at": _go_int(client.get("created_at")) or self._now_ms(),
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
            record[key] = _go_int(client.get(key))
        record["enable"] = _go_bool(client.get("enable"))
        record["updated_at"] = _go_int(client.get("updated_at")) or self._now_ms()
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
        out["limitIp"] = _go_int(fields.get("limitIp"))
        out["totalGB"] = _go_int(fields.get("totalGB"))
        out["expiryTime"] = _go_int(fields.get("expiryTime"))
        out["enable"] = _go_bool(fields.get("enable"))
        out["tgId"] = _go_int(fields.get("tgId"))
        out["subId"] = str(fields.get("subId") or "")
        if fields.get("group"):
            out["group"] = fields["group"]
        out["comment"] = str(fields.get("comment") or "")
        out["reset"] = _go_int(fields.get("reset"))
        for key in ("created_at", "updated_at"):
            if fields.get(key):
                out[key] = fields[key]
        for key in ("privateKey", "publicKey", "allowedIPs", "preSharedKey", "keepAlive"):
            if fields.get(key) and key in self.spec.client_types:
                out[key] = fields[key]
        return out

    # -- HTTP plumbing ---------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        """Entry point for every request (runs on the handler's thread)."""
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        cookies: dict[str, str] = {}
        with contextlib.suppress(Exception):
            jar = SimpleCookie()
            jar.load(handler.headers.get("Cookie", ""))
            cookies = {k: m.value for k, m in jar.items()}
        request = _Request(
            method=handler.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query),
            headers=handler.headers,  # type: ignore[arg-type]
            body=body,
            host=(handler.headers.get("Host") or self.host).rsplit(":", 1)[0].strip("[]"),
            remote_ip=str(handler.client_address[0]),
            cookies=cookies,
        )
        if request.path.startswith("/__sim__/"):
            response = self._control(request)
        else:
            response = self._panel(request)
        self._write(handler, response)

    def _write(self, handler: _Handler, response: _Response) -> None:
        if response.abort:
            # RST instead of FIN, so the client sees a reset rather than an empty reply.
            with contextlib.suppress(OSError):
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            handler.close_connection = True
            return
        try:
            handler.send_response(response.status)
            for name, value in response.headers:
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            if handler.command != "HEAD" and response.body:
                handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout)
            handler.close_connection = True

    @staticmethod
    def _json(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None):
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return _Response(
            status,
            body,
            [("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
        )

    def _ok(self, obj: Any = None, msg: str = "", headers: list[tuple[str, str]] | None = None):
        return self._json({"success": True, "msg": msg, "obj": obj}, headers=headers)

    def _fail(self, msg: str, obj: Any = None) -> _Response:
        return self._json({"success": False, "msg": msg, "obj": obj})

    def _lang(self, request: _Request) -> str:
        raw = request.cookies.get("lang") or request.headers.get("Accept-Language") or self.lang
        return raw.strip().lower()[:2]

    def _t(self, request: _Request, text: str) -> str:
        return _RU.get(text, text) if self._lang(request) == "ru" else text

    def _err(self, request: _Request, error: str, context: str = _MSG_WRONG) -> _Response:
        """``jsonMsg(c, context, err)``: ``"<context> (<err>)"`` (v3.0.2 web/controller/
        util.go:140-142; an empty context, a missing i18n key, gives ``" (<err>)"``)."""
        return self._fail(f"{self._t(request, context) if context else ''} ({error})")

    # -- panel routing ---------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], str, Callable[..., _Response]]]:
        """(method, regex, counted name, handler) for this version; paths are base-relative."""
        routes: list[tuple[str, str, Callable[..., _Response]]] = [
            ("POST", "login", self._h_login),
            ("GET", "panel/api/inbounds/list", self._h_inbound_list),
            ("GET", "panel/api/inbounds/get/{id}", self._h_inbound_get),
            ("GET", "panel/api/server/status", self._h_status),
        ]
        if self.csrf:  # v3.0.2 web/controller/index.go:42-45, xui.go:44
            routes += [
                ("GET", "csrf-token", self._h_csrf_token),
                ("GET", "panel/csrf-token", self._h_csrf_token),
                ("POST", "logout", self._h_logout),
            ]
        else:  # v2.8.3 web/controller/index.go:42-43: GET logout, 307 to the base path
            routes.append(("GET", "logout", self._h_logout))
        if self.spec.public_status:
            routes.append(("GET", "status", self._h_status))
        if self.generation == "legacy":
            routes += [
                ("POST", "panel/api/inbounds/addClient", self._h_legacy_add),
                ("POST", "panel/api/inbounds/updateClient/{clientId}", self._h_legacy_update),
                ("POST", "panel/api/inbounds/{id}/delClient/{clientId}", self._h_legacy_del),
                (
                    "POST",
                    "panel/api/inbounds/{id}/delClientByEmail/{email}",
                    self._h_legacy_del_by_email,
                ),
                ("GET", "panel/api/inbounds/getClientTraffics/{email}", self._h_traffic),
                ("POST", "panel/api/inbounds/onlines", self._h_onlines),
            ]
        else:  # v3.1.0 web/controller/client.go:32-54
            routes += [
                ("GET", "panel/api/clients/list", self._h_v3_list),
                ("GET", "panel/api/clients/get/{email}", self._h_v3_get),
                ("GET", "panel/api/clients/traffic/{email}", self._h_traffic),
                ("GET", "panel/api/clients/links/{email}", self._h_v3_links),
                ("GET", "panel/api/clients/subLinks/{subId}", self._h_v3_sub_links),
                ("POST", "panel/api/clients/add", self._h_v3_add),
                ("POST", "panel/api/clients/update/{email}", self._h_v3_update),
                ("POST", "panel/api/clients/del/{email}", self._h_v3_del),
                ("POST", "panel/api/clients/{email}/attach", self._h_v3_attach),
                ("POST", "panel/api/clients/{email}/detach", self._h_v3_detach),
                ("POST", "panel/api/clients/onlines", self._h_onlines),
            ]
            if self.bulk_create:
                routes.append(("POST", "panel/api/clients/bulkCreate", self._h_v3_bulk_create))
        compiled = []
        for method, template, fn in routes:
            pattern = re.sub(
                r"\\\{(\w+)\\\}",
                lambda m: f"(?P<{_PARAM_NAMES[m.group(1)]}>[^/]+)",
                re.escape(template),
            )
            compiled.append((method, re.compile(f"^{pattern}$"), f"{method} {template}", fn))
        return compiled

    def _match(self, request: _Request) -> tuple[str, Callable[..., _Response] | None, dict]:
        if request.path.startswith("/sub/"):
            return "GET /sub/{subId}", self._h_sub, {"sub_id": request.path[5:]}
        if not request.path.startswith(self.base_path):
            return f"{request.method} (outside base path)", None, {}
        relative = request.path[len(self.base_path) :]
        for method, regex, name, fn in self._routes:
            found = regex.match(relative)
            if found and method == request.method:
                return name, fn, found.groupdict()
        return f"{request.method} (no route)", None, {}

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path and fault.path not in path:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _panel(self, request: _Request) -> _Response:
        name, fn, params = self._match(request)
        with self._lock:
            self.request_counts[name] += 1
            self.request_total += 1
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.mode == "slow":
                if self._stopping.wait(fault.delay):
                    return _Response(abort=True)
            elif fault.mode == "reset":
                return _Response(abort=True)
            elif fault.mode == "http500":
                return _Response(500)
            elif fault.mode == "empty":
                return _Response(200)
            elif fault.mode == "html":
                page = b"<!DOCTYPE html><html><head><title>Login</title></head><body></body></html>"
                return _Response(200, page, [("Content-Type", "text/html; charset=utf-8")])
        response = self._dispatch(request, name, fn, params)
        if fault is not None and fault.mode == "empty_ok":
            return _Response(200)
        # "late": the change is made; the answer comes too late for a short read timeout.
        # stop() sets _stopping, which wakes this wait at once (no hang on shutdown).
        if fault is not None and fault.mode == "late" and self._stopping.wait(fault.delay):
            return _Response(abort=True)
        return response

    def _dispatch(self, request: _Request, name: str, fn: Any, params: dict) -> _Response:
        if fn is None:
            return _Response(404)  # gin NoRoute: no group middleware, so no auth answer
        if name.split(" ", 1)[1].startswith("panel/"):
            denied = self._authorize(request)
            if denied is not None:
                return denied
        try:
            with self._lock:
                return fn(request, **params)
        except _Panic:
            return _Response(500)

    # -- auth --------------------------------------------------------------------------------

    def _session(self, request: _Request) -> tuple[str, dict[str, Any]] | None:
        sid = request.cookies.get(COOKIE_NAME, "")
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if session["expires"] < self._time():
                self._sessions.pop(sid, None)
                return None
            return sid, session

    def _new_session(self, csrf_token: str | None = None, *, authed: bool = False):
        sid = secrets.token_urlsafe(24)
        session = {
            "csrf": csrf_token or secrets.token_urlsafe(32),
            "authed": authed,
            "expires": self._time() + self.session_max_age,
        }
        with self._lock:
            self._sessions[sid] = session
        path = self.base_path if self.csrf else "/"
        cookie = (
            f"{COOKIE_NAME}={sid}; Path={path}; Max-Age={self.session_max_age}; "
            "HttpOnly; SameSite=Lax"
        )
        return sid, session, ("Set-Cookie", cookie)

    def _bearer_ok(self, request: _Request) -> bool:
        if not self.csrf:  # v2.8.3 has no API tokens (v3.0.2 web/controller/api.go:33-55)
            return False
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        with self._lock:
            return any(hmac.compare_digest(digest, known) for known in self._tokens)

    def _authorize(self, request: _Request) -> _Response | None:
        """``checkAPIAuth`` then CSRF: None when the request may proceed."""
        if self._bearer_ok(request):
            return None  # api_authed: CSRF skipped (v3.0.2 web/middleware/security.go:43-46)
        found = self._session(request)
        if found is None or not found[1]["authed"]:
            if not self.csrf:  # v2.8.3 web/controller/base.go:19-30
                if request.is_xhr:
                    response = self._fail(self._t(request, _MSG_EXPIRED))
                    response.status = 401
                    return response
                return _Response(307, b"", [("Location", self.base_path)])
            # v3.0.2 web/controller/api.go:46-52; v3.6.0 the same
            return _Response(401 if request.is_xhr else 404)
        unsafe = request.method not in {"GET", "HEAD", "OPTIONS", "TRACE"}
        if self.csrf and unsafe and not self._csrf_ok(request, found[1]):
            return _Response(403)
        return None

    def _csrf_ok(self, request: _Request, session: Mapping[str, Any], form: Any = None) -> bool:
        """Header ``X-CSRF-Token``, else the form field ``_csrf`` (v3.0.2 session/csrf.go:
        16,39-42)."""
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and form is not None:
            sent = str(form.get("_csrf", ""))
        if not sent and request.content_type == "application/x-www-form-urlencoded":
            sent = parse_qs(request.body.decode("utf-8", "replace")).get("_csrf", [""])[0]
        return bool(sent) and hmac.compare_digest(sent, session["csrf"])

    def _h_csrf_token(self, request: _Request) -> _Response:
        found = self._session(request)
        if found is not None:
            return self._ok(found[1]["csrf"])
        _sid, session, cookie = self._new_session()
        return self._ok(session["csrf"], headers=[cookie])

    def _client_ip(self, request: _Request) -> str:
        """v2.8.3 trusts X-Real-IP / X-Forwarded-For (web/controller/util.go:16-29); from
        v3.0.2 only a trusted proxy may set them (util.go:18-39), none is configured here."""
        if not self.csrf:
            forwarded = request.headers.get("X-Real-IP") or request.headers.get(
                "X-Forwarded-For", ""
            )
            if forwarded.strip():
                return forwarded.split(",")[0].strip()
        return request.remote_ip

    def _h_login(self, request: _Request) -> _Response:
        """v2.8.3 web/controller/index.go:57-102; v3.0.2 index.go:79-113 (limiter first)."""
        found = self._session(request)
        try:
            form = self._bind(request)
        except _BindError:
            form = None
        if self.csrf and (found is None or not self._csrf_ok(request, found[1], form)):
            return _Response(403)  # CSRFMiddleware on POST login runs before the handler
        if form is None:
            return self._fail(self._t(request, _MSG_BAD_FORM))
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        if not username:
            return self._fail(self._t(request, _MSG_NO_USER))
        if not password:
            return self._fail(self._t(request, _MSG_NO_PASS))
        ip = self._client_ip(request)
        key = f"{ip.strip()}\x00{username.strip().lower()}"  # login_limiter.go:90
        if self.spec.login_limiter and not self._limiter_allows(key):
            self._login_refused(username, password, ip, "too many failed attempts")
            return self._fail(self._t(request, _MSG_LOGIN_BAD))
        user_ok = hmac.compare_digest(username, self.username)
        pass_ok = hmac.compare_digest(password, self._password)
        if not (user_ok and pass_ok):
            if self.spec.login_limiter:
                self._limiter_failure(key)
            self._login_refused(username, password, ip, "invalid credentials")
            return self._fail(self._t(request, _MSG_LOGIN_BAD))
        self._limiter.pop(key, None)  # registerSuccess (login_limiter.go:83-87)
        self._alert("success", username, ip)
        token = None
        if found is not None:
            self._sessions.pop(found[0], None)
            token = found[1]["csrf"]  # not rotated at login; the cookie is
        _sid, _session, cookie = self._new_session(token, authed=True)
        self._save_state()
        return self._ok(None, self._t(request, self.spec.login_ok_msg), headers=[cookie])

    def _limiter_allows(self, key: str) -> bool:
        """``allow``: a finished block is cleared (v3.0.2 login_limiter.go:41-60)."""
        record = self._limiter.get(key)
        if record is None or not record.get("blocked_until"):
            return True
        if self._time() < record["blocked_until"]:
            return False
        self._limiter.pop(key, None)
        return True

    def _limiter_failure(self, key: str) -> None:
        """``registerFailure``: sliding 5-minute window, the 5th failure blocks for 15
        minutes and clears the list (v3.0.2 login_limiter.go:62-81)."""
        now = self._time()
        record = self._limiter.setdefault(key, {"failures": [], "blocked_until": 0.0})
        record["failures"] = [t for t in record["failures"] if now - t < LOGIN_WINDOW]
        record["failures"].append(now)
        if len(record["failures"]) >= LOGIN_MAX_FAILURES:
            record["failures"] = []
            record["blocked_until"] = now + LOGIN_COOLDOWN

    def _login_refused(self, username: str, password: str, ip: str, reason: str) -> None:
        self.login_failures += 1
        self._alert("failed", username, ip, password=password, reason=reason)

    def _alert(
        self, status: str, username: str, ip: str, *, password: str = "", reason: str = ""
    ) -> None:
        """``UserLoginNotify`` to the owner's Telegram (bot on, tgBotLoginNotify default
        on): v2.8.3 web/service/tgbot.go:2599-2628 puts "Password==<tried>" in a failure
        alert; v3.0.2 tgbot.go:2779-2810 sends a reason and no password."""
        alert: dict[str, Any] = {
            "status": status,
            "username": username,
            "ip": ip,
            "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self._time())),
        }
        if status == "failed":
            if self.spec.alert_has_password:
                alert["password"] = password
            else:
                alert["reason"] = reason
        self.owner_alerts.append(alert)

    def _h_logout(self, request: _Request) -> _Response:
        found = self._session(request)
        if self.csrf:  # v3.0.2 index.go:45,138-148: CSRF-checked POST, {"success": true}
            if found is None or not self._csrf_ok(request, found[1]):
                return _Response(403)
            self._sessions.pop(found[0], None)
            self._save_state()
            return self._json({"success": True}, headers=[("Cache-Control", "no-store")])
        if found is not None:
            self._sessions.pop(found[0], None)
            self._save_state()
        return _Response(307, b"", [("Location", self.base_path)])

    # -- request bodies --------------------------------------------------------------------

    @staticmethod
    def _bind(request: _Request) -> dict[str, Any]:
        """gin ``ShouldBind``: the Content-Type picks JSON or form binding."""
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"null")
            except ValueError as exc:
                raise _BindError(f"invalid character in JSON body: {exc.msg}") from None
            if not isinstance(data, dict):
                raise _BindError("json: cannot unmarshal into Go value of type model.Inbound")
            return data
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in form.items()}

    @staticmethod
    def _bind_json(request: _Request) -> Any:
        """gin ``ShouldBindJSON`` (the v3 client API): JSON whatever the Content-Type."""
        try:
            return json.loads(request.body or b"null")
        except ValueError as exc:
            raise _BindError(f"invalid character in JSON body: {exc.msg}") from None

    def _bind_client(self, data: Any, struct: str = "Client", prefix: str = "") -> dict[str, Any]:
        """Bind into ``model.Client`` with this version's field types (x3ui-v3.md Q2)."""
        if not isinstance(data, dict):
            kind = _json_kind(data)
            if prefix:
                raise _BindError(
                    f"json: cannot unmarshal {kind} into Go struct field "
                    f"ClientCreatePayload.client of type model.Client"
                )
            raise _BindError(f"json: cannot unmarshal {kind} into Go value of type model.Client")
        fields, error = _bind_struct(data, self.spec.client_types, struct, prefix)
        if error:
            raise _BindError(error)
        return fields

    def _bind_create_payload(self, data: Any) -> tuple[dict[str, Any], list[int]]:
        """``service.ClientCreatePayload{Client model.Client; InboundIds []int}``
        (v3.1.0 web/service/client.go:388-391)."""
        if not isinstance(data, dict):
            raise _BindError(
                f"json: cannot unmarshal {_json_kind(data)} into Go value of type "
                "service.ClientCreatePayload"
            )
        types = {"client": "object", "inboundIds": "[]int"}
        error = None
        client: dict[str, Any] = {}
        inbound_ids: list[int] = []
        folded = {k.lower(): k for k in types}
        for key, value in data.items():
            name = key if key in types else folded.get(key.lower())
            if name == "client" and value is not None:
                try:
                    client = self._bind_client(value, "Client", "client.")
                except _BindError as exc:
                    error = error or str(exc)
            elif name == "inboundIds":
                bad = _check_go_value(value, "[]int")
                if bad is not None:
                    error = error or _go_type_error(
                        bad[0], "ClientCreatePayload", "inboundIds", bad[1]
                    )
                else:
                    inbound_ids = list(value or [])
        if error:
            raise _BindError(error)
        return client, inbound_ids

    def _legacy_payload(self, request: _Request) -> tuple[int, list[dict[str, Any]]]:
        """``{"id": int, "settings": "<JSON string>"}`` → (inbound id, clients); settings
        is a Go string (v2.8.3 database/model/model.go:52; v3.0.2 model.go:62)."""
        data = self._bind(request)
        raw_id = data.get("id")
        if request.content_type == "application/json":
            if not isinstance(raw_id, int) or isinstance(raw_id, bool):
                raise _BindError(
                    "json: cannot unmarshal string into Go struct field Inbound.id of type int"
                )
            if not isinstance(data.get("settings", ""), str):
                raise _BindError(
                    "json: cannot unmarshal object into Go struct field "
                    "Inbound.settings of type string"
                )
        try:
            inbound_id = int(raw_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _BindError(f'strconv.ParseInt: parsing "{raw_id}": invalid syntax') from None
        try:
            settings = json.loads(data.get("settings") or "")
        except ValueError:
            raise _BindError("unexpected end of JSON input") from None
        clients = settings.get("clients") if isinstance(settings, dict) else None
        if not isinstance(clients, list) or not all(isinstance(c, dict) for c in clients):
            raise _Panic  # interface conversion: interface {} is nil, not []interface {}
        return inbound_id, clients

    # -- legacy client API (≤ v3.0.2) ------------------------------------------------------

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
            return _go_error("client email is required")
        if not client.get("id"):
            return _go_error("empty client ID")
        return None

    def _h_legacy_add(self, request: _Request) -> _Response:
        """``AddInboundClient``: v2.8.3 web/service/inbound.go:524-640; v3.0.2 :814-940."""
        try:
            inbound_id, clients = self._legacy_payload(request)
        except _BindError as exc:
            return self._err(request, str(exc), _MSG_INBOUND_UPDATED)
        duplicate = self._legacy_duplicate(clients)  # checked before the inbound is loaded
        if duplicate is not None:
            return self._err(request, _go_error("Duplicate email:", duplicate))
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        for client in clients:
            problem = self._legacy_check(client)
            if problem:
                return self._err(request, problem)
        now = self._now_ms()
        for client in clients:
            stored = dict(
                client
            )  # exactly as sent, unknown keys kept (legacy addClient stores the map as sent)
            stored.setdefault("created_at", now)
            stored["updated_at"] = now
            # v3.0.2 inbound.go:881-882: appended even when the email is already here
            inbound["settings"]["clients"].append(stored)
            if stored.get("email"):  # v2.8.3 :610-636: an empty email gets no traffic row
                self._ensure_traffic(stored, int(inbound["id"]))
        self._save_state()
        return self._ok(None, self._t(request, _MSG_ADDED))

    def _h_legacy_update(self, request: _Request, client_id: str) -> _Response:
        """``UpdateInboundClient``: v2.8.3 inbound.go:730-903; v3.0.2 :1268-1515."""
        try:
            inbound_id, clients = self._legacy_payload(request)
        except _BindError as exc:
            return self._err(request, str(exc), _MSG_INBOUND_UPDATED)
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        entries = inbound["settings"]["clients"]
        if entries and not clients:
            raise _Panic  # clients[0] on an empty payload
        # the first entry whose uuid matches (v2.8.3 :758-776; v3.0.2 :1296-1317)
        index = next((i for i, c in enumerate(entries) if c.get("id") == client_id), -1)
        if index < 0 or not clients[0].get("id"):
            return self._err(request, _go_error("empty client ID"))
        old, new = entries[index], dict(clients[0])
        old_email, email = str(old.get("email") or ""), str(new.get("email") or "")
        if self.spec.legacy_email_required and not email.strip():
            return self._err(request, _go_error("client email is required"))
        # exact != decides whether to check (v2.8.3 :783-791; v3.0.2 :1323-1335)
        if email and email != old_email and self._legacy_duplicate([new]) is not None:
            return self._err(request, _go_error("Duplicate email:", email))
        # whole-map replacement; created_at kept, updated_at now (v2.8.3 :799-818)
        new["created_at"] = old.get("created_at") or self._now_ms()
        new["updated_at"] = self._now_ms()
        entries[index] = new
        if not email:  # v2.8.3 :851-859: an emptied email loses its traffic row
            self._traffic.pop(old_email, None)
        else:
            self._update_traffic(old_email, new)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_UPDATED))

    def _legacy_drop_traffic(self, email: str, inbound_id: int) -> str | None:
        """After a delete: v2.8.3 always drops the row; v3.0.2 only if no other inbound
        holds the email (inbound.go:1212-1239). A missing row fails the delete with
        ``record not found`` (v2.8.3 :700-704; v3.0.2 :1228-1232)."""
        if email not in self._traffic:
            return "record not found"
        if self.spec.is_v2 or not self._holders(email, exclude=inbound_id):
            self._traffic.pop(email, None)
        return None

    def _h_legacy_del(self, request: _Request, inbound_id: str, client_id: str) -> _Response:
        """``DelInboundClient``: v2.8.3 inbound.go:642-728; v3.0.2 :1153-1266."""
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found")
        entries = inbound["settings"]["clients"]
        kept = [c for c in entries if c.get("id") != client_id]  # every copy goes
        if len(kept) == len(entries) and not self.spec.legacy_del_unknown_ok:
            problem = _go_error("Client Not Found In Inbound For ID:", client_id)
            return self._err(request, problem)
        if not kept:
            return self._err(request, _go_error("no client remained in Inbound"))
        if len(kept) < len(entries):
            email = str(next(c for c in entries if c.get("id") == client_id).get("email") or "")
            inbound["settings"]["clients"] = kept
            problem = self._legacy_drop_traffic(email, int(inbound["id"]))
            if problem:
                inbound["settings"]["clients"] = entries  # the transaction rolls back
                return self._err(request, problem)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_DELETED))

    def _h_legacy_del_by_email(self, request: _Request, inbound_id: str, email: str) -> _Response:
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
            problem = _go_error(f"client with email {email} not found")
            return self._fail(f"Failed to delete client by email ({problem})")
        if not kept:
            problem = _go_error("no client remained in Inbound")
            return self._fail(f"Failed to delete client by email ({problem})")
        if self.spec.is_v2 and email not in self._traffic:
            problem = _go_error("Inbound Not Found For Email:", email)
            return self._fail(f"Failed to delete client by email ({problem})")
        inbound["settings"]["clients"] = kept
        if not self._holders(email) or self.spec.is_v2:  # v3.0.2 keeps a shared row
            self._traffic.pop(email, None)
        self._save_state()
        return self._ok(None, "Client deleted successfully")

    # -- v3 client API (≥ v3.1) ------------------------------------------------------------

    def _v3_validate(self, client: Mapping[str, Any]) -> str | None:
        """v3.4.2 internal/web/service/client_crud.go:45-58 (character checks v3.3.1+)."""
        email = str(client.get("email") or "")
        if not email.strip():
            return _go_error("client email is required")
        if self.spec.email_chars_checked:
            if _forbidden_chars(email):
                return _go_error("client email contains an invalid character:", email)
            if _forbidden_chars(str(client.get("subId") or "")):
                return _go_error("client subId contains an invalid character:", client["subId"])
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
            return _go_error("at least one inbound is required")
        email = str(client["email"])
        client["subId"] = str(client.get("subId") or "") or str(uuid.uuid4())
        client["enable"] = True  # Create forces enable (v3.1.0 client.go:405-410)
        now = self._now_ms()
        client["created_at"] = _go_int(client.get("created_at")) or now
        client["updated_at"] = now
        existing = self._find_record(email)  # exact "email = ?"
        if existing is not None and (not existing["subId"] or existing["subId"] != client["subId"]):
            return _go_error("email already in use:", email)
        if self.spec.subid_unique_on_add and any(
            r["subId"] == client["subId"] and r["email"] != email for r in self._records.values()
        ):
            return _go_error("subId already in use:", client["subId"])
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
                return _go_error("Duplicate email:", email)
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

    def _h_v3_add(self, request: _Request) -> _Response:
        """v3.1.0 web/controller/client.go:94-110; v3.6.0 internal/web/controller/
        client.go:174-190 (obj: null, or {"nodePending": true} with remote nodes)."""
        try:
            client, inbound_ids = self._bind_create_payload(self._bind_json(request))
        except _BindError as exc:
            return self._err(request, str(exc))
        error = self._v3_create(client, inbound_ids)
        self._save_state()
        if error is not None:
            return self._err(request, error)
        return self._ok(None, self._t(request, _MSG_ADDED))

    def _h_v3_bulk_create(self, request: _Request) -> _Response:
        """v3.2.0+ (v3.4.2 internal/web/service/client_bulk.go:1099-1107,1165-1345):
        per-item failures never fail the request; reasons have no trailing newline."""
        try:
            payloads = self._bind_json(request)
            if not isinstance(payloads, list):
                raise _BindError(
                    f"json: cannot unmarshal {_json_kind(payloads)} into Go value of type "
                    "[]service.ClientCreatePayload"
                )
            bound = [self._bind_create_payload(p) for p in payloads]
        except _BindError as exc:
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
                None if inbound_ids else _go_error("at least one inbound is required")
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

    def _inbound_filter(self, request: _Request) -> list[int] | None:
        """``?inboundIds=1,2`` from v3.2.8 (v3.6.0 internal/web/controller/client.go:19-32):
        non-integers dropped; nothing parsed means no filter."""
        if not self.spec.update_inbound_filter:
            return None
        raw = ",".join(request.query.get("inboundIds", []))
        ids = [int(p) for p in raw.split(",") if p.strip().lstrip("-").isdigit()]
        return ids or None

    def _h_v3_update(self, request: _Request, email: str) -> _Response:
        """``ClientService.Update``: v3.1.0 web/service/client.go:552-611; v3.4.2
        internal/web/service/client_crud.go:265-423; v3.6.0 :311-515. Replace, not patch."""
        try:
            body = self._bind_client(self._bind_json(request))
        except _BindError as exc:
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
        body["created_at"] = _go_int(body.get("created_at")) or record["created_at"]
        body["updated_at"] = self._now_ms()
        if not body.get("id"):
            keep = self.spec.update_keeps_uuid or not attached
            body["id"] = record["uuid"] if keep else str(uuid.uuid4())
        if new_email != record["email"]:
            clash = self._find_record(new_email, fold=self.spec.rename_check_folds)
            if clash is not None and clash is not record:
                return self._err(request, _go_error("Duplicate email:", new_email))
        check = self.spec.update_subid_check
        subid_checked = check == "always" or (
            check == "changed" and body["subId"] != record["subId"]
        )
        if subid_checked and any(
            r["subId"] == body["subId"] and r is not record for r in self._records.values()
        ):
            return self._err(request, _go_error("Duplicate subId:", body["subId"]))
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
                    return self._err(request, _go_error("empty client ID"))
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
        return self._ok(None, self._t(request, _MSG_UPDATED))

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
            record["enable"] = _go_bool(body.get("enable"))
            record["group"] = str(body.get("group") or "")
        if mode == "full":
            self._upsert_record(self._go_client(body), [])
        record["updated_at"] = self._now_ms()

    def _remove_from_inbound(self, inbound: dict[str, Any], email: str) -> int:
        entries = inbound["settings"]["clients"]
        kept = [c for c in entries if str(c.get("email", "")).lower() != email.lower()]
        inbound["settings"]["clients"] = kept
        return len(entries) - len(kept)

    def _h_v3_del(self, request: _Request, email: str) -> _Response:
        """v3.1.0 web/service/client.go:614-661; v3.4.2 internal/web/service/client_crud.go:
        426-480,585-602; v3.6.0 :517-599,699-716. The last client may go (no guard)."""
        keep_traffic = self.spec.keep_traffic_param and request.query.get("keepTraffic") == ["1"]
        record = self._find_record(email)
        if record is None:
            if not self.spec.del_scans_settings:
                return self._err(request, "record not found")
            removed = sum(self._remove_from_inbound(i, email) for i in self._inbounds)
            if not removed:
                problem = _go_error(f'client "{email}" not found in any inbound or client record')
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
        return self._ok(None, self._t(request, _MSG_DELETED))

    def _attach_body(self, request: _Request) -> list[int]:
        """``attachDetachBody{InboundIds []int}`` (v3.1.0 web/controller/client.go:335-352)."""
        data = self._bind_json(request)
        if not isinstance(data, dict):
            raise _BindError(
                f"json: cannot unmarshal {_json_kind(data)} into Go value of type "
                "controller.attachDetachBody"
            )
        value = data.get("inboundIds")
        bad = _check_go_value(value, "[]int")
        if bad is not None:
            raise _BindError(_go_type_error(bad[0], "attachDetachBody", "inboundIds", bad[1]))
        return list(value or [])

    def _h_v3_attach(self, request: _Request, email: str) -> _Response:
        """Copy the stored row onto more inbounds, skipping attached ones (v3.1.0
        web/service/client.go:663-709; v3.6.0 internal/web/service/client_crud.go:601-657)."""
        try:
            wanted = self._attach_body(request)
        except _BindError as exc:
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
        return self._ok(None, self._t(request, _MSG_ADDED))

    def _h_v3_detach(self, request: _Request, email: str) -> _Response:
        """``POST clients/{email}/detach {"inboundIds": [..]}`` in every v3 release: the row
        is kept even when attached to nothing (v3.1.0 web/controller/client.go:44,146-148,
        335-352; v3.6.0 internal/web/service/client_crud.go:764-800)."""
        try:
            wanted = self._attach_body(request)
        except _BindError as exc:
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
        return self._ok(None, self._t(request, _MSG_DELETED))

    def _h_v3_list(self, request: _Request) -> _Response:
        return self._ok([self._list_row(r) for r in self._sorted_records()])

    def _h_v3_get(self, request: _Request, email: str) -> _Response:
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

    def _h_v3_links(self, request: _Request, email: str) -> _Response:
        record = self._find_record(email)
        if record is None:
            return self._err(request, "record not found", _MSG_OBTAIN)
        links = []
        for inbound_id in record["inboundIds"]:
            inbound = self._get_inbound(inbound_id)
            for entry in self._entries(inbound, email) if inbound else []:
                links.append(self.vless_link(entry, request.host, inbound))
        return self._ok(links)

    def _h_v3_sub_links(self, request: _Request, sub_id: str) -> _Response:
        return self._ok([self.vless_link(c, request.host, i) for i, c in self._by_sub(sub_id)])

    # -- shared routes ---------------------------------------------------------------------

    def _h_traffic(self, request: _Request, email: str) -> _Response:
        """``GetClientTrafficByEmail`` (v3.0.2 web/service/inbound.go:2440-2476,3359-3372;
        the same in v3.6.0 internal/web/service/inbound_clients.go:449-470): the row by
        exact email, then its inbound's settings by exact email."""
        row = self._traffic.get(email)
        inbound = self._get_inbound(row["inboundId"]) if row is not None else None
        if row is not None and inbound is None:
            return self._err(request, "record not found", _MSG_TRAFFIC)
        if row is None:
            return self._err(
                request, _go_error("Inbound Not Found For Email:", email), _MSG_TRAFFIC
            )
        entry = next((c for c in inbound["settings"]["clients"] if c.get("email") == email), None)
        if entry is None:
            problem = _go_error("Client Not Found In Inbound For Email:", email)
            return self._err(request, problem, _MSG_TRAFFIC)
        out = {**row, "uuid": str(entry.get("id") or ""), "subId": str(entry.get("subId") or "")}
        if self.spec.is_v2:  # v2.8.3 :1982 t.Enable = client.Enable
            out["enable"] = _go_bool(entry.get("enable"))
        return self._ok(out)

    def _h_onlines(self, request: _Request) -> _Response:
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

    def _h_inbound_list(self, request: _Request) -> _Response:
        """``GetInbounds`` preloads ClientStats in every version (v2.8.3 web/service/
        inbound.go:31-39; v3.1.0 :126-135; v3.6.0 internal/web/service/inbound.go:164-171)."""
        return self._ok([self._inbound_out(i, stats=True) for i in self._inbounds])

    def _h_inbound_get(self, request: _Request, inbound_id: str) -> _Response:
        inbound = self._get_inbound(inbound_id)
        if inbound is None:
            return self._err(request, "record not found", _MSG_OBTAIN)
        return self._ok(self._inbound_out(inbound, stats=self.spec.get_preloads_stats))

    def _h_status(self, request: _Request) -> _Response:
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

    def _h_sub(self, request: _Request, sub_id: str) -> _Response:
        if request.method != "GET":
            return _Response(404)
        pairs = [
            (inbound, client)
            for inbound, client in self._by_sub(sub_id)
            if inbound.get("enable", True) and (client.get("enable") or not self.spec.is_v2)
        ]
        if not pairs:
            if self.generation == "v3":
                return _Response(404)
            return _Response(400, b"Error!", [("Content-Type", "text/plain; charset=utf-8")])
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
        return _Response(
            200,
            base64.b64encode(text.encode()),
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Subscription-Userinfo", userinfo),
                ("Profile-Update-Interval", "12"),
            ],
        )

    # -- control API -----------------------------------------------------------------------

    def _control(self, request: _Request) -> _Response:
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
        except (KeyError, TypeError, ValueError) as exc:
            return self._json({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return self._json({"error": "unknown control endpoint"}, 404)

    def _control_faults(self, body: Mapping[str, Any]) -> _Response:
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
