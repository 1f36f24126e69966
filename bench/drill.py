"""Fault drill: payment notifications through SIGKILLs of web and worker and a Redis crash.

    .venv/bin/python bench/drill.py [--seconds 60] [--rate 20] [--nodes 2]
                                    [--recover-within 120] [--redis-down 5]

The production-like run of issue 17, on loopback, and it stops by itself:

1. creates its own PostgreSQL database (``vpnsite_drill_<pid>``) and starts its own
   ``redis-server`` on a free loopback port (``--appendonly yes`` as in docker-compose.yml; never
   the machine's shared Redis), ``--nodes`` 3x-ui panel simulators (``manage.py
   x3ui_simulator``, legacy and v3 in turn), the Telegram Bot API double
   (``python -m tests.doubles.telegram_api``), gunicorn with the project's ``gunicorn.conf.py``
   (2 workers), a Celery worker (concurrency 2) and beat, all on ``vpnsite.settings.local``
   with DEBUG off and the production intervals (outbox flush 30 s, placement sweep 30 s,
   health every 12 s). A worker or beat that exits is started again, as compose's
   ``restart: unless-stopped`` does;
2. adds the panels with ``manage.py node add`` and seeds customers, a tariff and pending
   payments (half Robokassa, half FreeKassa; a third renew a subscription that has no key yet);
3. streams signed notifications at ``--rate`` per second for ``--seconds`` (each order once,
   plus ``--duplicates`` of exact redeliveries), from a thread pool that acts as the providers:
   an answer other than the one the provider expects (``OK<id>`` / ``YES``) is retried every
   ``--retry-every`` seconds until it comes;
4. meanwhile: SIGKILLs a gunicorn worker (the master replaces it), SIGKILLs the whole Celery
   worker (restarted 2 s later), SIGKILLs Redis and starts it again ``--redis-down`` seconds
   later, then kills a gunicorn worker and the Celery worker once more;
5. waits for recovery and prints: notifications answered OK, payments credited once (lost and
   double), subscriptions with every key on its panel (read from each simulator's
   ``/__sim__/state``), outbox messages sent / pending / stuck (and what the Bot API double
   received), and the time from the last fault to full recovery.

Exit code 0 only when every notification was answered OK, nothing was lost, nothing was
credited twice, every key is on its panel within ``--recover-within`` seconds (120) of the
last fault, and every customer's message is sent within ``--drain-within`` (300) with no
message stuck. Stuck: a chat's head due for over a minute that nobody is sending (the flush
resends heads every 30 s), or a claim the flush should have released (after 2 minutes). The
admin chat gets a message per payment and drains at one per ``TELEGRAM_RATE_PER_CHAT_SECONDS``
(1 s, as in production): it only has to keep moving (``--chat-interval 0.05`` to see it
empty). Every process it started
is stopped and its database dropped, also on Ctrl-C or a failure (``--keep`` keeps the
database and the processes' logs). Reads the results with plain SQL (the tables keep their
names when code moves between apps) and the panels' and the Bot API double's control routes.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Helpers shared with the other benchmarks (bench/ is on sys.path as the script's directory).
from reconcile import wait_port  # noqa: E402
from webhooks import (  # noqa: E402
    FREEKASSA,
    ROBOKASSA,
    Notification,
    bench_database_drop,
    children_of,
    database_admin,
    notification_build,
    port_free,
    processes_stop,
    request_bytes,
    seed,
    send,
    wait_ready,
)

DEADLINE_SECONDS = 1200  # the whole run, whatever happens
BOT_TOKEN = "123456:DRILL-TOKEN"
ADMIN_CHAT = 1001
VENV_BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the processes ---------------------------------------------------------------------------


class Processes:
    """Every process the drill starts, by role; worker and beat are restarted when they exit."""

    def __init__(self, env: dict[str, str], workdir: Path, args) -> None:
        self.env, self.workdir, self.args = env, workdir, args
        self.by_role: dict[str, subprocess.Popen] = {}
        self.others: list[subprocess.Popen] = []  # simulators and the Bot API double
        self.restarts: Counter[str] = Counter()
        self.hold: set[str] = set()  # roles the supervisor leaves down for now
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.redis_port = port_free()
        self.web_port = port_free()
        self.api_port = port_free()
        self.sim_ports = [port_free() for _ in range(args.nodes)]

    def _popen(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = (self.workdir / f"{name}.log").open("ab")
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group each: SIGKILL takes its children too
        )

    def redis_start(self) -> None:
        self.by_role["redis"] = self._popen(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.redis_port), "--bind", "127.0.0.1"),
                *("--dir", str(self.workdir), "--save", ""),
                # As docker-compose.yml runs it: an append-only file, no eviction.
                *("--appendonly", "yes", "--maxmemory-policy", "noeviction"),
            ],
        )
        wait_port(self.redis_port, time.monotonic() + 20)

    def others_start(self) -> None:
        for i, port in enumerate(self.sim_ports):
            self.others.append(
                self._popen(
                    f"panel-{i}",
                    [
                        sys.executable,
                        *("manage.py", "x3ui_simulator", "--port", str(port)),
                        *("--generation", "legacy" if i % 2 == 0 else "v3"),
                        *("--username", "admin", "--password", "drill-pass"),
                        *("--base-path", f"/p{i}/"),
                    ],
                )
            )
        self.others.append(
            self._popen(
                "botapi",
                [sys.executable, "-m", "tests.doubles.telegram_api", "--port", str(self.api_port)],
            )
        )
        deadline = time.monotonic() + 60
        for port in [*self.sim_ports, self.api_port]:
            wait_port(port, deadline)

    def role_start(self, role: str) -> None:
        argv = {
            "web": [
                str(VENV_BIN / "gunicorn"),
                *("vpnsite.wsgi", "--config", str(ROOT / "gunicorn.conf.py")),
                *("--bind", f"127.0.0.1:{self.web_port}", "--workers", str(self.args.web_workers)),
            ],
            "worker": [
                str(VENV_BIN / "celery"),
                *("-A", "vpnsite", "worker", "--loglevel", "WARNING"),
                *("--concurrency", str(self.args.worker_concurrency)),
            ],
            "beat": [
                str(VENV_BIN / "celery"),
                *("-A", "vpnsite", "beat", "--loglevel", "WARNING"),
                *("--schedule", str(self.workdir / "celerybeat-schedule")),
            ],
        }[role]
        with self.lock:
            self.by_role[role] = self._popen(role, argv)

    def supervise(self) -> None:
        """compose's ``restart: unless-stopped`` for the worker and beat."""
        while not self.stopping.wait(0.5):
            for role in ("worker", "beat"):
                with self.lock:
                    process = self.by_role.get(role)
                    exited = process is not None and process.poll() is not None
                if exited and role not in self.hold and not self.stopping.is_set():
                    log(f"{role} exited ({process.returncode}); starting it again")
                    self.restarts[role] += 1
                    self.role_start(role)

    def kill(self, role: str) -> int:
        process = self.by_role[role]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def web_worker_kill(self) -> int:
        workers = [
            pid for pid in children_of(self.by_role["web"].pid) if pid != self.by_role["web"].pid
        ]
        if not workers:
            raise SystemExit("gunicorn has no worker to kill")
        os.kill(workers[0], signal.SIGKILL)
        return workers[0]

    def queue_depth(self) -> str:
        """Tasks waiting in the broker's default queue (and held unacknowledged by workers)."""
        import redis

        try:
            client = redis.Redis(port=self.redis_port, socket_timeout=5)
            return f"{client.llen('celery')} (+{client.hlen('unacked')} held)"
        except redis.RedisError as exc:
            return f"unknown ({exc})"

    def stop_all(self) -> None:
        """The app's processes first, then what they talk to (Redis, panels, Bot API)."""
        self.stopping.set()
        with self.lock:
            app = [self.by_role.get(role) for role in ("web", "worker", "beat")]
        processes_stop(app, timeout=15)
        processes_stop([self.by_role.get("redis"), *self.others], timeout=15)


