"""/language: choose Russian or English."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from accounts.models import Language
from accounts.services import customer_language_set
from notifications.callbacks import LANGUAGE, callback_args, callback_pattern
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, main_menu, show
from telegram_bot.bot.handlers.fallback import outdated_button


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: offer the languages, the current one ticked."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show(
        update,
        texts.language_prompt(language=customer.language),
        keyboards.language_keyboard(language=customer.language),
    )


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``lang`` offers the languages; ``lang:<code>`` sets one and shows the menu in it."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    if not args:
        await language_command(update, context)
        return
    if args[0] not in Language.values:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    customer = await call_service(customer_language_set, customer=customer, language=args[0])
    await show(
        update,
        texts.language_changed(language=customer.language)
        + "\n\n"
        + texts.menu(language=customer.language),
        await main_menu(customer),
    )


HANDLERS: list[BaseHandler] = [
    CommandHandler("language", language_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(language_button, pattern=callback_pattern(LANGUAGE)),
]
