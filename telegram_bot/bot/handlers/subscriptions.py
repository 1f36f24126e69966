"""/subscriptions: each subscription with its status, keys, subscription URL and QR code.

Callback data: ``subs`` (all of them; the only one is shown directly), ``subs:v:<sub>`` one,
``subs:k:<sub>`` its keys, ``subs:u:<sub>`` its URL, ``subs:q:<sub>`` its QR code (a photo).
Renewing goes to the buy flow (``buy:r:<sub>``).
"""

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
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.selectors import (
    subscription_card_get,
    subscription_cards_get,
    subscription_keys_get,
    subscription_qr_get,
    trial_offered,
)


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


async def subscriptions_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "My subscriptions" button: the same, in place."""
    await update.callback_query.answer()
    await subscriptions_command(update, context)


async def _subscription_request(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Customer, int] | None:
    """Answer the press and resolve ``subs:<action>:<sub>``; None when already dealt with."""
    query = update.callback_query
    await query.answer()
    subscription_id = int_arg(callback_args(query.data), 1)
    if subscription_id is None:
        await outdated_button(update, context, answered=True)
        return None
    customer = await customer_for_update(update)
    if customer is None:
        return None
    return customer, subscription_id


async def _not_found(update: Update, customer: Customer) -> None:
    await show_subscriptions(
        update, customer, notice=texts.subscription_not_found(language=customer.language)
    )


async def subscription_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:v:<sub>``: status, expiry, time left, traffic, devices, locations, actions."""
    request = await _subscription_request(update, context)
    if request is None:
        return
    customer, subscription_id = request
    card, count = await call_service(
        subscription_card_get, customer=customer, subscription_id=subscription_id
    )
    if card is None:
        await _not_found(update, customer)
        return
    language = customer.language
    await show(
        update,
        texts.subscription_card(language=language, card=card),
        keyboards.subscription_keyboard(language=language, card=card, many=count > 1),
    )


async def subscription_keys(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:k:<sub>``: every key as copyable text, and the subscription URL."""
    request = await _subscription_request(update, context)
    if request is None:
        return
    customer, subscription_id = request
    keys = await call_service(
        subscription_keys_get, customer=customer, subscription_id=subscription_id
    )
    if keys is None:
        await _not_found(update, customer)
        return
    language = customer.language
    await show(
        update,
        texts.subscription_keys(language=language, keys=keys),
        keyboards.subscription_keys_keyboard(language=language, card=keys.card),
    )


async def subscription_url(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:u:<sub>``: the subscription URL, to copy or to open."""
    request = await _subscription_request(update, context)
    if request is None:
        return
    customer, subscription_id = request
    card, _count = await call_service(
        subscription_card_get, customer=customer, subscription_id=subscription_id
    )
    if card is None:
        await _not_found(update, customer)
        return
    language = customer.language
    await show(
        update,
        texts.subscription_url(language=language, card=card),
        keyboards.subscription_url_keyboard(language=language, card=card),
    )


async def subscription_qr(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:q:<sub>``: a QR code of the subscription URL, generated here, as a photo."""
    request = await _subscription_request(update, context)
    if request is None:
        return
    customer, subscription_id = request
    png = await call_service(
        subscription_qr_get, customer=customer, subscription_id=subscription_id
    )
    if png is None:
        await _not_found(update, customer)
        return
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
    CallbackQueryHandler(subscriptions_button, pattern=callback_exact(SUBSCRIPTIONS)),
]
