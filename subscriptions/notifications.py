"""Messages about a customer's keys, queued through the outbox in the customer's language."""

from html import escape

from django.utils import translation
from django.utils.translation import gettext as _

from subscriptions.models import Subscription
from subscriptions.selectors import subscription_feed_url, subscription_links
from telegram_bot.services import notify_customer


def _keys_text(subscription: Subscription, headline: str) -> str:
    links = subscription_links(subscription=subscription)
    lines = [f"<b>{escape(headline)}</b>", ""]
    for key in links:
        lines.append(escape(key.node_name + (f" · {key.location}" if key.location else "")))
        lines.append(f"<code>{escape(key.link)}</code>")
        lines.append("")
    lines.append(_("Subscription URL (add it to your app, it follows node changes):"))
    lines.append(f"<code>{escape(subscription_feed_url(subscription=subscription))}</code>")
    return "\n".join(lines)


def _feed_button(subscription: Subscription) -> dict:
    return {
        "inline_keyboard": [
            [
                {
                    "text": _("Open subscription page"),
                    "url": subscription_feed_url(subscription=subscription),
                }
            ]
        ]
    }


def notify_keys_ready(*, subscription: Subscription) -> None:
    """The keys, the subscription URL and a QR code of it: sent once keys are on a panel."""
    customer = subscription.customer
    with translation.override(customer.language):
        notify_customer(
            customer=customer,
            text=_keys_text(subscription, _("Your VPN keys are ready")),
            reply_markup=_feed_button(subscription),
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


def notify_keys_moved(*, subscription: Subscription) -> None:
    """A node went down and the key was re-placed: new links (the feed follows by itself)."""
    customer = subscription.customer
    with translation.override(customer.language):
        notify_customer(
            customer=customer,
            text=_keys_text(
                subscription,
                _("One of our servers is down, so your key was moved to another one"),
            ),
            reply_markup=_feed_button(subscription),
            kind="keys-moved",
        )
