"""/sub/<token> tells the truth inside the app: a subscription that cannot be used answers with
one placeholder entry saying why and where to go, and userinfo that does not promise more."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.feed import PLACEHOLDER_HOST, PLACEHOLDER_PORT, PLACEHOLDER_UUID
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory
from subscriptions.vless import vless_link_parse

pytestmark = pytest.mark.django_db

APP = {"HTTP_USER_AGENT": "v2rayNG/1.9.0"}
GIB = 1024**3


@pytest.fixture(autouse=True)
def _contacts(runtime_setting, settings):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@vpnsite_help")
    settings.PUBLIC_BASE_URL = "https://vpn.example.com"


def _with_key(subscription, *, up=0, down=0):
    node = NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND)
    NodeClientFactory(
        subscription=subscription,
        node=node,
        sync_state=SyncState.SYNCED,
        traffic_up=up,
        traffic_down=down,
    )
    return subscription


def _links(response) -> list[str]:
    return base64.b64decode(response.content).decode().splitlines()


def _userinfo(response) -> dict[str, int]:
    parts = (part.strip().split("=", 1) for part in response["Subscription-Userinfo"].split(";"))
    return {name: int(value) for name, value in parts}


def _placeholder(response) -> str:
    """The one entry's remark, after checking it is the unroutable placeholder."""
    assert response.status_code == 200
    links = _links(response)
    assert len(links) == 1, links
    uuid, host, port, params, remark = vless_link_parse(links[0])
    assert (uuid, host, port) == (PLACEHOLDER_UUID, PLACEHOLDER_HOST, PLACEHOLDER_PORT)
    assert params["security"] == "none"
    return remark


def _get(subscription, method="get"):
    return getattr(Client(), method)(f"/sub/{subscription.feed_token}", **APP)


def _ended():
    now = timezone.now()
    return _with_key(
        SubscriptionFactory(
            status=SubscriptionStatus.EXPIRED,
            started_at=now - timedelta(days=40),
            expires_at=now - timedelta(days=10),
        )
    )


def test_placeholder_host_is_the_never_routed_documentation_range():
    import ipaddress

    address = ipaddress.IPv4Address(PLACEHOLDER_HOST)
    assert address in ipaddress.IPv4Network("192.0.2.0/24")  # TEST-NET-1, RFC 5737
    assert not address.is_global


def test_an_ended_subscription_says_renew_in_the_bot_in_russian():
    subscription = _ended()
    assert _placeholder(_get(subscription)) == "Подписка закончилась — продлите в @vpnsite_bot"
    assert _userinfo(_get(subscription))["expire"] == int(subscription.expires_at.timestamp())


def test_an_ended_subscription_speaks_english_to_an_english_customer():
    subscription = _ended()
    subscription.customer.language = "en"
    subscription.customer.save()
    assert _placeholder(_get(subscription)) == "Subscription ended — renew in @vpnsite_bot"


def test_a_subscription_past_its_end_but_not_yet_swept_is_ended_too():
    subscription = _with_key(SubscriptionFactory())
    subscription.expires_at = subscription.started_at = timezone.now() - timedelta(hours=1)
    subscription.save()
    assert "Подписка закончилась" in _placeholder(_get(subscription))


def test_a_cancelled_subscription_does_not_advertise_its_future_end():
    subscription = _with_key(SubscriptionFactory(status=SubscriptionStatus.CANCELLED))
    before = int(timezone.now().timestamp())
    response = _get(subscription)
    assert "Подписка закончилась" in _placeholder(response)
    assert before <= _userinfo(response)["expire"] <= int(timezone.now().timestamp())


def test_a_banned_customer_is_told_to_contact_support_and_gets_no_future_expiry():
    subscription = _with_key(SubscriptionFactory())
    subscription.customer.is_banned = True
    subscription.customer.save()
    before = int(timezone.now().timestamp())
    response = _get(subscription)
    assert _placeholder(response) == "Доступ заблокирован — напишите @vpnsite_help"
    assert before <= _userinfo(response)["expire"] <= int(timezone.now().timestamp())
    assert _userinfo(response)["expire"] < int(subscription.expires_at.timestamp())