# --- the providers ---------------------------------------------------------------------------


@dataclass
class Delivery:
    item: Notification
    duplicate: bool
    attempts: int = 0
    ok_at: float | None = None
    answers: Counter = field(default_factory=Counter)


class Providers:
    """Sends each delivery at its time and retries it, as a provider does, until it gets the
    answer the provider expects."""

    def __init__(self, port: int, deliveries: list[Delivery], *, rate: float, retry_every: float):
        self.port, self.deliveries = port, deliveries
        self.rate, self.retry_every = rate, retry_every
        self.heap: list[tuple[float, int, Delivery]] = []
        self.seq = itertools.count()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="provider")

    def run(self, started: float) -> None:
        with self.lock:
            for i, delivery in enumerate(self.deliveries):
                heapq.heappush(self.heap, (started + i / self.rate, next(self.seq), delivery))
        while not self.stop.is_set():
            with self.lock:
                if not self.heap and not self.in_flight:
                    break
                due = self.heap and self.heap[0][0] <= time.monotonic()
                if due:
                    _at, _n, delivery = heapq.heappop(self.heap)
                    self.in_flight += 1
            if due:
                self.pool.submit(self._attempt, delivery)
            else:
                time.sleep(0.005)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _attempt(self, delivery: Delivery) -> None:
        try:
            status, body, _seconds = send(self.port, request_bytes(delivery.item))
            delivery.attempts += 1
            ok = status == 200 and body == delivery.item.expected_body
            delivery.answers[status if status != 200 or ok else "200 (unexpected body)"] += 1
            if ok:
                delivery.ok_at = time.monotonic()
            else:
                with self.lock:
                    heapq.heappush(
                        self.heap,
                        (time.monotonic() + self.retry_every, next(self.seq), delivery),
                    )
        finally:
            with self.lock:
                self.in_flight -= 1

    def pending(self) -> int:
        with self.lock:
            return len(self.heap) + self.in_flight


