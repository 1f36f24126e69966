"""GET /api/v1/statistics/ shows the console dashboard's figures and billing's one revenue:
refunded, pending, failed and cancelled payments never count, currencies never mix."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.scopes import Scope
from api.tests.conftest import assert_error
from billing.models import PaymentStatus
from billing.selectors import revenue_by_currency
from billing.tests.factories import PaymentFactory
from console.selectors import dashboard_get
from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

PATH = "/api/v1/statistics/"


@pytest.fixture
def data(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.PAYMENT_CURRENCY = "RUB"
    now = timezone.now()
    # "Today" is the site's day (Moscow): a payment minutes ago may be yesterday there just
    # after midnight, so today's payments are put between midnight and now.
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = (now - midnight) / 2

    def payment(amount, ago, status=PaymentStatus.PAID, currency="RUB"):
        paid = status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)
        PaymentFactory(
            amount=Decimal(amount),
            status=status,
            paid_at=now - ago if paid else None,
            currency=currency,
            refunded_at=now if status == PaymentStatus.REFUNDED else None,
        )

    payment("100.00", today)
    payment("200.00", timedelta(days=3))
    payment("1000.00", timedelta(days=15))
    payment("5000.00", timedelta(days=45))
    payment("9.99", today, currency="USD")
    payment("300.00", today, status=PaymentStatus.REFUNDED)
    payment("400.00", timedelta(0), status=PaymentStatus.PENDING)
    payment("500.00", timedelta(0), status=PaymentStatus.FAILED)
    SubscriptionFactory(expires_at=now + timedelta(days=1))
    SubscriptionFactory(expires_at=now + timedelta(days=20))
    SubscriptionFactory(status=SubscriptionStatus.EXPIRED)
    NodeFactory(name="fra-1", health=NodeHealth.UP)
    return now


def test_the_figures_are_the_dashboard_s(api, tokens, data):
    body = api.get(PATH, tokens[Scope.READ_ONLY].raw).json()
    dash = dashboard_get()
    assert body["currency"] == "RUB"
    assert body["time_zone"] == "Europe/Moscow"
    assert body["subscriptions"] == {
        "active": Subscription.objects.running().count(),
        "expiring_soon": dash.subscriptions_expiring,
        "expiring_days": 3,
    }
    assert body["subscriptions"]["active"] == 2
    assert body["subscriptions"]["expiring_soon"] == 1
    assert body["customers"]["total"] == dash.customers_total
    assert body["customers"]["new"]["today"] == dash.customers_new["today"]
    assert [node["name"] for node in body["nodes"]] == ["fra-1"]
    assert len(body["revenue_by_day"]) == 30
    assert len(body["active_by_day"]) == 30
    assert body["window"] is None


def test_revenue_is_billing_s_one_definition(api, tokens, data):
    body = api.get(PATH, tokens[Scope.READ_ONLY].raw).json()
    dash = dashboard_get()
    names = {"today": "today", "7d": "last_7_days", "30d": "last_30_days"}
    rows = {row["currency"]: row for row in body["revenue"]}
    assert next(iter(rows)) == "RUB"  # the site's currency first
    for key, name in names.items():
        expected = revenue_by_currency(since=dash.starts[key], until=timezone.now())
        shown = {code: Decimal(row[name]) for code, row in rows.items() if Decimal(row[name])}
        assert shown == expected, key
    assert rows["RUB"]["last_30_days"] == "1300.00"  # no refund, pending, failed, or 45 days ago
    assert rows["USD"]["today"] == "9.99"


def test_a_window_of_one_s_choosing(api, tokens, data):
    since = data - timedelta(days=20)
    body = api.get(PATH, tokens[Scope.READ_ONLY].raw, {"since": since.isoformat()}).json()
    window = body["window"]
    assert {row["currency"]: Decimal(row["amount"]) for row in window["revenue"]} == (
        revenue_by_currency(since=since)
    )
    assert {row["currency"]: row["amount"] for row in window["revenue"]} == {
        "RUB": "1300.00",
        "USD": "9.99",
    }
    assert window["until"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "last week"}, "since"),
        ({"since": "2026-02-01T00:00:00+03:00", "until": "2026-01-01T00:00:00+03:00"}, "until"),
    ],
)
def test_a_bad_window_is_400(api, tokens, params, field):
    body = assert_error(api.get(PATH, tokens[Scope.READ_ONLY].raw, params), 400, "invalid")
    assert field in body["fields"]
