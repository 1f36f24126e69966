"""What every handler does: know the customer, refuse the banned, answer in place."""

import functools
import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from accounts.models import Customer
from accounts.services import customer_register_or_update
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.selectors import trial_offered

logger = logging.getLogger(__name__)

# New messages in a private chat: not edits, not groups or channels the bot was added to.
PRIVATE_MESSAGE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


async def customer_for_update(
    update: Update, *, referral_code: str | None = None
) -> Customer | None:
    """Register or refresh the sender. None when there is no human sender or they are
    banned; a banned customer has then been told so, in one line."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    customer, _created = await call_service(
        customer_register_or_update,
        telegram_id=user.id,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
        referral_code=referral_code,
    )
    if customer.is_banned:
        logger.info("banned customer %s refused", customer.telegram_id)
        await reply(update, texts.banned(language=customer.language))
        return None
    return customer


async def reply(
    update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Send a new message to the chat the update came from."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, reply_markup=reply_markup)


async def show(
    update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer a button press by editing its message; anything else by a new message.
    Returns the message that shows `text` (None: nowhere to show it).

    Falls back to a new message when the pressed message cannot be edited (a photo, too
    old, deleted); an edit that changes nothing is already the wanted state.
    """
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=reply_markup)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return message
            logger.info("could not edit message %s: %s", message.message_id, exc.message)
        else:
            return message
    return await reply(update, text, reply_markup)


def pressed(command: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]):
    """`command` as the handler of a button that does the same: the press is answered first."""

    @functools.wraps(command)
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await command(update, context)

    return handler


async def main_menu(customer: Customer) -> InlineKeyboardMarkup:
    """The main menu for `customer`: the free trial is listed only while it is on offer."""
    trial = await call_service(trial_offered, customer=customer)
    return keyboards.main_menu_keyboard(language=customer.language, trial=trial)
