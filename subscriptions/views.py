"""The subscription feed: /sub/<feed_token> for VPN apps, an HTML page for browsers."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.net import client_ip
from core.ratelimit import rate_hit
from core.runtime_settings import runtime_settings
from notifications import texts
from subscriptions.deeplinks import APPS
from subscriptions.devices import device_headers_parse, hwid_reply_headers
from subscriptions.feed import feed_headers_build, feed_placeholder_link
from subscriptions.feed_formats import FeedFormatError, feed_format_choose
from subscriptions.page import app_open_render, subscription_page_render
from subscriptions.selectors import (
    STATE_ACTIVE,
    STATE_DEVICE_LIMIT,
    feed_expire_ts,
    feed_placeholder_remark,
    feed_refill_at,
    subscription_by_feed_token,
    subscription_feed_state,
    subscription_feed_url,
    subscription_links,
)
from subscriptions.services.devices import device_record

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
    """The feed in the format the app reads (``?format=`` or the User-Agent, docs/feed.md);
    ``HEAD`` answers with the same status and headers and no body.

    An app that names its device (``X-HWID``) has it recorded; a new one over the device
    limit gets the placeholder (docs/x3ui.md "Devices by hardware id"). The page ignores it.
    """
    format_values = request.GET.getlist("format")
    try:
        feed_format = feed_format_choose(
            format_values=format_values, user_agent=request.headers.get("User-Agent", "")
        )
    except FeedFormatError as exc:
        body = "" if request.method == "HEAD" else f"{exc}\n"
        return HttpResponseBadRequest(body, content_type="text/plain; charset=utf-8")
    html = not format_values and _wants_html(request)
    device = None if html else device_headers_parse(request.headers)
    hwid = device.hwid if device else ""
    subscription = subscription_by_feed_token(token=token, hwid=hwid)
    if subscription is None:
        return _unknown_token_answer(request)
    now = timezone.now()
    state = subscription_feed_state(subscription, now, hwid=hwid)
    active = state == STATE_ACTIVE
    if active and device is not None:
        device_record(subscription=subscription, device=device, now=now)
    keys = subscription_links(subscription=subscription) if active else []
    feed_url = subscription_feed_url(subscription=subscription)
    runtime = runtime_settings()
    remark = "" if active else feed_placeholder_remark(state, subscription.customer.language)
    refill_at = feed_refill_at(subscription, state)
    headers = feed_headers_build(
        upload=subscription.traffic_upload,
        download=subscription.traffic_download,
        total=subscription.traffic_limit_bytes,
        expire_ts=feed_expire_ts(subscription, state, now),
        title=runtime["FEED_TITLE"],
        update_interval_hours=settings.SUBSCRIPTION_FEED_UPDATE_HOURS,
        support_url=texts.support_url() or "",
        web_page_url=feed_url,
        # A subscription that cannot be used (a refused device too) announces why: apps show
        # it above the entry (Remnawave's HWID_MAX_DEVICES_ANNOUNCE does the same).
        announce=runtime["FEED_ANNOUNCE"] if active else remark,
        file_extension=feed_format.file_extension,
        refill_ts=int(refill_at.timestamp()) if refill_at else 0,
    )
    if html:
        response = subscription_page_render(
            request=request,
            subscription=subscription,
            state=state,
            feed_url=feed_url,
            keys=keys,
            refill_at=refill_at,
        )
        # The page is for reading, not a file to save.
        headers.pop("Content-Disposition", None)
    else:
        if active:
            links = [key.link for key in keys]
        else:
            links = [feed_placeholder_link(remark=remark)]
        headers.update(
            hwid_reply_headers(
                limit=subscription.hwid_device_limit, refused=state == STATE_DEVICE_LIMIT
            )
        )
        response = HttpResponse(
            feed_format.render(links=links), content_type=feed_format.content_type
        )
    for name, value in headers.items():
        response[name] = value
    response["X-Robots-Tag"] = "noindex, nofollow"
    if request.method == "HEAD":
        response.content = b""
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def subscription_open_app(request: HttpRequest, token: str, app: str) -> HttpResponse:
    """/sub/<token>/open/<app>: the https page the bot's "add to <app>" buttons open."""
    if app not in APPS:
        raise Http404("unknown app")
    subscription = subscription_by_feed_token(token=token)
    if subscription is None:
        return _unknown_token_answer(request)
    return app_open_render(
        request=request,
        subscription=subscription,
        app=app,
        feed_url=subscription_feed_url(subscription=subscription),
    )
