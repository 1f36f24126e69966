"""gunicorn settings from the environment (docker compose and servers)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak never takes the site down.
max_requests = 2000
max_requests_jitter = 200
# Request line/header limits: webhooks and feeds never need more.
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
