"""Fault drills against the running system: panels failing or dying, a worker killed
mid-task, the broker restarted with tasks queued, the database dropping out under a webhook.
In every drill a paid subscription ends up with working keys, exactly once.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.system import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def set_weights(system, **weights: int) -> None:
    assignments = "; ".join(
        f"Node.objects.filter(name={name!r}).update(weight={weight})"
        for name, weight in weights.items()
    )
    system.shell(f"from nodes.models import Node; {assignments}")


def synced_keys(shop, user: int) -> list[dict]:
    subscription = shop.subscription(user)
    if not subscription:
        return []
    return [k for k in shop.keys(subscription["id"]) if k["state"] == "synced" and k["enable"]]


def on_panel(system, shop, user: int) -> dict | None:
    """The user's synced key, if its panel really holds it enabled."""
    for key in synced_keys(shop, user):
        client = system.panels[key["node"]].clients().get(key["email"])
        if client and client["enable"]:
            return key
    return None


def buy(shop, user: int, provider: str = "robokassa") -> dict:
    shop.start(user)
    payment = shop.payment_create(user_id=user, provider=provider)
    notify = shop.robokassa_notify if provider == "robokassa" else shop.freekassa_notify
    reply = notify(payment)
    assert reply.status_code == 200, reply.text
    return payment


def test_node_down_during_purchase_fails_over_and_converges_on_return(system, shop):
    set_weights(system, alpha=100, bravo=1)
    try:
        # An existing customer whose key lives on alpha.
        earlier = 720001
        buy(shop, earlier)
        wait_until(lambda: synced_keys(shop, earlier), timeout=40, what="key on alpha")
        assert synced_keys(shop, earlier)[0]["node"] == "alpha"

        system.panel_stop("alpha")
        started = time.monotonic()
        newcomer = 720002
        buy(shop, newcomer)
        key = wait_until(
            lambda: [k for k in synced_keys(shop, newcomer) if k["node"] == "bravo"],
            timeout=60,
            what="the newcomer's key on the healthy node",
        )[0]
        failover_seconds = time.monotonic() - started
        assert system.panels["bravo"].clients()[key["email"]]["enable"] is True
        wait_until(lambda: shop.keys_messages(newcomer), timeout=20, what="newcomer's keys")
        # The earlier customer was moved too, and told.
        wait_until(
            lambda: any(k["node"] == "bravo" for k in synced_keys(shop, earlier)),
            timeout=40,
            what="earlier customer re-placed",
        )
        wait_until(lambda: len(shop.keys_messages(earlier)) == 2, timeout=20, what="moved notice")
        print(f"failover: key on a healthy node {failover_seconds:.1f} s after the purchase")

        system.panel_start("alpha", "legacy")
        earlier_id = shop.subscription(earlier)["id"]
        old_emails = {k["email"] for k in shop.keys(earlier_id) if k["node"] == "alpha"}

        def alpha_converged():
            clients = system.panels["alpha"].clients()
            return all(
                clients.get(email) is None or clients[email]["enable"] is False
                for email in old_emails
            )

        wait_until(alpha_converged, timeout=60, what="old key off alpha")
        alpha_keys = [
            k for k in shop.keys(shop.subscription(earlier)["id"]) if k["node"] == "alpha"
        ]
        wait_until(
            lambda: all(
                k["state"] == "removed"
                for k in shop.keys(shop.subscription(earlier)["id"])
                if k["node"] == "alpha"
            ),
            timeout=30,
            what="old key marked removed",
        )
        assert alpha_keys
        newcomer_emails = {k["email"] for k in shop.keys(shop.subscription(newcomer)["id"])}
        assert not newcomer_emails & {
            e for e, c in system.panels["alpha"].clients().items() if c["enable"]
        }
    finally:
        set_weights(system, alpha=1, bravo=1)


def test_worker_killed_mid_provisioning_converges_after_restart(system, shop):
    set_weights(system, alpha=1, bravo=100)
    bravo = system.panels["bravo"]
    try:
        bravo.faults({"mode": "slow", "delay": 4})
        pushes_before = system.log("worker").count("node_keys_push_task[")
        user = 720003
        buy(shop, user)
        wait_until(
            lambda: system.log("worker").count("node_keys_push_task[") > pushes_before,
            timeout=20,
            what="push task received",
        )
        time.sleep(1)  # the task is now waiting on the slow panel
        system.kill("worker")
        requests.delete(f"http://127.0.0.1:{bravo.port}/__sim__/faults", timeout=5)
        system.start_worker()
        wait_until(lambda: on_panel(system, shop, user), timeout=60, what="key converged")
        wait_until(lambda: shop.keys_messages(user), timeout=30, what="keys message")
        time.sleep(3)
        assert len(shop.keys_messages(user)) == 1
    finally:
        set_weights(system, alpha=1, bravo=1)


@pytest.mark.parametrize("mode", ["http500", "empty", "html", "slow"])
def test_panels_answering_garbage_for_a_while(system, shop, mode):
    """Every request fails for a while (logins, health checks, adds alike), then heals."""
    user = 720100 + ["http500", "empty", "html", "slow"].index(mode)
    fault = {"mode": mode, "count": 8}
    if mode == "slow":
        fault.update(delay=5)  # beyond the e2e read timeout of 3 s
    for panel in system.panels.values():
        panel.faults(fault)
    buy(shop, user)
    key = wait_until(
        lambda: on_panel(system, shop, user), timeout=120, what=f"key after {mode} faults"
    )
    wait_until(lambda: shop.keys_messages(user), timeout=30, what="keys message")
    emails = [c["email"] for c in system.panels[key["node"]].clients().values()]
    assert emails.count(key["email"]) == 1  # never a duplicate client


def test_broker_restarted_with_tasks_queued(system, shop):
    if not system.redis_port:
        pytest.skip("the embedded broker has no server to restart; runs when REDIS_URL is set")
    system.stop("worker")
    user = 720200
    buy(shop, user)
    time.sleep(1)
    system.redis_restart()  # the queued push and outbox tasks are gone with it
    system.start_worker()
    wait_until(lambda: on_panel(system, shop, user), timeout=90, what="key after restart")
    wait_until(lambda: shop.keys_messages(user), timeout=60, what="keys message after restart")


def test_database_dropped_during_a_webhook_gets_5xx_then_the_retry_credits(system, shop):
    if system.proxy is None:
        pytest.skip("needs PostgreSQL (DATABASE_URL) behind the e2e proxy")
    user = 720300
    shop.start(user)
    payment = shop.payment_create(user_id=user, provider="robokassa")
    system.proxy.outage(3)
    reply = shop.robokassa_notify(payment)
    assert reply.status_code >= 500
    assert (
        system.scalar("SELECT status FROM billing_payment WHERE id = %s", (payment["id"],))
        == "pending"
    )
    time.sleep(3.5)
    retry = wait_until(
        lambda: (r := shop.robokassa_notify(payment)).status_code == 200 and r,
        timeout=30,
        what="provider retry accepted",
    )
    assert retry.text == f"OK{payment['id']}"
    assert (
        system.scalar("SELECT status FROM billing_payment WHERE id = %s", (payment["id"],))
        == "paid"
    )
    wait_until(lambda: shop.keys_messages(user), timeout=40, what="keys message")
