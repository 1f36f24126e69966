"""Robokassa: payment links (Index.aspx) and ResultURL verification.

Formulas, reply bodies and pitfalls: docs/payments.md, "Robokassa: …" sections.

- Link:      hash(MerchantLogin:OutSum:InvId[:Receipt]:Password#1[:Shp_a=..:Shp_b=..])
- ResultURL: hash(OutSum:InvId:Password#2[:Shp_a=..]) over the strings *as received*
  (Robokassa echoes OutSum in its own format, e.g. "299.000000"), compared case-insensitively
  in constant time; reply ``OK{InvId}``.
- SuccessURL: as ResultURL but with Password#1 -- a browser redirect, never proof of payment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import quote_plus, urlencode

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from billing.exceptions import CheckoutError, WebhookVerificationError
from billing.providers.base import (
    TEXT_PLAIN,
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderNotification,
    ReceiptItem,
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

PAYMENT_URL = "https://auth.robokassa.ru/Merchant/Index.aspx"
# Official list (docs.robokassa.ru "notifications-and-redirects"). Off by default: the
# signature is the real check and third parties report other sender addresses (docs/payments.md
# "Robokassa: IP addresses").
ROBOKASSA_IPS: tuple[str, ...] = ("185.59.216.65", "185.59.217.65")
HASH_ALGORITHMS: tuple[str, ...] = ("md5", "sha256", "sha384", "sha512")
INV_ID_MAX = 2_147_483_647
DESCRIPTION_MAX_LENGTH = 100
RECEIPT_ITEM_NAME_MAX_LENGTH = 128
CURRENCY = "RUB"
_SHP_PREFIX = "shp_"


class RobokassaProvider(PaymentProvider):
    """Robokassa classic protocol. One instance = one shop in one mode (live or test).

    Test mode has its own Password#1/#2 in the Robokassa cabinet (docs/payments.md "Robokassa:
    test mode"): configure them together with ``test_mode=True``. The password is never picked
    from the incoming ``IsTest`` flag, and a notification flagged ``IsTest`` is refused in live
    mode.
    """

    code = "robokassa"
    title = "Robokassa"
    pays_with = gettext_noop("Card, SBP")

    def __init__(
        self,
        *,
        login: str,
        password1: str,
        password2: str,
        hash_algorithm: str = "md5",
        test_mode: bool = False,
        receipt_enabled: bool = False,
        receipt_sno: str | None = None,
        receipt_tax: str = "none",
        payment_url: str = PAYMENT_URL,
        check_ip: bool = False,
        allowed_ips: Iterable[str] = ROBOKASSA_IPS,
    ) -> None:
        if not (login and password1 and password2):
            raise ImproperlyConfigured("Robokassa needs login, password1 and password2.")
        algorithm = (hash_algorithm or "").lower()
        if algorithm not in HASH_ALGORITHMS:
            raise ImproperlyConfigured(
                f"Robokassa hash_algorithm must be one of {HASH_ALGORITHMS}, "
                f"got {hash_algorithm!r}."
            )
        self.login = login
        self._password1 = password1
        self._password2 = password2
        self.hash_algorithm = algorithm
        self.test_mode = bool(test_mode)
        self.receipt_enabled = bool(receipt_enabled)
        self.receipt_sno = receipt_sno or None
        self.receipt_tax = receipt_tax
        self.payment_url = payment_url
        self.check_ip = bool(check_ip)
        self.allowed_ips = tuple(allowed_ips)
        networks_parse(entries=self.allowed_ips)  # fail at startup on a typo, not per request

    def __repr__(self) -> str:
        return f"<RobokassaProvider login={self.login!r} test_mode={self.test_mode}>"

    def link_signature(
        self,
        *,
        out_sum: str,
        inv_id: str,
        receipt: str | None = None,
        shp: Mapping[str, str] | None = None,
    ) -> str:
        """Signature of a payment link (Password#1). ``receipt`` is the URL-encoded JSON."""
        parts = [self.login, out_sum, inv_id]
        if receipt:
            parts.append(receipt)
        parts.append(self._password1)
        return self._hash([*parts, *_shp_pairs(shp or {})])

    def result_signature(
        self, *, out_sum: str, inv_id: str, shp: Mapping[str, str] | None = None
    ) -> str:
        """Signature Robokassa puts on the ResultURL notification (Password#2)."""
        return self._hash([out_sum, inv_id, self._password2, *_shp_pairs(shp or {})])

    def _redirect_signature(self, *, out_sum: str, inv_id: str, shp: Mapping[str, str]) -> str:
        return self._hash([out_sum, inv_id, self._password1, *_shp_pairs(shp)])

    def _hash(self, parts: list[str]) -> str:
        return hashlib.new(self.hash_algorithm, ":".join(parts).encode("utf-8")).hexdigest()

    def checkout_create(self, *, request: CheckoutRequest) -> CheckoutSession:
        """Build the Index.aspx link; OutSum is formatted once and signed exactly as sent."""
        if request.currency != CURRENCY:
            # OutSumCurrency would have to be signed too; this integration charges RUB only.
            raise CheckoutError(
                "Robokassa charges RUB only in this integration.",
                reason="currency_unsupported",
                extra={"currency": request.currency},
            )
        if request.payment_id > INV_ID_MAX:
            raise CheckoutError(
                "Payment id does not fit Robokassa InvId.",
                reason="payment_id_out_of_range",
                extra={"payment_id": request.payment_id},
            )
        out_sum = f"{request.amount:.2f}"
        inv_id = str(request.payment_id)
        shp = {f"Shp_{key}": value for key, value in sorted(request.custom_params.items())}
        receipt = self.receipt_encode(request=request) if self.receipt_enabled else None
        params: dict[str, str] = {
            "MerchantLogin": self.login,
            "OutSum": out_sum,
            "InvId": inv_id,
            "Description": request.description[:DESCRIPTION_MAX_LENGTH],
            "SignatureValue": self.link_signature(
                out_sum=out_sum, inv_id=inv_id, receipt=receipt, shp=shp
            ),
        }
        if receipt:
            params["Receipt"] = receipt
        params.update(shp)
        params["Culture"] = request.language
        # The payment page otherwise assumes windows-1251 for Description (docs/payments.md
        # "Robokassa: payment link").
        params["Encoding"] = "utf-8"
        if request.email:
            params["Email"] = request.email
        if self.test_mode:
            params["IsTest"] = "1"
        return CheckoutSession(url=f"{self.payment_url}?{urlencode(params)}", params=params)

    def receipt_encode(self, *, request: CheckoutRequest) -> str:
        """The ``Receipt`` value: URL-encoded compact JSON, as signed and as sent (docs/payments.md
        "Robokassa: Receipt").

        The docs (and the official PHP SDK) sign ``urlencode(json)``; the form/URL then adds
        its own transport encoding on top, so a GET link carries it double-encoded. Without
        explicit items, one "service" line for the whole amount is used. The lines must add
        up to OutSum or Robokassa rejects the payment, so we check that here.
        """
        items = request.receipt_items or (
            ReceiptItem(
                name=request.description or f"Payment {request.payment_id}",
                sum=request.amount,
                tax=self.receipt_tax,
            ),
        )
        total = sum((item.sum for item in items), Decimal(0))
        if total != request.amount:
            raise CheckoutError(
                "Receipt lines do not add up to the payment amount.",
                reason="receipt_sum_mismatch",
                extra={"receipt_total": str(total), "amount": str(request.amount)},
            )
        return quote_plus(_receipt_json(sno=self.receipt_sno, items=items), safe="")

    def notification_parse(
        self, *, params: Mapping[str, str], remote_ip: str | None
    ) -> ProviderNotification:
        """Verify a ResultURL notification and extract InvId/OutSum.

        Only OutSum, InvId and Shp_* are signed; Fee, EMail, PaymentMethod, IsTest and the
        legacy aliases (out_summ, inv_id, crc) are not and never enter the signed string.
        """
        if self.check_ip:
            remote_ip_check(remote_ip=remote_ip, allowed_ips=self.allowed_ips)
        data, out_sum, inv_id = self._signed(
            params=params, signature=self.result_signature, what="Robokassa signature"
        )
        if not self.test_mode and data.get("IsTest", "0").strip() not in ("", "0"):
            raise WebhookVerificationError(
                "Test-mode notification received by a live shop.",
                reason="test_payment_in_live_mode",
            )
        payment_id = positive_int_parse(value=inv_id, field_name="InvId", max_value=INV_ID_MAX)
        amount = amount_parse(value=out_sum, field_name="OutSum")
        return ProviderNotification(
            event_key=str(payment_id),
            payment_id=payment_id,
            amount=amount,
            currency=None,
            provider_ref="",
            raw=data,
            payment_method=info_value(data.get("PaymentMethod", "")),
        )

    def redirect_verify(self, *, params: Mapping[str, str]) -> int:
        """Check a SuccessURL redirect (Password#1) and return the payment id it names.

        Useful only to show "payment #N is being processed" on /pay/success/: a redirect is
        never proof of payment (docs/payments.md "Robokassa: Success URL and Fail URL") -- only the
        ResultURL notification credits anything.
        """
        _data, _out_sum, inv_id = self._signed(
            params=params, signature=self._redirect_signature, what="Robokassa redirect signature"
        )
        return positive_int_parse(value=inv_id, field_name="InvId", max_value=INV_ID_MAX)

    def _signed(self, *, params: Mapping[str, str], signature, what: str) -> tuple[dict, str, str]:
        """``(fields, OutSum, InvId)`` of a request whose SignatureValue is `signature`'s."""
        data = params_validate(params=params)
        out_sum = field_required(params=data, name="OutSum")
        inv_id = field_required(params=data, name="InvId")
        received = signature_required(params=data, name="SignatureValue")
        expected = signature(out_sum=out_sum, inv_id=inv_id, shp=data)
        if not signature_matches(expected=expected, received=received):
            raise WebhookVerificationError(f"{what} does not match.", reason="signature_mismatch")
        return data, out_sum, inv_id

    def success_response(self, *, notification: ProviderNotification) -> tuple[str, str]:
        """Exactly ``OK{InvId}`` (e.g. ``OK42``); anything else makes Robokassa retry."""
        return f"OK{notification.payment_id}", TEXT_PLAIN


def _shp_pairs(params: Mapping[str, str]) -> list[str]:
    """``key=value`` for Shp_* fields only, sorted as the official SDK sorts them.

    Keys are taken verbatim (``Shp_``/``SHP_``/``shp_`` give different hashes), and the list is
    built from the prefix only -- never from "everything except SignatureValue" (docs/payments.md
    "Robokassa: Shp_ parameters").
    """
    return sorted(f"{key}={value}" for key, value in params.items() if _is_shp(key))


def _is_shp(key: str) -> bool:
    return key[: len(_SHP_PREFIX)].lower() == _SHP_PREFIX


def _json_number(value: Decimal | int) -> str:
    """A JSON number from an exact value: ``299`` for integral amounts, else ``299.5``."""
    number = Decimal(value)
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _receipt_json(*, sno: str | None, items: Iterable[ReceiptItem]) -> str:
    """Compact JSON with a fixed key order, built by hand so money never passes through float.

    ``json.dumps`` escapes non-ASCII as ``\\uXXXX`` like PHP's ``json_encode`` default.
    """
    rendered = [
        "{"
        f'"name":{json.dumps(item.name[:RECEIPT_ITEM_NAME_MAX_LENGTH])},'
        f'"quantity":{_json_number(item.quantity)},'
        f'"sum":{_json_number(item.sum)},'
        f'"payment_method":{json.dumps(item.payment_method)},'
        f'"payment_object":{json.dumps(item.payment_object)},'
        f'"tax":{json.dumps(item.tax)}'
        "}"
        for item in items
    ]
    head = f'"sno":{json.dumps(sno)},' if sno else ""
    return "{" + head + '"items":[' + ",".join(rendered) + "]}"
