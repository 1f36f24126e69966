"""Shared fixtures for every test."""

import pytest
from django.core.cache import cache
from django.db import connection

# Simulated 3x-ui panels, stopped after each test: the tests of every app above nodes use them.
from nodes.tests.conftest import sim_factory  # noqa: F401 - a fixture


@pytest.fixture(scope="session", autouse=True)
def _live_server_one_request_at_a_time_on_sqlite():
    """On SQLite the live server's request threads share the test's one in-memory connection
    (Django's LiveServerThread), so two requests a page sends at once ("cannot start a
    transaction within a transaction") collide. There the server takes one request at a
    time: Django's plain WSGIServer, which also closes each connection after its answer."""
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread

    class OneAtATimeServer(WSGIServer):
        # The server thread itself holds the shared connection (LiveServerThread.run).
        def __init__(self, *args, connections_override=None, **kwargs):
            super().__init__(*args, **kwargs)

    threaded = LiveServerThread.server_class
    if connection.vendor == "sqlite":
        LiveServerThread.server_class = OneAtATimeServer
    yield
    LiveServerThread.server_class = threaded


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache and no panel session left by another test.

    Content types too: one made during a test (constance's "config", made on its first save)
    is rolled back with it, and its cached id would break the next test's admin log entry.
    """
    from django.contrib.contenttypes.models import ContentType

    from nodes.services.clients import x3ui_clients_reset

    cache.clear()
    ContentType.objects.clear_cache()
    x3ui_clients_reset()
    yield
    cache.clear()
    x3ui_clients_reset()


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks); CI runs it with DATABASE_URL set")
    return True


@pytest.fixture
def customer(db):
    from accounts.tests.factories import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def tariff(db):
    from subscriptions.tests.factories import TariffFactory

    return TariffFactory()


@pytest.fixture
def superuser(db):
    from accounts.models import User

    return User.objects.create_superuser("root", "root@example.com", "pw-123-long")


@pytest.fixture
def as_superuser(client, superuser):
    """The test client, logged in as a superuser."""
    client.force_login(superuser)
    return client


@pytest.fixture
def runtime_setting(db, django_capture_on_commit_callbacks):
    """Save a runtime setting as the console does (constance), then commit-time work runs."""
    from constance import config

    def save(name: str, value) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            setattr(config, name, value)

    return save


@pytest.fixture
def browser(live_server, monkeypatch):
    """Debian's Chromium, headless, for a test that drives the live server (tests/browser.py)."""
    from django.db import connections

    from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")
    # Playwright's sync API runs an event loop in this thread; the ORM calls a test makes
    # between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        connections.close_all()
        chromium.close()
