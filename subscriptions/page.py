"""The subscription page a browser gets at /sub/<token>, and /sub/<token>/open/<app>.

The page is for a phone first: the platform comes from the User-Agent (``?platform=`` shows
another one, a plain link, so it works without JavaScript), the recommended apps for it
with their store links and a one-tap "add to app" deep link each (``subscriptions.deeplinks``),
expiry, traffic with a bar, and what to do when the subscription cannot be used. Copy
buttons are progressive: without JavaScript they stay hidden and the subscription URL is
plain selectable text. Styles and the one script are static files (the CSP allows no inline
code).

``/sub/<token>/open/<app>`` exists for the bot: Telegram's URL buttons accept only http(s)
and ``tg://`` URLs (https://core.telegram.org/bots/api#inlinekeyboardbutton: "HTTP or tg://
URL to be opened when the button is pressed"), so a button leads to this https page, which
opens the app. It is a page and not a 302 to the app's scheme: a redirect to a custom scheme
leaves a blank or error page whenever the in-app browser will not hand it to the app or
the app is not installed (Telegram for iOS's in-app browser opens no app link without a tap:
https://github.com/TelegramMessenger/Telegram-iOS/issues/1483; Telegram Desktop on Windows
opens none from a Web App: https://github.com/telegramdesktop/tdesktop/issues/28702), and
nothing is left to tap. The page tries once by script on load (what Remnawave's redirect
page does, https://github.com/xdeptu5/redirect-page), and keeps a big "Open <app>" link
(a tap is a user gesture, which every browser honours), the app's store links, and the
subscription URL to copy.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation

from core.qr import qr_svg
from core.runtime_settings import runtime_settings
from notifications import texts
from notifications.formatting import date_format, time_left
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
    deeplink_build,
    store_label,
)
from subscriptions.devices import device_label
from subscriptions.models import Subscription
from subscriptions.selectors import (
    STATE_ACTIVE,
    KeyLink,
    feed_traffic_used,
    subscription_devices,
)

DESKTOPS = frozenset({PLATFORM_WINDOWS, PLATFORM_MACOS, PLATFORM_LINUX})

# User-Agent markers, most specific first: an iPhone says "like Mac OS X", Android says
# "Linux; Android", ChromeOS ("CrOS") runs Android apps from Google Play.
_UA_PLATFORMS = (
    (("iphone", "ipad", "ipod"), PLATFORM_IOS),
    (("android", "cros"), PLATFORM_ANDROID),
    (("windows",), PLATFORM_WINDOWS),
    (("macintosh", "mac os x"), PLATFORM_MACOS),
    (("linux", "x11"), PLATFORM_LINUX),
)


def platform_detect(*, user_agent: str) -> str:
    """The platform a browser's User-Agent names; Android (most phones) when none."""
    agent = user_agent.lower()
    for markers, platform in _UA_PLATFORMS:
        if any(marker in agent for marker in markers):
            return platform
    return PLATFORM_ANDROID


def platform_choose(*, requested: str | None, user_agent: str) -> str:
    """``?platform=`` when it names a platform, else the User-Agent's."""
    if requested in PLATFORMS:
        return requested
    return platform_detect(user_agent=user_agent)


def profile_name() -> str:
    """The name apps give the subscription: the feed's ``Profile-Title`` (a runtime setting)."""
    return runtime_settings()["FEED_TITLE"]


def bot_url() -> str:
    bot = settings.TELEGRAM_BOT_USERNAME.strip().lstrip("@")
    return f"https://t.me/{bot}" if bot else ""


@dataclass(frozen=True)
class AppOffer:
    key: str
    name: str
    deeplink: str
    stores: tuple[tuple[str, str], ...]  # (label, url), in the active language


def app_offer(*, app: str, platform: str, feed_url: str) -> AppOffer:
    """One app on `platform`: its deep link and where to install it (call inside the
    reader's language)."""
    spec = APPS[app]
    # An app without a build for `platform` (only the bot's page can ask): all its stores.
    stores = spec.stores.get(platform) or tuple(
        dict.fromkeys(store for by_platform in spec.stores.values() for store in by_platform)
    )
    return AppOffer(
        key=app,
        name=spec.name,
        deeplink=deeplink_build(app=app, feed_url=feed_url, name=profile_name()),
        stores=tuple((store_label(store.kind), store.url) for store in stores),
    )


def _usage(subscription: Subscription) -> dict:
    used = feed_traffic_used(subscription)
    limit = subscription.traffic_limit_bytes
    return {
        "used": filesizeformat(used),
        "limit": filesizeformat(limit) if limit else "",
        "used_bytes": used,
        # A <meter> holds at most its max: over the limit the bar is simply full.
        "meter_value": min(used, limit),
        "limit_bytes": limit,
        # The bar turns from "fine" to "nearly used up" at 70 % and 90 % of the limit.
        "low": limit * 7 // 10,
        "high": limit * 9 // 10,
    }


def _not_indexed(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def subscription_page_render(
    *,
    request: HttpRequest,
    subscription: Subscription,
    state: str,
    feed_url: str,
    keys: list[KeyLink],
    refill_at: datetime | None = None,
) -> HttpResponse:
    """The browser page for `subscription` (``subscription_feed_state`` is `state`), in the
    customer's language; `refill_at`: its next traffic reset (``feed_refill_at``)."""
    language = subscription.customer.language
    platform = platform_choose(
        requested=request.GET.get("platform"),
        user_agent=request.headers.get("User-Agent", ""),
    )
    now = timezone.now()
    with translation.override(language):
        context = {
            "language": language,
            "subscription": subscription,
            "state": state,
            "active": state == STATE_ACTIVE,
            "expires": date_format(subscription.expires_at),
            # A subscription stopped before its end (cancelled, suspended) has not "ended on"
            # a future date: the page then says it has ended, with no date.
            "ended_on_time": subscription.expires_at <= now,
            "time_left": time_left(subscription.expires_at - now),
            "usage": _usage(subscription),
            "traffic_refill_at": refill_at,
            # The devices by hardware id (a query only when there are some).
            "device_limit": subscription.hwid_device_limit,
            "devices": (
                [
                    {"label": device_label(device), "os": device.os, "seen": device.last_seen_at}
                    for device in subscription_devices(subscription=subscription)
                ]
                if subscription.device_count
                else []
            ),
            "platform": platform,
            "platforms": [(key, PLATFORM_NAMES[key]) for key in PLATFORMS],
            "apps": [
                app_offer(app=app, platform=platform, feed_url=feed_url)
                for app in RECOMMENDED[platform]
            ],
            "desktop": platform in DESKTOPS,
            "feed_url": feed_url,
            "qr_svg": qr_svg(data=feed_url),
            "keys": keys,
            "bot_url": bot_url(),
            "support_url": texts.support_url() or "",
            "support_contact": texts.support_contact(),
        }
        return _not_indexed(render(request, "subscriptions/feed.html", context))


def app_open_render(
    *, request: HttpRequest, subscription: Subscription, app: str, feed_url: str
) -> HttpResponse:
    """The page behind the bot's "add to <app>" button: opens `app`'s deep link."""
    platform = platform_detect(user_agent=request.headers.get("User-Agent", ""))
    language = subscription.customer.language
    with translation.override(language):
        context = {
            "language": language,
            "app": app_offer(app=app, platform=platform, feed_url=feed_url),
            "feed_url": feed_url,
        }
        return _not_indexed(render(request, "subscriptions/open.html", context))
