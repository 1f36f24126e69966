"""The subscriptions' CSV export (core/exports.py): readable columns, nothing secret:
no client UUID, sub id or feed token (they give access to the keys)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from core.exports import IsoDateTimeWidget
from subscriptions.models import Subscription


def _when(name: str) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=IsoDateTimeWidget())


class SubscriptionResource(resources.ModelResource):
    # The export form's checkboxes (core.exports.ExportForm); the CSV headers are the columns'
    # names, the same in every language.
    export_labels = {
        "id": _("ID"),
        "customer_telegram_id": _("Customer's Telegram ID"),
        "customer_username": _("Customer's username"),
        "tariff": _("Tariff"),
        "status": _("Status"),
        "is_trial": _("Trial"),
        "auto_renew": _("Auto-renewal"),
        "started_at": _("Started at"),
        "expires_at": _("Expires at"),
        "traffic_used_bytes": _("Traffic used, bytes"),
        "traffic_limit_bytes": _("Traffic limit, bytes"),
        "traffic_reset": _("Traffic reset"),
        "traffic_reset_next_at": _("Next traffic reset at"),
        "device_limit": _("Device limit"),
        "hwid_device_limit": _("Device limit (hardware id)"),
        "node_count": _("Nodes"),
        "country": _("Country"),
        "created_at": _("Created at"),
    }

    customer_telegram_id = fields.Field(
        attribute="customer__telegram_id", column_name="customer_telegram_id"
    )
    customer_username = fields.Field(
        attribute="customer__username", column_name="customer_username"
    )
    tariff = fields.Field(attribute="tariff__name", column_name="tariff")
    started_at = _when("started_at")
    expires_at = _when("expires_at")
    traffic_reset_next_at = _when("traffic_reset_next_at")
    created_at = _when("created_at")

    class Meta:
        model = Subscription
        # Explicit list: a column added to the model is not exported until chosen here.
        fields = [
            "id",
            "customer_telegram_id",
            "customer_username",
            "tariff",
            "status",
            "is_trial",
            "auto_renew",
            "started_at",
            "expires_at",
            "traffic_used_bytes",
            "traffic_limit_bytes",
            "traffic_reset",
            "traffic_reset_next_at",
            "device_limit",
            "hwid_device_limit",
            "node_count",
            "country",
            "created_at",
        ]
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        # One query for any number of rows: customer and tariff joined, and the admin's
        # prefetch of live keys (for its "nodes" column) dropped, the export does not use it.
        return queryset.select_related("customer", "tariff").prefetch_related(None)
