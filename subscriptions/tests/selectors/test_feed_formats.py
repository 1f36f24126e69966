"""Which format an app gets (subscriptions/feed_formats.py): the User-Agent each app really
sends (sources in the module docstring and docs/feed.md), and ``?format=``."""

from __future__ import annotations

import pytest

from subscriptions.feed_formats import (
    FORMAT_BASE64,
    FORMAT_CLASH,
    FORMAT_SINGBOX,
    FeedFormatError,
    feed_app_detect,
    feed_format_choose,
    feed_format_requested,
)

# (app, a User-Agent it sends, the format it gets)
REAL_USER_AGENTS = [
    ("v2rayNG", "v2rayNG/1.10.2", FORMAT_BASE64),
    ("v2rayN", "v2rayN/7.12.5", FORMAT_BASE64),
    ("Happ", "Happ/3.16.0/Android/1741613", FORMAT_BASE64),
    ("Happ", "Happ/3.3.6/Windows/2607171516600", FORMAT_BASE64),
    ("Hiddify", "HiddifyNext/4.1.2 (android) like ClashMeta v2ray sing-box", FORMAT_BASE64),
    ("v2RayTun", "v2RayTun/Android", FORMAT_BASE64),
    ("Streisand", "Streisand/1.6.41", FORMAT_BASE64),
    ("Shadowrocket", "Shadowrocket/2070 CFNetwork/1410.0.3 Darwin/22.6.0", FORMAT_BASE64),
    ("Clash Verge", "clash-verge/v2.4.2", FORMAT_CLASH),
    ("FlClash", "FlClash/v0.8.96 clash-verge Platform/android", FORMAT_CLASH),
    ("FlClash", "FlClashX/v0.2.1 clash-verge Platform/windows", FORMAT_CLASH),
    ("Clash Meta for Android", "ClashMetaForAndroid/2.11.32.Meta", FORMAT_CLASH),
    (
        "ClashX Meta",
        "ClashX Meta/v1.4.24 (com.metacubex.ClashX.meta; build:622; macOS 26.0.0) Alamofire/5.10.2",
        FORMAT_CLASH,
    ),
    ("ClashX", "ClashX/1.118.0", FORMAT_CLASH),
    ("mihomo", "mihomo/1.19.31", FORMAT_CLASH),
    ("ClashMeta", "clash.meta", FORMAT_CLASH),
    ("ClashMeta", "ClashMeta/1.0", FORMAT_CLASH),
    ("Stash", "Stash/3.1.1 Clash/1.9.0", FORMAT_CLASH),
    ("Clash", "ClashforWindows/0.20.39", FORMAT_CLASH),
    ("SFA", "SFA/1.12.0 (584; sing-box 1.12.0; language en_US)", FORMAT_SINGBOX),
    ("SFI", "SFI (sing-box 1.12.0; language en_US)", FORMAT_SINGBOX),
    ("SFM", "SFM (sing-box 1.12.0; language ru_RU)", FORMAT_SINGBOX),
    ("SFT", "SFT (sing-box 1.11.4; language en)", FORMAT_SINGBOX),
    ("sing-box", "sing-box 1.14.4", FORMAT_SINGBOX),
    (
        "Karing",
        (
            "Karing/1.0.26.323 platform/android ClashMeta;sing-box;clash-verge;"
            "NekoBox/Android/1.3.1 (Perfer ClashMeta Format);HiddifyNext;v2ray"
        ),
        FORMAT_SINGBOX,
    ),
]


@pytest.mark.parametrize(("app", "agent", "expected"), REAL_USER_AGENTS)
def test_each_app_gets_its_format_from_its_real_user_agent(app, agent, expected):
    assert feed_app_detect(user_agent=agent) == (app, expected)


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "okhttp/4.12.0",
        "curl/8.9.1",
        "NekoBox/Android/1.3.1",
        # Shadowrocket hides its own name by default and sends Safari's.
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
        ),
        # A name that only appears later does not count: the first name is the app.
        "Dalvik/2.1.0 (Linux; U; Android 14) clash sing-box",
    ],
)
def test_unknown_apps_get_base64(agent):
    assert feed_app_detect(user_agent=agent) == ("unknown", FORMAT_BASE64)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("base64", FORMAT_BASE64),
        ("links", FORMAT_BASE64),
        ("v2ray", FORMAT_BASE64),
        ("clash", FORMAT_CLASH),
        ("mihomo", FORMAT_CLASH),
        ("Clash-Meta", FORMAT_CLASH),
        ("singbox", FORMAT_SINGBOX),
        ("sing-box", FORMAT_SINGBOX),
        (" SING-BOX ", FORMAT_SINGBOX),
    ],
)
def test_format_parameter_names(value, expected):
    assert feed_format_requested(values=[value]) == expected


def test_no_format_parameter_means_none():
    assert feed_format_requested(values=[]) is None


@pytest.mark.parametrize("values", [["xray"], [""], ["json"], ["clash", "singbox"]])
def test_an_unknown_empty_or_double_format_is_refused(values):
    with pytest.raises(FeedFormatError):
        feed_format_requested(values=values)


def test_the_same_format_twice_is_one_format():
    assert feed_format_requested(values=["clash", "mihomo"]) == FORMAT_CLASH


def test_the_parameter_wins_over_the_user_agent():
    chosen = feed_format_choose(format_values=["singbox"], user_agent="clash-verge/v2.4.2")
    assert chosen.name == FORMAT_SINGBOX
    chosen = feed_format_choose(format_values=[], user_agent="clash-verge/v2.4.2")
    assert chosen.name == FORMAT_CLASH


def test_formats_have_their_content_type_and_file_extension():
    base64 = feed_format_choose(format_values=["base64"], user_agent="")
    clash = feed_format_choose(format_values=["clash"], user_agent="")
    singbox = feed_format_choose(format_values=["singbox"], user_agent="")
    assert (base64.content_type, base64.file_extension) == ("text/plain; charset=utf-8", "")
    assert (clash.content_type, clash.file_extension) == ("text/yaml; charset=utf-8", ".yaml")
    assert (singbox.content_type, singbox.file_extension) == (
        "application/json; charset=utf-8",
        ".json",
    )
