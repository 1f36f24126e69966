"""What a new gunicorn worker loads before it serves its first request.

Django imports the URLconf (and with it every view module) at the first request, gettext
reads a language's catalogs the first time it is activated, and Celery builds its producer
pool, result backend and routes at the first publish (the pool imports kombu's Redis
transport, and that imports redis-py). A fresh worker's first requests used to pay all of
it: about 260 ms of CPU for the first paid notification, under the GIL. A worker restarts
every ``max_requests`` (gunicorn.conf.py), so this happened every few thousand requests.

``web_worker_warm`` runs in gunicorn's ``post_worker_init``: after the app is loaded, before
the worker accepts a connection. Nothing is sent and no connection is opened, so a database
or broker that is down delays nothing here. A failing step is logged and skipped: the worker
starts anyway, and its first request loads what is missing.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _urlconf() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the lazy property imports every URL module


def _translations() -> None:
    from django.conf import settings
    from django.utils.translation import trans_real

    for code, _name in settings.LANGUAGES:
        trans_real.translation(code)


def _celery_producer() -> None:
    from celery import current_app

    current_app.finalize(auto=True)
    # Shared by the process's threads (CELERY_RESULT_BACKEND_THREAD_SAFE), so the
    # after-commit publisher thread uses this one.
    current_app.backend  # noqa: B018 - the lazy properties are the point
    current_app.amqp.router  # noqa: B018
    current_app.producer_pool  # noqa: B018 - imports the broker transport


STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("URLconf", _urlconf),
    ("translations", _translations),
    ("Celery producer", _celery_producer),
)


def web_worker_warm() -> None:
    """Load what the first requests of this process would load (see the module doc)."""
    for name, step in STEPS:
        try:
            step()
        except Exception:
            logger.exception("warming up the %s failed; the first request will load it", name)
