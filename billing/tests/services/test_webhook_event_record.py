import pytest

from billing.models import WebhookEvent
from billing.services.webhook_events import WebhookRequest, webhook_event_record
from billing.services.webhooks import webhook_event_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def request(**overrides):
    fields = {
        "method": "POST",
        "body": b"OutSum=299.00&InvId=1",
        "content_type": "application/x-www-form-urlencoded",
        "query_string": "",
        "remote_ip": "185.59.216.65",
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "sessionid=secret",
            "Authorization": "Basic secret",
            "Proxy-Authorization": "Basic secret",
            "User-Agent": "Robokassa",
        },
    }
    fields.update(overrides)
    return WebhookRequest(**fields)


def test_the_event_is_stored_before_anything_looks_at_it():
    """Stored RECEIVED at once; ``webhook_event_process`` then writes its outcome on it."""
    event = webhook_event_record(provider="robokassa", request=request())
    assert event.pk is not None
    stored = WebhookEvent.objects.get()
    assert (stored.pk, stored.status, stored.verified) == (event.pk, "received", False)
    assert stored.body == "OutSum=299.00&InvId=1"


def test_raw_request_is_stored_with_its_outcome():
    event = webhook_event_record(provider="robokassa", request=request())
    reply = webhook_event_process(event=event, request=request())
    assert reply.status_code == 400  # no signature
    event = WebhookEvent.objects.get()
    assert event.pk == reply.event.pk
    assert event.status == "rejected"
    assert event.body == "OutSum=299.00&InvId=1"
    assert event.remote_ip == "185.59.216.65"
    assert event.headers == {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Robokassa",
    }
    assert (event.body_truncated, event.body_escaped, event.verified) == (False, False, False)


def test_body_is_capped(settings):
    settings.WEBHOOK_BODY_MAX_BYTES = 10
    event = webhook_event_record(provider="robokassa", request=request(body=b"x" * 11))
    assert event.body == "x" * 10
    assert event.body_truncated is True


def test_undecodable_and_nul_bytes_are_stored_escaped():
    webhook_event_record(provider="robokassa", request=request(body=b"a=\xff\x00"))
    event = WebhookEvent.objects.get()
    assert event.body == "a=\\xff\\x00"
    assert event.body_escaped is True


def test_garbage_headers_and_no_ip():
    webhook_event_record(
        provider="freekassa",
        request=request(remote_ip=None, headers={"X-Odd": "a\x00b", "X-Long": "y" * 5000}),
    )
    event = WebhookEvent.objects.get()
    assert event.remote_ip is None
    assert event.headers["X-Odd"] == "a\\x00b"
    assert len(event.headers["X-Long"]) == 256
