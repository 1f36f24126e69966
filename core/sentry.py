"""Optional error reporting to Sentry (or a Sentry-compatible service), on when SENTRY_DSN is set.

Docs: https://docs.sentry.io/platforms/python/integrations/django/ and .../celery/
No personal data is sent (send_default_pii=False, no request bodies, no local variables), and
every event, transaction and breadcrumb goes through the same redaction as the logs.
"""

import logging
from typing import Any

from core.logging import redact_data


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Mask secrets, e-mail addresses and card numbers anywhere in an event or breadcrumb."""
    return redact_data(event)


def sentry_options(*, dsn: str, environment: str, traces_sample_rate: float) -> dict[str, Any]:
    """Keyword arguments for sentry_sdk.init (separate so they can be checked without a DSN)."""
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    return {
        "dsn": dsn,
        "environment": environment,
        "traces_sample_rate": traces_sample_rate,
        "send_default_pii": False,
        "max_request_body_size": "never",
        "include_local_variables": False,
        "integrations": [
            DjangoIntegration(),
            CeleryIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        "before_send": sentry_before_send,
        "before_send_transaction": sentry_before_send,
        "before_breadcrumb": sentry_before_send,
    }


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk

    sentry_sdk.init(
        **sentry_options(dsn=dsn, environment=environment, traces_sample_rate=traces_sample_rate)
    )
