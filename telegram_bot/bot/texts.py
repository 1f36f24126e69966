"""Every string the bot shows, translated with Django's gettext (msgids in English).

Each function takes the language to answer in (a customer's `language`) and returns text
ready for ``parse_mode=HTML``: anything that comes from users or settings is escaped here.
Catalogs: ``locale/<lang>/LC_MESSAGES/django.po`` (``manage.py makemessages -l ru -l en``).
"""

from collections.abc import Mapping
from decimal import Decimal
from html import escape

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from telegram_bot.selectors import BotStats

TELEGRAM_TEXT_LIMIT = 4096

# The client apps /help recommends, per platform (product names are not translated).
CLIENT_APPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Android", ("v2rayNG", "Hiddify")),
    ("iOS", ("Streisand", "V2Box", "Hiddify")),
    ("Windows", ("Hiddify", "v2rayN")),
    ("macOS", ("Hiddify", "V2Box")),
)


def support_contact() -> str:
    """The support contact from settings (``@username``, a link or an e-mail), or ""."""
    return (getattr(settings, "TELEGRAM_SUPPORT_CONTACT", "") or "").strip()


def support_url() -> str | None:
    """A link a URL button can open for the support contact, when there is one."""
    contact = support_contact()
    if contact.startswith("@") and len(contact) > 1:
        return f"https://t.me/{contact[1:]}"
    if contact.startswith(("https://", "http://", "tg://")):
        return contact
    return None


# --- conversation ------------------------------------------------------------------------


def greeting(*, language: str, name: str) -> str:
    with translation.override(language):
        return _(
            "Hello, %(name)s! 👋\n\n"
            "This bot gives you fast and private VPN access. "
            "Choose what you would like to do:"
        ) % {"name": escape(name)}


def menu(*, language: str) -> str:
    with translation.override(language):
        return _("Main menu. Choose what you would like to do:")


def help_text(*, language: str) -> str:
    with translation.override(language):
        apps = "\n".join(
            f"• <b>{platform}</b>: {', '.join(names)}" for platform, names in CLIENT_APPS
        )
        text = _(
            "<b>How to connect</b>\n\n"
            "1. Install a client app:\n%(apps)s\n\n"
            "2. Copy your key or subscription link from this bot.\n"
            "3. In the app, import it from the clipboard (or scan the QR code) and connect."
        ) % {"apps": apps}
        contact = support_contact()
        if contact:
            text += "\n\n" + _("Questions? Write to support: %(contact)s") % {
                "contact": escape(contact)
            }
        return text


def language_prompt(*, language: str) -> str:
    with translation.override(language):
        return _("Choose the language of the bot:")


def language_changed(*, language: str) -> str:
    with translation.override(language):
        return _("Done: the bot now speaks English.")


def fallback(*, language: str) -> str:
    with translation.override(language):
        return _("I did not understand that. Please use the menu below:")


def outdated_button(*, language: str) -> str:
    with translation.override(language):
        return _("This button is no longer active. Here is the current menu:")


def banned(*, language: str) -> str:
    with translation.override(language):
        return _("Sorry, access to the service is closed for your account.")


def error(*, language: str) -> str:
    with translation.override(language):
        return _("Something went wrong on our side. Please try again in a minute.")


# --- buttons -----------------------------------------------------------------------------


def button_help(*, language: str) -> str:
    with translation.override(language):
        return _("❓ Help")


def button_language(*, language: str) -> str:
    with translation.override(language):
        return _("🌐 Language")


def button_menu(*, language: str) -> str:
    with translation.override(language):
        return _("« Menu")


def button_support(*, language: str) -> str:
    with translation.override(language):
        return _("✉️ Contact support")


# --- bot commands (the menu Telegram shows next to the input field) -----------------------


def commands(*, language: str) -> list[tuple[str, str]]:
    """(command, description) for every user; descriptions are 1-256 characters."""
    with translation.override(language):
        return [
            ("start", _("Main menu")),
            ("help", _("How to connect")),
            ("language", _("Change the language")),
        ]


def admin_commands(*, language: str) -> list[tuple[str, str]]:
    """Commands shown in the admins' chats in addition to `commands`."""
    with translation.override(language):
        return [("stats", _("Service statistics"))]


# --- admins ------------------------------------------------------------------------------


def _money(amounts: Mapping[str, Decimal]) -> str:
    if not amounts:
        return "0"
    return " + ".join(
        f"{amount:,.2f}".replace(",", "\u202f") + f" {currency}"
        for currency, amount in sorted(amounts.items())
    )


def stats(*, language: str, data: BotStats) -> str:
    with translation.override(language):
        return _(
            "<b>📊 Statistics</b>\n\n"
            "Customers: %(customers_total)d (new today: %(customers_new_today)d)\n"
            "Active subscriptions: %(subscriptions_active)d\n"
            "Nodes: up %(nodes_up)d · degraded %(nodes_degraded)d · down %(nodes_down)d · "
            "unknown %(nodes_unknown)d · disabled %(nodes_disabled)d\n"
            "Revenue today: %(revenue_today)s\n"
            "Revenue in 30 days: %(revenue_30d)s"
        ) % {
            "customers_total": data.customers_total,
            "customers_new_today": data.customers_new_today,
            "subscriptions_active": data.subscriptions_active,
            "nodes_up": data.nodes_up,
            "nodes_degraded": data.nodes_degraded,
            "nodes_down": data.nodes_down,
            "nodes_unknown": data.nodes_unknown,
            "nodes_disabled": data.nodes_disabled,
            "revenue_today": _money(data.revenue_today),
            "revenue_30d": _money(data.revenue_30d),
        }


def admin_error_alert(
    *, language: str, error_type: str, error_message: str, context: str, traceback_tail: str
) -> str:
    """The admins' alert about an unhandled bot error (all arguments are escaped here)."""
    with translation.override(language):
        text = _(
            "⚠️ <b>Bot error</b>: <code>%(error_type)s</code>\n"
            "%(error_message)s\n"
            "Where: %(context)s\n"
            "Errors of this type are not reported again for 10 minutes."
        ) % {
            "error_type": escape(error_type),
            "error_message": escape(error_message),
            "context": escape(context),
        }
    # Keep the whole message within Telegram's limit (counted before entity parsing here,
    # so escaping is accounted for): drop the oldest frames of the traceback first.
    budget = TELEGRAM_TEXT_LIMIT - len(text) - len("\n\n<pre></pre>")
    tail = traceback_tail[-budget:] if budget > 0 else ""
    while tail and len(escape(tail, quote=False)) > budget:
        tail = tail[len(tail) // 8 or 1 :]
    if tail:
        text += f"\n\n<pre>{escape(tail, quote=False)}</pre>"
    return text
