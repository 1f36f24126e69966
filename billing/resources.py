"""The payments' CSV export (core/exports.py): readable columns, nothing secret (no checkout
URL: it lets anyone pay or see the provider's page; no Telegram chat/message ids)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from billing.models import Payment
from core.exports import DecimalStringWidget, IsoDateTimeWidget


def _when(name: str) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=IsoDateTimeWidget())


def _money(name: str) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=DecimalStringWidget())


class PaymentResource(resources.ModelResource):
    # The export form's checkboxes (core.exports.ExportForm); the CSV headers are the columns'
    # names, the same in every language.
    export_labels = {
        "id": _("ID"),
        "created_at": _("Created at"),
        "customer_telegram_id": _("Customer's Telegram ID"),
        "customer_username": _("Customer's username"),
        "purpose": _("Purpose"),
        "tariff": _("Tariff"),
        "subscription": _("Subscription ID"),
        "provider": _("Provider"),
        "provider_ref": _("Provider reference"),
        "amount": _("Amount"),
        "currency": _("Currency"),
        "price_before_promo": _("Price before promo code"),
        "promo_code": _("Promo code"),
        "status": _("Status"),
        "days_credited": _("Days credited"),
        "country": _("Country"),
        "paid_at": _("Paid at"),
        "refunded_at": _("Refunded at"),
    }

    customer_telegram_id = fields.Field(
        attribute="customer__telegram_id", column_name="customer_telegram_id"
    )
    customer_username = fields.Field(
        attribute="customer__username", column_name="customer_username"
    )
    tariff = fields.Field(attribute="tariff__name", column_name="tariff")
    subscription = fields.Field(attribute="subscription_id", column_name="subscription_id")
    promo_code = fields.Field(attribute="promo__code", column_name="promo_code")
    amount = _money("amount")
    price_before_promo = _money("price_before_promo")
    created_at = _when("created_at")
    paid_at = _when("paid_at")
    refunded_at = _when("refunded_at")

    class Meta:
        model = Payment
        # Explicit list: a column added to the model is not exported until chosen here.
        fields = [
            "id",
            "created_at",
            "customer_telegram_id",
            "customer_username",
            "purpose",
            "tariff",
            "subscription",
            "provider",
            "provider_ref",
            "amount",
            "currency",
            "price_before_promo",
            "promo_code",
            "status",
            "days_credited",
            "country",
            "paid_at",
            "refunded_at",
        ]
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        # One query for any number of rows.
        return queryset.select_related("customer", "tariff", "promo")
