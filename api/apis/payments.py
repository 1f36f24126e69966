"""/api/v1/payments/: list, detail, and refund through billing's service
(``billing.services.refunds.payment_refund``, as the console's "Refund" action)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import examples
from api.apis.base import ApiViewMixin
from api.filters import PaymentFilter
from api.permissions import OperatorsScope
from api.schema import invalid, ok, read_errors, rejected, write_errors
from api.scopes import PERM_CHANGE_PAYMENT, PERM_VIEW_PAYMENT
from api.selectors import payments_list
from api.serializers import PaymentSerializer, ReasonSerializer
from billing.services.refunds import payment_refund


@extend_schema_view(
    list=extend_schema(
        summary="List payments",
        description="Newest first. Filter by status, provider, currency, customer, Telegram "
        "id, subscription, tariff, creation or payment time. Amounts are decimal strings "
        "with their currency. Any scope.",
        examples=[examples.one("a payment", examples.PAYMENT)],
        responses={
            200: ok(PaymentSerializer(many=True), "A page of payments."),
            **read_errors(query=True),
        },
    ),
    retrieve=extend_schema(
        summary="One payment",
        description="A payment with its customer and tariff. Any scope.",
        examples=[examples.one("a payment", examples.PAYMENT)],
        responses={200: ok(PaymentSerializer, "The payment."), **read_errors(detail=True)},
    ),
)
class PaymentViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    required_perms = (PERM_VIEW_PAYMENT,)
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return payments_list()

    @extend_schema(
        summary="Refund a payment",
        description="Refunds a payment as the console's “Refund” does: the payment becomes "
        "refunded, the days it credited are taken off its subscription (never below now; one "
        "left with no time expires) and the customer is told. A YooKassa payment's money goes "
        "back through YooKassa's API (if it refuses, nothing changes); for the other providers "
        "it is returned in the provider's cabinet. Only a paid payment can be refunded. "
        "Audited under the token's owner. Scope: operators.",
        request=ReasonSerializer,
        examples=[
            examples.request("duplicate charge", {"reason": "duplicate charge"}),
            examples.one(
                "the refunded payment",
                {
                    **examples.PAYMENT,
                    "status": "refunded",
                    "refunded_at": "2026-01-03T12:00:00+03:00",
                },
            ),
        ],
        responses={
            200: ok(PaymentSerializer, "The payment, refunded."),
            **write_errors(
                invalid("no reason", {"reason": ["This field is required."]}),
                rejected(
                    "not paid", "Only a paid payment can be refunded (payment #1001 is pending)."
                ),
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[OperatorsScope],
        required_perms=(PERM_CHANGE_PAYMENT,),
    )
    def refund(self, request, pk=None):
        payment = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        payment_refund(payment=payment, reason=body.validated_data["reason"], **self.audit_actor())
        return Response(PaymentSerializer(payments_list().get(pk=payment.pk)).data)
