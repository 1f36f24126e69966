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
from telegram_bot.bot.handlers.gifts import gift_start_code, show_gift
from telegram_bot.bot.handlers.promo import promo_deep_link
from telegram_bot.bot.promo import DEEP_LINK_PREFIX


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [referral code | gift_<CODE> | promo_<CODE>]: register, greet, the menu."""
    payload = context.args[0] if context.args else None
    gift_code = gift_start_code(payload)
    promo_code = None
    if payload and payload.startswith(DEEP_LINK_PREFIX):
        promo_code = payload.removeprefix(DEEP_LINK_PREFIX)
    referral = payload if gift_code is None and promo_code is None else None
    customer = await customer_for_update(update, referral_code=referral)
    if customer is None:
        return
    if gift_code is not None:
        await show_gift(update, customer, gift_code)
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
