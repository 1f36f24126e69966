"""/api/v1/: the operator API (docs/api.md)."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from api.apis.customers import CustomerViewSet
from api.apis.docs import DocsPage, SchemaApi
from api.apis.nodes import NodeViewSet
from api.apis.payments import PaymentViewSet
from api.apis.statistics import StatisticsApi
from api.apis.subscriptions import SubscriptionViewSet
from api.apis.tariffs import TariffViewSet
from api.exceptions import api_not_found

app_name = "api"

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("payments", PaymentViewSet, basename="payment")
router.register("nodes", NodeViewSet, basename="node")
router.register("tariffs", TariffViewSet, basename="tariff")

urlpatterns = [
    *router.urls,
    path("statistics/", StatisticsApi.as_view(), name="statistics"),
    path("schema/", SchemaApi.as_view(), name="schema"),
    path("docs/", DocsPage.as_view(), name="docs"),
    re_path(r"^.*$", api_not_found, name="not-found"),
]
