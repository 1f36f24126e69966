"""/stats for the admins (TELEGRAM_ADMIN_CHAT_IDS): customers, subscriptions, nodes, revenue."""

from django.conf import settings
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, filters

from telegram_bot.bot import texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import customer_for_update, reply
from telegram_bot.bot.handlers.fallback import unknown_message
from telegram_bot.selectors import bot_stats_get


def is_admin_chat(chat_id: int | None) -> bool:
    """Whether the chat is one of TELEGRAM_ADMIN_CHAT_IDS (read on every call)."""
    return chat_id is not None and chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: the summary for an admin chat; to anyone else it is an unknown command."""
    chat = update.effective_chat
    if not is_admin_chat(chat.id if chat else None):
        if chat is not None and chat.type == ChatType.PRIVATE:
            await unknown_message(update, context)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    data = await call_service(bot_stats_get)
    await reply(update, texts.stats(language=customer.language, data=data))


HANDLERS: list[BaseHandler] = [
    CommandHandler("stats", stats, filters=filters.UpdateType.MESSAGE),
]
