"""The feed's abuse limit: per client address, counting only unknown tokens.

A carrier NAT puts thousands of subscribers behind one address; their apps must never limit
each other, while someone guessing tokens is slowed down all the same."""

import pytest
from django.test import Client

from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

NAT = "203.0.113.5"


def test_a_valid_token_is_never_limited_by_its_address(settings):
    settings.FEED_REQUESTS_PER_MINUTE = 3
    tokens = [SubscriptionFactory().feed_token for _ in range(3)]
    client = Client()
    codes = [
        client.get(f"/sub/{token}", REMOTE_ADDR=NAT).status_code
        for _ in range(4)
        for token in tokens
    ]
    assert codes == [200] * 12
    # Even once the address has used up its unknown-token budget.
    unknown = [client.get(f"/sub/unknown{n}", REMOTE_ADDR=NAT).status_code for n in range(5)]
    assert unknown[-1] == 429
    assert client.get(f"/sub/{tokens[0]}", REMOTE_ADDR=NAT).status_code == 200


def test_unknown_tokens_count_against_the_address(settings):
    settings.FEED_REQUESTS_PER_MINUTE = 3
    SubscriptionFactory()
    client = Client()
    codes = [client.get(f"/sub/guess{n}", REMOTE_ADDR=NAT).status_code for n in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    response = client.get("/sub/guess9", REMOTE_ADDR=NAT)
    assert response["Retry-After"] == "60"
    # Another address is not affected.
    assert client.get("/sub/guess9", REMOTE_ADDR="198.51.100.1").status_code == 404


@pytest.mark.parametrize("token", ["%00", "abc%00def", "a%20b", "%D0%BF%D1%80%D0%B8", "x" * 65])
def test_feed_answers_404_for_what_cannot_be_a_token(token):
    """A NUL byte once reached PostgreSQL (which cannot hold it in text) and answered 500."""
    SubscriptionFactory()
    assert Client().get(f"/sub/{token}").status_code == 404
