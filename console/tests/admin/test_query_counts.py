"""Every changelist (and the customer page with its inlines) runs the same number of
queries with 5 rows as with 50: nothing is fetched per row."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import NodeHealth
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.services import notify_customer
from notifications.tests.factories import BroadcastFactory
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15
CHANGELISTS = [
    "accounts_customer_changelist",
    "subscriptions_subscription_changelist",
    "subscriptions_tariff_changelist",
    "billing_payment_changelist",
    "core_auditlog_changelist",
    "notifications_outboxmessage_changelist",
    "notifications_broadcast_changelist",
    "nodes_node_changelist",
    "nodes_nodeclient_changelist",
]


def fill(n: int, superuser) -> None:
    nodes = [NodeFactory(health=NodeHealth.UP), NodeFactory(health=NodeHealth.DEGRADED)]
    tariff = TariffFactory()
    for i in range(n):
        customer = CustomerFactory(referred_by=None)
        subscription = SubscriptionFactory(customer=customer, tariff=TariffFactory())
        NodeClientFactory(subscription=subscription, node=nodes[i % 2])
        PaymentFactory(
            customer=customer,
            tariff=tariff,
            subscription=subscription,
            status=PaymentStatus.PAID,
            paid_at=timezone.now() - timedelta(hours=i),
        )
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            obj=subscription,
            acting_user=superuser,
            customer_id=customer.pk,
            message=f"row {i}",
        )
        notify_customer(customer=customer, text=f"hello {i}")
        BroadcastFactory(created_by=superuser)


def count(client, url) -> int:
    client.get(url)  # warm Django's per-process caches (content types)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries.captured_queries)


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_queries_are_constant(as_superuser, superuser, name):
    url = reverse(f"admin:{name}")
    fill(5, superuser)
    small = count(as_superuser, url)
    fill(45, superuser)
    large = count(as_superuser, url)
    assert large == small, f"{name}: {small} queries with 5 rows, {large} with 50"
    assert large <= MAX_QUERIES


def test_changelists_stay_within_the_budget(as_superuser, superuser, django_assert_max_num_queries):
    fill(50, superuser)
    for name in CHANGELISTS:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert as_superuser.get(reverse(f"admin:{name}")).status_code == 200


def test_customer_page_queries_do_not_grow_with_subscriptions(as_superuser):
    customer = CustomerFactory()
    node = NodeFactory()

    def add(n):
        for _ in range(n):
            subscription = SubscriptionFactory(customer=customer)
            NodeClientFactory(subscription=subscription, node=node)
            PaymentFactory(customer=customer, tariff=subscription.tariff)

    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    add(3)
    small = count(as_superuser, url)
    add(30)
    assert count(as_superuser, url) == small
