"""Expiry sweep benchmark: 100,000 subscriptions, 10,000 due, keys on 5 simulated panels.

    .venv/bin/python bench/expiry.py [--subscriptions 100000 --due 10000 --nodes 5]
                                     [--panel-keys due|all] [--profile]

What it does, all on loopback, and it stops by itself:
1. creates a fresh PostgreSQL database (``vpnsite_bench_expiry_<pid>``), starts ``--nodes``
   ``manage.py x3ui_simulator`` processes, one per release in turn (``--versions``: by
   default the five supported, 2.8.3, 3.0.2, 3.1.0, 3.4.2, 3.6.0), and registers a node for
   each (a health check caches its inbound and generation). Like a real panel, each runs
   its own traffic job (every 10 s on v2.8.3, 5 s later), which disables a client past its
   ``expiryTime`` by itself (docs/x3ui.md, "The panel's own expiry job");
2. builds the rows with ``bulk_create`` (not through services): customers, subscriptions
   (``--due`` of them active with ``expires_at`` an hour ago, the rest active for days to
   come, the due ones picked at random), one synced key each, spread round-robin over the
   nodes; then puts the keys of the due subscriptions on the panels with the real
   reconciliation (``node_reconcile``: one listing, batched adds); ``--panel-keys all`` puts
   all 100,000 there, as in production (the simulator takes minutes for that); then
   ``VACUUM ANALYZE``, as autovacuum leaves a production database (statistics, no dead rows);
3. the database part: calls ``subscriptions.services.lifecycle.subscriptions_expire_due()`` (its
   defaults, as the beat task does) until it finds nothing due, and times each call; it
   counts the SQL statements sent (``connection.execute_wrapper``) and the chunks (the
   transactions that expired something). Celery is not eager; the broker is the embedded
   filesystem one in a temporary directory, so each committed chunk really publishes its
   messages (one ``node_keys_push_task`` per node, one ``outbox_flush_task`` for the
   chunk's messages), and the bench records each push it queued
   (``node_keys_push_task.delay`` wrapped);
4. the panel part: runs the recorded pushes through the real task, in this process, in the
   order they were queued (one after the other, where production's workers would run them
   side by side), and prints each simulator's HTTP
   requests by route (``/__sim__/state``) next to the keys and push tasks it got, the wall
   time, then checks every due key is disabled on its panel and synced in the database.

``--profile`` prints a cProfile (CPU time) of the database part.

Targets: database part < 10 s; panel updates batched per node. The exit code is 0 either
way, 1 when the run itself failed (a key not disabled, not synced, a push error). Needs a
local PostgreSQL trusting ``postgres`` on 127.0.0.1:5432 (``--pg``).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Helpers shared with the other benchmarks (bench/ is on sys.path as the script's directory).
from reconcile import free_port, wait_port  # noqa: E402
from webhooks import (  # noqa: E402
    bench_database_drop,
    database_admin,
    machine_split,
    machine_ticks,
    processes_stop,
)

DEADLINE_SECONDS = 900  # the whole run, whatever happens
DB_TARGET_SECONDS = 10.0


def sim_state(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sim__/state", timeout=30) as reply:
        return json.load(reply)


def sim_post(port: int, action: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/__sim__/{action}", data=b"{}", method="POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback http
        pass


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def sims_cpu(sims) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for _port, _generation, process in sims:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def own_backend_cpu() -> float:
    """CPU seconds of the PostgreSQL backend serving this process's Django connection."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process, reaped backends included (cutime/cstime)."""
    import pwd

    uid = pwd.getpwnam("postgres").pw_uid
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


