"""Local stand-ins for the external services the project talks to (loopback only)."""

from tests.doubles.telegram_api import ApiCall, TelegramApiDouble

__all__ = ["ApiCall", "TelegramApiDouble"]
