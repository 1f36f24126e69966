"""The promo code's screens (``handlers.promo``). Like ``texts``: HTML, escaped here."""

from html import escape
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _

from notifications.formatting import date_format, days, money_format

if TYPE_CHECKING:
    from telegram_bot.bot.promo import PromoEntry, PromoOffer


def button_promo(*, language: str) -> str:
    with translation.override(language):
        return _("🎟 Promo code")


def button_promo_again(*, language: str) -> str:
    with translation.override(language):
        return _("🎟 Enter another code")


def button_free(*, language: str) -> str:
    with translation.override(language):
        return _("🎁 Get it free")


def promo_ask(*, language: str) -> str:
    with translation.override(language):
        return _("🎟 Send the promo code as a message.")


def promo_note(*, language: str, offer: "PromoOffer") -> str:
    """Under the chosen tariff: what the chat's code does to its price, or why it does not."""
    code = escape(offer.code)
    with translation.override(language):
        if not offer.applies:
            return _("🎟 Promo code <code>%(code)s</code>: %(error)s") % {
                "code": code,
                "error": escape(offer.error),
            }
        if offer.free:
            return _("🎁 Promo code <code>%(code)s</code>: this purchase is free.") % {"code": code}
        if offer.days:
            return _("🎟 Promo code <code>%(code)s</code>: %(days)s more as a gift.") % {
                "code": code,
                "days": days(offer.days),
            }
        return _("🎟 Promo code <code>%(code)s</code>: %(price)s instead of %(before)s.") % {
            "code": code,
            "price": money_format(offer.price, offer.currency),
            "before": money_format(offer.price_before, offer.currency),
        }


def promo_entered(*, language: str, entry: "PromoEntry") -> str:
    """After a code was typed or opened through a link."""
    code = escape(entry.code)
    with translation.override(language):
        if entry.error:
            return _("🎟 Promo code <code>%(code)s</code>: %(error)s") % {
                "code": code,
                "error": escape(entry.error),
            }
        if entry.saved:
            return _(
                "🎟 Promo code <code>%(code)s</code> is saved: it applies when you pay. "
                "Choose a tariff."
            ) % {"code": code}
        return _(
            "🎁 Promo code <code>%(code)s</code> activated: %(title)s, running until %(date)s."
        ) % {"code": code, "title": entry.title, "date": date_format(entry.expires_at)}
