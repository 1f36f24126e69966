"""``manage.py runbot``: the Telegram bot poller (long polling against TELEGRAM_API_BASE_URL)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram import Update
from telegram.error import InvalidToken


class Command(BaseCommand):
    help = (
        "Run the Telegram bot (long polling). Needs TELEGRAM_BOT_TOKEN; honours "
        "TELEGRAM_API_BASE_URL. Stops cleanly on SIGINT / SIGTERM."
    )

    def handle(self, *args, **options) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError(
                "TELEGRAM_BOT_TOKEN is empty: set it (environment or .env) to run the bot. "
                "Get a token from @BotFather."
            )
        from telegram_bot.bot.application import build_application

        application = build_application()
        self.stdout.write(f"Polling {settings.TELEGRAM_API_BASE_URL} for updates (Ctrl+C stops)")
        try:
            application.run_polling(
                allowed_updates=Update.ALL_TYPES,
                # Messages sent while the bot was down are still answered.
                drop_pending_updates=False,
                # Telegram unreachable at start: keep retrying with backoff instead of exiting.
                # A rejected token still stops at once (InvalidToken below).
                bootstrap_retries=-1,
            )
        except InvalidToken as exc:
            raise CommandError(f"Telegram rejected TELEGRAM_BOT_TOKEN: {exc}") from None
        self.stdout.write("Bot stopped")
