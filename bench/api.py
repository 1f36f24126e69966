"""Operator API benchmark: the list endpoints of /api/v1/ on a big database.

Fills a fresh PostgreSQL database (created here and dropped at the end:
postgres://postgres@127.0.0.1:5432/vpnsite_bench_api_<pid>, BENCH_PG overrides the server)
the way bench/admin.py does (100,000 customers, 100,000 subscriptions with one key each on
5 nodes, 200,000 payments; then VACUUM ANALYZE, as autovacuum leaves it), makes an operators
API token the way the console does (``api.services.api_token_create``), then calls each list
endpoint (default page of 50, and the common filters and orders) through the Django test
client with that token: --runs requests each, p50 and p99 milliseconds, and the SQL
statements of one request. Then the subscriber API's (/api/app/v1/) the same way, as the
owner of a subscription in the middle of the table, with an initData signed as Telegram
signs it. The token's rate limit is lifted for the run
(API_RATE_PER_MINUTE); the cache is the embedded file-based one (no REDIS_URL).
Targets (issue 22): every list p99 <= 100 ms and <= 10 queries.

Usage: .venv/bin/python bench/api.py [--customers 100000 --payments 200000 --runs 200]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.admin import QueryCounter, database_admin, fill  # noqa: E402

TARGET_P99_MS = 100
TARGET_QUERIES = 10

ENDPOINTS = [
    ("customers", "/api/v1/customers/"),
    ("customers: telegram id", "/api/v1/customers/?telegram_id=10050000"),
    ("customers: banned", "/api/v1/customers/?is_banned=true"),
    ("customers: running", "/api/v1/customers/?has_running_subscription=true"),
    ("subscriptions", "/api/v1/subscriptions/"),
    ("subscriptions: running", "/api/v1/subscriptions/?running=true"),
    ("subscriptions: by expiry", "/api/v1/subscriptions/?ordering=expires_at"),
    ("subscriptions: node", "/api/v1/subscriptions/?node={node}"),
    ("subscriptions: customer", "/api/v1/subscriptions/?customer={customer}"),
    ("subscriptions: page 100", "/api/v1/subscriptions/?page=100"),
    ("payments", "/api/v1/payments/"),
    ("payments: paid", "/api/v1/payments/?status=paid"),
    ("payments: oldest first", "/api/v1/payments/?ordering=created_at"),
    ("payments: page of 100", "/api/v1/payments/?page_size=100"),
    ("nodes", "/api/v1/nodes/"),
    ("tariffs", "/api/v1/tariffs/"),
]
# Not lists, shown for information (no target here).
OTHERS = [
    ("subscription detail", "/api/v1/subscriptions/{subscription}/"),
    ("node detail", "/api/v1/nodes/{node}/"),
    ("statistics", "/api/v1/statistics/"),
]
# The subscriber API (Mini App), called with a signed initData of the customer who owns
# {subscription}: its lists, then the rest for information.
APP_ENDPOINTS = [
    ("app: subscriptions", "/api/app/v1/subscriptions/"),
    ("app: tariffs", "/api/app/v1/tariffs/?new=true"),
]
APP_OTHERS = [
    ("app: me", "/api/app/v1/me/"),
    ("app: subscription detail", "/api/app/v1/subscriptions/{subscription}/"),
]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat's first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_ticks(pid: int) -> int:
    """user + system ticks of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(runs: int) -> list[tuple[str, float, float, int, int, bool]]:
    from django.db import connection
    from django.test import Client

    from accounts.models import Customer, User
    from api.scopes import Scope
    from api.services import api_token_create
    from api.tests.miniapp_helpers import init_data
    from nodes.models import Node
    from subscriptions.models import Subscription

    owner = User.objects.create_superuser("bench", "bench@example.com", "bench-pass-123")
    _token, raw = api_token_create(owner=owner, scope=Scope.OPERATORS, name="bench", actor=owner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    subscription = Subscription.objects.order_by("pk")[Subscription.objects.count() // 2]
    ids = {
        "node": Node.objects.order_by("pk").first().pk,
        "customer": Customer.objects.order_by("pk")[Customer.objects.count() // 2].pk,
        "subscription": subscription.pk,
    }
    subscriber = Customer.objects.get(pk=subscription.customer_id).telegram_id
    app_client = Client(HTTP_AUTHORIZATION=f"tma {init_data(subscriber)}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    ours_before = process_ticks(os.getpid()) + process_ticks(backend)
    machine_before = machine_ticks()
    results = []
    groups = (
        (True, ENDPOINTS, client),
        (False, OTHERS, client),
        (True, APP_ENDPOINTS, app_client),
        (False, APP_OTHERS, app_client),
    )
    for group, endpoints, caller in groups:
        for name, template in endpoints:
            url = template.format(**ids)
            for _ in range(3):  # warm caches and the connection
                response = caller.get(url)
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                response = caller.get(url)
            assert response.status_code == 200, (url, response.content[:300])
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                caller.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            results.append(
                (
                    name,
                    statistics.median(timings),
                    percentile(timings, 0.99),
                    counter.count,
                    response.status_code,
                    group,
                )
            )
    busy, total = (
        after - before for before, after in zip(machine_before, machine_ticks(), strict=True)
    )
    ours = process_ticks(os.getpid()) + process_ticks(backend) - ours_before
    print(
        f"while timing: the machine ({os.cpu_count()} cores) was {100 * busy / total:.0f}% busy; "
        f"this benchmark and its PostgreSQL backend {100 * ours / total:.0f}%, other work "
        f"{100 * max(busy - ours, 0) / total:.0f}% (load average {os.getloadavg()[0]:.1f})"
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    database = f"vpnsite_bench_api_{os.getpid()}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="vpnsite.settings.local",
        DATABASE_URL=f"{args.pg}/{database}",
        VPNSITE_VAR_DIR=tempfile.mkdtemp(prefix="bench-api-"),
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="testserver,localhost",
        LOG_LEVEL="WARNING",
        API_RATE_PER_MINUTE="1000000",
        MINIAPP_RATE_PER_MINUTE="1000000",
        TELEGRAM_BOT_TOKEN="123456:BENCH-TOKEN",
    )
    os.environ.pop("REDIS_URL", None)
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"database {database}: filling")
        fill(
            customers=args.customers,
            payments=args.payments,
            audit=0,
            check_days=0,
            rnd=random.Random(42),
        )
        # As autovacuum leaves a database: statistics, and the visibility map that lets
        # PostgreSQL count from an index alone.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        results = measure(args.runs)
        from django.db import connections

        connections.close_all()
    finally:
        if not args.keep:
            database_admin(args.pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(f"\n{'endpoint':28} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8}  status")
    ok = True
    for name, p50, p99, queries, status, is_list in results:
        if is_list:
            verdict = "ok" if p99 <= TARGET_P99_MS and queries <= TARGET_QUERIES else "OVER"
            ok &= verdict == "ok"
        else:
            verdict = "(no target)"
        print(f"{name:28} {p50:8.1f} {p99:8.1f} {queries:8d}  {status} {verdict}")
    verdict = "met" if ok else "NOT met"
    print(f"\nlists: p99 <= {TARGET_P99_MS} ms and <= {TARGET_QUERIES} queries: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
