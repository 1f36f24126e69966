"""What the operator API shows and accepts. Money is a decimal string ("299.00") with its
currency beside it; times are ISO 8601 with their offset. Panel credentials and panel URLs
(their path is a secret of the panel) are never shown; nor are feed tokens.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Customer
from billing.models import Payment
from nodes.models import Node, NodeClient
from subscriptions.models import Subscription, Tariff


class ErrorSerializer(serializers.Serializer):
    """The body of every error (``api.exceptions``)."""

    code = serializers.CharField(help_text="Stable, for programs: invalid, rejected, …")
    message = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field errors of a 400: field name -> messages. Empty otherwise.",
    )


class CustomerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "telegram_id", "username"]


class TariffBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tariff
        fields = ["id", "name"]


class KeySerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.name", read_only=True)

    class Meta:
        model = NodeClient
        fields = ["id", "node_id", "node", "sync_state", "enable"]


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "telegram_id",
            "username",
            "first_name",
            "last_name",
            "language",
            "is_banned",
            "banned_reason",
            "bot_blocked_at",
            "trial_used_at",
            "last_seen_at",
            "referred_by_id",
            "created_at",
        ]


class CustomerSubscriptionSerializer(serializers.ModelSerializer):
    tariff = TariffBriefSerializer(read_only=True)
    is_running = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = ["id", "tariff", "status", "is_running", "started_at", "expires_at", "is_trial"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_running(self, subscription: Subscription) -> bool:
        return subscription.is_running()


class CustomerDetailSerializer(CustomerSerializer):
    subscriptions = CustomerSubscriptionSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "subscriptions"]


class SubscriptionSerializer(serializers.ModelSerializer):
    customer = CustomerBriefSerializer(read_only=True)
    tariff = TariffBriefSerializer(read_only=True)
    is_running = serializers.SerializerMethodField(
        help_text="Active and not past its end now: the customer has service."
    )
    keys = KeySerializer(
        many=True,
        read_only=True,
        source="live_keys",
        help_text="Keys that are (or must be) on a panel: pending, synced or error.",
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "customer",
            "tariff",
            "status",
            "is_running",
            "started_at",
            "expires_at",
            "device_limit",
            "traffic_limit_bytes",
            "traffic_used_bytes",
            "node_count",
            "is_trial",
            "keys",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_running(self, subscription: Subscription) -> bool:
        return subscription.is_running()


class ExtendSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=3650, help_text="Days to add (1-3650), as the console's form."
    )
    reason = serializers.CharField(max_length=255, help_text="Kept in the audit log.")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, help_text="Kept in the audit log.")


class ReprovisionSerializer(serializers.Serializer):
    keys_pushed = serializers.IntegerField(help_text="Keys queued to be pushed to their panels.")
    subscription = SubscriptionSerializer()


class PaymentSerializer(serializers.ModelSerializer):
    customer = CustomerBriefSerializer(read_only=True)
    # Null for a balance top-up (``purpose`` "top_up").
    tariff = TariffBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "customer",
            "purpose",
            "tariff",
            "subscription_id",
            "provider",
            "provider_ref",
            "amount",
            "currency",
            "status",
            "description",
            "days_credited",
            "paid_at",
            "expires_at",
            "refunded_at",
            "created_at",
        ]


class NodeSerializer(serializers.ModelSerializer):
    load = serializers.IntegerField(read_only=True, help_text="Keys on the node (not removed).")

    class Meta:
        model = Node
        fields = [
            "id",
            "name",
            "country",
            "location",
            "public_host",
            "public_port",
            "is_enabled",
            "weight",
            "max_clients",
            "load",
            "health",
            "consecutive_failures",
            "latency_ms",
            "last_check_at",
            "last_ok_at",
            "last_error",
            "panel_generation",
            "last_reconcile_at",
        ]


class KeyStatesSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    synced = serializers.IntegerField()
    error = serializers.IntegerField()
    removing = serializers.IntegerField()
    removed = serializers.IntegerField()


class NodeDetailSerializer(NodeSerializer):
    keys = serializers.SerializerMethodField(help_text="The node's keys per sync state.")
    last_reconcile_result = serializers.JSONField(
        read_only=True, help_text="The last reconciliation's counts, or its error."
    )

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "last_reconcile_result", "keys"]

    @extend_schema_field(KeyStatesSerializer)
    def get_keys(self, node: Node) -> dict[str, int]:
        return self.context["key_states"]


class ReconcileQueuedSerializer(serializers.Serializer):
    node = serializers.IntegerField(help_text="The node's id.")
    queued = serializers.BooleanField()
    detail = serializers.CharField()


class TariffSerializer(serializers.ModelSerializer):
    eligible_nodes = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Node ids; empty: every node."
    )

    class Meta:
        model = Tariff
        fields = [
            "id",
            "name",
            "name_en",
            "duration_days",
            "price",
            "currency",
            "price_stars",
            "device_limit",
            "traffic_limit_gb",
            "node_count",
            "eligible_nodes",
            "is_trial",
            "is_active",
            "sort_order",
        ]


class PeriodCountsSerializer(serializers.Serializer):
    today = serializers.IntegerField()
    last_7_days = serializers.IntegerField()
    last_30_days = serializers.IntegerField()


class PeriodRevenueSerializer(serializers.Serializer):
    currency = serializers.CharField()
    today = serializers.DecimalField(max_digits=14, decimal_places=2)
    last_7_days = serializers.DecimalField(max_digits=14, decimal_places=2)
    last_30_days = serializers.DecimalField(max_digits=14, decimal_places=2)


class SubscriptionCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="Running now (active, not past their end).")
    expiring_soon = serializers.IntegerField(help_text="Running, ending within expiring_days.")
    expiring_days = serializers.IntegerField()


class CustomerCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    new = PeriodCountsSerializer()


class ProviderRowSerializer(serializers.Serializer):
    provider = serializers.CharField()
    status = serializers.CharField()
    count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class DayAmountSerializer(serializers.Serializer):
    day = serializers.DateField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class DayCountSerializer(serializers.Serializer):
    day = serializers.DateField()
    count = serializers.IntegerField()


class NodeFigureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    health = serializers.CharField()
    load = serializers.IntegerField()
    max_clients = serializers.IntegerField()
    keys_error = serializers.IntegerField()
    keys_stuck = serializers.IntegerField()


class KeyFiguresSerializer(serializers.Serializer):
    error = serializers.IntegerField(help_text="Keys in error on every node.")
    stuck = serializers.IntegerField(help_text="Keys pending for more than 10 minutes.")


class CurrencyAmountSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class RevenueWindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    revenue = CurrencyAmountSerializer(many=True)


class StatisticsSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    time_zone = serializers.CharField(help_text="Days are calendar days in this zone.")
    currency = serializers.CharField(help_text="The site's currency (PAYMENT_CURRENCY).")
    subscriptions = SubscriptionCountsSerializer()
    customers = CustomerCountsSerializer()
    revenue = PeriodRevenueSerializer(
        many=True, help_text="Paid payments by paid_at, per currency (the site's first)."
    )
    payments_paid = PeriodCountsSerializer(help_text="Paid payments in the site's currency.")
    payments_by_provider = ProviderRowSerializer(
        many=True, help_text="Payments created in the last 30 days."
    )
    revenue_by_day = DayAmountSerializer(many=True, help_text="The last 30 days, site currency.")
    active_by_day = DayCountSerializer(many=True, help_text="Running at the end of each day.")
    nodes = NodeFigureSerializer(many=True)
    keys = KeyFiguresSerializer()
    webhooks_failed = serializers.IntegerField(
        help_text="Failed payment notifications nobody reprocessed or dismissed."
    )
    window = RevenueWindowSerializer(
        allow_null=True, help_text="Revenue between ?since= and ?until=, when either is given."
    )


class StatisticsQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since > until:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs
