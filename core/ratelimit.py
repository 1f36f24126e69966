"""Fixed-window counters in the shared cache (Redis in production), for abuse limits.

Used where a limit must not become a weapon: keys are per client address, so a client can
only ever slow itself down.
"""

import time

from django.core.cache import cache


def rate_count(*, key: str, window: int, now: float | None = None) -> int:
    """Hits recorded for `key` in the current window (0 when none)."""
    now = time.time() if now is None else now
    return int(cache.get(f"rl:{key}:{int(now // window)}") or 0)


def rate_hit(*, key: str, window: int, now: float | None = None) -> int:
    """Record one hit for `key`; return the hits in the current window, this one included."""
    now = time.time() if now is None else now
    bucket = f"rl:{key}:{int(now // window)}"
    cache.add(bucket, 0, timeout=window + 1)
    try:
        return int(cache.incr(bucket))
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 1)
        return 1
