"""One subscription URL, the format each app reads: chosen from ``?format=``, else the
User-Agent (docs/feed.md "Formats").

Three formats, all rendered from the same ``vless://`` links (``subscriptions/feed_entries.py``):

- ``base64``: 3x-ui's feed, every link and ``\\n``, base64 (``feed.feed_body_render``);
- ``clash``: a Clash/mihomo profile in YAML (``feed_clash.clash_yaml_render``);
- ``singbox``: a sing-box client configuration in JSON (``feed_singbox.singbox_json_render``).

The User-Agent table (``APP_RULES``) matches the name an app puts first in its User-Agent;
the first rule that matches wins. Apps whose User-Agent also names another core ("HiddifyNext/…
like ClashMeta v2ray sing-box", "Karing/… ClashMeta;sing-box;clash-verge", "FlClash/v…
clash-verge") are told apart by that first name. What each app sends, from its source where it
is public:

- v2rayNG ``v2rayNG/<version>`` (2dust/v2rayNG ``V2rayNG/app/src/main/java/com/v2ray/ang/util/
  HttpUtil.kt``); v2rayN ``v2rayN/<version>`` (2dust/v2rayN ``v2rayN/ServiceLib/Common/
  Utils.cs`` ``GetVersion(false)``);
- Hiddify ``HiddifyNext/<version> (<os>) like ClashMeta v2ray sing-box`` (hiddify/hiddify-app
  ``lib/core/model/app_info_entity.dart``): base64, as the task asks, although Hiddify reads
  sing-box too;
- closed source: Happ ``Happ/<version>/<platform>/<build>`` and Streisand ``Streisand/…``
  (the prefixes Marzban matches: Gozargah/Marzban ``app/routers/subscription.py``), v2RayTun
  ``v2RayTun/…`` (remnawave/backend pull request #52), Shadowrocket ``Shadowrocket/<build>
  CFNetwork/… Darwin/…`` once its "hide my user agent" setting is off; by default it sends
  Safari's User-Agent (cmliu/edgetunnel issue #15), which gets base64 too unless it asks for
  ``text/html``;
- Clash Verge Rev ``clash-verge/v<version>`` (clash-verge-rev/clash-verge-rev
  ``src-tauri/src/utils/network.rs``); FlClash ``FlClash/v<version> clash-verge
  Platform/<os>`` (chen08209/FlClash ``lib/common/package.dart``); Clash Meta for Android
  ``ClashMetaForAndroid/<version>.Meta`` (MetaCubeX/ClashMetaForAndroid
  ``core/src/main/golang/native/config/fetch.go``); the mihomo core itself ``clash.meta``
  (its ``global-ua``, MetaCubeX/Meta-Docs ``docs/config/general.en.md``); ClashX Meta
  ``ClashX Meta/v<version> (com.metacubex.ClashX.meta; …)``, ClashX ``ClashX/<version> (…)``,
  Stash ``Stash/<version> Clash/<version>``: closed source, prefixes as Remnawave's default
  response rules match them (remnawave/backend ``prisma/seed/default/response-rules.ts``);
- SFA ``SFA/<version> (<code>; sing-box <version>; language <lang>)``
  (SagerNet/sing-box-for-android ``app/src/main/java/io/nekohasekai/sfa/utils/HTTPClient.kt``);
  SFI, SFM, SFT ``SFI (sing-box <version>; language <lang>)`` (SagerNet/sing-box-for-apple
  ``Library/Network/HTTPClient.swift``, ``Library/Shared/Variant.swift``); Karing
  ``Karing/<version> platform/<os> ClashMeta;sing-box;…`` (KaringX/karing issue #172).

Anything else, and no User-Agent at all, gets base64: the one format every app reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from subscriptions.feed import FEED_CONTENT_TYPE, feed_body_render
from subscriptions.feed_clash import clash_yaml_render
from subscriptions.feed_singbox import singbox_json_render

FORMAT_BASE64 = "base64"
FORMAT_CLASH = "clash"
FORMAT_SINGBOX = "singbox"

# What ``?format=`` accepts (case-insensitive) and the format each name means.
FORMAT_NAMES = {
    "base64": FORMAT_BASE64,
    "links": FORMAT_BASE64,
    "v2ray": FORMAT_BASE64,
    "clash": FORMAT_CLASH,
    "mihomo": FORMAT_CLASH,
    "clash-meta": FORMAT_CLASH,
    "singbox": FORMAT_SINGBOX,
    "sing-box": FORMAT_SINGBOX,
}


class FeedFormatError(ValueError):
    """``?format=`` names no format we serve."""


@dataclass(frozen=True)
class FeedFormat:
    name: str
    content_type: str
    file_extension: str  # appended to the Content-Disposition file name
    render: Callable[..., str]  # render(links=[...]) -> body text


FORMATS = {
    # Served as 3x-ui serves it; no extension, as before (Hiddify names a profile after it).
    FORMAT_BASE64: FeedFormat(FORMAT_BASE64, FEED_CONTENT_TYPE, "", feed_body_render),
    # text/yaml and application/json: what Marzban and Remnawave send these apps
    # (remnawave/backend src/modules/subscription-template/constants/config-types.ts).
    FORMAT_CLASH: FeedFormat(FORMAT_CLASH, "text/yaml; charset=utf-8", ".yaml", clash_yaml_render),
    FORMAT_SINGBOX: FeedFormat(
        FORMAT_SINGBOX, "application/json; charset=utf-8", ".json", singbox_json_render
    ),
}


@dataclass(frozen=True)
class AppRule:
    app: str
    pattern: re.Pattern[str]
    format: str


def _rule(app: str, prefix: str, format_name: str) -> AppRule:
    return AppRule(app, re.compile(prefix, re.IGNORECASE), format_name)


APP_RULES = (
    # Each pattern must match at the start of the User-Agent (``re.match``), so a core named
    # later ("… like ClashMeta v2ray sing-box") never counts. Order matters only where one
    # name begins another: the generic "clash" comes after every Clash app.
    _rule("Hiddify", r"hiddify", FORMAT_BASE64),
    _rule("Happ", r"happ\b", FORMAT_BASE64),
    _rule("v2rayNG", r"v2rayng\b", FORMAT_BASE64),
    _rule("v2rayN", r"v2rayn\b", FORMAT_BASE64),
    _rule("v2RayTun", r"v2raytun\b", FORMAT_BASE64),
    _rule("Streisand", r"streisand\b", FORMAT_BASE64),
    _rule("Shadowrocket", r"shadowrocket\b", FORMAT_BASE64),
    _rule("Clash Verge", r"clash-verge\b", FORMAT_CLASH),
    _rule("FlClash", r"flclash", FORMAT_CLASH),
    _rule("Clash Meta for Android", r"clashmetaforandroid\b", FORMAT_CLASH),
    _rule("ClashX Meta", r"clashx[ .-]?meta\b", FORMAT_CLASH),
    _rule("ClashX", r"clashx\b", FORMAT_CLASH),
    _rule("mihomo", r"mihomo\b", FORMAT_CLASH),
    _rule("ClashMeta", r"clash[ .-]?meta\b", FORMAT_CLASH),
    _rule("Stash", r"stash\b", FORMAT_CLASH),
    _rule("Clash", r"clash", FORMAT_CLASH),
    _rule("SFA", r"sfa\b", FORMAT_SINGBOX),
    _rule("SFI", r"sfi\b", FORMAT_SINGBOX),
    _rule("SFM", r"sfm\b", FORMAT_SINGBOX),
    _rule("SFT", r"sft\b", FORMAT_SINGBOX),
    _rule("sing-box", r"sing-?box\b", FORMAT_SINGBOX),
    _rule("Karing", r"karing\b", FORMAT_SINGBOX),
)
UNKNOWN_APP = "unknown"


def feed_app_detect(*, user_agent: str) -> tuple[str, str]:
    """``(app, format)`` for a User-Agent: the first rule whose name starts it, else base64."""
    agent = (user_agent or "").strip()
    for rule in APP_RULES:
        if rule.pattern.match(agent):
            return rule.app, rule.format
    return UNKNOWN_APP, FORMAT_BASE64


def feed_format_requested(*, values: list[str]) -> str | None:
    """The format ``?format=`` asks for (``request.GET.getlist("format")``); None without one.

    A value we do not know, an empty one or two different ones are refused: the subscriber
    gets a clear error instead of a format the app cannot read.
    """
    if not values:
        return None
    formats = set()
    for value in values:
        name = value.strip().lower()
        if name not in FORMAT_NAMES:
            known = ", ".join(sorted(FORMAT_NAMES))
            raise FeedFormatError(f"unknown format {name!r}; use one of: {known}")
        formats.add(FORMAT_NAMES[name])
    if len(formats) > 1:
        raise FeedFormatError("give one format, not several")
    return formats.pop()


def feed_format_choose(*, format_values: list[str], user_agent: str) -> FeedFormat:
    """The format to answer with: ``?format=`` if given, else the app's (``feed_app_detect``).
    Raises ``FeedFormatError`` for a ``?format=`` we do not serve."""
    requested = feed_format_requested(values=format_values)
    if requested is None:
        _, requested = feed_app_detect(user_agent=user_agent)
    return FORMATS[requested]
