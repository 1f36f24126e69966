"""Console fixtures: a "support" and an "operators" member, logged-in clients (the superuser
and `as_superuser` are the root conftest's)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory


@pytest.fixture
def client(client):
    """The console's own tests read its English (the settings' default language is Russian);
    the Russian console is checked by console/tests/admin/test_translations.py."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _member(username: str, group: str) -> User:
    user = UserFactory(username=username)  # staff
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def support_user(db):
    return _member("helpdesk", "support")


@pytest.fixture
def operator_user(db):
    return _member("operator", "operators")


@pytest.fixture
def as_support(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def as_operator(client, operator_user):
    client.force_login(operator_user)
    return client


def action(client, url: str, name: str, ids, **data):
    """Post an admin action for `ids` (with `apply` when data answers its form)."""
    payload = {"action": name, "_selected_action": [str(pk) for pk in ids], **data}
    if data:
        payload["apply"] = "yes"
    else:
        payload["index"] = "0"
    return client.post(url, payload, follow=False)


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)
