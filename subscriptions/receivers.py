"""How subscriptions react to what nodes report (``nodes/signals.py``).

Connected by importing this module in ``SubscriptionsConfig.ready``; each receiver hands
the report to the service that decides (docs/architecture.md: a lower app signals, a higher
one reacts).
"""

from django.dispatch import receiver

from nodes import signals
from subscriptions.services.failover import key_replace_elsewhere, node_failover
from subscriptions.services.keys import subscriptions_keys_ready_notify
from subscriptions.services.traffic import subscriptions_traffic_enforce


@receiver(signals.keys_synced, dispatch_uid="subscriptions.keys_synced")
def on_keys_synced(sender, *, subscription_ids, **kwargs) -> None:
    """A customer whose first key is now on a panel gets the keys message."""
    subscriptions_keys_ready_notify(subscription_ids=subscription_ids)


@receiver(signals.key_refused, dispatch_uid="subscriptions.key_refused")
def on_key_refused(sender, *, key_id, reason, **kwargs) -> None:
    """A key a panel refused to add goes to another node, if one can take it."""
    key_replace_elsewhere(key_id=key_id, reason=reason)


@receiver(signals.node_down, dispatch_uid="subscriptions.node_down")
def on_node_down(sender, *, node, **kwargs) -> None:
    """The subscriptions stranded on a node that went down are re-placed."""
    node_failover(node=node)


@receiver(signals.traffic_read, dispatch_uid="subscriptions.traffic_read")
def on_traffic_read(sender, *, subscription_ids, **kwargs) -> None:
    """Traffic is summed over nodes; a subscription over its limit has its keys disabled."""
    subscriptions_traffic_enforce(subscription_ids=subscription_ids)
