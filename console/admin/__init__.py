"""The console's admin: the login with 2FA and the customer card (docs/console.md)."""

from console.admin import customers, login  # noqa: F401 - registers the customer card, sets the login
