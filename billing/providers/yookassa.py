"""YooKassa (API v3): a payment created through the API, notifications confirmed through it.

Protocol and design: docs/payments.md, "YooKassa: …" sections. Unlike Robokassa and FreeKassa,
nothing is signed: YooKassa's notifications carry no signature, and their documented check
(https://yookassa.ru/developers/using-api/webhooks, "Authenticity of notifications") is

1. the sender's address is on YooKassa's published list (``YOOKASSA_IPS``), and
2. the object's status is what the notification says, read back with ``GET /v3/payments/{id}``
   (``GET /v3/refunds/{id}``) under our own credentials.

So a notification contributes only its event name and an object id; every value we act on
(status, amount, currency, our payment id in ``metadata``) comes from the API's answer. HTTP
goes through ``YooKassaClient`` (``yookassa_api.py``); the functions that read a body or an
API object are pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from billing.exceptions import (
    CheckoutError,
    ProviderApiError,
    WebhookParseError,
    WebhookVerificationError,
)
from billing.providers.base import (
    TEXT_PLAIN,
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderNotification,
    ProviderRefund,
    amount_parse,
    info_value,
    positive_int_parse,
    remote_ip_check,
    value_preview,
)
from billing.providers.yookassa_api import API_URL, DEFAULT_TIMEOUT, YooKassaClient, object_id_check
from core.net import networks_parse

# The addresses YooKassa sends notifications from, as published in
# https://yookassa.ru/developers/using-api/webhooks ("IP addresses"); configurable per instance.
YOOKASSA_IPS: tuple[str, ...] = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11",
    "77.75.156.35",
    "77.75.154.128/25",
    "2a02:5180::/32",
)
# The events we subscribe to in the cabinet, and the status the API must confirm for each.
EVENT_STATUSES = {
    "payment.succeeded": "succeeded",
    "payment.canceled": "canceled",
    "refund.succeeded": "succeeded",
}
EVENT_KINDS = {
    "payment.succeeded": "paid",
    "payment.canceled": "canceled",
    "refund.succeeded": "refunded",
}
JSON_CONTENT_TYPE = "application/json"
# "description" of a payment: at most 128 characters (API reference, "Create a payment").
DESCRIPTION_MAX_LENGTH = 128
ORDER_ID_MAX = 2**63 - 1
LOCALES = {"ru": "ru_RU", "en": "en_US"}


class YooKassaProvider(PaymentProvider):
    """One YooKassa shop (shop id + secret key), payments with ``capture: true``."""

    code = "yookassa"
    title = "YooKassa"
    pays_with = gettext_noop("Card, SBP, SberPay")
    refunds_by_api = True

    def __init__(
        self,
        *,
        shop_id: str | int,
        secret_key: str,
        return_url: str,
        allowed_ips: Iterable[str] = YOOKASSA_IPS,
        api_url: str = API_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        shop = str(shop_id).strip()
        if not (shop and secret_key and return_url):
            raise ImproperlyConfigured("YooKassa needs shop_id, secret_key and return_url.")
        if not return_url.startswith(("https://", "http://")):
            raise ImproperlyConfigured("YooKassa return_url must be an absolute http(s) URL.")
        self.shop_id = shop
        self.return_url = return_url
        self.allowed_ips = tuple(allowed_ips)
        networks_parse(entries=self.allowed_ips)  # fail at startup on a typo, not per request
        if not isinstance(timeout, tuple):
            timeout = (float(timeout), float(timeout))
        self.client = YooKassaClient(
            shop_id=shop, secret_key=secret_key, api_url=api_url, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"<YooKassaProvider shop_id={self.shop_id!r}>"

    # -- checkout -----------------------------------------------------------------------------

    def payment_body(self, *, request: CheckoutRequest) -> dict[str, Any]:
        """The ``POST /v3/payments`` body: a one-stage payment (``capture: true``) confirmed by
        redirect; our payment id rides in ``metadata`` and comes back in every API answer."""
        return {
            "amount": {"value": f"{request.amount:.2f}", "currency": request.currency},
            "capture": True,
            "confirmation": {
                "type": "redirect",
                "return_url": self.return_url,
                "locale": LOCALES[request.language],
            },
            "description": request.description[:DESCRIPTION_MAX_LENGTH],
            "metadata": {"payment_id": str(request.payment_id), **request.custom_params},
        }

    def checkout_create(self, *, request: CheckoutRequest) -> CheckoutSession:
        """Create the payment at YooKassa (HTTP) and return its confirmation URL.

        The idempotence key makes a repeat (a timeout, a retried press) return the payment
        the first request made instead of a second one (API "Idempotency": 24 hours).
        Raises ``ProviderApiError`` (nothing was made, or repeating is safe) or
        ``CheckoutError`` (an answer we cannot use).
        """
        if not request.idempotence_key:
            raise CheckoutError("YooKassa needs an idempotence key.", reason="idempotence_key")
        answer = self.client.payment_create(
            body=self.payment_body(request=request), idempotence_key=request.idempotence_key
        )
        return checkout_session_from_answer(answer=answer, request=request)

    # -- notifications --------------------------------------------------------------------

    def params_decode(
        self, *, body: bytes, content_type: str | None, query_string: str, max_bytes: int
    ) -> Mapping[str, Any]:
        """A notification is a JSON object in a POST body (webhooks, "Notification format")."""
        return notification_body_decode(body=body, content_type=content_type, max_bytes=max_bytes)

    def notification_parse(
        self, *, params: Mapping[str, Any], remote_ip: str | None
    ) -> ProviderNotification:
        """Sender address first, then the object read back from the API (HTTP).

        Raises ``WebhookVerificationError``/``WebhookParseError`` (refused; nothing changes)
        or ``ProviderApiError`` (the API could not be asked: the delivery fails with 5xx and
        YooKassa delivers it again).
        """
        remote_ip_check(remote_ip=remote_ip, allowed_ips=self.allowed_ips)
        event, object_id = notification_event(params=params)
        try:
            if event.startswith("refund."):
                answer = self.client.refund_get(refund_id=object_id)
            else:
                answer = self.client.payment_get(payment_id=object_id)
        except ProviderApiError as exc:
            if exc.reason != "api_not_found":
                raise
            # YooKassa does not know the object: nothing to confirm (no retry will help).
            raise WebhookVerificationError(
                "YooKassa's API does not know the notification's object.",
                reason="not_confirmed",
                extra={"event": event},
            ) from exc
        return notification_confirmed(event=event, object_id=object_id, answer=answer)

    def success_response(self, *, notification: ProviderNotification) -> tuple[str, str]:
        """YooKassa needs HTTP 200 and ignores the body (webhooks, "Confirming receipt")."""
        return "OK", TEXT_PLAIN

    # -- refunds --------------------------------------------------------------------------

    def refund_create(
        self, *, provider_ref: str, amount: Decimal, currency: str, idempotence_key: str
    ) -> ProviderRefund:
        """``POST /v3/refunds`` for the whole ``amount`` (HTTP). A refund YooKassa cancelled
        raises ``ProviderApiError(refund_canceled)``; ``pending`` counts as accepted."""
        answer = self.client.refund_create(
            body={
                "payment_id": object_id_check(provider_ref),
                "amount": {"value": f"{amount:.2f}", "currency": currency},
            },
            idempotence_key=idempotence_key,
        )
        status = answer.get("status")
        refund_id = answer.get("id")
        if status == "canceled":
            details = answer.get("cancellation_details")
            raise ProviderApiError(
                "YooKassa cancelled the refund.",
                reason="refund_canceled",
                extra={"details": value_preview(details)},
            )
        if status not in ("succeeded", "pending") or not isinstance(refund_id, str):
            raise ProviderApiError(
                "YooKassa's refund answer is not usable.",
                reason="api_bad_response",
                extra={"status": value_preview(status)},
            )
        return ProviderRefund(refund_ref=refund_id, status=status)


def checkout_session_from_answer(
    *, answer: Mapping[str, Any], request: CheckoutRequest
) -> CheckoutSession:
    """The session from a ``POST /v3/payments`` answer; it must be the payment we asked for."""
    payment_id = answer.get("id")
    confirmation = answer.get("confirmation")
    url = confirmation.get("confirmation_url") if isinstance(confirmation, dict) else None
    amount = answer.get("amount")
    if answer.get("status") != "pending":
        raise CheckoutError(
            "YooKassa's payment is no longer payable.",
            reason="payment_not_pending",
            extra={"status": value_preview(answer.get("status"))},
        )
    if (
        not isinstance(payment_id, str)
        or not isinstance(url, str)
        or not url.startswith("https://")
        or len(url) > 500
    ):
        raise CheckoutError("YooKassa's answer has no payment id or URL.", reason="api_answer")
    if _money(amount) != (request.amount, request.currency):
        raise CheckoutError("YooKassa's payment has another amount.", reason="amount_mismatch")
    try:
        object_id_check(payment_id)
    except ValueError as exc:
        raise CheckoutError("YooKassa's payment id is malformed.", reason="api_answer") from exc
    return CheckoutSession(url=url, params={}, provider_ref=payment_id)


def notification_body_decode(
    *, body: bytes, content_type: str | None, max_bytes: int
) -> dict[str, Any]:
    """Decode a notification body strictly: JSON object, UTF-8, no repeated keys."""
    if len(body) > max_bytes:
        raise WebhookParseError("Notification body is too large.", reason="body_too_large")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise WebhookParseError(
            "A YooKassa notification is a JSON body.",
            reason="content_type_unsupported",
            extra={"content_type": value_preview(content_type)},
        )
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs_unique)
    except UnicodeDecodeError as exc:
        raise WebhookParseError(
            "Notification is not valid UTF-8.", reason="encoding_invalid"
        ) from exc
    except ValueError as exc:  # bad JSON, or a repeated key (_pairs_unique)
        raise WebhookParseError("Notification is not valid JSON.", reason="body_invalid") from exc
    if not isinstance(data, dict):
        raise WebhookParseError("Notification is not a JSON object.", reason="body_invalid")
    return data


def notification_event(*, params: Mapping[str, Any]) -> tuple[str, str]:
    """``(event, object id)`` of a notification body; nothing else in it is used."""
    event = params.get("event")
    obj = params.get("object")
    if params.get("type") != "notification" or not isinstance(obj, dict):
        raise WebhookParseError("Not a YooKassa notification.", reason="body_invalid")
    if event not in EVENT_STATUSES:
        raise WebhookParseError(
            "Notification event is not one we handle.",
            reason="event_unsupported",
            extra={"event": value_preview(event)},
        )
    try:
        object_id = object_id_check(obj.get("id"))
    except ValueError as exc:
        raise WebhookParseError(
            "Notification object id is malformed.",
            reason="field_invalid",
            extra={"id": value_preview(obj.get("id"))},
        ) from exc
    return event, object_id


def notification_confirmed(
    *, event: str, object_id: str, answer: Mapping[str, Any]
) -> ProviderNotification:
    """The notification as the API confirms it, or ``WebhookVerificationError`` when the
    object's status (or id) is not what the event claims."""
    status = answer.get("status")
    if answer.get("id") != object_id or status != EVENT_STATUSES[event]:
        raise WebhookVerificationError(
            "YooKassa's API does not confirm the notification.",
            reason="not_confirmed",
            extra={"event": event, "status": value_preview(status)},
        )
    amount_value, currency = _amount_fields(answer.get("amount"))
    amount = amount_parse(value=amount_value, field_name="amount.value")
    kind = EVENT_KINDS[event]
    method = answer.get("payment_method")
    raw = {"event": event, "id": object_id, "status": status}
    if kind == "refunded":
        try:
            payment_ref = object_id_check(answer.get("payment_id"))
        except ValueError as exc:
            raise WebhookParseError(
                "Refund names no payment.", reason="field_invalid", extra={"field": "payment_id"}
            ) from exc
        payment_id = 0
        raw["payment_id"] = payment_ref
    else:
        if event == "payment.succeeded" and answer.get("paid") is not True:
            raise WebhookVerificationError(
                "YooKassa's API says the payment is not paid.", reason="not_confirmed"
            )
        metadata = answer.get("metadata")
        order = metadata.get("payment_id") if isinstance(metadata, dict) else None
        payment_id = positive_int_parse(
            value=order if isinstance(order, str) else "",
            field_name="metadata.payment_id",
            max_value=ORDER_ID_MAX,
        )
        payment_ref = object_id
    return ProviderNotification(
        event_key=f"{event}:{object_id}",
        payment_id=payment_id,
        amount=amount,
        currency=currency,
        provider_ref=payment_ref,
        raw=raw,
        payment_method=info_value(method.get("type", "")) if isinstance(method, dict) else "",
        kind=kind,
        provider_ref_confirmed=True,
    )


def _amount_fields(amount: object) -> tuple[str, str]:
    if not isinstance(amount, dict):
        raise WebhookParseError("Amount is missing.", reason="field_missing")
    value, currency = amount.get("value"), amount.get("currency")
    if not isinstance(value, str) or not isinstance(currency, str) or len(currency) != 3:
        raise WebhookParseError("Amount is malformed.", reason="amount_invalid")
    return value, currency


def _money(amount: object) -> tuple[Decimal, str] | None:
    try:
        value, currency = _amount_fields(amount)
        return amount_parse(value=value, field_name="amount.value"), currency
    except WebhookParseError:
        return None


def _pairs_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"repeated key {key!r}")
        data[key] = value
    return data
