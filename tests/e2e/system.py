"""The whole system as real processes on loopback, for end-to-end tests and fault drills:
gunicorn (behind a TCP proxy to the database, so a drill can cut it), a Celery worker and beat,
`manage.py runbot` against the Bot API double, and `manage.py x3ui_simulator` panels.

The database is a fresh PostgreSQL one when DATABASE_URL points at PostgreSQL, else a SQLite
file; state is read with plain SQL and changed through management commands, as an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.doubles.telegram_api import TelegramApiDouble

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BOT_TOKEN = "777000:E2E-TOKEN"
ADMIN_CHAT = 990001
PANEL_USER, PANEL_PASSWORD = "admin", "e2e-panel-pass"
ROBOKASSA = {"login": "e2e-shop", "password1": "e2e-p1", "password2": "e2e-p2"}
FREEKASSA = {"merchant_id": "7777", "secret1": "e2e-s1", "secret2": "e2e-s2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30, interval: float = 0.25, what: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - the condition may not be observable yet
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}: {last_error}"
    )


class TcpProxy:
    """A loopback TCP proxy whose connections can all be dropped at once (a DB outage)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refuse_until = 0.0
        self._thread = threading.Thread(target=self._accept, name="e2e-tcp-proxy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                client.close()  # the database is "down"
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def drop_all(self) -> int:
        """Cut every open connection (new ones are accepted again at once)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
        return len(pairs)

    def outage(self, seconds: float) -> None:
        """Drop every connection and refuse new ones for `seconds`."""
        self._refuse_until = time.monotonic() + seconds
        self.drop_all()

    def close(self) -> None:
        self._stop.set()
        self.drop_all()
        self._server.close()


@dataclass
class Panel:
    name: str
    generation: str
    port: int
    state_file: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.name}/"

    def state(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.port}/__sim__/state", timeout=5).json()

    def clients(self) -> dict[str, dict]:
        state = self.state()
        inbound = state.get("inbound") or {}
        settings = inbound.get("settings") or {}
        if isinstance(settings, str):
            settings = json.loads(settings)
        return {c["email"]: c for c in settings.get("clients", [])}

    def faults(self, payload: dict) -> None:
        requests.post(
            f"http://127.0.0.1:{self.port}/__sim__/faults", json=payload, timeout=5
        ).raise_for_status()


@dataclass
class E2ESystem:
    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    panels: dict[str, Panel] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    api: TelegramApiDouble | None = None
    proxy: TcpProxy | None = None
    web_port: int = 0
    db_kind: str = "sqlite"
    db_name: str = ""
    pg_admin: str = ""
    redis_port: int = 0

    @classmethod
    def create(cls, workdir: Path, *, extra_env: dict[str, str] | None = None) -> E2ESystem:
        system = cls(workdir=workdir)
        system._database_prepare()
        system._redis_start()
        system.api = TelegramApiDouble(token=BOT_TOKEN).start()
        system.web_port = free_port()
        system.env = system._environment(extra_env or {})
        system.manage("migrate", "--noinput")
        return system

    def _database_prepare(self) -> None:
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://")):
            import psycopg

            parts = urllib.parse.urlsplit(url)
            self.db_kind = "postgresql"
            self.db_name = f"vpnsite_e2e_{os.getpid()}_{int(time.time())}"
            self.pg_admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
            host, port = parts.hostname or "127.0.0.1", parts.port or 5432
            self.proxy = TcpProxy(host, port)
            netloc = parts.netloc.rsplit("@", 1)
            userinfo = f"{netloc[0]}@" if len(netloc) == 2 else ""
            self._db_direct = urllib.parse.urlunsplit(parts._replace(path=f"/{self.db_name}"))
            self._db_proxied = urllib.parse.urlunsplit(
                parts._replace(
                    netloc=f"{userinfo}127.0.0.1:{self.proxy.port}", path=f"/{self.db_name}"
                )
            )
        else:
            self.db_name = str(self.workdir / "e2e.sqlite3")
            self._db_direct = self._db_proxied = f"sqlite:///{self.db_name}"

    def _redis_start(self) -> None:
        if not os.environ.get("REDIS_URL") or not shutil.which("redis-server"):
            return
        self.redis_port = free_port()
        self._redis_spawn()

    def _redis_spawn(self) -> None:
        self.processes["redis"] = self._spawn(
            "redis",
            [
                *("redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            env=os.environ.copy(),
        )
        wait_until(lambda: _port_open(self.redis_port), timeout=10, what="redis-server")

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DJANGO_", "DATABASE_", "REDIS_", "TELEGRAM_", "ROBOKASSA_", "FREEKASSA_")
            )
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": "e2e-secret-key-" + "x" * 40,
                "DATABASE_URL": self._db_direct,
                "VPNSITE_VAR_DIR": str(self.workdir / "var"),
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.web_port}",
                "PORT": str(self.web_port),
                "LOG_LEVEL": "INFO",
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_API_BASE_URL": self.api.base_url,
                "TELEGRAM_ADMIN_CHAT_IDS": str(ADMIN_CHAT),
                "TELEGRAM_BOT_USERNAME": "vpnsite_e2e_bot",
                "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
                "ROBOKASSA_LOGIN": ROBOKASSA["login"],
                "ROBOKASSA_PASSWORD1": ROBOKASSA["password1"],
                "ROBOKASSA_PASSWORD2": ROBOKASSA["password2"],
                "FREEKASSA_MERCHANT_ID": FREEKASSA["merchant_id"],
                "FREEKASSA_SECRET1": FREEKASSA["secret1"],
                "FREEKASSA_SECRET2": FREEKASSA["secret2"],
                "FREEKASSA_CHECK_IP": "false",
                # Beat intervals short enough for a suite that runs in minutes.
                "OUTBOX_FLUSH_INTERVAL": "2",
                "SUBSCRIPTIONS_EXPIRE_INTERVAL": "2",
                "NODE_HEALTH_INTERVAL": "2",
                "NODE_DOWN_AFTER_FAILURES": "2",
                "NODE_RECONCILE_INTERVAL": "6",
                "NODE_PLACE_MISSING_INTERVAL": "3",
                "NODE_PROVISION_MAX_RETRIES": "4",
                "NODE_PROVISION_BACKOFF_BASE": "0.5",
                "NODE_PROVISION_BACKOFF_MAX": "3",
                "X3UI_CONNECT_TIMEOUT": "1",
                "X3UI_READ_TIMEOUT": "3",
                "OUTBOX_BACKOFF_BASE_SECONDS": "0.5",
                "PAYMENTS_EXPIRE_INTERVAL": "30",
                "SUBSCRIPTION_REMINDER_INTERVAL": "5",
            }
        )
        if self.redis_port:
            env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        env.update(extra)
        return env

    def _spawn(self, name: str, argv: list[str], *, env: dict[str, str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        handle = log.open("ab")
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self) -> None:
        env = {**self.env, "DATABASE_URL": self._db_proxied}
        self.processes["web"] = self._spawn(
            "web",
            [
                *(PYTHON, "-m", "gunicorn", "vpnsite.wsgi", "--bind", f"127.0.0.1:{self.web_port}"),
                *("--workers", "2", "--timeout", "30", "--graceful-timeout", "5"),
            ],
            env=env,
        )
        wait_until(
            lambda: requests.get(f"{self.web_url}/healthz", timeout=2).ok,
            timeout=60,
            what="web /healthz",
        )

    def start_worker(self) -> None:
        self.processes["worker"] = self._spawn(
            "worker",
            [
                *(PYTHON, "-m", "celery", "-A", "vpnsite", "worker", "--loglevel", "INFO"),
                *("--concurrency", "2", "--without-gossip", "--without-mingle"),
            ],
            env=self.env,
        )
        wait_until(lambda: "ready." in self.log("worker"), timeout=60, what="celery worker")

    def start_beat(self) -> None:
        self.processes["beat"] = self._spawn(
            "beat",
            [
                *(PYTHON, "-m", "celery", "-A", "vpnsite", "beat", "--loglevel", "INFO"),
                *("--schedule", str(self.workdir / "beat-schedule")),
            ],
            env=self.env,
        )
        wait_until(lambda: "beat: Starting" in self.log("beat"), timeout=60, what="celery beat")

    def start_bot(self) -> None:
        self.processes["bot"] = self._spawn("bot", [PYTHON, "manage.py", "runbot"], env=self.env)
        wait_until(
            lambda: self.api.calls_to("getUpdates"), timeout=60, what="runbot polling the double"
        )

    def start_all(self) -> None:
        self.start_web()
        self.start_worker()
        self.start_beat()
        self.start_bot()

    def panel_start(self, name: str, generation: str) -> Panel:
        panel = self.panels.get(name) or Panel(
            name=name,
            generation=generation,
            port=free_port(),
            state_file=self.workdir / f"panel-{name}.json",
        )
        self.panels[name] = panel
        panel.process = self._spawn(
            f"panel-{name}",
            [
                *(PYTHON, "manage.py", "x3ui_simulator", "--port", str(panel.port)),
                *("--generation", generation, "--state", str(panel.state_file)),
                *("--username", PANEL_USER, "--password", PANEL_PASSWORD),
                *("--base-path", f"/{name}/"),
            ],
            env=self.env,
        )
        wait_until(lambda: _port_open(panel.port), timeout=30, what=f"panel {name}")
        return panel

    def panel_stop(self, name: str) -> None:
        self.stop(f"panel-{name}", process=self.panels[name].process)

    def node_add(self, panel: Panel, **options: str) -> str:
        args = [
            *("node", "add", "--name", panel.name, "--url", panel.url, "--inbound-id", "1"),
            *("--username", PANEL_USER, "--password", PANEL_PASSWORD),
            *("--host", f"{panel.name}.e2e.test", "--country", options.pop("country", "DE")),
        ]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        return self.manage(*args)

    def stop(self, name: str, *, process: subprocess.Popen | None = None, sig=signal.SIGTERM):
        process = process or self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def kill(self, name: str) -> None:
        """SIGKILL, as the OOM killer or a power cut would."""
        self.stop(name, sig=signal.SIGKILL)

    def redis_restart(self) -> None:
        self.stop("redis")
        self._redis_spawn()

    def shutdown(self) -> None:
        for name in ("bot", "beat", "worker", "web"):
            self.stop(name)
        for panel in self.panels.values():
            self.stop(panel.name, process=panel.process)
        self.stop("redis")
        if self.api:
            self.api.stop()
        if self.proxy:
            self.proxy.close()
        if self.db_kind == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for name in self.logs:
            text = self.log(name).splitlines()[-lines:]
            out.append(f"----- {name} -----\n" + "\n".join(text))
        return "\n".join(out)

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            check=False,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python inside Django (like an operator's `manage.py shell -c`)."""
        return self.manage("shell", "-c", code)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Read-only SQL against the system's database (`%s` placeholders)."""
        if self.db_kind == "postgresql":
            import psycopg

            with psycopg.connect(self._db_direct.replace("postgres://", "postgresql://")) as conn:
                return conn.execute(query, params).fetchall()
        with sqlite3.connect(self.db_name, timeout=10) as conn:
            return conn.execute(query.replace("%s", "?"), params).fetchall()

    def scalar(self, query: str, params: tuple = ()) -> Any:
        rows = self.sql(query, params)
        return rows[0][0] if rows else None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
