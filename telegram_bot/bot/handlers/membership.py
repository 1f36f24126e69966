"""The user blocked or unblocked the bot (``my_chat_member`` in a private chat)."""

from telegram import ChatMember, Update
from telegram.ext import BaseHandler, ChatMemberHandler, ContextTypes

from accounts.services import customer_bot_blocked_set
from telegram_bot.bot.db import call_service


async def bot_membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record a block, so the outbox stops sending; an unblock clears it."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    blocked = change.new_chat_member.status == ChatMember.BANNED
    await call_service(customer_bot_blocked_set, telegram_id=change.chat.id, blocked=blocked)


HANDLERS: list[BaseHandler] = [
    ChatMemberHandler(bot_membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
]
