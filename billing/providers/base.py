"""The provider contract: build a payment link, verify and parse a notification.

Providers have no ORM and no settings lookups. They answer two questions -- "what URL does the
buyer open?" and "is this notification authentic, and what does it say?" -- and leave every
decision (unknown order, wrong amount, already paid) to the billing services. The signature
providers (Robokassa, FreeKassa) are pure: no HTTP. An API provider (YooKassa) must ask its
API for both answers; it does so only through its client object (``yookassa_api.py``), in
``checkout_create``, ``notification_parse`` and ``refund_create``, and its parsing stays pure
(docs/payments.md "YooKassa: design"). Shapes follow django-payments' ``BasicProvider``; the
verification rules come from ``docs/payments.md``.
"""

from __future__ import annotations

import abc
import hmac
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

from billing.exceptions import WebhookParseError, WebhookVerificationError
from core.net import ip_allowed

Language = Literal["ru", "en"]
LANGUAGES: tuple[str, ...] = ("ru", "en")

TEXT_PLAIN = "text/plain"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Amount strings in notifications. Both providers send plain fixed-point ("299", "299.00",
# "299.000000"); anything else -- exponents, signs, NaN/Infinity, commas, non-ASCII digits,
# surrounding spaces -- is rejected even when correctly signed, because Decimal() would accept
# several of them ("1e3", "NaN", "-1", " 299", Arabic-Indic digits) and none is a real payment.
AMOUNT_MAX_INTEGER_DIGITS = 12
AMOUNT_MAX_FRACTION_DIGITS = 8
_AMOUNT_RE = re.compile(
    rf"[0-9]{{1,{AMOUNT_MAX_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{AMOUNT_MAX_FRACTION_DIGITS}}})?",
    re.ASCII,
)
# Our order ids are positive integers without leading zeros (we generate them as str(int)).
_POSITIVE_INT_RE = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
# Custom params (Robokassa Shp_*, FreeKassa us_*): a conservative alphabet so that no
# URL-encoding or ':'-joining ambiguity can change a signature (docs/payments.md "Robokassa: link
# signature", "Robokassa: Shp_ parameters").
_CUSTOM_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)
_CUSTOM_VALUE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}", re.ASCII)
_CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)
_REASON_RE = re.compile(r"[a-z0-9_]{1,64}", re.ASCII)
_INFO_VALUE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}", re.ASCII)

# Reply bodies for failures must never look like a success ("OK…" / "YES").
FAILURE_BODY_PREFIX = "ERROR"

PARAMS_MAX_FIELDS = 100
_VALUE_PREVIEW_LENGTH = 64


@dataclass(frozen=True)
class ReceiptItem:
    """One 54-FZ receipt line (Robokassa ``Receipt.items[]``, docs/payments.md "Robokassa:
    Receipt")."""

    name: str
    sum: Decimal
    quantity: Decimal | int = 1
    payment_method: str = "full_payment"
    payment_object: str = "service"
    tax: str = "none"

    def __post_init__(self) -> None:
        _money_validate(value=self.sum, field_name="ReceiptItem.sum")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int | Decimal):
            raise TypeError("ReceiptItem.quantity must be int or Decimal")
        if isinstance(self.quantity, Decimal) and not self.quantity.is_finite():
            raise ValueError("ReceiptItem.quantity must be finite")
        if self.quantity <= 0:
            raise ValueError("ReceiptItem.quantity must be positive")
        if not self.name:
            raise ValueError("ReceiptItem.name must not be empty")


