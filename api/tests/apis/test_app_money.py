"""The subscriber API's money (/api/app/v1/): the balance and its ledger, checkout with a
promo code (and the purchases a code makes free), paying from the balance -- each through
the bot's own services, and only on the customer's own data."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from accounts.tests.factories import CustomerFactory
from api.tests.conftest import assert_error
from api.tests.miniapp_helpers import init_data, tg_user
from billing.models import (
    BalanceEntry,
    BalanceEntryKind,
    Payment,
    PaymentStatus,
    PromoKind,
    PromoRedemption,
    PromoRedemptionStatus,
)
from billing.providers.stars import stars_payload
from billing.services.ledger import balance_entry_add
from billing.tests.factories import PaymentFactory, PromoCodeFactory
from billing.tests.helpers import ROBOKASSA
from billing.tests.stars_helpers import STARS_PROVIDER
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from tests.doubles.telegram_api import TelegramApiDouble

pytestmark = pytest.mark.django_db

API = "/api/app/v1/"


def tma(customer) -> dict:
    user = tg_user(customer.telegram_id, language_code=customer.language)
    return {"HTTP_AUTHORIZATION": f"tma {init_data(user)}"}


def get(client, customer, path, data=None):
    return client.get(API + path, data or {}, **tma(customer))


def post(client, customer, path, data=None):
    body = json.dumps(data) if data is not None else ""
    return client.post(API + path, body, content_type="application/json", **tma(customer))


def fund(customer, amount: str, key: str = "fund") -> None:
    balance_entry_add(
        customer_id=customer.pk,
        amount=Decimal(amount),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key=f"test:{key}:{customer.pk}",
    )


@pytest.fixture
def providers(settings):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA}
    settings.PAYMENT_PENDING_TTL_MINUTES = 60


@pytest.fixture
def alice(db):
    return CustomerFactory(language="en")


@pytest.fixture
def bob(db):
    return CustomerFactory(language="ru")


# --- The balance -----------------------------------------------------------------------------


def test_me_and_balance_show_my_balance_and_only_my_entries(client, alice, bob):
    fund(alice, "350.00")
    fund(bob, "999.00")
    assert get(client, alice, "me/").json()["balance"] == "350.00"
    body = get(client, alice, "balance/").json()
    assert body["balance"] == "350.00"
    assert body["currency"] == "RUB"
    assert [(e["amount"], e["balance_after"], e["kind"]) for e in body["entries"]] == [
        ("350.00", "350.00", "adjustment")
    ]
    assert body["entries"][0]["kind_label"] == "correction by support"
    # In the customer's language (the bot's labels).
    assert get(client, bob, "balance/").json()["entries"][0]["kind_label"] == (
        "корректировка поддержкой"
    )


def test_tariffs_name_what_the_balance_pays_for(client, alice, providers):
    cheap, dear = TariffFactory(price=Decimal("100.00")), TariffFactory(price=Decimal("500.00"))
    fund(alice, "200.00")
    body = get(client, alice, "tariffs/", {"new": "true"}).json()
    assert body["balance"] == "200.00"
    assert body["balance_tariffs"] == [cheap.pk]
    assert dear.pk in [t["id"] for t in body["tariffs"]]


# --- Pay from the balance ----------------------------------------------------------------------


def balance_checkout(client, customer, tariff, **extra):
    response = post(
        client, customer, "checkout/", {"tariff": tariff.pk, "provider": "balance", **extra}
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_balance_checkout_then_pay_charges_once(client, alice):
    tariff = TariffFactory(price=Decimal("299.00"))
    fund(alice, "350.00")
    checkout = balance_checkout(client, alice, tariff)
    assert checkout["url"] == ""
    assert checkout["amount"] == "299.00"
    assert checkout["provider_label"] == "💰 From the balance"
    payment = Payment.objects.get(pk=checkout["payment_id"])
    assert (payment.provider, payment.status) == ("balance", PaymentStatus.PENDING)
    alice.refresh_from_db()
    assert alice.balance == Decimal("350.00")  # nothing taken before the confirmation

    path = f"payments/{payment.pk}/pay-from-balance/"
    first = post(client, alice, path)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["credited"] is True
    assert body["balance"] == "51.00"
    assert body["payment"]["status"] == "paid"
    subscription = Subscription.objects.get(pk=body["payment"]["subscription"])
    assert subscription.customer == alice
    # A second press (or a retried request) charges nothing again.
    again = post(client, alice, path).json()
    assert (again["credited"], again["balance"]) == (False, "51.00")
    alice.refresh_from_db()
    assert alice.balance == Decimal("51.00")
    assert BalanceEntry.objects.filter(customer=alice, kind=BalanceEntryKind.PURCHASE).count() == 1


def test_a_short_balance_is_refused_and_nothing_changes(client, alice):
    tariff = TariffFactory(price=Decimal("299.00"))
    fund(alice, "100.00")
    checkout = balance_checkout(client, alice, tariff)
    path = f"payments/{checkout['payment_id']}/pay-from-balance/"
    refused = assert_error(post(client, alice, path), 400, "rejected")
    assert refused["message"] == "Not enough money on your balance: 100\xa0₽, needed 299\xa0₽."
    alice.refresh_from_db()
    assert alice.balance == Decimal("100.00")
    payment = Payment.objects.get(pk=checkout["payment_id"])
    assert payment.status == PaymentStatus.PENDING
    assert not Subscription.objects.filter(customer=alice).exists()
    assert BalanceEntry.objects.filter(customer=alice).count() == 1


def test_another_customers_payment_cannot_be_paid_from_my_balance(client, alice, bob):
    tariff = TariffFactory(price=Decimal("100.00"))
    fund(alice, "500.00")
    fund(bob, "500.00")
    theirs = balance_checkout(client, bob, tariff)["payment_id"]
    assert_error(post(client, alice, f"payments/{theirs}/pay-from-balance/"), 404, "not_found")
    assert Payment.objects.get(pk=theirs).status == PaymentStatus.PENDING
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.balance, bob.balance) == (Decimal("500.00"), Decimal("500.00"))


def test_a_payment_of_another_method_is_not_paid_from_the_balance(client, alice, providers):
    fund(alice, "500.00")
    card = PaymentFactory(customer=alice, provider="robokassa", amount=Decimal("100.00"))
    path = f"payments/{card.pk}/pay-from-balance/"
    assert_error(post(client, alice, path), 400, "rejected")
    card.refresh_from_db()
    assert card.status == PaymentStatus.PENDING
    alice.refresh_from_db()
    assert alice.balance == Decimal("500.00")


# --- Promo codes -------------------------------------------------------------------------------


def test_checkout_with_a_promo_code_is_priced_and_reserves_it(client, alice, providers):
    tariff = TariffFactory(price=Decimal("299.00"))
    promo = PromoCodeFactory(code="SPRING10", percent=10)
    offer = get(client, alice, "promo/", {"code": "spring10", "tariff": tariff.pk}).json()
    assert (offer["applies"], offer["price"], offer["free"]) == (True, "269.10", False)
    assert offer["balance_pays"] is False
    fund(alice, "270.00")
    offer = get(client, alice, "promo/", {"code": "spring10", "tariff": tariff.pk}).json()
    assert offer["balance_pays"] is True
    body = {"tariff": tariff.pk, "provider": "robokassa", "promo_code": "spring10"}
    response = post(client, alice, "checkout/", body)
    assert response.status_code == 200, response.content
    assert response.json()["amount"] == "269.10"
    payment = Payment.objects.get(pk=response.json()["payment_id"])
    assert payment.promo == promo
    assert PromoRedemption.objects.get(payment=payment).status == PromoRedemptionStatus.RESERVED


def test_promo_refusals_are_the_bots_in_my_language(client, alice, bob, providers):
    tariff, other = TariffFactory(), TariffFactory()
    PromoCodeFactory(code="ONLYOTHER").tariffs.add(other)
    PromoCodeFactory(code="OFF", is_active=False)
    cases = [
        ("NOPE", "There is no such promo code."),
        ("OFF", "This promo code has expired or is not active yet."),
        ("ONLYOTHER", "This promo code is not valid for this tariff."),
    ]
    for code, text in cases:
        body = {"tariff": tariff.pk, "provider": "robokassa", "promo_code": code}
        refused = assert_error(post(client, alice, "checkout/", body), 400, "rejected")
        assert refused["message"] == text
        offer = get(client, alice, "promo/", {"code": code, "tariff": tariff.pk}).json()
        assert (offer["applies"], offer["error"]) == (False, text)
    body = {"tariff": tariff.pk, "provider": "robokassa", "promo_code": "NOPE"}
    refused = assert_error(post(client, bob, "checkout/", body), 400, "rejected")
    assert refused["message"] == "Такого промокода нет."
    assert not Payment.objects.exists()
    assert_error(get(client, alice, "promo/", {"code": "X", "tariff": 999999}), 404, "not_found")


def test_a_once_per_customer_code_is_refused_the_second_time(client, alice, providers):
    tariff = TariffFactory(price=Decimal("100.00"))
    PromoCodeFactory(code="ONCE", once_per_customer=True, kind=PromoKind.PERCENT, percent=100)
    first = post(client, alice, "checkout/free/", {"tariff": tariff.pk, "promo_code": "ONCE"})
    assert first.status_code == 200, first.content
    subscription = Subscription.objects.get(pk=first.json()["subscription"])
    assert (subscription.customer, subscription.tariff) == (alice, tariff)
    assert not Payment.objects.exists()
    again = post(client, alice, "checkout/free/", {"tariff": tariff.pk, "promo_code": "ONCE"})
    refused = assert_error(again, 400, "rejected")
    assert refused["message"] == "You have already used this promo code."
    assert Subscription.objects.filter(customer=alice).count() == 1


def test_a_code_that_does_not_make_it_free_is_refused_by_the_free_checkout(
    client, alice, providers
):
    tariff = TariffFactory(price=Decimal("100.00"))
    PromoCodeFactory(code="TEN")
    response = post(client, alice, "checkout/free/", {"tariff": tariff.pk, "promo_code": "TEN"})
    assert_error(response, 400, "rejected")
    assert not Subscription.objects.exists()


def test_renewing_from_the_balance_with_a_promo_code(client, alice):
    subscription = SubscriptionFactory(customer=alice)
    tariff = subscription.tariff
    tariff.price = Decimal("200.00")
    tariff.save()
    PromoCodeFactory(code="HALF", percent=50)
    fund(alice, "100.00")
    checkout = balance_checkout(
        client, alice, tariff, subscription=subscription.pk, promo_code="HALF"
    )
    assert checkout["amount"] == "100.00"
    paid = post(client, alice, f"payments/{checkout['payment_id']}/pay-from-balance/").json()
    assert (paid["credited"], paid["balance"]) == (True, "0.00")
    assert paid["payment"]["subscription"] == subscription.pk


# --- Telegram Stars ----------------------------------------------------------------------------


@pytest.fixture
def telegram(settings):
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "stars": STARS_PROVIDER}
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


def test_stars_checkout_is_an_invoice_link_of_the_bots_invoice(client, alice, telegram):
    tariff = TariffFactory(price_stars=150)
    codes = [p["code"] for p in get(client, alice, "tariffs/", {"new": "true"}).json()["providers"]]
    assert "stars" in codes
    response = post(client, alice, "checkout/", {"tariff": tariff.pk, "provider": "stars"})
    assert response.status_code == 200, response.content
    body = response.json()
    payment = Payment.objects.get(pk=body["payment_id"])
    assert (payment.provider, payment.currency, payment.amount) == ("stars", "XTR", 150)
    assert body["url"].startswith("https://t.me/$")
    invoice = telegram.invoice_link(body["url"].removeprefix("https://t.me/$"))
    assert invoice["payload"] == stars_payload(payment.pk)
    assert (invoice["currency"], invoice["prices"][0]["amount"]) == ("XTR", 150)
    assert not invoice.get("provider_token")
    assert not telegram.calls_to("sendInvoice")


def test_a_refused_invoice_link_leaves_no_payment(client, alice, telegram):
    tariff = TariffFactory(price_stars=150)
    telegram.fail_next("createInvoiceLink", status=400, description="Bad Request: oops")
    response = post(client, alice, "checkout/", {"tariff": tariff.pk, "provider": "stars"})
    refused = assert_error(response, 400, "rejected")
    assert refused["message"] == (
        "Telegram Stars are not available right now. Please try again later."
    )
    assert not Payment.objects.exists()


# --- invitations ------------------------------------------------------------------------------


def test_referral_shows_my_link_rules_and_figures_only(
    client, alice, bob, settings, runtime_setting
):
    """The bot's invite screen as data: my link, the rules as set, what my invitations
    brought; another customer's invitations never count for me."""
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("REFERRAL_PERCENT", 10)
    invitee = CustomerFactory(referred_by=alice)
    CustomerFactory(referred_by=bob)
    PaymentFactory(customer=invitee, status="paid", paid_at=invitee.created_at)
    balance_entry_add(
        customer_id=alice.pk,
        amount=Decimal("29.90"),
        kind=BalanceEntryKind.REFERRAL,
        source_key=f"test:referral:{alice.pk}",
    )
    body = get(client, alice, "referral/").json()
    assert body == {
        "link": f"https://t.me/vpnsite_bot?start={alice.referral_code}",
        "percent": 10,
        "days": 0,
        "every": False,
        "stats": {"invited": 1, "paid": 1, "earned": "29.90", "days": 0},
    }
    theirs = get(client, bob, "referral/").json()["stats"]
    assert theirs == {"invited": 1, "paid": 0, "earned": "0.00", "days": 0}
