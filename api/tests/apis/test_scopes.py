"""Every endpoint with a token of each scope: allowed, or 403 ``scope_insufficient`` and
nothing changed; without a token, 401. Read-only tokens never write; a support token
extends but cannot expire, re-provision, refund or reconcile."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.scopes import Scope, scope_name
from api.tests.conftest import assert_error
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditLog
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

ALL = set(Scope.values)
SUPPORT_UP = {Scope.SUPPORT, Scope.OPERATORS}
OPERATORS = {Scope.OPERATORS}


@pytest.fixture
def world(db):
    node = NodeFactory(name="fra-1")
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=node)
    payment = PaymentFactory(
        subscription=subscription,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        amount=Decimal("299.00"),
        days_credited=30,
    )
    return {"node": node, "subscription": subscription, "payment": payment}


def endpoints(world):
    """(method, path, body, scopes allowed) for every endpoint of /api/v1/."""
    s, p, n = world["subscription"].pk, world["payment"].pk, world["node"].pk
    c = world["subscription"].customer_id
    return [
        ("get", "/api/v1/customers/", None, ALL),
        ("get", f"/api/v1/customers/{c}/", None, ALL),
        ("get", "/api/v1/subscriptions/", None, ALL),
        ("get", f"/api/v1/subscriptions/{s}/", None, ALL),
        ("get", "/api/v1/payments/", None, ALL),
        ("get", f"/api/v1/payments/{p}/", None, ALL),
        ("get", "/api/v1/nodes/", None, ALL),
        ("get", f"/api/v1/nodes/{n}/", None, ALL),
        ("get", "/api/v1/tariffs/", None, ALL),
        ("get", "/api/v1/statistics/", None, ALL),
        ("post", f"/api/v1/subscriptions/{s}/extend/", {"days": 1, "reason": "t"}, SUPPORT_UP),
        ("post", f"/api/v1/subscriptions/{s}/expire/", {"reason": "t"}, OPERATORS),
        ("post", f"/api/v1/subscriptions/{s}/reprovision/", None, OPERATORS),
        ("post", f"/api/v1/payments/{p}/refund/", {"reason": "t"}, OPERATORS),
        ("post", f"/api/v1/nodes/{n}/reconcile/", None, OPERATORS),
    ]


ENDPOINT_IDS = [
    "customers",
    "customer",
    "subscriptions",
    "subscription",
    "payments",
    "payment",
    "nodes",
    "node",
    "tariffs",
    "statistics",
    "extend",
    "expire",
    "reprovision",
    "refund",
    "reconcile",
]


@pytest.mark.parametrize("index", range(len(ENDPOINT_IDS)), ids=ENDPOINT_IDS)
@pytest.mark.parametrize("scope", Scope.values)
def test_endpoint_by_scope(api, world, tokens, index, scope):
    method, path, body, allowed = endpoints(world)[index]
    audit_before = AuditLog.objects.count()
    expires_before = world["subscription"].expires_at
    response = api.call(method, path, tokens[scope].raw, body)
    if scope in allowed:
        assert response.status_code in (200, 202), response.content[:500]
        if method == "post":
            assert AuditLog.objects.count() > audit_before
    else:
        body = assert_error(response, 403, "scope_insufficient")
        assert scope_name(scope) in body["message"]
        assert AuditLog.objects.count() == audit_before
        world["subscription"].refresh_from_db()
        world["payment"].refresh_from_db()
        assert world["subscription"].expires_at == expires_before
        assert world["payment"].status == PaymentStatus.PAID


@pytest.mark.parametrize("index", range(len(ENDPOINT_IDS)), ids=ENDPOINT_IDS)
def test_endpoint_without_a_token_is_401(api, world, index):
    method, path, body, _allowed = endpoints(world)[index]
    response = api.call(method, path, None, body)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_every_routed_endpoint_is_in_the_matrix(world):
    """A new endpoint must join the scope matrix above (its test fails until it does)."""
    from django.urls import get_resolver

    from api import urls

    routed = {
        (str(pattern.pattern), pattern.name)
        for pattern in urls.urlpatterns
        if pattern.name not in {"schema", "docs", "not-found"}
    }
    assert get_resolver()  # the project's URLs load
    names = {name for _pattern, name in routed}
    assert names == {
        "customer-list",
        "customer-detail",
        "subscription-list",
        "subscription-detail",
        "subscription-extend",
        "subscription-expire",
        "subscription-reprovision",
        "payment-list",
        "payment-detail",
        "payment-refund",
        "node-list",
        "node-detail",
        "node-reconcile",
        "tariff-list",
        "statistics",
    }
    assert len(endpoints(world)) == len(names)


def test_support_token_extends_but_the_subscription_keeps_its_rules(api, world, tokens):
    subscription = world["subscription"]
    before = subscription.expires_at
    response = api.post(
        f"/api/v1/subscriptions/{subscription.pk}/extend/",
        tokens[Scope.SUPPORT].raw,
        {"days": 3, "reason": "goodwill"},
    )
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=3)


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_scope_message_names_scopes_the_same_in_every_language(api, world, tokens, language):
    """The console shows scope labels translated; the API's message names them in English
    whatever the request's language, as it always did."""
    response = api.call(
        "post",
        f"/api/v1/subscriptions/{world['subscription'].pk}/expire/",
        tokens[Scope.READ_ONLY].raw,
        {"reason": "x"},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    body = assert_error(response, 403, "scope_insufficient")
    assert body["message"] == "This token's scope is read-only; this endpoint needs operators."