@dataclass(frozen=True)
class CheckoutRequest:
    """What a service asks a provider to charge; validated so a provider cannot mis-sign it.

    ``amount`` must be a ``Decimal`` with at most two decimal places: floats format as
    ``'299.0'`` and break signatures (docs/payments.md "Rules for both providers"), and silently
    rounding money is worse.
    ``custom_params`` become ``Shp_<key>`` (Robokassa) / ``us_<key>`` (FreeKassa); they are
    echoed back but, for FreeKassa, unsigned, so never use them for identity.
    """

    payment_id: int
    amount: Decimal
    currency: str
    description: str
    language: Language = "ru"
    email: str = ""
    receipt_items: tuple[ReceiptItem, ...] = ()
    # Excluded from hash(): a read-only mapping is not hashable, the other fields identify.
    custom_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    # For an API provider: the key that makes a repeated create return the first result
    # (derived from our payment, so a retried checkout never makes two).
    idempotence_key: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.payment_id, bool) or not isinstance(self.payment_id, int):
            raise TypeError("payment_id must be an int")
        if self.payment_id <= 0:
            raise ValueError("payment_id must be positive")
        _money_validate(value=self.amount, field_name="amount")
        if not isinstance(self.currency, str) or not _CURRENCY_RE.fullmatch(self.currency):
            raise ValueError("currency must be a 3-letter upper-case ISO code")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}")
        if not isinstance(self.description, str) or not isinstance(self.email, str):
            raise TypeError("description and email must be str")
        items = tuple(self.receipt_items)
        if not all(isinstance(item, ReceiptItem) for item in items):
            raise TypeError("receipt_items must be ReceiptItem instances")
        object.__setattr__(self, "receipt_items", items)
        params = dict(self.custom_params)
        for key, value in params.items():
            if not isinstance(key, str) or not _CUSTOM_KEY_RE.fullmatch(key):
                raise ValueError(f"custom param key {key!r} must match {_CUSTOM_KEY_RE.pattern}")
            if not isinstance(value, str) or not _CUSTOM_VALUE_RE.fullmatch(value):
                raise ValueError(
                    f"custom param {key!r} value must match {_CUSTOM_VALUE_RE.pattern}"
                )
        # Robokassa implementations disagree on sorting when one key prefixes another
        # ("a" vs "a1"); forbidding such sets makes every implementation agree (docs/payments.md
        # "Robokassa: Shp_ parameters").
        for key in params:
            for other in params:
                if key != other and other.startswith(key):
                    raise ValueError(f"custom param key {key!r} is a prefix of {other!r}")
        object.__setattr__(self, "custom_params", types.MappingProxyType(params))


@dataclass(frozen=True)
class CheckoutSession:
    """Where to send the buyer: ``url`` for a GET redirect/button, ``params`` for a POST form.

    ``params`` hold the values *before* transport encoding; ``url`` is ``payment_url`` plus
    those params URL-encoded once.
    """

    url: str
    params: dict[str, str]
    # An API provider's own id of the payment it created ("" for link-only providers).
    provider_ref: str = ""


@dataclass(frozen=True)
class ProviderNotification:
    """An authentic provider notification, parsed; what it *means* is decided by services.

    ``event_key`` is the dedupe key for ``WebhookEvent`` and is built only from **signed**
    fields (the order id), so a replay with altered unsigned fields dedupes to the same key.
    ``currency`` is ``None`` when the provider does not report one (Robokassa ResultURL and
    FreeKassa notifications both don't); the service then assumes the payment's currency.
    ``provider_ref`` and ``payment_method`` come from unsigned fields: informational only --
    unless ``provider_ref_confirmed``: then the provider's API confirmed it, and it must equal
    the id the payment got at checkout.
    ``kind`` is what happened: ``paid`` (credit), ``canceled`` (never paid) or ``refunded``
    (``amount`` is the refund's; ``payment_id`` is 0 and the payment is found by
    ``provider_ref``).
    """

    event_key: str
    payment_id: int
    amount: Decimal
    currency: str | None
    provider_ref: str
    raw: dict[str, str] = field(hash=False)
    payment_method: str = ""
    kind: Literal["paid", "canceled", "refunded"] = "paid"
    provider_ref_confirmed: bool = False


@dataclass(frozen=True)
class ProviderRefund:
    """A refund an API provider accepted: its id and status (``succeeded`` or ``pending``)."""

    refund_ref: str
    status: str


class PaymentProvider(abc.ABC):
    """One payment provider. Subclasses are configured via ``settings.BILLING_PROVIDERS``."""

    code: ClassVar[str]
    title: ClassVar[str]  # the provider's own name, shown to operators and under `pays_with`
    # What the customer pays with through this provider, as an English message id marked
    # with ``gettext_noop`` and translated when shown (``provider_label``): "Card, SBP".
    pays_with: ClassVar[str] = ""
    # True when the money goes back through ``refund_create`` (the console's refund action).
    refunds_by_api: ClassVar[bool] = False

    def params_decode(
        self, *, body: bytes, content_type: str | None, query_string: str, max_bytes: int | None
    ) -> Mapping[str, Any]:
        """A stored notification's raw request → its fields (a form body or a query string;
        YooKassa reads its JSON body, Telegram Stars the bot update it stores)."""
        return params_from_request_data(
            body=body, content_type=content_type, query_string=query_string, max_bytes=max_bytes
        )

    def refund_create(
        self, *, provider_ref: str, amount: Decimal, currency: str, idempotence_key: str
    ) -> ProviderRefund:
        """Return the money of the payment the provider knows as ``provider_ref``."""
        raise NotImplementedError(f"{self.code} refunds are made in its cabinet")

    @abc.abstractmethod
    def checkout_create(self, *, request: CheckoutRequest) -> CheckoutSession:
        """Build the signed payment link for ``request``."""

    @abc.abstractmethod
    def notification_parse(
        self, *, params: Mapping[str, str], remote_ip: str | None
    ) -> ProviderNotification:
        """Verify (constant time) and parse a server-to-server notification.

        Raises ``WebhookVerificationError`` or ``WebhookParseError``; never touches state.
        ``remote_ip`` must come from ``core.net.client_ip`` (never raw X-Forwarded-For).
        """

    @abc.abstractmethod
    def success_response(self, *, notification: ProviderNotification) -> tuple[str, str]:
        """The exact ``(body, content_type)`` the provider expects for "processed"."""

    def failure_response(self, *, reason: str = "rejected") -> tuple[str, str]:
        """A 4xx ``(body, content_type)`` that can never be mistaken for the success body.

        Only a sanitized machine reason code goes out, never messages or received values.
        """
        safe = reason if isinstance(reason, str) and _REASON_RE.fullmatch(reason) else "rejected"
        return f"{FAILURE_BODY_PREFIX}: {safe}", TEXT_PLAIN


