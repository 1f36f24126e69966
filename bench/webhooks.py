"""Webhook benchmark: signed provider notifications against the real app under gunicorn.

    .venv/bin/python bench/webhooks.py [--notifications 2000] [--concurrency 6]

What it does, all on loopback, and it stops by itself:
1. creates a fresh PostgreSQL database (``vpnsite_bench_<pid>``), migrates it and seeds
   pending payments (half Robokassa, half FreeKassa; a third of them renewals of a
   subscription whose key sits, synced, on one of ``--nodes`` nodes);
2. starts gunicorn (2 sync workers, ``vpnsite.settings.local``, DEBUG off, Robokassa +
   FreeKassa credentials from the environment it sets, ``FREEKASSA_CHECK_IP=false``, Redis
   db 15 as the broker, as in production; ``--redis none`` for the filesystem broker). No
   worker runs: what a credit queues after commit (placement, pushes, messages) waits there;
3. sends the notifications from a thread pool (20% exact duplicates, 5% tampered, GET and
   POST mixed, shuffled so duplicates race their originals);
4. prints throughput, p50/p99 latency and credits vs unique valid orders, checks every reply,
   then kills gunicorn and drops the database.

Targets: >= 100 notifications/s, p99 <= 150 ms, credits == unique valid orders. Exit code 0
only when all are met. Needs a local PostgreSQL that trusts ``postgres`` on 127.0.0.1:5432
(``--pg`` to change it).
"""

from __future__ import annotations

import argparse
import http.client
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.payment_signing import freekassa_signature, robokassa_signature  # noqa: E402

ROBOKASSA = {"login": "bench-shop", "password1": "bench-p1", "password2": "bench-p2"}
FREEKASSA = {"merchant_id": "54321", "secret1": "bench-s1", "secret2": "bench-s2"}
ROBOKASSA_PATH = "/api/payments/robokassa/result/"
FREEKASSA_PATH = "/api/payments/freekassa/notify/"
PRICE = Decimal("299.00")
BENCH_REDIS = "redis://127.0.0.1:6379/15"
DEADLINE_SECONDS = 600  # the whole run, whatever happens
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Notification:
    provider: str
    payment_id: int
    method: str
    path: str
    body: bytes  # POST body, or the query string for GET
    valid: bool

    @property
    def expected_body(self) -> str | None:
        if not self.valid:
            return None
        return f"OK{self.payment_id}" if self.provider == "robokassa" else "YES"


def robokassa_params(payment_id: int, out_sum: str) -> dict[str, str]:
    signature = robokassa_signature(
        out_sum=out_sum,
        inv_id=payment_id,
        password=ROBOKASSA["password2"],
        shp={"Shp_src": "bench"},
    ).upper()
    return {
        "OutSum": out_sum,
        "InvId": str(payment_id),
        "Fee": "11.66",
        "EMail": "buyer@example.com",
        "SignatureValue": signature,
        "PaymentMethod": "BankCard",
        "Shp_src": "bench",
    }


def freekassa_params(payment_id: int, amount: str) -> dict[str, str]:
    merchant, secret = FREEKASSA["merchant_id"], FREEKASSA["secret2"]
    return {
        "MERCHANT_ID": merchant,
        "AMOUNT": amount,
        "intid": str(900_000_000 + payment_id),
        "MERCHANT_ORDER_ID": str(payment_id),
        "P_EMAIL": "buyer@example.com",
        "CUR_ID": "44",
        "SIGN": freekassa_signature(
            merchant_id=merchant, amount=amount, secret=secret, order_id=payment_id
        ),
    }


