"""/api/v1/subscriptions/: list, detail, and the console's subscription actions (extend,
expire, re-provision) through the same services (``subscriptions.services.lifecycle``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import examples
from api.apis.base import ApiViewMixin
from api.filters import SubscriptionFilter
from api.permissions import OperatorsScope, SupportScope
from api.schema import invalid, ok, read_errors, write_errors
from api.scopes import (
    PERM_CHANGE_SUBSCRIPTION,
    PERM_EXTEND_SUBSCRIPTION,
    PERM_VIEW_SUBSCRIPTION,
)
from api.selectors import subscriptions_list
from api.serializers import (
    ExtendSerializer,
    ReasonSerializer,
    ReprovisionSerializer,
    SubscriptionSerializer,
)
from subscriptions.models import Subscription
from subscriptions.services.lifecycle import (
    subscription_expire,
    subscription_extend,
    subscription_reprovision,
)


@extend_schema_view(
    list=extend_schema(
        summary="List subscriptions",
        description="Newest first, with customer, tariff and live keys. Filter by status, "
        "customer, Telegram id, tariff, node, trial, running now, expiry or creation time. "
        "Any scope.",
        examples=[examples.one("a subscription", examples.SUBSCRIPTION)],
        responses={
            200: ok(SubscriptionSerializer(many=True), "A page of subscriptions."),
            **read_errors(query=True),
        },
    ),
    retrieve=extend_schema(
        summary="One subscription",
        description="A subscription with its customer, tariff and live keys. Any scope.",
        examples=[examples.one("a subscription", examples.SUBSCRIPTION)],
        responses={
            200: ok(SubscriptionSerializer, "The subscription."),
            **read_errors(detail=True),
        },
    ),
)
class SubscriptionViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    required_perms = (PERM_VIEW_SUBSCRIPTION,)
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter
    ordering_fields = ["id", "created_at", "expires_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return subscriptions_list()

    def _fresh(self, subscription: Subscription) -> dict:
        """The subscription as it is after a write, keys included."""
        return SubscriptionSerializer(subscriptions_list().get(pk=subscription.pk)).data

    @extend_schema(
        summary="Extend a subscription",
        description="Adds `days` as the console's “Extend by N days” does: a running "
        "subscription gets them after its end, an ended one restarts from now; its keys get "
        "the new expiry. Audited under the token's owner. Scope: support or operators.",
        request=ExtendSerializer,
        examples=[
            examples.request("a week", {"days": 7, "reason": "outage compensation"}),
            examples.one("the extended subscription", examples.SUBSCRIPTION),
        ],
        responses={
            200: ok(SubscriptionSerializer, "The subscription, extended."),
            **write_errors(
                invalid("no days", {"days": ["Ensure this value is greater than or equal to 1."]}),
                invalid("no reason", {"reason": ["This field is required."]}),
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[SupportScope],
        required_perms=(PERM_EXTEND_SUBSCRIPTION,),
    )
    def extend(self, request, pk=None):
        subscription = self.get_object()
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription_extend(
            subscription=subscription,
            days=body.validated_data["days"],
            reason=body.validated_data["reason"],
            tell_customer=True,
            **self.audit_actor(),
        )
        return Response(self._fresh(subscription))

    @extend_schema(
        summary="Expire a subscription now",
        description="Ends it now as the console's “Expire now” does: its end moves back to "
        "now and its keys are disabled on every panel. An already expired one is returned "
        "unchanged. Audited under the token's owner. Scope: operators.",
        request=ReasonSerializer,
        examples=[
            examples.request("fraud", {"reason": "chargeback"}),
            examples.one(
                "the expired subscription", {**examples.SUBSCRIPTION, "status": "expired"}
            ),
        ],
        responses={
            200: ok(SubscriptionSerializer, "The subscription, expired."),
            **write_errors(invalid("no reason", {"reason": ["This field is required."]})),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[OperatorsScope],
        required_perms=(PERM_CHANGE_SUBSCRIPTION,),
    )
    def expire(self, request, pk=None):
        subscription = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription_expire(
            subscription=subscription,
            reason=body.validated_data["reason"],
            tell_customer=True,
            **self.audit_actor(),
        )
        return Response(self._fresh(subscription))

    @extend_schema(
        summary="Re-provision a subscription's keys",
        description="Pushes every key of the subscription to its panel again and places "
        "missing ones, as the console's “Re-provision keys” does (for a customer whose app "
        "stopped working). The pushes run in the background. Audited under the token's "
        "owner. Scope: operators.",
        request=None,
        examples=[
            examples.one("keys queued", {"keys_pushed": 1, "subscription": examples.SUBSCRIPTION}),
        ],
        responses={
            200: ok(ReprovisionSerializer, "Keys queued for their panels."),
            **read_errors(detail=True),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[OperatorsScope],
        required_perms=(PERM_CHANGE_SUBSCRIPTION,),
    )
    def reprovision(self, request, pk=None):
        subscription = self.get_object()
        pushed = subscription_reprovision(subscription=subscription, **self.audit_actor())
        return Response(
            {"keys_pushed": pushed, "subscription": self._fresh(subscription)},
            status=status.HTTP_200_OK,
        )
