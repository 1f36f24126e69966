"""Every place that shows revenue shows billing's one definition
(``billing.selectors.revenue_by_currency``): the dashboard, the daily summary, /stats and the
metrics. The data holds what must not count (refunded, pending, failed, cancelled, outside
the window) next to what must, in two currencies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import PaymentStatus
from billing.selectors import revenue_by_currency
from billing.tests.factories import PaymentFactory
from console.alerts import daily_summary_get
from console.selectors import dashboard_get
from telegram_bot.selectors import REVENUE_WINDOW, bot_stats_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def now(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.PAYMENT_CURRENCY = "RUB"
    now = timezone.now()

    def payment(amount, ago, status=PaymentStatus.PAID, currency="RUB"):
        paid_at = now - ago if status in (PaymentStatus.PAID, PaymentStatus.REFUNDED) else None
        PaymentFactory(
            amount=Decimal(amount),
            status=status,
            paid_at=paid_at,
            currency=currency,
            refunded_at=now if status == PaymentStatus.REFUNDED else None,
        )

    payment("100.00", timedelta(minutes=5))
    payment("50.50", timedelta(hours=20))
    payment("200.00", timedelta(days=3))
    payment("1000.00", timedelta(days=15))
    payment("5000.00", timedelta(days=45))
    payment("9.99", timedelta(minutes=30), currency="USD")
    payment("300.00", timedelta(minutes=10), status=PaymentStatus.REFUNDED)
    payment("301.00", timedelta(days=2), status=PaymentStatus.REFUNDED, currency="USD")
    payment("400.00", timedelta(0), status=PaymentStatus.PENDING)
    payment("500.00", timedelta(0), status=PaymentStatus.FAILED)
    payment("600.00", timedelta(0), status=PaymentStatus.CANCELLED)
    return now


def test_the_dashboard_agrees(now):
    dash = dashboard_get(now=now)
    for key, start in dash.starts.items():
        expected = revenue_by_currency(since=start, until=now)
        shown = {code: totals[key] for code, totals in dash.revenue.items() if totals[key]}
        assert shown == expected, key
    chart = sum(point.value for point in dash.revenue_chart)
    assert chart == revenue_by_currency(since=dash.starts["30d"], until=now)["RUB"]


def test_the_daily_summary_agrees(now):
    summary = daily_summary_get(now=now)
    assert summary.revenue == revenue_by_currency(since=now - timedelta(days=1), until=now)
    assert summary.revenue == {"RUB": Decimal("150.50"), "USD": Decimal("9.99")}
    assert summary.payments == 3
    # Refunds are reported on their own line: the refunds made in the 24 hours.
    assert summary.refunded == {"RUB": Decimal("300.00"), "USD": Decimal("301.00")}


def test_stats_agree(now):
    stats = bot_stats_get(now=now)
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    assert stats.revenue_today == revenue_by_currency(since=midnight, until=now)
    assert stats.revenue_30d == revenue_by_currency(since=now - REVENUE_WINDOW, until=now)
    assert stats.revenue_30d == {"RUB": Decimal("1350.50"), "USD": Decimal("9.99")}


def test_the_metrics_agree(now, scrape):
    result = scrape()
    for currency, amount in revenue_by_currency().items():
        assert result.value("vpnsite_revenue_amount", currency=currency) == float(amount)
    assert result.value("vpnsite_revenue_amount", currency="RUB") == 6350.50
    assert result.value("vpnsite_revenue_amount", currency="USD") == 9.99
