"""Fixtures of the console tests of this app."""

import pytest


@pytest.fixture
def client(client):
    """The console's own tests read its English (the settings' default language is Russian);
    the Russian console is checked by console/tests/admin/test_translations.py."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client
