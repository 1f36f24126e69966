"""The subscription feed: /sub/<feed_token> for VPN apps, an HTML page for browsers."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
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
from subscriptions.selectors import (
    STATE_ACTIVE,
    feed_expire_ts,
    feed_placeholder_remark,
    feed_refill_at,
    subscription_by_feed_token,
    subscription_feed_state,
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


@never_cache
@require_http_methods(["GET", "HEAD"])
def subscription_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed; ``HEAD`` answers with the same status and headers and no body."""
    subscription = subscription_by_feed_token(token=token)
    if subscription is None:
        return _unknown_token_answer(request)
    now = timezone.now()
    state = subscription_feed_state(subscription, now)
    active = state == STATE_ACTIVE
    keys = subscription_links(subscription=subscription) if active else []
    feed_url = subscription_feed_url(subscription=subscription)
    refill_at = feed_refill_at(subscription, state)
    headers = feed_headers_build(
        upload=subscription.traffic_upload,
        download=subscription.traffic_download,
        total=subscription.traffic_limit_bytes,
        expire_ts=feed_expire_ts(subscription, state, now),
        title=settings.SUBSCRIPTION_FEED_TITLE,
        update_interval_hours=settings.SUBSCRIPTION_FEED_UPDATE_HOURS,
        support_url=texts.support_url() or "",
        web_page_url=feed_url,
        refill_ts=int(refill_at.timestamp()) if refill_at else 0,
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
                    "traffic_refill_at": refill_at,
                },
            )
        # The page is for reading, not a file to save.
        headers.pop("Content-Disposition", None)
    else:
        if active:
            links = [key.link for key in keys]
        else:
            remark = feed_placeholder_remark(state, subscription.customer.language)
            links = [feed_placeholder_link(remark=remark)]
        response = HttpResponse(feed_body_render(links=links), content_type=FEED_CONTENT_TYPE)
    for name, value in headers.items():
        response[name] = value
    response["X-Robots-Tag"] = "noindex, nofollow"
    if request.method == "HEAD":
        response.content = b""
    return response
