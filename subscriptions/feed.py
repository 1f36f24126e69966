"""The subscription feed (``/sub/<feed_token>``), rendered the way 3x-ui's ``/sub/`` renders it.

Why: client apps (v2rayN/NG, Happ, Streisand, Hiddify, …) already understand 3x-ui's
subscription format, so ours is byte-compatible with it (docs/x3ui.md "Links and feed",
``internal/sub/controller.go`` ``subs`` and ``ApplyCommonHeaders``):

- body: every link followed by ``\\n`` (the last one too), then standard base64 *with*
  padding (3x-ui's default ``subEncrypt``); served as ``text/plain; charset=utf-8``;
- headers: ``Subscription-Userinfo``, ``Profile-Update-Interval``, ``Profile-Title`` as
  ``base64:<b64>`` and only when non-empty, plus the optional ``Support-Url``,
  ``Profile-Web-Page-Url`` and ``Announce``. 3x-ui sends no ``Content-Disposition`` for the
  raw feed (only for JSON/Clash downloads); we send ``attachment; filename="<title>"`` as
  Happ's documentation shows it, and Hiddify names a profile from it when there is no title.

A subscription that cannot be used (ended, banned, over its traffic limit) is served one
placeholder entry (``feed_placeholder_link``) whose remark tells the subscriber what happened;
it points at an address that never carries traffic.

Pure functions; the view decides status codes (3x-ui answers 404 when there are no links).
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from subscriptions.vless import VlessLinkError, vless_link_build, vless_link_parse

# What gin's ``c.String`` sends with 3x-ui's raw feed.
FEED_CONTENT_TYPE = "text/plain; charset=utf-8"

# Where a placeholder entry points: TEST-NET-1 (RFC 5737, "documentation" addresses that are
# never routed on the Internet), port 1, the nil UUID (RFC 9562) that no panel client has.
PLACEHOLDER_HOST = "192.0.2.1"
PLACEHOLDER_PORT = 1
PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"
_PLACEHOLDER_STREAM = {"network": "tcp", "security": "none"}


class FeedError(ValueError):
    """Raised instead of serving a feed a client would misread."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def feed_body_render(*, links: list[str]) -> str:
    """Base64 body of a subscription: standard alphabet, padded, of ``link + "\\n"`` per link.

    Each link must be one well-formed ``vless://`` link: a stray newline would split it into
    two broken entries, and an unparsable link makes some clients reject the whole feed, so we
    refuse instead. An empty list renders ``""``.
    """
    for index, link in enumerate(links):
        if not isinstance(link, str) or not link:
            raise FeedError(f"link #{index} is empty or not a string")
        if "\n" in link or "\r" in link:
            raise FeedError(f"link #{index} contains a line break")
        try:
            vless_link_parse(link)
        except VlessLinkError as exc:
            raise FeedError(f"link #{index} is not a valid vless link: {exc}") from exc
    return _b64("".join(f"{link}\n" for link in links))


def feed_placeholder_link(*, remark: str) -> str:
    """One ``vless://`` entry that only carries a message: ``remark`` is what the app shows.

    Built by ``vless_link_build`` like every real link, so it parses wherever ours do.
    """
    return vless_link_build(
        client_uuid=PLACEHOLDER_UUID,
        host=PLACEHOLDER_HOST,
        port=PLACEHOLDER_PORT,
        stream_settings=_PLACEHOLDER_STREAM,
        protocol_settings={"encryption": "none"},
        remark=remark,
    )


def _content_disposition(title: str, extension: str = "") -> str:
    """``attachment; filename="<title><extension>"``: printable ASCII only (quotes and
    backslashes dropped), plus RFC 6266's ``filename*`` when the title has other characters."""
    ascii_name = "".join(ch for ch in title if " " <= ch <= "~" and ch not in '"\\').strip()
    value = f'attachment; filename="{ascii_name or "subscription"}{extension}"'
    if ascii_name != title:
        value += f"; filename*=UTF-8''{quote(title + extension, safe='')}"
    return value


def _non_negative_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FeedError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _header_value(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise FeedError(f"{name} must be a string")
    if "\r" in value or "\n" in value:
        raise FeedError(f"{name} must not contain line breaks")
    return value


def _text_value(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise FeedError(f"{name} must be a string")
    return value


def feed_headers_build(
    *,
    upload: int,
    download: int,
    total: int,
    expire_ts: int,
    title: str,
    update_interval_hours: int,
    support_url: str = "",
    web_page_url: str = "",
    announce: str = "",
    file_extension: str = "",
    refill_ts: int = 0,
) -> dict[str, str]:
    """Response headers clients read for usage, expiry, refresh period and profile name.

    ``upload``/``download``/``total`` are bytes (``total=0`` means unlimited) and
    ``expire_ts`` unix *seconds* (``0`` means never), exactly as 3x-ui's
    ``Subscription-Userinfo``. ``title`` and ``announce`` go out as ``base64:<b64 of UTF-8>``
    (3x-ui does this for every title, which also keeps non-ASCII text out of raw headers);
    empty ones are left out, as are empty URLs. ``file_extension`` (``.yaml``, ``.json``) ends
    the Content-Disposition file name of a format that has one.

    ``refill_ts``: when the used traffic next goes back to zero, unix *seconds*, sent as
    ``Subscription-Refill-Date`` only when set (0: the tariff never resets). The name and
    the format (decimal seconds, left out for "no reset") are Remnawave's
    (https://github.com/remnawave/backend, ``src/modules/subscription/utils/
    get-user-info.headers.ts`` ``getSubscriptionRefillDate``), which Happ and the
    Clash-ecosystem apps read next to ``Subscription-Userinfo``.
    """
    userinfo = "; ".join(
        f"{name}={_non_negative_int(name, value)}"
        for name, value in (
            ("upload", upload),
            ("download", download),
            ("total", total),
            ("expire", expire_ts),
        )
    )
    if (
        isinstance(update_interval_hours, bool)
        or not isinstance(update_interval_hours, int)
        or update_interval_hours < 1
    ):
        raise FeedError(
            f"update_interval_hours must be a positive integer, not {update_interval_hours!r}"
        )
    headers = {
        "Subscription-Userinfo": userinfo,
        "Profile-Update-Interval": str(update_interval_hours),
    }
    # Title and announce travel base64-encoded, so line breaks in them are harmless.
    if _text_value("title", title):
        headers["Profile-Title"] = f"base64:{_b64(title)}"
        headers["Content-Disposition"] = _content_disposition(title, file_extension)
    if _header_value("support_url", support_url):
        headers["Support-Url"] = support_url
    if _header_value("web_page_url", web_page_url):
        headers["Profile-Web-Page-Url"] = web_page_url
    if _text_value("announce", announce):
        headers["Announce"] = f"base64:{_b64(announce)}"
    if _non_negative_int("refill_ts", refill_ts):
        headers["Subscription-Refill-Date"] = str(refill_ts)
    return headers
