"""Runtime settings (django-constance): what operators change in the console, read without a
restart.

Read them only through ``runtime_settings()``: one dict of every value, kept in the shared cache
(Redis, or the file cache of the embedded setup), so a hot path such as the subscription feed
pays no query once the cache is warm. A save in the console sends constance's
``config_updated``; after the save commits the cached dict is dropped, so every process sees
the new value on its next read. Values never saved in the console are constance's defaults,
which come from the environment (vpnsite/settings/integrations/runtime.py).

Why not ``constance.config.NAME``: reading an unsaved key that way writes its default into the
database, which would pin the environment's value of that moment, and costs a query per key.

Synchronous code only (it may query the database): async callers wrap it in ``sync_to_async``.
"""

from __future__ import annotations

import logging
from typing import Any

from constance.signals import config_updated
from constance.utils import get_values
from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver

from core.ratelimit import CACHE_ERRORS

logger = logging.getLogger(__name__)

CACHE_KEY = "runtime-settings:v1"
# A safety net only: a save drops the cached dict at once.
CACHE_SECONDS = 300


def runtime_settings() -> dict[str, Any]:
    """Every runtime setting by name: the console's value, else the environment's default.

    With the cache unreachable (Redis down) it reads the database each time and says so in
    the log: the feed keeps answering.
    """
    try:
        values = cache.get(CACHE_KEY)
    except CACHE_ERRORS as exc:
        logger.warning(
            "runtime settings read from the database: the cache is unreachable (%s)", exc
        )
        return get_values()
    if values is None:
        values = get_values()  # one query: the saved values over the defaults
        try:
            cache.set(CACHE_KEY, values, CACHE_SECONDS)
        except CACHE_ERRORS as exc:
            logger.warning("runtime settings not cached: the cache is unreachable (%s)", exc)
    return values


def runtime_settings_forget() -> None:
    try:
        cache.delete(CACHE_KEY)
    except CACHE_ERRORS as exc:
        # Another process may serve the old value until the cached dict expires.
        logger.error(
            "runtime settings changed but the cache is unreachable: processes may serve the "
            "old values for up to %s s (%s)",
            CACHE_SECONDS,
            exc,
        )


@receiver(config_updated, dispatch_uid="core.runtime_settings.forget")
def _forget_on_update(sender, key, old_value, new_value, **kwargs) -> None:
    # After the commit: dropping it earlier would let another process cache the old value
    # again before the new one is visible.
    transaction.on_commit(runtime_settings_forget)
