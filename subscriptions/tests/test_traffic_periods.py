"""The period arithmetic of traffic resets (subscriptions/traffic_periods.py): month ends,
the calendar of the service's time zone, daylight-saving changes, missed periods."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from subscriptions.models import TrafficReset
from subscriptions.traffic_periods import traffic_reset_moment, traffic_reset_next

BERLIN = ZoneInfo("Europe/Berlin")  # has daylight saving time
MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3 all year


def _chain(period, anchor, count, tz=UTC):
    """The first `count` resets after `anchor`, each asked as "the next after the last"."""
    moments, after = [], anchor
    for _ in range(count):
        after = traffic_reset_next(period=period, anchor=anchor, after=after, tz=tz)
        moments.append(after)
    return moments


def test_a_month_started_on_the_31st_resets_on_the_last_day_of_short_months():
    anchor = datetime(2023, 12, 31, 18, 45, tzinfo=UTC)
    assert [m.date().isoformat() for m in _chain(TrafficReset.MONTH, anchor, 6)] == [
        "2024-01-31",
        "2024-02-29",  # leap year
        "2024-03-31",  # back to the anchor's day: no drift after February
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
    ]
    assert all(m.time() == anchor.time() for m in _chain(TrafficReset.MONTH, anchor, 6))
    feb = traffic_reset_next(
        period=TrafficReset.MONTH, anchor=anchor, after=datetime(2025, 2, 1, tzinfo=UTC), tz=UTC
    )
    assert feb == datetime(2025, 2, 28, 18, 45, tzinfo=UTC)  # not a leap year


def test_a_month_crosses_the_year_and_keeps_the_29th():
    anchor = datetime(2024, 11, 29, 0, 0, tzinfo=UTC)
    assert [m.date().isoformat() for m in _chain(TrafficReset.MONTH, anchor, 4)] == [
        "2024-12-29",
        "2025-01-29",
        "2025-02-28",
        "2025-03-29",
    ]


def test_day_and_week_keep_the_anchor_time_and_weekday():
    anchor = datetime(2025, 5, 7, 13, 20, tzinfo=UTC)  # a Wednesday
    days = _chain(TrafficReset.DAY, anchor, 3)
    assert days == [anchor + timedelta(days=n) for n in (1, 2, 3)]
    weeks = _chain(TrafficReset.WEEK, anchor, 3)
    assert weeks == [anchor + timedelta(weeks=n) for n in (1, 2, 3)]
    assert {w.weekday() for w in weeks} == {2}


def test_the_next_reset_is_strictly_after_and_missed_ones_are_not_owed():
    anchor = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)
    on_a_reset = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    after = traffic_reset_next(period=TrafficReset.MONTH, anchor=anchor, after=on_a_reset, tz=UTC)
    assert after == datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
    # The beat stopped for a long time: the next reset is still the next one, in the future.
    late = datetime(2027, 6, 11, tzinfo=UTC)
    assert traffic_reset_next(
        period=TrafficReset.DAY, anchor=anchor, after=late, tz=UTC
    ) == datetime(2027, 6, 11, 8, 0, tzinfo=UTC)
    # Before the anchor (or at it): one period after the anchor, never the anchor itself.
    first = traffic_reset_next(
        period=TrafficReset.WEEK, anchor=anchor, after=anchor - timedelta(days=30), tz=UTC
    )
    assert first == anchor + timedelta(weeks=1)


def test_the_calendar_is_the_service_time_zone_not_utc():
    """A subscription bought at 01:30 on the 1st in Moscow (22:30 UTC the day before) resets
    on the 1st of each Moscow month, which is the last day of the UTC month."""
    anchor = datetime(2025, 1, 31, 22, 30, tzinfo=UTC)  # 2025-02-01 01:30 MSK
    with override_settings(TIME_ZONE="Europe/Moscow"):
        local = [m.astimezone(MOSCOW) for m in _chain(TrafficReset.MONTH, anchor, 3, tz=None)]
    assert [(m.month, m.day, m.hour, m.minute) for m in local] == [
        (3, 1, 1, 30),
        (4, 1, 1, 30),
        (5, 1, 1, 30),
    ]
    with override_settings(TIME_ZONE="UTC"):
        utc = _chain(TrafficReset.MONTH, anchor, 3, tz=None)
    # Counted on the UTC calendar the same anchor is "the 31st": Feb 28, Mar 31, Apr 30.
    assert [m.date().isoformat() for m in utc] == ["2025-02-28", "2025-03-31", "2025-04-30"]


def test_a_daily_reset_keeps_its_wall_time_across_daylight_saving_changes():
    anchor = datetime(2025, 3, 28, 21, 0, tzinfo=BERLIN)
    moments = _chain(TrafficReset.DAY, anchor, 3, tz=BERLIN)
    assert [m.astimezone(BERLIN).hour for m in moments] == [21, 21, 21]
    # The day from March 29 to March 30 has 23 hours; the next one 24 again.
    assert moments[1] - moments[0] == timedelta(hours=23)
    assert moments[2] - moments[1] == timedelta(hours=24)
    autumn = datetime(2025, 10, 25, 21, 0, tzinfo=BERLIN)
    moments = _chain(TrafficReset.DAY, autumn, 1, tz=BERLIN)
    assert moments[0] - autumn == timedelta(hours=25)  # October 26 has 25 hours


def test_a_wall_time_that_daylight_saving_skips_lands_an_hour_later():
    anchor = datetime(2025, 3, 29, 2, 30, tzinfo=BERLIN)
    skipped = traffic_reset_moment(period=TrafficReset.DAY, anchor=anchor, count=1, tz=BERLIN)
    assert skipped == datetime(2025, 3, 30, 3, 30, tzinfo=BERLIN)  # 03:30 CEST
    following = traffic_reset_moment(period=TrafficReset.DAY, anchor=anchor, count=2, tz=BERLIN)
    assert following == datetime(2025, 3, 31, 2, 30, tzinfo=BERLIN)
    assert (skipped.astimezone(BERLIN).hour, following.astimezone(BERLIN).hour) == (3, 2)


def test_results_are_aware_utc():
    anchor = datetime(2025, 6, 1, 12, 0, tzinfo=BERLIN)
    moment = traffic_reset_next(period=TrafficReset.DAY, anchor=anchor, after=anchor, tz=BERLIN)
    assert moment.tzinfo is UTC


def test_never_has_no_next_reset_and_bad_input_is_refused():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert traffic_reset_next(period=TrafficReset.NEVER, anchor=now, after=now) is None
    with pytest.raises(ValueError, match="aware"):
        traffic_reset_next(period=TrafficReset.DAY, anchor=now, after=now.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        traffic_reset_moment(period=TrafficReset.DAY, anchor=now.replace(tzinfo=None), count=1)
    with pytest.raises(ValueError, match="day, week or month"):
        traffic_reset_next(period="fortnight", anchor=now, after=now)
