"""Subscription feed benchmark: ``/sub/<feed_token>`` under gunicorn on PostgreSQL and Redis,
per format.

    .venv/bin/python bench/feed.py [--duration 30] [--connections 8]
                                   [--formats base64,clash,sing-box,base64+hwid]

What it does, all on loopback, and it stops by itself:
1. creates a fresh PostgreSQL database (``vpnsite_bench_feed_<pid>``), migrates it and seeds
   one active subscription with 5 synced keys on 5 nodes (no panel runs: each node row has
   a cached VLESS/reality inbound, as a health check leaves it, so the feed builds links
   from the database alone);
2. for each format, as a real app of that format asks for it (its User-Agent; ``base64+hwid``
   is Happ sending ``X-HWID`` and its device headers for a device the subscription knows):
   takes the expected body from one request served in this process, starts gunicorn with
   the project's ``gunicorn.conf.py`` (``WEB_CONCURRENCY=2`` sync workers, hooks and
   ``max_requests`` recycling as deployed; ``vpnsite.settings.local``, DEBUG off), Redis db 7
   as cache and broker, the per-address feed limit (``FEED_REQUESTS_PER_MINUTE``) raised so
   the one loopback client is not refused;
3. runs ``--duration`` seconds of GETs from another process (asyncio, HTTP/1.1 with
   keep-alive asked for, ``--connections`` concurrent connections; gunicorn's sync workers
   answer ``Connection: close``, so the client reconnects when told to) and checks every
   body byte for byte;
4. prints requests/s, p50/p99 latency, database statements per request (PostgreSQL's own
   ``pg_stat_database.xact_commit`` of the bench database before/after: the feed runs in
   autocommit, so each statement is one transaction; plus the ORM queries of one request
   captured in-process for the breakdown) and the CPU split, then stops gunicorn. At the end
   it drops the database and empties Redis db 7.

Targets: base64 >= 500 requests/s, every other format >= 300; p99 <= 50 ms and <= 3 database
statements per request for all (the hardware-id bookkeeping adds at most one). PASS/MISS is
printed per target; the exit code is 0 either way, 1 when the run itself failed (a wrong
body, an error reply, gunicorn not starting). Needs PostgreSQL trusting ``postgres`` on
127.0.0.1:5432 (``--pg``) and Redis on 127.0.0.1:6379 (``--redis``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import pwd
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Helpers shared with the webhook benchmark (bench/ is on sys.path as the script's directory).
from webhooks import (  # noqa: E402
    bench_database_drop,
    children_of,
    database_admin,
    machine_split,
    machine_ticks,
    percentile,
    port_free,
    processes_stop,
    reference_loop_ms,
    wait_ready,
)

BENCH_REDIS = "redis://127.0.0.1:6379/7"
DEADLINE_SECONDS = 300  # the whole run, whatever happens
NODES = 5
# What a node's health check caches from a VLESS/reality inbound (the tests' shape).
REALITY_INBOUND = {
    "id": 1,
    "port": 443,
    "protocol": "vless",
    "settings": {"decryption": "none", "encryption": "none"},
    "stream_settings": {
        "network": "tcp",
        "security": "reality",
        "tcpSettings": {"header": {"type": "none"}},
        "realitySettings": {
            "serverNames": ["www.microsoft.com"],
            "shortIds": ["6ba85179e30d4fc2"],
            "settings": {"publicKey": "PBK", "fingerprint": "chrome", "spiderX": "/"},
        },
    },
}
# Format -> (request headers of a real app of that format, requests/s target).
FORMATS = {
    "base64": ({"User-Agent": "v2rayNG/1.9.0"}, 500.0),
    "clash": ({"User-Agent": "clash-verge/v2.2.3"}, 300.0),
    "sing-box": ({"User-Agent": "SFA/1.11.9 (Android 14)"}, 300.0),
    # Happ sends its hardware id (a device the subscription already knows).
    "base64+hwid": (
        {
            "User-Agent": "Happ/3.7.0",
            "X-HWID": "bench-0f6e7d2c9a41",
            "X-Device-OS": "Android",
            "X-Ver-OS": "14",
            "X-Device-Model": "Pixel 8",
        },
        500.0,
    ),
}
P99_MS = 50.0
QUERIES = 3.0


# --- The load generator (run as a separate process: ``feed.py --client``) -------------------


async def _connection_loop(
    *, port: int, request: bytes, stop_at: float, expected: bytes, out: dict
) -> None:
    reader = writer = None
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                out["connects"] += 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _sep, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
                headers["connection"] = "close"
            if headers.get("connection") == "close":
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}".encode()
            if writer is not None:
                writer.close()
            writer = None
        out["latencies"].append((time.perf_counter() - started) * 1000)
        out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
        if status != 200 or body != expected:
            out["wrong"] += 1
            if len(out["wrong_samples"]) < 5:
                out["wrong_samples"].append([status, body[:300].decode("utf-8", "replace")])
    if writer is not None:
        writer.close()


def client_main(argv: list[str]) -> int:
    """``feed.py --client PORT PATH CONNECTIONS SECONDS HEADERS_JSON``; the expected body on
    stdin.

    Prints one JSON object: latencies (ms), statuses, wrong bodies, connects, own CPU.
    """
    port, path, connections, seconds = int(argv[0]), argv[1], int(argv[2]), float(argv[3])
    headers = json.loads(argv[4])
    expected = sys.stdin.buffer.read()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    out: dict = {"latencies": [], "statuses": {}, "wrong": 0, "wrong_samples": [], "connects": 0}

    async def run() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _connection_loop(
                    port=port, request=request, stop_at=stop_at, expected=expected, out=out
                )
                for _ in range(connections)
            )
        )
        return time.perf_counter() - started

    cpu_before = time.process_time()
    out["elapsed"] = asyncio.run(run())
    out["cpu"] = time.process_time() - cpu_before
    json.dump(out, sys.stdout)
    return 0


# --- CPU accounting that survives worker recycling (max_requests) ---------------------------


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(*, root_pid: int | None = None, uid: int | None = None) -> float:
    """CPU seconds of a process family, reaped children included.

    Live processes count their own user+system time; a process that exited (a recycled
    gunicorn worker, the PostgreSQL backend it used) has been added to its parent's
    cutime/cstime when reaped, so counting every live process's own and reaped-children time
    counts each tick once. Select by parent (``root_pid`` and its direct children) or owner.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pids = children_of(root_pid) if root_pid is not None else None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (pids is not None and int(entry.name) not in pids):
            continue
        try:
            if uid is not None and entry.stat().st_uid != uid:
                continue
        except OSError:
            continue
        fields = _stat_fields(entry.name)
        if fields:
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def busy_seconds(before: list[int], after: list[int]) -> float:
    """CPU seconds the whole machine was busy between two ``machine_ticks`` readings."""
    user, nice, system, _idle, _iowait, irq, softirq, _steal = (
        b - a for a, b in zip(before, after, strict=True)
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def backend_ticks(pg: str, database: str) -> dict[int, int]:
    """CPU ticks so far of each PostgreSQL backend connected to `database` (the server is
    shared: other databases' backends are not ours to count)."""
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
            )
        ]
    ticks = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def backends_cpu(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds the bench database's backends spent between two readings (a backend
    that both started and ended in between is missed: the workers keep theirs)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")


