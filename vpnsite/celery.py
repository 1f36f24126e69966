"""The Celery app. Docs: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html"""

import os

from celery import Celery
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
)
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vpnsite.settings.local")

# The embedded broker's URL scheme (core/broker.py): kombu's filesystem transport, publishing
# each message file atomically. Registered before any connection is made.
TRANSPORT_ALIASES.setdefault("filesystem-atomic", "core.broker:Transport")

app = Celery("vpnsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Docs: https://docs.celeryq.dev/en/stable/userguide/signals.html
@setup_logging.connect
def _logging_setup(**kwargs) -> None:
    """Celery logs like the rest of the project (Django's LOGGING), not with its own handlers."""
    from django.conf import settings

    from core.logging import logging_configure

    logging_configure(settings.LOGGING)


@task_prerun.connect
def _task_context_enter(task_id=None, task=None, **kwargs) -> None:
    """Every log line of a task carries its id and name."""
    from core.logging import task_context_enter

    task_context_enter(task_id=task_id, task_name=getattr(task, "name", None))


@task_postrun.connect
def _task_context_exit(task_id=None, **kwargs) -> None:
    from core.logging import task_context_exit

    task_context_exit(task_id=task_id)


@worker_init.connect
def _metrics_worker_start(**kwargs) -> None:
    """Before the pool forks: fold the metrics files of the worker this one replaces."""
    from core.metrics_files import service_start

    service_start()


@worker_process_init.connect
def _metrics_child_start(**kwargs) -> None:
    """A new pool child usually replaces one that ended: fold that one's metrics files."""
    from core.metrics_files import process_exited

    process_exited()
