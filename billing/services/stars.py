"""Telegram Stars (XTR): the invoice of a pending payment, the pre-checkout answer, and the
``successful_payment`` message, credited through the same store-first protocol and the same
credit service as the other providers' notifications (docs/payments.md "Telegram Stars").

Telegram's flow (https://core.telegram.org/bots/payments-stars): the bot sends an invoice
(``sendInvoice``, currency ``XTR``, empty ``provider_token``, exactly one price in whole stars,
a ``payload`` of 1-128 bytes); when the buyer confirms, Telegram sends a ``pre_checkout_query``
that must be answered within 10 seconds (``answerPreCheckoutQuery``; ``ok=False`` needs an
``error_message``, shown to the buyer); once the stars are taken, the bot gets a message with
``successful_payment`` (``currency``, ``total_amount``, ``invoice_payload``,
``telegram_payment_charge_id``). Only that message proves a payment.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from accounts.models import Customer
from accounts.services import language_from_telegram
from billing.exceptions import WebhookError
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.providers.stars import (
    STARS,
    STARS_CURRENCY,
    stars_amount_parse,
    stars_payload,
    stars_payload_payment_id,
)
from billing.services.messages import _language
from billing.services.webhook_events import WebhookRequest, webhook_event_record
from billing.services.webhooks import _ALERT_REASONS, WebhookReply, webhook_event_process
from core.exceptions import ApplicationError
from notifications.services import notify_admins
from notifications.telegram_api import TelegramError, bot_api_call
from notifications.texts import tariff_name

logger = logging.getLogger(__name__)

# Telegram's limits on an invoice (https://core.telegram.org/bots/api#sendinvoice).
TITLE_MAX = 32
DESCRIPTION_MAX = 255
JSON = "application/json"
KIND_STARS_UNCREDITED_ADMIN = "stars-uncredited"


@dataclass(frozen=True)
class StarsInvoice:
    """What ``sendInvoice`` needs for one pending payment (``prices`` = one ``label``/``stars``)."""

    payment_id: int
    title: str
    description: str
    payload: str
    label: str
    stars: int
    currency: str = STARS_CURRENCY


def stars_invoice_get(*, payment: Payment, now: datetime | None = None) -> StarsInvoice:
    """The invoice of a pending, unexpired Stars payment, in its customer's language.

    Raises ``ApplicationError`` (in that language) for a payment that can no longer be paid.
    """
    now = now or timezone.now()
    customer = payment.customer
    language = _language(customer.language)
    with translation.override(language):
        if (
            payment.provider != STARS
            or payment.currency != STARS_CURRENCY
            or payment.status != PaymentStatus.PENDING
            or (payment.expires_at is not None and payment.expires_at <= now)
        ):
            raise ApplicationError(
                _("This payment can no longer be paid. Please start a new one."),
                {"payment_id": payment.pk, "status": payment.status},
            )
        name = tariff_name(
            name=payment.tariff.name, name_en=payment.tariff.name_en, language=language
        )
        title = _("VPN: %(tariff)s") % {"tariff": name}
        return StarsInvoice(
            payment_id=payment.pk,
            title=title[:TITLE_MAX],
            description=(payment.description or title)[:DESCRIPTION_MAX],
            payload=stars_payload(payment.pk),
            label=name[:TITLE_MAX] or title[:TITLE_MAX],
            stars=int(payment.amount),
        )


def stars_invoice_link(*, invoice: StarsInvoice, language: str) -> str:
    """A link to `invoice` (``createInvoiceLink``, https://core.telegram.org/bots/api#createinvoicelink:
    the sendInvoice fields without a chat; ``provider_token`` empty for Stars), which a Mini App
    opens with ``web_app_open_invoice``. Paying it is the usual ``pre_checkout_query`` and
    ``successful_payment`` of the bot. ``ApplicationError`` (in `language`) when Telegram
    refuses or cannot be reached."""
    try:
        link = bot_api_call(
            method="createInvoiceLink",
            data={
                "title": invoice.title,
                "description": invoice.description,
                "payload": invoice.payload,
                "currency": invoice.currency,
                "prices": [{"label": invoice.label, "amount": invoice.stars}],
            },
        )
    except TelegramError as exc:
        logger.warning("createInvoiceLink failed for payment %s: %s", invoice.payment_id, exc)
        link = None
    if not isinstance(link, str) or not link.startswith("https://t.me/"):
        with translation.override(language):
            raise ApplicationError(
                _("Telegram Stars are not available right now. Please try again later."),
                {"payment_id": invoice.payment_id},
            )
    return link


def stars_pre_checkout_check(
    *,
    payload: str,
    currency: str,
    total_amount: Any,
    user_id: int,
    language_code: str | None = None,
    now: datetime | None = None,
) -> str:
    """The answer to a ``pre_checkout_query``: "" (ok) or why not, in the buyer's language.

    Ok only for a payload we signed naming a pending, unexpired Stars payment of this very
    Telegram user, at its amount and currency, whose customer is not blocked. One short read:
    Telegram cancels the purchase unless it is answered within 10 seconds.
    """
    now = now or timezone.now()
    with translation.override(buyer_language(user_id=user_id, language_code=language_code)):
        try:
            payment_id = stars_payload_payment_id(payload)
            amount = stars_amount_parse(total_amount)
        except WebhookError:
            return _("This invoice is not valid. Please start the purchase again.")
        payment = (
            Payment.objects.select_related("customer").filter(pk=payment_id, provider=STARS).first()
        )
        if payment is None or payment.customer.telegram_id != user_id:
            return _("This invoice is not valid. Please start the purchase again.")
        if payment.customer.is_banned:
            return _("Your account is blocked.")
        if payment.status == PaymentStatus.PAID:
            return _("This purchase is already paid.")
        if payment.status != PaymentStatus.PENDING or (
            payment.expires_at is not None and payment.expires_at <= now
        ):
            return _("This payment can no longer be paid. Please start a new one.")
        if (currency or "").upper() != payment.currency or amount != payment.amount:
            return _("The price has changed. Please start the purchase again.")
    return ""


def buyer_language(*, user_id: int, language_code: str | None) -> str:
    """The language to answer a Telegram user in: their customer's, else their client's."""
    language = (
        Customer.objects.filter(telegram_id=user_id).values_list("language", flat=True).first()
    )
    return _language(language or language_from_telegram(language_code=language_code))


def stars_payment_received(*, update: dict[str, Any]) -> WebhookReply:
    """A ``successful_payment`` update: stored first (a ``WebhookEvent`` holding the update as
    received), then processed like any notification (``webhook_event_process``): credited at
    most once per ``telegram_payment_charge_id`` under the payment's row lock.

    The stars are taken by now, so every refusal (a payload we did not sign, an unknown
    payment, another amount or currency) is an alert to the admins; the mismatches are alerted
    by the protocol itself. A second charge for an already paid payment (another invoice of
    it paid too) is alerted as well: refund one of them.
    """
    body = json.dumps(update, ensure_ascii=False, sort_keys=True).encode("utf-8")
    event = webhook_event_record(
        provider=STARS,
        request=WebhookRequest(
            method="BOT",
            body=body,
            content_type=JSON,
            query_string="",
            remote_ip=None,
            headers={"Content-Type": JSON},
        ),
    )
    reply = webhook_event_process(event=event)
    event = reply.event
    if event.status == WebhookEventStatus.REJECTED and event.outcome not in _ALERT_REASONS:
        _alert_uncredited(event=event, reason=event.outcome)
    elif event.status == WebhookEventStatus.DUPLICATE and event.payment_id is not None:
        provider_ref = (
            Payment.objects.filter(pk=event.payment_id)
            .values_list("provider_ref", flat=True)
            .first()
        )
        if provider_ref and provider_ref != event.event_key:
            _alert_uncredited(event=event, reason="payment_already_paid_by_another_charge")
    return reply


def stars_received_stars(*, event: WebhookEvent) -> Decimal | None:
    """The stars a stored ``successful_payment`` says were taken (None if unreadable)."""
    try:
        payment = json.loads(event.body)["message"]["successful_payment"]
        return stars_amount_parse(payment["total_amount"])
    except (ValueError, KeyError, TypeError, WebhookError):
        return None


def _alert_uncredited(*, event: WebhookEvent, reason: str) -> None:
    """Stars were taken but nothing was credited: one admin message per charge and reason."""
    stars = stars_received_stars(event=event)
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            notify_admins(
                text=_(
                    "⚠️ Telegram Stars: %(stars)s ⭐ taken but not credited (%(reason)s), "
                    "charge %(charge)s. Refund it or credit it by hand; webhook event #%(event)s."
                )
                % {
                    "stars": stars if stars is not None else "?",
                    "reason": escape(reason),
                    "charge": escape(event.event_key or "?"),
                    "event": event.pk,
                },
                kind=KIND_STARS_UNCREDITED_ADMIN,
                dedupe_key=f"stars-uncredited:{event.event_key or event.pk}:{reason}"[:150],
            )
    except Exception:  # the alert must never hide the outcome
        logger.exception("stars event #%s: could not queue the admin alert", event.pk)
    logger.warning("stars event #%s: stars taken, not credited: %s", event.pk, reason)
