"""Telegram Bot API: the bot token, where the API lives, who the admins are, outbox limits."""

from vpnsite.env import env

TELEGRAM_BOT_TOKEN = env("TELEGRAM_BOT_TOKEN", default="")
# A local Bot API server or a test double can stand in for the public one.
TELEGRAM_API_BASE_URL = env("TELEGRAM_API_BASE_URL", default="https://api.telegram.org").rstrip("/")
TELEGRAM_ADMIN_CHAT_IDS = [int(x) for x in env.list("TELEGRAM_ADMIN_CHAT_IDS", default=[])]
TELEGRAM_BOT_USERNAME = env("TELEGRAM_BOT_USERNAME", default="")
TELEGRAM_SUPPORT_CONTACT = env("TELEGRAM_SUPPORT_CONTACT", default="")
# (connect, read) seconds for every Bot API call made by the outbox.
TELEGRAM_HTTP_TIMEOUT = (
    env.float("TELEGRAM_CONNECT_TIMEOUT", default=5.0),
    env.float("TELEGRAM_READ_TIMEOUT", default=15.0),
)
# Telegram's documented limits: about 30 messages/s overall and 1 message/s per chat.
# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
TELEGRAM_RATE_GLOBAL_PER_SECOND = env.int("TELEGRAM_RATE_GLOBAL_PER_SECOND", default=30)
TELEGRAM_RATE_PER_CHAT_SECONDS = env.float("TELEGRAM_RATE_PER_CHAT_SECONDS", default=1.0)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_BACKOFF_BASE_SECONDS = env.float("OUTBOX_BACKOFF_BASE_SECONDS", default=5.0)
OUTBOX_BACKOFF_MAX_SECONDS = env.float("OUTBOX_BACKOFF_MAX_SECONDS", default=3600.0)
