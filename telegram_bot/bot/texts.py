"""Every string the bot shows, translated with Django's gettext (msgids in English).

Each function takes the language to answer in (a customer's `language`) and returns text
ready for ``parse_mode=HTML``: anything that comes from users or settings is escaped here.
Catalogs: ``locale/<lang>/LC_MESSAGES/django.po`` (``manage.py makemessages -l ru -l en``).
"""

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.formatting import (
    date_format,
    days,
    money_format,
    money_totals_format,
)
from notifications.services import TELEGRAM_TEXT_LIMIT
from notifications.texts import (  # noqa: F401 - re-exported: shared with notifications
    button_add_to_app,
    button_buy,
    button_how_to_connect,
    button_menu,
    button_my_subscriptions,
    button_open_page,
    button_renew,
    button_support,
    subscription_title,
    support_contact,
    support_url,
    tariff_name,
)
from telegram_bot.bot import help_screens
from telegram_bot.bot.subscription_texts import (  # noqa: F401 - re-exported
    device_gone,
    device_remove_confirm,
    device_removed,
    devices,
    subscription_button,
    subscription_card,
    subscription_devices,
    subscription_keys,
    subscription_not_found,
    subscription_qr,
    subscription_url,
    subscriptions_list,
    subscriptions_none,
    traffic,
)
from telegram_bot.selectors import BotStats

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import (
        BuyOffer,
        BuyOptions,
        Checkout,
        DeviceInfo,
        TariffInfo,
    )

# Call these inside `translation.override`: they use the active language.
# Money, dates and durations: notifications/formatting.py.


def traffic_limit(limit_gb: int) -> str:
    if not limit_gb:
        return _("unlimited traffic")
    return _("%(size)s GB of traffic") % {"size": limit_gb}


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
    """/help's first screen: the steps and the platform picker's prompt (``help_screens``)."""
    return help_screens.help_overview_text(language=language)


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


def not_available(*, language: str) -> str:
    with translation.override(language):
        return _("This option is no longer available. Here is what you can choose now:")


def _tariff_block(tariff: "TariffInfo") -> str:
    return (
        f"<b>{escape(tariff.name)}</b> — {money_format(tariff.price, tariff.currency)}\n"
        f"{days(tariff.duration_days)} · {devices(tariff.device_limit)} · "
        f"{traffic_limit(tariff.traffic_limit_gb)}"
    )


def buy_tariffs(*, language: str, options: "BuyOptions", notice: str = "") -> str:
    """The tariff list; for a renewal, which subscription it extends."""
    with translation.override(language):
        parts = [notice] if notice else []
        if options.refused == "trial":
            parts.append(_("A free trial cannot be extended, but you can buy a subscription."))
        elif options.refused == "gone":
            parts.append(_("That subscription can no longer be renewed. You can buy a new one."))
        target = options.target
        if target is not None:
            parts.append(
                _("<b>🔄 Renew: %(title)s</b>")
                % {
                    "title": subscription_title(
                        number=target.number, tariff=target.tariff_name, language=language
                    )
                }
            )
            if target.running:
                parts.append(
                    _("It is active until %(date)s; the time you buy is added to that.")
                    % {"date": date_format(target.expires_at)}
                )
            else:
                parts.append(
                    _("It has ended; once paid, it starts again from the moment of payment.")
                )
        else:
            parts.append(_("<b>🛒 Choose a tariff</b>"))
        parts.extend(_tariff_block(tariff) for tariff in options.tariffs)
        if target is not None:
            parts.append(_("Choose how long to renew it for:"))
        return "\n\n".join(parts)


def buy_no_tariffs(*, language: str) -> str:
    with translation.override(language):
        return _(
            "There is nothing on sale right now. Please check back later, "
            "or ask support if you need access now."
        )


def buy_no_providers(*, language: str) -> str:
    with translation.override(language):
        return _(
            "Payments are temporarily unavailable. Please try again a little later, "
            "or write to support and we will help you."
        )


def buy_providers(*, language: str, offer: "BuyOffer") -> str:
    """The chosen tariff and, for a renewal, the expiry it leads to; then the methods."""
    with translation.override(language):
        parts = [_tariff_block(offer.tariff)]
        if offer.target is not None and offer.expires_after is not None:
            parts.append(
                _("Renewal: %(title)s, then running until %(date)s.")
                % {
                    "title": subscription_title(
                        number=offer.target.number,
                        tariff=offer.target.tariff_name,
                        language=language,
                    ),
                    "date": date_format(offer.expires_after),
                }
            )
        parts.append(_("Choose a payment method:"))
        return "\n\n".join(parts)


