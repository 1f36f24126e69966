"""The checkout's questions (issue 19): which subscription /buy renews, and whether to buy
again after a purchase made since a button was shown. Like ``texts``: HTML, escaped here."""

from html import escape
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.services import language_from_telegram
from notifications.formatting import country_label, date_format
from notifications.texts import subscription_title

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import BuyOffer, BuyOptions, RenewalTarget
    from telegram_bot.bot.selectors_checkout import CountryChoice, Purchase


def buy_renewal_choice(*, language: str, options: "BuyOptions") -> str:
    """Several running subscriptions: which one to renew, or a new one."""
    with translation.override(language):
        return "\n\n".join(
            [
                _("<b>🛒 Renew or buy</b>"),
                ngettext(
                    "You have %(count)s active subscription. Choose the one to renew, "
                    "or buy a new subscription.",
                    "You have %(count)s active subscriptions. Choose the one to renew, "
                    "or buy a new subscription.",
                    len(options.choices),
                )
                % {"count": len(options.choices)},
            ]
        )


def button_renew_choice(*, language: str, target: "RenewalTarget") -> str:
    with translation.override(language):
        return _("🔄 Renew #%(number)s %(tariff)s · until %(date)s") % {
            "number": target.number,
            "tariff": target.tariff_name,
            "date": date_format(target.expires_at, short=True),
        }


def button_buy_new(*, language: str) -> str:
    with translation.override(language):
        return _("🆕 A new subscription")


def purchase_again(*, language: str, purchase: "Purchase") -> str:
    """An old purchase button pressed after a purchase: ask before a second one."""
    with translation.override(language):
        return _("After this button was shown you already bought %(title)s. Buy another one?") % {
            "title": subscription_title(
                number=purchase.subscription_number, tariff=purchase.tariff_name, language=language
            )
        }


def button_purchase_again_yes(*, language: str) -> str:
    with translation.override(language):
        return _("Yes, buy another one")


def button_purchase_again_no(*, language: str) -> str:
    with translation.override(language):
        return _("No, show my subscription")


def button_country(*, language: str, choice: "CountryChoice") -> str:
    with translation.override(language):
        if choice.country:
            return _("🌍 Country: %(country)s") % {"country": country_label(choice.country)}
        return _("🌍 Choose a country")


def country_menu(*, language: str, choice: "CountryChoice") -> str:
    with translation.override(language):
        current = (
            country_label(choice.country) if choice.country else _("any (the least busy server)")
        )
        return "\n\n".join(
            [
                _("<b>🌍 Country · %(title)s</b>") % {"title": choice.title},
                _("Now: %(country)s.") % {"country": current},
                _(
                    "Choose where your keys should be. They move at once; the apps that use "
                    "the subscription URL follow by themselves, links you added by hand "
                    "arrive again in a separate message."
                ),
            ]
        )


def country_changed(*, language: str, country: str) -> str:
    with translation.override(language):
        return _("✅ Your keys are moving to %(country)s.") % {"country": country_label(country)}


def buy_countries(*, language: str, offer: "BuyOffer") -> str:
    """A new subscription whose tariff offers several countries: where its keys go."""
    with translation.override(language):
        return "\n\n".join(
            [
                _("<b>🌍 Where should your keys be?</b>"),
                _(
                    "Choose a country for your subscription “%(tariff)s”. You can change it "
                    "later from the subscription card."
                )
                % {"tariff": escape(offer.tariff.name)},
            ]
        )


def stars_unavailable(*, language_code: str | None) -> str:
    """A pre-checkout that could not be checked in time: refused, in the client's language."""
    with translation.override(language_from_telegram(language_code=language_code)):
        return _("Payments are temporarily unavailable. Please try again in a minute.")


def stars_not_credited(*, language: str) -> str:
    """Stars taken but the payment could not be credited: support has been told."""
    with translation.override(language):
        return _(
            "⚠️ We received your stars but could not apply them to a purchase automatically. "
            "Support has been told and will sort it out: either the subscription or a refund. "
            "You do not need to pay again."
        )
