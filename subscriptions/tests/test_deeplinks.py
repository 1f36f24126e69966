"""Deep links per app: the exact link for a feed URL and a profile name, and the link read
back the way the app's own parser reads it (subscriptions/deeplinks.py cites each parser)."""

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from subscriptions.deeplinks import (
    APP_CLASH_VERGE,
    APP_FLCLASH,
    APP_HAPP,
    APP_HIDDIFY,
    APP_SINGBOX,
    APP_STREISAND,
    APP_V2RAYNG,
    APP_V2RAYTUN,
    APPS,
    BOT_APPS,
    PLATFORMS,
    RECOMMENDED,
    DeepLinkError,
    app_open_url,
    deeplink_build,
    feed_url_with_format,
)

FEED = "https://vpn.example.com/sub/AbC-12_xyz"
ENC = "https%3A%2F%2Fvpn.example.com%2Fsub%2FAbC-12_xyz"


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (APP_HAPP, f"happ://add/{FEED}"),
        (APP_HIDDIFY, f"hiddify://import/{FEED}#vpnsite"),
        (APP_V2RAYTUN, f"v2raytun://import/{FEED}"),
        (APP_STREISAND, f"streisand://import/{FEED}#vpnsite"),
        (APP_V2RAYNG, f"v2rayng://install-sub?url={ENC}#vpnsite"),
        (APP_CLASH_VERGE, f"clash://install-config?name=vpnsite&url={ENC}%3Fformat%3Dclash"),
        (APP_FLCLASH, f"flclash://install-config?url={ENC}%3Fformat%3Dclash"),
        (APP_SINGBOX, f"sing-box://import-remote-profile?url={ENC}%3Fformat%3Dsingbox#vpnsite"),
    ],
)
def test_exact_link_per_app(app, expected):
    assert deeplink_build(app=app, feed_url=FEED, name="vpnsite") == expected


def test_every_app_has_a_test_above():
    assert set(APPS) == {
        APP_HAPP,
        APP_HIDDIFY,
        APP_V2RAYTUN,
        APP_STREISAND,
        APP_V2RAYNG,
        APP_CLASH_VERGE,
        APP_FLCLASH,
        APP_SINGBOX,
    }


NAME = "Мой VPN & co #1"
NAME_ENC = "%D0%9C%D0%BE%D0%B9%20VPN%20%26%20co%20%231"


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (APP_HIDDIFY, f"hiddify://import/{FEED}#{NAME_ENC}"),
        (APP_STREISAND, f"streisand://import/{FEED}#{NAME_ENC}"),
        (APP_V2RAYNG, f"v2rayng://install-sub?url={ENC}#{NAME_ENC}"),
        (APP_CLASH_VERGE, f"clash://install-config?name={NAME_ENC}&url={ENC}%3Fformat%3Dclash"),
        (APP_SINGBOX, f"sing-box://import-remote-profile?url={ENC}%3Fformat%3Dsingbox#{NAME_ENC}"),
    ],
)
def test_a_name_with_spaces_cyrillic_and_delimiters_is_percent_encoded(app, expected):
    assert deeplink_build(app=app, feed_url=FEED, name=NAME) == expected


@pytest.mark.parametrize("app", [APP_HIDDIFY, APP_STREISAND, APP_V2RAYNG, APP_SINGBOX])
def test_no_name_no_fragment(app):
    assert "#" not in deeplink_build(app=app, feed_url=FEED, name="")


def test_clash_verge_without_a_name_has_just_the_url():
    link = deeplink_build(app=APP_CLASH_VERGE, feed_url=FEED, name="")
    assert link == f"clash://install-config?url={ENC}%3Fformat%3Dclash"


# --- Read back as each app reads it ---------------------------------------------------------


def test_path_form_apps_take_the_rest_of_the_link_verbatim():
    """Happ, Hiddify, v2RayTun, Streisand: everything after the prefix up to "#" is the URL
    (hiddify-app link_parsers.dart: ``uri.path.substring(1)``, no decoding)."""
    for app, prefix in [
        (APP_HAPP, "happ://add/"),
        (APP_HIDDIFY, "hiddify://import/"),
        (APP_V2RAYTUN, "v2raytun://import/"),
        (APP_STREISAND, "streisand://import/"),
    ]:
        link = deeplink_build(app=app, feed_url=FEED, name=NAME)
        assert link.startswith(prefix)
        url, _, fragment = link.removeprefix(prefix).partition("#")
        assert url == FEED
        assert unquote(fragment) in {"", NAME}


