"""``X3UISimulator``: the panel's state and configuration, composed from one mixin per topic."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .auth import DEFAULT_SESSION_MAX_AGE, AuthMixin
from .control import ControlMixin
from .gojson import BindingMixin
from .jobs import TrafficJobMixin
from .legacy import LegacyClientsMixin
from .resets import TrafficResetMixin
from .server import Fault, ServerMixin, _Server
from .shared import SharedRoutesMixin
from .state import StateMixin
from .v3 import V3ClientsMixin
from .versions import resolve_version


class X3UISimulator(
    ServerMixin,
    AuthMixin,
    BindingMixin,
    LegacyClientsMixin,
    V3ClientsMixin,
    TrafficResetMixin,
    SharedRoutesMixin,
    ControlMixin,
    TrafficJobMixin,
    StateMixin,
):
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
        self._job_next_at = 0.0
        with self._lock:
            self._jobs_start()  # Xray starts with the panel: the traffic job runs once
        self._routes = self._build_routes()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The panel base URL including the base path, as a Node's ``panel_url``."""
        return f"http://{self.host}:{self.port}{self.base_path}"

    @property
    def root_url(self) -> str:
        """Scheme, host and port: where ``/__sim__/`` lives."""
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
