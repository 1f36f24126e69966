"""Messages about a customer's subscription, queued through the outbox in the customer's language.

Buttons carry the bot's callback data (`notifications.callbacks`) and labels
(`notifications.texts`), so pressing one in a notification opens the same screen as in the
bot, whenever it is pressed.
"""

from datetime import UTC, datetime
from html import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notifications import callbacks, texts
from notifications.formatting import date_format, time_left
from notifications.models import OutboxMessage
from notifications.services import customer_message, notify_customer
from subscriptions.deeplinks import APPS, BOT_APPS, app_open_url
from subscriptions.models import Subscription
from subscriptions.selectors import subscription_feed_url, subscription_links

KIND_REMINDER = "subscription-reminder"
KIND_EXPIRED = "subscription-expired"


def _keys_text(subscription: Subscription, headline: str) -> str:
    links = subscription_links(subscription=subscription)
    lines = [f"<b>{escape(headline)}</b>", ""]
    for key in links:
        lines.append(escape(key.place))
        lines.append(f"<code>{escape(key.link)}</code>")
        lines.append("")
    lines.append(
        _(
            "Subscription URL: add it to your app once, and it keeps your keys up to "
            "date, even when we move you to another server:"
        )
    )
    lines.append(f"<code>{escape(subscription_feed_url(subscription=subscription))}</code>")
    return "\n".join(lines)


def _button(text: str, data: str) -> dict:
    return {"text": text, "callback_data": data}


def _feed_button(subscription: Subscription) -> dict:
    return {
        "text": texts.button_open_page(language=subscription.customer.language),
        "url": subscription_feed_url(subscription=subscription),
    }


