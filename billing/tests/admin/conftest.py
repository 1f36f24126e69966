"""Billing admin fixtures: an operator with every permission, logged in."""

import pytest
from django.contrib.messages import get_messages

from accounts.models import User


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "pw-123-long")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def texts(response):
    """The messages the admin showed after `response`."""
    return [str(m) for m in get_messages(response.wsgi_request)]
