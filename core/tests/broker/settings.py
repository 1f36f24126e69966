"""The test settings for the broker stress test's worker and publishers: the embedded broker,
polled every millisecond instead of every 100 ms, so the worker lists the queue folder while
publishers are writing into it far more often than in production."""

from vpnsite.settings.test import *  # noqa: F403
from vpnsite.settings.test import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "polling_interval": 0.001}
