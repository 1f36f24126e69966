"""/help: how to connect, and where support is."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from notifications.callbacks import HELP, callback_pattern
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, pressed, show


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


HANDLERS: list[BaseHandler] = [
    CommandHandler("help", help_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(pressed(help_command), pattern=callback_pattern(HELP)),
]
