"""Fixed-window counters in the shared cache (Redis in production), for abuse limits.

Used where a limit must not become a weapon: keys are per client address, so a client can
only ever slow itself down.

A limit is never worth an outage: when the cache cannot be reached, both functions fail
open (a count of 0, no hit recorded) with a warning, so payment notifications and the feed
keep working while Redis is down and only the limits are off. Django's ``RedisCache``
(the project's backend) has no option to swallow connection errors (django-redis's
``IGNORE_EXCEPTIONS`` belongs to another backend), so they are caught here; its
``socket_connect_timeout``/``socket_timeout`` (settings, "Cache") bound the wait.
"""

import logging
import time

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a cache that cannot be reached raises: redis-py's errors (connection refused,
# timeouts), and OSError for the file-based cache of the embedded setup (disk full, ...).
CACHE_ERRORS = (RedisError, OSError)


def rate_count(*, key: str, window: int, now: float | None = None) -> int:
    """Hits recorded for `key` in the current window (0 when none, or the cache is down)."""
    now = time.time() if now is None else now
    try:
        return int(cache.get(f"rl:{key}:{int(now // window)}") or 0)
    except CACHE_ERRORS as exc:
        _cache_down(key=key, exc=exc)
        return 0


def rate_hit(*, key: str, window: int, now: float | None = None) -> int:
    """Record one hit for `key`; return the hits in the current window, this one included
    (0 when the cache is down: nothing could be counted)."""
    now = time.time() if now is None else now
    bucket = f"rl:{key}:{int(now // window)}"
    try:
        cache.add(bucket, 0, timeout=window + 1)
        try:
            return int(cache.incr(bucket))
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=window + 1)
            return 1
    except CACHE_ERRORS as exc:
        _cache_down(key=key, exc=exc)
        return 0


def _cache_down(*, key: str, exc: BaseException) -> None:
    # The key's first part only: the rest is a client address.
    logger.warning(
        "rate limit %s not applied: the cache is unreachable (%s: %s)",
        key.split(":", 1)[0],
        type(exc).__name__,
        exc,
    )
