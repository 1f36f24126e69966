"""The texts of /subscriptions: the list, a subscription's card, keys, URL, QR and devices.

Re-exported by ``telegram_bot.bot.texts`` (use them from there); the same rules apply: each
function takes the language to answer in and returns ``parse_mode=HTML`` text.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape, unescape
from typing import TYPE_CHECKING

from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.formatting import date_format, time_left
from notifications.services import TELEGRAM_TEXT_LIMIT
from notifications.texts import subscription_title
from subscriptions.models import GIB, TrafficReset

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import (
        DeviceInfo,
        SubscriptionCard,
        SubscriptionDevices,
        SubscriptionKeys,
    )

MIB = 1024**2


def traffic(size: int) -> str:
    """Bytes as "1.5 GB" or "300 MB"."""
    if size >= GIB:
        value = Decimal(size) / GIB
        places = 0 if value >= 100 else 1
        number = formats.number_format(round(value, places), decimal_pos=places, use_l10n=True)
        return _("%(size)s GB") % {"size": number}
    return _("%(size)s MB") % {"size": formats.number_format(round(size / MIB), use_l10n=True)}


def devices(limit: int) -> str:
    if not limit:
        return _("any number of devices")
    return ngettext("up to %(count)d device", "up to %(count)d devices", limit) % {"count": limit}


def _status(card: "SubscriptionCard") -> str:
    if card.status == "active":
        if card.over_traffic:
            return _("⚠️ traffic limit reached")
        return _("✅ active")
    if card.status == "suspended":
        return _("⏸ suspended")
    return _("⛔ ended")


def _card_title(card: "SubscriptionCard") -> str:
    """ "Subscription 2 · 3 months": the customer's number and the tariff it runs on now."""
    return subscription_title(
        number=card.number, tariff=card.tariff_name, language=translation.get_language()
    )


def subscriptions_none(*, language: str) -> str:
    with translation.override(language):
        return _("You have no subscriptions yet. Choose a tariff to get your VPN keys in a minute.")


def subscriptions_list(*, language: str, cards: Sequence["SubscriptionCard"]) -> str:
    with translation.override(language):
        lines = [_("<b>📋 Your subscriptions</b>"), ""]
        for card in cards:
            # One word for the state: "✅ active until …", "⛔ ended …" (never "ended, ended").
            date = date_format(card.expires_at, short=True)
            if card.running:
                state = _("%(status)s until %(date)s") % {"status": _status(card), "date": date}
            elif card.status == "suspended":
                state = _status(card)
            else:
                state = _("⛔ ended %(date)s") % {"date": date}
            lines.append(f"• {_card_title(card)}: {state}")
        lines += ["", _("Choose one to see its keys:")]
        return "\n".join(lines)


def subscription_button(*, language: str, card: "SubscriptionCard") -> str:
    with translation.override(language):
        mark = "✅" if card.running else "⛔"
        title = unescape(_card_title(card))  # a button label is plain text
        return f"{mark} {title} · {date_format(card.expires_at, short=True)}"


def _traffic_reset_line(period: str, moment: datetime) -> str:
    """ "Traffic resets every month, next on <date>" (the tariff's period)."""
    date = date_format(moment)
    if period == TrafficReset.DAY:
        return _("Traffic resets every day, next on %(date)s") % {"date": date}
    if period == TrafficReset.WEEK:
        return _("Traffic resets every week, next on %(date)s") % {"date": date}
    return _("Traffic resets every month, next on %(date)s") % {"date": date}


def subscription_card(*, language: str, card: "SubscriptionCard") -> str:
    """Everything about one subscription: status, expiry, traffic, devices, locations."""
    with translation.override(language):
        lines = [f"<b>📋 {_card_title(card)}</b>", ""]
        if card.running:
            lines.append(_("Status: %(status)s") % {"status": _status(card)})
            lines.append(_("Valid until: %(date)s") % {"date": date_format(card.expires_at)})
            lines.append(_("Time left: %(left)s") % {"left": time_left(card.time_left)})
        elif card.status == "suspended":
            lines.append(_("Status: %(status)s") % {"status": _status(card)})
        else:  # one "ended", with its date (not "Status: ended / Ended: …")
            lines.append(_("Status: ⛔ ended %(date)s") % {"date": date_format(card.expires_at)})
        if card.traffic_limit_bytes:
            lines.append(
                _("Traffic: %(used)s of %(limit)s")
                % {
                    "used": traffic(card.traffic_used_bytes),
                    "limit": traffic(card.traffic_limit_bytes),
                }
            )
        else:
            lines.append(
                _("Traffic: %(used)s used, no limit") % {"used": traffic(card.traffic_used_bytes)}
            )
        if card.traffic_reset_at is not None:
            lines.append(_traffic_reset_line(card.traffic_reset, card.traffic_reset_at))
        if card.hwid_device_limit:
            lines.append(
                _("Devices: %(count)d of %(limit)d")
                % {"count": card.device_count, "limit": card.hwid_device_limit}
            )
        else:
            lines.append(_("Devices: %(devices)s") % {"devices": devices(card.device_limit)})
        if card.locations:
            places = ", ".join(escape(place) for place in card.locations)
            lines.append(_("Locations: %(places)s") % {"places": places})
        elif card.running:
            lines.append(_("Locations: your keys are being set up, this takes a minute."))
        if not card.running:
            lines += ["", _("Renew it to switch the same keys on again.")]
        return "\n".join(lines)


