"""Runtime settings (core/runtime_settings.py): the console's value over the environment's
default, read from the cache, dropped when a save commits."""

import pytest
from constance.models import Constance
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.runtime_settings import runtime_settings

pytestmark = pytest.mark.django_db


def test_a_value_never_saved_is_the_environments_default(settings):
    assert runtime_settings()["FEED_TITLE"] == settings.SUBSCRIPTION_FEED_TITLE
    assert runtime_settings()["FEED_ANNOUNCE"] == ""


def test_reading_never_writes_a_default_into_the_database():
    """constance's ``config.NAME`` stores the default on first read, which would pin the
    environment's value of that moment; our reader must not."""
    runtime_settings()
    assert not Constance.objects.exists()


def test_a_warm_read_costs_no_query():
    runtime_settings()
    with CaptureQueriesContext(connection) as captured:
        runtime_settings()
        runtime_settings()
    assert captured.captured_queries == []


def test_a_saved_value_is_read_at_once_by_a_warm_cache(runtime_setting):
    assert runtime_settings()["FEED_ANNOUNCE"] == ""  # warms the cache
    runtime_setting("FEED_ANNOUNCE", "Maintenance tonight")
    assert runtime_settings()["FEED_ANNOUNCE"] == "Maintenance tonight"


def test_the_cache_is_dropped_only_after_the_save_commits(django_capture_on_commit_callbacks):
    from constance import config

    runtime_settings()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        config.FEED_ANNOUNCE = "Later"
        # Not committed yet: another process must not cache the old value again after a
        # premature drop, so the drop waits for the commit.
        assert runtime_settings()["FEED_ANNOUNCE"] == ""
    assert len(callbacks) == 1
    callbacks[0]()
    assert runtime_settings()["FEED_ANNOUNCE"] == "Later"


def test_on_an_event_loop_it_never_does_io_and_a_pinned_read_wins(runtime_setting):
    """Async code (the bot) gets the values pinned for its update; with nothing pinned, the
    last values this process read, never a query on the event loop."""
    import asyncio

    from core import runtime_settings as module

    runtime_setting("SUPPORT_CONTACT", "@saved")
    module._last.clear()

    async def unpinned():
        return runtime_settings()["SUPPORT_CONTACT"]

    with CaptureQueriesContext(connection) as captured:
        assert asyncio.run(unpinned()) == ""  # the environment's default: nothing read yet
    assert captured.captured_queries == []

    fresh = module.runtime_settings_fresh()
    assert fresh["SUPPORT_CONTACT"] == "@saved"
    assert asyncio.run(unpinned()) == "@saved"  # the last values read

    async def pinned():
        with module.runtime_settings_pinned({**fresh, "SUPPORT_CONTACT": "@pinned"}):
            return runtime_settings()["SUPPORT_CONTACT"]

    assert asyncio.run(pinned()) == "@pinned"
    assert runtime_settings()["SUPPORT_CONTACT"] == "@saved"  # unpinned after the block


def test_the_shop_settings_default_to_the_environment(settings):
    values = runtime_settings()
    assert values["SUPPORT_CONTACT"] == settings.TELEGRAM_SUPPORT_CONTACT
    assert values["TRIAL_TARIFF"] == settings.TRIAL_TARIFF_ID
    assert values["REMINDER_DAYS"] == ",".join(map(str, settings.SUBSCRIPTION_REMINDER_DAYS))