def _validity(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(hours)d hour", "%(hours)d hours", hours) % {"hours": hours}
    return ngettext("%(minutes)d minute", "%(minutes)d minutes", minutes) % {"minutes": minutes}


def buy_checkout(*, language: str, checkout: "Checkout") -> str:
    """The payment created: what it is for, what happens after paying, how long the link lives."""
    with translation.override(language):
        parts = [
            _("<b>💳 Payment %(number)s</b>") % {"number": checkout.payment_number},
            _("%(tariff)s — %(amount)s, %(method)s")
            % {
                "tariff": escape(checkout.tariff.name),
                "amount": money_format(checkout.amount, checkout.currency),
                "method": escape(checkout.provider_label),
            },
        ]
        if checkout.target is not None and checkout.expires_after is not None:
            parts.append(
                _("After payment: %(title)s, running until %(date)s.")
                % {
                    "title": subscription_title(
                        number=checkout.target.number,
                        tariff=checkout.target.tariff_name,
                        language=language,
                    ),
                    "date": date_format(checkout.expires_after),
                }
            )
            if checkout.invoice is None:
                parts.append(
                    _(
                        "Tap “Pay” to open the payment page. When the payment goes through, "
                        "this chat gets a confirmation and your keys simply keep working: "
                        "there is no need to come back and check."
                    )
                )
        else:
            parts.append(
                _("After payment, your subscription starts at once for %(duration)s.")
                % {"duration": days(checkout.tariff.duration_days)}
            )
            if checkout.invoice is None:
                parts.append(
                    _(
                        "Tap “Pay” to open the payment page. When the payment goes through, "
                        "your keys arrive in this chat automatically: there is no need to "
                        "come back and check."
                    )
                )
        if checkout.invoice is not None:
            parts.append(
                _(
                    "Pay with the invoice below: tap “Pay %(amount)s” on it. This chat gets a "
                    "confirmation as soon as the stars are paid."
                )
                % {"amount": money_format(checkout.amount, checkout.currency)}
            )
            parts.append(
                _("The invoice is valid for %(duration)s.")
                % {"duration": _validity(checkout.valid_minutes)}
            )
        else:
            parts.append(
                _("The payment link is valid for %(duration)s.")
                % {"duration": _validity(checkout.valid_minutes)}
            )
        return "\n\n".join(parts)


def trial_granted(*, language: str, expires_at: datetime, duration_days: int) -> str:
    with translation.override(language):
        return _(
            "🎁 Your free trial is on: %(duration)s, until %(date)s.\n\n"
            "Your keys are being set up and will arrive in this chat in a minute."
        ) % {"duration": days(duration_days), "date": date_format(expires_at)}


def trial_running(*, language: str, expires_at: datetime) -> str:
    with translation.override(language):
        return _(
            "🎁 Your free trial is running until %(date)s. Your keys are in “My subscriptions”; "
            "to keep the VPN after it, choose a tariff."
        ) % {"date": date_format(expires_at)}


def trial_refused(*, language: str, reason: str) -> str:
    """A refusal from the trial service (already in the customer's language), and what next."""
    with translation.override(language):
        return escape(reason) + "\n\n" + _("You can choose a tariff instead:")


def button_help(*, language: str) -> str:
    with translation.override(language):
        return _("❓ Help")


def button_language(*, language: str) -> str:
    with translation.override(language):
        return _("🌐 Language")


def button_trial(*, language: str) -> str:
    with translation.override(language):
        return _("🎁 Free trial")


def button_back(*, language: str) -> str:
    with translation.override(language):
        return _("« Back")


def button_new_subscription(*, language: str) -> str:
    with translation.override(language):
        return _("🆕 A new subscription instead")


def button_tariff(*, language: str, tariff: "TariffInfo") -> str:
    with translation.override(language):
        return (
            f"{tariff.name} · {days(tariff.duration_days)} · "
            f"{money_format(tariff.price, tariff.currency)}"
        )


def button_pay(*, language: str, amount: Decimal, currency: str) -> str:
    with translation.override(language):
        return _("💳 Pay %(amount)s") % {"amount": money_format(amount, currency)}


def button_other_method(*, language: str) -> str:
    with translation.override(language):
        return _("« Another payment method")


def button_keys(*, language: str) -> str:
    with translation.override(language):
        return _("🔑 Keys")


def button_subscription_url(*, language: str) -> str:
    with translation.override(language):
        return _("🔗 Subscription URL")


def button_qr(*, language: str) -> str:
    with translation.override(language):
        return _("📷 QR code")


def button_devices(*, language: str) -> str:
    with translation.override(language):
        return _("📱 Devices")


def button_device_remove(*, language: str, device: "DeviceInfo") -> str:
    label = device.label if len(device.label) <= 40 else device.label[:39] + "…"
    with translation.override(language):
        return _("✖ Remove %(name)s") % {"name": label}


def button_device_remove_yes(*, language: str) -> str:
    with translation.override(language):
        return _("✖ Yes, remove it")


def button_all_subscriptions(*, language: str) -> str:
    with translation.override(language):
        return _("« All subscriptions")


# The bot commands: the menu Telegram shows next to the input field.


def commands(*, language: str) -> list[tuple[str, str]]:
    """(command, description) for every user; descriptions are 1-256 characters."""
    with translation.override(language):
        return [
            ("start", _("Main menu")),
            ("buy", _("Buy or renew a subscription")),
            ("subscriptions", _("My subscriptions and keys")),
            ("balance", _("Balance, top-ups and history")),
            ("invite", _("Invite friends")),
            ("trial", _("Free trial")),
            ("gift", _("Redeem a gift code")),
            ("help", _("How to connect")),
            ("language", _("Change the language")),
        ]


def admin_commands(*, language: str) -> list[tuple[str, str]]:
    """Commands shown in the admins' chats in addition to `commands`."""
    with translation.override(language):
        return [("stats", _("Service statistics"))]


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
            "revenue_today": money_totals_format(data.revenue_today),
            "revenue_30d": money_totals_format(data.revenue_30d),
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
