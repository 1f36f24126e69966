"""``Subscription-Refill-Date``: when the traffic of a subscription whose tariff resets it
next goes back to zero (unix seconds, Remnawave's header; see subscriptions/feed.py), on the
feed for apps and as one line of the browser page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.feed import FeedError, feed_headers_build
from subscriptions.models import TrafficReset
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

APP = {"HTTP_USER_AGENT": "Happ/3.1.0"}
BROWSER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml",
}
GIB = 1024**3


def _subscription(period=TrafficReset.MONTH, *, language="en", limit_gb=10, **kwargs):
    """A subscription with a key, for a year unless told otherwise."""
    kwargs.setdefault("expires_at", timezone.now() + timedelta(days=365))
    sub = SubscriptionFactory(
        customer=CustomerFactory(language=language),
        tariff=TariffFactory(traffic_reset=period, traffic_limit_gb=limit_gb),
        **kwargs,
    )
    NodeClientFactory(
        subscription=sub,
        node=NodeFactory(health=NodeHealth.UP, inbound_cache=REALITY_INBOUND),
        sync_state=SyncState.SYNCED,
    )
    return sub


def _get(sub, method="get", **headers):
    return getattr(Client(), method)(f"/sub/{sub.feed_token}", **(headers or APP))


@pytest.mark.parametrize("period", [TrafficReset.DAY, TrafficReset.WEEK, TrafficReset.MONTH])
def test_the_header_is_the_next_reset_in_unix_seconds(period):
    sub = _subscription(period)
    for method in ("get", "head"):
        response = _get(sub, method)
        assert response.status_code == 200
        assert response["Subscription-Refill-Date"] == str(
            int(sub.traffic_reset_next_at.timestamp())
        )
        assert response["Subscription-Refill-Date"].isdigit()


def test_the_header_is_sent_over_the_limit_when_it_matters_most():
    sub = _subscription(traffic_used_bytes=11 * GIB)
    response = _get(sub)
    assert response["Subscription-Refill-Date"] == str(int(sub.traffic_reset_next_at.timestamp()))


def test_no_header_when_the_tariff_never_resets_or_nothing_will_reset():
    assert "Subscription-Refill-Date" not in _get(_subscription(TrafficReset.NEVER))
    # A 30-day term on a monthly reset ends before the reset: none is promised.
    month = _subscription(expires_at=timezone.now() + timedelta(days=30))
    assert month.traffic_reset_next_at > month.expires_at
    assert "Subscription-Refill-Date" not in _get(month)
    now = timezone.now()
    ended = _subscription(started_at=now - timedelta(days=40), expires_at=now - timedelta(days=1))
    assert "Subscription-Refill-Date" not in _get(ended)
    banned = _subscription()
    banned.customer.is_banned = True
    banned.customer.save()
    assert "Subscription-Refill-Date" not in _get(banned)


def test_the_header_costs_no_query():
    plain, resetting = _subscription(TrafficReset.NEVER), _subscription()
    counts = []
    runtime_settings()  # cached, as in a running server
    for sub in (plain, resetting):
        with CaptureQueriesContext(connection) as queries:
            assert _get(sub).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "Traffic resets to zero on "), ("ru", "Трафик обнулится ")],
)
def test_the_page_says_when_the_traffic_resets(language, text):
    sub = _subscription(language=language)
    page = _get(sub, **BROWSER).content.decode()
    local = timezone.localtime(sub.traffic_reset_next_at)
    line = next(line for line in page.splitlines() if text in line)
    assert f"{local.year}, {local:%H:%M}" in line
    assert (
        text
        not in _get(
            _subscription(TrafficReset.NEVER, language=language), **BROWSER
        ).content.decode()
    )


def test_the_builder_refuses_a_bad_refill_moment():
    common = {"upload": 0, "download": 0, "total": 0, "expire_ts": 0, "title": "t"}
    headers = feed_headers_build(**common, update_interval_hours=12, refill_ts=1786309200)
    assert headers["Subscription-Refill-Date"] == "1786309200"
    assert "Subscription-Refill-Date" not in feed_headers_build(**common, update_interval_hours=12)
    for bad in (-1, True, 1.5, "1786309200"):
        with pytest.raises(FeedError, match="refill_ts"):
            feed_headers_build(**common, update_interval_hours=12, refill_ts=bad)
