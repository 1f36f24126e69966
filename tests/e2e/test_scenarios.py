"""End-to-end scenarios against real processes, asserting on what a subscriber, a provider
and a panel would see."""

from __future__ import annotations

import html
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest

from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_UUID
from tests.e2e.conftest import links_hosts
from tests.e2e.system import ADMIN_CHAT, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GIB = 1024**3


def test_purchase_with_robokassa_delivers_keys_and_feed(system, shop):
    user = 710001
    shop.start(user)
    payment = shop.bot_buy(user_id=user, provider="robokassa")
    assert payment["url"].startswith("https://auth.robokassa.ru/Merchant/Index.aspx?")

    reply = shop.robokassa_notify(payment)
    assert (reply.status_code, reply.text) == (200, f"OK{payment['id']}")

    keys_text = wait_until(lambda: shop.keys_messages(user), timeout=40, what="keys message")[0]
    subscription = shop.subscription(user)
    assert subscription["status"] == "active"
    key = wait_until(
        lambda: [k for k in shop.keys(subscription["id"]) if k["state"] == "synced"],
        timeout=30,
        what="a synced key",
    )[0]
    panel = system.panels[key["node"]]
    on_panel = panel.clients()[key["email"]]
    assert on_panel["enable"] is True
    assert on_panel["expiryTime"] == shop.expiry_ms(subscription["expires_at"])
    assert on_panel["limitIp"] == 3
    assert on_panel["totalGB"] == 100 * GIB
    assert on_panel["subId"].startswith(subscription["sub_id"] + "n")  # one subId per node

    links = shop.feed_links(subscription["feed_token"])
    assert links_hosts(links) == {f"{key['node']}.e2e.test"}
    assert html.escape(links[0], quote=False) in keys_text
    # The QR code of the subscription URL arrives as a photo, after the keys.
    wait_until(
        lambda: [c for c in system.api.calls_to("sendPhoto") if c.params.get("chat_id") == user],
        timeout=20,
        what="QR photo",
    )
    texts = shop.texts_to(user)
    assert texts.index(keys_text) > next(i for i, t in enumerate(texts) if "received" in t)
    # The admins heard about the payment.
    wait_until(
        lambda: any(str(payment["id"]) in t for t in shop.texts_to(ADMIN_CHAT)),
        timeout=20,
        what="admin payment alert",
    )


def test_purchase_with_freekassa_and_renewal_extends_db_and_panel(system, shop):
    user = 710002
    shop.start(user)
    first = shop.bot_buy(user_id=user, provider="freekassa")
    assert first["url"].startswith("https://pay.freekassa.com/?")
    reply = shop.freekassa_notify(first)
    assert (reply.status_code, reply.text) == (200, "YES")
    wait_until(lambda: shop.keys_messages(user), timeout=40, what="keys message")
    subscription = shop.subscription(user)
    expiry_before = shop.expiry_ms(subscription["expires_at"])

    renewal = shop.bot_buy(user_id=user, provider="freekassa", renew=subscription["id"])
    assert shop.freekassa_notify(renewal).text == "YES"
    renewed = wait_until(
        lambda: (
            (s := shop.subscription(user)) and shop.expiry_ms(s["expires_at"]) > expiry_before and s
        ),
        timeout=20,
        what="renewed expiry",
    )
    expected = expiry_before + 30 * 24 * 3600 * 1000
    assert shop.expiry_ms(renewed["expires_at"]) == expected
    assert renewed["id"] == subscription["id"]

    def panel_expiry():
        for key in shop.keys(subscription["id"]):
            client = system.panels[key["node"]].clients().get(key["email"])
            if client and client["expiryTime"] == expected:
                return True
        return False

    wait_until(panel_expiry, timeout=30, what="panel expiry extended")
    # Renewing does not resend keys.
    assert len(shop.keys_messages(user)) == 1


def test_duplicate_storm_credits_once_and_sends_one_keys_message(system, shop):
    user = 710003
    shop.start(user)
    payment = shop.payment_create(user_id=user, provider="robokassa")
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda _: shop.robokassa_notify(payment), range(20)))
    assert [(r.status_code, r.text) for r in replies] == [(200, f"OK{payment['id']}")] * 20
    wait_until(lambda: shop.keys_messages(user), timeout=40, what="keys message")
    time.sleep(3)  # give a wrongly duplicated credit the time to show itself
    assert (
        system.scalar(
            "SELECT COUNT(*) FROM core_auditlog"
            " WHERE event_type = 'payment.paid' AND object_id = %s",
            (str(payment["id"]),),
        )
        == 1
    )
    assert (
        system.scalar(
            "SELECT COUNT(*) FROM subscriptions_subscription s JOIN accounts_customer c"
            " ON c.id = s.customer_id WHERE c.telegram_id = %s",
            (user,),
        )
        == 1
    )
    assert len(shop.keys_messages(user)) == 1
    payment_messages = [
        t for t in shop.texts_to(user) if "vless://" not in t and str(payment["amount"]) in t
    ]
    assert len(payment_messages) <= 1


def test_expiry_disables_keys_everywhere_and_notifies_once(system, shop):
    user = 710006
    shop.start(user)
    payment = shop.payment_create(user_id=user, provider="robokassa")
    shop.robokassa_notify(payment)
    wait_until(lambda: shop.keys_messages(user), timeout=40, what="keys message")
    subscription = shop.subscription(user)
    wait_until(
        lambda: [c for c in system.api.calls_to("sendPhoto") if c.params.get("chat_id") == user],
        timeout=20,
        what="QR photo",
    )
    messages_before = len(shop.messages_to(user))

    # Time moves forward 31 days (as far as this subscription can tell): its term has ended.
    system.shell(
        "from datetime import timedelta; from django.db.models import F;"
        "from subscriptions.models import Subscription;"
        f"Subscription.objects.filter(pk={subscription['id']}).update("
        "started_at=F('started_at') - timedelta(days=31),"
        " expires_at=F('expires_at') - timedelta(days=31))"
    )
    wait_until(
        lambda: shop.subscription(user)["status"] == "expired", timeout=20, what="expiry sweep"
    )

    def all_disabled():
        keys = shop.keys(subscription["id"])
        return keys and all(
            system.panels[k["node"]].clients()[k["email"]]["enable"] is False for k in keys
        )

    wait_until(all_disabled, timeout=30, what="keys disabled on every panel")
    # The app keeps one entry that carries no traffic and says what happened (issue 18).
    [placeholder] = shop.feed_links(subscription["feed_token"])
    assert placeholder.startswith(f"vless://{PLACEHOLDER_UUID}@{PLACEHOLDER_HOST}:")
    assert "renew" in unquote(placeholder)

    def expired_notices():
        return system.sql(
            "SELECT o.status FROM telegram_bot_outboxmessage o"
            " WHERE o.chat_id = %s AND o.kind = 'subscription-expired'",
            (user,),
        )

    wait_until(lambda: expired_notices() == [("sent",)], timeout=20, what="expiry notice sent")
    time.sleep(5)  # later sweeps must not notify again
    assert expired_notices() == [("sent",)]
    assert len(shop.messages_to(user)) == messages_before + 1
