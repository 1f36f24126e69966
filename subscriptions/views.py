"""The subscription feed: /sub/<feed_token> for VPN apps, an HTML page for browsers."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.net import client_ip
from core.qr import qr_svg
from core.ratelimit import rate_hit
from notifications import texts
from subscriptions.feed import (
    FEED_CONTENT_TYPE,
    feed_body_render,
    feed_headers_build,
    feed_placeholder_link,
)
from subscriptions.models import Subscription
from subscriptions.selectors import (
    subscription_by_feed_token,
    subscription_feed_url,
    subscription_links,
)

BROWSER_MARKERS = ("Mozilla/", "Chrome/", "Safari/")
APP_MARKERS = (
    "v2ray",
    "hiddify",
    "streisand",
    "clash",
    "sing-box",
    "nekobox",
    "v2box",
    "shadowrocket",
)


def _wants_html(request: HttpRequest) -> bool:
    agent = request.headers.get("User-Agent", "")
    if any(marker in agent.lower() for marker in APP_MARKERS):
        return False
    return "text/html" in request.headers.get("Accept", "") and agent.startswith(BROWSER_MARKERS)


def _unknown_token_answer(request: HttpRequest) -> HttpResponse:
    """404, or 429 once the client's address sent too many unknown tokens this minute.

    Only unknown tokens count against an address: guessing stays slow, while subscribers
    behind one carrier NAT (one address for thousands of phones) never limit each other.
    """
    remote_ip = client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        trusted_proxies=settings.TRUSTED_PROXY_IPS,
    )
    if (
        rate_hit(key=f"feed:{remote_ip or 'unknown'}", window=60)
        > settings.FEED_REQUESTS_PER_MINUTE
    ):
        response = HttpResponse("Too many requests", status=429, content_type="text/plain")
        response["Retry-After"] = "60"
        return response
    raise Http404("unknown subscription")


STATE_ACTIVE = "active"
STATE_BANNED = "banned"
STATE_ENDED = "ended"
STATE_OVER_LIMIT = "over-limit"


def _feed_state(subscription: Subscription, now) -> str:
    """Why the subscription cannot be used, most serious first; ``active`` when it can."""
    if subscription.customer.is_banned:
        return STATE_BANNED
    if not subscription.is_running(now):
        return STATE_ENDED
    used = max(
        subscription.traffic_used_bytes,
        subscription.traffic_upload + subscription.traffic_download,
    )
    if subscription.traffic_limit_bytes and used >= subscription.traffic_limit_bytes:
        return STATE_OVER_LIMIT
    return STATE_ACTIVE


def _placeholder_remark(state: str, language: str) -> str:
    """What the app shows as the one entry's name: what happened and where to go.

    Renewing happens in the bot (``TELEGRAM_BOT_USERNAME``); a ban is explained by support
    (``TELEGRAM_SUPPORT_CONTACT``); each falls back to the other, then to no place at all.
    """
    bot = settings.TELEGRAM_BOT_USERNAME.strip().lstrip("@")
    bot = f"@{bot}" if bot else ""
    support = texts.support_contact()  # "@username", a link or an e-mail, as configured
    with translation.override(language):
        if state == STATE_BANNED:
            place = support or bot
            if place:
                return _("Access blocked — contact %(place)s") % {"place": place}
            return _("Access blocked — contact support")
        place = bot or support
        if state == STATE_OVER_LIMIT:
            if place:
                return _("Traffic limit reached — renew in %(place)s") % {"place": place}
            return _("Traffic limit reached — renew your subscription")
        if place:
            return _("Subscription ended — renew in %(place)s") % {"place": place}
        return _("Subscription ended — renew your subscription")


def _expire_ts(subscription: Subscription, state: str, now) -> int:
    """``expire`` of ``Subscription-Userinfo``: never a future date for a subscription that
    cannot be used (banned or cancelled: now; ended: its real, past end)."""
    if state == STATE_BANNED:
        return int(now.timestamp())
    if state == STATE_ENDED:
        return int(min(subscription.expires_at, now).timestamp())
    return int(subscription.expires_at.timestamp())


@never_cache
@require_http_methods(["GET", "HEAD"])
def subscription_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed; ``HEAD`` answers with the same status and headers and no body."""
    subscription = subscription_by_feed_token(token=token)
    if subscription is None:
        return _unknown_token_answer(request)
    now = timezone.now()
    state = _feed_state(subscription, now)
    active = state == STATE_ACTIVE
    keys = subscription_links(subscription=subscription) if active else []
    feed_url = subscription_feed_url(subscription=subscription)
    headers = feed_headers_build(
        upload=subscription.traffic_upload,
        download=subscription.traffic_download,
        total=subscription.traffic_limit_bytes,
        expire_ts=_expire_ts(subscription, state, now),
        title=settings.SUBSCRIPTION_FEED_TITLE,
        update_interval_hours=settings.SUBSCRIPTION_FEED_UPDATE_HOURS,
        support_url=texts.support_url() or "",
        web_page_url=feed_url,
    )
    if _wants_html(request):
        with translation.override(subscription.customer.language):
            response = render(
                request,
                "subscriptions/feed.html",
                {
                    "subscription": subscription,
                    "active": active,
                    "keys": keys,
                    "feed_url": feed_url,
                    "qr_svg": qr_svg(data=feed_url),
                },
            )
        # The page is for reading, not a file to save.
        headers.pop("Content-Disposition", None)
    else:
        if active:
            links = [key.link for key in keys]
        else:
            remark = _placeholder_remark(state, subscription.customer.language)
            links = [feed_placeholder_link(remark=remark)]
        response = HttpResponse(feed_body_render(links=links), content_type=FEED_CONTENT_TYPE)
    for name, value in headers.items():
        response[name] = value
    response["X-Robots-Tag"] = "noindex, nofollow"
    if request.method == "HEAD":
        response.content = b""
    return response