def notification_build(
    rng: random.Random, provider: str, payment_id: int, *, tamper: str = ""
) -> Notification:
    amount = rng.choice(["299", "299.00", "299.000000"])
    if provider == "robokassa":
        params, path, sig_field, amount_field = (
            robokassa_params(payment_id, amount),
            ROBOKASSA_PATH,
            "SignatureValue",
            "OutSum",
        )
    else:
        params, path, sig_field, amount_field = (
            freekassa_params(payment_id, amount),
            FREEKASSA_PATH,
            "SIGN",
            "AMOUNT",
        )
    if tamper == "signature":
        params[sig_field] = params[sig_field][:-1] + ("0" if params[sig_field][-1] != "0" else "1")
    elif tamper == "amount":
        params[amount_field] = "1.00"  # signature still for 299
    elif tamper == "valid-signature-wrong-amount":
        wrong = robokassa_params(payment_id, "199.00") if provider == "robokassa" else None
        params = wrong or freekassa_params(payment_id, "199")
    method = rng.choice(["POST", "POST", "POST", "GET"])
    return Notification(
        provider=provider,
        payment_id=payment_id,
        method=method,
        path=path,
        body=urlencode(params).encode(),
        valid=not tamper,
    )


def plan_build(
    *, payment_ids: dict[str, list[int]], total: int, duplicates: float, tampered: float, seed: int
) -> tuple[list[Notification], int]:
    """The shuffled list of notifications and how many distinct orders were validly sent."""
    rng = random.Random(seed)
    n_tampered = round(total * tampered)
    n_duplicates = round(total * duplicates)
    n_unique = total - n_tampered - n_duplicates
    everyone = [(p, pid) for p, ids in payment_ids.items() for pid in ids]
    rng.shuffle(everyone)
    if n_unique > len(everyone):
        raise SystemExit(f"need {n_unique} seeded payments, have {len(everyone)}")
    chosen = everyone[:n_unique]
    originals = [notification_build(rng, p, pid) for p, pid in chosen]
    # A redelivery is byte-for-byte the same request (docs/payments.md "Robokassa: retries and
    # duplicates", "FreeKassa: reply and retries").
    repeats = [rng.choice(originals) for _ in range(n_duplicates)]
    kinds = ["signature", "amount", "valid-signature-wrong-amount"]
    bad = [
        notification_build(rng, p, pid, tamper=rng.choice(kinds))
        for p, pid in (rng.choice(everyone) for _ in range(n_tampered))
    ]
    plan = originals + repeats + bad
    rng.shuffle(plan)
    return plan, n_unique


def request_bytes(item: Notification) -> bytes:
    """The whole HTTP request as a provider sends it: one request per connection."""
    if item.method == "GET":
        head = f"GET {item.path}?{item.body.decode()} HTTP/1.1\r\n"
        body = b""
    else:
        head = (
            f"POST {item.path} HTTP/1.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(item.body)}\r\n"
        )
        body = item.body
    return (head + "Host: 127.0.0.1\r\nConnection: close\r\n\r\n").encode() + body


def send(port: int, request: bytes) -> tuple[int, str, float]:
    """Send a prebuilt request on a new connection and read the reply to its end.

    A bare socket rather than ``http.client``: the client shares the two cores with the
    server, and the less CPU it burns, the more the figures measure the server (the client's
    own CPU per notification is printed below).
    """
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        reply = b"".join(chunks)
        head, _sep, body = reply.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        text = body.decode("utf-8", "replace")
    except (OSError, ValueError, IndexError) as exc:
        status, text = 0, f"{type(exc).__name__}: {exc}"
    return status, text, time.perf_counter() - started


