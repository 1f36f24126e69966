"""Billing integration errors (a hierarchy separate from ApplicationError).

Every error carries a short machine ``reason`` (stable, snake_case, safe to log, store in
``WebhookEvent.outcome`` and put in a 4xx reply body) and a human ``message``. Neither ever
contains a secret: no passwords, no secret words and, above all, never the signature we
*expected* -- echoing it back would hand an attacker a valid signature for the data they sent.
``extra`` holds developer detail (field names, truncated received values).
"""

from __future__ import annotations

from typing import Any


class PaymentError(Exception):
    """Base class for every billing integration failure."""

    default_reason = "payment_error"

    def __init__(
        self, message: str, *, reason: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.extra = extra or {}

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class ProviderNotConfiguredError(PaymentError):
    """The provider code is unknown or its credentials are not configured."""

    default_reason = "provider_not_configured"


class CheckoutError(PaymentError):
    """A checkout request this provider cannot turn into a payment link."""

    default_reason = "checkout_invalid"


class WebhookError(PaymentError):
    """A notification was rejected; the view answers 4xx and changes no state.

    The common parent lets the webhook view catch one type for both failure kinds below.
    """

    default_reason = "webhook_rejected"


class WebhookVerificationError(WebhookError):
    """The notification is not authentic: bad/missing signature, foreign merchant, bad IP."""

    default_reason = "verification_failed"


class WebhookParseError(WebhookError):
    """The notification is malformed: bad encoding, missing field, non-numeric amount..."""

    default_reason = "parse_failed"


class ProviderApiError(PaymentError):
    """A provider's HTTP API did not do what we asked: timeout, unreachable, an error reply or
    an answer we cannot read (YooKassa: ``billing/providers/yookassa_api.py``). Nothing on our
    side changed; repeating the same request (same idempotence key) is safe."""

    default_reason = "api_error"
