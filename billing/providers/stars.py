"""Telegram Stars (currency ``XTR``): paid inside Telegram through an invoice the bot sends.

There is no payment page and no server-to-server notification: the bot sends ``sendInvoice``
(empty ``provider_token``, one ``LabeledPrice`` whose ``amount`` is whole stars), Telegram asks
the bot a ``pre_checkout_query`` it must answer within 10 seconds, then delivers a
``successful_payment`` message, which is the proof of payment (docs/payments.md "Telegram
Stars"; https://core.telegram.org/bots/payments-stars,
https://core.telegram.org/bots/api#sendinvoice, https://core.telegram.org/bots/api#successfulpayment).

The bot stores that message's update as a ``WebhookEvent`` (JSON body) and runs it through
the same protocol as the other providers' notifications; this class parses it. The invoice
``payload`` is our payment id signed with Django's signing (``SECRET_KEY``), so a payload
that we did not make never names a payment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from django.core import signing

from billing.exceptions import CheckoutError, WebhookParseError, WebhookVerificationError
from billing.providers.base import (
    TEXT_PLAIN,
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderNotification,
    field_required,
    value_preview,
)

STARS = "stars"
STARS_CURRENCY = "XTR"
_PAYLOAD_SALT = "billing.stars.invoice"
# Telegram's invoice payload is 1-128 bytes (https://core.telegram.org/bots/api#sendinvoice).
PAYLOAD_MAX_BYTES = 128
_STARS_RE = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)
# Charge ids are Telegram's opaque strings; we keep them as they are, within reason.
_CHARGE_ID_RE = re.compile(r"[\x21-\x7e]{1,128}", re.ASCII)


def stars_payload(payment_id: int) -> str:
    """The invoice payload of payment `payment_id`: ``"<id>:<signature>"``."""
    return signing.Signer(salt=_PAYLOAD_SALT).sign(str(payment_id))


def stars_payload_payment_id(payload: str) -> int:
    """The payment id a payload we signed names; ``WebhookVerificationError`` otherwise."""
    try:
        value = signing.Signer(salt=_PAYLOAD_SALT).unsign(payload)
    except (signing.BadSignature, TypeError) as exc:
        raise WebhookVerificationError(
            "Invoice payload is not one we signed.",
            reason="payload_invalid",
            extra={"payload": value_preview(payload)},
        ) from exc
    if not value.isascii() or not value.isdigit():
        raise WebhookVerificationError(
            "Invoice payload names no payment.", reason="payload_invalid"
        )
    return int(value)


def stars_amount_parse(value: Any) -> Decimal:
    """``total_amount``: a positive whole number of stars (no fractions: XTR has exp 0)."""
    text = str(value)
    if isinstance(value, bool) or not _STARS_RE.fullmatch(text):
        raise WebhookParseError(
            "total_amount is not a positive whole number of stars.",
            reason="amount_invalid",
            extra={"value": value_preview(value)},
        )
    return Decimal(text)


class StarsProvider(PaymentProvider):
    code: ClassVar[str] = STARS
    title: ClassVar[str] = "⭐ Telegram Stars"

    def checkout_create(self, *, request: CheckoutRequest) -> CheckoutSession:
        """Stars have no payment link: the bot sends an invoice (``billing.services.stars``)."""
        raise CheckoutError(
            "Telegram Stars are paid through an invoice in the bot, not a link.",
            reason="invoice_only",
            extra={"payment_id": request.payment_id},
        )

    def params_decode(
        self, *, body: bytes, content_type: str | None, query_string: str, max_bytes: int | None
    ) -> dict[str, str]:
        """The stored update (JSON, as the Bot API sent it) → the ``successful_payment``
        fields and the payer's id, as strings."""
        if max_bytes is not None and len(body) > max_bytes:
            raise WebhookParseError("Update is too large.", reason="body_too_large")
        try:
            update = json.loads(body.decode("utf-8"))
            message = update["message"]
            payment = message["successful_payment"]
            payer = message["from"]["id"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise WebhookParseError(
                "Not an update with a successful_payment message.", reason="body_invalid"
            ) from exc
        if not isinstance(payment, dict):
            raise WebhookParseError("successful_payment is not an object.", reason="body_invalid")
        params = {
            key: str(payment[key])
            for key in (
                "currency",
                "total_amount",
                "invoice_payload",
                "telegram_payment_charge_id",
                "provider_payment_charge_id",
            )
            if payment.get(key) is not None
        }
        params["user_id"] = str(payer)
        return params

    def notification_parse(
        self, *, params: Mapping[str, str], remote_ip: str | None
    ) -> ProviderNotification:
        """Verify the payload's signature, then parse the amount and the charge id.

        The currency is passed on as received: a payment in anything but its own currency
        (XTR) is refused by the credit service as a mismatch, with an alert.
        """
        payment_id = stars_payload_payment_id(field_required(params=params, name="invoice_payload"))
        charge_id = field_required(params=params, name="telegram_payment_charge_id")
        if not _CHARGE_ID_RE.fullmatch(charge_id):
            raise WebhookParseError(
                "telegram_payment_charge_id is malformed.",
                reason="field_invalid",
                extra={"value": value_preview(charge_id)},
            )
        amount = stars_amount_parse(field_required(params=params, name="total_amount"))
        currency = field_required(params=params, name="currency").upper()
        return ProviderNotification(
            # One credit per Telegram charge (WebhookEvent's "one PROCESSED per key").
            event_key=charge_id,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            provider_ref=charge_id,
            raw=dict(params),
        )

    def success_response(self, *, notification: ProviderNotification) -> tuple[str, str]:
        return "OK", TEXT_PLAIN
