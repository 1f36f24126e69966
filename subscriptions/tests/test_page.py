"""The platform a subscriber's browser runs on, from real User-Agent strings."""

import pytest

from subscriptions.page import platform_choose, platform_detect

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_TELEGRAM_WEBVIEW = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 "
    "Telegram-Android/11.2.2 (Samsung SM-A536B; Android 13; SDK 33; AVERAGE)"
)
IPAD_CHROME = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
ANDROID_YANDEX = (
    "Mozilla/5.0 (Linux; arm_64; Android 12; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 YaBrowser/24.4.5.85.00 SA/3 Mobile Safari/537.36"
)
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
MACOS_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("agent", "platform"),
    [
        (IPHONE_SAFARI, "ios"),
        (IPAD_CHROME, "ios"),
        (ANDROID_CHROME, "android"),
        (ANDROID_TELEGRAM_WEBVIEW, "android"),
        (ANDROID_YANDEX, "android"),
        (CHROMEBOOK, "android"),
        (WINDOWS_EDGE, "windows"),
        (MACOS_SAFARI, "macos"),
        (LINUX_FIREFOX, "linux"),
        ("", "android"),
        ("curl/8.5.0", "android"),
    ],
)
def test_platform_from_a_real_user_agent(agent, platform):
    assert platform_detect(user_agent=agent) == platform


def test_the_switcher_wins_over_the_user_agent():
    assert platform_choose(requested="windows", user_agent=IPHONE_SAFARI) == "windows"


@pytest.mark.parametrize("requested", [None, "", "symbian", "IOS", "ios "])
def test_a_switcher_value_that_is_no_platform_falls_back_to_the_user_agent(requested):
    assert platform_choose(requested=requested, user_agent=MACOS_SAFARI) == "macos"
