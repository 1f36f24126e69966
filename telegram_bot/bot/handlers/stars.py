"""Telegram Stars in the bot: the invoice of a checkout, the pre-checkout answer, and the
``successful_payment`` message (https://core.telegram.org/bots/payments-stars; the money
rules live in ``billing.services.stars``)."""

import asyncio
import logging

from telegram import LabeledPrice, Update
from telegram.ext import BaseHandler, ContextTypes, MessageHandler, PreCheckoutQueryHandler, filters

from billing.services.stars import (
    StarsInvoice,
    buyer_language,
    stars_payment_received,
    stars_pre_checkout_check,
)
from telegram_bot.bot import texts_checkout
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import reply

logger = logging.getLogger(__name__)

# Telegram cancels a purchase whose pre_checkout_query is not answered within 10 seconds
# (https://core.telegram.org/bots/api#answerprecheckoutquery): a check slower than this is
# answered "not now" while there is still time.
PRE_CHECKOUT_CHECK_SECONDS = 5.0


async def send_stars_invoice(
    context: ContextTypes.DEFAULT_TYPE, *, chat_id: int, invoice: StarsInvoice
) -> None:
    """``sendInvoice`` in XTR: no ``provider_token`` (empty for Stars) and exactly one price,
    in whole stars (https://core.telegram.org/bots/api#sendinvoice)."""
    await context.bot.send_invoice(
        chat_id=chat_id,
        title=invoice.title,
        description=invoice.description,
        payload=invoice.payload,
        currency=invoice.currency,
        prices=[LabeledPrice(invoice.label, invoice.stars)],
    )


async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer at once: ok only for a pending, unexpired payment of this buyer at its price."""
    query = update.pre_checkout_query
    user = query.from_user
    try:
        error = await asyncio.wait_for(
            call_service(
                stars_pre_checkout_check,
                payload=query.invoice_payload,
                currency=query.currency,
                total_amount=query.total_amount,
                user_id=user.id,
                language_code=user.language_code,
            ),
            timeout=PRE_CHECKOUT_CHECK_SECONDS,
        )
    except Exception:  # the database is slow or down: refuse now rather than time out
        logger.exception("pre_checkout_query %s: the check failed", query.id)
        error = texts_checkout.stars_unavailable(language_code=user.language_code)
    if error:
        await query.answer(ok=False, error_message=error)
    else:
        await query.answer(ok=True)


async def successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stored, then credited once; if it cannot be, the buyer hears that support knows."""
    result = await call_service(stars_payment_received, update=update.to_dict())
    if result.status_code == 200:
        return
    user = update.effective_user
    language = await call_service(buyer_language, user_id=user.id, language_code=user.language_code)
    await reply(update, texts_checkout.stars_not_credited(language=language))


HANDLERS: list[BaseHandler] = [
    PreCheckoutQueryHandler(pre_checkout),
    MessageHandler(filters.SUCCESSFUL_PAYMENT, successful_payment),
]
