import pytest
from django.test import Client

from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_feed_is_limited_per_address(settings):
    settings.FEED_REQUESTS_PER_MINUTE = 3
    token = SubscriptionFactory().feed_token
    client = Client()
    codes = [client.get(f"/sub/{token}", REMOTE_ADDR="203.0.113.5").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Someone else's app keeps working.
    assert client.get(f"/sub/{token}", REMOTE_ADDR="198.51.100.1").status_code == 200
