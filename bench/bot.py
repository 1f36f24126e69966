"""Bot benchmark: /start and main-menu presses from distinct users through the real application.

Builds the real PTB `Application` (`build_application()`), points it at the local Bot API
double (tests/doubles/telegram_api.py) over loopback HTTP and feeds it updates in process,
one after another as the `runbot` poller dispatches them. Each of N/2 new users sends
``/start`` and then presses one main-menu button (menu, buy, subs, help, lang in turn), so
every update is a distinct user's first or second. Prints updates/s, latency percentiles and
database statements per update (data queries; transaction control counted separately).
Targets: >= 100 updates/s, <= 6 queries per update.

The double runs as its own process by default (``python -m tests.doubles.telegram_api``), as
the real Bot API is elsewhere; ``--double thread`` runs it inside this process (it then
competes with the bot for the GIL, so figures are lower).

Database: a fresh SQLite file in a temp folder (default), or with ``--postgres`` a fresh
PostgreSQL database it creates and drops (BENCH_PG, default postgres://postgres@127.0.0.1:5432).
Usage: .venv/bin/python bench/bot.py [--updates 1000] [--postgres] [--double process|thread]
"""

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "424242:BENCH-TOKEN"
FIRST_USER = 60_000_000
PRESSES = ("menu", "buy", "subs", "help", "lang")
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


class QueryCounter:
    """A `connection.execute_wrapper`: counts data statements and transaction control."""

    def __init__(self) -> None:
        self.data = 0
        self.control = 0

    def __call__(self, execute, sql, params, many, context):
        if TRANSACTION_CONTROL.match(sql):
            self.control += 1
        else:
            self.data += 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=1000, help="total updates (even)")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--double", choices=["process", "thread"], default="process")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-bot-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="vpnsite.settings.local",
        VPNSITE_VAR_DIR=tmp,
        DJANGO_DEBUG="false",
        LOG_LEVEL="WARNING",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_ADMIN_CHAT_IDS="",
        # Made-up credentials: the buy screen lists providers; nothing is paid here.
        ROBOKASSA_LOGIN="bench-shop",
        ROBOKASSA_PASSWORD1="bench-p1",
        ROBOKASSA_PASSWORD2="bench-p2",
    )
    os.environ.pop("REDIS_URL", None)
    if not args.postgres:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        run(args, "SQLite file")
        return

    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db = f"vpnsite_bench_bot_{os.getpid()}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    os.environ["DATABASE_URL"] = f"{pg}/{db}"
    try:
        run(args, "PostgreSQL")
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def setup_shop() -> None:
    from decimal import Decimal

    from constance import config

    from core.runtime_settings import runtime_settings_forget
    from nodes.models import Node, NodeHealth
    from subscriptions.models import Tariff

    Tariff.objects.create(name="Месяц", name_en="Month", duration_days=30, price=Decimal(299))
    Tariff.objects.create(name="Год", name_en="Year", duration_days=365, price=Decimal(2990))
    trial = Tariff.objects.create(name="Пробный", duration_days=3, price=0, is_trial=True)
    config.TRIAL_TARIFF = trial.pk  # the runtime setting, as the console saves it
    runtime_settings_forget()
    Node.objects.create(
        name="bench-1",
        panel_url="http://127.0.0.1:1/",
        inbound_id=1,
        health=NodeHealth.UP,
    )


