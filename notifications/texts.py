"""Texts that messages outside the bot share with it: button labels, tariff names, the
support contact. The bot's own texts (``telegram_bot/bot/texts.py``) take these from here.

Labels are translated with Django's gettext (msgids in English) into `language`.
"""

from html import escape

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from core.runtime_settings import runtime_settings


def support_contact() -> str:
    """The support contact (``@username``, a link or an e-mail), or "": a runtime setting
    (the console's Config page; ``TELEGRAM_SUPPORT_CONTACT`` is its default). In the bot it is the
    value read for the update being handled (core/runtime_settings.py)."""
    return (runtime_settings().get("SUPPORT_CONTACT") or "").strip()


def bot_url() -> str:
    """The bot's t.me link (``TELEGRAM_BOT_USERNAME``), or "" when no username is set."""
    username = (getattr(settings, "TELEGRAM_BOT_USERNAME", "") or "").strip().lstrip("@")
    return f"https://t.me/{username}" if username else ""


def support_url() -> str | None:
    """A link a URL button can open for the support contact, when there is one."""
    contact = support_contact()
    if contact.startswith("@") and len(contact) > 1:
        return f"https://t.me/{contact[1:]}"
    if contact.startswith(("https://", "http://", "tg://")):
        return contact
    return None


def tariff_name(*, name: str, name_en: str, language: str) -> str:
    """A tariff's name in `language`: ``name_en`` for English when set, else ``name``."""
    return name_en if language == "en" and name_en else name


def subscription_title(*, number: int | None, tariff: str, language: str) -> str:
    """How every message names a subscription: "Subscription 2 · 3 months" (HTML-escaped).

    `number` is the customer's own (``Subscription.number``), `tariff` the name of the
    tariff it now runs on, in `language` (``tariff_name``).
    """
    with translation.override(language):
        return _("Subscription %(number)s · %(tariff)s") % {
            "number": number,
            "tariff": escape(tariff),
        }


def subscription_title_of(subscription, *, language: str) -> str:
    """`subscription_title` of a ``Subscription`` row (its tariff loaded)."""
    tariff = subscription.tariff
    return subscription_title(
        number=subscription.number,
        tariff=tariff_name(name=tariff.name, name_en=tariff.name_en, language=language),
        language=language,
    )


def button_menu(*, language: str) -> str:
    with translation.override(language):
        return _("« Menu")


def button_support(*, language: str) -> str:
    with translation.override(language):
        return _("✉️ Contact support")


def button_buy(*, language: str) -> str:
    with translation.override(language):
        return _("🛒 Buy")


def button_my_subscriptions(*, language: str) -> str:
    with translation.override(language):
        return _("📋 My subscriptions")


def button_balance(*, language: str) -> str:
    with translation.override(language):
        return _("💰 Balance")


def button_renew(*, language: str) -> str:
    with translation.override(language):
        return _("🔄 Renew")


def button_open_page(*, language: str) -> str:
    with translation.override(language):
        return _("Open subscription page")


def button_add_to_app(*, app_name: str, language: str) -> str:
    """The keys message's one-tap "add the subscription to <app>" button."""
    with translation.override(language):
        return _("📲 Add to %(app)s") % {"app": app_name}


def button_how_to_connect(*, language: str) -> str:
    with translation.override(language):
        return _("❓ How to connect")
