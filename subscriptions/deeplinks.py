"""One-tap "add to app" links: each VPN app's URL scheme for importing a subscription URL,
and where each app is installed from. Pure: no settings, no database.

``deeplink_build(app=..., feed_url=..., name=...)`` is the one place a deep link is made;
the subscription page, the ``/sub/<token>/open/<app>`` page and the bot's keys message all
use it. Clash-type and sing-box apps import the feed URL with ``?format=clash`` or
``?format=singbox`` appended, so they get their format even when their User-Agent is not
one the feed knows.

Two shapes of scheme exist, and each app's parser decides how the feed URL is written:

* path form (``happ://add/<url>``, ``hiddify://import/<url>#name``, ``v2raytun://import/<url>``,
  ``streisand://import/<url>#name``): the app takes the rest of the link verbatim as the URL
  (Hiddify: ``uri.path.substring(1)``, no percent-decoding), so the URL goes in as it is and
  only characters a URI cannot hold are escaped; the name, where the app reads one, is the
  percent-encoded fragment;
* query form (``...?url=<percent-encoded url>``): ``url`` is percent-encoded whole (``:/?=&``
  included); Clash Verge Rev takes everything after ``url=`` to the end of the query, so
  ``url`` comes last there and the name before it.

Sources (each scheme as the app's own code or documentation, or a widely used subscription
page, defines it; store links as the Remnawave panel's client list gives them):

* Happ ``happ://add/<url>``: Remnawave subscription page
  https://github.com/remnawave/subscription-page/blob/main/frontend/public/assets/app-config.json
  (``"urlScheme": "happ://add/"``, the URL appended as it is) and
  https://github.com/legiz-ru/my-remnawave/blob/main/sub-page/multiapp/app-config.json; Happ's
  own FAQ says a subscription can be added by deep link without giving its shape:
  https://github.com/Flyfrog-LLC/Happ-docs/blob/main/faq/adding-configuration-subscription.md.
* Hiddify ``hiddify://import/<url>#<name>``: https://github.com/hiddify/hiddify-app/wiki/URL-Scheme
  and its parser https://github.com/hiddify/hiddify-app/blob/main/lib/utils/link_parsers.dart.
* v2RayTun ``v2raytun://import/<url>``:
  https://github.com/legiz-ru/my-remnawave/blob/main/sub-page/hwid/app-config.json.
* v2rayNG ``v2rayng://install-sub?url=<encoded>#<name>``: its intent filter and handler
  https://github.com/2dust/v2rayNG/blob/master/V2rayNG/app/src/main/AndroidManifest.xml and
  https://github.com/2dust/v2rayNG/blob/master/V2rayNG/app/src/main/java/com/v2ray/ang/ui/UrlSchemeActivity.kt
  (``url`` query parameter, the fragment becomes the subscription's remarks); Marzban's
  URL-scheme page (below) lists the same.
* Streisand ``streisand://import/<url>#<name>``: Marzban's URL-scheme page
  https://github.com/sm1ky/old.marzban.dev/blob/7be4ee39f5fca6c2f7319781510a66da136e1833/advanced/url-scheme.md
  and the Remnawave app-config above (``"urlScheme": "streisand://import/"``).
* Clash Verge Rev ``clash://install-config?name=<name>&url=<encoded>``: schemes ``clash`` and
  ``clash-verge``, parser
  https://github.com/clash-verge-rev/clash-verge-rev/blob/dev/src-tauri/src/utils/resolve/scheme.rs
  (``url`` is the rest of the query after ``url=``, percent-decoded; ``name`` a query pair).
* FlClash ``flclash://install-config?url=<encoded>``: schemes ``clash``, ``clashmeta``,
  ``flclash``; https://github.com/chen08209/FlClash/blob/main/lib/common/link.dart (reads the
  ``url`` query parameter only) and its AndroidManifest.xml / ``lib/common/window.dart``.
* sing-box (SFA, SFI, SFM) ``sing-box://import-remote-profile?url=<encoded>#<encoded name>``:
  https://github.com/SagerNet/sing-box/blob/stable/docs/clients/general.md and
  ``experimental/libbox/remote_profile.go``.
* Store links: https://github.com/remnawave/panel/blob/main/src/data/clients.ts (Google Play ids
  ``com.happproxy``, ``com.v2raytun.android``, ``app.hiddify.com``, ``io.nekohasekai.sfa``;
  App Store ids 6504287215 Happ, 6476628951 v2RayTun, 6596777532 Hiddify, 6450534064
  Streisand, 6673731168 sing-box VT; GitHub releases for the desktop builds, v2rayNG, FlClash,
  Clash Verge Rev); Happ's Russian App Store entry (id6746188973, "Happ Proxy Utility Plus")
  from the Remnawave app-config above.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.utils.translation import gettext as _

PLATFORM_ANDROID = "android"
PLATFORM_IOS = "ios"
PLATFORM_WINDOWS = "windows"
PLATFORM_MACOS = "macos"
PLATFORM_LINUX = "linux"
PLATFORMS = (PLATFORM_ANDROID, PLATFORM_IOS, PLATFORM_WINDOWS, PLATFORM_MACOS, PLATFORM_LINUX)
# Product names: not translated.
PLATFORM_NAMES = {
    PLATFORM_ANDROID: "Android",
    PLATFORM_IOS: "iOS",
    PLATFORM_WINDOWS: "Windows",
    PLATFORM_MACOS: "macOS",
    PLATFORM_LINUX: "Linux",
}

# What a store link is; the page names each one in the reader's language.
STORE_GOOGLE_PLAY = "google-play"
STORE_APP_STORE = "app-store"
STORE_APP_STORE_RU = "app-store-ru"
STORE_GITHUB = "github"


def store_label(kind: str) -> str:
    """A store's name in the active language (the page and the bot's /help)."""
    return {
        STORE_GOOGLE_PLAY: "Google Play",
        STORE_APP_STORE: "App Store",
        STORE_APP_STORE_RU: _("App Store (Russia)"),
        STORE_GITHUB: "GitHub",
    }[kind]


FORMAT_CLASH = "clash"
FORMAT_SINGBOX = "singbox"

# Characters that stay as they are when a URL is put into another URL's path: the URI's
# reserved and unreserved sets without "#" (which would end the path) and with "%" (an
# escape already in the URL stays one). Letters, digits and "_.-~" are never quoted.
_PATH_SAFE = "/:?=&@!$'()*+,;%"


class DeepLinkError(ValueError):
    """An unknown app or a feed URL that is not an http(s) URL."""


@dataclass(frozen=True)
class Store:
    kind: str  # STORE_*
    url: str


@dataclass(frozen=True)
class App:
    key: str  # in /sub/<token>/open/<key>
    name: str
    feed_format: str  # "" (the feed picks by User-Agent), FORMAT_CLASH or FORMAT_SINGBOX
    stores: dict[str, tuple[Store, ...]]  # platform -> where to install it there


def _play(package: str) -> Store:
    return Store(STORE_GOOGLE_PLAY, f"https://play.google.com/store/apps/details?id={package}")


def _github(repo: str) -> Store:
    return Store(STORE_GITHUB, f"https://github.com/{repo}/releases/latest")


_HAPP_APPLE = (
    Store(STORE_APP_STORE, "https://apps.apple.com/us/app/happ-proxy-utility/id6504287215"),
    Store(STORE_APP_STORE_RU, "https://apps.apple.com/ru/app/happ-proxy-utility-plus/id6746188973"),
)
_V2RAYTUN_APPLE = (Store(STORE_APP_STORE, "https://apps.apple.com/app/v2raytun/id6476628951"),)
_STREISAND_APPLE = (Store(STORE_APP_STORE, "https://apps.apple.com/app/streisand/id6450534064"),)
_SINGBOX_APPLE = (Store(STORE_APP_STORE, "https://apps.apple.com/app/sing-box-vt/id6673731168"),)
_HIDDIFY_DESKTOP = (_github("hiddify/hiddify-app"),)
_CLASH_VERGE_DESKTOP = (_github("clash-verge-rev/clash-verge-rev"),)
_FLCLASH_ANY = (_github("chen08209/FlClash"),)
_HAPP_DESKTOP = (_github("Happ-proxy/happ-desktop"),)

APP_HAPP = "happ"
APP_HIDDIFY = "hiddify"
APP_V2RAYTUN = "v2raytun"
APP_V2RAYNG = "v2rayng"
APP_STREISAND = "streisand"
APP_CLASH_VERGE = "clash-verge"
APP_FLCLASH = "flclash"
APP_SINGBOX = "sing-box"

APPS: dict[str, App] = {
    app.key: app
    for app in (
        App(
            APP_HAPP,
            "Happ",
            "",
            {
                PLATFORM_ANDROID: (_play("com.happproxy"), _github("Happ-proxy/happ-android")),
                PLATFORM_IOS: _HAPP_APPLE,
                PLATFORM_MACOS: _HAPP_APPLE,
                PLATFORM_WINDOWS: _HAPP_DESKTOP,
                PLATFORM_LINUX: _HAPP_DESKTOP,
            },
        ),
        App(
            APP_V2RAYTUN,
            "v2RayTun",
            "",
            {
                PLATFORM_ANDROID: (_play("com.v2raytun.android"),),
                PLATFORM_IOS: _V2RAYTUN_APPLE,
                PLATFORM_MACOS: _V2RAYTUN_APPLE,
            },
        ),
        App(
            APP_HIDDIFY,
            "Hiddify",
            "",
            {
                PLATFORM_ANDROID: (_play("app.hiddify.com"),),
                PLATFORM_IOS: (
                    Store(
                        STORE_APP_STORE,
                        "https://apps.apple.com/us/app/hiddify-proxy-vpn/id6596777532",
                    ),
                ),
                PLATFORM_WINDOWS: _HIDDIFY_DESKTOP,
                PLATFORM_MACOS: _HIDDIFY_DESKTOP,
                PLATFORM_LINUX: _HIDDIFY_DESKTOP,
            },
        ),
        App(
            APP_V2RAYNG,
            "v2rayNG",
            "",
            {PLATFORM_ANDROID: (_github("2dust/v2rayNG"),)},
        ),
        App(
            APP_STREISAND,
            "Streisand",
            "",
            {PLATFORM_IOS: _STREISAND_APPLE, PLATFORM_MACOS: _STREISAND_APPLE},
        ),
        App(
            APP_CLASH_VERGE,
            "Clash Verge",
            FORMAT_CLASH,
            {
                PLATFORM_WINDOWS: _CLASH_VERGE_DESKTOP,
                PLATFORM_MACOS: _CLASH_VERGE_DESKTOP,
                PLATFORM_LINUX: _CLASH_VERGE_DESKTOP,
            },
        ),
        App(
            APP_FLCLASH,
            "FlClash",
            FORMAT_CLASH,
            {platform: _FLCLASH_ANY for platform in PLATFORMS if platform != PLATFORM_IOS},
        ),
        App(
            APP_SINGBOX,
            "sing-box",
            FORMAT_SINGBOX,
            {
                PLATFORM_ANDROID: (_play("io.nekohasekai.sfa"), _github("SagerNet/sing-box")),
                PLATFORM_IOS: _SINGBOX_APPLE,
                PLATFORM_MACOS: _SINGBOX_APPLE,
            },
        ),
    )
}

# What the page recommends on each platform, best first (apps a platform has no build of
# are left out; the bot offers every app, since it cannot tell the platform).
RECOMMENDED: dict[str, tuple[str, ...]] = {
    PLATFORM_ANDROID: (APP_HAPP, APP_V2RAYTUN, APP_HIDDIFY, APP_V2RAYNG, APP_FLCLASH, APP_SINGBOX),
    PLATFORM_IOS: (APP_HAPP, APP_V2RAYTUN, APP_STREISAND, APP_HIDDIFY, APP_SINGBOX),
    PLATFORM_WINDOWS: (APP_HAPP, APP_HIDDIFY, APP_CLASH_VERGE, APP_FLCLASH),
    PLATFORM_MACOS: (
        APP_HAPP,
        APP_V2RAYTUN,
        APP_HIDDIFY,
        APP_STREISAND,
        APP_CLASH_VERGE,
        APP_FLCLASH,
        APP_SINGBOX,
    ),
    PLATFORM_LINUX: (APP_HIDDIFY, APP_CLASH_VERGE, APP_FLCLASH, APP_HAPP),
}


# The bot's keys message offers every app ("add to <app>" buttons, two a row): it cannot
# tell the platform, so apps most subscribers use come first.
BOT_APPS = (
    APP_HAPP,
    APP_V2RAYTUN,
    APP_HIDDIFY,
    APP_STREISAND,
    APP_V2RAYNG,
    APP_SINGBOX,
    APP_CLASH_VERGE,
    APP_FLCLASH,
)


def app_open_url(*, feed_url: str, app: str) -> str:
    """The https page that opens `app`'s deep link (``/sub/<token>/open/<app>``), for
    Telegram buttons, which take no custom scheme."""
    if app not in APPS:
        raise DeepLinkError(f"unknown app {app!r}")
    return f"{feed_url}/open/{app}"


def feed_url_with_format(feed_url: str, feed_format: str) -> str:
    """`feed_url` with ``format=<feed_format>`` in its query (replacing one already there);
    unchanged for an empty format."""
    if not feed_format:
        return feed_url
    parts = urlsplit(feed_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "format"]
    query.append(("format", feed_format))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _encoded(value: str) -> str:
    return quote(value, safe="")


def _in_path(url: str) -> str:
    return quote(url, safe=_PATH_SAFE)


def _fragment(name: str) -> str:
    return f"#{_encoded(name)}" if name else ""


def deeplink_build(*, app: str, feed_url: str, name: str = "") -> str:
    """The link that opens `app` and adds the subscription at `feed_url`, named `name`
    where the app takes a name (Happ, v2RayTun and FlClash name it from the feed's
    ``Profile-Title`` instead)."""
    spec = APPS.get(app)
    if spec is None:
        raise DeepLinkError(f"unknown app {app!r}")
    if urlsplit(feed_url).scheme not in {"http", "https"} or not urlsplit(feed_url).netloc:
        raise DeepLinkError(f"not an http(s) URL: {feed_url!r}")
    url = feed_url_with_format(feed_url, spec.feed_format)
    if app == APP_HAPP:
        return f"happ://add/{_in_path(url)}"
    if app == APP_HIDDIFY:
        return f"hiddify://import/{_in_path(url)}{_fragment(name)}"
    if app == APP_V2RAYTUN:
        return f"v2raytun://import/{_in_path(url)}"
    if app == APP_STREISAND:
        return f"streisand://import/{_in_path(url)}{_fragment(name)}"
    if app == APP_V2RAYNG:
        return f"v2rayng://install-sub?url={_encoded(url)}{_fragment(name)}"
    if app == APP_CLASH_VERGE:
        named = f"name={_encoded(name)}&" if name else ""
        return f"clash://install-config?{named}url={_encoded(url)}"
    if app == APP_FLCLASH:
        return f"flclash://install-config?url={_encoded(url)}"
    # APP_SINGBOX: the only app left in APPS.
    return f"sing-box://import-remote-profile?url={_encoded(url)}{_fragment(name)}"