def xact_commits(pg: str, database: str) -> int:
    """Committed transactions of `database` as PostgreSQL's statistics hold them now."""
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            [database],
        ).fetchone()
    return int(row[0])


# --- Seed and checks ------------------------------------------------------------------------


def seed():
    """One active subscription with a synced key on each of 5 nodes."""
    from django.utils import timezone

    from accounts.models import Customer
    from nodes.models import Node, NodeClient, NodeHealth, SyncState
    from subscriptions.models import Subscription, SubscriptionStatus, Tariff

    now = timezone.now()
    nodes = [
        Node.objects.create(
            name=f"bench-{i}",
            country=["DE", "NL", "FI", "SE", "PL"][i % 5],
            location=["Frankfurt", "Amsterdam", "Helsinki", "Stockholm", "Warsaw"][i % 5],
            panel_url=f"http://127.0.0.1:9/bench-{i}/",  # never contacted
            panel_username="admin",
            panel_password="bench-pass",
            inbound_id=1,
            public_host=f"n{i}.bench.example.com",
            health=NodeHealth.UP,
            inbound_cache=REALITY_INBOUND,
            inbound_cached_at=now,
        )
        for i in range(NODES)
    ]
    customer = Customer.objects.create(telegram_id=8_000_001, username="feedbench")
    tariff = Tariff.objects.create(
        name="Месяц", name_en="Month", duration_days=30, price=299, device_limit=3, node_count=5
    )
    subscription = Subscription.objects.create(
        customer=customer,
        number=1,
        tariff=tariff,
        status=SubscriptionStatus.ACTIVE,
        started_at=now,
        expires_at=now + timedelta(days=30),
        device_limit=3,
        node_count=NODES,
        keys_notified_at=now,
    )
    NodeClient.objects.bulk_create(
        NodeClient(
            subscription=subscription,
            node=node,
            email=f"s{subscription.pk}n{node.pk}",
            enable=True,
            expiry_time_ms=int(subscription.expires_at.timestamp() * 1000),
            limit_ip=3,
            sync_state=SyncState.SYNCED,
            synced_version=1,
        )
        for node in nodes
    )
    return subscription, nodes


