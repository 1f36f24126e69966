"""FreeKassa SCI: payment form links and "URL оповещения" notification verification.

Formulas, reply bodies and pitfalls: docs/payments.md, "FreeKassa: …" sections.

- Form:         md5(m:oa:secret1:currency:o)  (the legacy formula without currency is wrong)
- Notification: md5(MERCHANT_ID:AMOUNT:secret2:MERCHANT_ORDER_ID), AMOUNT as received;
  MERCHANT_ID must be ours; the sender must be on the published IP list; reply ``YES``.
Only MERCHANT_ID, AMOUNT and MERCHANT_ORDER_ID are signed: ``intid``, ``CUR_ID``, ``us_*``,
``P_EMAIL`` can be altered on a replay, so they are informational and never identify anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from billing.exceptions import WebhookVerificationError
from billing.providers.base import (
    TEXT_PLAIN,
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderNotification,
    amount_parse,
    field_required,
    info_value,
    params_validate,
    positive_int_parse,
    remote_ip_check,
    signature_matches,
    signature_required,
)
from core.net import networks_parse

PAYMENT_URL = "https://pay.freekassa.com/"
# The notification servers (docs/payments.md "FreeKassa: IP addresses"); configurable per instance.
FREEKASSA_IPS: tuple[str, ...] = (
    "168.119.157.136",
    "168.119.60.227",
    "178.154.197.79",
    "51.250.54.238",
)
# Our order ids are Payment primary keys (BigAutoField).
ORDER_ID_MAX = 2**63 - 1


class FreeKassaProvider(PaymentProvider):
    """FreeKassa SCI (form link + notification). API v1 order creation is not used here."""

    code = "freekassa"
    title = "FreeKassa"
    pays_with = gettext_noop("Card, SBP")

    def __init__(
        self,
        *,
        merchant_id: str | int,
        secret1: str,
        secret2: str,
        check_ip: bool = True,
        allowed_ips: Iterable[str] = FREEKASSA_IPS,
        payment_url: str = PAYMENT_URL,
    ) -> None:
        merchant = str(merchant_id).strip()
        if not (merchant and secret1 and secret2):
            raise ImproperlyConfigured("FreeKassa needs merchant_id, secret1 and secret2.")
        if not (merchant.isascii() and merchant.isdigit()):
            raise ImproperlyConfigured("FreeKassa merchant_id must be numeric.")
        self.merchant_id = merchant
        self._secret1 = secret1
        self._secret2 = secret2
        self.check_ip = bool(check_ip)
        self.allowed_ips = tuple(allowed_ips)
        networks_parse(entries=self.allowed_ips)  # fail at startup on a typo, not per request
        self.payment_url = payment_url

    def __repr__(self) -> str:
        return f"<FreeKassaProvider merchant_id={self.merchant_id!r} check_ip={self.check_ip}>"

    def form_signature(self, *, amount: str, currency: str, order_id: str) -> str:
        """``s`` of the payment form: md5(m:oa:secret1:currency:o), lowercase hex."""
        text = f"{self.merchant_id}:{amount}:{self._secret1}:{currency}:{order_id}"
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - FreeKassa's protocol

    def notification_signature(self, *, amount: str, order_id: str) -> str:
        """``SIGN`` of a notification: md5(MERCHANT_ID:AMOUNT:secret2:MERCHANT_ORDER_ID)."""
        text = f"{self.merchant_id}:{amount}:{self._secret2}:{order_id}"
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - FreeKassa's protocol

    def checkout_create(self, *, request: CheckoutRequest) -> CheckoutSession:
        """Build the SCI link. ``oa`` is formatted once and signed exactly as sent.

        Integral amounts go out as ``299`` (the documented form, vector F1), others as
        ``299.50``; never ``str(float)`` (``'299.0'`` is a different signature, docs/payments.md
        "Rules for both providers").
        """
        oa = _amount_format(request=request)
        order_id = str(request.payment_id)
        params: dict[str, str] = {
            "m": self.merchant_id,
            "oa": oa,
            "currency": request.currency,
            "o": order_id,
            "s": self.form_signature(amount=oa, currency=request.currency, order_id=order_id),
            "lang": request.language,
        }
        if request.email:
            params["em"] = request.email
        for key, value in sorted(request.custom_params.items()):
            params[f"us_{key}"] = value
        return CheckoutSession(url=f"{self.payment_url}?{urlencode(params)}", params=params)

    def notification_parse(
        self, *, params: Mapping[str, str], remote_ip: str | None
    ) -> ProviderNotification:
        """Verify a notification (IP, merchant, SIGN) and extract order id, amount, intid.

        The IP check runs first: with ``check_ip`` on, a request from elsewhere is refused
        before we even look at it. ``remote_ip`` must come from ``core.net.client_ip``.
        """
        if self.check_ip:
            remote_ip_check(remote_ip=remote_ip, allowed_ips=self.allowed_ips)
        data = params_validate(params=params)
        merchant = field_required(params=data, name="MERCHANT_ID")
        amount_raw = field_required(params=data, name="AMOUNT")
        order_raw = field_required(params=data, name="MERCHANT_ORDER_ID")
        received = signature_required(params=data, name="SIGN")
        if merchant != self.merchant_id:
            raise WebhookVerificationError(
                "Notification is for another FreeKassa merchant.",
                reason="merchant_mismatch",
                extra={"merchant_id": merchant[:32]},
            )
        expected = self.notification_signature(amount=amount_raw, order_id=order_raw)
        if not signature_matches(expected=expected, received=received):
            raise WebhookVerificationError(
                "FreeKassa signature does not match.", reason="signature_mismatch"
            )
        payment_id = positive_int_parse(
            value=order_raw, field_name="MERCHANT_ORDER_ID", max_value=ORDER_ID_MAX
        )
        amount = amount_parse(value=amount_raw, field_name="AMOUNT")
        return ProviderNotification(
            # Keyed on the signed order id: intid is unsigned, so not a safe dedupe key
            # (docs/payments.md "FreeKassa: notification").
            event_key=str(payment_id),
            payment_id=payment_id,
            amount=amount,
            # CUR_ID is a payment-system id (44 = SBP), not a currency; FK reports none.
            currency=None,
            provider_ref=info_value(data.get("intid", "")),
            raw=data,
            payment_method=info_value(data.get("CUR_ID", "")),
        )

    def success_response(self, *, notification: ProviderNotification) -> tuple[str, str]:
        """Exactly ``YES``; with FreeKassa's check enabled, anything else is retried."""
        return "YES", TEXT_PLAIN


def _amount_format(*, request: CheckoutRequest) -> str:
    amount = request.amount
    if amount == amount.to_integral_value():
        return str(int(amount))
    return f"{amount:.2f}"
