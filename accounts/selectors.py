"""Reads of subscribers."""

from accounts.models import Customer


def customer_get_by_telegram_id(*, telegram_id: int) -> Customer | None:
    """The customer with this Telegram id, or None."""
    return Customer.objects.filter(telegram_id=telegram_id).first()
