"""GET /api/v1/statistics/: the console dashboard's figures (``console.selectors.dashboard_get``)
and, for a window of your choosing, revenue by billing's one definition
(``billing.selectors.revenue_by_currency``). Nothing here counts revenue or "running" itself.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import examples
from api.apis.base import ApiViewMixin
from api.schema import BAD_FILTER, ok, read_errors
from api.scopes import (
    PERM_VIEW_CUSTOMER,
    PERM_VIEW_NODE,
    PERM_VIEW_PAYMENT,
    PERM_VIEW_SUBSCRIPTION,
)
from api.serializers import StatisticsQuerySerializer, StatisticsSerializer
from billing.selectors import revenue_by_currency
from console.selectors import DASHBOARD_EXPIRING_DAYS, Dashboard, dashboard_get

# The dashboard's periods, under names that are identifiers.
PERIODS = {"today": "today", "7d": "last_7_days", "30d": "last_30_days"}


def statistics_body(*, dashboard: Dashboard, window: dict | None) -> dict:
    def periods(values: dict) -> dict:
        return {name: values[key] for key, name in PERIODS.items()}

    return {
        "generated_at": dashboard.now,
        "time_zone": str(dashboard.tz),
        "currency": dashboard.currency,
        "subscriptions": {
            "active": dashboard.subscriptions_active,
            "expiring_soon": dashboard.subscriptions_expiring,
            "expiring_days": DASHBOARD_EXPIRING_DAYS,
        },
        "customers": {
            "total": dashboard.customers_total,
            "new": periods(dashboard.customers_new),
        },
        "revenue": [
            {"currency": currency, **periods(amounts)}
            for currency, amounts in dashboard.revenue.items()
        ],
        "payments_paid": periods(dashboard.payments_paid),
        "payments_by_provider": [
            {"provider": provider, "status": state, "count": count, "amount": amount}
            for provider, state, count, amount in dashboard.payments_by_provider
        ],
        "revenue_by_day": [
            {"day": point.day, "amount": point.value} for point in dashboard.revenue_chart
        ],
        "active_by_day": [
            {"day": point.day, "count": point.value} for point in dashboard.active_chart
        ],
        "nodes": [
            {
                "id": row.node.pk,
                "name": row.node.name,
                "health": row.node.health,
                "load": row.load,
                "max_clients": row.node.max_clients,
                "keys_error": row.errors,
                "keys_stuck": row.stuck,
            }
            for row in dashboard.nodes
        ],
        "keys": {"error": dashboard.keys_error, "stuck": dashboard.keys_stuck},
        "webhooks_failed": dashboard.webhooks_failed_count,
        "window": window,
    }


class StatisticsApi(ApiViewMixin, APIView):
    required_perms = (
        PERM_VIEW_CUSTOMER,
        PERM_VIEW_SUBSCRIPTION,
        PERM_VIEW_PAYMENT,
        PERM_VIEW_NODE,
    )

    @extend_schema(
        summary="Statistics",
        description="The console dashboard's figures: running and expiring subscriptions, "
        "customers, revenue (paid payments by paid_at, per currency; refunds leave it) for "
        "today, 7 and 30 calendar days, payments by provider, 30 days of revenue and running "
        "subscriptions, node health and stuck keys, failed payment notifications. With "
        "?since= and/or ?until=, also revenue per currency in that window. Any scope.",
        parameters=[StatisticsQuerySerializer],
        examples=[examples.one("figures", examples.STATISTICS)],
        responses={200: ok(StatisticsSerializer, "The figures."), 400: BAD_FILTER, **read_errors()},
    )
    def get(self, request):
        query = StatisticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since, until = query.validated_data.get("since"), query.validated_data.get("until")
        window = None
        if since is not None or until is not None:
            amounts = revenue_by_currency(since=since, until=until)
            window = {
                "since": since,
                "until": until,
                "revenue": [
                    {"currency": currency, "amount": amount or Decimal("0.00")}
                    for currency, amount in amounts.items()
                ],
            }
        body = statistics_body(dashboard=dashboard_get(), window=window)
        return Response(StatisticsSerializer(body).data)
