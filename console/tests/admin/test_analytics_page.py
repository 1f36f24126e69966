"""The analytics page (<admin>/analytics/): who may open it, its form, an empty and a filled
system in both languages, and a bounded number of queries whatever the data."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus, PromoCode, PromoKind, ReferralReward
from billing.tests.factories import PaymentFactory, PromoCodeFactory, PromoRedemptionFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

URL = "/admin/analytics/"
MAX_QUERIES = 15


def fill(n: int) -> None:
    """`n` of everything the page reads: payments in two currencies (one refunded), trials,
    renewals, lapsed subscriptions, referrals and promo codes."""
    now = timezone.now()
    tariff = TariffFactory(name="Month", price=Decimal("299.00"))
    trial = TariffFactory(name="Trial", price=Decimal("0.00"), is_trial=True)
    promo = PromoCode.objects.filter(code="SPRING").first() or PromoCodeFactory(
        code="SPRING", kind=PromoKind.PERCENT, percent=10
    )
    inviter = CustomerFactory(username="inviter")
    for i in range(n):
        customer = CustomerFactory(referred_by=inviter if i % 2 else None)
        SubscriptionFactory(
            customer=customer, tariff=trial, is_trial=True, started_at=now - timedelta(days=40)
        )
        sub = SubscriptionFactory(
            customer=customer, tariff=tariff, started_at=now - timedelta(days=35 + i % 20)
        )
        payment = PaymentFactory(
            customer=customer,
            tariff=tariff,
            subscription=sub,
            amount=Decimal("269.10"),
            status=PaymentStatus.PAID,
            paid_at=now - timedelta(days=i % 25, hours=1),
            promo=promo,
            price_before_promo=Decimal("299.00"),
        )
        PromoRedemptionFactory(
            promo=promo, customer=customer, payment=payment, discount=Decimal("29.90")
        )
        PaymentFactory(
            customer=customer,
            tariff=tariff,
            currency="XTR",
            provider="stars",
            amount=Decimal("150"),
            status=PaymentStatus.REFUNDED if i % 3 == 0 else PaymentStatus.PAID,
            paid_at=now - timedelta(days=i % 60),
            refunded_at=now if i % 3 == 0 else None,
        )
        if i % 2:
            ReferralReward.objects.create(
                payment=payment, inviter=inviter, invitee=customer, amount=Decimal("26.91")
            )
        SubscriptionFactory(
            customer=customer,
            tariff=tariff,
            status=SubscriptionStatus.EXPIRED,
            started_at=now - timedelta(days=50),
            expires_at=now - timedelta(days=5 + i % 10),
        )


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_support_may_not_see_revenue(as_support):
    assert as_support.get(URL).status_code == 403


def test_operator_and_superuser_see_it(as_operator, superuser, client):
    assert reverse("admin-analytics") == URL
    assert as_operator.get(URL).status_code == 200
    client.force_login(superuser)
    assert client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("language", "empty", "defined"),
    [
        ("en", "Nothing to show yet", "How the figures are counted"),
        ("ru", "Пока нечего показать", "Как считаются показатели"),
    ],
)
def test_empty_system(as_superuser, language, empty, defined):
    response = as_superuser.get(URL, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    assert empty in page
    assert defined in page
    assert 'id="figure-churn"' in page
    assert "—" in page
    content = page[page.index('id="content-main"') : page.index('id="analytics-end"')]
    assert "<svg" in content
    assert "<script" not in content
    assert " style=" not in content


@pytest.mark.parametrize("language", ["en", "ru"])
def test_filled_system(as_superuser, language):
    fill(6)
    response = as_superuser.get(URL, {"period": "90"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="analytics-empty"' not in page
    assert "SPRING" in page
    assert "@inviter" in page
    assert 'id="chart-revenue-rub"' in page
    assert 'id="chart-revenue-xtr"' in page
    data = response.context["a"]
    assert data.revenue["RUB"] == Decimal("1614.60")
    assert data.revenue["XTR"] == Decimal("600")
    assert data.refunds["XTR"] == Decimal("300")
    assert data.period.grouping == "week"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2026-02-01"}, "Give both dates"),
        ({"date_from": "2026-03-01", "date_to": "2026-02-01"}, "The first date is after"),
        ({"date_from": "2020-01-01", "date_to": "2026-01-01"}, "at most 731 days"),
        ({"date_from": "yesterday", "date_to": "2026-01-01"}, "Enter a valid date"),
        ({"period": "7000"}, "Select a valid choice"),
        ({"group": "year"}, "Select a valid choice"),
        ({"date_from": "2999-01-01", "date_to": "2999-01-02"}, "starts in the future"),
    ],
)
def test_bad_input_is_a_form_error(as_superuser, params, message):
    response = as_superuser.get(URL, params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "a" not in response.context or response.context.get("a") is None
    assert 'id="analytics-totals"' not in page


def test_dates_select_the_custom_period(as_superuser):
    today = timezone.localdate()
    response = as_superuser.get(
        URL,
        {
            "period": "30",
            "date_from": (today - timedelta(days=6)).isoformat(),
            "date_to": today.isoformat(),
            "group": "month",
        },
    )
    data = response.context["a"]
    assert data.period.first_day == today - timedelta(days=6)
    assert data.period.last_day == today
    assert data.period.grouping == "month"


@pytest.mark.parametrize(
    "params", [{}, {"period": "365", "group": "month"}, {"period": "30", "group": "day"}]
)
def test_queries_are_bounded(as_operator, django_assert_max_num_queries, params):
    fill(3)
    with django_assert_max_num_queries(MAX_QUERIES):
        few = as_operator.get(URL, params)
    assert few.status_code == 200
    fill(12)
    with django_assert_max_num_queries(MAX_QUERIES):
        many = as_operator.get(URL, params)
    assert many.status_code == 200
