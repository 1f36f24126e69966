"""Per-token rate limits: a token over its limit gets 429 with Retry-After; another token
is not slowed; the cache being down lets requests through."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api.models import ApiToken
from api.scopes import Scope
from api.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/v1/tariffs/"


@pytest.fixture
def frozen_minute(monkeypatch):
    """Every request falls at 30 s into the same minute."""
    monkeypatch.setattr("api.throttling.ApiTokenRateThrottle.timer", lambda self: 1_800_000_030.0)


def test_over_the_site_limit_is_429_with_retry_after(api, tokens, settings, frozen_minute):
    settings.API_RATE_PER_MINUTE = 3
    raw = tokens[Scope.READ_ONLY].raw
    assert [api.get(PATH, raw).status_code for _ in range(3)] == [200, 200, 200]
    response = api.get(PATH, raw)
    body = assert_error(response, 429, "throttled")
    assert response["Retry-After"] == "30"
    assert "30 seconds" in body["message"]


def test_a_token_s_own_limit_wins(api, tokens, settings, frozen_minute):
    settings.API_RATE_PER_MINUTE = 100
    issued = tokens[Scope.READ_ONLY]
    ApiToken.objects.filter(pk=issued.token.pk).update(rate_per_minute=1)
    assert api.get(PATH, issued.raw).status_code == 200
    assert_error(api.get(PATH, issued.raw), 429, "throttled")


def test_one_token_over_its_limit_does_not_slow_another(api, tokens, settings, frozen_minute):
    settings.API_RATE_PER_MINUTE = 2
    busy, quiet = tokens[Scope.READ_ONLY].raw, tokens[Scope.SUPPORT].raw
    for _ in range(2):
        api.get(PATH, busy)
    assert_error(api.get(PATH, busy), 429, "throttled")
    assert api.get(PATH, quiet).status_code == 200


def test_the_next_minute_starts_again(api, tokens, settings, monkeypatch):
    settings.API_RATE_PER_MINUTE = 1
    raw = tokens[Scope.READ_ONLY].raw
    now = [1_800_000_030.0]
    monkeypatch.setattr("api.throttling.ApiTokenRateThrottle.timer", lambda self: now[0])
    assert api.get(PATH, raw).status_code == 200
    assert api.get(PATH, raw).status_code == 429
    now[0] += 60
    assert api.get(PATH, raw).status_code == 200


def test_a_throttled_write_changes_nothing(api, tokens, settings, frozen_minute):
    from subscriptions.tests.factories import SubscriptionFactory

    settings.API_RATE_PER_MINUTE = 1
    raw = tokens[Scope.OPERATORS].raw
    subscription = SubscriptionFactory()
    api.get(PATH, raw)
    before = subscription.expires_at
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/", raw, {"days": 5, "reason": "x"}
    )
    assert_error(response, 429, "throttled")
    subscription.refresh_from_db()
    assert subscription.expires_at == before


def test_the_cache_down_lets_requests_through(api, tokens, settings, monkeypatch, caplog):
    settings.API_RATE_PER_MINUTE = 1

    def down(*args, **kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr("core.ratelimit.cache.add", down)
    raw = tokens[Scope.READ_ONLY].raw
    assert [api.get(PATH, raw).status_code for _ in range(3)] == [200, 200, 200]
    assert "rate limit api not applied" in caplog.text
