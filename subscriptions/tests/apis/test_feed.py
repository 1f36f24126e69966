"""Subscription feed body and headers against 3x-ui's ``/sub/`` (docs/x3ui.md "Links and feed")."""

from __future__ import annotations

import base64
import binascii

import pytest

from nodes.tests.factories import REALITY_STREAM
from subscriptions.feed import FEED_CONTENT_TYPE, FeedError, feed_body_render, feed_headers_build
from subscriptions.vless import vless_link_build, vless_link_parse

UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"


def strict_b64decode(body: str) -> str:
    """Standard alphabet, padding required: what 3x-ui's ``base64.StdEncoding`` produces."""
    assert len(body) % 4 == 0
    return base64.b64decode(body, validate=True).decode("utf-8")


def link_for(host: str, remark: str) -> str:
    return vless_link_build(
        client_uuid=UUID,
        host=host,
        port=443,
        stream_settings=REALITY_STREAM,
        remark=remark,
        flow="xtls-rprx-vision",
        protocol_settings={"decryption": "none", "encryption": "none"},
        client_key="k3vq9x2m7d1p0abc",
    )


class TestBody:
    def test_each_link_followed_by_newline_including_last(self):
        links = [
            link_for("de.example.com", "🇩🇪 Frankfurt"),
            link_for("2001:db8::1", "🇫🇮 Helsinki"),
        ]
        body = feed_body_render(links=links)
        assert strict_b64decode(body) == f"{links[0]}\n{links[1]}\n"

    def test_decoded_links_round_trip(self):
        remarks = ["🇩🇪 Frankfurt", "🇳🇱 Amsterdam 2", "plain"]
        links = [link_for(f"n{i}.example.com", remark) for i, remark in enumerate(remarks)]
        decoded = strict_b64decode(feed_body_render(links=links))
        parsed = [vless_link_parse(line) for line in decoded.splitlines()]
        assert [p[4] for p in parsed] == remarks
        assert [p[1] for p in parsed] == ["n0.example.com", "n1.example.com", "n2.example.com"]
        assert all(p[3]["security"] == "reality" for p in parsed)

    @pytest.mark.parametrize("extra", range(3))
    def test_padding_kept(self, extra):
        # Vary the length so the body needs 0, 1 and 2 padding characters.
        link = link_for("h.example.com", "x" * (1 + extra))
        body = feed_body_render(links=[link])
        assert body == base64.standard_b64encode(f"{link}\n".encode()).decode()
        assert strict_b64decode(body) == f"{link}\n"
        assert "-" not in body
        assert "_" not in body

    def test_padding_variants_are_all_covered(self):
        pads = {
            feed_body_render(links=[link_for("h.example.com", "x" * n)]).count("=")
            for n in range(1, 4)
        }
        assert pads == {0, 1, 2}

    def test_empty(self):
        assert feed_body_render(links=[]) == ""

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "vmess://eyJ2IjoiMiJ9",
            "not a link",
            f"vless://{UUID}@h.example.com:443?type=tcp\nvless://{UUID}@g.example.com:443",
            f"vless://{UUID}@h.example.com:443?type=tcp\r",
            None,
        ],
    )
    def test_rejects_bad_links(self, bad):
        good = link_for("h.example.com", "ok")
        with pytest.raises(FeedError):
            feed_body_render(links=[good, bad])

    def test_feed_error_is_value_error(self):
        assert issubclass(FeedError, ValueError)

    def test_content_type(self):
        assert FEED_CONTENT_TYPE == "text/plain; charset=utf-8"


def headers(**overrides) -> dict[str, str]:
    kwargs = {
        "upload": 1024,
        "download": 2048,
        "total": 107374182400,
        "expire_ts": 1767225600,
        "title": "MyVPN",
        "update_interval_hours": 12,
    }
    kwargs.update(overrides)
    return feed_headers_build(**kwargs)


