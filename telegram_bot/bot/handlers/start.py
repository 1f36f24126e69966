"""/start and the main menu."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from notifications.callbacks import MENU, callback_pattern
from telegram_bot.bot import texts
from telegram_bot.bot.handlers.common import (
    PRIVATE_MESSAGE,
    customer_for_update,
    main_menu,
    reply,
    show,
)
from telegram_bot.bot.handlers.promo import promo_deep_link
from telegram_bot.bot.promo import DEEP_LINK_PREFIX


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [referral code | promo_<CODE>]: greet, the main menu, then a promo link's code."""
    payload = context.args[0] if context.args else None
    promo_code = None
    if payload and payload.startswith(DEEP_LINK_PREFIX):
        promo_code, payload = payload.removeprefix(DEEP_LINK_PREFIX), None
    customer = await customer_for_update(update, referral_code=payload)
    if customer is None:
        return
    language = customer.language
    name = customer.first_name or customer.username or str(customer.telegram_id)
    await reply(
        update,
        texts.greeting(language=language, name=name),
        await main_menu(customer),
    )
    if promo_code is not None:
        await promo_deep_link(update, customer, promo_code)


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "Menu" button: show the main menu in place."""
    await update.callback_query.answer()
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show(
        update,
        texts.menu(language=customer.language),
        await main_menu(customer),
    )


HANDLERS: list[BaseHandler] = [
    CommandHandler("start", start, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(menu, pattern=callback_pattern(MENU)),
]
