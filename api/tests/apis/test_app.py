"""The subscriber API (/api/app/v1/): initData checked as Telegram documents it (forgery,
other bot, a changed field, age, missing and repeated fields), a customer sees and changes
only their own data whatever id they send, and every rule is the bot's."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from api.tests.conftest import assert_error
from api.tests.miniapp_helpers import init_data, signed_fields, tg_user
from billing.models import Payment, PaymentStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA
from core.models import AuditEvent, AuditLog
from core.runtime_settings import runtime_settings
from nodes.models import SyncState
from nodes.tests.factories import NodeClientFactory
from subscriptions.models import Device, SubscriptionStatus
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

API = "/api/app/v1/"


class App:
    """The test client calling the subscriber API as a Telegram user."""

    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, auth: str | None, data=None):
        headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
        if method == "get":
            return self.client.get(API + path, data or {}, **headers)
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(
            API + path, body, content_type="application/json", **headers
        )

    def get(self, path, auth, data=None):
        return self.call("get", path, auth, data)

    def post(self, path, auth, data=None):
        return self.call("post", path, auth, data)

    def delete(self, path, auth):
        return self.call("delete", path, auth)


def tma(customer_or_id, **kwargs) -> str:
    telegram_id = getattr(customer_or_id, "telegram_id", customer_or_id)
    return f"tma {init_data(telegram_id, **kwargs)}"


@pytest.fixture
def app(client) -> App:
    return App(client)


@pytest.fixture
def providers(settings, runtime_setting):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA}
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpn_support")


@pytest.fixture
def alice(db):
    return CustomerFactory(language="en")


@pytest.fixture
def bob(db):
    return CustomerFactory(language="ru")


# --- initData -------------------------------------------------------------------------------


def test_signed_init_data_registers_the_customer_as_the_bot_does(app, providers):
    response = app.get("me/", tma(777001))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "telegram_id": 777001,
        "username": "user777001",
        "first_name": "Alice",
        "language": "en",
        "support_url": "https://t.me/vpn_support",
        "bot_username": "vpnsite_bot",
        "balance": "0.00",
        "balance_currency": "RUB",
    }
    customer = Customer.objects.get(telegram_id=777001)
    assert customer.language == "en"
    assert customer.first_name == "Alice"


def test_no_credentials_or_another_scheme_is_401(app, alice):
    assert_error(app.get("me/", None), 401, "not_authenticated")
    response = app.get("me/", "Bearer vpnsite_abc_def")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'tma realm="app"'


def test_a_wrong_hash_is_refused(app, alice):
    fields = dict(parse_qsl(init_data(alice.telegram_id)))
    fields["hash"] = "0" * 64
    assert_error(app.get("me/", f"tma {urlencode(fields)}"), 401, "init_data_invalid")


def test_init_data_signed_with_another_bot_token_is_refused(app, alice):
    forged = init_data(alice.telegram_id, bot_token="654321:OTHER-TOKEN")
    assert_error(app.get("me/", f"tma {forged}"), 401, "init_data_invalid")


def test_a_field_changed_after_signing_is_refused(app, alice, bob):
    fields = dict(parse_qsl(init_data(alice.telegram_id)))
    fields["user"] = json.dumps(tg_user(bob.telegram_id))
    assert_error(app.get("me/", f"tma {urlencode(fields)}"), 401, "init_data_invalid")
    fields = dict(parse_qsl(init_data(alice.telegram_id)))
    fields["auth_date"] = str(int(fields["auth_date"]) + 1)
    assert_error(app.get("me/", f"tma {urlencode(fields)}"), 401, "init_data_invalid")


def test_old_init_data_expires(app, alice, settings):
    settings.MINIAPP_INIT_DATA_MAX_AGE = 3600
    now = int(time.time())
    assert app.get("me/", tma(alice, auth_date=now - 3500)).status_code == 200
    body = assert_error(app.get("me/", tma(alice, auth_date=now - 3700)), 401, "init_data_expired")
    assert "expired" in body["message"]
    assert_error(app.get("me/", tma(alice, auth_date=now + 3600)), 401, "init_data_invalid")


@pytest.mark.parametrize("missing", ["hash", "user", "auth_date"])
def test_a_missing_field_is_refused(app, alice, missing):
    fields = {
        "user": json.dumps(tg_user(alice.telegram_id)),
        "auth_date": str(int(time.time())),
    }
    fields.pop(missing, None)
    signed = signed_fields(fields)
    if missing == "hash":
        signed.pop("hash")
    assert_error(app.get("me/", f"tma {urlencode(signed)}"), 401, "init_data_invalid")


def test_a_repeated_field_is_refused_even_when_signed(app, alice, bob):
    raw = init_data(alice.telegram_id)
    doubled = f"{raw}&user={json.dumps(tg_user(bob.telegram_id))}"
    assert_error(app.get("me/", f"tma {doubled}"), 401, "init_data_invalid")


@pytest.mark.parametrize(
    "user",
    [
        "not json",
        "[1, 2]",
        json.dumps({"id": "123"}),
        json.dumps({"id": -5}),
        json.dumps({"id": 5, "is_bot": True}),
        json.dumps({"id": 5, "first_name": ["x"]}),
    ],
)
def test_a_user_that_is_not_a_person_is_refused_even_when_signed(app, db, user):
    fields = signed_fields({"user": user, "auth_date": str(int(time.time()))})
    assert_error(app.get("me/", f"tma {urlencode(fields)}"), 401, "init_data_invalid")
    assert not Customer.objects.exists()


def test_garbage_is_refused(app, db):
    for raw in ("", "%%%", "a" * 5000, "hash"):
        assert_error(app.get("me/", f"tma {raw}"), 401, "init_data_invalid")


def test_a_banned_customer_is_refused(app, alice):
    Customer.objects.filter(pk=alice.pk).update(is_banned=True)
    assert_error(app.get("subscriptions/", tma(alice)), 403, "customer_banned")


def test_calls_are_limited_per_customer(app, alice, bob, settings):
    settings.MINIAPP_RATE_PER_MINUTE = 2
    assert app.get("me/", tma(alice)).status_code == 200
    assert app.get("me/", tma(alice)).status_code == 200
    response = app.get("me/", tma(alice))
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) <= 60
    assert app.get("me/", tma(bob)).status_code == 200


# --- profile ---------------------------------------------------------------------------------


def test_changing_the_language_is_the_bots_choice(app, alice, providers):
    response = app.post("me/language/", tma(alice), {"language": "ru"})
    assert response.status_code == 200
    assert response.json()["language"] == "ru"
    alice.refresh_from_db()
    assert (alice.language, alice.language_chosen) == ("ru", True)
    # Telegram's language_code (en) no longer overrides the choice.
    assert app.get("me/", tma(alice)).json()["language"] == "ru"
    body = assert_error(app.post("me/language/", tma(alice), {"language": "de"}), 400, "invalid")
    assert "language" in body["fields"]


# --- subscriptions ---------------------------------------------------------------------------


def test_the_list_holds_only_my_subscriptions(app, alice, bob, settings):
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"
    mine = SubscriptionFactory(customer=alice)
    SubscriptionFactory(customer=alice, status=SubscriptionStatus.CANCELLED)
    SubscriptionFactory(customer=bob)
    response = app.get("subscriptions/", tma(alice))
    assert response.status_code == 200
    cards = response.json()
    assert [c["id"] for c in cards] == [mine.pk]
    card = cards[0]
    assert card["status"] == "active"
    assert card["feed_url"] == f"https://vpn.example.com/sub/{mine.feed_token}"
    happ = next(a for a in card["apps"] if a["app"] == "happ")
    assert happ["deeplink"] == f"happ://add/{card['feed_url']}"
    assert happ["open_url"] == f"{card['feed_url']}/open/happ"


def test_another_customers_subscription_is_not_found_whatever_the_id(app, alice, bob):
    theirs = SubscriptionFactory(customer=bob)
    cancelled = SubscriptionFactory(customer=alice, status=SubscriptionStatus.CANCELLED)
    for subscription_id in (theirs.pk, cancelled.pk, 999999):
        assert_error(app.get(f"subscriptions/{subscription_id}/", tma(alice)), 404, "not_found")
    assert app.get(f"subscriptions/{theirs.pk}/", tma(bob)).status_code == 200


def test_the_detail_shows_keys_and_devices(app, alice):
    subscription = SubscriptionFactory(customer=alice)
    device = DeviceFactory(subscription=subscription, model="Pixel 8")
    response = app.get(f"subscriptions/{subscription.pk}/", tma(alice))
    assert response.status_code == 200
    body = response.json()
    assert body["card"]["id"] == subscription.pk
    assert body["card"]["device_count"] == 1
    assert body["keys"] == []
    assert [(d["id"], d["label"]) for d in body["devices"]] == [(device.pk, "Pixel 8")]
    assert body["removals"] == {"limit": 3, "used": 0, "left": 3, "next_at": None}


def test_removing_my_device_is_audited_as_the_mini_app(app, alice):
    subscription = SubscriptionFactory(customer=alice)
    device = DeviceFactory(subscription=subscription, model="Pixel 8")
    response = app.delete(f"subscriptions/{subscription.pk}/devices/{device.pk}/", tma(alice))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "label": "Pixel 8",
        "removals": {"limit": 3, "used": 1, "left": 2, "next_at": None},
    }
    assert not Device.objects.filter(pk=device.pk).exists()
    audit = AuditLog.objects.get(event_type=AuditEvent.DEVICE_REMOVED)
    assert audit.actor_label == "miniapp"


def test_another_customers_device_cannot_be_removed_whatever_the_ids(app, alice, bob):
    mine = SubscriptionFactory(customer=alice)
    theirs = SubscriptionFactory(customer=bob)
    their_device = DeviceFactory(subscription=theirs)
    my_device = DeviceFactory(subscription=mine)
    for path in (
        f"subscriptions/{theirs.pk}/devices/{their_device.pk}/",
        f"subscriptions/{mine.pk}/devices/{their_device.pk}/",
        f"subscriptions/{theirs.pk}/devices/{my_device.pk}/",
    ):
        assert_error(app.delete(path, tma(alice)), 404, "not_found")
    assert Device.objects.count() == 2
    assert not AuditLog.objects.filter(event_type=AuditEvent.DEVICE_REMOVED).exists()


def test_the_daily_removal_limit_is_the_bots(app, alice, settings):
    settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = 1
    subscription = SubscriptionFactory(customer=alice)
    first, second = DeviceFactory.create_batch(2, subscription=subscription)
    path = f"subscriptions/{subscription.pk}/devices/"
    assert app.delete(f"{path}{first.pk}/", tma(alice)).status_code == 200
    body = assert_error(app.delete(f"{path}{second.pk}/", tma(alice)), 400, "rejected")
    assert "1 device a day" in body["message"]
    assert Device.objects.filter(pk=second.pk).exists()


# --- buying ----------------------------------------------------------------------------------


def test_tariffs_offer_what_the_bot_offers(app, alice, providers):
    on_sale = TariffFactory(name="Month", name_en="Month EN")
    TariffFactory(is_active=False)
    TariffFactory(is_trial=True)
    body = app.get("tariffs/", tma(alice), {"new": "true"}).json()
    assert [(t["id"], t["name"]) for t in body["tariffs"]] == [(on_sale.pk, "Month EN")]
    assert body["providers"] == [{"code": "robokassa", "label": "💳 Card, SBP · Robokassa"}]
    assert body["target"] is None
    assert_error(app.get("tariffs/", tma(alice), {"subscription": "x"}), 400, "invalid")


def test_renewing_someone_elses_subscription_is_a_new_purchase(app, alice, bob, providers):
    theirs = SubscriptionFactory(customer=bob)
    TariffFactory()
    body = app.get("tariffs/", tma(alice), {"subscription": theirs.pk}).json()
    assert body["target"] is None
    assert body["refused"] == "gone"


def test_checkout_makes_one_pending_payment_with_its_link(app, alice, providers):
    tariff = TariffFactory()
    request = {"tariff": tariff.pk, "provider": "robokassa"}
    response = app.post("checkout/", tma(alice), request)
    assert response.status_code == 200, response.content
    body = response.json()
    payment = Payment.objects.get(pk=body["payment_id"])
    assert (payment.customer, payment.status, payment.subscription) == (
        alice,
        PaymentStatus.PENDING,
        None,
    )
    assert body["url"].startswith("https://auth.robokassa.ru/")
    assert f"InvId={payment.pk}" in body["url"]
    assert body["amount"] == "299.00"
    # A second press hands out the same payment (the bot's checkout rule).
    assert app.post("checkout/", tma(alice), request).json()["payment_id"] == payment.pk
    state = app.get(f"payments/{payment.pk}/", tma(alice)).json()
    assert state == {"id": payment.pk, "status": "pending", "subscription": None, "paid_at": None}


def test_checkout_refuses_other_peoples_subscriptions_and_unknown_methods(
    app, alice, bob, providers
):
    theirs = SubscriptionFactory(customer=bob)
    body = {"tariff": theirs.tariff_id, "provider": "robokassa", "subscription": theirs.pk}
    assert_error(app.post("checkout/", tma(alice), body), 400, "rejected")
    tariff = TariffFactory()
    refused = assert_error(
        app.post("checkout/", tma(alice), {"tariff": tariff.pk, "provider": "paypal"}),
        400,
        "rejected",
    )
    assert refused["message"] == "This payment method is not available."
    assert_error(app.post("checkout/", tma(alice), {"provider": "robokassa"}), 400, "invalid")
    country = {"tariff": tariff.pk, "provider": "robokassa", "country": "ZZ"}
    refused = assert_error(app.post("checkout/", tma(alice), country), 400, "rejected")
    assert refused["message"] == "This country is not available for this subscription."
    assert not Payment.objects.exists()


def test_another_customers_payment_is_not_found(app, alice, bob):
    theirs = PaymentFactory(customer=bob)
    assert_error(app.get(f"payments/{theirs.pk}/", tma(alice)), 404, "not_found")
    assert app.get(f"payments/{theirs.pk}/", tma(bob)).status_code == 200


def test_unknown_paths_answer_in_the_api_shape(app, alice):
    assert_error(app.get("nope/", tma(alice)), 404, "not_found")


# --- the page --------------------------------------------------------------------------------


def test_the_mini_app_page_loads_only_our_static_files_in_both_languages(client):
    response = client.get("/app/")
    assert response.status_code == 200
    html = response.content.decode()
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://web.telegram.org" in csp
    assert "script-src 'self'" in csp
    assert "X-Frame-Options" not in response
    assert "telegram.org/js" not in html
    assert re.findall(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", html) == []
    assert "style=" not in html
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert sources == ["/static/api/miniapp.css", "/static/api/miniapp.js"]
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source
    texts = json.loads(re.search(r'id="miniapp-texts"[^>]*>(.*?)</script>', html, re.S)[1])
    assert texts["en"]["buy"] == "Buy a subscription"
    assert texts["ru"]["buy"] != texts["en"]["buy"]
    assert set(texts["ru"]) == set(texts["en"])


# --- query counts ----------------------------------------------------------------------------


def _queries(app, path: str, auth: str, data=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = app.get(path, auth, data)
    assert response.status_code == 200, response.content[:300]
    return len(queries)


def _give(customer, count: int) -> None:
    for _ in range(count):
        subscription = SubscriptionFactory(customer=customer)
        DeviceFactory(subscription=subscription)
        NodeClientFactory(subscription=subscription, sync_state=SyncState.SYNCED)
        TariffFactory()


@pytest.mark.usefixtures("providers")
@pytest.mark.parametrize(("path", "data"), [("subscriptions/", None), ("tariffs/", {"new": "1"})])
def test_the_lists_take_a_fixed_number_of_queries(
    app, alice, path, data, django_assert_max_num_queries
):
    runtime_settings()  # constance, warmed as in production
    _give(alice, 1)
    few = _queries(app, path, tma(alice), data)
    _give(alice, 6)
    with django_assert_max_num_queries(10):
        many = _queries(app, path, tma(alice), data)
    assert many == few, f"{path}: {few} queries for a few rows, {many} for many"
