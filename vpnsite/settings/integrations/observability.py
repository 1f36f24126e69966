"""Metrics access and optional Sentry error reporting (docs/deploy.md, "Metrics and alerts").

Logging lives in base.py (LOGGING); the metrics folder shared by processes is
PROMETHEUS_MULTIPROC_DIR, read by prometheus_client itself (core/metrics_files.py).
"""

from vpnsite.env import env

# /metrics is off (404) unless one of these is set; when both are, both must pass.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Sentry (or a compatible service such as GlitchTip): on when a DSN is given.
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)

if SENTRY_DSN:
    from core.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
