"""Lists: filters (django-filter), ordering, pages, and a fixed number of queries whatever
the number of rows (no N+1)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from api.scopes import Scope
from api.tests.conftest import assert_error
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from nodes.models import NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/customers/",
    "/api/v1/subscriptions/",
    "/api/v1/payments/",
    "/api/v1/nodes/",
    "/api/v1/tariffs/",
]


@pytest.fixture
def reader(tokens):
    return tokens[Scope.READ_ONLY].raw


def populate(count: int) -> None:
    """`count` of everything each list shows, with the relations its rows carry."""
    nodes = [NodeFactory() for _ in range(3)]
    for i in range(count):
        tariff = TariffFactory()
        tariff.eligible_nodes.set(nodes[:2])
        subscription = SubscriptionFactory(tariff=tariff)
        NodeClientFactory(subscription=subscription, node=nodes[i % 3])
        NodeClientFactory(subscription=subscription, node=nodes[(i + 1) % 3])
        PaymentFactory(subscription=subscription, status=PaymentStatus.PAID, paid_at=timezone.now())
        NodeFactory()


def queries_for(api, path: str, raw: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path, raw, {"page_size": 100})
    assert response.status_code == 200, response.content[:300]
    return len(queries)


@pytest.mark.parametrize("path", LISTS)
def test_lists_take_a_fixed_number_of_queries(api, reader, path, django_assert_max_num_queries):
    populate(3)
    api.get("/api/v1/tariffs/", reader)  # last_used_at written: later calls only read
    few = queries_for(api, path, reader)
    populate(25)
    with django_assert_max_num_queries(10):
        many = queries_for(api, path, reader)
    assert many == few, f"{path}: {few} queries for a few rows, {many} for many"


def test_detail_and_statistics_take_few_queries(api, reader, django_assert_max_num_queries):
    populate(5)
    api.get("/api/v1/tariffs/", reader)
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription)
    node = NodeFactory()
    for path in (
        f"/api/v1/customers/{subscription.customer_id}/",
        f"/api/v1/subscriptions/{subscription.pk}/",
        f"/api/v1/nodes/{node.pk}/",
    ):
        with django_assert_max_num_queries(10):
            assert api.get(path, reader).status_code == 200
    with django_assert_max_num_queries(12):  # the dashboard's nine, and the token's
        assert api.get("/api/v1/statistics/", reader).status_code == 200


def test_pages(api, reader):
    for _ in range(7):
        CustomerFactory()
    page = api.get("/api/v1/customers/", reader, {"page_size": 3}).json()
    assert page["count"] == 7
    assert len(page["results"]) == 3
    assert page["previous"] is None
    assert "page=2" in page["next"]
    last = api.get("/api/v1/customers/", reader, {"page_size": 3, "page": 3}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    seen = [
        row["id"]
        for number in (1, 2, 3)
        for row in api.get("/api/v1/customers/", reader, {"page_size": 3, "page": number}).json()[
            "results"
        ]
    ]
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 7


def test_page_size_is_capped_at_100(api, reader):
    from accounts.models import Customer

    Customer.objects.bulk_create(
        [Customer(telegram_id=5_000_000 + i, referral_code=f"bulk{i}") for i in range(101)]
    )
    page = api.get("/api/v1/customers/", reader, {"page_size": 100000}).json()
    assert page["count"] == 101
    assert len(page["results"]) == 100  # capped, not refused


def test_a_page_past_the_end_is_404_in_the_error_shape(api, reader):
    CustomerFactory()
    assert_error(api.get("/api/v1/customers/", reader, {"page": 9}), 404, "not_found")


def test_ordering_with_ties_is_stable(api, reader):
    moment = timezone.now() + timedelta(days=5)
    subscriptions = [SubscriptionFactory(expires_at=moment) for _ in range(6)]
    ids = [
        row["id"]
        for number in (1, 2, 3)
        for row in api.get(
            "/api/v1/subscriptions/",
            reader,
            {"ordering": "-expires_at", "page_size": 2, "page": number},
        ).json()["results"]
    ]
    assert ids == sorted((s.pk for s in subscriptions), reverse=True)


def test_ordering_oldest_first(api, reader):
    payments = [PaymentFactory(amount=Decimal(amount)) for amount in ("500.00", "100.00")]
    rows = api.get("/api/v1/payments/", reader, {"ordering": "created_at"}).json()["results"]
    assert [row["id"] for row in rows] == [p.pk for p in payments]


@pytest.mark.parametrize("ordering", ["banned_reason", "last_seen_at", "-first_name"])
def test_an_ordering_not_offered_falls_back_to_the_default(api, reader, ordering):
    """Only indexed columns are offered: a sort of a big table by anything else is slow."""
    first, second = CustomerFactory(), CustomerFactory()
    rows = api.get("/api/v1/customers/", reader, {"ordering": ordering}).json()["results"]
    assert [row["id"] for row in rows] == [second.pk, first.pk]


def test_subscription_filters(api, reader):
    node = NodeFactory(name="fra-1")
    running = SubscriptionFactory()
    NodeClientFactory(subscription=running, node=node)
    lapsed = SubscriptionFactory(
        started_at=timezone.now() - timedelta(days=40),
        expires_at=timezone.now() - timedelta(days=10),
    )
    expired = SubscriptionFactory(status=SubscriptionStatus.EXPIRED)
    trial = SubscriptionFactory(is_trial=True, customer=running.customer)

    def ids(**params) -> set[int]:
        return {
            row["id"] for row in api.get("/api/v1/subscriptions/", reader, params).json()["results"]
        }

    assert ids(running="true") == {running.pk, trial.pk}
    assert ids(running="false") == {lapsed.pk, expired.pk}
    assert ids(status="expired") == {expired.pk}
    assert ids(node=node.pk) == {running.pk}
    assert ids(is_trial="true") == {trial.pk}
    assert ids(customer=running.customer_id) == {running.pk, trial.pk}
    assert ids(telegram_id=expired.customer.telegram_id) == {expired.pk}
    assert ids(expires_before=timezone.now().isoformat()) == {lapsed.pk}
    row = api.get(f"/api/v1/subscriptions/{running.pk}/", reader).json()
    assert row["keys"] == [
        {
            "id": running.keys.get().pk,
            "node_id": node.pk,
            "node": "fra-1",
            "sync_state": SyncState.PENDING,
            "enable": True,
        }
    ]
    assert row["is_running"] is True


def test_customer_filters(api, reader):
    alice = CustomerFactory(username="Alice")
    banned = CustomerFactory(is_banned=True)
    SubscriptionFactory(customer=alice)

    def ids(**params) -> set[int]:
        return {
            row["id"] for row in api.get("/api/v1/customers/", reader, params).json()["results"]
        }

    assert ids(username="@alice") == {alice.pk}
    assert ids(telegram_id=banned.telegram_id) == {banned.pk}
    assert ids(is_banned="true") == {banned.pk}
    assert ids(has_running_subscription="true") == {alice.pk}
    assert ids(has_running_subscription="false") == {banned.pk}
    detail = api.get(f"/api/v1/customers/{alice.pk}/", reader).json()
    assert [s["is_running"] for s in detail["subscriptions"]] == [True]


def test_payment_filters(api, reader):
    paid = PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now(), provider="freekassa")
    pending = PaymentFactory()

    def ids(**params) -> set[int]:
        return {row["id"] for row in api.get("/api/v1/payments/", reader, params).json()["results"]}

    assert ids(status="paid") == {paid.pk}
    assert ids(provider="robokassa") == {pending.pk}
    assert ids(paid_after=(timezone.now() - timedelta(hours=1)).isoformat()) == {paid.pk}
    assert ids(customer=pending.customer_id) == {pending.pk}


def test_node_filters_and_no_secrets(api, reader):
    up = NodeFactory(health=NodeHealth.UP, panel_password="s3cret-panel-pass")
    NodeFactory(health=NodeHealth.DOWN)
    response = api.get("/api/v1/nodes/", reader, {"health": "up"})
    assert [row["id"] for row in response.json()["results"]] == [up.pk]
    detail = api.get(f"/api/v1/nodes/{up.pk}/", reader)
    for body in (response.content, detail.content):
        assert b"s3cret-panel-pass" not in body
        assert b"panel_url" not in body
        assert up.panel_url.encode() not in body
    assert detail.json()["keys"] == dict.fromkeys(SyncState.values, 0)


def test_tariff_filters(api, reader):
    on_sale = TariffFactory()
    TariffFactory(is_active=False)
    rows = api.get("/api/v1/tariffs/", reader, {"is_active": "true"}).json()["results"]
    assert [row["id"] for row in rows] == [on_sale.pk]
    assert rows[0]["price"] == "299.00"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/subscriptions/", {"status": "nope"}, "status"),
        ("/api/v1/subscriptions/", {"expires_before": "yesterday"}, "expires_before"),
        ("/api/v1/payments/", {"customer": "abc"}, "customer"),
        ("/api/v1/customers/", {"is_banned": "maybe"}, "is_banned"),
        ("/api/v1/nodes/", {"health": "sideways"}, "health"),
    ],
)
def test_a_filter_that_does_not_parse_is_400(api, reader, path, params, field):
    body = assert_error(api.get(path, reader, params), 400, "invalid")
    assert field in body["fields"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/subscriptions/", {"customer": "1.5"}, "customer"),
        ("/api/v1/subscriptions/", {"running": "yes please"}, "running"),
        ("/api/v1/customers/", {"telegram_id": "12e3"}, "telegram_id"),
    ],
)
def test_ids_are_whole_numbers_and_booleans_are_true_or_false(api, reader, path, params, field):
    body = assert_error(api.get(path, reader, params), 400, "invalid")
    assert field in body["fields"]


def test_a_balance_top_up_is_listed_without_tariff(api, reader):
    top_up = PaymentFactory(top_up=True)
    rows = api.get("/api/v1/payments/", reader).json()["results"]
    row = next(row for row in rows if row["id"] == top_up.pk)
    assert (row["purpose"], row["tariff"]) == ("top_up", None)
