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


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [referral code | gift_<CODE>]: register, greet and show the menu (or the gift)."""
    payload = context.args[0] if context.args else None
    gift_code = gift_start_code(payload)
    customer = await customer_for_update(
        update, referral_code=payload if gift_code is None else None
    )
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
