"""console.analytics: every figure on hand-computed data (docs/console.md "Analytics").

The clock is fixed at Wednesday 2026-03-18 12:00 in Moscow (09:00 UTC); the console's time
zone is Europe/Moscow (UTC+3), so a payment at 20:59 UTC is still the day before."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentPurpose, PaymentStatus, PromoKind, ReferralReward
from billing.tests.factories import PaymentFactory, PromoCodeFactory, PromoRedemptionFactory
from console.analytics import analytics_get, buckets, period_between, period_last_days
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def moscow(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.PAYMENT_CURRENCY = "RUB"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pay(customer=None, amount="100.00", at=NOW - timedelta(hours=1), **kwargs):
    """A credited payment: PAID at `at` (created two minutes before) unless told otherwise."""
    kwargs.setdefault("status", PaymentStatus.PAID)
    kwargs.setdefault("created_at", (at or NOW) - timedelta(minutes=2))
    return PaymentFactory(
        customer=customer or CustomerFactory(),
        amount=Decimal(amount),
        paid_at=at,
        **kwargs,
    )


def last(days=30, grouping="day"):
    return analytics_get(period=period_last_days(days=days, grouping=grouping, now=NOW), now=NOW)


def test_empty_system_has_zeros_and_no_rates():
    data = last()
    assert data.is_empty
    assert data.revenue == {"RUB": Decimal("0.00")}
    assert data.payments == 0
    assert data.paying_total == 0
    assert data.arpu == {}
    assert data.conversion_rate is None
    assert data.renewal_rate is None
    assert data.churn_rate is None
    assert len(data.series) == 30
    assert len(data.cohorts) == 12
    assert all(size == 0 for _m, size, _c in data.cohorts)
    assert all(pct is None for _m, _s, cells in data.cohorts for _d, _n, pct in cells)


def test_revenue_keeps_currencies_apart_and_leaves_refunds_out():
    customer = CustomerFactory()
    pay(customer, "299.00")
    pay(customer, "250.00", currency="XTR", provider="stars")
    # Paid in the period, refunded in it: not revenue, shown as a refund by its date.
    pay(customer, "500.00", status=PaymentStatus.REFUNDED, refunded_at=NOW - timedelta(minutes=5))
    # Paid long before, refunded in the period: a refund of the period, revenue untouched.
    pay(
        customer,
        "40.00",
        at=NOW - timedelta(days=200),
        status=PaymentStatus.REFUNDED,
        refunded_at=NOW - timedelta(days=1),
    )
    # Paid from the balance (the top-up was the revenue), pending, failed: none is revenue.
    pay(customer, "299.00", provider="balance")
    pay(customer, "299.00", status=PaymentStatus.PENDING, at=None)
    pay(customer, "299.00", status=PaymentStatus.FAILED, at=None)

    data = last()
    assert data.revenue == {"RUB": Decimal("299.00"), "XTR": Decimal("250.00")}
    assert data.refunds == {"RUB": Decimal("540.00"), "XTR": Decimal("0.00")}
    assert data.refunds_count == 2
    assert data.payments == 2
    assert data.currencies == ["RUB", "XTR"]
    today = data.series[-1]
    assert today[0] == date(2026, 3, 18)
    assert today[1] == {"RUB": Decimal("299.00"), "XTR": Decimal("250.00")}
    assert not data.is_empty


def test_a_day_is_a_calendar_day_in_the_console_time_zone():
    pay(amount="10.00", at=utc(2026, 3, 17, 20, 59))  # 23:59 in Moscow, the 17th
    pay(amount="20.00", at=utc(2026, 3, 17, 21, 0))  # 00:00 in Moscow, the 18th

    data = last()
    by_day = {day: amounts for day, amounts, _count in data.series}
    assert by_day[date(2026, 3, 17)] == {"RUB": Decimal("10.00")}
    assert by_day[date(2026, 3, 18)] == {"RUB": Decimal("20.00")}
    # "Last 1 day" is today since Moscow midnight: only the second payment.
    assert last(days=1).revenue["RUB"] == Decimal("20.00")
    # From … to: the 17th alone, both ends included.
    period = period_between(
        first=date(2026, 3, 17), last=date(2026, 3, 17), grouping="day", now=NOW
    )
    assert analytics_get(period=period, now=NOW).revenue["RUB"] == Decimal("10.00")


def test_weeks_start_on_monday_and_months_on_the_first():
    pay(amount="1.00", at=utc(2026, 3, 15, 12))  # Sunday
    pay(amount="2.00", at=utc(2026, 3, 16, 12))  # Monday
    pay(amount="4.00", at=utc(2026, 2, 28, 12))

    weeks = {day: amounts for day, amounts, _c in last(grouping="week").series}
    assert all(day.weekday() == 0 for day in weeks)
    assert weeks[date(2026, 3, 9)] == {"RUB": Decimal("1.00")}
    assert weeks[date(2026, 3, 16)] == {"RUB": Decimal("2.00")}
    assert weeks[date(2026, 2, 23)] == {"RUB": Decimal("4.00")}

    months = {day: amounts for day, amounts, _c in last(grouping="month").series}
    assert list(months) == [date(2026, 2, 1), date(2026, 3, 1)]
    assert months[date(2026, 3, 1)] == {"RUB": Decimal("3.00")}


def test_buckets_cover_the_period():
    period = period_between(
        first=date(2026, 1, 31), last=date(2026, 3, 2), grouping="month", now=NOW
    )
    assert buckets(period) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def test_revenue_by_provider_and_by_tariff():
    month = TariffFactory(name="Month", price=Decimal("299.00"))
    year = TariffFactory(name="Year", price=Decimal("2490.00"))
    pay(amount="299.00", tariff=month, provider="robokassa")
    pay(amount="299.00", tariff=month, provider="freekassa")
    pay(amount="2490.00", tariff=year, provider="robokassa")
    pay(amount="150.00", tariff=month, provider="stars", currency="XTR")
    pay(amount="500.00", top_up=True, provider="robokassa")
    pay(
        amount="299.00",
        tariff=month,
        provider="robokassa",
        status=PaymentStatus.REFUNDED,
        refunded_at=NOW,
    )

    data = last()
    providers = {row.label: (row.payments, row.amounts) for row in data.by_provider}
    assert providers == {
        "robokassa": (3, {"RUB": Decimal("3289.00")}),
        "freekassa": (1, {"RUB": Decimal("299.00")}),
        "stars": (1, {"XTR": Decimal("150.00")}),
    }
    tariffs = {row.key: (row.label, row.payments, row.amounts) for row in data.by_tariff}
    assert tariffs == {
        month.pk: ("Month", 3, {"RUB": Decimal("598.00"), "XTR": Decimal("150.00")}),
        year.pk: ("Year", 1, {"RUB": Decimal("2490.00")}),
        "top_up": ("", 1, {"RUB": Decimal("500.00")}),
    }


def test_arpu_and_new_versus_returning_customers():
    returning, new, stars_only, refunded = CustomerFactory.create_batch(4)
    pay(returning, "100.00", at=NOW - timedelta(days=60))
    pay(returning, "300.00")
    pay(new, "100.00", at=NOW - timedelta(days=3))
    pay(new, "100.00")
    pay(stars_only, "50.00", currency="XTR", provider="stars")
    # Refunded: not a paying customer of the period, and not "earlier" for anyone.
    pay(refunded, "999.00", status=PaymentStatus.REFUNDED, refunded_at=NOW)

    data = last()
    assert data.paying == {"RUB": 2, "XTR": 1}
    assert data.arpu == {"RUB": Decimal("250.00"), "XTR": Decimal("50.00")}
    assert data.paying_total == 3
    assert data.paying_new == 2  # new and stars_only
    assert data.paying_returning == 1


def test_trial_to_paid_conversion():
    trial = TariffFactory(name="Trial", price=Decimal("0.00"), is_trial=True)
    converted, waiting, old, paid_first = CustomerFactory.create_batch(4)
    SubscriptionFactory(
        customer=converted, tariff=trial, is_trial=True, started_at=NOW - timedelta(days=10)
    )
    pay(converted, "299.00", at=NOW - timedelta(days=7))
    SubscriptionFactory(
        customer=waiting, tariff=trial, is_trial=True, started_at=NOW - timedelta(days=5)
    )
    SubscriptionFactory(
        customer=old, tariff=trial, is_trial=True, started_at=NOW - timedelta(days=45)
    )
    pay(old, "299.00", at=NOW - timedelta(days=1))  # converted, but its trial is not in the period
    pay(paid_first, "299.00", at=NOW - timedelta(days=20))
    SubscriptionFactory(
        customer=paid_first, tariff=trial, is_trial=True, started_at=NOW - timedelta(days=4)
    )

    data = last()
    assert (data.trials, data.trials_converted) == (2, 1)
    assert data.conversion_rate == Decimal("50.0")


def test_trials_are_not_revenue():
    trial = TariffFactory(name="Trial", price=Decimal("0.00"), is_trial=True)
    SubscriptionFactory(tariff=trial, is_trial=True, started_at=NOW - timedelta(days=2))
    data = last()
    assert data.trials == 1
    assert data.trials_converted == 0
    assert data.revenue == {"RUB": Decimal("0.00")}
    assert data.paying_total == 0


def test_renewal_and_churn_rates():
    tariff = TariffFactory(price=Decimal("299.00"))
    trial = TariffFactory(price=Decimal("0.00"), is_trial=True)
    renewed = SubscriptionFactory(
        tariff=tariff, started_at=NOW - timedelta(days=40), expires_at=NOW + timedelta(days=20)
    )
    # A renewal: the payment was made for the subscription that already ran.
    pay(
        renewed.customer, "299.00", at=NOW - timedelta(days=10), tariff=tariff, subscription=renewed
    )
    # A new purchase: its subscription was made when it was credited; not a renewal.
    bought = SubscriptionFactory(tariff=tariff, started_at=NOW - timedelta(days=3))
    pay(
        bought.customer,
        "299.00",
        at=bought.started_at,
        tariff=tariff,
        subscription=bought,
        created_at=bought.started_at - timedelta(minutes=5),
    )
    # Ended in the period, nobody extended them.
    for days in (2, 12, 29):
        SubscriptionFactory(
            tariff=tariff,
            status=SubscriptionStatus.EXPIRED,
            started_at=NOW - timedelta(days=30 + days),
            expires_at=NOW - timedelta(days=days),
        )
    # Not counted: a trial that ended, one that ended before the period, one still running.
    SubscriptionFactory(
        tariff=trial,
        is_trial=True,
        started_at=NOW - timedelta(days=40),
        expires_at=NOW - timedelta(days=3),
        status=SubscriptionStatus.EXPIRED,
    )
    SubscriptionFactory(
        tariff=tariff,
        started_at=NOW - timedelta(days=90),
        expires_at=NOW - timedelta(days=60),
        status=SubscriptionStatus.EXPIRED,
    )

    data = last()
    assert (data.renewals, data.lapsed) == (1, 3)
    assert data.renewal_rate == Decimal("25.0")
    assert data.churn_rate == Decimal("75.0")


def test_cohort_retention_by_month_of_first_payment():
    tariff = TariffFactory()
    stays, leaves, march = CustomerFactory.create_batch(3)
    pay(stays, at=utc(2026, 1, 10, 12))
    pay(stays, at=utc(2026, 3, 1, 12))  # a later payment does not move the cohort
    SubscriptionFactory(
        customer=stays,
        tariff=tariff,
        started_at=utc(2026, 1, 10, 12),
        expires_at=utc(2026, 4, 10, 12),
    )
    pay(leaves, at=utc(2026, 1, 20, 12))
    SubscriptionFactory(
        customer=leaves,
        tariff=tariff,
        started_at=utc(2026, 1, 20, 12),
        expires_at=utc(2026, 1, 31, 20),
        status=SubscriptionStatus.EXPIRED,
    )
    # 31 Jan 20:00 UTC is 23:00 in Moscow: it ended in January.
    pay(march, at=utc(2026, 2, 28, 22))  # 1 March 01:00 in Moscow: the March cohort
    SubscriptionFactory(customer=march, tariff=tariff, started_at=utc(2026, 2, 28, 22))

    cohorts = {month: (size, cells) for month, size, cells in last().cohorts}
    assert next(iter(cohorts)) == date(2025, 4, 1)
    assert list(cohorts)[-1] == date(2026, 3, 1)
    size, cells = cohorts[date(2026, 1, 1)]
    assert size == 2
    assert [(month, n, pct) for month, n, pct in cells] == [
        (date(2026, 1, 1), 2, Decimal("100.0")),
        (date(2026, 2, 1), 1, Decimal("50.0")),
        (date(2026, 3, 1), 1, Decimal("50.0")),
    ]
    assert cohorts[date(2026, 2, 1)][0] == 0
    assert cohorts[date(2026, 3, 1)] == (1, [(date(2026, 3, 1), 1, Decimal("100.0"))])


def test_top_referrers_and_promo_codes():
    inviter, other = CustomerFactory(username="inviter"), CustomerFactory(username="other")
    for _ in range(3):
        CustomerFactory(referred_by=inviter, created_at=NOW - timedelta(days=1))
    CustomerFactory(referred_by=other, created_at=NOW - timedelta(days=2))
    CustomerFactory(referred_by=other, created_at=NOW - timedelta(days=90))  # before
    invitee = CustomerFactory(referred_by=other, created_at=NOW - timedelta(hours=2))
    payment = pay(invitee, "1000.00")
    ReferralReward.objects.create(
        payment=payment,
        inviter=other,
        invitee=invitee,
        amount=Decimal("100.00"),
        days=7,
        amount_revoked=Decimal("30.00"),
        days_revoked=2,
        created_at=NOW - timedelta(hours=1),
    )

    promo = PromoCodeFactory(code="SPRING", kind=PromoKind.PERCENT, percent=10)
    for amount, status in (("270.00", PaymentStatus.PAID), ("270.00", PaymentStatus.REFUNDED)):
        p = pay(
            amount=amount,
            status=status,
            promo=promo,
            price_before_promo=Decimal("300.00"),
            refunded_at=NOW if status == PaymentStatus.REFUNDED else None,
        )
        PromoRedemptionFactory(
            promo=promo, customer=p.customer, payment=p, discount=Decimal("30.00")
        )
    free = PromoCodeFactory(code="FREEWEEK", kind=PromoKind.FREE_DAYS, days=7, percent=None)
    PromoRedemptionFactory(promo=free, days=7, created_at=NOW - timedelta(hours=3))

    data = last()
    by_customers = [(r["referred_by__username"], r["invited"]) for r in data.referrers_by_customers]
    assert by_customers == [("inviter", 3), ("other", 2)]
    rewards = data.referrers_by_rewards
    assert [
        (r["inviter__username"], r["rewards"], r["net_amount"], r["net_days"]) for r in rewards
    ] == [("other", 1, Decimal("70.00"), 5)]
    promos = {r["promo__code"]: r for r in data.promos}
    assert promos["SPRING"]["uses"] == 2
    assert promos["SPRING"]["revenue"] == Decimal("270.00")  # the refunded one is not revenue
    assert promos["SPRING"]["discount_total"] == Decimal("60.00")
    assert promos["SPRING"]["payment__currency"] == "RUB"
    assert promos["FREEWEEK"]["uses"] == 1
    assert promos["FREEWEEK"]["days_total"] == 7
    assert promos["FREEWEEK"]["revenue"] is None


def test_gift_payments_count_under_their_tariff():
    tariff = TariffFactory(name="Month")
    pay(amount="299.00", tariff=tariff, purpose=PaymentPurpose.GIFT)
    assert [(row.label, row.payments) for row in last().by_tariff] == [("Month", 1)]
