"""When a subscription's traffic resets: the period arithmetic, pure (no ORM).

A reset period is counted from an *anchor* (the subscription's start) on the calendar of the
service's time zone (``settings.TIME_ZONE``), so "every day" resets at the wall-clock time
the subscription started, also across a daylight-saving change, and "every month" on the
anchor's day of the month. A month that has no such day (an anchor on the 31st, in April or
February) resets on its last day; the next month goes back to the anchor's day: Jan 31 →
Feb 28 (29) → Mar 31 → Apr 30. Each moment is ``anchor + k periods`` for a whole ``k``, never
the previous moment plus one period, so clamping never drifts.

A wall-clock time that a daylight-saving change skips (02:30 on a spring-forward night)
is read with the offset before the change (``zoneinfo``'s ``fold=0``), so it lands one hour
later on the clock; one that happens twice takes the first. Results are aware datetimes in
UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings

from subscriptions.models import TrafficReset

_DAYS = {TrafficReset.DAY: 1, TrafficReset.WEEK: 7}


def _service_zone() -> tzinfo:
    return ZoneInfo(settings.TIME_ZONE)


def _month_moment(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by `months` calendar months (local wall time, day clamped)."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day, fold=0)


def _day_moment(anchor: datetime, days: int) -> datetime:
    """``anchor`` moved by `days` calendar days, at the same wall-clock time."""
    moved = date.fromordinal(anchor.toordinal() + days)
    return anchor.replace(year=moved.year, month=moved.month, day=moved.day, fold=0)


def traffic_reset_moment(
    *, period: str, anchor: datetime, count: int, tz: tzinfo | None = None
) -> datetime:
    """The `count`-th reset after `anchor` (``count=0`` is the anchor itself), in UTC."""
    if anchor.tzinfo is None:
        raise ValueError("anchor must be an aware datetime")
    local = anchor.astimezone(tz or _service_zone())
    if period == TrafficReset.MONTH:
        moment = _month_moment(local, count)
    elif period in _DAYS:
        moment = _day_moment(local, count * _DAYS[period])
    else:
        raise ValueError(f"traffic reset period must be day, week or month, not {period!r}")
    return moment.astimezone(UTC)


def traffic_reset_next(
    *, period: str, anchor: datetime, after: datetime, tz: tzinfo | None = None
) -> datetime | None:
    """The first reset strictly after `after` (and after `anchor`); None for ``never``.

    `anchor` and `after` are aware datetimes; the calendar is `tz` (default: the service's
    ``TIME_ZONE``). A reset that was missed (the beat stopped for three days) is not owed:
    the answer is always in the future of `after`.
    """
    if period == TrafficReset.NEVER:
        return None
    if period != TrafficReset.MONTH and period not in _DAYS:
        raise ValueError(f"traffic reset period must be day, week or month, not {period!r}")
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    zone = tz or _service_zone()
    local_anchor = anchor.astimezone(zone)
    local_after = after.astimezone(zone)
    # An estimate of how many periods fit between the two, one short so that a later wall
    # time on the same day (or a clamped month end) is not skipped; then step forward.
    if period == TrafficReset.MONTH:
        count = (local_after.year - local_anchor.year) * 12 + (
            local_after.month - local_anchor.month
        )
    else:
        days = local_after.toordinal() - local_anchor.toordinal()
        count = days // _DAYS[period]
    count = max(count - 1, 1)
    moment = traffic_reset_moment(period=period, anchor=anchor, count=count, tz=zone)
    while moment <= after:
        count += 1
        moment = traffic_reset_moment(period=period, anchor=anchor, count=count, tz=zone)
    return moment
