"""Redis down degrades limits, never payments or feeds.

The cache points at a port where nothing listens: every cache call fails, as it does while
the production Redis is down."""

import logging

import pytest
from django.test import Client

from billing.models import PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from core.ratelimit import rate_count, rate_hit
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

SENDER = "198.51.100.7"  # not a published provider address: its rejects are limited


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.WEBHOOK_REJECTS_PER_MINUTE = 30
    settings.FEED_REQUESTS_PER_MINUTE = 60
    return settings


def test_a_delivery_is_stored_and_credited_while_redis_is_down(redis_down, pending_payment):
    client = Client(raise_request_exception=False)
    reply = send(client, ROBOKASSA_URL, robokassa_params(pending_payment.pk), REMOTE_ADDR=SENDER)
    assert (reply.status_code, reply.content) == (200, f"OK{pending_payment.pk}".encode())
    pending_payment.refresh_from_db()
    assert pending_payment.status == PaymentStatus.PAID
    event = WebhookEvent.objects.get()
    assert (event.status, event.payment_id) == (WebhookEventStatus.PROCESSED, pending_payment.pk)


def test_a_rejected_delivery_is_stored_and_answered_while_redis_is_down(
    redis_down, pending_payment, caplog
):
    client = Client(raise_request_exception=False)
    bad = robokassa_params(pending_payment.pk, password="wrong")
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        reply = send(client, ROBOKASSA_URL, bad, REMOTE_ADDR=SENDER)
    assert reply.status_code == 400
    assert WebhookEvent.objects.get().status == WebhookEventStatus.REJECTED
    assert "rate limit webhook-rejects not applied" in caplog.text
    assert SENDER not in caplog.text


def test_the_feed_answers_while_redis_is_down(redis_down):
    subscription = SubscriptionFactory()
    client = Client(raise_request_exception=False)
    assert client.get(f"/sub/{subscription.feed_token}", REMOTE_ADDR=SENDER).status_code == 200
    page = client.get(
        f"/sub/{subscription.feed_token}",
        REMOTE_ADDR=SENDER,
        HTTP_ACCEPT="text/html",
        HTTP_USER_AGENT="Mozilla/5.0",
    )
    assert (page.status_code, page["Content-Type"].split(";")[0]) == (200, "text/html")
    assert client.get("/sub/unknowntoken", REMOTE_ADDR=SENDER).status_code == 404


def test_rate_limits_fail_open_with_a_warning_while_redis_is_down(redis_down, caplog):
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        assert rate_hit(key="feed:203.0.113.1", window=60) == 0
        assert rate_count(key="feed:203.0.113.1", window=60) == 0
    assert caplog.text.count("rate limit feed not applied: the cache is unreachable") == 2


def test_a_delivery_is_stored_before_the_limiter_is_read(settings, pending_payment):
    """A sender over its limit gets 429, and its delivery is still kept (REJECTED)."""
    settings.WEBHOOK_REJECTS_PER_MINUTE = 1
    client = Client()
    bad = robokassa_params(pending_payment.pk, password="wrong")
    codes = [send(client, ROBOKASSA_URL, bad, REMOTE_ADDR=SENDER).status_code for _ in range(2)]
    assert codes == [400, 429]
    events = list(WebhookEvent.objects.order_by("pk").values_list("status", "outcome"))
    assert events == [
        (WebhookEventStatus.REJECTED, "signature_mismatch"),
        (WebhookEventStatus.REJECTED, "too_many_rejected"),
    ]
