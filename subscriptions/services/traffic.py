"""Traffic: a subscription's use summed over its nodes, and its limit enforced."""

from collections import defaultdict

from nodes.models import NodeClient
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.keys import subscription_keys_converge


def subscriptions_traffic_enforce(*, subscription_ids: set[int]) -> None:
    """Sum traffic over all nodes; a subscription over its limit gets its keys disabled.

    Called after a reconcile stored a panel's counters (``nodes.signals.traffic_read``).

    3x-ui enforces `totalGB` per panel only, so a multi-node subscription is capped here.
    A panel counts traffic once per email, so two keys of a subscription sharing one (keys
    made before the per-node emails, on two inbounds of one panel) are counted once, with the
    higher of their counters (a removed key's counter stops being read). Two queries whatever
    the number of subscriptions, plus one write per changed total.
    """
    if not subscription_ids:
        return
    per_client: dict[tuple, int] = {}
    for subscription_id, email, panel_url, up, down in NodeClient.objects.filter(
        subscription_id__in=subscription_ids
    ).values_list("subscription_id", "email", "node__panel_url", "traffic_up", "traffic_down"):
        client_key = (subscription_id, panel_url, email.casefold())
        per_client[client_key] = max(per_client.get(client_key, 0), up + down)
    totals: dict[int, int] = defaultdict(int)
    for (subscription_id, _panel, _email), used in per_client.items():
        totals[subscription_id] += used
    changed = [
        sub
        for sub in Subscription.objects.filter(pk__in=subscription_ids).only(
            "pk", "traffic_used_bytes", "traffic_limit_bytes", "status"
        )
        if (totals.get(sub.pk) or 0) != sub.traffic_used_bytes
    ]
    for sub in changed:
        sub.traffic_used_bytes = totals.get(sub.pk) or 0
    Subscription.objects.bulk_update(changed, ["traffic_used_bytes"], batch_size=500)
    for sub in changed:
        if sub.status == SubscriptionStatus.ACTIVE and sub.traffic_limit_reached():
            subscription_keys_converge(subscription=sub, reason="traffic limit reached")
