"""GET /api/v1/customers/ and /api/v1/customers/{id}/: subscribers, read-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from api import examples
from api.apis.base import ApiViewMixin
from api.filters import CustomerFilter
from api.schema import ok, read_errors
from api.scopes import PERM_VIEW_CUSTOMER
from api.selectors import customer_detail_queryset, customers_list
from api.serializers import CustomerDetailSerializer, CustomerSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List customers",
        description="Subscribers, newest first. Filter by Telegram id or @username (exact), "
        "ban, registration time, or whether they have a running subscription. Any scope.",
        examples=[examples.one("a customer", examples.CUSTOMER)],
        responses={
            200: ok(CustomerSerializer(many=True), "A page of customers."),
            **read_errors(query=True),
        },
    ),
    retrieve=extend_schema(
        summary="One customer",
        description="A subscriber with their subscriptions (newest first). Any scope.",
        examples=[examples.one("a customer", examples.CUSTOMER_DETAIL)],
        responses={200: ok(CustomerDetailSerializer, "The customer."), **read_errors(detail=True)},
    ),
)
class CustomerViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    required_perms = (PERM_VIEW_CUSTOMER,)
    filterset_class = CustomerFilter
    ordering_fields = ["id", "created_at", "telegram_id"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if self.action == "retrieve":
            return customer_detail_queryset()
        return customers_list()

    def get_serializer_class(self):
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerSerializer
