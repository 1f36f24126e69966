"""Fixtures for end-to-end tests: one running system per test module."""

from __future__ import annotations

import json
import re
import time
import urllib.parse

import pytest
import requests

from devtools.payment_signing import freekassa_signature, robokassa_signature
from tests.e2e.system import FREEKASSA, ROBOKASSA, E2ESystem, wait_until

pytestmark = pytest.mark.e2e


class Shop:
    """What a subscriber and a payment provider do to the running system."""

    def __init__(self, system: E2ESystem) -> None:
        self.system = system

    def messages_to(self, chat_id: int) -> list[dict]:
        return self.system.api.sent_messages(chat_id)

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.messages_to(chat_id)]

    def start(self, user_id: int, *, language: str = "en") -> None:
        self.system.api.push_message(user_id=user_id, text="/start", language_code=language)
        wait_until(lambda: self.messages_to(user_id), timeout=20, what=f"/start reply to {user_id}")

    def _bot_calls(self, chat_id: int) -> list:
        return [
            c
            for c in self.system.api.calls
            if c.method in ("sendMessage", "editMessageText", "sendPhoto")
            and c.http_status == 200
            and c.params.get("chat_id") == chat_id
        ]

    def press(
        self, chat_id: int, data: str, *, language: str = "en", on_latest: bool = False
    ) -> list[dict]:
        """Press an inline button; return the buttons of the bot's answer. `on_latest`: the
        button is on the newest message the bot sent (else on an older bot message)."""
        # Let queued notifications land first, so the next call to this chat is the answer.
        wait_until(
            lambda: (
                not self.system.sql(
                    "SELECT 1 FROM telegram_bot_outboxmessage"
                    " WHERE chat_id = %s AND status IN ('pending', 'sending')",
                    (chat_id,),
                )
            ),
            timeout=30,
            what=f"outbox to {chat_id} drained",
        )
        before = len(self._bot_calls(chat_id))
        message_id = self.system.api.last_message_id(chat_id) if on_latest else None
        self.system.api.push_callback(
            user_id=chat_id, data=data, language_code=language, message_id=message_id
        )
        calls = wait_until(
            lambda: (c := self._bot_calls(chat_id)) and len(c) > before and c,
            timeout=20,
            what=f"the bot's answer to {data}",
        )
        markup = calls[-1].params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def bot_buy(self, *, user_id: int, provider: str, renew: int | None = None) -> dict:
        """/buy through the bot's buttons: tariff -> payment method -> the payment link."""
        # Each button is pressed under the newest message, as a customer walks the flow (a
        # button older than a purchase makes the bot ask before a second one).
        buttons = self.press(user_id, f"buy:r:{renew}" if renew else "buy", on_latest=True)
        tariff = next(
            b["callback_data"] for b in buttons if b.get("callback_data", "").startswith("buy:t:")
        )
        if renew:
            assert tariff.endswith(f":{renew}"), tariff
        buttons = self.press(user_id, tariff, on_latest=True)

        def provider_buttons(buttons):
            # buy:p:<tariff>:<subscription|0>:<provider>[:<country>]
            return [
                b["callback_data"]
                for b in buttons
                if b.get("callback_data", "").startswith("buy:p:")
                and b["callback_data"].split(":")[4] == provider
            ]

        if not provider_buttons(buttons):
            # A tariff with nodes in several countries asks for one first (buy:t:…:<country>).
            country = next(
                b["callback_data"]
                for b in buttons
                if b.get("callback_data", "").startswith("buy:t:")
                and len(b["callback_data"].split(":")) == 5
            )
            buttons = self.press(user_id, country, on_latest=True)
        choice = provider_buttons(buttons)[0]
        buttons = self.press(user_id, choice, on_latest=True)
        url = next(b["url"] for b in buttons if b.get("url", "").startswith("https://"))
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        if provider == "robokassa":
            return {"id": int(query["InvId"]), "amount": query["OutSum"], "url": url}
        return {"id": int(query["o"]), "amount": query["oa"], "url": url}

    def keys_messages(self, chat_id: int) -> list[str]:
        return [t for t in self.texts_to(chat_id) if "vless://" in t]

    def payment_create(self, *, user_id: int, provider: str, renew: int | None = None) -> dict:
        """A pending payment and its checkout URL, as the bot's buy flow makes them."""
        code = f"""
import json
from accounts.models import Customer
from billing.services.payments import payment_create, payment_checkout_url
from subscriptions.models import Subscription, Tariff
customer = Customer.objects.get(telegram_id={user_id})
tariff = Tariff.objects.filter(is_active=True, is_trial=False).order_by("pk").first()
sub = Subscription.objects.get(pk={renew}) if {renew!r} else None
payment = payment_create(customer=customer, tariff=tariff, provider={provider!r}, subscription=sub)
url = payment_checkout_url(payment=payment)
print(json.dumps({{"id": payment.pk, "amount": str(payment.amount), "url": url}}))
"""
        return json.loads(self.system.shell(code).strip().splitlines()[-1])

    def robokassa_notify(self, payment: dict, *, method: str = "POST") -> requests.Response:
        out_sum, inv_id = payment["amount"], str(payment["id"])
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(payment["url"]).query))
        shp = {k: v for k, v in query.items() if k.startswith("Shp_")}
        signature = robokassa_signature(
            out_sum=out_sum, inv_id=inv_id, password=ROBOKASSA["password2"], shp=shp
        ).upper()
        params = {"OutSum": out_sum, "InvId": inv_id, "SignatureValue": signature, **shp}
        url = f"{self.system.web_url}/api/payments/robokassa/result/"
        if method == "GET":
            return requests.get(url, params=params, timeout=30)
        return requests.post(url, data=params, timeout=30)

    def freekassa_notify(self, payment: dict) -> requests.Response:
        merchant, amount, order = FREEKASSA["merchant_id"], payment["amount"], str(payment["id"])
        params = {
            "MERCHANT_ID": merchant,
            "AMOUNT": amount,
            "intid": f"{order}{int(time.time())}",
            "MERCHANT_ORDER_ID": order,
            "CUR_ID": "44",
            "SIGN": freekassa_signature(
                merchant_id=merchant, amount=amount, secret=FREEKASSA["secret2"], order_id=order
            ),
        }
        return requests.post(
            f"{self.system.web_url}/api/payments/freekassa/notify/", data=params, timeout=30
        )

    def subscription(self, user_id: int) -> dict | None:
        rows = self.system.sql(
            "SELECT s.id, s.status, s.expires_at, s.feed_token, s.device_limit,"
            " s.traffic_limit_bytes, s.sub_id FROM subscriptions_subscription s"
            " JOIN accounts_customer c ON c.id = s.customer_id WHERE c.telegram_id = %s"
            " ORDER BY s.id DESC",
            (user_id,),
        )
        if not rows:
            return None
        keys = ("id", "status", "expires_at", "feed_token", "device_limit", "traffic", "sub_id")
        return dict(zip(keys, rows[0], strict=True))

    def keys(self, subscription_id: int) -> list[dict]:
        rows = self.system.sql(
            "SELECT k.email, n.name, k.sync_state, k.enable FROM nodes_nodeclient k"
            " JOIN nodes_node n ON n.id = k.node_id WHERE k.subscription_id = %s ORDER BY k.id",
            (subscription_id,),
        )
        return [dict(zip(("email", "node", "state", "enable"), r, strict=True)) for r in rows]

    def feed_links(self, feed_token: str) -> list[str]:
        import base64

        response = requests.get(f"{self.system.web_url}/sub/{feed_token}", timeout=10)
        response.raise_for_status()
        body = base64.b64decode(response.text or "").decode()
        return [line for line in body.splitlines() if line]

    def expiry_ms(self, expires_at) -> int:
        from datetime import UTC, datetime

        if isinstance(expires_at, str):  # SQLite returns naive UTC text
            expires_at = datetime.fromisoformat(expires_at).replace(tzinfo=UTC)
        return int(expires_at.timestamp() * 1000)


def links_hosts(links: list[str]) -> set[str]:
    return {re.match(r"vless://[^@]+@([^:]+):", link)[1] for link in links}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    system = E2ESystem.create(workdir)
    try:
        legacy = system.panel_start("alpha", "legacy")
        v3 = system.panel_start("bravo", "v3")
        system.node_add(legacy, weight="1", location="Frankfurt")
        system.node_add(v3, weight="1", location="Amsterdam", country="NL")
        system.shell(
            "from subscriptions.models import Tariff;"
            "Tariff.objects.create(name='Месяц', name_en='Month', duration_days=30,"
            " price='299.00', device_limit=3, traffic_limit_gb=100, sort_order=1)"
        )
        system.start_all()
        yield system
    except BaseException:
        print(system.logs_tail())
        raise
    finally:
        system.shutdown()


@pytest.fixture
def shop(system, request):
    yield Shop(system)
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(system.logs_tail(60))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report
