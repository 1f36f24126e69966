"""A local 3x-ui panel for development, demos and tests (``manage.py x3ui_simulator``).

It serves one VLESS/reality inbound over the same HTTP API a real panel has, following
``/work/shared/reference/x3ui-api.md`` for everything our client touches: login (form or
JSON) with or without CSRF, the ``3x-ui`` session cookie and its expiry, the
unauthenticated answers of each version, Bearer tokens, both client APIs with their
uniqueness rules and error texts, server status, inbound get/list and ``/sub/{subId}``.

Flavours (``generation`` + ``csrf``):

- ``generation="v3"``: a v3.x panel (≥ v3.1: ``/panel/api/clients/*``, settings as objects,
  CSRF, Bearer tokens, last-client delete allowed). ``bulk_create=False`` models a v3.1.x
  without ``/clients/bulkCreate``.
- ``generation="legacy"`` (default ``csrf=True``): v3.0.2, the last legacy release: legacy
  client routes, settings as JSON strings, CSRF, Bearer tokens, case-insensitive emails,
  ``delClient`` of an unknown id is an error, unauthenticated XHR gets 401 with no body.
- ``generation="legacy", csrf=False``: v2.8.3: no CSRF (``GET csrf-token`` is 404), no
  tokens, case-sensitive emails, unknown ``delClient`` is a silent success, and an
  unauthenticated call gets 401 JSON (XHR) or a 307 redirect to the base path.

Not part of a real panel: the control API under ``/__sim__/`` (outside any base path) and
the in-process methods below, used to inject faults, seed foreign clients, set traffic and
read per-route request counts. The subscription endpoint is served on the panel port at
``/sub/`` rather than on a separate ``subPort``.

Control, in process: ``add_fault(mode, count=None, delay=0, path="")`` with ``mode`` one of
``reset | slow | http500 | empty | empty_ok | html`` (``count`` = fail the next N matching
requests, ``path`` = only URLs containing it), ``clear_faults()``, ``set_down()`` /
``set_up()`` (listener closed: connection refused), ``expire_sessions()``,
``seed_client(email, ...)``, ``set_traffic(email, up=, down=)``, ``add_api_token(t)``,
``request_counts`` (a Counter keyed by route, e.g. ``"GET panel/api/clients/list"``),
``reset_counts()``, ``clients()``, ``client(email)``, ``snapshot()``.

Control, over HTTP (any process): ``GET /__sim__/state`` (the snapshot, counts included);
``POST /__sim__/faults`` with one fault ``{"mode", "count"?, "delay"?, "path"?}`` or
``{"faults": [...]}`` (extra modes: ``fail_next`` = ``http500``, ``expire_sessions``,
``clear``, and ``down`` which needs ``"seconds"`` because the control API goes down too);
``DELETE /__sim__/faults``; ``POST /__sim__/expire-sessions``; ``POST /__sim__/seed``
``{"clients": [{"email", ...}]}``; ``POST /__sim__/traffic`` ``{"email","up","down"}``;
``POST /__sim__/counts/reset``; ``POST /__sim__/tokens`` ``{"token"}``. It has no auth:
bind it to loopback.

State is guarded by one lock, so concurrent requests are safe. With ``state_file`` every
mutation is written to JSON (sessions included, like a real panel's signed cookies that
survive restarts), and a restart with another ``generation`` models a panel upgrade.
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
    "slow",  # wait "delay" seconds, then answer normally
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

_MSG_WRONG: Final = "Something went wrong"
_MSG_OBTAIN: Final = "Obtain"
_MSG_LOGIN_OK: Final = "You have successfully logged into your account."
_MSG_LOGIN_BAD: Final = "Invalid username or password or two-factor code."
_MSG_ADDED: Final = "Inbound client(s) have been added."
_MSG_UPDATED: Final = "Inbound client has been updated."
_MSG_DELETED: Final = "Inbound client has been deleted."
_MSG_EXPIRED: Final = "Your session has expired, please log in again"
# A few strings in Russian, so tests can check that nothing branches on translated text.
# As on a real panel only the context is translated; the Go error in brackets stays English.
_RU: Final = {
    _MSG_WRONG: "Что-то пошло не так",
    _MSG_OBTAIN: "Получение",
    _MSG_LOGIN_OK: "Вы успешно вошли в аккаунт.",
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


def _now_ms() -> int:
    return int(time.time() * 1000)


def _go_error(*parts: object) -> str:
    """``common.NewError`` text: ``fmt.Sprintln`` joins with spaces and ends with ``\\n``."""
    return " ".join(str(p) for p in parts) + "\n"


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
        generation: str = "v3",
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str = "admin",  # noqa: S107 - a local stand-in's default login
        base_path: str = "/",
        inbound_id: int = 1,
        inbound_port: int = 443,
        inbound_remark: str = "DE-Reality",
        api_tokens: Iterable[str] = (),
        csrf: bool | None = None,
        bulk_create: bool = True,
        session_max_age: int = DEFAULT_SESSION_MAX_AGE,
        lang: str = "en",
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if generation not in {"legacy", "v3"}:
            raise ValueError("generation must be 'legacy' or 'v3'")
        if csrf is None:
            csrf = True
        if generation == "v3" and not csrf:
            raise ValueError("every v3.1+ panel has CSRF; csrf=False is a legacy flavour")
        self.generation = generation
        self.csrf = csrf
        if generation == "v3":
            self.version = "3.6.0" if bulk_create else "3.1.0"
        else:
            self.version = "3.0.2" if csrf else "2.8.3"
        self.host = host
        self._requested_port = port
        self.username = username
        self._password = password
        self.base_path = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        self.bulk_create = bulk_create
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

        self.faults: list[Fault] = []
        self.request_counts: Counter[str] = Counter()
        self.request_total = 0

        self._sessions: dict[str, dict[str, Any]] = {}
        self._inbound: dict[str, Any] = {}
        self._traffic: dict[str, dict[str, Any]] = {}  # exact email -> ClientTraffic row
        self._rows: dict[str, int] = {}  # casefolded email -> v3 ClientRecord id
        self._next_id = 1
        self._started_at = time.time()
        self._reset_state(inbound_id, inbound_port, inbound_remark)
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
        return int(self._inbound["id"])

    def start(self) -> X3UISimulator:
        """Bind (port 0 picks a free one) and serve from a daemon thread."""
        self._stopping.clear()
        self._listen(self._requested_port)
        return self

    def stop(self) -> None:
        """Stop serving and join every thread this simulator started."""
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

    def seed_client(
        self,
        email: str,
        *,
        id: str | None = None,  # noqa: A002 - the panel's own key name
        enable: bool = True,
        sub_id: str | None = None,
        up: int = 0,
        down: int = 0,
        **fields: Any,
    ) -> dict[str, Any]:
        """Put a client on the inbound behind the API's back (a client we did not create).

        Legacy flavours store it as the v2 UI writes it (``"tgId": ""``). Extra keyword
        arguments are stored as panel keys verbatim (``totalGB=…``, ``comment=…``).
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
            if self._find(email) is not None:
                raise ValueError(f"email {email!r} already on the inbound")
            self._insert(client)
            self._traffic[email].update(up=int(up), down=int(down))
            self._save_state()
        return copy.deepcopy(client)

    def set_traffic(self, email: str, *, up: int, down: int) -> None:
        """Set a client's counters, as Xray's stats would."""
        with self._lock:
            row = self._traffic_row(email)
            if row is None:
                raise KeyError(email)
            row.update(up=int(up), down=int(down), lastOnline=_now_ms())
            self._save_state()

    def clients(self) -> list[dict[str, Any]]:
        """A copy of the inbound's ``settings.clients`` as stored."""
        with self._lock:
            return copy.deepcopy(self._inbound["settings"]["clients"])

    def client(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._find(email)
            return copy.deepcopy(found[1]) if found else None

    def snapshot(self) -> dict[str, Any]:
        """Everything a test or a benchmark may want to look at, JSON-safe."""
        with self._lock:
            return {
                "generation": self.generation,
                "version": self.version,
                "csrf": self.csrf,
                "base_path": self.base_path,
                "port": self.port,
                "down": self._down,
                "inbound": copy.deepcopy(self._inbound),
                "traffic": copy.deepcopy(self._traffic),
                "sessions": len(self._sessions),
                "faults": [asdict(f) for f in self.faults],
                "request_counts": dict(self.request_counts),
                "request_total": self.request_total,
            }

    # -- state -----------------------------------------------------------------------------

    def _reset_state(self, inbound_id: int, port: int, remark: str) -> None:
        self._inbound = {
            "id": int(inbound_id),
            "up": 0,
            "down": 0,
            "total": 0,
            "remark": remark,
            "enable": True,
            "expiryTime": 0,
            "listen": "",
            "port": int(port),
            "protocol": "vless",
            "settings": {"clients": [], "decryption": "none", "encryption": "none"},
            "streamSettings": copy.deepcopy(DEFAULT_STREAM_SETTINGS),
            "tag": f"inbound-{port}",
            "sniffing": copy.deepcopy(DEFAULT_SNIFFING),
        }
        self._traffic, self._rows, self._next_id = {}, {}, 1

    def _load_state(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        self._inbound = data["inbound"]
        self._traffic = data.get("traffic", {})
        self._rows = data.get("rows", {})
        self._next_id = int(data.get("next_id", 1))
        self._sessions = data.get("sessions", {})
        self._tokens |= set(data.get("token_hashes", []))

    def _save_state(self) -> None:
        """Write the state atomically (temp file + rename); called with the lock held."""
        if not self.state_file:
            return
        data = {
            "format": 1,
            "generation": self.generation,
            "inbound": self._inbound,
            "traffic": self._traffic,
            "rows": self._rows,
            "next_id": self._next_id,
            "sessions": self._sessions,
            "token_hashes": sorted(self._tokens),
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".x3ui-sim-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        Path(tmp).replace(self.state_file)

    def _fold(self, email: str) -> str:
        """Email identity: case-insensitive from v3.0.0, exact before (x3ui-api.md §3)."""
        return email if self.version.startswith("2.") else email.casefold()

    def _find(self, email: str) -> tuple[int, dict[str, Any]] | None:
        key = self._fold(email)
        for index, client in enumerate(self._inbound["settings"]["clients"]):
            if self._fold(str(client.get("email", ""))) == key:
                return index, client
        return None

    def _find_by_id(self, client_id: str) -> tuple[int, dict[str, Any]] | None:
        for index, client in enumerate(self._inbound["settings"]["clients"]):
            if client.get("id") == client_id:
                return index, client
        return None

    def _traffic_row(self, email: str) -> dict[str, Any] | None:
        if email in self._traffic:
            return self._traffic[email]
        key = self._fold(email)
        for name, row in self._traffic.items():
            if self._fold(name) == key:
                return row
        return None

    def _insert(self, client: dict[str, Any]) -> None:
        now = _now_ms()
        client.setdefault("created_at", now)
        client.setdefault("updated_at", now)
        self._inbound["settings"]["clients"].append(client)
        email = str(client.get("email", ""))
        self._traffic[email] = {
            "id": self._next_id,
            "inboundId": self.inbound_id,
            "enable": bool(client.get("enable", False)),
            "email": email,
            "up": 0,
            "down": 0,
            "expiryTime": int(client.get("expiryTime") or 0),
            "total": int(client.get("totalGB") or 0),
            "reset": int(client.get("reset") or 0),
            "lastOnline": 0,
        }
        self._rows[email.casefold()] = self._next_id
        self._next_id += 1

    def _sync_traffic(self, old_email: str, client: dict[str, Any]) -> None:
        """Keep the ClientTraffic row in step with an updated client (rename included)."""
        row = self._traffic.pop(old_email, None) or self._traffic_row(old_email)
        if row is None:
            return
        self._traffic.pop(row["email"], None)
        email = str(client.get("email", ""))
        row.update(
            email=email,
            enable=bool(client.get("enable", False)),
            expiryTime=int(client.get("expiryTime") or 0),
            total=int(client.get("totalGB") or 0),
        )
        self._traffic[email] = row
        row_id = self._rows.pop(old_email.casefold(), None)
        if row_id is not None:
            self._rows[email.casefold()] = row_id

    def _remove(self, index: int) -> dict[str, Any]:
        client = self._inbound["settings"]["clients"].pop(index)
        email = str(client.get("email", ""))
        row = self._traffic_row(email)
        if row is not None:
            self._traffic.pop(row["email"], None)
        self._rows.pop(email.casefold(), None)
        return client

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
        """``jsonMsg(c, context, err)``: ``"<context> (<err>)"`` since v2.6."""
        return self._fail(f"{self._t(request, context)} ({error})")

    # -- panel routing ---------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], str, Callable[..., _Response]]]:
        """(method, regex, counted name, handler) for this flavour; paths are base-relative."""
        routes: list[tuple[str, str, Callable[..., _Response]]] = [
            ("POST", "login", self._h_login),
            ("POST", "logout", self._h_logout),
            ("GET", "panel/api/inbounds/list", self._h_inbound_list),
            ("GET", "panel/api/inbounds/get/{id}", self._h_inbound_get),
            ("GET", "panel/api/server/status", self._h_status),
        ]
        if self.csrf:
            routes += [
                ("GET", "csrf-token", self._h_csrf_token),
                ("GET", "panel/csrf-token", self._h_csrf_token),
            ]
        if self.generation == "legacy":
            routes += [
                ("POST", "panel/api/inbounds/addClient", self._h_legacy_add),
                ("POST", "panel/api/inbounds/updateClient/{clientId}", self._h_legacy_update),
                ("POST", "panel/api/inbounds/{id}/delClient/{clientId}", self._h_legacy_del),
                ("POST", "panel/api/inbounds/{id}/delClientByEmail/{email}", self._h_legacy_del),
                ("GET", "panel/api/inbounds/getClientTraffics/{email}", self._h_traffic),
                ("POST", "panel/api/inbounds/onlines", self._h_onlines),
            ]
        else:
            routes += [
                ("GET", "panel/api/clients/list", self._h_v3_list),
                ("GET", "panel/api/clients/get/{email}", self._h_v3_get),
                ("GET", "panel/api/clients/traffic/{email}", self._h_traffic),
                ("GET", "panel/api/clients/links/{email}", self._h_v3_links),
                ("GET", "panel/api/clients/subLinks/{subId}", self._h_v3_sub_links),
                ("POST", "panel/api/clients/add", self._h_v3_add),
                ("POST", "panel/api/clients/update/{email}", self._h_v3_update),
                ("POST", "panel/api/clients/del/{email}", self._h_v3_del),
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
        if fn is None:
            return _Response(404)  # gin NoRoute: no group middleware, so no auth answer
        if name.split(" ", 1)[1].startswith("panel/"):
            denied = self._authorize(request)
            if denied is not None:
                return denied
        try:
            with self._lock:
                response = fn(request, **params)
        except _Panic:
            response = _Response(500)
        if fault is not None and fault.mode == "empty_ok":
            return _Response(200)
        return response

    # -- auth --------------------------------------------------------------------------------

    def _session(self, request: _Request) -> tuple[str, dict[str, Any]] | None:
        sid = request.cookies.get(COOKIE_NAME, "")
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if session["expires"] < time.time():
                self._sessions.pop(sid, None)
                return None
            return sid, session

    def _new_session(self, csrf_token: str | None = None, *, authed: bool = False):
        sid = secrets.token_urlsafe(24)
        session = {
            "csrf": csrf_token or secrets.token_urlsafe(32),
            "authed": authed,
            "expires": time.time() + self.session_max_age,
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
        if not self.csrf:  # v2.x has no API tokens
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
            return None
        found = self._session(request)
        if found is None or not found[1]["authed"]:
            if self.version.startswith("2."):
                if request.is_xhr:
                    response = self._fail(self._t(request, _MSG_EXPIRED))
                    response.status = 401
                    return response
                return _Response(307, b"", [("Location", self.base_path)])
            return _Response(401 if request.is_xhr else 404)
        unsafe = request.method not in {"GET", "HEAD", "OPTIONS"}
        if self.csrf and unsafe and not self._csrf_ok(request, found[1]):
            return _Response(403)
        return None

    def _csrf_ok(self, request: _Request, session: Mapping[str, Any]) -> bool:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type == "application/x-www-form-urlencoded":
            sent = parse_qs(request.body.decode("utf-8", "replace")).get("_csrf", [""])[0]
        return bool(sent) and hmac.compare_digest(sent, session["csrf"])

    def _h_csrf_token(self, request: _Request) -> _Response:
        found = self._session(request)
        if found is not None:
            return self._ok(found[1]["csrf"])
        _sid, session, cookie = self._new_session()
        return self._ok(session["csrf"], headers=[cookie])

    def _h_login(self, request: _Request) -> _Response:
        try:
            fields = self._bind(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        found = self._session(request)
        if self.csrf and (found is None or not self._csrf_ok_fields(request, found[1], fields)):
            return _Response(403)
        user_ok = hmac.compare_digest(str(fields.get("username", "")), self.username)
        pass_ok = hmac.compare_digest(str(fields.get("password", "")), self._password)
        if not (user_ok and pass_ok):
            return self._fail(self._t(request, _MSG_LOGIN_BAD))
        token = None
        if found is not None:
            self._sessions.pop(found[0], None)
            token = found[1]["csrf"]  # not rotated at login; the cookie is
        _sid, _session, cookie = self._new_session(token, authed=True)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_LOGIN_OK), headers=[cookie])

    def _csrf_ok_fields(self, request: _Request, session: Mapping[str, Any], fields: dict) -> bool:
        sent = request.headers.get("X-CSRF-Token", "") or str(fields.get("_csrf", ""))
        return bool(sent) and hmac.compare_digest(sent, session["csrf"])

    def _h_logout(self, request: _Request) -> _Response:
        found = self._session(request)
        if found is not None:
            self._sessions.pop(found[0], None)
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

    def _legacy_payload(self, request: _Request) -> tuple[int, list[dict[str, Any]]]:
        """``{"id": int, "settings": "<JSON string>"}`` → (inbound id, clients)."""
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

    def _legacy_check(self, client: Mapping[str, Any]) -> str | None:
        if not str(client.get("email") or "").strip() and self.version == "3.0.2":
            return _go_error("client email is required")
        if not client.get("id"):
            return _go_error("empty client ID")
        return None

    def _h_legacy_add(self, request: _Request) -> _Response:
        try:
            inbound_id, clients = self._legacy_payload(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        if inbound_id != self.inbound_id:
            return self._err(request, "record not found")
        seen: set[str] = set()
        for client in clients:
            problem = self._legacy_check(client)
            if problem:
                return self._err(request, problem)
            email = str(client.get("email") or "")
            if self._find(email) is not None or self._fold(email) in seen:
                return self._err(request, _go_error("Duplicate email:", email))
            seen.add(self._fold(email))
        for client in clients:
            self._insert(dict(client))  # stored exactly as sent (+ created_at/updated_at)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_ADDED))

    def _h_legacy_update(self, request: _Request, client_id: str) -> _Response:
        try:
            inbound_id, clients = self._legacy_payload(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        if inbound_id != self.inbound_id:
            return self._err(request, "record not found")
        found = self._find_by_id(client_id)
        if found is None or not clients:
            return self._err(request, _go_error("empty client ID"))
        index, old = found
        new = dict(clients[0])
        problem = self._legacy_check(new)
        if problem:
            return self._err(request, problem)
        email = str(new.get("email") or "")
        other = self._find(email)
        if other is not None and other[0] != index:
            return self._err(request, _go_error("Duplicate email:", email))
        new.setdefault("created_at", old.get("created_at", _now_ms()))
        new["updated_at"] = _now_ms()
        self._inbound["settings"]["clients"][index] = new
        self._sync_traffic(str(old.get("email", "")), new)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_UPDATED))

    def _h_legacy_del(
        self,
        request: _Request,
        inbound_id: str,
        client_id: str = "",
        email: str = "",
    ) -> _Response:
        if not inbound_id.isdigit() or int(inbound_id) != self.inbound_id:
            return self._err(request, "record not found")
        found = self._find(email) if email else self._find_by_id(client_id)
        if found is None:
            if self.version.startswith("2."):
                return self._ok(None, self._t(request, _MSG_DELETED))  # silent no-op ≤ v2.9.3
            return self._err(
                request, _go_error("Client Not Found In Inbound For ID:", client_id or email)
            )
        if len(self._inbound["settings"]["clients"]) <= 1:
            return self._err(request, _go_error("no client remained in Inbound"))
        self._remove(found[0])
        self._save_state()
        return self._ok(None, self._t(request, _MSG_DELETED))

    # -- v3 client API (≥ v3.1) ------------------------------------------------------------

    def _record(self, client: Mapping[str, Any]) -> dict[str, Any]:
        """``ClientRecord`` JSON: ``id`` is the row number, the UUID is ``uuid``."""
        email = str(client.get("email", ""))
        return {
            "id": self._rows.get(email.casefold(), 0),
            "uuid": client.get("id", ""),
            "email": email,
            "subId": client.get("subId", ""),
            "password": "",
            "auth": "",
            "flow": client.get("flow", ""),
            "limitIp": client.get("limitIp", 0),
            "limitHwid": client.get("limitHwid", 0),
            "totalGB": client.get("totalGB", 0),
            "expiryTime": client.get("expiryTime", 0),
            "enable": bool(client.get("enable", False)),
            "tgId": client.get("tgId", 0) or 0,
            "group": client.get("group", ""),
            "comment": client.get("comment", ""),
            "reset": client.get("reset", 0),
            "createdAt": client.get("created_at", 0),
            "updatedAt": client.get("updated_at", 0),
        }

    def _traffic_out(
        self, email: str, client: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The clientStats row; pass `client` when known (listings stay linear, not n²)."""
        row = self._traffic_row(email)
        if row is None:
            return None
        out = dict(row)
        if client is None:
            found = self._find(email)
            client = found[1] if found is not None else None
        if client is not None:  # v2.8.3+: uuid and subId filled from the client
            out["uuid"] = client.get("id", "")
            out["subId"] = client.get("subId", "")
        if self.generation == "legacy" and not self.version.startswith("2."):
            out["allTime"] = out["up"] + out["down"]
        return out

    def _h_v3_list(self, request: _Request) -> _Response:
        rows = []
        for client in self._inbound["settings"]["clients"]:
            record = self._record(client)
            record["inboundIds"] = [self.inbound_id]
            record["traffic"] = self._traffic_out(record["email"], client)
            rows.append(record)
        return self._ok(rows)

    def _h_v3_get(self, request: _Request, email: str) -> _Response:
        found = self._find(email)
        if found is None:
            return self._err(request, "record not found", _MSG_OBTAIN)
        traffic = self._traffic_out(email) or {"up": 0, "down": 0}
        return self._ok(
            {
                "client": self._record(found[1]),
                "inboundIds": [self.inbound_id],
                "externalLinks": [],
                "usedTraffic": traffic["up"] + traffic["down"],
            }
        )

    def _vision_ok(self) -> bool:
        stream = self._inbound["streamSettings"]
        return self._inbound["protocol"] == "vless" and (
            stream.get("network", "tcp") == "tcp" and stream.get("security") in {"tls", "reality"}
        )

    def _v3_create(self, payload: Any) -> str | None:
        """``ClientService.Create``: None on success, else the Go error text."""
        if not isinstance(payload, dict) or not isinstance(payload.get("client"), dict):
            return _go_error("client is required")
        client = dict(payload["client"])
        inbound_ids = payload.get("inboundIds") or []
        if not isinstance(inbound_ids, list) or not inbound_ids:
            return _go_error("at least one inbound is required")
        if any(i != self.inbound_id for i in inbound_ids):
            return "record not found"
        email = str(client.get("email") or "").strip()
        if not email:
            return _go_error("client email is required")
        client["email"] = email
        sub_id = str(client.get("subId") or "")
        existing = self._find(email)
        if existing is not None:
            old = existing[1]
            if sub_id and old.get("subId") == sub_id:
                return None  # same email + subId: already attached here, skipped silently
            if old.get("email") == email:
                return _go_error("email already in use:", email)
            return _go_error("Duplicate email:", email)
        if sub_id:
            for other in self._inbound["settings"]["clients"]:
                if other.get("subId") == sub_id:
                    return _go_error("subId already in use:", sub_id)
        client["id"] = str(client.get("id") or uuid.uuid4())
        client["subId"] = sub_id or str(uuid.uuid4())
        client["enable"] = True  # Create forces enable
        if not self._vision_ok():
            client["flow"] = ""
        client.setdefault("tgId", 0)
        client["created_at"] = client["updated_at"] = _now_ms()
        self._insert(client)
        return None

    def _h_v3_add(self, request: _Request) -> _Response:
        try:
            payload = self._bind_json(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        error = self._v3_create(payload)
        if error is not None:
            return self._err(request, error)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_ADDED))

    def _h_v3_bulk_create(self, request: _Request) -> _Response:
        try:
            payloads = self._bind_json(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        if not isinstance(payloads, list):
            return self._err(
                request, "json: cannot unmarshal object into Go value of type []ClientCreatePayload"
            )
        created, skipped = 0, []
        for payload in payloads:
            error = self._v3_create(payload)
            if error is None:
                created += 1
                continue
            client = payload.get("client") if isinstance(payload, dict) else None
            email = str((client or {}).get("email") or "").strip() or "(missing email)"
            skipped.append({"email": email, "reason": error})
        self._save_state()
        result: dict[str, Any] = {"created": created}
        if skipped:
            result["skipped"] = skipped
        return self._ok(result)

    def _h_v3_update(self, request: _Request, email: str) -> _Response:
        try:
            body = self._bind_json(request)
        except _BindError as exc:
            return self._err(request, str(exc))
        if not isinstance(body, dict):
            return self._err(request, "json: cannot unmarshal into Go value of type model.Client")
        found = self._find(email)
        if found is None:
            return self._err(request, f'client "{email}" not found in any inbound or client record')
        index, old = found
        new_email = str(body.get("email") or "").strip() or str(old.get("email"))
        renamed = self._fold(new_email) != self._fold(str(old.get("email")))
        if renamed and self._find(new_email) is not None:
            return self._err(request, _go_error("Duplicate email:", new_email))
        sub_id = str(body.get("subId") or "") or str(old.get("subId", ""))
        for other_index, other in enumerate(self._inbound["settings"]["clients"]):
            if other_index != index and sub_id and other.get("subId") == sub_id:
                return self._err(request, _go_error("Duplicate subId:", sub_id))
        # Replace, not patch: omitted fields take Go zero values, credentials are kept.
        new: dict[str, Any] = {
            "id": str(body.get("id") or old.get("id", "")),
            "flow": str(body.get("flow") or "") if self._vision_ok() else "",
            "email": new_email,
            "limitIp": int(body.get("limitIp") or 0),
            "totalGB": int(body.get("totalGB") or 0),
            "expiryTime": int(body.get("expiryTime") or 0),
            "enable": bool(body.get("enable", False)),
            "tgId": int(body.get("tgId") or 0) if str(body.get("tgId") or "0").isdigit() else 0,
            "subId": sub_id,
            "comment": str(body.get("comment") or ""),
            "reset": int(body.get("reset") or 0),
            "created_at": old.get("created_at", _now_ms()),
            "updated_at": _now_ms(),
        }
        self._inbound["settings"]["clients"][index] = new
        self._sync_traffic(str(old.get("email", "")), new)
        self._save_state()
        return self._ok(None, self._t(request, _MSG_UPDATED))

    def _h_v3_del(self, request: _Request, email: str) -> _Response:
        found = self._find(email)
        if found is None:
            return self._err(request, f'client "{email}" not found in any inbound or client record')
        self._remove(found[0])  # v3.1+ allows deleting the last client
        self._save_state()
        return self._ok(None, self._t(request, _MSG_DELETED))

    def _h_v3_links(self, request: _Request, email: str) -> _Response:
        found = self._find(email)
        if found is None:
            return self._err(request, "record not found", _MSG_OBTAIN)
        return self._ok([self.vless_link(found[1], request.host)])

    def _h_v3_sub_links(self, request: _Request, sub_id: str) -> _Response:
        clients = [c for c in self._inbound["settings"]["clients"] if c.get("subId") == sub_id]
        return self._ok([self.vless_link(c, request.host) for c in clients])

    # -- shared routes ---------------------------------------------------------------------

    def _h_traffic(self, request: _Request, email: str) -> _Response:
        return self._ok(self._traffic_out(email))  # null for an unknown email

    def _h_onlines(self, request: _Request) -> _Response:
        return self._ok(None)  # Go's nil slice when nobody is online

    def _inbound_out(self) -> dict[str, Any]:
        """The inbound as the API returns it: JSON columns as strings ≤ v3.0.2."""
        out = copy.deepcopy(self._inbound)
        stats = (
            self._traffic_out(str(c.get("email", "")), c)
            for c in self._inbound["settings"]["clients"]
        )
        out["clientStats"] = [row for row in stats if row is not None]
        if self.generation == "legacy":
            for key in ("settings", "streamSettings", "sniffing"):
                out[key] = json.dumps(out[key], indent=2, ensure_ascii=False)
            if not self.version.startswith("2."):
                out["allTime"] = out["up"] + out["down"]
        return out

    def _h_inbound_list(self, request: _Request) -> _Response:
        return self._ok([self._inbound_out()])

    def _h_inbound_get(self, request: _Request, inbound_id: str) -> _Response:
        if not inbound_id.isdigit() or int(inbound_id) != self.inbound_id:
            return self._err(request, "record not found", _MSG_OBTAIN)
        return self._ok(self._inbound_out())

    def _h_status(self, request: _Request) -> _Response:
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
            "tcpCount": len(self._inbound["settings"]["clients"]),
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

    def vless_link(self, client: Mapping[str, Any], host: str) -> str:
        """The subscription engine's vless:// link (x3ui-api.md §5), deterministic.

        Where the panel picks a random ``serverNames``/``shortIds`` entry this takes the
        first; ``spx`` uses the v3.5+ deterministic hash.
        """
        inbound = self._inbound
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

    def _h_sub(self, request: _Request, sub_id: str) -> _Response:
        if request.method != "GET":
            return _Response(404)
        clients = [
            c
            for c in self._inbound["settings"]["clients"]
            if c.get("subId") == sub_id and (c.get("enable") or not self.version.startswith("2."))
        ]
        if not sub_id or not clients or not self._inbound.get("enable", True):
            if self.generation == "v3":
                return _Response(404)
            return _Response(400, b"Error!", [("Content-Type", "text/plain; charset=utf-8")])
        text = "".join(self.vless_link(c, request.host) + "\n" for c in clients)
        rows = [self._traffic_row(str(c.get("email"))) or {} for c in clients]
        totals = [int(c.get("totalGB") or 0) for c in clients]
        expiries = {int(c.get("expiryTime") or 0) for c in clients}
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
