"""/help per platform (issue 19): a platform picker, then for the chosen platform the apps to
install with their store links and one-tap "add to <app>" buttons for the customer's own
subscription URL.

The apps, their store links and what each platform is recommended are
``subscriptions.deeplinks`` (``APPS``, ``RECOMMENDED``; sources cited there), the same the
subscription page offers. Telegram's URL buttons take only http(s) and tg:// links
(https://core.telegram.org/bots/api#inlinekeyboardbutton), so an "add to" button opens our
``/sub/<token>/open/<app>`` page, which opens the app's deep link (``app_open_url``).
"""

from html import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from accounts.models import Customer
from notifications import texts as shared_texts
from notifications.callbacks import BUY, HELP, MENU, callback_data
from subscriptions.deeplinks import (
    APPS,
    PLATFORM_ANDROID,
    PLATFORM_IOS,
    PLATFORM_LINUX,
    PLATFORM_MACOS,
    PLATFORM_NAMES,
    PLATFORM_WINDOWS,
    PLATFORMS,
    RECOMMENDED,
    app_open_url,
    store_label,
)
from subscriptions.models import Subscription
from subscriptions.selectors import subscription_feed_url

PLATFORM_ICONS = {
    PLATFORM_ANDROID: "🤖",
    PLATFORM_IOS: "📱",
    PLATFORM_WINDOWS: "🪟",
    PLATFORM_MACOS: "🍏",
    PLATFORM_LINUX: "🐧",
}


def help_platform_data(platform: str) -> str:
    return callback_data(HELP, platform)


def help_subscription_get(*, customer: Customer) -> Subscription | None:
    """The subscription /help adds to an app: the running one that ends last, else the
    latest one (its URL works again once renewed); None without any. One query."""
    subscriptions = list(
        Subscription.objects.filter(customer=customer)
        .select_related("tariff")
        .order_by("-expires_at", "-pk")
    )
    now = timezone.now()
    running = [subscription for subscription in subscriptions if subscription.is_running(now)]
    return (running or subscriptions or [None])[0]


def help_overview_text(*, language: str) -> str:
    with translation.override(language):
        text = _(
            "<b>How to connect</b>\n\n"
            "1. Choose your device below: you will see which app to install and where.\n"
            "2. Tap “📲 Add to …” under the app: it opens with your subscription added.\n"
            "3. Connect in the app.\n\n"
            "You can also copy your subscription URL in “📋 My subscriptions” and import it "
            "from the clipboard."
        )
        contact = shared_texts.support_contact()
        if contact:
            text += "\n\n" + _("Questions? Write to support: %(contact)s") % {
                "contact": escape(contact)
            }
        return text


def help_platform_text(*, language: str, platform: str, subscription: Subscription | None) -> str:
    """The apps for `platform` with their store links; what the buttons add, if anything."""
    with translation.override(language):
        lines = [
            f"<b>{PLATFORM_ICONS[platform]} {PLATFORM_NAMES[platform]}</b>",
            "",
            _("Install one of these apps:"),
        ]
        for key in RECOMMENDED[platform]:
            stores = " · ".join(
                f'<a href="{escape(store.url)}">{escape(store_label(store.kind))}</a>'
                for store in APPS[key].stores[platform]
            )
            lines.append(f"• <b>{escape(APPS[key].name)}</b>: {stores}")
        lines.append("")
        if subscription is None:
            lines.append(
                _(
                    "You have no subscription yet: buy one or take the free trial, and the "
                    "buttons here will add it to your app in one tap."
                )
            )
        else:
            lines.append(
                _("Then tap “📲 Add to …” below: the app opens with %(title)s added.")
                % {"title": shared_texts.subscription_title_of(subscription, language=language)}
            )
        return "\n".join(lines)


def help_overview_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """The platform picker, the support contact (when set) and the menu."""
    picks = [
        InlineKeyboardButton(
            f"{PLATFORM_ICONS[platform]} {PLATFORM_NAMES[platform]}",
            callback_data=help_platform_data(platform),
        )
        for platform in PLATFORMS
    ]
    url = shared_texts.support_url()
    support = (
        [[InlineKeyboardButton(shared_texts.button_support(language=language), url=url)]]
        if url
        else []
    )
    menu = InlineKeyboardButton(shared_texts.button_menu(language=language), callback_data=MENU)
    return InlineKeyboardMarkup([picks[:2], picks[2:], *support, [menu]])


def help_platform_keyboard(
    *, language: str, platform: str, subscription: Subscription | None
) -> InlineKeyboardMarkup:
    """One-tap "add to <app>" buttons for `subscription` (two a row), or "Buy" without
    one; then back to the platforms and the menu."""
    if subscription is None:
        top = [
            [InlineKeyboardButton(shared_texts.button_buy(language=language), callback_data=BUY)]
        ]
    else:
        feed_url = subscription_feed_url(subscription=subscription)
        buttons = [
            InlineKeyboardButton(
                shared_texts.button_add_to_app(app_name=APPS[key].name, language=language),
                url=app_open_url(feed_url=feed_url, app=key),
            )
            for key in RECOMMENDED[platform]
        ]
        top = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    with translation.override(language):
        back = InlineKeyboardButton(_("« Back"), callback_data=HELP)
    menu = InlineKeyboardButton(shared_texts.button_menu(language=language), callback_data=MENU)
    return InlineKeyboardMarkup([*top, [back, menu]])
