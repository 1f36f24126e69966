"""The analytics page's figures, served from Django's cache (docs/console.md "Analytics",
"How fresh the figures are").

Computing every figure takes seconds on a large database (bench/README.md), so the page reads
a copy: ``analytics_cached`` returns the figures for a period from the shared cache (Redis, or
the file cache of the embedded setup) and computes and stores them only when none are kept.
The beat task ``console.tasks.analytics_precompute_task`` recomputes the three preset periods
every ``ANALYTICS_PRECOMPUTE_INTERVAL`` seconds, so an operator's page normally finds them
warm; a copy lives ``ANALYTICS_CACHE_SECONDS`` at most, and the page's "Recalculate" button
replaces it at once (``analytics_compute``).

The figures are the same for everyone allowed to see the page (no per-user data in them), so
one copy serves every operator; the view checks the permission before reading it. With the
cache unreachable the figures are computed on each request, as before, and the log says so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from console.analytics import (
    Analytics,
    Period,
    analytics_get,
    period_between,
    period_last_days,
)
from core.ratelimit import CACHE_ERRORS

logger = logging.getLogger(__name__)

# Bump when Analytics changes shape: copies pickled by older code are then never read.
CACHE_VERSION = 1
ANALYTICS_CACHE_SECONDS = 600
# The presets the beat task keeps warm: the form's choices with their default grouping.
PRESETS = ((30, "day"), (90, "week"), (365, "month"))


@dataclass(frozen=True)
class AnalyticsQuery:
    """What the page asks for: the last `days` days (a preset), or `first` … `last`."""

    grouping: str
    days: int | None = None
    first: date | None = None
    last: date | None = None

    def period(self, now: datetime) -> Period:
        if self.days is not None:
            return period_last_days(days=self.days, grouping=self.grouping, now=now)
        return period_between(first=self.first, last=self.last, grouping=self.grouping, now=now)

    @property
    def cache_key(self) -> str:
        span = f"last{self.days}" if self.days is not None else f"{self.first}:{self.last}"
        zone = settings.TIME_ZONE.replace(" ", "_")
        return f"console:analytics:v{CACHE_VERSION}:{zone}:{span}:{self.grouping}"


@dataclass(frozen=True)
class CachedAnalytics:
    data: Analytics
    computed_at: datetime
    compute_ms: int
    # False when computed for this request (nothing was kept, or the cache is down).
    from_cache: bool = False

    @property
    def expires_at(self) -> datetime:
        return self.computed_at + timedelta(seconds=ANALYTICS_CACHE_SECONDS)


def analytics_compute(query: AnalyticsQuery, *, now: datetime | None = None) -> CachedAnalytics:
    """Compute the figures now and keep them (replacing any older copy)."""
    return _compute(query, now=now)[0]


def _compute(query: AnalyticsQuery, *, now: datetime | None) -> tuple[CachedAnalytics, bool]:
    now = now or timezone.now()
    started = time.perf_counter()
    data = analytics_get(period=query.period(now), now=now)
    entry = CachedAnalytics(
        data=data,
        computed_at=now,
        compute_ms=round((time.perf_counter() - started) * 1000),
    )
    try:
        cache.set(query.cache_key, entry, ANALYTICS_CACHE_SECONDS)
    except CACHE_ERRORS as exc:
        logger.warning("analytics not cached: the cache is unreachable (%s)", exc)
        return entry, False
    return entry, True


def analytics_cached(query: AnalyticsQuery, *, now: datetime | None = None) -> CachedAnalytics:
    """The kept figures for `query` if a copy younger than ANALYTICS_CACHE_SECONDS exists,
    else computed now (and kept)."""
    now = now or timezone.now()
    try:
        entry = cache.get(query.cache_key)
    except CACHE_ERRORS as exc:
        logger.warning("analytics computed on the request: the cache is unreachable (%s)", exc)
        entry = None
    # The cache's own expiry drops a copy; the age check also covers a clock-stepped cache.
    if isinstance(entry, CachedAnalytics) and entry.computed_at <= now < entry.expires_at:
        return CachedAnalytics(entry.data, entry.computed_at, entry.compute_ms, from_cache=True)
    return analytics_compute(query, now=now)


def analytics_precompute(*, now: datetime | None = None) -> list[CachedAnalytics]:
    """Compute and keep the preset periods (the beat task). Stops at the first one the cache
    refuses: with the cache down, computing the rest would only load the database."""
    done = []
    for days, grouping in PRESETS:
        query = AnalyticsQuery(grouping=grouping, days=days)
        entry, kept = _compute(query, now=now)
        done.append(entry)
        if not kept:
            logger.warning("analytics presets not kept: the cache is unreachable")
            break
    return done
