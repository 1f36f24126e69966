"""Reconciliation benchmark: 5 simulated panels x 2,000 keys.

Prints wall time and HTTP requests per node for
  (a) convergence from empty panels (every key missing: batched adds), and
  (b) a re-run when already in sync (one listing per node, nothing else).
Targets: (b) <= 2 requests per node and under 2 s; (a) batched adds, under 30 s.

Runs against a fresh PostgreSQL database it creates and drops (BENCH_PG, default
postgres://postgres@127.0.0.1:5432) and five `manage.py x3ui_simulator` processes on
loopback (3 legacy, 2 v3). Usage: .venv/bin/python bench/reconcile.py [--nodes 5 --keys 2000]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"simulator on {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--keys", type=int, default=2000, help="keys per node")
    args = parser.parse_args()

    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db = f"vpnsite_bench_reconcile_{os.getpid()}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    tmp = tempfile.mkdtemp(prefix="bench-reconcile-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="vpnsite.settings.local",
        DATABASE_URL=f"{pg}/{db}",
        VPNSITE_VAR_DIR=tmp,
        DJANGO_DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("REDIS_URL", None)
    sims = []
    try:
        for i in range(args.nodes):
            port = free_port()
            generation = "legacy" if i % 2 == 0 else "v3"
            sims.append(
                (
                    port,
                    generation,
                    subprocess.Popen(
                        [
                            sys.executable,
                            "manage.py",
                            "x3ui_simulator",
                            "--port",
                            str(port),
                            "--generation",
                            generation,
                            "--username",
                            "admin",
                            "--password",
                            "bench-pass",
                            "--base-path",
                            f"/p{i}/",
                        ],
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    ),
                )
            )
        run(args, sims)
    finally:
        for _, _, proc in sims:
            proc.send_signal(signal.SIGTERM)
        for _, _, proc in sims:
            proc.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run(args, sims) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import Customer
    from nodes.models import Node, NodeClient, NodeHealth, SyncState
    from nodes.services.health import node_health_check
    from nodes.services.reconcile import node_reconcile
    from subscriptions.models import Subscription, Tariff

    call_command("migrate", verbosity=0)
    deadline = time.monotonic() + 30
    for port, _, _ in sims:
        wait_port(port, deadline)

    print(f"setup: {len(sims)} nodes x {args.keys} keys ...", flush=True)
    nodes = []
    for i, (port, generation, _) in enumerate(sims):
        node = Node.objects.create(
            name=f"bench-{i}-{generation}",
            panel_url=f"http://127.0.0.1:{port}/p{i}/",
            panel_username="admin",
            panel_password="bench-pass",
            inbound_id=1,
            health=NodeHealth.UP,
        )
        node_health_check(node=node)
        node.refresh_from_db()
        nodes.append(node)
    tariff = Tariff.objects.create(name="bench", duration_days=30, price=100, device_limit=2)
    now = timezone.now()
    total = args.keys * len(nodes)
    customers = Customer.objects.bulk_create(
        [Customer(telegram_id=10_000_000 + i) for i in range(total)], batch_size=2000
    )
    subs = Subscription.objects.bulk_create(
        [
            Subscription(
                customer=c,
                number=1,  # one subscription per customer
                tariff=tariff,
                started_at=now,
                expires_at=now + timezone.timedelta(days=30),
                device_limit=2,
            )
            for c in customers
        ],
        batch_size=2000,
    )
    NodeClient.objects.bulk_create(
        [
            NodeClient(
                subscription=sub,
                node=nodes[i % len(nodes)],
                email=f"s{sub.pk}n{nodes[i % len(nodes)].pk}",
                expiry_time_ms=int(sub.expires_at.timestamp() * 1000),
                limit_ip=2,
                sync_state=SyncState.PENDING,
            )
            for i, sub in enumerate(subs)
        ],
        batch_size=2000,
    )
    # Keys-ready messages are not what this measures.
    Subscription.objects.update(keys_notified_at=now)

    for label in ("(a) from empty panels", "(b) re-run, already in sync"):
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            results = list(pool.map(lambda n: node_reconcile(node=n), nodes))
        wall = time.monotonic() - started
        print(f"{label}: wall {wall:.2f} s")
        for node, result in zip(nodes, results, strict=True):
            print(
                f"  {node.name:<16} requests={result['requests']:<4} added={result['added']:<5}"
                f" updated={result['updated']:<4} unchanged={result['unchanged']:<5}"
                f" errors={result['errors']}"
            )
    synced = NodeClient.objects.filter(sync_state=SyncState.SYNCED).count()
    print(f"keys synced: {synced} / {total}")


if __name__ == "__main__":
    main()
