"""/trial: the free trial, once per customer (the rule is `subscription_trial_grant`)."""

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from core.exceptions import ApplicationError
from notifications.callbacks import TRIAL, callback_exact
from subscriptions.services.lifecycle import subscription_trial_grant
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, pressed, show
from telegram_bot.bot.selectors import running_trial_get


async def trial_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trial: start the free trial, or say politely why not and offer the tariffs."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    try:
        subscription = await call_service(subscription_trial_grant, customer=customer)
    except ApplicationError as exc:
        running = await call_service(running_trial_get, customer=customer)
        if running is not None:  # not "already used": it is on, and until when
            await show(
                update,
                texts.trial_running(language=language, expires_at=running.expires_at),
                keyboards.trial_granted_keyboard(language=language, subscription_id=running.pk),
            )
            return
        await show(
            update,
            texts.trial_refused(language=language, reason=exc.message),
            keyboards.buy_retry_keyboard(language=language),
        )
        return
    await show(
        update,
        texts.trial_granted(
            language=language,
            expires_at=subscription.expires_at,
            duration_days=(subscription.expires_at - subscription.started_at).days,
        ),
        keyboards.trial_granted_keyboard(language=language, subscription_id=subscription.pk),
    )


HANDLERS: list[BaseHandler] = [
    CommandHandler("trial", trial_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(pressed(trial_command), pattern=callback_exact(TRIAL)),
]
