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


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [referral code]: register or refresh the customer, greet, show the main menu."""
    referral_code = context.args[0] if context.args else None
    customer = await customer_for_update(update, referral_code=referral_code)
    if customer is None:
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
