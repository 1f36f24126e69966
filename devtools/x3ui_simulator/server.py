"""The HTTP server, fault injection, the JSON answer helpers and the routing table.

One ``ThreadingHTTPServer`` per simulator on a daemon thread; every request goes through
``_serve``: the control API under ``/__sim__/``, else faults, routing, auth, the handler."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Self
from urllib.parse import parse_qs, unquote, urlsplit

from .messages import MSG_WRONG, RU
from .wire import GoPanic, Request, Response

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
# Route placeholders (the panel's names, kept in counted route names) -> handler arguments.
_PARAM_NAMES: Final = {
    "id": "inbound_id",
    "clientId": "client_id",
    "email": "email",
}


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


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the owning simulator; one instance per connection."""

    sim: ServerMixin  # the X3UISimulator, set on its per-simulator subclass
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


class ServerMixin:
    """Listening, serving, answering and routing (part of ``X3UISimulator``)."""

    def start(self) -> Self:
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

    def __enter__(self) -> Self:
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
        request = Request(
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

    def _write(self, handler: _Handler, response: Response) -> None:
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
        return Response(
            status,
            body,
            [("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
        )

    def _ok(self, obj: Any = None, msg: str = "", headers: list[tuple[str, str]] | None = None):
        return self._json({"success": True, "msg": msg, "obj": obj}, headers=headers)

    def _fail(self, msg: str, obj: Any = None) -> Response:
        return self._json({"success": False, "msg": msg, "obj": obj})

    def _lang(self, request: Request) -> str:
        raw = request.cookies.get("lang") or request.headers.get("Accept-Language") or self.lang
        return raw.strip().lower()[:2]

    def _t(self, request: Request, text: str) -> str:
        return RU.get(text, text) if self._lang(request) == "ru" else text

    def _err(self, request: Request, error: str, context: str = MSG_WRONG) -> Response:
        """``jsonMsg(c, context, err)``: ``"<context> (<err>)"`` (v3.0.2 web/controller/
        util.go:140-142; an empty context, a missing i18n key, gives ``" (<err>)"``)."""
        return self._fail(f"{self._t(request, context) if context else ''} ({error})")

    # -- panel routing ---------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], str, Callable[..., Response]]]:
        """(method, regex, counted name, handler) for this version; paths are base-relative."""
        routes: list[tuple[str, str, Callable[..., Response]]] = [
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
                # v2.8.3 web/controller/inbound.go:44; v3.0.2 :81
                (
                    "POST",
                    "panel/api/inbounds/{id}/resetClientTraffic/{email}",
                    self._h_legacy_reset_traffic,
                ),
                ("POST", "panel/api/inbounds/onlines", self._h_onlines),
            ]
        else:  # v3.1.0 web/controller/client.go:32-54
            routes += [
                ("GET", "panel/api/clients/list", self._h_v3_list),
                ("GET", "panel/api/clients/get/{email}", self._h_v3_get),
                ("GET", "panel/api/clients/traffic/{email}", self._h_traffic),
                ("POST", "panel/api/clients/add", self._h_v3_add),
                ("POST", "panel/api/clients/update/{email}", self._h_v3_update),
                ("POST", "panel/api/clients/del/{email}", self._h_v3_del),
                ("POST", "panel/api/clients/{email}/attach", self._h_v3_attach),
                ("POST", "panel/api/clients/{email}/detach", self._h_v3_detach),
                ("POST", "panel/api/clients/onlines", self._h_onlines),
                # v3.1.0 web/controller/client.go:48; v3.4.2 internal/web/controller/client.go:74
                ("POST", "panel/api/clients/resetTraffic/{email}", self._h_v3_reset_traffic),
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

    def _match(self, request: Request) -> tuple[str, Callable[..., Response] | None, dict]:
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

    def _panel(self, request: Request) -> Response:
        name, fn, params = self._match(request)
        with self._lock:
            self.request_counts[name] += 1
            self.request_total += 1
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.mode == "slow":
                if self._stopping.wait(fault.delay):
                    return Response(abort=True)
            elif fault.mode == "reset":
                return Response(abort=True)
            elif fault.mode == "http500":
                return Response(500)
            elif fault.mode == "empty":
                return Response(200)
            elif fault.mode == "html":
                page = b"<!DOCTYPE html><html><head><title>Login</title></head><body></body></html>"
                return Response(200, page, [("Content-Type", "text/html; charset=utf-8")])
        response = self._dispatch(request, name, fn, params)
        if fault is not None and fault.mode == "empty_ok":
            return Response(200)
        # "late": the change is made; the answer comes too late for a short read timeout.
        # stop() sets _stopping, which wakes this wait at once (no hang on shutdown).
        if fault is not None and fault.mode == "late" and self._stopping.wait(fault.delay):
            return Response(abort=True)
        return response

    def _dispatch(self, request: Request, name: str, fn: Any, params: dict) -> Response:
        if fn is None:
            return Response(404)  # gin NoRoute: no group middleware, so no auth answer
        if name.split(" ", 1)[1].startswith("panel/"):
            denied = self._authorize(request)
            if denied is not None:
                return denied
        try:
            with self._lock:
                self._jobs_catch_up()
                return fn(request, **params)
        except GoPanic:
            return Response(500)
