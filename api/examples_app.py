"""Example bodies of the subscriber API's schema (``api/tests/apis/test_schema.py`` checks
they have the serializers' fields), and its error responses."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from api.serializers import ErrorSerializer

FEED = "https://vpn.example.com/sub/Qm9yZWFs"
PROFILE = {
    "telegram_id": 123456789,
    "username": "alice",
    "first_name": "Alice",
    "language": "en",
    "support_url": "https://t.me/vpn_support",
    "bot_username": "vpnsite_bot",
    "balance": "150.00",
    "balance_currency": "RUB",
}
CARD = {
    "id": 7,
    "number": 1,
    "tariff_name": "Month",
    "status": "active",
    "is_trial": False,
    "running": True,
    "over_traffic": False,
    "expires_at": "2026-02-01T10:00:00+03:00",
    "traffic_used_bytes": 1073741824,
    "traffic_limit_bytes": 53687091200,
    "traffic_reset": "never",
    "traffic_reset_at": None,
    "device_limit": 3,
    "hwid_device_limit": 3,
    "device_count": 1,
    "locations": ["🇩🇪 Frankfurt"],
    "feed_url": FEED,
    "apps": [
        {
            "app": "happ",
            "name": "Happ",
            "deeplink": f"happ://add/{FEED}",
            "open_url": f"{FEED}/open/happ",
        }
    ],
}
REMOVALS = {"limit": 3, "used": 0, "left": 3, "next_at": None}
DETAIL = {
    "card": CARD,
    "keys": [{"place": "🇩🇪 Frankfurt", "link": "vless://0f1e…@fra-1.example.com:443?…#fra-1"}],
    "devices": [
        {
            "id": 5,
            "label": "Pixel 8",
            "details": "Android 15 · Happ",
            "last_seen_at": "2026-01-15T18:20:00+03:00",
        }
    ],
    "removals": REMOVALS,
}
TARIFF = {
    "id": 3,
    "name": "Month",
    "duration_days": 30,
    "device_limit": 3,
    "traffic_limit_gb": 50,
    "price": "299.00",
    "currency": "RUB",
}
TARGET = {
    "id": 7,
    "number": 1,
    "tariff_name": "Month",
    "expires_at": "2026-02-01T10:00:00+03:00",
    "running": True,
}
BUY_OPTIONS = {
    "tariffs": [TARIFF],
    "providers": [{"code": "robokassa", "label": "💳 Card, SBP · Robokassa"}],
    "target": TARGET,
    "refused": "",
    "choices": [],
    "balance": "350.00",
    "balance_tariffs": [3],
}
CHECKOUT = {
    "payment_id": 1001,
    "payment_number": 3,
    "url": "https://auth.robokassa.ru/Merchant/Index.aspx?MerchantLogin=demo&InvId=1001",
    "amount": "299.00",
    "currency": "RUB",
    "provider_label": "💳 Card, SBP · Robokassa",
    "tariff": TARIFF,
    "target": TARGET,
    "expires_after": "2026-03-03T10:00:00+03:00",
    "valid_minutes": 60,
}
CHECKOUT_BALANCE_REQUEST = {
    "tariff": 3,
    "provider": "balance",
    "subscription": 7,
    "country": "",
    "promo_code": "SPRING10",
}
CHECKOUT_BALANCE = {
    **CHECKOUT,
    "url": "",
    "amount": "269.10",
    "provider_label": "💰 From the balance",
}
TARGET_END = "2026-03-03T10:00:00+03:00"
PAYMENT = {"id": 1001, "status": "paid", "subscription": 7, "paid_at": "2026-01-15T18:22:00+03:00"}

BALANCE_PAID = {"payment": PAYMENT, "credited": True, "balance": "80.90", "expires_at": TARGET_END}
BALANCE = {
    "balance": "80.90",
    "currency": "RUB",
    "entries": [
        {
            "id": 12,
            "created_at": "2026-01-15T18:22:00+03:00",
            "amount": "-269.10",
            "balance_after": "80.90",
            "kind": "purchase",
            "kind_label": "purchase",
        },
        {
            "id": 11,
            "created_at": "2026-01-15T18:10:00+03:00",
            "amount": "350.00",
            "balance_after": "350.00",
            "kind": "top_up",
            "kind_label": "top-up",
        },
    ],
}
PROMO_OFFER = {
    "code": "SPRING10",
    "applies": True,
    "error": "",
    "price": "269.10",
    "price_before": "299.00",
    "currency": "RUB",
    "days": 0,
    "free": False,
    "balance_pays": True,
}
FREE = {
    "subscription": 8,
    "title": "Subscription #2 · Month",
    "expires_at": "2026-02-14T18:22:00+03:00",
    "days": 30,
}


def one(name: str, value: dict) -> OpenApiExample:
    """A response example; drf-spectacular wraps it in a list for a list response."""
    return OpenApiExample(name, value=value, response_only=True, status_codes=["200"])


def request(name: str, value: dict) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def _error(name: str, code: str, message: str, fields: dict | None = None) -> OpenApiExample:
    return OpenApiExample(
        name, value={"code": code, "message": message, "fields": fields or {}}, status_codes=[]
    )


def _response(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


def errors(*, not_found: bool = False, rejected: str = "", invalid: dict | None = None) -> dict:
    """401, 403 and 429 of every call; 404 for one of the customer's objects; 400."""
    responses = {
        401: _response(
            "No initData, or initData that is forged, malformed or too old.",
            _error("none", "not_authenticated", "Authentication credentials were not provided."),
            _error("forged", "init_data_invalid", "initData's hash does not match."),
            _error("old", "init_data_expired", "initData has expired: reopen the Mini App."),
        ),
        403: _response(
            "The customer is banned.",
            _error("banned", "customer_banned", "Your account is blocked."),
        ),
        429: _response(
            "Over MINIAPP_RATE_PER_MINUTE; Retry-After says when to try again.",
            _error("throttled", "throttled", "Request was throttled. Expected available in 9 s."),
        ),
    }
    if not_found:
        responses[404] = _response(
            "Not one of this customer's (whatever the id).",
            _error("not found", "not_found", "Not found."),
        )
    if rejected or invalid:
        examples = []
        if invalid:
            examples.append(_error("bad input", "invalid", "Invalid input.", invalid))
        if rejected:
            examples.append(_error("refused", "rejected", rejected))
        responses[400] = _response("Bad input, or a rule refused it; nothing changed.", *examples)
    return responses


REFERRAL = {
    "link": "https://t.me/vpnsite_bot?start=k3vq9x2m",
    "percent": 10,
    "days": 0,
    "every": False,
    "stats": {"invited": 4, "paid": 2, "earned": "59.80", "days": 0},
}
