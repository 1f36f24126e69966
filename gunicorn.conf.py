"""gunicorn settings from the environment (docker compose and servers).

Docs: https://docs.gunicorn.org/en/stable/settings.html
"""

import logging
import os

from gunicorn import glogging

from core import metrics_files
from core.gunicorn_worker import DeadlineSyncWorker
from core.logging import logging_dict, record_factory_install

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (docker compose stop) workers finish the requests they have for this long; the
# compose file gives the container a little more (stop_grace_period) before SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Sync workers (one connection each at a time) whose clients get WEB_READ_TIMEOUT seconds in
# all to send a request (line, headers and body): a client trickling a byte every few seconds
# is cut then instead of holding a worker until `timeout` (core/gunicorn_worker.py; issue 17
# #5). Keep it below GUNICORN_TIMEOUT. The proxy in front buffers requests too (deploy/).
worker_class = "core.gunicorn_worker.DeadlineSyncWorker"
DeadlineSyncWorker.read_timeout = float(os.environ.get("WEB_READ_TIMEOUT", "10"))
# Recycle workers now and then so a slow leak never takes the site down.
max_requests = 2000
max_requests_jitter = 200
# Request line/header limits: webhooks and feeds never need more.
limit_request_line = 8190
limit_request_fields = 100
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# --- Logs --------------------------------------------------------------------------------
# No gunicorn access log: Django logs one line per request itself (core/middleware.py), with
# the request id, the route instead of the raw path, and secrets masked. gunicorn's own lines
# use the project's format (LOG_FORMAT) and redaction too.
accesslog = None
_production = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production")
_log_format = os.environ.get("LOG_FORMAT") or ("json" if _production else "text")
logconfig_dict = logging_dict(
    log_format=_log_format if _log_format in {"text", "json"} else "json",
    level=os.environ.get("LOG_LEVEL", "INFO"),
    loggers={
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # Off: see accesslog above (gunicorn logs access lines whenever logconfig_dict is set).
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
)
record_factory_install()


class _Logger(glogging.Logger):
    """gunicorn builds an access line's atoms before its logger looks at the level; with the
    access logger off (above) that is work for nothing on every request."""

    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = _Logger


# --- Metrics (PROMETHEUS_MULTIPROC_DIR; core/metrics_files.py) ----------------------------
def on_starting(server) -> None:
    """The master, before any worker: fold the metrics files the previous web left behind."""
    metrics_files.service_start()


def child_exit(server, worker) -> None:
    """A worker ended (recycled, killed): fold its metrics files into the archive."""
    metrics_files.process_exited()
