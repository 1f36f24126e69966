"""/help: how to connect, a platform picker, and per platform the apps with their store links
and one-tap "add to <app>" buttons for the customer's subscription (``help_screens``)."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from notifications.callbacks import HELP, callback_args, callback_exact, callback_pattern
from subscriptions.deeplinks import PLATFORMS
from telegram_bot.bot import help_screens, keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, pressed, show


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the steps, the platform picker and the support contact."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show(
        update,
        texts.help_text(language=customer.language),
        keyboards.help_keyboard(language=customer.language),
    )


async def help_platform(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``help:<platform>``: the platform's apps; an unknown platform shows the picker."""
    args = callback_args(update.callback_query.data)
    platform = args[0] if args else ""
    if platform not in PLATFORMS:
        await help_command(update, context)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    subscription = await call_service(help_screens.help_subscription_get, customer=customer)
    language = customer.language
    await show(
        update,
        help_screens.help_platform_text(
            language=language, platform=platform, subscription=subscription
        ),
        help_screens.help_platform_keyboard(
            language=language, platform=platform, subscription=subscription
        ),
    )


HANDLERS: list[BaseHandler] = [
    CommandHandler("help", help_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(pressed(help_command), pattern=callback_exact(HELP)),
    CallbackQueryHandler(pressed(help_platform), pattern=callback_pattern(HELP)),
]