def body_check(body: str, *, subscription, nodes) -> list[str]:
    """Problems with a feed body: standard padded base64 of 5 ``vless://`` lines, one per node,
    each for the subscription's client id (empty when it is right)."""
    problems = []
    try:
        text = base64.b64decode(body, validate=True).decode()
    except ValueError as exc:
        return [f"not base64: {exc}"]
    if not text.endswith("\n"):
        problems.append("the last link has no trailing newline")
    lines = text.splitlines()
    if len(lines) != NODES:
        problems.append(f"{len(lines)} links, expected {NODES}")
    hosts = set()
    for line in lines:
        if not line.startswith(f"vless://{subscription.client_uuid}@"):
            problems.append(f"not a vless link of the subscription: {line[:80]}")
            continue
        hosts.add(line.split("@", 1)[1].split(":", 1)[0])
    if hosts != {node.public_host for node in nodes}:
        problems.append(f"hosts {sorted(hosts)}")
    return problems


def in_process_get(path: str, headers: dict[str, str]) -> tuple[bytes, list[str]]:
    """The body and the SQL of one feed request served in this process (same settings, a
    warm cache), for the load's expected body and the per-request query breakdown."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", headers=headers)
    client.get(path)  # warm: first-use imports, runtime settings, a device's first visit
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"in-process feed request answered {response.status_code}")
    return response.content, [query["sql"] for query in captured.captured_queries]


def worker_watch(master: int, seen: set[int], stop: threading.Event) -> None:
    """Collect the pids of the master's workers (max_requests recycling)."""
    while not stop.wait(0.25):
        seen.update(pid for pid in children_of(master) if pid != master)


def _client_run(*, port, path, connections, seconds, headers, expected, timeout) -> dict:
    run = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            str(port),
            path,
            str(connections),
            str(seconds),
            json.dumps(headers),
        ],
        input=expected,
        capture_output=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(run.stdout)


