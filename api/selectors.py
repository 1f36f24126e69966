"""The API's reads: the token behind a request, and the querysets of the list endpoints,
each loading what its serializer shows in a fixed number of queries (no N+1)."""

from __future__ import annotations

import hmac

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Customer
from api.models import ApiToken
from api.services import token_digest, token_parse
from billing.models import Payment
from nodes.models import Node, NodeClient, SyncState
from nodes.selectors import LIVE_KEY_STATES, node_loads
from subscriptions.models import Subscription, Tariff

# Node columns no endpoint shows: panel credentials, the balancer's and reconcile's state.
NODE_HIDDEN = (
    "panel_password",
    "panel_api_token",
    "inbound_cache",
    "orphans_first_seen",
    "login_refused_digest",
)


def api_token_get(*, raw: str) -> ApiToken | None:
    """The token `raw` is, with its owner; None when malformed, unknown or not matching.

    The row is found by its public prefix; the digests are compared in constant time.
    Expiry, revocation and the owner's state are the caller's to judge (each has its own
    answer)."""
    parsed = token_parse(raw)
    if parsed is None:
        return None
    prefix, whole = parsed
    token = ApiToken.objects.select_related("owner").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, token_digest(whole)):
        return None
    return token


def _live_keys() -> Prefetch:
    return Prefetch(
        "keys",
        queryset=NodeClient.objects.filter(sync_state__in=LIVE_KEY_STATES)
        .select_related("node")
        .only("id", "subscription_id", "node_id", "node__name", "sync_state", "enable")
        .order_by("node__name"),
        to_attr="live_keys",
    )


def customers_list() -> QuerySet[Customer]:
    return Customer.objects.all()


def customer_detail_queryset() -> QuerySet[Customer]:
    return Customer.objects.prefetch_related(
        Prefetch(
            "subscriptions",
            queryset=Subscription.objects.select_related("tariff").order_by("-created_at"),
        )
    )


def subscriptions_list() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("customer", "tariff").prefetch_related(_live_keys())


def payments_list() -> QuerySet[Payment]:
    return Payment.objects.select_related("customer", "tariff")


def nodes_list() -> QuerySet[Node]:
    """Without their load: ``nodes_load_set`` adds it to the page shown."""
    return Node.objects.defer(*NODE_HIDDEN, "last_reconcile_result")


def nodes_load_set(*, nodes: list[Node]) -> list[Node]:
    """Set ``load`` on each of `nodes` (``nodes.selectors.node_loads``: one query)."""
    loads = node_loads(node_ids=[node.pk for node in nodes])
    for node in nodes:
        node.load = loads[node.pk]
    return nodes


def node_detail_queryset() -> QuerySet[Node]:
    """With ``last_reconcile_result``; the load is added by ``nodes_load_set``."""
    return Node.objects.defer(*NODE_HIDDEN)


def node_key_states(*, node: Node) -> dict[str, int]:
    """The node's keys per sync state (every state present, 0 when none), in one query."""
    counts = NodeClient.objects.filter(node=node).aggregate(
        **{state: Count("id", filter=Q(sync_state=state)) for state in SyncState.values}
    )
    return {state: counts[state] for state in SyncState.values}


def tariffs_list() -> QuerySet[Tariff]:
    return Tariff.objects.prefetch_related(
        Prefetch("eligible_nodes", queryset=Node.objects.only("id", "name"))
    )


def customer_payment_get(*, customer: Customer, payment_id: int) -> Payment | None:
    """One of `customer`'s payments (its state for the Mini App), None when not theirs."""
    return (
        Payment.objects.filter(pk=payment_id, customer=customer)
        .only("pk", "status", "subscription_id", "paid_at")
        .first()
    )
