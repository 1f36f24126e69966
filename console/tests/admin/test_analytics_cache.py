"""The analytics page read from the cache (console/analytics_cache.py): a warm page runs no
figure query, a copy is replaced after its time or by "Recalculate", the beat task fills the
presets, only those allowed may recalculate, kept figures equal computed ones, and the page
still works with the cache down."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from console import analytics_cache
from console.analytics import analytics_get
from console.analytics_cache import (
    ANALYTICS_CACHE_SECONDS,
    PRESETS,
    AnalyticsQuery,
    analytics_cached,
)
from console.tasks import analytics_precompute_task
from console.tests.admin.test_analytics_page import URL, fill

pytestmark = pytest.mark.django_db

# The session, the user and its permissions (own and groups'), nothing else: no query
# reads payments, subscriptions or customers.
WARM_QUERIES = 4


def figure_queries(queries) -> list[str]:
    tables = ("billing_payment", "subscriptions_subscription", "accounts_customer")
    return [q["sql"] for q in queries if any(table in q["sql"] for table in tables)]


def paid(amount: str, *, days_ago: int = 1):
    return PaymentFactory(
        customer=CustomerFactory(),
        amount=Decimal(amount),
        status=PaymentStatus.PAID,
        paid_at=timezone.now() - timedelta(days=days_ago),
    )


def test_a_warm_page_runs_no_figure_query(as_operator):
    fill(3)
    cold = as_operator.get(URL)
    assert cold.context["fresh"].from_cache is False
    with CaptureQueriesContext(connection) as queries:
        warm = as_operator.get(URL)
    assert warm.status_code == 200
    assert warm.context["fresh"].from_cache is True
    assert len(queries) <= WARM_QUERIES, [q["sql"] for q in queries]
    assert figure_queries(queries.captured_queries) == []
    assert warm.context["a"].revenue == cold.context["a"].revenue
    assert 'id="analytics-freshness"' in warm.content.decode()


def test_a_copy_serves_new_payments_only_after_its_time(as_operator):
    paid("100.00")
    assert as_operator.get(URL).context["a"].revenue["RUB"] == Decimal("100.00")
    paid("50.00")
    # Still the kept copy …
    assert as_operator.get(URL).context["a"].revenue["RUB"] == Decimal("100.00")
    # … until it is older than ANALYTICS_CACHE_SECONDS.
    later = timezone.now() + timedelta(seconds=ANALYTICS_CACHE_SECONDS + 1)
    with mock.patch("console.analytics_cache.timezone.now", return_value=later):
        entry = analytics_cached(AnalyticsQuery(grouping="day", days=30))
    assert entry.from_cache is False
    assert entry.data.revenue["RUB"] == Decimal("150.00")
    assert as_operator.get(URL).context["a"].revenue["RUB"] == Decimal("150.00")


def test_recalculate_replaces_the_copy(as_operator):
    paid("100.00")
    as_operator.get(URL, {"period": "90"})
    paid("50.00")
    assert as_operator.get(URL, {"period": "90"}).context["a"].revenue["RUB"] == Decimal("100.00")
    # The message is translated when it is made: ask for English on the POST too.
    response = as_operator.post(URL, {"period": "90"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?period=90&group=week"
    page = as_operator.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["a"].revenue["RUB"] == Decimal("150.00")
    assert page.context["fresh"].from_cache is True
    assert "Figures recalculated in" in page.content.decode()


def test_recalculate_a_custom_period_keeps_its_dates(as_operator):
    today = timezone.localdate()
    params = {"date_from": (today - timedelta(days=3)).isoformat(), "date_to": today.isoformat()}
    response = as_operator.post(URL, params)
    assert response.status_code == 302
    assert "period=custom" in response["Location"]
    assert f"date_from={params['date_from']}" in response["Location"]
    assert as_operator.get(response["Location"]).context["fresh"].from_cache is True


def test_recalculate_with_bad_input_is_a_form_error_and_keeps_nothing(as_operator):
    response = as_operator.post(URL, {"date_from": "2026-02-01"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Give both dates" in response.content.decode()
    assert not any(key for key in cache._cache if "console:analytics" in key)


def test_recalculate_needs_the_permission_and_csrf(as_support, operator_user, client):
    paid("100.00")
    with mock.patch.object(analytics_cache, "analytics_get") as compute:
        assert as_support.post(URL, {"period": "30"}).status_code == 403
        assert as_support.get(URL).status_code == 403
    compute.assert_not_called()
    # Kept figures are not shown to someone without the permission either.
    analytics_cached(AnalyticsQuery(grouping="day", days=30))
    assert as_support.get(URL).status_code == 403
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(operator_user)
    assert csrf_client.post(URL, {"period": "30"}).status_code == 403


def test_the_beat_task_fills_the_presets(as_operator):
    fill(3)
    assert analytics_precompute_task.apply().get() is not None
    for days, grouping in PRESETS:
        kept = cache.get(AnalyticsQuery(grouping=grouping, days=days).cache_key)
        assert kept is not None, (days, grouping)
        assert kept.data.period.grouping == grouping
    with CaptureQueriesContext(connection) as queries:
        for days, grouping in PRESETS:
            response = as_operator.get(URL, {"period": str(days)})
            assert response.context["fresh"].from_cache is True
            assert response.context["a"].period.grouping == grouping
    assert figure_queries(queries.captured_queries) == []


def test_beat_recomputes_the_presets_before_their_copies_expire(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-precompute"]
    assert entry["task"] == "console.tasks.analytics_precompute_task"
    assert 0 < entry["schedule"].total_seconds() < ANALYTICS_CACHE_SECONDS


def test_kept_figures_equal_computed_ones(as_operator):
    fill(6)
    now = timezone.now()
    for days, grouping in PRESETS:
        query = AnalyticsQuery(grouping=grouping, days=days)
        analytics_cache.analytics_compute(query, now=now)
        kept = analytics_cached(query, now=now)
        assert kept.from_cache is True
        assert kept.data == analytics_get(period=query.period(now), now=now)


def test_the_cache_down_computes_on_the_request(as_operator, caplog):
    paid("100.00")
    down = RedisConnectionError("Connection refused")
    with (
        mock.patch.object(cache, "get", side_effect=down),
        mock.patch.object(cache, "set", side_effect=down),
    ):
        response = as_operator.get(URL, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        assert response.context["a"].revenue["RUB"] == Decimal("100.00")
        assert response.context["fresh"].from_cache is False
        assert "calculated for this page" in response.content.decode()
        assert as_operator.post(URL, {"period": "30"}).status_code == 302
        # The beat task gives up after the first preset instead of loading the database.
        assert len(analytics_cache.analytics_precompute()) == 1
    assert "the cache is unreachable" in caplog.text


def test_a_copy_from_older_code_is_not_read(as_operator):
    paid("100.00")
    query = AnalyticsQuery(grouping="day", days=30)
    cache.set(query.cache_key, {"something": "else"}, 60)
    assert analytics_cached(query).from_cache is False
    assert query.cache_key.startswith(f"console:analytics:v{analytics_cache.CACHE_VERSION}:")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's JIT")
def test_the_project_s_postgresql_connections_run_without_jit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
