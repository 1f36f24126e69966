"""What nodes tell the apps above them (docs/architecture.md): panel I/O never decides
about subscriptions, it reports what happened and ``subscriptions`` reacts
(``subscriptions/receivers.py``). Signals are sent synchronously, so a receiver runs in the
sender's process and (where the sender has one) transaction.
"""

from django.dispatch import Signal

# A push or reconcile recorded keys as synced on their panel.
# kwargs: subscription_ids (set[int]), the subscriptions those keys belong to.
keys_synced = Signal()

# A panel refused to add a key it never held (synced_version 0); the key is `error`.
# kwargs: key_id (int), reason (str, for the audit log).
key_refused = Signal()

# A node went down (NODE_DOWN_AFTER_FAILURES failed health checks in a row).
# kwargs: node (Node).
node_down = Signal()

# A reconcile stored the panel's traffic counters on the keys of a node.
# kwargs: subscription_ids (set[int]), the subscriptions of that node's keys.
traffic_read = Signal()