def subscription_not_found(*, language: str) -> str:
    with translation.override(language):
        return _("This subscription was not found. Here are your subscriptions:")


def subscription_keys(*, language: str, keys: "SubscriptionKeys") -> str:
    """Each key as copyable code, then the subscription URL; within Telegram's limit."""
    with translation.override(language):
        head = [
            _("<b>🔑 Keys of %(title)s</b>") % {"title": _card_title(keys.card)},
            "",
        ]
        if not keys.card.running:
            head += [_("⚠️ This subscription has ended: the keys work again once you renew."), ""]
        tail = [
            _(
                "Subscription URL: add it to your app once, and it keeps your keys up to "
                "date, even when we move you to another server:"
            ),
            f"<code>{escape(keys.card.feed_url)}</code>",
            "",
            _("Tap a key or the URL to copy it, then add it in your VPN app from the clipboard."),
        ]
        if not keys.links:
            body = [
                _(
                    "Your keys are being set up on our servers. They will arrive in this chat "
                    "in a minute or two; the subscription URL below already works."
                ),
                "",
            ]
            return "\n".join(head + body + tail)
        body: list[str] = []
        budget = TELEGRAM_TEXT_LIMIT - len("\n".join(head + tail)) - 200
        shown = 0
        for key in keys.links:
            block = [escape(key.place), f"<code>{escape(key.link)}</code>", ""]
            size = len("\n".join(block)) + 1
            if size > budget:
                break
            body += block
            budget -= size
            shown += 1
        if shown < len(keys.links):
            body += [
                _("…and %(count)d more: add the subscription URL to get them all.")
                % {"count": len(keys.links) - shown},
                "",
            ]
        return "\n".join(head + body + tail)


def subscription_url(*, language: str, card: "SubscriptionCard") -> str:
    with translation.override(language):
        return "\n".join(
            [
                _("<b>🔗 Subscription URL of %(title)s</b>") % {"title": _card_title(card)},
                "",
                f"<code>{escape(card.feed_url)}</code>",
                "",
                _(
                    "Add it in your VPN app as a subscription (“Import from clipboard” or "
                    "“Add subscription”). It always holds your current keys, even when we "
                    "move you to another server."
                ),
            ]
        )


def _removals_line(screen: "SubscriptionDevices") -> str:
    removals = screen.removals
    if removals.left is None:
        return ""
    if removals.left:
        return _("Removals left today: %(left)d of %(limit)d.") % {
            "left": removals.left,
            "limit": removals.limit,
        }
    return _("The next removal is possible after %(date)s.") % {
        "date": date_format(removals.next_at)
    }


def subscription_devices(*, language: str, screen: "SubscriptionDevices", notice: str = "") -> str:
    """The devices that fetched the subscription with a hardware id, and what removing does."""
    with translation.override(language):
        card = screen.card
        lines = [notice, ""] if notice else []
        lines += [_("<b>📱 Devices of %(title)s</b>") % {"title": _card_title(card)}, ""]
        count = len(screen.devices)
        limit = card.hwid_device_limit
        if not count:
            lines.append(_("No devices yet."))
            if limit:
                lines.append(
                    ngettext(
                        "The limit is %(limit)d device.", "The limit is %(limit)d devices.", limit
                    )
                    % {"limit": limit}
                )
        elif limit:
            lines.append(
                ngettext("%(count)d of %(limit)d device:", "%(count)d of %(limit)d devices:", limit)
                % {"count": count, "limit": limit}
            )
        else:
            lines.append(
                ngettext("%(count)d device, no limit:", "%(count)d devices, no limit:", count)
                % {"count": count}
            )
        for number, device in enumerate(screen.devices, start=1):
            name = escape(device.label)
            if device.details:
                name += f" — {escape(device.details)}"
            seen = _("last seen %(date)s") % {"date": date_format(device.last_seen_at)}
            lines.append(f"{number}. {name}\n    {seen}")
        lines += [
            "",
            _(
                "A device appears here once an app that sends its device id (Happ, "
                "v2RayTun) updates the subscription. Over the limit, a new device gets a "
                "notice instead of the servers: remove one you no longer use to make room."
            ),
        ]
        removals = _removals_line(screen) if screen.devices else ""
        if removals:
            lines.append(removals)
        return "\n".join(lines)


def device_remove_confirm(
    *, language: str, screen: "SubscriptionDevices", device: "DeviceInfo"
) -> str:
    with translation.override(language):
        lines = [_("Remove the device “%(name)s”?") % {"name": escape(device.label)}]
        if device.details:
            lines.append(escape(device.details))
        lines += [
            _("Last seen %(date)s.") % {"date": date_format(device.last_seen_at)},
            "",
            _(
                "Its place goes to the next new device. If this one updates the "
                "subscription again, it takes a free place again."
            ),
        ]
        removals = _removals_line(screen)
        if removals:
            lines.append(removals)
        return "\n".join(lines)


def device_removed(*, language: str, label: str) -> str:
    with translation.override(language):
        return _("✅ Device “%(name)s” removed.") % {"name": escape(label)}


def device_gone(*, language: str) -> str:
    with translation.override(language):
        return _("This device is no longer in the list.")


def subscription_qr(*, language: str) -> str:
    with translation.override(language):
        return _("Scan this QR code in your VPN app to add the subscription.")
