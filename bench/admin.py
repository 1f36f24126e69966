"""Console benchmark: the dashboard and the main changelists on a big database.

Fills a fresh PostgreSQL database (created here and dropped at the end:
postgres://postgres@127.0.0.1:5432/vpnsite_bench_admin_<pid>, BENCH_PG overrides the server)
with 100,000 customers, 100,000 subscriptions (one key each on 5 nodes) and 20,000 trials,
200,000 payments (4% in Telegram Stars, 5% refunded, 5% with a promo code), a tenth of the
customers invited (with their referral rewards), 300,000 audit rows and 7 days of health
checks per node at the beat's 12 s interval (50,400 a node), then times each page through the
Django test client as a superuser: median milliseconds over --runs requests and the number of
SQL queries. The analytics pages are kept in the cache (console/analytics_cache.py), so
each is timed twice: cold (the cache cleared before each request: the compute time, printed
as information) and warm (as an operator sees it).
Targets: each page <= 300 ms and <= 15 queries.

Usage: .venv/bin/python bench/admin.py [--customers 100000 --payments 200000 --check-days 7
--runs 7]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 300
TARGET_QUERIES = 15
BATCH = 5000


def database_admin(pg: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def bulk(model, rows) -> None:
    for start in range(0, len(rows), BATCH):
        model.objects.bulk_create(rows[start : start + BATCH])


def fill(*, customers: int, payments: int, audit: int, check_days: int, rnd: random.Random) -> None:
    """Realistic shapes: a year of sign-ups, 120 days of purchases, most paid."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Customer
    from billing.models import (
        Payment,
        PaymentStatus,
        PromoCode,
        PromoKind,
        PromoRedemption,
        PromoRedemptionStatus,
        ReferralReward,
    )
    from core.models import AuditEvent, AuditLog
    from nodes.models import Node, NodeCheck, NodeClient, NodeHealth, SyncState
    from subscriptions.models import Subscription, SubscriptionStatus, Tariff

    now = timezone.now()
    started = time.monotonic()
    tariffs = [
        Tariff.objects.create(name=f"{days} days", duration_days=days, price=Decimal(price))
        for days, price in ((30, "299.00"), (90, "799.00"), (365, "2490.00"))
    ]
    trial = Tariff.objects.create(
        name="Trial", duration_days=3, price=Decimal("0.00"), is_trial=True, is_active=False
    )
    promos = [
        PromoCode.objects.create(code=f"PROMO{i}", kind=PromoKind.PERCENT, percent=10 * (i + 1))
        for i in range(3)
    ]
    nodes = [
        Node.objects.create(
            name=f"node-{i}",
            panel_url=f"http://127.0.0.1:1/p{i}/",
            panel_username="admin",
            panel_password="secret",
            inbound_id=1,
            health=[NodeHealth.UP, NodeHealth.UP, NodeHealth.DEGRADED, NodeHealth.UP][i % 4]
            if i < 4
            else NodeHealth.DOWN,
            latency_ms=20 + i * 7,
            max_clients=40000,
            last_error="" if i < 4 else "connection refused",
        )
        for i in range(5)
    ]
    bulk(
        Customer,
        [
            Customer(
                telegram_id=10_000_000 + i,
                username=f"user{i}",
                first_name=f"Name{i}",
                language="ru" if i % 3 else "en",
                created_at=now - timedelta(seconds=rnd.randrange(365 * 86400)),
                is_banned=i % 997 == 0,
                bot_blocked_at=now if i % 53 == 0 else None,
            )
            for i in range(customers)
        ],
    )
    customer_ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    print(f"  customers: {len(customer_ids):,} ({time.monotonic() - started:.0f} s)")

    subscriptions = []
    for index, customer_id in enumerate(customer_ids):
        tariff = tariffs[rnd.randrange(3) if rnd.random() < 0.3 else 0]
        start = now - timedelta(seconds=rnd.randrange(120 * 86400))
        expires = start + timedelta(days=tariff.duration_days)
        if index % 5 == 0:  # a fifth of the customers began with a trial
            subscriptions.append(
                Subscription(
                    customer_id=customer_id,
                    number=2,
                    tariff=trial,
                    is_trial=True,
                    started_at=start - timedelta(days=3),
                    expires_at=start,
                    created_at=start - timedelta(days=3),
                    status=SubscriptionStatus.EXPIRED,
                    node_count=1,
                )
            )
        subscriptions.append(
            Subscription(
                customer_id=customer_id,
                number=1,  # one subscription per customer
                tariff=tariff,
                started_at=start,
                expires_at=expires,
                created_at=start,
                status=SubscriptionStatus.ACTIVE if expires > now else SubscriptionStatus.EXPIRED,
                device_limit=3,
                node_count=1,
            )
        )
    bulk(Subscription, subscriptions)
    subs = list(
        Subscription.objects.filter(is_trial=False)
        .order_by("pk")
        .values_list("pk", "customer_id", "tariff_id")
    )
    print(f"  subscriptions: {len(subs):,} ({time.monotonic() - started:.0f} s)")

    states = [SyncState.SYNCED] * 96 + [SyncState.ERROR] * 2 + [SyncState.PENDING] * 2
    bulk(
        NodeClient,
        [
            NodeClient(
                subscription_id=pk,
                node=nodes[i % len(nodes)],
                email=f"s{pk}",
                sync_state=rnd.choice(states),
                updated_at=now - timedelta(minutes=rnd.randrange(60)),
                traffic_up=rnd.randrange(2 * 1024**3),
                traffic_down=rnd.randrange(20 * 1024**3),
            )
            for i, (pk, _customer, _tariff) in enumerate(subs)
        ],
    )
    print(f"  keys: {len(subs):,} ({time.monotonic() - started:.0f} s)")

    weights = [
        (PaymentStatus.PAID, 70),
        (PaymentStatus.PENDING, 5),
        (PaymentStatus.CANCELLED, 12),
        (PaymentStatus.FAILED, 8),
        (PaymentStatus.REFUNDED, 5),
    ]
    statuses = [status for status, weight in weights for _ in range(weight)]
    prices = {tariff.pk: tariff.price for tariff in tariffs}
    rows = []
    numbers: dict[int, int] = {}  # each customer's payments numbered 1, 2, 3 …
    # One pending new-purchase payment per customer, tariff and provider (the database's
    # payment_one_pending_new_checkout): a second one is left cancelled.
    pending = set()
    for i in range(payments):
        sub_id, customer_id, tariff_id = subs[i % len(subs)]
        numbers[customer_id] = numbers.get(customer_id, 0) + 1
        created = now - timedelta(seconds=rnd.randrange(120 * 86400))
        status = rnd.choice(statuses)
        provider = rnd.choice(["robokassa", "robokassa", "freekassa", "manual"])
        if status == PaymentStatus.PENDING:
            if (customer_id, tariff_id, provider) in pending:
                status = PaymentStatus.CANCELLED
            pending.add((customer_id, tariff_id, provider))
        paid = status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)
        # A few payments in Telegram Stars, a twentieth with a promo code.
        stars = i % 25 == 0 and status != PaymentStatus.PENDING
        promo = promos[i % 3] if paid and not stars and i % 20 == 1 else None
        rows.append(
            Payment(
                customer_id=customer_id,
                number=numbers[customer_id],
                tariff_id=tariff_id,
                subscription_id=sub_id if paid else None,
                provider="stars" if stars else provider,
                currency="XTR" if stars else "RUB",
                amount=Decimal(150) if stars else prices[tariff_id] - (30 if promo else 0),
                promo=promo,
                price_before_promo=prices[tariff_id] if promo else None,
                status=status,
                created_at=created,
                paid_at=created + timedelta(minutes=2) if paid else None,
                refunded_at=created + timedelta(days=3)
                if status == PaymentStatus.REFUNDED
                else None,
                provider_ref=f"ref-{i}" if paid else "",
                days_credited=30 if paid else 0,
            )
        )
    bulk(Payment, rows)
    print(f"  payments: {len(rows):,} ({time.monotonic() - started:.0f} s)")

    # Promo redemptions for the payments priced with a code; a tenth of the customers
    # invited by one of the first hundred, each paid payment of theirs rewarding the inviter.
    bulk(
        PromoRedemption,
        [
            PromoRedemption(
                promo_id=promo_id,
                customer_id=customer_id,
                payment_id=payment_id,
                status=PromoRedemptionStatus.USED,
                once=False,
                discount=Decimal("30.00"),
                created_at=created,
            )
            for payment_id, promo_id, customer_id, created in Payment.objects.filter(
                promo__isnull=False
            ).values_list("pk", "promo_id", "customer_id", "created_at")
        ],
    )
    inviters = customer_ids[:100]
    invited = {
        customer_id: inviters[index % 100]
        for index, customer_id in enumerate(customer_ids[100:])
        if index % 10 == 0
    }
    for inviter in inviters:
        Customer.objects.filter(pk__in=[c for c, by in invited.items() if by == inviter]).update(
            referred_by_id=inviter
        )
    bulk(
        ReferralReward,
        [
            ReferralReward(
                payment_id=payment_id,
                inviter_id=invited[customer_id],
                invitee_id=customer_id,
                amount=(amount * Decimal("0.10")).quantize(Decimal("0.01")),
                created_at=paid_at,
            )
            for payment_id, customer_id, amount, paid_at in Payment.objects.filter(
                status=PaymentStatus.PAID, customer_id__in=list(invited), currency="RUB"
            ).values_list("pk", "customer_id", "amount", "paid_at")
        ],
    )
    print(
        f"  trials, promo redemptions, {len(invited):,} referrals "
        f"({time.monotonic() - started:.0f} s)"
    )

    events = [AuditEvent.PAYMENT_PAID, AuditEvent.SUBSCRIPTION_EXTENDED, AuditEvent.KEY_CREATED]
    bulk(
        AuditLog,
        [
            AuditLog(
                event_type=events[i % 3],
                event_time=now - timedelta(seconds=rnd.randrange(120 * 86400)),
                actor_label=rnd.choice(["system", "robokassa", "freekassa"]),
                customer_id=subs[i % len(subs)][1],
                object_type="subscriptions.subscription",
                object_id=str(subs[i % len(subs)][0]),
                message=f"event {i}",
            )
            for i in range(audit)
        ],
    )
    print(f"  audit rows: {audit:,} ({time.monotonic() - started:.0f} s)")

    # The health beat's rows: one per node every NODE_HEALTH_INTERVAL seconds; the last
    # node down for its last hour, the others failing 1 check in 500.
    from django.conf import settings

    interval = settings.NODE_HEALTH_INTERVAL
    per_node = int(check_days * 86400 / interval)
    for index, node in enumerate(nodes):
        rows = []
        for i in range(per_node):
            down = index == 4 and i * interval < 3600
            ok = not down and rnd.random() > 0.002
            rows.append(
                NodeCheck(
                    node=node,
                    checked_at=now - timedelta(seconds=i * interval),
                    ok=ok,
                    latency_ms=20 + index * 7 + rnd.randrange(30) if ok else None,
                    error="" if ok else "connection refused",
                )
            )
        bulk(NodeCheck, rows)
        node.last_check_at = now
        node.last_reconcile_at = now - timedelta(minutes=4)
        node.last_reconcile_result = {
            "ok": True,
            "added": 0,
            "updated": 3,
            "removed": 1,
            "unchanged": len(subs) // len(nodes) - 4,
            "errors": 0,
            "orphans_disabled": 0,
            "orphans_deleted": 0,
            "orphans_pending": 0,
            "requests": 2,
            "at": now.isoformat(),
        }
        node.save()
    print(f"  health checks: {per_node * len(nodes):,} ({time.monotonic() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


PAGES = [
    ("dashboard", "/admin/"),
    ("customers", "/admin/accounts/customer/"),
    ("customers: search telegram id", "/admin/accounts/customer/?q=10050000"),
    ("customers: banned", "/admin/accounts/customer/?is_banned__exact=1"),
    ("subscriptions", "/admin/subscriptions/subscription/"),
    ("subscriptions: expiring 3d", "/admin/subscriptions/subscription/?expiring=3d"),
    ("subscriptions: node", "/admin/subscriptions/subscription/?node={node}"),
    ("payments", "/admin/billing/payment/"),
    ("payments: paid", "/admin/billing/payment/?status__exact=paid"),
    ("audit log", "/admin/core/auditlog/"),
    ("audit log: actor", "/admin/core/auditlog/?actor=label%3Arobokassa"),
    ("outbox", "/admin/notifications/outboxmessage/"),
    ("customer page", "/admin/accounts/customer/{customer}/change/"),
    ("analytics", "/admin/analytics/"),
    ("analytics: 90 days by week", "/admin/analytics/?period=90&group=week"),
    ("analytics: 365 days by month", "/admin/analytics/?period=365&group=month"),
    ("nodes", "/admin/nodes/node/"),
    ("node page", "/admin/nodes/node/{node}/change/"),
]


class QueryCounter:
    """Counts the SQL statements a request runs (a Django execute wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def cold(client, url: str, runs: int) -> tuple[float, int, int]:
    """The analytics page with its cache cleared before each request: the compute time."""
    from django.core.cache import cache
    from django.db import connection

    timings, count, status = [], 0, 0
    for _ in range(runs):
        cache.clear()
        counter = QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            status = client.get(url).status_code
        timings.append((time.perf_counter() - started) * 1000)
        count = counter.count
    return statistics.median(timings), count, status


def measure(runs: int) -> list[tuple[str, float, int, int, bool]]:
    """(page, median ms, queries, status, counted in the verdict)."""
    from django.db import connection
    from django.test import Client

    from accounts.models import Customer, User
    from nodes.models import Node

    user = User.objects.create_superuser("bench", "bench@example.com", "bench-pass-123")
    client = Client()
    client.force_login(user)
    node = Node.objects.order_by("pk").first().pk
    customer = Customer.objects.order_by("pk")[Customer.objects.count() // 2].pk
    results = []
    for name, template in PAGES:
        url = template.format(node=node, customer=customer)
        if name.startswith("analytics"):
            # Kept in the cache (console/analytics_cache.py): the compute time is information,
            # the page as an operator sees it (warm, below) is what the target is for.
            results.append((f"{name} (cold)", *cold(client, url, max(1, runs // 2)), False))
        for _ in range(2):  # warm caches and the connection
            response = client.get(url)
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            response = client.get(url)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        results.append(
            (name, statistics.median(timings), counter.count, response.status_code, True)
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--audit", type=int, default=300_000)
    parser.add_argument("--check-days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    database = f"vpnsite_bench_admin_{os.getpid()}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="vpnsite.settings.local",
        DATABASE_URL=f"{args.pg}/{database}",
        VPNSITE_VAR_DIR=tempfile.mkdtemp(prefix="bench-admin-"),
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="testserver,localhost",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("REDIS_URL", None)
    database_admin(args.pg, f'CREATE DATABASE "{database}"')
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        # Templates use {% static %}; the bench needs no collected manifest.
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        call_command("migrate", verbosity=0)
        print(f"database {database}: filling")
        fill(
            customers=args.customers,
            payments=args.payments,
            audit=args.audit,
            check_days=args.check_days,
            rnd=random.Random(42),
        )
        results = measure(args.runs)
        from django.db import connections

        connections.close_all()
    finally:
        if not args.keep:
            database_admin(args.pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(f"\n{'page':40} {'median ms':>10} {'queries':>8}  status")
    ok = True
    for name, ms, queries, status, counted in results:
        verdict = (
            "ok" if ms <= TARGET_MS and queries <= TARGET_QUERIES and status == 200 else "OVER"
        )
        if counted:
            ok &= verdict == "ok"
        else:
            verdict += " (information)"
        print(f"{name:40} {ms:10.1f} {queries:8d}  {status} {verdict}")
    verdict = "met" if ok else "NOT met"
    print(f"\ntargets: <= {TARGET_MS} ms and <= {TARGET_QUERIES} queries: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
