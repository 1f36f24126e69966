"""Promo codes: the "🎟 Promo code" button of a checkout asks for the code, which arrives as
a text message; ``/start promo_<CODE>`` enters one through a link (``start``). The rules and
the use itself are billing's (``billing.services.promo``); see docs/payments.md."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from accounts.models import Customer
from notifications.callbacks import (
    PROMO,
    buy_tariff_data,
    callback_args,
    callback_pattern,
    int_arg,
    promo_data,
)
from telegram_bot.bot import keyboards_promo, texts_promo
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.buy import offer_screen
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, reply, show
from telegram_bot.bot.handlers.fallback import outdated_button, unknown_message
from telegram_bot.bot.promo import promo_enter, promo_wait_pop, promo_wait_set


def _purchase_args(data: str) -> tuple[int, int | None, str] | None:
    """(tariff, subscription or None, country) of ``promo:…`` or ``buy:t:…`` arguments."""
    args = callback_args(data)
    if args[:1] == ["t"]:
        args = args[1:]
    tariff_id, subscription_id = int_arg(args, 0), int_arg(args, 1)
    if tariff_id is None or subscription_id is None:
        return None
    return tariff_id, subscription_id or None, args[2] if len(args) > 2 else ""


async def promo_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``promo:<tariff>:<sub|0>[:<country>]``: ask for the code; "back" returns to the methods."""
    query = update.callback_query
    await query.answer()
    purchase = _purchase_args(query.data)
    if purchase is None:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    tariff_id, subscription_id, country = purchase
    back = buy_tariff_data(tariff_id, subscription_id, country)
    await call_service(promo_wait_set, chat_id=update.effective_chat.id, back=back)
    language = customer.language
    await show(
        update,
        texts_promo.promo_ask(language=language),
        keyboards_promo.promo_ask_keyboard(language=language, back=back),
    )


async def promo_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: the code, if the chat was asked for one; anything else otherwise."""
    chat_id = update.effective_chat.id
    back = await call_service(promo_wait_pop, chat_id=chat_id)
    purchase = _purchase_args(back) if back else None
    if purchase is None:
        await unknown_message(update, context)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    entry = await call_service(
        promo_enter, customer=customer, code=update.message.text, chat_id=chat_id
    )
    tariff_id, subscription_id, country = purchase
    language = customer.language
    if entry.saved:
        # The payment methods again, now with the code's price.
        await offer_screen(
            update, customer, tariff_id=tariff_id, subscription_id=subscription_id, country=country
        )
    elif entry.error:
        await reply(
            update,
            texts_promo.promo_entered(language=language, entry=entry),
            keyboards_promo.promo_refused_keyboard(
                language=language,
                again=promo_data(tariff_id, subscription_id, country),
                back=back,
            ),
        )
    else:
        await reply(
            update,
            texts_promo.promo_entered(language=language, entry=entry),
            keyboards_promo.promo_granted_keyboard(language=language),
        )


async def promo_deep_link(update: Update, customer: Customer, code: str) -> None:
    """``/start promo_<CODE>``: keep the code for the checkout, or redeem a free one."""
    language = customer.language
    entry = await call_service(
        promo_enter, customer=customer, code=code, chat_id=update.effective_chat.id
    )
    keyboard = (
        keyboards_promo.promo_saved_keyboard(language=language)
        if entry.saved or entry.error
        else keyboards_promo.promo_granted_keyboard(language=language)
    )
    await reply(update, texts_promo.promo_entered(language=language, entry=entry), keyboard)


HANDLERS: list[BaseHandler] = [
    CallbackQueryHandler(promo_button, pattern=callback_pattern(PROMO)),
    # Every plain text: the flows before this one answer commands and buttons only.
    MessageHandler(PRIVATE_MESSAGE & filters.TEXT & ~filters.COMMAND, promo_text),
]
