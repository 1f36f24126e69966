"""3x-ui panels. Per-node credentials live encrypted in the database, not here."""

from vpnsite.env import env

# Key for panel credentials at rest (Fernet). Unset: derived from DJANGO_SECRET_KEY.
# Several comma-separated keys allow rotation: the first encrypts, all decrypt.
NODE_SECRET_KEY = env.list("NODE_SECRET_KEY", default=[])
X3UI_CONNECT_TIMEOUT = env.float("X3UI_CONNECT_TIMEOUT", default=5.0)
X3UI_READ_TIMEOUT = env.float("X3UI_READ_TIMEOUT", default=15.0)
# Health (interval: NODE_HEALTH_INTERVAL in celery.py): after this many failures in a row a
# node is down.
NODE_DOWN_AFTER_FAILURES = env.int("NODE_DOWN_AFTER_FAILURES", default=3)
if NODE_DOWN_AFTER_FAILURES < 2:
    raise ValueError("NODE_DOWN_AFTER_FAILURES must be at least 2: one lost check moves no key")
# Above this latency (ms) a reachable node is "degraded" (still takes keys, listed last).
NODE_DEGRADED_LATENCY_MS = env.int("NODE_DEGRADED_LATENCY_MS", default=3000)
# Every health check leaves a row (nodes.NodeCheck: 7,200 a node a day at a 12 s interval)
# for the node page's latency and uptime; rows older than this many days are deleted hourly.
NODE_CHECK_RETENTION_DAYS = env.int("NODE_CHECK_RETENTION_DAYS", default=14)
if NODE_CHECK_RETENTION_DAYS < 7:
    raise ValueError("NODE_CHECK_RETENTION_DAYS must be at least 7: the node page shows 7 days")
# Our clients found on a panel without a key in the database: disabled at once, deleted after.
NODE_ORPHAN_GRACE_HOURS = env.float("NODE_ORPHAN_GRACE_HOURS", default=24.0)
# Provisioning retries (exponential backoff with jitter) before a key is marked error.
NODE_PROVISION_MAX_RETRIES = env.int("NODE_PROVISION_MAX_RETRIES", default=6)
NODE_PROVISION_BACKOFF_BASE = env.float("NODE_PROVISION_BACKOFF_BASE", default=5.0)
NODE_PROVISION_BACKOFF_MAX = env.float("NODE_PROVISION_BACKOFF_MAX", default=600.0)
# After a panel refuses our login, no login is tried on that node for this long (doubling
# on each further refusal, at most 8x), unless its credentials are changed: 3x-ui v3.0+
# blocks a user for 15 min after 5 failures in 5 min, and v2.x alerts its owner each time.
NODE_LOGIN_PAUSE_MINUTES = env.float("NODE_LOGIN_PAUSE_MINUTES", default=15.0)
# A node that refused a subscription's key (someone else's client holds its email) is not
# picked for that subscription again for this long.
NODE_REFUSED_AVOID_HOURS = env.float("NODE_REFUSED_AVOID_HOURS", default=24.0)
