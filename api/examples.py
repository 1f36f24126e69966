"""Example bodies for the schema (``OpenApiExample``): one realistic object per resource, the
shapes the serializers produce (``api/tests/apis/test_schema.py`` checks they match)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

CUSTOMER = {
    "id": 42,
    "telegram_id": 123456789,
    "username": "alice",
    "first_name": "Alice",
    "last_name": "",
    "language": "en",
    "is_banned": False,
    "banned_reason": "",
    "bot_blocked_at": None,
    "trial_used_at": "2026-01-02T10:00:00+03:00",
    "last_seen_at": "2026-01-15T18:20:00+03:00",
    "referred_by_id": None,
    "created_at": "2026-01-02T09:58:00+03:00",
}
TARIFF_BRIEF = {"id": 3, "name": "Month"}
CUSTOMER_BRIEF = {"id": 42, "telegram_id": 123456789, "username": "alice"}
CUSTOMER_DETAIL = {
    **CUSTOMER,
    "subscriptions": [
        {
            "id": 7,
            "tariff": TARIFF_BRIEF,
            "status": "active",
            "is_running": True,
            "started_at": "2026-01-02T10:00:00+03:00",
            "expires_at": "2026-02-01T10:00:00+03:00",
            "is_trial": False,
        }
    ],
}
SUBSCRIPTION = {
    "id": 7,
    "customer": CUSTOMER_BRIEF,
    "tariff": TARIFF_BRIEF,
    "status": "active",
    "is_running": True,
    "started_at": "2026-01-02T10:00:00+03:00",
    "expires_at": "2026-02-01T10:00:00+03:00",
    "device_limit": 3,
    "traffic_limit_bytes": 0,
    "traffic_used_bytes": 1073741824,
    "node_count": 1,
    "is_trial": False,
    "keys": [{"id": 11, "node_id": 2, "node": "fra-1", "sync_state": "synced", "enable": True}],
    "created_at": "2026-01-02T10:00:00+03:00",
    "updated_at": "2026-01-02T10:00:05+03:00",
}
PAYMENT = {
    "id": 1001,
    "customer": CUSTOMER_BRIEF,
    "purpose": "subscription",
    "tariff": TARIFF_BRIEF,
    "subscription_id": 7,
    "provider": "robokassa",
    "provider_ref": "",
    "amount": "299.00",
    "currency": "RUB",
    "status": "paid",
    "description": "",
    "days_credited": 30,
    "paid_at": "2026-01-02T10:00:00+03:00",
    "expires_at": "2026-01-02T10:30:00+03:00",
    "refunded_at": None,
    "created_at": "2026-01-02T09:59:00+03:00",
}
NODE = {
    "id": 2,
    "name": "fra-1",
    "country": "DE",
    "location": "Frankfurt",
    "public_host": "fra1.vpn.example.com",
    "public_port": None,
    "is_enabled": True,
    "weight": 2,
    "max_clients": 500,
    "load": 317,
    "health": "up",
    "consecutive_failures": 0,
    "latency_ms": 37,
    "last_check_at": "2026-01-15T18:20:00+03:00",
    "last_ok_at": "2026-01-15T18:20:00+03:00",
    "last_error": "",
    "panel_generation": "v3",
    "last_reconcile_at": "2026-01-15T18:15:00+03:00",
}
NODE_DETAIL = {
    **NODE,
    "last_reconcile_result": {
        "ok": True,
        "added": 0,
        "updated": 1,
        "removed": 0,
        "unchanged": 316,
        "errors": 0,
        "at": "2026-01-15T18:15:00+03:00",
    },
    "keys": {"pending": 0, "synced": 317, "error": 0, "removing": 0, "removed": 12},
}
TARIFF = {
    "id": 3,
    "name": "Месяц",
    "name_en": "Month",
    "duration_days": 30,
    "price": "299.00",
    "currency": "RUB",
    "price_stars": 150,
    "device_limit": 3,
    "traffic_limit_gb": 0,
    "node_count": 1,
    "eligible_nodes": [],
    "is_trial": False,
    "is_active": True,
    "sort_order": 0,
}
STATISTICS = {
    "generated_at": "2026-01-15T18:20:00+03:00",
    "time_zone": "Europe/Moscow",
    "currency": "RUB",
    "subscriptions": {"active": 1250, "expiring_soon": 37, "expiring_days": 3},
    "customers": {"total": 4810, "new": {"today": 12, "last_7_days": 96, "last_30_days": 402}},
    "revenue": [
        {
            "currency": "RUB",
            "today": "3588.00",
            "last_7_days": "28704.00",
            "last_30_days": "119600.00",
        }
    ],
    "payments_paid": {"today": 12, "last_7_days": 96, "last_30_days": 400},
    "payments_by_provider": [
        {"provider": "robokassa", "status": "paid", "count": 380, "amount": "113620.00"}
    ],
    "revenue_by_day": [{"day": "2026-01-15", "amount": "3588.00"}],
    "active_by_day": [{"day": "2026-01-15", "count": 1250}],
    "nodes": [
        {
            "id": 2,
            "name": "fra-1",
            "health": "up",
            "load": 317,
            "max_clients": 500,
            "keys_error": 0,
            "keys_stuck": 0,
        }
    ],
    "keys": {"error": 0, "stuck": 0},
    "webhooks_failed": 0,
    "window": {
        "since": "2026-01-01T00:00:00+03:00",
        "until": None,
        "revenue": [{"currency": "RUB", "amount": "54120.00"}],
    },
}


def one(name: str, item: dict, *, status: int = 200) -> OpenApiExample:
    """A response example; on a list endpoint drf-spectacular wraps it in a page."""
    return OpenApiExample(name, value=item, response_only=True, status_codes=[str(status)])


def request(name: str, body: dict) -> OpenApiExample:
    return OpenApiExample(name, value=body, request_only=True)
