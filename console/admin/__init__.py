"""The console's admin: the login with 2FA, the customer card and broadcasts (docs/console.md)."""

from console.admin import broadcasts, customers, login  # noqa: F401 - registers, sets the login