def test_a_feed_url_with_characters_a_uri_cannot_hold_stays_one_url_in_path_form():
    feed = "https://vpn.example.com/sub/a b#c"
    link = deeplink_build(app=APP_HIDDIFY, feed_url=feed, name="n")
    assert link == "hiddify://import/https://vpn.example.com/sub/a%20b%23c#n"
    assert unquote(link.removeprefix("hiddify://import/").partition("#")[0]) == feed


def test_v2rayng_reads_the_url_parameter_and_names_it_by_the_fragment():
    """UrlSchemeActivity: ``uri.getQueryParameter("url")`` (decoded), fragment = remarks."""
    parts = urlsplit(deeplink_build(app=APP_V2RAYNG, feed_url=FEED, name=NAME))
    assert (parts.scheme, parts.netloc) == ("v2rayng", "install-sub")
    assert parse_qs(parts.query) == {"url": [FEED]}
    assert unquote(parts.fragment) == NAME


def test_clash_verge_reads_everything_after_url_and_the_name_pair():
    """scheme.rs: the rest of the query after ``url=``, percent-decoded; ``name`` a pair."""
    link = deeplink_build(app=APP_CLASH_VERGE, feed_url=FEED, name=NAME)
    query = urlsplit(link).query
    assert unquote(query[query.find("url=") + len("url=") :]) == f"{FEED}?format=clash"
    assert parse_qs(query)["name"] == [NAME]


def test_flclash_reads_the_url_parameter():
    parts = urlsplit(deeplink_build(app=APP_FLCLASH, feed_url=FEED, name=NAME))
    assert (parts.scheme, parts.netloc) == ("flclash", "install-config")
    assert parse_qs(parts.query) == {"url": [f"{FEED}?format=clash"]}


def test_sing_box_reads_url_and_fragment_like_libbox():
    """remote_profile.go: ``Query().Get("url")`` and the fragment as the name."""
    parts = urlsplit(deeplink_build(app=APP_SINGBOX, feed_url=FEED, name=NAME))
    assert (parts.scheme, parts.netloc) == ("sing-box", "import-remote-profile")
    assert parse_qs(parts.query) == {"url": [f"{FEED}?format=singbox"]}
    assert unquote(parts.fragment) == NAME


# --- The feed's format parameter ------------------------------------------------------------


def test_format_is_appended_and_replaces_one_already_there():
    assert feed_url_with_format(FEED, "clash") == f"{FEED}?format=clash"
    assert feed_url_with_format(f"{FEED}?a=1&format=x", "singbox") == f"{FEED}?a=1&format=singbox"
    assert feed_url_with_format(FEED, "") == FEED


def test_only_clash_and_sing_box_apps_ask_for_a_format():
    formats = {app.key: app.feed_format for app in APPS.values()}
    assert formats == {
        APP_HAPP: "",
        APP_HIDDIFY: "",
        APP_V2RAYTUN: "",
        APP_STREISAND: "",
        APP_V2RAYNG: "",
        APP_CLASH_VERGE: "clash",
        APP_FLCLASH: "clash",
        APP_SINGBOX: "singbox",
    }


# --- Bad input ------------------------------------------------------------------------------


def test_unknown_app_is_refused():
    with pytest.raises(DeepLinkError, match="unknown app"):
        deeplink_build(app="nekobox", feed_url=FEED)
    with pytest.raises(DeepLinkError, match="unknown app"):
        app_open_url(feed_url=FEED, app="nekobox")


@pytest.mark.parametrize("feed", ["", "vpn.example.com/sub/x", "javascript:alert(1)", "https://"])
def test_a_feed_url_that_is_not_http_is_refused(feed):
    with pytest.raises(DeepLinkError, match="not an http"):
        deeplink_build(app=APP_HAPP, feed_url=feed)


# --- The catalog ----------------------------------------------------------------------------


def test_open_page_url_is_under_the_feed_url():
    assert app_open_url(feed_url=FEED, app=APP_HAPP) == f"{FEED}/open/happ"


def test_every_recommended_app_installs_on_its_platform_from_an_https_store():
    assert set(RECOMMENDED) == set(PLATFORMS)
    for platform, apps in RECOMMENDED.items():
        assert apps, platform
        for app in apps:
            stores = APPS[app].stores[platform]
            assert stores, (platform, app)
            assert all(store.url.startswith("https://") for store in stores)


def test_the_bot_offers_every_app_once():
    assert sorted(BOT_APPS) == sorted(APPS)