def updates_for(api, total: int) -> list[tuple[str, dict]]:
    updates = []
    for i in range(total // 2):
        user_id = FIRST_USER + i
        language = "ru" if i % 2 else "en"
        updates.append(
            ("/start", api.message_update(user_id=user_id, text="/start", language_code=language))
        )
        data = PRESSES[i % len(PRESSES)]
        updates.append((data, api.callback_update(user_id=user_id, data=data)))
    return updates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RemoteDouble:
    """The Bot API double in its own process, driven through its control routes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "RemoteDouble":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.doubles.telegram_api", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise SystemExit("the Bot API double did not start")

    def __exit__(self, *exc_info) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            if self.proc.poll() is None:
                self.proc.kill()

    def _control(self, action: str, body=None):
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.base_url}/__double__/{action}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())["result"]

    def register(self, updates: list[dict]) -> None:
        """Let the double know the pressed messages and callback queries (answerable once)."""
        for start in range(0, len(updates), 200):
            self._control("updates", updates[start : start + 200])

    def calls(self) -> list[tuple[str, dict, int]]:
        return [(c["method"], c["params"], c["status"]) for c in self._control("calls")]


class LocalDouble:
    """The double in a thread of this process."""

    def __init__(self) -> None:
        from tests.doubles.telegram_api import TelegramApiDouble

        self.api = TelegramApiDouble(token=None)

    def __enter__(self) -> "LocalDouble":
        self.api.start()
        self.base_url = self.api.base_url
        return self

    def __exit__(self, *exc_info) -> None:
        self.api.stop()

    def register(self, updates: list[dict]) -> None:
        """Updates are built on this double: it knows them already."""

    def calls(self) -> list[tuple[str, dict, int]]:
        return [(c.method, c.params, c.http_status) for c in self.api.calls]


def run(args, database: str) -> None:
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from telegram import Update

    from telegram_bot.bot.application import build_application
    from tests.doubles.telegram_api import TelegramApiDouble

    call_command("migrate", verbosity=0)
    setup_shop()
    counter = QueryCounter()
    per_kind: dict[str, list[tuple[float, int, int]]] = defaultdict(list)

    double = LocalDouble() if args.double == "thread" else RemoteDouble()
    with double:
        settings.TELEGRAM_API_BASE_URL = double.base_url
        # Update dicts come from the double's builders; a remote double is told about them.
        builder = double.api if isinstance(double, LocalDouble) else TelegramApiDouble()
        warmup = [
            ("warmup", builder.message_update(user_id=FIRST_USER - 1 - i, text="/start"))
            for i in range(5)
        ]
        updates = updates_for(builder, args.updates)
        double.register([data for _, data in warmup + updates])

        async def feed() -> float:
            application = build_application()
            async with application:
                for _, data in warmup:
                    await application.process_update(Update.de_json(data, application.bot))
                started = time.perf_counter()
                for kind, data in updates:
                    update = Update.de_json(data, application.bot)
                    data_before, control_before = counter.data, counter.control
                    t0 = time.perf_counter()
                    await application.process_update(update)
                    per_kind[kind].append(
                        (
                            time.perf_counter() - t0,
                            counter.data - data_before,
                            counter.control - control_before,
                        )
                    )
                return time.perf_counter() - started

        # Handlers' database work runs on this thread (sync_to_async, thread-sensitive).
        with connection.execute_wrapper(counter):
            wall = async_to_sync(feed)()
        calls = double.calls()
        failed = [(method, status) for method, _, status in calls if status != 200]
        answered = {
            params.get("chat_id")
            for method, params, status in calls
            if method in ("sendMessage", "editMessageText") and status == 200
        }

    samples = [s for kind in per_kind.values() for s in kind]
    n = len(samples)
    latencies = sorted(s[0] for s in samples)
    print(f"database: {database} ({connection.vendor}); Bot API double: {args.double}")
    print(f"updates: {n} from {n // 2} distinct users (/start, then one menu press each)")
    print(f"wall: {wall:.2f} s -> {n / wall:.0f} updates/s")
    print(
        f"latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(n * 0.95) - 1] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"queries per update: {sum(s[1] for s in samples) / n:.2f} data "
        f"(max {max(s[1] for s in samples)}), "
        f"+ {sum(s[2] for s in samples) / n:.2f} transaction control"
    )
    for kind, rows in per_kind.items():
        print(
            f"  {kind:<7} n={len(rows):<4} {statistics.mean(r[0] for r in rows) * 1000:6.1f} ms"
            f"  queries {statistics.mean(r[1] for r in rows):.2f} (max {max(r[1] for r in rows)})"
            f" + {statistics.mean(r[2] for r in rows):.2f} tx"
        )
    print(
        f"Bot API errors: {failed[:5] or 0}; users answered: {len(answered & _users(n))}/{n // 2}"
    )


def _users(n: int) -> set[int]:
    return {FIRST_USER + i for i in range(n // 2)}


if __name__ == "__main__":
    main()
