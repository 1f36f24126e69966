"""Per-token rate limits: a DRF throttle keyed by the token, counted in the project's cache.

Each token may make ``rate_per_minute`` requests a minute (its own field, or
API_RATE_PER_MINUTE), counted per calendar minute with the cache's atomic increment
(``core.ratelimit``: Redis in production, shared by every web process). Over it, the answer
is 429 with ``Retry-After``. One token's traffic never slows another down. Like every
limit of the project it fails open: with the cache unreachable, requests are not limited
(and a warning is logged) rather than refused.

DRF's own ``SimpleRateThrottle`` keeps a list of timestamps with a read-then-write that two
processes can interleave, letting bursts through; an atomic counter cannot.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from api.models import ApiToken
from core.ratelimit import rate_hit

WINDOW_SECONDS = 60


def api_rate_per_minute(*, token: ApiToken) -> int:
    """The token's own limit, or the site's (API_RATE_PER_MINUTE)."""
    return token.rate_per_minute or settings.API_RATE_PER_MINUTE


class ApiTokenRateThrottle(BaseThrottle):
    timer = time.time

    def allow_request(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # anonymous calls are refused by the permissions first
        self.now = self.timer()
        hits = rate_hit(key=f"api:{token.pk}", window=WINDOW_SECONDS, now=self.now)
        return hits <= api_rate_per_minute(token=token)

    def wait(self) -> float:
        """Seconds until the current minute's count starts again."""
        return WINDOW_SECONDS - (self.now % WINDOW_SECONDS)
