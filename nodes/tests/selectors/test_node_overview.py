"""nodes.selectors.node_overview_get: uptime and latency from hand-made checks, hourly
buckets, key counts by state, traffic totals and shares."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from nodes.models import SyncState
from nodes.selectors import CheckWindow, node_overview_get
from nodes.tests.factories import NodeCheckFactory, NodeClientFactory, NodeFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 8, 12, 30, tzinfo=UTC)


def test_windows_count_checks_ok_and_mean_latency():
    node = NodeFactory()
    # The last 24 hours: 3 answered (100, 200, 300 ms; one with xray stopped), 1 failed.
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(minutes=1), latency_ms=100)
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(hours=5), latency_ms=200)
    NodeCheckFactory(
        node=node, checked_at=NOW - timedelta(hours=23), ok=False, latency_ms=300, error="xray"
    )
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(hours=2), ok=False, latency_ms=None)
    # Earlier in the week: 4 answered at 1000 ms.
    for day in range(2, 6):
        NodeCheckFactory(node=node, checked_at=NOW - timedelta(days=day), latency_ms=1000)
    # Outside both windows, or another node's, or after `now`: not counted.
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(days=7, seconds=1), ok=False)
    NodeCheckFactory(node=NodeFactory(), checked_at=NOW - timedelta(minutes=2), ok=False)
    NodeCheckFactory(node=node, checked_at=NOW + timedelta(minutes=1), ok=False)

    overview = node_overview_get(node=node, now=NOW)
    assert overview.day == CheckWindow(checks=4, ok=2, latency_ms=200)
    assert overview.day.uptime_percent == Decimal("50.0")
    assert overview.day.failed == 2
    assert overview.week == CheckWindow(checks=8, ok=6, latency_ms=657)  # 4600 / 7
    assert overview.week.uptime_percent == Decimal("75.0")
    last = overview.last_failure
    assert last.checked_at == NOW + timedelta(minutes=1)  # the newest failed row on record


def test_a_day_window_starts_just_after_24_hours_ago():
    node = NodeFactory()
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(days=1))  # exactly 24 h: out
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(days=1) + timedelta(seconds=1))
    overview = node_overview_get(node=node, now=NOW)
    assert overview.day.checks == 1
    assert overview.week.checks == 2


def test_hours_cover_the_week_with_empty_hours_and_hourly_means():
    node = NodeFactory()
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(minutes=10), latency_ms=10)
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(minutes=20), latency_ms=30)
    NodeCheckFactory(node=node, checked_at=NOW - timedelta(hours=3), ok=False, latency_ms=None)
    hours = node_overview_get(node=node, now=NOW).hours
    assert len(hours) == 7 * 24 + 1  # from the hour holding `now - 7 days` to `now`'s
    assert hours[0].at == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert hours[-1].at == datetime(2026, 12, 8, 12, tzinfo=UTC)
    assert (hours[-1].checks, hours[-1].ok, hours[-1].latency_ms) == (2, 2, 20)
    failed = next(h for h in hours if h.at == datetime(2026, 12, 8, 9, tzinfo=UTC))
    assert (failed.checks, failed.ok, failed.latency_ms) == (1, 0, None)
    assert sum(h.checks for h in hours) == 3


def test_no_checks_no_uptime():
    overview = node_overview_get(node=NodeFactory(), now=NOW)
    assert overview.day.uptime_percent is None
    assert overview.week.latency_ms is None
    assert overview.last_failure is None
    assert all(h.checks == 0 for h in overview.hours)


def test_keys_by_state_traffic_and_shares():
    node = NodeFactory(weight=3)
    NodeFactory(weight=1)
    NodeFactory(weight=5, is_enabled=False)  # a disabled node's weight is not shared
    other = NodeFactory(weight=0)
    for state, up, down in (
        (SyncState.SYNCED, 10, 1),
        (SyncState.SYNCED, 20, 2),
        (SyncState.PENDING, 0, 0),
        (SyncState.REMOVING, 5, 5),
        (SyncState.REMOVED, 1000, 1000),
    ):
        NodeClientFactory(node=node, sync_state=state, traffic_up=up, traffic_down=down)
    NodeClientFactory(node=other, traffic_up=99)
    overview = node_overview_get(node=node, now=NOW)
    assert overview.keys_by_state == {
        "pending": 1,
        "synced": 2,
        "error": 0,
        "removing": 1,
        "removed": 1,
    }
    assert overview.load == 4
    assert (overview.traffic_up, overview.traffic_down) == (35, 8)
    assert [k.traffic_up for k in overview.top_keys] == [20, 10, 5]
    assert overview.weight_share == Decimal("75.0")  # 3 of 3 + 1 + 0
    assert overview.keys_share == Decimal("80.0")  # 4 of 5 keys not removed


def test_a_disabled_node_has_no_weight_share():
    node = NodeFactory(is_enabled=False)
    assert node_overview_get(node=node, now=NOW).weight_share is None
