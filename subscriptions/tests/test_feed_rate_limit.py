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


@pytest.mark.parametrize("token", ["%00", "abc%00def", "a%20b", "%D0%BF%D1%80%D0%B8", "x" * 65])
def test_feed_answers_404_for_what_cannot_be_a_token(token):
    """A NUL byte once reached PostgreSQL (which cannot hold it in text) and answered 500."""
    SubscriptionFactory()
    assert Client().get(f"/sub/{token}").status_code == 404