class Meter:
    """Wall time, this process's CPU, PostgreSQL's, the simulators' and the machine's split."""

    def __init__(self, sims) -> None:
        self.sims = sims

    def __enter__(self) -> Meter:
        self.machine = machine_ticks()
        self.cpu = (own_cpu(), postgres_cpu(), sims_cpu(self.sims), own_backend_cpu())
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall = time.perf_counter() - self.started
        cpu = (own_cpu(), postgres_cpu(), sims_cpu(self.sims), own_backend_cpu())
        self.app, self.db, self.panels, self.backend = (
            b - a for a, b in zip(self.cpu, cpu, strict=True)
        )
        after = machine_ticks()
        self.split = machine_split(self.machine, after)
        user, nice, system, _idle, _iowait, irq, softirq, _steal = (
            b - a for a, b in zip(self.machine, after, strict=True)
        )
        self.busy = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    def line(self) -> str:
        others = max(self.busy - self.app - self.db - self.panels, 0)
        return (
            f"CPU: bench process {self.app:.1f} s, its PostgreSQL backend {self.backend:.1f} s "
            f"(all of the shared server: {self.db:.1f} s), simulators "
            f"{self.panels:.1f} s, everything else on the machine {others:.1f} s; "
            f"machine: {self.split}"
        )