def reference_loop_ms() -> float:
    """CPU time of a fixed pure-Python loop: how fast this machine is right now.

    The figures below are CPU-bound, and a shared host's speed varies by a third from hour
    to hour; printing this next to them lets two runs be compared.
    """
    started = time.process_time()
    total = 0
    for value in range(3_000_000):
        total += value
    return (time.process_time() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def cpu_seconds(*, pids: tuple[int, ...] | None = None, user: str | None = None) -> float:
    """user+system CPU seconds of the selected live processes, read from /proc."""
    uid = pwd.getpwnam(user).pw_uid if user else None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (pids is not None and int(entry.name) not in pids):
            continue
        try:
            if uid is not None and entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_ticks() -> list[int]:
    """The whole machine's CPU time by state since boot (/proc/stat's first line), in ticks:
    user, nice, system, idle, iowait, irq, softirq, steal."""
    with Path("/proc/stat").open() as stat:
        return [int(value) for value in stat.readline().split()[1:9]]


def machine_split(before: list[int], after: list[int]) -> str:
    """How the machine's cores spent the run: busy (every process), idle, waiting on the
    disk, and stolen (another tenant of the host ran on the core meanwhile)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        b - a for a, b in zip(before, after, strict=True)
    )
    total = max(user + nice + system + idle + iowait + irq + softirq + steal, 1)
    busy = user + nice + system + irq + softirq
    return (
        f"busy {100 * busy / total:.0f}%, idle {100 * idle / total:.0f}%, "
        f"iowait {100 * iowait / total:.0f}%, stolen by the host {100 * steal / total:.0f}%"
    )


def children_of(pid: int) -> tuple[int, ...]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return (pid, *found)


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited early with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


def database_admin(pg: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as connection:
        connection.execute(sql)


def processes_stop(processes, *, timeout: float = 15) -> None:
    """SIGTERM each process group still running, then SIGKILL whatever outlives `timeout`."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def bench_database_drop(pg: str, database: str, workdir) -> None:
    """Close this process's connections, drop the bench database and its work folder."""
    try:
        from django.db import connections

        connections.close_all()
    except Exception as exc:  # noqa: BLE001 - Django may not even be set up
        print(f"closing connections: {exc}", file=sys.stderr)
    database_admin(pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    shutil.rmtree(workdir, ignore_errors=True)


def seed(*, payments: int, nodes: int) -> dict[str, list[int]]:
    """Nodes, customers, a tariff, pending payments; a third of the customers renew a
    subscription whose key sits, synced, on one of the nodes (as in production)."""
    from django.utils import timezone

    from accounts.models import Customer
    from billing.models import Payment, PaymentStatus
    from nodes.models import Node, NodeClient, NodeHealth, SyncState
    from subscriptions.models import Subscription, SubscriptionStatus, Tariff

    now = timezone.now()
    panels = Node.objects.bulk_create(
        Node(
            name=f"bench-{i}",
            # Nothing is ever sent to it: no worker runs, the push tasks wait in the broker.
            panel_url=f"http://127.0.0.1:9/bench-{i}/",
            inbound_id=1,
            health=NodeHealth.UP,
        )
        for i in range(nodes)
    )
    tariff = Tariff.objects.create(name="Месяц", name_en="Month", duration_days=30, price=PRICE)
    customers = Customer.objects.bulk_create(
        Customer(
            telegram_id=7_000_000 + i,
            username=f"bench{i}",
            language="ru" if i % 3 else "en",
            referral_code=f"bench{i}",
        )
        for i in range(payments)
    )
    renewals = Subscription.objects.bulk_create(
        Subscription(
            customer=customer,
            number=1,  # one subscription per customer
            tariff=tariff,
            status=SubscriptionStatus.ACTIVE,
            started_at=now,
            expires_at=now + timedelta(days=5),
        )
        for customer in customers[::3]
    )
    if panels:
        NodeClient.objects.bulk_create(
            NodeClient(
                subscription=subscription,
                node=panels[i % len(panels)],
                email=f"s{subscription.pk}n{panels[i % len(panels)].pk}",
                expiry_time_ms=int(subscription.expires_at.timestamp() * 1000),
                sync_state=SyncState.SYNCED,
                synced_version=1,
            )
            for i, subscription in enumerate(renewals)
        )
    renewal_of = {subscription.customer_id: subscription for subscription in renewals}
    created = Payment.objects.bulk_create(
        Payment(
            customer=customer,
            number=1,  # each benchmark customer makes one payment
            tariff=tariff,
            subscription=renewal_of.get(customer.pk),
            provider="robokassa" if i % 2 else "freekassa",
            amount=PRICE,
            currency="RUB",
            status=PaymentStatus.PENDING,
            expires_at=now + timedelta(hours=1),
        )
        for i, customer in enumerate(customers)
    )
    ids: dict[str, list[int]] = {"robokassa": [], "freekassa": []}
    for payment in created:
        ids[payment.provider].append(payment.pk)
    return ids


def results_check(*, unique_valid: int) -> dict[str, int]:
    from django.db.models import Count

    from billing.models import Payment, PaymentStatus, WebhookEvent
    from core.models import AuditEvent, AuditLog
    from nodes.models import NodeClient
    from notifications.models import OutboxMessage

    events = dict(
        WebhookEvent.objects.values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "payments_paid": Payment.objects.filter(status=PaymentStatus.PAID).count(),
        "audit_payment_paid": AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count(),
        "audit_subscription_created": AuditLog.objects.filter(
            event_type=AuditEvent.SUBSCRIPTION_CREATED
        ).count(),
        "audit_subscription_extended": AuditLog.objects.filter(
            event_type=AuditEvent.SUBSCRIPTION_EXTENDED
        ).count(),
        "outbox_payment_paid": OutboxMessage.objects.filter(kind="payment-paid").count(),
        # Renewed keys carry the new expiry for the panel (desired state bumped once each).
        "keys_renewed": NodeClient.objects.filter(desired_version=2).count(),
        "unique_valid_orders": unique_valid,
        **{f"events_{status}": count for status, count in sorted(events.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=0, help="default: what the plan needs")
    parser.add_argument("--duplicates", type=float, default=0.20)
    parser.add_argument("--tampered", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument(
        "--nodes", type=int, default=3, help="nodes holding the renewals' keys (0: none)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread)"
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--redis",
        default=BENCH_REDIS,
        help="broker as in production; 'none' = the embedded filesystem broker. The default "
        "database (15) is the bench's own and is emptied after the run; any other is left as is",
    )
    args = parser.parse_args()

    unique_needed = args.notifications - round(args.notifications * args.duplicates)
    unique_needed -= round(args.notifications * args.tampered)
    payments = args.payments or unique_needed
    database = f"vpnsite_bench_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="vpnsite-bench-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ROBOKASSA_", "FREEKASSA_", "REDIS_URL", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": f"{args.pg}/{database}",
            "VPNSITE_VAR_DIR": str(workdir / "var"),
            "LOG_LEVEL": "ERROR",
            "ROBOKASSA_LOGIN": ROBOKASSA["login"],
            "ROBOKASSA_PASSWORD1": ROBOKASSA["password1"],
            "ROBOKASSA_PASSWORD2": ROBOKASSA["password2"],
            "FREEKASSA_MERCHANT_ID": FREEKASSA["merchant_id"],
            "FREEKASSA_SECRET1": FREEKASSA["secret1"],
            "FREEKASSA_SECRET2": FREEKASSA["secret2"],
            "FREEKASSA_CHECK_IP": "false",
            # The 5% tampered notifications come from the same loopback address as the
            # genuine ones; the per-sender reject limit would (rightly) start refusing it.
            "WEBHOOK_REJECTS_PER_MINUTE": "0",
            "TELEGRAM_BOT_TOKEN": "",
            **({"REDIS_URL": args.redis} if args.redis != "none" else {}),
            "TELEGRAM_ADMIN_CHAT_IDS": "1001,1002",
        }
    )
    os.environ.clear()
    os.environ.update(env)

    gunicorn: subprocess.Popen | None = None
    watchdog = threading.Timer(DEADLINE_SECONDS, lambda: os.kill(os.getpid(), signal.SIGINT))
    watchdog.daemon = True
    watchdog.start()
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        print(f"database {database}; migrating…", flush=True)
        call_command("migrate", verbosity=0, interactive=False)
        payment_ids = seed(payments=payments, nodes=args.nodes)
        plan, unique_valid = plan_build(
            payment_ids=payment_ids,
            total=args.notifications,
            duplicates=args.duplicates,
            tampered=args.tampered,
            seed=args.seed,
        )
        connections.close_all()

        port = port_free()
        log = (workdir / "gunicorn.log").open("w")
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),  # the running venv's
                "vpnsite.wsgi",
                # The project's own settings and hooks, as deployed; the command line
                # overrides the bind and worker count.
                "--config",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--timeout",
                "30",
                "--threads",
                str(args.threads),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(port, gunicorn)
        # Warm every worker up (imports, DB connection) with requests that change nothing.
        warm = request_bytes(Notification("robokassa", 0, "GET", ROBOKASSA_PATH, b"", False))
        with ThreadPoolExecutor(args.workers * 2) as pool:
            list(pool.map(lambda _: send(port, warm), range(args.workers * 10)))
        requests = [request_bytes(item) for item in plan]

        print(
            f"sending {len(plan)} notifications ({unique_valid} unique valid orders, "
            f"{round(args.notifications * args.duplicates)} duplicates, "
            f"{round(args.notifications * args.tampered)} tampered) "
            f"with {args.concurrency} threads to gunicorn ({args.workers} workers "
            f"x {args.threads} threads) "
            f"on 127.0.0.1:{port}",
            flush=True,
        )
        server_pids = children_of(gunicorn.pid)
        cpu_before = (
            cpu_seconds(pids=server_pids),
            cpu_seconds(user="postgres"),
            time.process_time(),
        )
        machine_before = machine_ticks()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            replies = list(pool.map(lambda request: send(port, request), requests))
        elapsed = time.perf_counter() - started
        machine_after = machine_ticks()
        cpu_after = (
            cpu_seconds(pids=server_pids),
            cpu_seconds(user="postgres"),
            time.process_time(),
        )
        cpu_server, cpu_db, cpu_client = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))

        wrong = []
        for item, (status, body, _latency) in zip(plan, replies, strict=True):
            if item.valid and (status, body) != (200, item.expected_body):
                wrong.append((item, status, body))
            if not item.valid and (status != 400 or body.startswith("OK") or body == "YES"):
                wrong.append((item, status, body))
        latencies = [latency * 1000 for _status, _body, latency in replies]
        throughput = len(plan) / elapsed
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        seen: set[tuple[str, int]] = set()
        by_kind: dict[str, list[float]] = {"credit": [], "duplicate": [], "tampered": []}
        for item, latency in zip(plan, latencies, strict=True):
            key = (item.provider, item.payment_id)
            kind = "tampered" if not item.valid else ("duplicate" if key in seen else "credit")
            if item.valid:
                seen.add(key)
            by_kind[kind].append(latency)
        counts = results_check(unique_valid=unique_valid)
        connections.close_all()

        print(f"machine        reference loop {reference_loop_ms():.0f} ms (lower is faster)")
        print(f"elapsed        {elapsed:.2f} s")
        print(f"throughput     {throughput:.0f} notifications/s   (target >= 100)")
        print(f"latency p50    {p50:.1f} ms")
        print(f"latency p99    {p99:.1f} ms   (target <= 150)")
        print(f"latency max    {max(latencies):.1f} ms")
        for kind, values in by_kind.items():
            if values:
                print(
                    f"  {kind:10} n={len(values):5}  p50 {statistics.median(values):6.1f} ms"
                    f"  p99 {percentile(values, 0.99):6.1f} ms"
                )
        per = 1000 / len(plan)
        print(
            f"CPU per notification: app {cpu_server * per:.1f} ms, postgres {cpu_db * per:.1f} ms,"
            f" client {cpu_client * per:.1f} ms; machine load avg {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores"
        )
        print(f"machine CPU during the run: {machine_split(machine_before, machine_after)}")
        for key, value in counts.items():
            print(f"{key:28} {value}")
        print(f"unexpected replies           {len(wrong)}")
        for item, status, body in wrong[:10]:
            print(f"  {item.provider} #{item.payment_id} valid={item.valid}: {status} {body!r}")
        credits_ok = counts["audit_payment_paid"] == counts["payments_paid"] == unique_valid
        checks = {
            "throughput >= 100/s": throughput >= 100,
            "p99 <= 150 ms": p99 <= 150,
            "credits == unique valid orders": credits_ok,
            "every reply as expected": not wrong,
        }
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
        return 0 if all(checks.values()) else 1
    finally:
        watchdog.cancel()
        processes_stop([gunicorn])
        bench_database_drop(args.pg, database, workdir)
        if args.redis == BENCH_REDIS:  # the tasks no worker consumed, gone with the database
            import redis

            redis.Redis.from_url(BENCH_REDIS, socket_timeout=5).flushdb()


if __name__ == "__main__":
    sys.exit(main())