def deliveries_build(
    payment_ids: dict[str, list[int]], *, total: int, duplicates: float, seed_value: int
) -> list[Delivery]:
    rng = random.Random(seed_value)
    everyone = [(p, pid) for p, ids in payment_ids.items() for pid in ids]
    rng.shuffle(everyone)
    originals = [Delivery(notification_build(rng, p, pid), False) for p, pid in everyone]
    n_duplicates = round(total * duplicates)
    repeats = [Delivery(rng.choice(originals).item, True) for _ in range(n_duplicates)]
    plan = originals + repeats
    rng.shuffle(plan)
    return plan


# --- what the system holds -------------------------------------------------------------------


def sql(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as connection:
        return connection.execute(query, params).fetchall()


def panel_clients(port: int) -> dict[str, dict]:
    url = f"http://127.0.0.1:{port}/__sim__/state"
    with urllib.request.urlopen(url, timeout=30) as reply:
        state = json.load(reply)
    return {client["email"]: client for client in state["inbound"]["settings"]["clients"]}


def bot_api_calls(port: int) -> list[dict]:
    url = f"http://127.0.0.1:{port}/__double__/calls"
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.load(reply)["result"]


@dataclass
class Figures:
    credited: int = 0
    lost: int = 0
    double: int = 0
    subscriptions: int = 0
    provisioned: int = 0
    keys_expected: int = 0
    keys_on_panels: int = 0
    messages: Counter = field(default_factory=Counter)
    customer_messages: Counter = field(default_factory=Counter)
    admin_messages: Counter = field(default_factory=Counter)
    admin_last_sent: float | None = None  # seconds ago
    stuck: int = 0

    @property
    def keys_done(self) -> bool:
        return self.subscriptions == self.provisioned and self.keys_on_panels == self.keys_expected

    @staticmethod
    def unsent(counts: Counter) -> int:
        return counts["pending"] + counts["sending"]

    @property
    def messages_done(self) -> bool:
        """Every customer's message sent, nothing stuck; the admin chat (a message per
        payment, one a TELEGRAM_RATE_PER_CHAT_SECONDS) sent or still moving."""
        admin_moving = self.admin_last_sent is not None and float(self.admin_last_sent) < 10
        return (
            not self.stuck
            and not self.unsent(self.customer_messages)
            and (not self.unsent(self.admin_messages) or admin_moving)
        )


def figures_read(
    dsn: str, *, order_ids: list[int], sim_ports: dict[int, int], started_db
) -> Figures:
    """Credits, keys and messages as the database and the panels have them now."""
    f = Figures()
    paid = dict(sql(dsn, "SELECT id, status FROM billing_payment WHERE id = ANY(%s)", (order_ids,)))
    f.credited = sum(1 for pid in order_ids if paid.get(pid) == "paid")
    f.lost = len(order_ids) - f.credited
    audits = sql(
        dsn,
        "SELECT object_id, count(*) FROM core_auditlog WHERE event_type = 'payment.paid' "
        "GROUP BY object_id HAVING count(*) > 1",
    )
    # A second credit of the same order adds its 30 days twice: no subscription may end later
    # than seeding time + 5 days (the renewals' head start) + 30 days (+ the run itself).
    too_long = sql(
        dsn,
        "SELECT count(*) FROM subscriptions_subscription "
        "WHERE expires_at > %s::timestamptz + interval '35 days 1 hour'",
        (started_db,),
    )[0][0]
    f.double = len(audits) + too_long
    subscriptions = sql(
        dsn,
        "SELECT s.id, CASE WHEN s.node_count = 0 THEN %s ELSE LEAST(s.node_count, %s) END "
        "FROM subscriptions_subscription s WHERE s.status = 'active'",
        (len(sim_ports), len(sim_ports)),
    )
    keys = sql(
        dsn,
        "SELECT k.subscription_id, k.node_id, k.email, k.expiry_time_ms, k.enable "
        "FROM nodes_nodeclient k WHERE k.sync_state = 'synced' "
        "AND k.synced_version = k.desired_version",
    )
    panels = {node_id: panel_clients(port) for node_id, port in sim_ports.items()}
    on_panel: Counter[int] = Counter()
    for subscription_id, node_id, email, expiry_ms, enable in keys:
        client = panels.get(node_id, {}).get(email)
        if client and client.get("expiryTime") == expiry_ms and client.get("enable") == enable:
            on_panel[subscription_id] += 1
    f.subscriptions = len(subscriptions)
    f.keys_expected = sum(wanted for _sid, wanted in subscriptions)
    f.keys_on_panels = sum(min(on_panel[sid], wanted) for sid, wanted in subscriptions)
    f.provisioned = sum(1 for sid, wanted in subscriptions if on_panel[sid] >= wanted)
    for audience, status, count in sql(
        dsn,
        "SELECT audience, status, count(*) FROM telegram_bot_outboxmessage GROUP BY 1, 2",
    ):
        f.messages[status] += count
        (f.customer_messages if audience == "customer" else f.admin_messages)[status] += count
    f.admin_last_sent = sql(
        dsn,
        "SELECT extract(epoch FROM now() - max(sent_at)) FROM telegram_bot_outboxmessage "
        "WHERE audience = 'admin'",
    )[0][0]
    # Stuck: the head of its chat (nothing earlier to that chat unsent), due for over a minute
    # and nobody sending it (the flush resends every chat's head every 30 s); a claim the flush
    # should have released (2 minutes) a flush ago. Messages behind a moving head are waiting.
    f.stuck = sql(
        dsn,
        "SELECT count(*) FROM telegram_bot_outboxmessage m WHERE ("
        "  m.status = 'pending' AND m.next_attempt_at < now() - interval '60 seconds'"
        "  AND NOT EXISTS (SELECT 1 FROM telegram_bot_outboxmessage e WHERE e.chat_id = m.chat_id"
        "    AND e.id < m.id AND e.status IN ('pending', 'sending'))"
        ") OR (m.status = 'sending' AND m.claimed_at < now() - interval '150 seconds')",
    )[0][0]
    return f


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the stream")
    parser.add_argument("--rate", type=float, default=20.0, help="notifications per second")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of redeliveries")
    parser.add_argument("--nodes", type=int, default=2, help="panel simulators (and nodes)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--redis-down", type=float, default=5.0, help="seconds Redis stays down")
    parser.add_argument("--retry-every", type=float, default=5.0, help="the providers' retry")
    parser.add_argument(
        "--recover-within", type=float, default=120.0, help="seconds after the last fault"
    )
    parser.add_argument(
        "--drain-within",
        type=float,
        default=300.0,
        help="seconds after the last fault for every customer's message to be sent",
    )
    parser.add_argument(
        "--chat-interval",
        type=float,
        default=1.0,
        help="TELEGRAM_RATE_PER_CHAT_SECONDS (1.0, as in production: every payment queues a "
        "message to the admin chat, which then drains at one a second; 0.05 lets the drill "
        "see the admin chat empty too)",
    )
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the processes' logs and the database"
    )
    args = parser.parse_args()

    total = round(args.seconds * args.rate)
    orders = total - round(total * args.duplicates)
    database = f"vpnsite_drill_{os.getpid()}"
    dsn = f"{args.pg}/{database}"
    workdir = Path(tempfile.mkdtemp(prefix="vpnsite-drill-"))
    processes: Processes | None = None
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("ROBOKASSA_", "FREEKASSA_", "REDIS_URL", "DJANGO_", "TELEGRAM_", "CELERY_")
        )
    }

    watchdog = threading.Timer(DEADLINE_SECONDS, lambda: os.kill(os.getpid(), signal.SIGINT))
    watchdog.daemon = True
    watchdog.start()
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        processes = Processes(env, workdir, args)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
                "DJANGO_DEBUG": "false",
                "DATABASE_URL": dsn,
                "REDIS_URL": f"redis://127.0.0.1:{processes.redis_port}/0",
                "VPNSITE_VAR_DIR": str(workdir / "var"),
                "LOG_LEVEL": "WARNING",
                "ROBOKASSA_LOGIN": ROBOKASSA["login"],
                "ROBOKASSA_PASSWORD1": ROBOKASSA["password1"],
                "ROBOKASSA_PASSWORD2": ROBOKASSA["password2"],
                "FREEKASSA_MERCHANT_ID": FREEKASSA["merchant_id"],
                "FREEKASSA_SECRET1": FREEKASSA["secret1"],
                "FREEKASSA_SECRET2": FREEKASSA["secret2"],
                "FREEKASSA_CHECK_IP": "false",
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{processes.api_port}",
                "TELEGRAM_ADMIN_CHAT_IDS": str(ADMIN_CHAT),
                "TELEGRAM_RATE_PER_CHAT_SECONDS": str(args.chat_interval),
            }
        )
        os.environ.clear()
        os.environ.update(env)
        return run(args, processes, dsn=dsn, total=total, orders=orders)
    finally:
        watchdog.cancel()
        if processes is not None:
            processes.stop_all()
        if args.keep:
            kept = Path(tempfile.gettempdir()) / f"vpnsite-drill-logs-{os.getpid()}"
            shutil.copytree(workdir, kept, ignore=shutil.ignore_patterns("var", "appendonlydir"))
            print(f"logs kept in {kept}, database {database} kept (drop it yourself)")
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            bench_database_drop(args.pg, database, workdir)