class TestHeaders:
    def test_userinfo_and_interval(self):
        got = headers()
        assert got["Subscription-Userinfo"] == (
            "upload=1024; download=2048; total=107374182400; expire=1767225600"
        )
        assert got["Profile-Update-Interval"] == "12"

    def test_unlimited_and_never_expiring_are_zero(self):
        got = headers(upload=0, download=0, total=0, expire_ts=0)
        assert got["Subscription-Userinfo"] == "upload=0; download=0; total=0; expire=0"

    def test_userinfo_parses_like_clients_do(self):
        fields = dict(
            part.strip().split("=", 1) for part in headers()["Subscription-Userinfo"].split(";")
        )
        assert fields == {
            "upload": "1024",
            "download": "2048",
            "total": "107374182400",
            "expire": "1767225600",
        }

    @pytest.mark.parametrize("title", ["MyVPN", "Мой VPN 🚀", "a\nb"])
    def test_title_is_always_base64_prefixed(self, title):
        value = headers(title=title)["Profile-Title"]
        assert value.startswith("base64:")
        assert value.isascii()
        assert strict_b64decode(value.removeprefix("base64:")) == title

    def test_empty_title_is_omitted(self):
        assert "Profile-Title" not in headers(title="")

    def test_exact_header_set(self):
        # 3x-ui sends no Content-Disposition for the raw /sub/ feed; we add one (Happ, Hiddify).
        assert set(headers()) == {
            "Subscription-Userinfo",
            "Profile-Update-Interval",
            "Profile-Title",
            "Content-Disposition",
        }

    @pytest.mark.parametrize(
        ("title", "expected"),
        [
            ("MyVPN", 'attachment; filename="MyVPN"'),
            ('a"b\\c', "attachment; filename=\"abc\"; filename*=UTF-8''a%22b%5Cc"),
            ("Мой VPN", "attachment; filename=\"VPN\"; filename*=UTF-8''%D0%9C%D0%BE%D0%B9%20VPN"),
            ("Мой", "attachment; filename=\"subscription\"; filename*=UTF-8''%D0%9C%D0%BE%D0%B9"),
        ],
    )
    def test_content_disposition_names_the_file_after_the_title(self, title, expected):
        assert headers(title=title)["Content-Disposition"] == expected

    def test_optional_headers(self):
        got = headers(
            support_url="https://t.me/support",
            web_page_url="https://vpn.example.com/sub/tok",
            announce="Техработы\nв 03:00",
        )
        assert got["Support-Url"] == "https://t.me/support"
        assert got["Profile-Web-Page-Url"] == "https://vpn.example.com/sub/tok"
        assert got["Announce"].startswith("base64:")
        assert strict_b64decode(got["Announce"].removeprefix("base64:")) == "Техработы\nв 03:00"
        assert all(value.isascii() for value in got.values())

    @pytest.mark.parametrize(
        "overrides",
        [
            {"upload": -1},
            {"download": -5},
            {"total": -1},
            {"expire_ts": -1},
            {"upload": 1.5},
            {"total": True},
            {"expire_ts": "0"},
            {"update_interval_hours": 0},
            {"update_interval_hours": -1},
            {"update_interval_hours": 1.0},
            {"title": None},
            {"support_url": "https://x\r\nSet-Cookie: a=b"},
            {"web_page_url": "https://x\n"},
        ],
    )
    def test_rejects_bad_input(self, overrides):
        with pytest.raises(FeedError):
            headers(**overrides)

    def test_headers_are_valid_latin1_without_line_breaks(self):
        for value in headers(title="Заголовок", announce="x\ny").values():
            value.encode("latin-1")
            assert "\n" not in value
            assert "\r" not in value


def test_body_is_valid_base64_even_for_unicode_links():
    link = link_for("h.example.com", "🇯🇵 東京 · s9")
    body = feed_body_render(links=[link])
    try:
        base64.b64decode(body, validate=True)
    except binascii.Error:  # pragma: no cover - the assertion below explains
        pytest.fail("feed body is not strict base64")
    assert body.isascii()
