"""HTTP requests per key operation on each supported 3x-ui release (docs/x3ui.md).

For every release (2.8.3, 3.0.2, 3.1.0, 3.4.2, 3.6.0) an in-process ``X3UISimulator`` of that
version runs on loopback, and the real services drive it (Celery eager, as in the tests):

- login: a health check's login, status and inbound reads (later operations reuse the session);
- purchase, renewal, expiry: one subscription's key added, extended, disabled;
- retried add: a purchase whose add the panel applies but answers too late (the client times
  out), then the task's retry;
- retried delete: an operator moves a subscription to another node; the old panel applies the
  delete but answers too late, then the retry;
- foreign reconcile: a client that is not ours holds a waiting key's email; one reconciliation.

Prints the requests each took and checks the outcome (one client per key, nothing of anyone
else touched). Uses a throw-away SQLite database; sends nothing anywhere but loopback.
Usage: .venv/bin/python bench/panel_releases.py
"""

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RELEASES = ("2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0")
COLUMNS = (
    "login",
    "purchase",
    "renewal",
    "expiry",
    "retried add",
    "retried delete",
    "foreign reconcile",
)


def setup_django(tmp: str) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="vpnsite.settings.test", VPNSITE_VAR_DIR=tmp)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.X3UI_READ_TIMEOUT = 0.5  # the "late" answers below take 1.5 s
    # An eager task cannot wait for its retry: the first failure is its last, and the retry is
    # made explicitly below (the same service call the task's retry makes).
    settings.NODE_PROVISION_MAX_RETRIES = 0
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0
    call_command("migrate", verbosity=0)


def run_release(version: str, api) -> dict[str, int]:
    from django.conf import settings

    from accounts.tests.factories import CustomerFactory
    from devtools.x3ui_simulator import X3UISimulator
    from nodes.models import Node, NodeClient, SyncState
    from nodes.services.health import node_health_check
    from nodes.services.keys import key_email
    from nodes.services.push import node_keys_push
    from nodes.services.reconcile import node_reconcile
    from subscriptions.services.lifecycle import (
        subscription_create,
        subscription_expire,
        subscription_extend,
    )
    from subscriptions.services.moves import subscription_move
    from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

    settings.TELEGRAM_API_BASE_URL = api.base_url
    legacy = version in {"2.8.3", "3.0.2"}
    add_path = "inbounds/addClient" if legacy else "clients/add"
    delete_path = "/delClient/" if legacy else "clients/del/"
    sim = X3UISimulator(version=version, username="admin", password="bench-pass").start()
    spare = X3UISimulator(version=version, username="admin", password="bench-pass").start()
    figures: dict[str, int] = {}
    try:
        Node.objects.all().update(is_enabled=False)
        node = Node.objects.create(
            name=f"r{version}",
            panel_url=sim.url,
            panel_username="admin",
            panel_password="bench-pass",
            inbound_id=sim.inbound_id,
            weight=100,
        )
        other = Node.objects.create(
            name=f"spare{version}",
            panel_url=spare.url,
            panel_username="admin",
            panel_password="bench-pass",
            inbound_id=spare.inbound_id,
            weight=1,
        )
        sim.seed_client("someone-else", comment="made by hand")  # never touched
        someone_else = sim.client("someone-else")

        def measured(name, action):
            before, routes = sim.request_total, dict(sim.request_counts)
            result = action()
            figures[name] = sim.request_total - before
            used = {r: n - routes.get(r, 0) for r, n in sim.request_counts.items()}
            figures[f"{name} routes"] = ", ".join(f"{r} x{n}" for r, n in used.items() if n)
            return result

        measured("login", lambda: node_health_check(node=node))
        node_health_check(node=other)
        tariff = TariffFactory()
        sub = measured(
            "purchase",
            lambda: subscription_create(customer=CustomerFactory(), tariff=tariff),
        )
        key = sub.keys.get()
        measured("renewal", lambda: subscription_extend(subscription=sub, days=30))
        measured("expiry", lambda: subscription_expire(subscription=sub))
        key.refresh_from_db()
        assert key.sync_state == SyncState.SYNCED, key.last_error
        assert sim.client(key.email)["enable"] is False

        def late_then_retry(path, action, key_of):
            sim.add_fault("late", delay=1.5, path=path, count=1)
            result = action()
            key = key_of(result)
            node_keys_push(node_id=node.pk, key_ids=[key.pk])  # the task's retry
            return result

        late = measured(
            "retried add",
            lambda: late_then_retry(
                add_path,
                lambda: subscription_create(customer=CustomerFactory(), tariff=tariff),
                lambda s: s.keys.get(),
            ),
        )
        late_key = late.keys.get()
        assert late_key.sync_state == SyncState.SYNCED, late_key.last_error
        assert sim.client_copies(late_key.email) == 1

        measured(
            "retried delete",
            lambda: late_then_retry(
                delete_path,
                lambda: subscription_move(subscription=late, node=other),
                lambda keys: next(k for k in keys if k.node_id == node.pk),
            ),
        )
        late_key.refresh_from_db()
        assert late_key.sync_state == SyncState.REMOVED, late_key.last_error
        assert sim.client(late_key.email) is None

        # A key whose push was lost (so the reconcile is its first contact with the panel),
        # and a client that is not ours holding its email.
        waiting = SubscriptionFactory(tariff=tariff)
        waiting_key = NodeClient.objects.create(
            subscription=waiting,
            node=node,
            email=key_email(subscription_id=waiting.pk, node_id=node.pk),
            expiry_time_ms=int(waiting.expires_at.timestamp() * 1000),
        )
        sim.seed_client(waiting_key.email, comment="not ours either")
        foreign = sim.client(waiting_key.email)
        node.refresh_from_db()  # the inbound as the health check stored it (links, flow)
        summary = measured("foreign reconcile", lambda: node_reconcile(node=node))
        assert (summary["updated"], summary["errors"]) == (0, 1), summary
        assert sim.client(waiting_key.email) == foreign
        assert sim.client("someone-else") == someone_else
    finally:
        sim.stop()
        spare.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", action="store_true", help="print the routes each used")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-releases-")
    setup_django(tmp)
    logging.disable(logging.WARNING)  # the services log every task at INFO
    from tests.doubles.telegram_api import TelegramApiDouble

    rows = {}
    with TelegramApiDouble(token="123456:TEST-TOKEN") as api:
        for version in RELEASES:
            rows[version] = run_release(version, api)
    width = max(len(c) for c in COLUMNS)
    print("HTTP requests per operation (logins included where a session was needed)")
    print(f"{'release':<8}" + "".join(f"{c:>{width + 2}}" for c in COLUMNS))
    for version, figures in rows.items():
        print(f"{version:<8}" + "".join(f"{figures[c]:>{width + 2}}" for c in COLUMNS))
    print("every outcome checked: one client per key, foreign clients untouched")
    if args.routes:
        for version, figures in rows.items():
            for column in COLUMNS:
                print(f"{version} {column}: {figures[f'{column} routes']}")


if __name__ == "__main__":
    main()
