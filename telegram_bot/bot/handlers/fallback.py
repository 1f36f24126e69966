"""Whatever no flow handled: free text, stickers, unknown commands, outdated buttons."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes, MessageHandler

from telegram_bot.bot import texts
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, main_menu, reply


async def _menu_anew(update: Update, text) -> None:
    """`text` (a function of the language) and the main menu, as a new message."""
    customer = await customer_for_update(update)
    if customer is not None:
        await reply(update, text(language=customer.language), await main_menu(customer))


async def unknown_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any message no flow understood: a short hint and the main menu."""
    await _menu_anew(update, texts.fallback)


async def outdated_button(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, answered: bool = False
) -> None:
    """A button no flow claims (an older keyboard): say so and send the menu anew."""
    # The old message is left as it is: it may hold something the user still needs.
    if not answered:
        await update.callback_query.answer()
    await _menu_anew(update, texts.outdated_button)


# Registered last, after every flow.
HANDLERS: list[BaseHandler] = [
    MessageHandler(PRIVATE_MESSAGE, unknown_message),
    CallbackQueryHandler(outdated_button),
]
