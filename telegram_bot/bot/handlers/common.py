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
        language = customer.language
        await reply(
            update, texts.banned(language=language), keyboards.banned_keyboard(language=language)
        )
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


# Entities of text the customer copies or opens: keys and subscription URLs are <code>.
_KEPT_ENTITIES = {"code", "pre", "url", "text_link"}


def keeps(message: Message) -> bool:
    """Whether `message` carries something the customer needs later, so it is never edited
    away: keys or a subscription URL to copy, or a button that opens a link (an app, the
    subscription page, a payment), other than the support contact's."""
    if any(entity.type in _KEPT_ENTITIES for entity in message.entities or ()):
        return True
    markup = message.reply_markup
    support = texts.support_url()
    return any(
        button.url and button.url != support
        for row in (markup.inline_keyboard if markup else ())
        for button in row
    )


async def show(
    update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer a button press by editing its message; anything else by a new message.
    Returns the message that shows `text` (None: nowhere to show it).

    Only menu messages are edited: a message that `keeps` something (keys, links, a
    payment link) stays in the chat and the next screen arrives as a new message.

    Falls back to a new message when the pressed message cannot be edited (a photo, too
    old, deleted); an edit that changes nothing is already the wanted state.
    """
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message) and message.text is not None and not keeps(message):
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
