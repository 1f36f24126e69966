"""The Bot API call behind a Telegram Stars refund (``payment_refund`` makes it for a Stars
payment before it records the refund).

``refundStarPayment(user_id, telegram_payment_charge_id)`` gives the stars back to the payer
(https://core.telegram.org/bots/api#refundstarpayment). Telegram answers a second refund of
one charge with ``CHARGE_ALREADY_REFUNDED``
(https://core.telegram.org/method/payments.refundStarsCharge): the stars are back already, so
that counts as done, which makes a refund whose recording failed safe to run again.
"""

from __future__ import annotations

import logging

from billing.models import Payment
from core.exceptions import ApplicationError
from notifications.telegram_api import TelegramError, TelegramRejected, bot_api_call

logger = logging.getLogger(__name__)

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


def stars_charge_refund(*, payment: Payment) -> str:
    """Give a paid Stars payment's stars back; returns "refunded" or "already_refunded".

    The payer is the payment's customer (the pre-checkout refuses anyone else) and the charge
    is the payment's ``provider_ref`` (``telegram_payment_charge_id``). Raises
    ``ApplicationError`` when Telegram refuses or cannot be reached: nothing is recorded then.
    """
    if not payment.provider_ref:
        raise ApplicationError(
            "This Telegram Stars payment has no charge id; it cannot be refunded through Telegram.",
            {"payment_id": payment.pk},
        )
    try:
        bot_api_call(
            method="refundStarPayment",
            data={
                "user_id": payment.customer.telegram_id,
                "telegram_payment_charge_id": payment.provider_ref,
            },
        )
    except TelegramRejected as exc:
        if ALREADY_REFUNDED in str(exc):
            logger.info("stars payment #%s: the charge was refunded already", payment.pk)
            return "already_refunded"
        raise ApplicationError(
            f"Telegram refused the refund: {exc}", {"payment_id": payment.pk}
        ) from exc
    except TelegramError as exc:
        raise ApplicationError(
            f"Telegram could not be reached for the refund, try again: {exc}",
            {"payment_id": payment.pk},
        ) from exc
    return "refunded"
