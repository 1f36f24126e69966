"""The country of a subscription's keys, from its card (callback data ``subs:c…``:
``notifications.callbacks``): the offered countries, then the move."""

from html import escape

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from core.exceptions import ApplicationError
from notifications.callbacks import (
    SUB_COUNTRY,
    SUB_COUNTRY_SET,
    SUBSCRIPTIONS,
    callback_args,
    callback_pattern,
    int_arg,
)
from telegram_bot.bot import keyboards_checkout, texts, texts_checkout
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import customer_for_update, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.handlers.subscriptions import show_subscriptions
from telegram_bot.bot.selectors_checkout import subscription_countries_get
from telegram_bot.bot.services import country_change


async def _choice(update: Update, context: ContextTypes.DEFAULT_TYPE):
    """Answer the press; (customer, choice, country argument) or None when answered."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    subscription_id = int_arg(args, 1)
    if subscription_id is None:
        await outdated_button(update, context, answered=True)
        return None
    customer = await customer_for_update(update)
    if customer is None:
        return None
    choice = await call_service(
        subscription_countries_get, customer=customer, subscription_id=subscription_id
    )
    if choice is None:
        await show_subscriptions(
            update, customer, notice=texts.not_available(language=customer.language)
        )
        return None
    return customer, choice, args[2] if len(args) > 2 else ""


async def country_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:c:<sub>``: the countries the subscription's keys may live in."""
    found = await _choice(update, context)
    if found is None:
        return
    customer, choice, _country = found
    language = customer.language
    await show(
        update,
        texts_checkout.country_menu(language=language, choice=choice),
        keyboards_checkout.country_menu_keyboard(language=language, choice=choice),
    )


async def country_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:cs:<sub>:<code>``: move the subscription's keys to that country."""
    found = await _choice(update, context)
    if found is None:
        return
    customer, choice, country = found
    language = customer.language
    try:
        await call_service(
            country_change,
            customer=customer,
            subscription_id=choice.subscription_id,
            country=country,
        )
    except ApplicationError as exc:
        text = escape(exc.message)
    else:
        text = texts_checkout.country_changed(language=language, country=country)
    choice = await call_service(
        subscription_countries_get, customer=customer, subscription_id=choice.subscription_id
    )
    if choice is None:
        await show_subscriptions(update, customer, notice=text)
        return
    await show(
        update,
        f"{text}\n\n{texts_checkout.country_menu(language=language, choice=choice)}",
        keyboards_checkout.country_menu_keyboard(language=language, choice=choice),
    )


HANDLERS: list[BaseHandler] = [
    CallbackQueryHandler(country_menu, pattern=callback_pattern(SUBSCRIPTIONS, SUB_COUNTRY)),
    CallbackQueryHandler(country_chosen, pattern=callback_pattern(SUBSCRIPTIONS, SUB_COUNTRY_SET)),
]
