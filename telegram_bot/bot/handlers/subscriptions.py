"""/subscriptions: each subscription with its status, keys, subscription URL and QR code
(callback data ``subs…``: ``notifications.callbacks``); renewing goes to the buy flow."""

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from accounts.models import Customer
from notifications.callbacks import (
    SUB_KEYS,
    SUB_QR,
    SUB_URL,
    SUB_VIEW,
    SUBSCRIPTIONS,
    callback_args,
    callback_exact,
    callback_pattern,
    int_arg,
)
from telegram_bot.bot import balance_screens, keyboards, keyboards_checkout, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, pressed, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.selectors import (
    subscription_card_get,
    subscription_cards_get,
    subscription_keys_get,
    subscription_qr_get,
    trial_offered,
)
from telegram_bot.bot.selectors_checkout import subscription_countries_get


async def show_subscriptions(update: Update, customer: Customer, *, notice: str = "") -> None:
    """None: suggest buying (or the trial); one: its card; several: a list to pick from."""
    language = customer.language
    cards = await call_service(subscription_cards_get, customer=customer)
    if not cards:
        trial = await call_service(trial_offered, customer=customer)
        text = texts.subscriptions_none(language=language)
        markup = keyboards.subscriptions_none_keyboard(language=language, trial=trial)
    elif len(cards) == 1:
        text = texts.subscription_card(language=language, card=cards[0])
        markup = keyboards.subscription_keyboard(language=language, card=cards[0], many=False)
    else:
        text = texts.subscriptions_list(language=language, cards=cards)
        markup = keyboards.subscriptions_list_keyboard(language=language, cards=cards)
    await show(update, f"{notice}\n\n{text}" if notice else text, markup)


async def subscriptions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscriptions: the customer's subscriptions."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show_subscriptions(update, customer)


async def _subscription_read(update: Update, context: ContextTypes.DEFAULT_TYPE, selector):
    """Answer the press, resolve ``subs:<action>:<sub>`` and read it with `selector`.

    Returns ``(customer, subscription_id, what selector found)``, or None when the customer
    has been answered already (an outdated button, or a subscription not theirs).
    """
    query = update.callback_query
    await query.answer()
    subscription_id = int_arg(callback_args(query.data), 1)
    if subscription_id is None:
        await outdated_button(update, context, answered=True)
        return None
    customer = await customer_for_update(update)
    if customer is None:
        return None
    found = await call_service(selector, customer=customer, subscription_id=subscription_id)
    if found is None:
        await show_subscriptions(
            update, customer, notice=texts.subscription_not_found(language=customer.language)
        )
        return None
    return customer, subscription_id, found


async def subscription_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:v:<sub>``: status, expiry, time left, traffic, devices, locations, actions."""
    read = await _subscription_read(update, context, subscription_card_get)
    if read is None:
        return
    customer, subscription_id, (card, count) = read
    await _card_show(update, customer, subscription_id, card, count)


async def subscription_card_show(update: Update, customer: Customer, subscription_id: int) -> None:
    """The card of the customer's subscription (after a change on it), else the list."""
    found = await call_service(
        subscription_card_get, customer=customer, subscription_id=subscription_id
    )
    if found is None:
        await show_subscriptions(
            update, customer, notice=texts.subscription_not_found(language=customer.language)
        )
        return
    card, count = found
    await _card_show(update, customer, subscription_id, card, count)


async def _card_show(update: Update, customer: Customer, subscription_id: int, card, count) -> None:
    language = customer.language
    markup = keyboards.subscription_keyboard(language=language, card=card, many=count > 1)
    text = texts.subscription_card(language=language, card=card)
    if not card.is_trial:  # the auto-renew switch (handlers.balance)
        markup = balance_screens.with_auto_renew_button(
            markup, language=language, subscription_id=subscription_id, on=card.auto_renew
        )
        text += "\n\n" + balance_screens.auto_renew_line(language=language, on=card.auto_renew)
    choice = await call_service(
        subscription_countries_get, customer=customer, subscription_id=subscription_id
    )
    if choice is not None:  # the country button (handlers.countries)
        markup = keyboards_checkout.with_country_button(markup, language=language, choice=choice)
    await show(update, text, markup)


async def subscription_keys(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:k:<sub>``: every key as copyable text, and the subscription URL."""
    read = await _subscription_read(update, context, subscription_keys_get)
    if read is None:
        return
    customer, _id, keys = read
    await show(
        update,
        texts.subscription_keys(language=customer.language, keys=keys),
        keyboards.subscription_keys_keyboard(language=customer.language, card=keys.card),
    )


async def subscription_url(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:u:<sub>``: the subscription URL, to copy or to open."""
    read = await _subscription_read(update, context, subscription_card_get)
    if read is None:
        return
    customer, _id, (card, _count) = read
    await show(
        update,
        texts.subscription_url(language=customer.language, card=card),
        keyboards.subscription_url_keyboard(language=customer.language, card=card),
    )


async def subscription_qr(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:q:<sub>``: a QR code of the subscription URL, generated here, as a photo."""
    read = await _subscription_read(update, context, subscription_qr_get)
    if read is None:
        return
    customer, subscription_id, png = read
    language = customer.language
    caption = texts.subscription_qr(language=language)
    markup = keyboards.subscription_qr_keyboard(language=language, subscription_id=subscription_id)
    message = update.callback_query.message
    if isinstance(message, Message):
        await message.reply_photo(png, caption=caption, reply_markup=markup)
    else:  # too old to reply to: a plain new photo in the chat
        await update.effective_chat.send_photo(png, caption=caption, reply_markup=markup)


HANDLERS: list[BaseHandler] = [
    CommandHandler("subscriptions", subscriptions_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(subscription_view, pattern=callback_pattern(SUBSCRIPTIONS, SUB_VIEW)),
    CallbackQueryHandler(subscription_keys, pattern=callback_pattern(SUBSCRIPTIONS, SUB_KEYS)),
    CallbackQueryHandler(subscription_url, pattern=callback_pattern(SUBSCRIPTIONS, SUB_URL)),
    CallbackQueryHandler(subscription_qr, pattern=callback_pattern(SUBSCRIPTIONS, SUB_QR)),
    CallbackQueryHandler(pressed(subscriptions_command), pattern=callback_exact(SUBSCRIPTIONS)),
]