def signature_matches(*, expected: str, received: str) -> bool:
    """Constant-time, case-insensitive hex comparison.

    Robokassa sends upper-case hex, FreeKassa lower-case; both are "any case" per the docs
    (docs/payments.md "Rules for both providers"). Comparing bytes keeps ``compare_digest`` from
    raising on non-ASCII.
    """
    return hmac.compare_digest(
        expected.strip().lower().encode("utf-8"), received.strip().lower().encode("utf-8")
    )


def value_preview(value: object) -> str:
    """A short, log-safe rendering of an attacker-controlled value for ``extra``."""
    text = repr(value)
    if len(text) > _VALUE_PREVIEW_LENGTH:
        return text[:_VALUE_PREVIEW_LENGTH] + "…"
    return text


def params_validate(*, params: Mapping[str, str]) -> dict[str, str]:
    """Copy ``params`` into a plain dict, rejecting anything that is not clean UTF-8 text.

    Callers should decode with :func:`params_from_request_data`; this is the safety net for
    callers that used ``request.POST`` (Django decodes with ``errors="replace"``, turning bad
    bytes into U+FFFD) or ``surrogateescape`` (lone surrogates would crash hashing).
    """
    if not isinstance(params, Mapping):
        raise WebhookParseError("Notification params must be a mapping.", reason="body_invalid")
    if len(params) > PARAMS_MAX_FIELDS:
        raise WebhookParseError("Too many fields in the notification.", reason="body_too_large")
    clean: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise WebhookParseError(
                "Notification fields must be strings.",
                reason="field_invalid",
                extra={"field": value_preview(key)},
            )
        for text in (key, value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise WebhookParseError(
                    "Notification is not valid UTF-8.",
                    reason="encoding_invalid",
                    extra={"field": value_preview(key)},
                ) from exc
            if "\ufffd" in text or "\x00" in text:
                raise WebhookParseError(
                    "Notification contains undecodable or NUL characters.",
                    reason="encoding_invalid",
                    extra={"field": value_preview(key)},
                )
        clean[key] = value
    return clean


def info_value(value: str) -> str:
    """Keep an unsigned informational field only if it looks sane (it is never trusted).

    A real payment must not be refused (and retried forever) over a cosmetic field, so a
    malformed value is dropped instead of rejecting the notification.
    """
    return value if _INFO_VALUE_RE.fullmatch(value) else ""


def field_required(*, params: Mapping[str, str], name: str) -> str:
    """Return a required non-empty field or raise ``WebhookParseError(field_missing)``."""
    value = params.get(name)
    if value is None or value == "":
        raise WebhookParseError(
            f"Required field {name} is missing.", reason="field_missing", extra={"field": name}
        )
    return value


def signature_required(*, params: Mapping[str, str], name: str) -> str:
    """Return the signature field or raise ``WebhookVerificationError(signature_missing)``."""
    value = params.get(name)
    if value is None or not value.strip():
        raise WebhookVerificationError(
            f"Signature field {name} is missing.",
            reason="signature_missing",
            extra={"field": name},
        )
    return value


def amount_parse(*, value: str, field_name: str) -> Decimal:
    """Parse a notification amount into a positive ``Decimal``, strictly (see ``_AMOUNT_RE``).

    Zero is rejected too: neither provider notifies about a zero payment, so "0.00" can only be
    a bug or an attack. Equality with the order amount is the service's job, not ours.
    """
    if not _AMOUNT_RE.fullmatch(value):
        reason = "amount_out_of_range" if _looks_like_long_number(value) else "amount_invalid"
        raise WebhookParseError(
            f"{field_name} is not a plain positive decimal number.",
            reason=reason,
            extra={"field": field_name, "value": value_preview(value)},
        )
    amount = Decimal(value)
    if amount <= 0:
        raise WebhookParseError(
            f"{field_name} must be positive.",
            reason="amount_not_positive",
            extra={"field": field_name, "value": value_preview(value)},
        )
    return amount


def positive_int_parse(*, value: str, field_name: str, max_value: int) -> int:
    """Parse an order id: ASCII digits, no sign, no leading zero, 1..max_value.

    Leading zeros are refused because the success reply echoes the id (``OK42``) and our ids
    are always sent as ``str(int)``; an id we never sent cannot be ours.
    """
    if not _POSITIVE_INT_RE.fullmatch(value) or int(value) > max_value:
        raise WebhookParseError(
            f"{field_name} is not a valid order id.",
            reason="order_id_invalid",
            extra={"field": field_name, "value": value_preview(value)},
        )
    return int(value)


def remote_ip_check(*, remote_ip: str | None, allowed_ips: tuple[str, ...]) -> None:
    """Reject a notification whose sender address is not allowlisted (defence in depth)."""
    if not ip_allowed(ip=remote_ip, allowed=allowed_ips):
        raise WebhookVerificationError(
            "Notification sender address is not allowed.",
            reason="ip_not_allowed",
            extra={"remote_ip": value_preview(remote_ip)},
        )


def params_from_request_data(
    *,
    body: bytes,
    content_type: str | None,
    query_string: str | bytes = "",
    max_bytes: int | None = None,
) -> dict[str, str]:
    """Decode a notification's raw request into ``{field: value}``, strictly as UTF-8.

    The webhook view should call this with ``request.body``, ``request.content_type`` and
    ``request.META["QUERY_STRING"]`` instead of reading ``request.POST``/``request.data``:
    Django decodes forms with ``errors="replace"``, so non-UTF-8 bytes would silently turn into
    U+FFFD instead of being rejected (both providers send UTF-8, docs/payments.md "Robokassa: Result
    URL").

    - Non-empty body: must be ``application/x-www-form-urlencoded`` (POST notifications).
    - Empty body: the query string is parsed (GET notifications).
    - Duplicate field names are rejected: which copy "wins" differs between parsers, and a
      signed copy plus an unsigned one is a classic smuggling trick.
    Raises ``WebhookParseError`` for anything else.
    """
    if max_bytes is not None and len(body) > max_bytes:
        raise WebhookParseError("Notification body is too large.", reason="body_too_large")
    if body:
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type not in ("", FORM_CONTENT_TYPE):
            raise WebhookParseError(
                "Unsupported notification content type.",
                reason="content_type_unsupported",
                extra={"content_type": value_preview(content_type)},
            )
        data: bytes = body
    elif isinstance(query_string, bytes):
        data = query_string
    else:
        try:
            # A well-formed URL query is ASCII (RFC 3986); raw non-ASCII means a broken client
            # or a server that already mangled the bytes.
            data = query_string.encode("ascii")
        except UnicodeEncodeError as exc:
            raise WebhookParseError(
                "Query string is not percent-encoded ASCII.", reason="encoding_invalid"
            ) from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise WebhookParseError("Notification is too large.", reason="body_too_large")
    try:
        text = data.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=PARAMS_MAX_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise WebhookParseError(
            "Notification is not valid UTF-8.", reason="encoding_invalid"
        ) from exc
    except ValueError as exc:  # max_num_fields exceeded
        raise WebhookParseError(
            "Too many fields in the notification.", reason="body_too_large"
        ) from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise WebhookParseError(
                "Duplicate field in the notification.",
                reason="field_duplicate",
                extra={"field": value_preview(key)},
            )
        params[key] = value
    return params_validate(params=params)


def _money_validate(*, value: Any, field_name: str) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{field_name} must be a Decimal (never float)")
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{field_name} must be a finite positive amount")
    try:
        exact = value == value.quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # more digits than the decimal context can hold
        raise ValueError(f"{field_name} is out of range") from exc
    if not exact:
        raise ValueError(f"{field_name} must have at most two decimal places")


def _looks_like_long_number(value: str) -> bool:
    integer, _, fraction = value.partition(".")
    return (
        integer.isascii()
        and integer.isdigit()
        and (not fraction or (fraction.isascii() and fraction.isdigit()))
        and (len(integer) > AMOUNT_MAX_INTEGER_DIGITS or len(fraction) > AMOUNT_MAX_FRACTION_DIGITS)
    )