def format_run(*, name, headers, target, path, expected, orm_queries, args, env, workdir, database):
    """One format: gunicorn started, warmed, loaded for ``--duration`` s, stopped; prints the
    figures and returns the PASS/MISS checks (None when the run itself failed)."""
    port = port_free()
    log = (workdir / f"gunicorn-{name.split()[0]}.log").open("w")
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),  # the running venv's
            "vpnsite.wsgi",
            # The project's settings and hooks, as deployed (workers: WEB_CONCURRENCY).
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(port, gunicorn)
        # Every backend so far has exited and flushed its statistics. A busy backend reports
        # them at most every second and an idle one up to 10 s later, so the count starts
        # here, before the warm-up, and ends after gunicorn's backends exit: the warm-up
        # requests are counted with the load.
        time.sleep(1.0)
        commits_before = xact_commits(args.pg, database)
        warm = _client_run(
            port=port,
            path=path,
            connections=args.workers * 2,
            seconds=2,
            headers=headers,
            expected=expected,
            timeout=60,
        )
        if warm["wrong"]:
            print(f"{name}: warm-up replies wrong: {warm['wrong_samples']}")
            return None
        print(
            f"\n== {name}: GET {path[:12]}… ({headers['User-Agent']}) for {args.duration:.0f} s "
            f"with {args.connections} connections to gunicorn ({args.workers} sync workers)",
            flush=True,
        )
        seen_workers: set[int] = set(children_of(gunicorn.pid)) - {gunicorn.pid}
        stop_watch = threading.Event()
        watcher = threading.Thread(
            target=worker_watch, args=(gunicorn.pid, seen_workers, stop_watch), daemon=True
        )
        postgres_uid = pwd.getpwnam("postgres").pw_uid  # every PostgreSQL process
        cpu_before = (tree_cpu(root_pid=gunicorn.pid), tree_cpu(uid=postgres_uid))
        backends_before = backend_ticks(args.pg, database)
        machine_before = machine_ticks()
        watcher.start()
        result = _client_run(
            port=port,
            path=path,
            connections=args.connections,
            seconds=args.duration,
            headers=headers,
            expected=expected,
            timeout=args.duration + 60,
        )
        machine_after = machine_ticks()
        cpu_after = (tree_cpu(root_pid=gunicorn.pid), tree_cpu(uid=postgres_uid))
        cpu_backends = backends_cpu(backends_before, backend_ticks(args.pg, database))
        stop_watch.set()
        watcher.join()
        # Stop gunicorn: its backends exit and flush their last statistics.
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
        time.sleep(1.5)
        commits_after = xact_commits(args.pg, database)
    finally:
        processes_stop([gunicorn])

    latencies = result["latencies"]
    count = len(latencies)
    throughput = count / result["elapsed"]
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    served = count + len(warm["latencies"])
    statements = (commits_after - commits_before) / max(served, 1)
    cpu_server, cpu_db = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    per = 1000 / max(count, 1)
    print(
        f"requests       {count} in {result['elapsed']:.1f} s, "
        f"{result['statuses'].get('200', 0)} answered 200, body {len(expected)} bytes"
    )
    print(f"throughput     {throughput:.0f} requests/s   (target >= {target:.0f})")
    print(
        f"latency        p50 {p50:.1f} ms, p99 {p99:.1f} ms (target <= {P99_MS:.0f}), "
        f"max {max(latencies):.1f} ms"
    )
    print(
        f"connections    {result['connects']} opened (sync workers close each connection); "
        f"{len(seen_workers)} worker processes seen for {args.workers} slots"
    )
    print(
        f"DB statements  {statements:.2f} per request (pg_stat_database xact_commit delta "
        f"{commits_after - commits_before} / {served} requests, warm-up included; "
        "autocommit: one per statement, health checks and connection setup included)"
    )
    print(f"ORM queries of one request, captured in-process ({len(orm_queries)}):")
    for sql in orm_queries:
        print(f"  {sql[:150]}")
    print(
        f"CPU per request: app {cpu_server * per:.2f} ms, postgres (this database's "
        f"backends) {cpu_backends * per:.2f} ms, client {result['cpu'] * per:.2f} ms; "
        f"load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    busy = busy_seconds(machine_before, machine_after)
    others = busy - cpu_server - cpu_db - result["cpu"]
    print(
        f"machine        {machine_split(machine_before, machine_after)}; of the busy "
        f"{busy:.1f} CPU-s: gunicorn {cpu_server:.1f}, postgres {cpu_db:.1f}, client "
        f"{result['cpu']:.1f}, everything else {max(others, 0):.1f}"
    )
    print(f"wrong replies  {result['wrong']}")
    for status, body in result["wrong_samples"]:
        print(f"  {status}: {body!r}")
    if result["wrong"] or count == 0:
        return None
    return {
        f"{name}: >= {target:.0f} requests/s ({throughput:.0f})": throughput >= target,
        f"{name}: p99 <= {P99_MS:.0f} ms ({p99:.1f})": p99 <= P99_MS,
        # As printed: a worker's connection setup (a few statements per run) is not a
        # statement of each request.
        f"{name}: <= {QUERIES:.0f} statements per request ({statements:.2f})": (
            round(statements, 2) <= QUERIES
        ),
    }


def main() -> int:
    if sys.argv[1:2] == ["--client"]:
        return client_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load each")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated, of: {', '.join(FORMATS)}",
    )
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--redis",
        default=BENCH_REDIS,
        help="cache and broker; the default database (7) is the bench's own and is emptied "
        "after the run, any other is left as is",
    )
    args = parser.parse_args()
    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")

    database = f"vpnsite_bench_feed_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="vpnsite-bench-feed-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REDIS_URL", "DJANGO_", "FEED_", "WEB_CONCURRENCY", "GUNICORN_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": f"{args.pg}/{database}",
            "VPNSITE_VAR_DIR": str(workdir / "var"),
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": args.redis,
            "WEB_CONCURRENCY": str(args.workers),
            # Per client address per minute (subscriptions' settings); every request of the
            # run comes from 127.0.0.1.
            "FEED_REQUESTS_PER_MINUTE": "1000000000",
            "TELEGRAM_BOT_TOKEN": "",
        }
    )
    os.environ.clear()
    os.environ.update(env)

    deadline = DEADLINE_SECONDS + len(formats) * (args.duration + 30)
    watchdog = threading.Timer(deadline, lambda: os.kill(os.getpid(), signal.SIGINT))
    watchdog.daemon = True
    watchdog.start()
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        from subscriptions.feed import feed_body_render
        from subscriptions.selectors import subscription_links

        print(f"database {database}; migrating…", flush=True)
        call_command("migrate", verbosity=0, interactive=False)
        subscription, nodes = seed()
        path = f"/sub/{subscription.feed_token}"
        links = feed_body_render(
            links=[key.link for key in subscription_links(subscription=subscription)]
        )
        problems = body_check(links, subscription=subscription, nodes=nodes)
        if problems:
            raise SystemExit(f"the seeded feed is not what the bench expects: {problems}")
        print(f"machine        reference loop {reference_loop_ms():.0f} ms (lower is faster)")
        checks: dict[str, bool] = {}
        failed = []
        for name in formats:
            headers, target = FORMATS[name]
            expected, orm_queries = in_process_get(path, headers)
            if name.startswith("base64") and expected != links.encode():
                raise SystemExit(f"{name}: the app is not served the base64 links")
            connections.close_all()
            outcome = format_run(
                name=name,
                headers=headers,
                target=target,
                path=path,
                expected=expected,
                orm_queries=orm_queries,
                args=args,
                env=env,
                workdir=workdir,
                database=database,
            )
            if outcome is None:
                failed.append(name)
            else:
                checks.update(outcome)
        print()
        for check, passed in checks.items():
            print(f"{'PASS' if passed else 'MISS'}  {check}")
        if failed:
            print(f"FAIL  every reply is the expected feed ({', '.join(failed)})")
            return 1
        print("PASS  every reply is the expected feed")
        return 0
    finally:
        watchdog.cancel()
        bench_database_drop(args.pg, database, workdir)
        if args.redis == BENCH_REDIS:  # the rate-limit counters, gone with the database
            import redis

            redis.Redis.from_url(BENCH_REDIS, socket_timeout=5).flushdb()


if __name__ == "__main__":
    sys.exit(main())
