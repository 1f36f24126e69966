"""Alerts to the admin chats (console/alerts.py; checked by beat, scheduled in celery.py)."""

from vpnsite.env import env

# A node that flaps is reported down again only this long after it was last reported back.
NODE_ALERT_FLAP_GUARD_MINUTES = env.int("NODE_ALERT_FLAP_GUARD_MINUTES", default=30)
# More bad-signature notifications than this from one provider in an hour: someone is probing.
WEBHOOK_BAD_SIGNATURE_ALERT_THRESHOLD = env.int("WEBHOOK_BAD_SIGNATURE_ALERT_THRESHOLD", default=10)
# An outbox message still unsent this many minutes after it was queued means a backlog.
OUTBOX_BACKLOG_ALERT_MINUTES = env.int("OUTBOX_BACKLOG_ALERT_MINUTES", default=10)
# A Celery queue longer than this at two checks in a row means the workers cannot keep up.
QUEUE_BACKLOG_ALERT_SIZE = env.int("QUEUE_BACKLOG_ALERT_SIZE", default=1000)
