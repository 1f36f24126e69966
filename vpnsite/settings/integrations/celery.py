"""Celery: broker, serializers, time limits and the beat schedule, all in one place.

Docs: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

from datetime import timedelta

from celery.schedules import crontab
from kombu import Queue

from vpnsite.env import VAR_DIR, env

_REDIS_URL = env("REDIS_URL", default="")

if _REDIS_URL:
    CELERY_BROKER_URL = _REDIS_URL
    CELERY_RESULT_BACKEND = _REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task not acked within this time is redelivered; keep it above the hard time limit.
        "visibility_timeout": 3600,
        "socket_connect_timeout": 5,
    }
else:
    # The embedded broker: kombu's filesystem transport, publishing each message file
    # atomically (core/broker.py: written in staging/, renamed into queue/). A real worker and
    # a real beat run on one machine without any server; messages are files under var/celery/.
    _broker_dir = VAR_DIR / "celery" / "queue"
    _staging_dir = VAR_DIR / "celery" / "staging"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _results_dir = VAR_DIR / "celery" / "results"
    _control_dir = VAR_DIR / "celery" / "control"
    for _d in (_broker_dir, _staging_dir, _processed_dir, _results_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem-atomic://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "staging_folder": str(_staging_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
        # kombu polls the folder; its 1 s default caps a worker at a couple of tasks a second
        # (it also sleeps while its prefetch slots are full).
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"file://{_results_dir}"

CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
# A task is acknowledged after it ran, so a worker killed mid-task leaves it to be redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Keys have a queue of their own, so a paid subscription's keys never wait behind a flood of
# messages (each payment queues several; the outbox drains at Telegram's rate). A worker
# started without -Q consumes every queue listed here, taking from each in turn.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("keys"))
CELERY_TASK_ROUTES = {
    "nodes.tasks.*": {"queue": "keys"},
    "subscriptions.tasks.*": {"queue": "keys"},
}

# Intervals in seconds; the e2e suite shortens them so it runs in minutes.
OUTBOX_FLUSH_INTERVAL = env.float("OUTBOX_FLUSH_INTERVAL", default=30.0)
SUBSCRIPTIONS_EXPIRE_INTERVAL = env.float("SUBSCRIPTIONS_EXPIRE_INTERVAL", default=60.0)
# Failover within a minute at the defaults: down after NODE_DOWN_AFTER_FAILURES (3) checks
# 12 s apart, the last one bounded by the panel timeouts (nodes/tests/tasks/test_tasks.py).
NODE_HEALTH_INTERVAL = env.float("NODE_HEALTH_INTERVAL", default=12.0)
NODE_PLACE_MISSING_INTERVAL = env.float("NODE_PLACE_MISSING_INTERVAL", default=30.0)
NODE_RECONCILE_INTERVAL = env.float("NODE_RECONCILE_INTERVAL", default=600.0)
ALERTS_CHECK_INTERVAL = env.float("ALERTS_CHECK_INTERVAL", default=60.0)
DAILY_SUMMARY_HOUR_UTC = env.int("DAILY_SUMMARY_HOUR_UTC", default=6)
# Seconds between two looks for scheduled broadcasts that are due (docs/console.md).
BROADCAST_SCHEDULE_INTERVAL = env.float("BROADCAST_SCHEDULE_INTERVAL", default=30.0)
# The analytics page's presets are recomputed this often and kept 10 minutes
# (console/analytics_cache.py): keep it under 600 so operators never find them cold.
ANALYTICS_PRECOMPUTE_INTERVAL = env.float("ANALYTICS_PRECOMPUTE_INTERVAL", default=300.0)

# The whole periodic schedule. Later features add their entries here, never elsewhere.
CELERY_BEAT_SCHEDULE = {
    "broadcasts-start-due": {
        "task": "console.tasks.broadcasts_start_due_task",
        "schedule": timedelta(seconds=BROADCAST_SCHEDULE_INTERVAL),
    },
    "outbox-flush": {
        "task": "notifications.tasks.outbox_flush_task",
        "schedule": timedelta(seconds=OUTBOX_FLUSH_INTERVAL),
    },
    "subscriptions-expire-due": {
        "task": "subscriptions.tasks.subscriptions_expire_due_task",
        "schedule": timedelta(seconds=SUBSCRIPTIONS_EXPIRE_INTERVAL),
    },
    "subscriptions-remind-due": {
        "task": "subscriptions.tasks.subscriptions_remind_due_task",
        "schedule": timedelta(seconds=env.float("SUBSCRIPTION_REMINDER_INTERVAL", default=900.0)),
    },
    "nodes-health-check": {
        "task": "nodes.tasks.nodes_health_check_task",
        "schedule": timedelta(seconds=NODE_HEALTH_INTERVAL),
    },
    "nodes-checks-prune": {
        "task": "nodes.tasks.node_checks_prune_task",
        "schedule": crontab(minute=17),
    },
    "subscriptions-traffic-reset-due": {
        "task": "subscriptions.tasks.subscriptions_traffic_reset_due_task",
        "schedule": timedelta(
            seconds=env.float("SUBSCRIPTION_TRAFFIC_RESET_INTERVAL", default=60.0)
        ),
    },
    "subscriptions-place-missing": {
        "task": "subscriptions.tasks.subscriptions_place_missing_task",
        "schedule": timedelta(seconds=NODE_PLACE_MISSING_INTERVAL),
    },
    "nodes-reconcile": {
        "task": "nodes.tasks.nodes_reconcile_task",
        "schedule": timedelta(seconds=NODE_RECONCILE_INTERVAL),
    },
    "payments-expire-pending": {
        "task": "billing.tasks.payments_expire_pending_task",
        "schedule": timedelta(seconds=env.float("PAYMENTS_EXPIRE_INTERVAL", default=300.0)),
    },
    "subscriptions-auto-renew-due": {
        "task": "billing.tasks.subscriptions_autorenew_due_task",
        "schedule": timedelta(seconds=env.float("AUTO_RENEW_INTERVAL", default=900.0)),
    },
    "webhook-events-prune": {
        "task": "billing.tasks.webhook_events_prune_task",
        "schedule": crontab(minute=30, hour=2),
    },
    "backup-daily": {
        "task": "console.tasks.backup_task",
        "schedule": crontab(minute=0, hour=env.int("BACKUP_HOUR_UTC", default=1)),
    },
    "alerts-check": {
        "task": "console.tasks.alerts_check_task",
        "schedule": timedelta(seconds=ALERTS_CHECK_INTERVAL),
    },
    "analytics-precompute": {
        "task": "console.tasks.analytics_precompute_task",
        "schedule": timedelta(seconds=ANALYTICS_PRECOMPUTE_INTERVAL),
    },
    "alerts-daily-summary": {
        "task": "console.tasks.daily_summary_task",
        "schedule": crontab(minute=0, hour=DAILY_SUMMARY_HOUR_UTC),
    },
}
