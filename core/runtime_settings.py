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

It may query the database, so async code (the bot) does not call it on the event loop: the
bot reads them once per update (``runtime_settings_fresh`` through ``sync_to_async``) and
pins them (``runtime_settings_pinned``); within the update ``runtime_settings()`` returns
that snapshot, in sync helpers handlers call directly (keyboards, texts) and in the services
they await alike. On an event loop with nothing pinned it returns the last values this
process read (else the defaults) and never touches the database or the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from constance import settings as constance_settings
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


# The values of the update being handled (the bot), set by ``runtime_settings_pinned``.
_snapshot: ContextVar[dict[str, Any] | None] = ContextVar("runtime_settings", default=None)
# The last values this process read (one slot): what event-loop code without a snapshot gets.
_last: list[dict[str, Any]] = []


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def runtime_settings() -> dict[str, Any]:
    """Every runtime setting by name: the console's value, else the environment's default.

    With the cache unreachable (Redis down) it reads the database each time and says so in
    the log: the feed keeps answering.
    """
    snapshot = _snapshot.get()
    if snapshot is not None:
        return snapshot
    if _on_event_loop():
        # No I/O on the event loop: the last values read here, else the defaults.
        return _last[0] if _last else runtime_settings_defaults()
    return runtime_settings_fresh()


def runtime_settings_defaults() -> dict[str, Any]:
    """The environment's values (constance's defaults), with no I/O."""
    return {name: options[0] for name, options in constance_settings.CONFIG.items()}


def runtime_settings_fresh() -> dict[str, Any]:
    """Read the settings now (sync; the cache, else the database), ignoring any pinned
    snapshot: what async code reads through ``sync_to_async`` before pinning it."""
    values = _runtime_settings_read()
    _last[:] = [values]
    return values


@contextlib.contextmanager
def runtime_settings_pinned(values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Within the block (and the threads ``sync_to_async`` runs from it), every
    ``runtime_settings()`` returns `values`: one consistent read per bot update."""
    token = _snapshot.set(values)
    try:
        yield values
    finally:
        _snapshot.reset(token)


def _runtime_settings_read() -> dict[str, Any]:
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
