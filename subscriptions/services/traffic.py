"""Traffic: a subscription's use summed over its nodes, and its limit enforced."""

from collections import defaultdict

from django.db.models import Case, PositiveBigIntegerField, Value, When

from nodes.models import NodeClient
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.notifications import notify_traffic_threshold, traffic_thresholds_crossed
from subscriptions.services.keys import subscription_keys_converge


def subscriptions_traffic_enforce(*, subscription_ids: set[int]) -> None:
    """Sum traffic over all nodes; a subscription over its limit gets its keys disabled.

    Called after a reconcile stored a panel's counters (``nodes.signals.traffic_read``).

    3x-ui enforces `totalGB` per panel only, so a multi-node subscription is capped here.
    A panel counts traffic once per email, so two keys of a subscription sharing one (keys
    made before the per-node emails, on two inbounds of one panel) are counted once, with the
    higher of their counters (a removed key's counter stops being read). Two queries whatever
    the number of subscriptions, plus one per distinct last traffic reset of the changed
    ones (nearly always one).
    """
    if not subscription_ids:
        return
    # The subscriptions first: a traffic reset that commits after this read changes their
    # last reset, so the totals below (maybe summed before it) are not written.
    subscriptions = list(
        Subscription.objects.filter(pk__in=subscription_ids).only(
            "pk", "traffic_used_bytes", "traffic_limit_bytes", "status", "traffic_reset_last_at"
        )
    )
    per_client: dict[tuple, int] = {}
    for subscription_id, email, panel_url, up, down in NodeClient.objects.filter(
        subscription_id__in=subscription_ids
    ).values_list("subscription_id", "email", "node__panel_url", "traffic_up", "traffic_down"):
        client_key = (subscription_id, panel_url, email.casefold())
        per_client[client_key] = max(per_client.get(client_key, 0), up + down)
    totals: dict[int, int] = defaultdict(int)
    for (subscription_id, _panel, _email), used in per_client.items():
        totals[subscription_id] += used
    changed = [sub for sub in subscriptions if (totals.get(sub.pk) or 0) != sub.traffic_used_bytes]
    # Written only where no traffic reset happened since the subscriptions were read: a
    # total summed from counters of the period that ended never lands after the reset (one
    # UPDATE per distinct last reset, nearly always one).
    groups: dict = defaultdict(list)
    crossed: dict[int, list[int]] = {}
    for sub in changed:
        thresholds = traffic_thresholds_crossed(
            before=sub.traffic_used_bytes,
            after=totals.get(sub.pk) or 0,
            limit=sub.traffic_limit_bytes,
        )
        if thresholds and sub.status == SubscriptionStatus.ACTIVE:
            crossed[sub.pk] = thresholds
        sub.traffic_used_bytes = totals.get(sub.pk) or 0
        groups[sub.traffic_reset_last_at].append(sub)
    for last_reset, subs in groups.items():
        rows = Subscription.objects.filter(pk__in=[sub.pk for sub in subs])
        if last_reset is None:
            rows = rows.filter(traffic_reset_last_at__isnull=True)
        else:
            rows = rows.filter(traffic_reset_last_at=last_reset)
        rows.update(
            traffic_used_bytes=Case(
                *(When(pk=sub.pk, then=Value(sub.traffic_used_bytes)) for sub in subs),
                output_field=PositiveBigIntegerField(),
            )
        )
    # The customer is told once per threshold and period (rare: one read for them all).
    # Only where the total landed: a reset committed since the read skipped the write, and
    # its new period must not be told about the old period's traffic.
    read_reset = {sub.pk: sub.traffic_reset_last_at for sub in changed}
    if crossed:
        for sub in Subscription.objects.filter(pk__in=crossed).select_related("customer", "tariff"):
            if sub.traffic_reset_last_at != read_reset[sub.pk]:
                continue
            for percent in crossed[sub.pk]:
                notify_traffic_threshold(subscription=sub, percent=percent)
    # The converge reads the row again under its lock: a subscription reset since is left
    # enabled.
    for sub in changed:
        if sub.status == SubscriptionStatus.ACTIVE and sub.traffic_limit_reached():
            subscription_keys_converge(subscription=sub, reason="traffic limit reached")