def test_a_banned_customer_without_support_contact_is_sent_to_the_bot(runtime_setting, settings):
    runtime_setting("SUPPORT_CONTACT", "")
    subscription = _with_key(SubscriptionFactory())
    subscription.customer.is_banned = True
    subscription.customer.language = "en"
    subscription.customer.save()
    assert _placeholder(_get(subscription)) == "Access blocked — contact @vpnsite_bot"


def test_over_the_traffic_limit_serves_the_placeholder_with_the_real_numbers():
    subscription = _with_key(
        SubscriptionFactory(traffic_limit_bytes=10 * GIB), up=4 * GIB, down=7 * GIB
    )
    response = _get(subscription)
    assert _placeholder(response) == "Трафик закончился — продлите в @vpnsite_bot"
    info = _userinfo(response)
    assert (info["upload"], info["download"], info["total"]) == (4 * GIB, 7 * GIB, 10 * GIB)
    assert info["expire"] == int(subscription.expires_at.timestamp())


def test_without_any_contact_the_placeholder_still_says_what_to_do(runtime_setting, settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    runtime_setting("SUPPORT_CONTACT", "")
    subscription = _ended()
    assert _placeholder(_get(subscription)) == "Подписка закончилась — продлите её"


def test_an_active_subscription_under_its_limit_gets_its_real_links():
    subscription = _with_key(
        SubscriptionFactory(traffic_limit_bytes=10 * GIB), up=1 * GIB, down=1 * GIB
    )
    links = _links(_get(subscription))
    assert len(links) == 1
    assert vless_link_parse(links[0])[0] == str(subscription.client_uuid)


@pytest.mark.parametrize("make", ["ended", "banned", "over-limit"])
def test_the_placeholder_costs_no_query(make):
    subscription = _with_key(SubscriptionFactory(traffic_limit_bytes=GIB), up=2 * GIB)
    if make == "ended":
        subscription.status = SubscriptionStatus.EXPIRED
        subscription.save()
    elif make == "banned":
        subscription.customer.is_banned = True
        subscription.customer.save()
    runtime_settings()  # cached, as in a running server
    with CaptureQueriesContext(connection) as captured:
        response = _get(subscription)
    _placeholder(response)
    assert len(captured.captured_queries) == 1, [q["sql"][:80] for q in captured]


class TestHead:
    """HEAD answers like GET: same status and headers, no body (apps probe with it)."""

    def test_head_has_the_get_headers_and_no_body(self):
        subscription = _with_key(SubscriptionFactory())
        got, head = _get(subscription), _get(subscription, "head")
        assert head.status_code == 200
        assert head.content == b""
        for name in ("Subscription-Userinfo", "Profile-Title", "Content-Type", "Support-Url"):
            assert head[name] == got[name]

    def test_head_of_an_unknown_token_is_404(self):
        assert Client().head("/sub/nosuchtoken", **APP).status_code == 404

    def test_post_is_still_refused(self):
        subscription = SubscriptionFactory()
        assert Client().post(f"/sub/{subscription.feed_token}").status_code == 405


class TestHeaders:
    def test_support_url_is_the_configured_contact_as_a_link(self):
        assert _get(_with_key(SubscriptionFactory()))["Support-Url"] == "https://t.me/vpnsite_help"

    def test_no_support_url_without_a_contact(self, runtime_setting, settings):
        runtime_setting("SUPPORT_CONTACT", "")
        assert "Support-Url" not in _get(_with_key(SubscriptionFactory()))

    def test_web_page_url_is_the_feed_url_itself(self):
        subscription = _with_key(SubscriptionFactory())
        assert _get(subscription)["Profile-Web-Page-Url"] == (
            f"https://vpn.example.com/sub/{subscription.feed_token}"
        )

    def test_content_disposition_names_the_profile(self, runtime_setting):
        runtime_setting("FEED_TITLE", "MyVPN")
        response = _get(_with_key(SubscriptionFactory()))
        assert response["Content-Disposition"] == 'attachment; filename="MyVPN"'

    def test_the_browser_page_is_not_offered_as_a_download(self):
        subscription = _with_key(SubscriptionFactory())
        response = Client().get(
            f"/sub/{subscription.feed_token}",
            HTTP_USER_AGENT="Mozilla/5.0",
            HTTP_ACCEPT="text/html",
        )
        assert response["Content-Type"].startswith("text/html")
        assert "Content-Disposition" not in response


class TestHiddifyContract:
    """Hiddify (https://github.com/hiddify/hiddify.com, docs/app/URL-Scheme.md) names a
    profile from Profile-Title, else from Content-Disposition's file name; fetches the usage
    with HEAD when the app opens and every minute; shows "Open web page" for
    profile-web-page-url and "support" for support-url."""

    def test_title_and_file_name_agree(self, runtime_setting):
        runtime_setting("FEED_TITLE", "MyVPN")
        response = _get(_with_key(SubscriptionFactory()))
        title = base64.b64decode(response["Profile-Title"].removeprefix("base64:")).decode()
        assert f'filename="{title}"' in response["Content-Disposition"]

    @pytest.mark.parametrize("banned", [False, True])
    def test_head_gives_usage_support_and_web_page(self, banned):
        subscription = _with_key(SubscriptionFactory())
        subscription.customer.is_banned = banned
        subscription.customer.save()
        response = _get(subscription, "head")
        assert response.status_code == 200
        assert set(_userinfo(response)) == {"upload", "download", "total", "expire"}
        assert response["Support-Url"] == "https://t.me/vpnsite_help"
        assert response["Profile-Web-Page-Url"].endswith(subscription.feed_token)


class TestHappContract:
    """Happ (https://github.com/Flyfrog-LLC/Happ-docs, dev-docs/app-management.md): an
    integer Profile-Update-Interval in hours, a title as plain text or base64, a
    ``content-disposition: attachment; filename="…"``."""

    def test_update_interval_is_whole_hours(self, settings):
        settings.SUBSCRIPTION_FEED_UPDATE_HOURS = 6
        assert _get(_with_key(SubscriptionFactory()))["Profile-Update-Interval"] == "6"

    def test_content_disposition_is_an_attachment_with_a_quoted_file_name(self):
        value = _get(_with_key(SubscriptionFactory()))["Content-Disposition"]
        assert value.startswith('attachment; filename="')

    def test_the_placeholder_is_a_single_importable_entry(self):
        response = _get(_ended())
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        _placeholder(response)


class TestAnnounce:
    """Announce (https://www.happ.su/main/dev-docs/meta-info, "announce": at most 200
    characters, plain or base64): the operator's text, set in the console without a restart;
    a subscription that cannot be used announces why instead."""

    @staticmethod
    def _announce(response) -> str:
        return base64.b64decode(response["Announce"].removeprefix("base64:")).decode()

    def test_no_announce_until_an_operator_writes_one(self):
        assert "Announce" not in _get(_with_key(SubscriptionFactory()))

    def test_the_operators_text_reaches_the_app_without_a_restart(self, runtime_setting):
        subscription = _with_key(SubscriptionFactory())
        _get(subscription)  # the runtime settings are cached now, as in a running server
        runtime_setting("FEED_ANNOUNCE", "Новый сервер в Амстердаме")
        assert self._announce(_get(subscription)) == "Новый сервер в Амстердаме"

    @pytest.mark.parametrize("make", ["ended", "banned", "over-limit"])
    def test_a_subscription_that_cannot_be_used_announces_why(self, make, runtime_setting):
        runtime_setting("FEED_ANNOUNCE", "Sale: 20% off")
        subscription = _with_key(SubscriptionFactory(traffic_limit_bytes=GIB), up=2 * GIB)
        if make == "ended":
            subscription.status = SubscriptionStatus.EXPIRED
            subscription.save()
        elif make == "banned":
            subscription.customer.is_banned = True
            subscription.customer.save()
        for method in ("get", "head"):
            response = _get(subscription, method)
            assert self._announce(response) == _placeholder(_get(subscription))