def build(*, sims, subscriptions: int, due: int, panel_keys: str) -> list:
    """Nodes, then the rows with bulk_create, then the keys onto the panels."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Customer
    from nodes.models import Node, NodeClient, NodeHealth, SyncState
    from nodes.services.health import node_health_check
    from nodes.services.reconcile import node_reconcile
    from subscriptions.models import Subscription, SubscriptionStatus, Tariff

    nodes = []
    for i, (port, version, _process) in enumerate(sims):
        node = Node.objects.create(
            name=f"bench-{i}-{version}",
            panel_url=f"http://127.0.0.1:{port}/p{i}/",
            panel_username="admin",
            panel_password="bench-pass",
            inbound_id=1,
            public_host=f"n{i}.bench.example.com",
            health=NodeHealth.UP,
        )
        node_health_check(node=node)
        node.refresh_from_db()
        if not node.inbound_cache:
            raise SystemExit(f"{node.name}: the health check cached no inbound")
        nodes.append(node)

    started = time.perf_counter()
    now = timezone.now()
    tariff = Tariff.objects.create(
        name="Месяц", name_en="Month", duration_days=30, price=299, device_limit=3
    )
    customers = Customer.objects.bulk_create(
        (
            Customer(telegram_id=20_000_000 + i, language="ru" if i % 3 else "en")
            for i in range(subscriptions)
        ),
        batch_size=5000,
    )
    due_indexes = set(random.Random(20261207).sample(range(subscriptions), due))
    rows = []
    for i, customer in enumerate(customers):
        is_due = i in due_indexes
        expires_at = now - timedelta(hours=1) if is_due else now + timedelta(days=1 + i % 29)
        rows.append(
            Subscription(
                customer=customer,
                number=1,  # one subscription per customer
                tariff=tariff,
                status=SubscriptionStatus.ACTIVE,
                started_at=expires_at - timedelta(days=30),
                expires_at=expires_at,
                device_limit=3,
                keys_notified_at=now,
            )
        )
    lap = time.perf_counter()
    steps = {"customers": lap - started}
    subs = Subscription.objects.bulk_create(rows, batch_size=5000)
    steps["subscriptions"], lap = time.perf_counter() - lap, time.perf_counter()
    keys = []
    for i, subscription in enumerate(subs):
        node = nodes[i % len(nodes)]
        keys.append(
            NodeClient(
                subscription=subscription,
                node=node,
                email=f"s{subscription.pk}n{node.pk}",
                enable=True,
                expiry_time_ms=int(subscription.expires_at.timestamp() * 1000),
                limit_ip=3,
                total_bytes=0,
                sync_state=SyncState.SYNCED,
                desired_version=1,
                synced_version=1,
            )
        )
    NodeClient.objects.bulk_create(keys, batch_size=5000)
    steps["keys"] = time.perf_counter() - lap
    print(
        f"rows: {len(customers)} customers, {len(subs)} subscriptions "
        f"({Subscription.objects.filter(expires_at__lte=now).count()} due), {len(keys)} keys "
        f"with bulk_create in {time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())
        + ")",
        flush=True,
    )

    started = time.perf_counter()
    if panel_keys == "due":
        # Only the due keys onto the panels: the others leave reconciliation's view meanwhile.
        NodeClient.objects.exclude(subscription__expires_at__lte=now).update(
            sync_state=SyncState.REMOVED
        )
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        results = list(pool.map(lambda n: node_reconcile(node=n), nodes))
    if panel_keys == "due":
        NodeClient.objects.filter(sync_state=SyncState.REMOVED).update(sync_state=SyncState.SYNCED)
    for node, result in zip(nodes, results, strict=True):
        if result["errors"]:
            raise SystemExit(f"{node.name}: putting the keys on the panel failed: {result}")
    print(
        f"panels: {sum(r['added'] for r in results)} keys added by node_reconcile "
        f"({panel_keys} keys) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    # A production database has statistics and no pile of dead rows (autovacuum); fresh
    # bulk loads and the two mass updates above leave neither, so the planner would guess.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
    return nodes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument(
        "--versions",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        default=["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"],
        help="3x-ui releases of the simulated panels, one per node in turn "
        "(comma-separated; default: the five supported)",
    )
    parser.add_argument(
        "--panel-keys",
        choices=["all", "due"],
        default="due",
        help="which keys the panels hold before the sweep: due (default) or all, as in "
        "production (slow to set up: the simulator adds 20,000 clients per panel in minutes)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile (CPU time) the database part and print where its time goes",
    )
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    args = parser.parse_args()
    if not 0 < args.due <= args.subscriptions:
        parser.error("--due must be between 1 and --subscriptions")

    database = f"vpnsite_bench_expiry_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="vpnsite-bench-expiry-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REDIS_URL", "DJANGO_", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="vpnsite.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=f"{args.pg}/{database}",
        # The embedded filesystem broker lives here: published messages stay as files.
        VPNSITE_VAR_DIR=str(workdir / "var"),
        LOG_LEVEL="WARNING",
        TELEGRAM_BOT_TOKEN="",
    )
    if args.panel_keys == "all":  # a simulator takes minutes to add 20,000 clients in one call
        env["X3UI_READ_TIMEOUT"] = "300"
    os.environ.clear()
    os.environ.update(env)

    sims: list[tuple[int, str, subprocess.Popen]] = []

    def deadline_hit() -> None:
        # The simulators first: a thread blocked on one of them would hold the exit up.
        print(f"deadline of {DEADLINE_SECONDS} s hit: stopping", file=sys.stderr, flush=True)
        for _port, _generation, process in sims:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGINT)

    watchdog = threading.Timer(DEADLINE_SECONDS, deadline_hit)
    watchdog.daemon = True
    watchdog.start()
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        for i in range(args.nodes):
            port = free_port()
            version = args.versions[i % len(args.versions)]
            process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "x3ui_simulator",
                    "--port",
                    str(port),
                    "--version",
                    version,
                    "--username",
                    "admin",
                    "--password",
                    "bench-pass",
                    "--base-path",
                    f"/p{i}/",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            sims.append((port, version, process))
        return run(args, sims, database)
    finally:
        watchdog.cancel()
        processes_stop([process for _port, _generation, process in sims], timeout=10)
        bench_database_drop(args.pg, database, workdir)


def run(args, sims, database: str) -> int:
    import django

    django.setup()
    from unittest import mock

    from celery import current_app
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, F, Q

    from nodes.models import NodeClient, SyncState
    from nodes.services.clients import x3ui_client_for_node
    from nodes.tasks import node_keys_push_task
    from subscriptions.models import Subscription, SubscriptionStatus
    from subscriptions.services.lifecycle import subscriptions_expire_due

    print(f"database {database}; migrating…", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    deadline = time.monotonic() + 60
    for port, _generation, _process in sims:
        wait_port(port, deadline)
    nodes = build(
        sims=sims, subscriptions=args.subscriptions, due=args.due, panel_keys=args.panel_keys
    )
    node_of_port = {node.panel_url.split(":")[2].split("/")[0]: node for node in nodes}
    for port, _generation, _process in sims:
        # The due subscriptions ended an hour ago: each panel's own traffic job (every 5-10 s,
        # docs/x3ui.md "The panel's own expiry job") has run since. A small run places its
        # keys within one job interval, so run it now, as the hour would have.
        sim_post(port, "traffic-job")
        sim_post(port, "counts/reset")

    # --- the database part ---------------------------------------------------------------
    if settings.CELERY_TASK_ALWAYS_EAGER or current_app.conf.task_always_eager:
        raise SystemExit("Celery is eager: the sweep would push to the panels inline")
    pushes: list[tuple[int, list[int]]] = []
    real_delay = node_keys_push_task.delay

    def recording_delay(node_id, key_ids):
        pushes.append((node_id, list(key_ids)))
        return real_delay(node_id, key_ids)  # the real publish, to the filesystem broker

    recording = mock.patch.object(node_keys_push_task, "delay", recording_delay)
    recording.start()
    calls = []
    print(
        f"database part: subscriptions_expire_due() with its defaults until nothing is due "
        f"(beat: every {settings.SUBSCRIPTIONS_EXPIRE_INTERVAL:.0f} s)",
        flush=True,
    )
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    statements: Counter[str] = Counter()
    statement_seconds: Counter[str] = Counter()

    def count_statements(execute, sql, params, many, context):
        # "SELECT subscriptions_subscription": the verb and the first table named.
        verb = sql.split(None, 1)[0].upper()
        kind = f"{verb} {sql.split(chr(34))[1] if chr(34) in sql else ''}"
        statements[verb] += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statement_seconds[kind] += time.perf_counter() - started

    with Meter(sims) as db_meter, connection.execute_wrapper(count_statements):
        while True:
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            expired = subscriptions_expire_due()
            if profiler is not None:
                profiler.disable()
            calls.append((len(expired), time.perf_counter() - started))
            if not expired:
                break
    recording.stop()
    expired_total = sum(n for n, _ in calls)
    working = [(n, s) for n, s in calls if n]
    broker_files = sum(1 for _ in (Path(os.environ["VPNSITE_VAR_DIR"]) / "celery").rglob("*.msg"))
    print(
        f"  {expired_total} expired in {len(working)} calls + 1 empty; wall {db_meter.wall:.2f} s"
    )
    if working:
        per_call = [s for _n, s in working]
        print(
            f"  per call ({working[0][0]} subscriptions): min {min(per_call):.2f} s, "
            f"max {max(per_call):.2f} s, mean {sum(per_call) / len(per_call):.2f} s; "
            f"{1000 * db_meter.wall / max(expired_total, 1):.2f} ms per subscription"
        )
    print(
        f"  queued {len(pushes)} node_keys_push_task messages ({broker_files} message files "
        "in the broker folder, notifications included)"
    )
    chunk = inspect.signature(subscriptions_expire_due).parameters["chunk"].default
    chunks = sum(-(-n // chunk) for n, _s in working)
    total = sum(statements.values())
    print(
        f"  SQL statements: {total} for {chunks} chunks, {total / max(chunks, 1):.2f} per chunk "
        "(the sweep's last look for due rows included; "
        + ", ".join(f"{verb} {count}" for verb, count in statements.most_common())
        + f"); {total / max(expired_total, 1):.2f} per subscription"
    )
    print(
        "  wall time in statements (sent until answered): "
        + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in statement_seconds.most_common())
    )
    print(f"  {db_meter.line()}")
    if len(working) > 1:
        ticks = len(working)
        print(
            f"  note: one beat tick runs one call, so {expired_total} due subscriptions take "
            f"{ticks} ticks, about {ticks * settings.SUBSCRIPTIONS_EXPIRE_INTERVAL / 60:.0f} "
            "min at the default interval"
        )

    if profiler is not None:
        report = io.StringIO()
        stats = pstats.Stats(profiler, stream=report)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(20)
        print(report.getvalue())

    # --- the panel part ------------------------------------------------------------------
    tasks_per_node: Counter[int] = Counter()
    keys_per_node: Counter[int] = Counter()
    for node_id, key_ids in pushes:
        tasks_per_node[node_id] += 1
        keys_per_node[node_id] += len(key_ids)
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    print(
        f"panel part: the {len(pushes)} queued node_keys_push_task runs (in this process, "
        "in order)",
        flush=True,
    )
    with Meter(sims) as panel_meter:
        for node_id, key_ids in pushes:
            node_keys_push_task.apply(args=[node_id, key_ids]).get()
    print(f"  wall {panel_meter.wall:.2f} s; {panel_meter.line()}")

    unbatched: list[str] = []
    total_requests = 0
    for port, version, _process in sims:
        node = node_of_port[str(port)]
        counts = sim_state(port).get("request_counts", {})
        requests = sum(counts.values())
        total_requests += requests
        tasks, keys = tasks_per_node[node.pk], keys_per_node[node.pk]
        print(
            f"  {node.name:<16} {version:<6} keys {keys:<5} push tasks {tasks:<4} "
            f"HTTP requests {requests:<6} ({requests / max(keys, 1):.2f} per key)"
        )
        for route, count in sorted(counts.items(), key=lambda item: -item[1]):
            print(f"      {count:>6}  {route}")
        # Batched: the requests grow with the push tasks, not with the keys.
        if requests > 3 * max(tasks, 1) + 2:
            unbatched.append(node.name)
    print(f"  total HTTP requests {total_requests} for {sum(keys_per_node.values())} keys")

    # --- checks --------------------------------------------------------------------------
    due_keys = NodeClient.objects.filter(subscription__status=SubscriptionStatus.EXPIRED)
    summary = due_keys.aggregate(
        keys=Count("id"),
        enabled=Count("id", filter=Q(enable=True)),
        unsynced=Count("id", filter=~Q(sync_state=SyncState.SYNCED)),
        behind=Count("id", filter=Q(synced_version__lt=F("desired_version"))),
    )
    expired_rows = Subscription.objects.filter(status=SubscriptionStatus.EXPIRED).count()
    still_enabled_on_panels = 0
    emails = set(due_keys.values_list("email", flat=True))
    for node in nodes:
        client = x3ui_client_for_node(node=node)  # after the counts were read
        still_enabled_on_panels += sum(
            1 for c in client.list_clients() if c.email in emails and c.enable
        )
    print(
        f"checks: {expired_rows} subscriptions expired (of {args.due} due), {summary['keys']} "
        f"of their keys: {summary['enabled']} enabled in the database, {summary['unsynced']} "
        f"not synced, {summary['behind']} behind; {still_enabled_on_panels} still enabled on "
        "the panels"
    )
    checks = {
        f"database part < {DB_TARGET_SECONDS:.0f} s ({db_meter.wall:.2f} s)": (
            db_meter.wall < DB_TARGET_SECONDS
        ),
        "panel updates batched per node (requests grow with push tasks, not keys)"
        + (f"; not on {', '.join(unbatched)}" if unbatched else ""): not unbatched,
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'MISS'}  {name}")
    failed = (
        expired_rows != args.due
        or summary["keys"] != args.due
        or summary["enabled"]
        or summary["unsynced"]
        or summary["behind"]
        or still_enabled_on_panels
    )
    print(f"{'FAIL' if failed else 'PASS'}  every due subscription expired, its key off everywhere")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
