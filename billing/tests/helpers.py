"""Signed notifications as the providers send them (signed by devtools.payment_signing, the
documented formulas: docs/payments.md "Robokassa: Result URL", "FreeKassa: notification"),
and a snapshot of everything a notification may change."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from billing.models import Payment
from billing.providers import CheckoutRequest
from core.models import AuditLog
from devtools.payment_signing import freekassa_signature, robokassa_signature
from notifications.models import OutboxMessage
from subscriptions.models import Subscription

ROBOKASSA = (
    "billing.providers.robokassa.RobokassaProvider",
    {"login": "demo-shop", "password1": "p1-secret", "password2": "p2-secret"},
)
FREEKASSA = (
    "billing.providers.freekassa.FreeKassaProvider",
    {"merchant_id": "12345", "secret1": "s1", "secret2": "s2", "check_ip": True},
)
FK_IP = "168.119.157.136"
ROBOKASSA_URL = "/api/payments/robokassa/result/"
FREEKASSA_URL = "/api/payments/freekassa/notify/"
FORM = "application/x-www-form-urlencoded"


def robokassa_params(
    payment_id: int,
    out_sum: str = "299.00",
    *,
    password: str = "p2-secret",
    shp: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """A ResultURL notification, signed as Robokassa signs it (upper-case hex)."""
    shp = {"Shp_user": "7"} if shp is None else shp
    signature = robokassa_signature(
        out_sum=out_sum, inv_id=payment_id, password=password, shp=shp
    ).upper()
    params = {
        "OutSum": out_sum,
        "InvId": str(payment_id),
        "Fee": "11.66",
        "EMail": "buyer@example.com",
        "SignatureValue": signature,
        "PaymentMethod": "BankCard",
        "IncCurrLabel": "BankCardPSR",
        **shp,
    }
    params.update(extra)
    return params


def freekassa_params(
    payment_id: int,
    amount: str = "299",
    *,
    merchant: str = "12345",
    secret: str = "s2",
    intid: str = "123456789",
    **extra: str,
) -> dict[str, str]:
    """A notification as FreeKassa sends it (lower-case hex)."""
    params = {
        "MERCHANT_ID": merchant,
        "AMOUNT": amount,
        "intid": intid,
        "MERCHANT_ORDER_ID": str(payment_id),
        "P_EMAIL": "buyer@example.com",
        "P_PHONE": "",
        "CUR_ID": "44",
        "SIGN": freekassa_signature(
            merchant_id=merchant, amount=amount, secret=secret, order_id=payment_id
        ),
        "us_user": "7",
        "payer_account": "",
        "commission": "0",
    }
    params.update(extra)
    return params


def send(client, url: str, params: dict[str, str] | bytes, *, method: str = "POST", **extra):
    """POST the params as a form body (or raw bytes), or GET them as a query string."""
    if method == "GET":
        return client.get(f"{url}?{urlencode(params)}", **extra)
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    return client.generic(method, url, body, content_type=extra.pop("content_type", FORM), **extra)


def is_success(response) -> bool:
    body = response.content.decode("utf-8", "replace")
    return response.status_code == 200 and (body.startswith("OK") or body == "YES")


def snapshot() -> dict:
    """Everything a notification could change, as plain values (compare before/after)."""
    return {
        "payments": list(
            Payment.objects.order_by("pk").values_list(
                "pk",
                "status",
                "subscription_id",
                "days_credited",
                "paid_at",
                "provider_ref",
                "amount",
                "refunded_at",
            )
        ),
        "subscriptions": list(
            Subscription.objects.order_by("pk").values_list("pk", "status", "expires_at")
        ),
        "audit": list(AuditLog.objects.order_by("pk").values_list("pk", "event_type")),
        "outbox": list(OutboxMessage.objects.order_by("pk").values_list("pk", "kind", "chat_id")),
    }


def url_name(provider: str) -> str:
    return reverse(
        f"billing:{'robokassa-result' if provider == 'robokassa' else 'freekassa-notify'}"
    )


def mark_paid(payment: Payment, *, amount: str = "299.00", provider_ref: str = ""):
    """``payment_mark_paid`` with a verified notification for `payment`, as a view would."""
    from decimal import Decimal

    from billing.providers import ProviderNotification
    from billing.services.payments import payment_mark_paid

    return payment_mark_paid(
        payment_id=payment.pk,
        provider=payment.provider,
        notification=ProviderNotification(
            event_key=str(payment.pk),
            payment_id=payment.pk,
            amount=Decimal(amount),
            currency=None,
            provider_ref=provider_ref,
            raw={},
        ),
    )


def checkout_request(**overrides) -> CheckoutRequest:
    """Order 42 for 299.00 RUB, in Russian, with ``user=7``."""
    kwargs = {
        "payment_id": 42,
        "amount": Decimal("299.00"),
        "currency": "RUB",
        "description": "Order 42",
        "language": "ru",
        "custom_params": {"user": "7"},
        **overrides,
    }
    return CheckoutRequest(**kwargs)


# --- YooKassa: its API mocked with `responses` (docs/payments.md "YooKassa: …") ---------------

YOOKASSA_API = "https://api.yookassa.test/v3/"
YOOKASSA = (
    "billing.providers.yookassa.YooKassaProvider",
    {
        "shop_id": "100500",
        "secret_key": "test_yk_secret",
        "return_url": "https://vpn.example/pay/success/",
        "api_url": YOOKASSA_API,
        "timeout": 2,
    },
)
YK_IP = "185.71.76.10"
YOOKASSA_URL = "/api/payments/yookassa/notify/"
JSON = "application/json"


def yk_id(number: int) -> str:
    """A YooKassa-looking object id."""
    return f"2d6d597{number:x}-000f-5000-9000-145f6df21d6f"[-36:]


def yookassa_payment(
    payment_id: int,
    *,
    object_id: str | None = None,
    status: str = "succeeded",
    amount: str = "299.00",
    currency: str = "RUB",
    **extra,
) -> dict:
    """A payment object as ``GET /v3/payments/{id}`` returns it."""
    data = {
        "id": object_id or yk_id(payment_id),
        "status": status,
        "paid": status in ("succeeded", "waiting_for_capture"),
        "amount": {"value": amount, "currency": currency},
        "created_at": "2026-12-07T10:00:00.000Z",
        "description": f"Payment {payment_id}",
        "metadata": {"payment_id": str(payment_id)},
        "payment_method": {"type": "sbp", "id": "x", "saved": False},
        "recipient": {"account_id": "100500", "gateway_id": "1"},
        "refundable": status == "succeeded",
        "test": True,
    }
    if status == "pending":
        data["confirmation"] = {
            "type": "redirect",
            "confirmation_url": f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={data['id']}",
        }
    data.update(extra)
    return data


def yookassa_refund(payment_ref: str, *, refund_id: str = "", amount: str = "299.00", **extra):
    """A refund object as ``GET /v3/refunds/{id}`` (or ``POST /v3/refunds``) returns it."""
    return {
        "id": refund_id or f"{payment_ref[:-4]}ffff",
        "payment_id": payment_ref,
        "status": "succeeded",
        "amount": {"value": amount, "currency": "RUB"},
        "created_at": "2026-12-07T11:00:00.000Z",
        **extra,
    }


def yookassa_notification(event: str, obj: dict) -> bytes:
    """A notification body: the event and the object as it was when the status changed."""
    import json

    return json.dumps({"type": "notification", "event": event, "object": obj}).encode()