def _app_rows(subscription: Subscription, language: str) -> list[list[dict]]:
    """One-tap "add to <app>" buttons, two a row: each opens our https page that opens the
    app (Telegram's URL buttons take no custom scheme; ``subscriptions.page``)."""
    feed_url = subscription_feed_url(subscription=subscription)
    buttons = [
        {
            "text": texts.button_add_to_app(app_name=APPS[app].name, language=language),
            "url": app_open_url(feed_url=feed_url, app=app),
        }
        for app in BOT_APPS
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _my_subscription_button(subscription: Subscription, language: str) -> dict:
    return _button(
        texts.button_my_subscriptions(language=language),
        callbacks.subscription_data(callbacks.SUB_VIEW, subscription.pk),
    )


def _renew_button(subscription: Subscription, language: str) -> dict:
    """Renew this subscription; a trial cannot be renewed, so it leads to the tariffs."""
    if subscription.is_trial:
        return _button(texts.button_buy(language=language), callbacks.BUY)
    return _button(texts.button_renew(language=language), callbacks.buy_renew_data(subscription.pk))


def notify_keys_ready(*, subscription: Subscription) -> None:
    """The keys, the subscription URL and a QR code of it: sent once keys are on a panel."""
    customer = subscription.customer
    language = customer.language
    with translation.override(language):
        notify_customer(
            customer=customer,
            text=_keys_text(subscription, _("Your VPN keys are ready")),
            reply_markup={
                "inline_keyboard": [
                    [_feed_button(subscription)],
                    *_app_rows(subscription, language),
                    [
                        _my_subscription_button(subscription, language),
                        _button(texts.button_how_to_connect(language=language), callbacks.HELP),
                    ],
                ]
            },
            kind="keys-ready",
            dedupe_key=f"keys-ready:{subscription.pk}",
        )
        notify_customer(
            customer=customer,
            text=_("Scan this QR code in your VPN app to add the subscription."),
            qr_payload=subscription_feed_url(subscription=subscription),
            kind="keys-qr",
            dedupe_key=f"keys-qr:{subscription.pk}",
        )


def notify_keys_moved(*, subscription: Subscription, node_down: bool = True) -> None:
    """The key was re-placed (its node went down, or an operator moved it): new links.

    The subscription URL follows by itself; the message is for people who added a link.
    """
    customer = subscription.customer
    language = customer.language
    with translation.override(language):
        headline = (
            _("One of our servers is down, so your key was moved to another one")
            if node_down
            else _("Your key was moved to another server")
        )
        notify_customer(
            customer=customer,
            text=_keys_text(subscription, headline),
            reply_markup={
                "inline_keyboard": [
                    [_feed_button(subscription)],
                    [
                        _my_subscription_button(subscription, language),
                        _renew_button(subscription, language),
                    ],
                ]
            },
            kind="keys-moved",
        )


def notify_subscription_reminder(
    *, subscription: Subscription, reminder: str, now: datetime | None = None
) -> None:
    """Expiry is near (`reminder` is the threshold, e.g. "3d"): once per threshold and expiry."""
    now = now or timezone.now()
    customer = subscription.customer
    language = customer.language
    with translation.override(language):
        values = {
            "title": texts.subscription_title_of(subscription, language=language),
            "left": time_left(subscription.expires_at - now),
            "date": date_format(subscription.expires_at),
        }
        if subscription.is_trial:
            text = (
                _(
                    "⏰ Your free trial ends in %(left)s, on %(date)s.\n"
                    "Choose a tariff to keep using the VPN without a break."
                )
                % values
            )
        else:
            text = (
                _(
                    "⏰ %(title)s ends in %(left)s, on %(date)s.\n"
                    "Renew it now to stay connected: the time you buy is added to what is left, "
                    "and your keys stay the same."
                )
                % values
            )
        notify_customer(
            customer=customer,
            text=text,
            reply_markup={
                "inline_keyboard": [
                    [
                        _renew_button(subscription, language),
                        _my_subscription_button(subscription, language),
                    ]
                ]
            },
            kind=KIND_REMINDER,
            dedupe_key=(
                f"reminder:{subscription.pk}:{reminder}:{subscription.expires_at.isoformat()}"
            ),
        )


def subscription_expired_message(*, subscription: Subscription) -> OutboxMessage | None:
    """The unsaved "your subscription has ended" row, in the customer's language, or None
    for a banned customer (their keys were off already; the ban message said so).

    `subscription` is the expired row with customer and tariff loaded. The dedupe key names
    the expiry, so one expiry is announced once and a renewed subscription that ends again
    is announced again.
    """
    customer = subscription.customer
    if customer.is_banned:
        return None
    language = customer.language
    with translation.override(language):
        values = {"title": texts.subscription_title_of(subscription, language=language)}
        if subscription.is_trial:
            text = _(
                "⛔ Your free trial has ended, and its keys are switched off.\n"
                "Choose a tariff to connect again."
            )
        else:
            text = (
                _(
                    "⛔ %(title)s has ended, and its keys are "
                    "switched off.\n"
                    "Renew it to connect again: the same keys and the same subscription URL will "
                    "work at once."
                )
                % values
            )
        return customer_message(
            customer=customer,
            text=text,
            reply_markup={
                "inline_keyboard": [
                    [
                        _renew_button(subscription, language),
                        _button(texts.button_menu(language=language), callbacks.MENU),
                    ]
                ]
            },
            kind=KIND_EXPIRED,
            # As the database returns it (UTC), whatever zone the caller's `now` was in.
            dedupe_key=f"expired:{subscription.pk}:{subscription.expires_at.astimezone(UTC)}",
        )


KIND_TRAFFIC = "subscription-traffic"
# The shares of the traffic limit a customer is told about, in percent.
TRAFFIC_THRESHOLDS = (80, 100)


def traffic_thresholds_crossed(*, before: int, after: int, limit: int) -> list[int]:
    """The `TRAFFIC_THRESHOLDS` the use went over between two readings (none without a limit)."""
    if not limit:
        return []
    return [p for p in TRAFFIC_THRESHOLDS if before * 100 < limit * p <= after * 100]


def notify_traffic_threshold(*, subscription: Subscription, percent: int) -> None:
    """ "80% of the traffic used" / "the traffic limit is reached", with renew/buy buttons.

    Once per threshold and traffic period: the dedupe key names the period's start (the last
    traffic reset), so the next period is told again.
    """
    customer = subscription.customer
    language = customer.language
    with translation.override(language):
        values = {
            "title": texts.subscription_title_of(subscription, language=language),
            "percent": percent,
        }
        if percent >= 100:
            text = _(
                "⚠️ %(title)s: the traffic limit is reached, so the VPN is paused until the "
                "traffic resets. Renew the subscription or buy a new one to connect now."
            )
        else:
            text = _(
                "📶 %(title)s: %(percent)s%% of the traffic is used. When it runs out, the "
                "VPN pauses until the traffic resets; you can renew or buy more in advance."
            )
        period = subscription.traffic_reset_last_at or subscription.started_at
        notify_customer(
            customer=customer,
            text=text % values,
            reply_markup={
                "inline_keyboard": [
                    [
                        _renew_button(subscription, language),
                        _my_subscription_button(subscription, language),
                    ]
                ]
            },
            kind=KIND_TRAFFIC,
            dedupe_key=f"traffic:{subscription.pk}:{percent}:{period.astimezone(UTC).isoformat()}",
        )
