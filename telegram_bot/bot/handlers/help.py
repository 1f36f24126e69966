"""/help: how to connect, and where support is."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from notifications.callbacks import HELP, callback_pattern
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, show


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: client apps per platform, the import steps and the support contact."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show(
        update,
        texts.help_text(language=customer.language),
        keyboards.help_keyboard(language=customer.language),
    )


async def help_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "Help" menu button: the same help, in place of the menu."""
    await update.callback_query.answer()
    await help_command(update, context)


HANDLERS: list[BaseHandler] = [
    CommandHandler("help", help_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(help_button, pattern=callback_pattern(HELP)),
]
