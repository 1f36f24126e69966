"""The gift screens' texts (buying a tariff as a gift, redeeming a code). Like ``texts``:
HTML, escaped here."""

from html import escape
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _

from notifications.formatting import date_format, days, money_format
from telegram_bot.bot.texts import _validity

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import BuyOffer, Checkout
    from telegram_bot.bot.selectors_gifts import GiftOffer
    from telegram_bot.bot.services_gifts import GiftRedeemed


def button_gift(*, language: str) -> str:
    with translation.override(language):
        return _("🎁 As a gift")


def gift_providers(*, language: str, offer: "BuyOffer") -> str:
    """A tariff chosen as a gift: what the buyer gets, then how to pay."""
    with translation.override(language):
        return "\n\n".join(
            [
                _("<b>🎁 A gift: %(tariff)s</b>") % {"tariff": escape(offer.tariff.name)},
                _("%(duration)s — %(amount)s.")
                % {
                    "duration": days(offer.tariff.duration_days),
                    "amount": money_format(offer.tariff.price, offer.tariff.currency),
                },
                _(
                    "After payment you get a gift code and a link to send. The person who "
                    "opens it gets the subscription: a new one, or the days added to theirs. "
                    "Choose how to pay:"
                ),
            ]
        )


def gift_checkout(*, language: str, checkout: "Checkout") -> str:
    """A gift's payment created: what it is, what arrives after paying, how long it lives."""
    with translation.override(language):
        return "\n\n".join(
            [
                _("<b>💳 Payment %(number)s</b>") % {"number": checkout.payment_number},
                _("🎁 Gift: %(tariff)s — %(amount)s, %(method)s")
                % {
                    "tariff": escape(checkout.tariff.name),
                    "amount": money_format(checkout.amount, checkout.currency),
                    "method": escape(checkout.provider_label),
                },
                _(
                    "Tap “Pay” to open the payment page. When the payment goes through, the "
                    "gift code and the link to send arrive in this chat."
                ),
                _("The payment link is valid for %(duration)s.")
                % {"duration": _validity(checkout.valid_minutes)},
            ]
        )


def gift_offer(*, language: str, offer: "GiftOffer") -> str:
    """A gift code opened: what it gives and how it can be redeemed."""
    with translation.override(language):
        parts = [
            _("<b>🎁 A gift for you</b>"),
            _("%(tariff)s, %(duration)s. It can be redeemed until %(date)s.")
            % {
                "tariff": escape(offer.tariff_name),
                "duration": days(offer.duration_days),
                "date": date_format(offer.expires_at),
            },
        ]
        if offer.targets:
            parts.append(_("Start a new subscription with it, or add its days to yours:"))
        else:
            parts.append(_("Tap the button to start your subscription."))
        return "\n\n".join(parts)


def button_gift_new(*, language: str) -> str:
    with translation.override(language):
        return _("🆕 Start a new subscription")


def button_gift_extend(*, language: str, number: int, tariff: str, date) -> str:
    with translation.override(language):
        return _("🔄 Add to #%(number)s %(tariff)s · until %(date)s") % {
            "number": number,
            "tariff": tariff,
            "date": date_format(date, short=True),
        }


def gift_redeemed(*, language: str, redeemed: "GiftRedeemed") -> str:
    with translation.override(language):
        if redeemed.extended:
            return _(
                "🎁 Gift redeemed: %(title)s is extended until %(expires)s.\n"
                "Your keys and subscription URL stay the same."
            ) % {"title": redeemed.title, "expires": date_format(redeemed.expires_at)}
        return _(
            "🎁 Gift redeemed: %(title)s is active until %(expires)s.\n"
            "Your connection keys will follow in a separate message."
        ) % {"title": redeemed.title, "expires": date_format(redeemed.expires_at)}


def gift_ask_code(*, language: str) -> str:
    with translation.override(language):
        return _(
            "🎁 To redeem a gift, open the link you were sent, or send the code: "
            "<code>/gift CODE</code>"
        )


def gift_refused(*, language: str, message: str) -> str:
    """Why a code cannot be redeemed (the service's message, already in `language`)."""
    return "🎁 " + escape(message)
