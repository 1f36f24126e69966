"""Prometheus metrics served at /metrics (prometheus-client; docs/deploy.md, "Metrics").

Two kinds of series, chosen for being correct when web, worker and bot are separate processes
(and, under docker compose, separate containers):

- **State read at scrape time** (`console.metrics.StateCollector`): everything the database
  already records is counted from its rows when Prometheus scrapes, so it is the same
  whichever process serves the scrape and survives restarts. The console owns it because it
  reads every app's tables; the Celery queue length it reports is read here.
- **Events counted where they happen**: HTTP requests (web), provisioning results and latency
  (worker), bot updates and handler latency (bot). These are prometheus_client counters and
  histograms; with PROMETHEUS_MULTIPROC_DIR set they live in per-process files in a folder all
  containers share (core/metrics_files.py), otherwise in this process only.

Recording helpers never raise: a metrics failure must not fail a payment or a request.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from pathlib import Path

from core import metrics_files

MULTIPROCESS = metrics_files.multiprocess_enable()  # before any metric is created

from prometheus_client import (  # noqa: E402 - after choosing the value class
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

logger = logging.getLogger(__name__)

# --- Events ----------------------------------------------------------------------------------

EVENTS = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PANEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "vpnsite_http_requests",
    "HTTP requests answered, by view (URL name), method and status code.",
    ["view", "method", "status"],
    registry=EVENTS,
)
HTTP_DURATION = Histogram(
    "vpnsite_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    buckets=LATENCY_BUCKETS,
    registry=EVENTS,
)
PROVISIONING = Counter(
    "vpnsite_provisioning",
    "Key pushes to a panel (one Celery task each) by node and result: ok, noop, deferred "
    "(node down or disabled), rejected (the panel refused a key), retry, failed (last retry), "
    "error (unexpected).",
    ["node", "result"],
    registry=EVENTS,
)
PROVISIONING_DURATION = Histogram(
    "vpnsite_provisioning_duration_seconds",
    "Time of one key push to a panel, by node.",
    ["node"],
    buckets=PANEL_BUCKETS,
    registry=EVENTS,
)
BOT_UPDATES = Counter(
    "vpnsite_bot_updates",
    "Telegram updates handled by the bot, by kind (message, callback_query, ...) and result "
    "(ok, error: a handler raised).",
    ["kind", "result"],
    registry=EVENTS,
)
BOT_DURATION = Histogram(
    "vpnsite_bot_update_duration_seconds",
    "Time the bot's handlers took for one update, Bot API calls included, by kind.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
    registry=EVENTS,
)


def _record(action, *args) -> None:
    try:
        action(*args)
    except Exception:  # metrics never break the caller
        logger.warning("metrics: recording failed", exc_info=True)


def http_request_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    _record(lambda: HTTP_REQUESTS.labels(view, method, str(status)).inc())
    _record(lambda: HTTP_DURATION.labels(view).observe(seconds))


def provisioning_observe(*, node: str, result: str, seconds: float) -> None:
    _record(lambda: PROVISIONING.labels(node, result).inc())
    _record(lambda: PROVISIONING_DURATION.labels(node).observe(seconds))


def bot_update_observe(*, kind: str, result: str, seconds: float) -> None:
    _record(lambda: BOT_UPDATES.labels(kind, result).inc())
    _record(lambda: BOT_DURATION.labels(kind).observe(seconds))


# --- State read at scrape time ---------------------------------------------------------------


def celery_queue_names() -> list[str]:
    """The queues the workers consume (CELERY_TASK_QUEUES)."""
    from django.conf import settings

    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def celery_queue_length(*, queue: str = "celery") -> int | None:
    """Messages waiting in a Celery queue: Redis LLEN, or the filesystem broker's files.

    None when the broker cannot be asked (unknown transport); raises on a broker failure.
    """
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
    if url.startswith(("filesystem://", "filesystem-atomic://")):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        suffix = f".{queue}.msg"
        return sum(1 for path in folder.iterdir() if path.name.endswith(suffix))
    return None


def celery_backlog() -> int | None:
    """Messages waiting in every queue the workers consume (None: the broker cannot say)."""
    lengths = [celery_queue_length(queue=name) for name in celery_queue_names()]
    return None if None in lengths else sum(lengths)


def metrics_render(*, collectors: Iterable[object] = ()) -> tuple[bytes, str]:
    """The exposition text of this process's (or every process's) events and of `collectors`
    (the console's state read at scrape time), and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = metrics_files.metrics_directory()
    if MULTIPROCESS and directory is not None:
        registry.register(metrics_files.FilesCollector(directory))
    else:
        registry.register(EVENTS)  # a registry is a collector of its metrics
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --- Who may read /metrics -----------------------------------------------------------------


def metrics_access_refusal(
    *, authorization: str, remote_addr: str, forwarded_for: str | None
) -> int | None:
    """None when the scrape is allowed, else the status to answer.

    Neither METRICS_TOKEN nor METRICS_ALLOWED_IPS set: 404 (the endpoint is off). Every
    configured check must pass: the client address (behind TRUSTED_PROXY_IPS, as the payment
    webhooks resolve it) in METRICS_ALLOWED_IPS, else 403; `Authorization: Bearer <token>`
    equal to METRICS_TOKEN (compared in constant time), else 401.
    """
    from django.conf import settings

    from core.net import client_ip, ip_allowed

    token = settings.METRICS_TOKEN
    allowed = settings.METRICS_ALLOWED_IPS
    if not token and not allowed:
        return 404
    if allowed:
        address = client_ip(
            remote_addr=remote_addr,
            forwarded_for=forwarded_for,
            trusted_proxies=settings.TRUSTED_PROXY_IPS,
        )
        if not ip_allowed(ip=address, allowed=allowed):
            return 403
    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return 401
    return None