def run(args, processes: Processes, *, dsn: str, total: int, orders: int) -> int:
    log(f"database {dsn.rsplit('/', 1)[1]}; migrating…")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    processes.redis_start()
    processes.others_start()
    for i, port in enumerate(processes.sim_ports):
        subprocess.run(
            [
                sys.executable,
                *("manage.py", "node", "add", "--name", f"drill-{i}"),
                *("--url", f"http://127.0.0.1:{port}/p{i}/", "--inbound-id", "1"),
                *("--username", "admin", "--password", "drill-pass"),
                *("--host", f"n{i}.drill.example.com"),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    sim_ports = dict(
        zip(
            [row[0] for row in sql(dsn, "SELECT id FROM nodes_node ORDER BY name")],
            processes.sim_ports,
            strict=True,
        )
    )

    import django

    django.setup()
    from django.db import connections

    started_db = sql(dsn, "SELECT now()")[0][0]
    payment_ids = seed(payments=orders, nodes=0)
    connections.close_all()
    order_ids = [pid for ids in payment_ids.values() for pid in ids]
    deliveries = deliveries_build(
        payment_ids, total=total, duplicates=args.duplicates, seed_value=args.seed
    )

    for role in ("web", "worker", "beat"):
        processes.role_start(role)
    wait_ready(processes.web_port, processes.by_role["web"])
    threading.Thread(target=processes.supervise, daemon=True).start()
    log(
        f"{len(sim_ports)} panels, Redis on :{processes.redis_port}, Bot API double on "
        f":{processes.api_port}, gunicorn on :{processes.web_port}; streaming {len(deliveries)} "
        f"notifications ({orders} orders, {len(deliveries) - orders} redeliveries) at "
        f"{args.rate:g}/s for {args.seconds:g} s"
    )

    providers = Providers(
        processes.web_port, deliveries, rate=args.rate, retry_every=args.retry_every
    )
    started = time.monotonic()
    stream = threading.Thread(target=providers.run, args=(started,), daemon=True)
    stream.start()

    faults: list[tuple[float, str]] = []

    def at(fraction: float) -> None:
        delay = started + fraction * args.seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def fault(text: str) -> None:
        faults.append((time.monotonic() - started, text))
        log(f"t={faults[-1][0]:5.1f} s  {text}")

    at(0.15)
    fault(f"SIGKILL gunicorn worker {processes.web_worker_kill()}")
    at(0.30)
    processes.hold.add("worker")
    fault(f"SIGKILL the Celery worker (process group {processes.kill('worker')})")
    time.sleep(2)
    processes.role_start("worker")
    processes.hold.discard("worker")
    fault("Celery worker started again")
    at(0.45)
    fault(f"SIGKILL redis-server {processes.kill('redis')}")
    time.sleep(args.redis_down)
    processes.redis_start()
    fault("redis-server started again (its append-only file reloaded)")
    at(0.65)
    fault(f"SIGKILL gunicorn worker {processes.web_worker_kill()}")
    processes.hold.add("worker")
    fault(f"SIGKILL the Celery worker (process group {processes.kill('worker')})")
    time.sleep(2)
    processes.role_start("worker")
    processes.hold.discard("worker")
    fault("Celery worker started again")
    last_fault = time.monotonic()

    stream.join(timeout=max(0.0, started + args.seconds - time.monotonic()) + 1)
    stream_ended = started + args.seconds
    log("stream sent; waiting for recovery")
    deadline = last_fault + max(args.recover_within, args.drain_within)
    done_at: dict[str, float] = {}
    figures = Figures()
    while time.monotonic() < deadline:
        figures = figures_read(dsn, order_ids=order_ids, sim_ports=sim_ports, started_db=started_db)
        now = time.monotonic()
        if not providers.pending() and not figures.lost:
            done_at.setdefault("credits", now)
        if figures.keys_done:
            done_at.setdefault("keys", now)
        if figures.messages_done:
            done_at.setdefault("messages", now)
        else:
            done_at.pop("messages", None)
        if len(done_at) == 3:
            break
        log(
            f"  queued tasks {processes.queue_depth()}, "
            f"provider retries pending {providers.pending()}, credited {figures.credited}/"
            f"{len(order_ids)}, subscriptions provisioned {figures.provisioned}/"
            f"{figures.subscriptions}, messages unsent: customers "
            f"{figures.unsent(figures.customer_messages)}, admin chat "
            f"{figures.unsent(figures.admin_messages)}; stuck {figures.stuck}"
        )
        time.sleep(3)
    providers.stop.set()
    stream.join(timeout=30)
    log(f"broker queue at the end: {processes.queue_depth()}")
    figures = figures_read(dsn, order_ids=order_ids, sim_ports=sim_ports, started_db=started_db)
    calls = [
        c
        for c in bot_api_calls(processes.api_port)
        if c["method"].lower() in {"sendmessage", "sendphoto"}
    ]
    return report(
        args,
        deliveries=deliveries,
        orders=len(order_ids),
        figures=figures,
        calls=calls,
        faults=faults,
        restarts=processes.restarts,
        done_at=done_at,
        last_fault=last_fault,
        stream_ended=stream_ended,
    )


def report(
    args,
    *,
    deliveries,
    orders,
    figures: Figures,
    calls,
    faults,
    restarts,
    done_at,
    last_fault,
    stream_ended,
) -> int:
    attempts = sum(d.attempts for d in deliveries)
    ok = [d for d in deliveries if d.ok_at is not None]
    retried = [d for d in deliveries if d.attempts > 1]
    answers: Counter = Counter()
    for delivery in deliveries:
        answers.update(delivery.answers)
    sent_to = Counter(
        (c["params"].get("chat_id"), c["params"].get("text") or c["params"].get("caption"))
        for c in calls
    )
    twice = sum(n - 1 for n in sent_to.values() if n > 1)
    unsent_customers = figures.unsent(figures.customer_messages)
    unsent_admin = figures.unsent(figures.admin_messages)
    print()
    print("faults (seconds into the stream):")
    for moment, text in faults:
        print(f"  {moment:6.1f}  {text}")
    if restarts:
        print(f"  restarted after exiting by themselves: {dict(restarts)}")
    print(
        f"notifications   {len(deliveries)} ({orders} orders, {len(deliveries) - orders} "
        f"redeliveries); {attempts} HTTP requests; answers {dict(answers)}"
    )
    print(
        f"answered OK     {len(ok)} of {len(deliveries)}; retried by the provider "
        f"{len(retried)} (at most {max((d.attempts for d in deliveries), default=0)} tries)"
    )
    print(
        f"credited once   {figures.credited - figures.double} of {orders}; "
        f"lost {figures.lost}; double {figures.double}"
    )
    print(
        f"provisioned     {figures.provisioned} of {figures.subscriptions} active subscriptions "
        f"with every key on its panel ({figures.keys_on_panels} of {figures.keys_expected} keys)"
    )
    print(
        f"messages        sent {figures.messages['sent']}, failed {figures.messages['failed']}, "
        f"stuck {figures.stuck}; unsent: customers {unsent_customers}, admin chat "
        f"{unsent_admin} (one message per payment, one every {args.chat_interval:g} s); the "
        f"Bot API double got {len(calls)} messages ({twice} of them a second time)"
    )
    for what, label in (
        ("credits", "every order credited"),
        ("keys", "every key on its panel"),
        ("messages", "messages sent or moving"),
    ):
        moment = done_at.get(what)
        limit = args.recover_within if what != "messages" else args.drain_within
        print(
            f"recovered       {label}: "
            + (
                f"{moment - last_fault:.1f} s after the last fault "
                f"({max(moment - stream_ended, 0):.1f} s after the stream ended)"
                if moment is not None
                else f"NOT within {limit:g} s of the last fault"
            )
        )
    keys_in_time = "keys" in done_at and done_at["keys"] - last_fault <= args.recover_within
    checks = {
        "every notification answered OK": len(ok) == len(deliveries),
        "0 lost": figures.lost == 0,
        "0 double": figures.double == 0,
        f"0 stuck messages, every customer's sent within {args.drain_within:g} s": (
            figures.stuck == 0 and "messages" in done_at
        ),
        f"every key provisioned within {args.recover_within:g} s": keys_in_time,
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
