"""The customers' CSV export (core/exports.py): readable columns, nothing secret."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from accounts.models import Customer
from core.exports import DecimalStringWidget, IsoDateTimeWidget


class CustomerResource(resources.ModelResource):
    # The export form's checkboxes (core.exports.ExportForm); the CSV headers are the columns'
    # names, the same in every language.
    export_labels = {
        "id": _("ID"),
        "telegram_id": _("Telegram ID"),
        "username": _("Username"),
        "first_name": _("First name"),
        "last_name": _("Last name"),
        "language": _("Language"),
        "balance": _("Balance"),
        "is_banned": _("Banned"),
        "banned_reason": _("Ban reason"),
        "bot_blocked_at": _("Blocked the bot at"),
        "trial_used_at": _("Trial used at"),
        "referred_by": _("Invited by (Telegram ID)"),
        "created_at": _("Created at"),
        "last_seen_at": _("Last seen at"),
    }

    referred_by = fields.Field(
        attribute="referred_by__telegram_id", column_name="referred_by_telegram_id"
    )
    balance = fields.Field(attribute="balance", column_name="balance", widget=DecimalStringWidget())
    bot_blocked_at = fields.Field(
        attribute="bot_blocked_at", column_name="bot_blocked_at", widget=IsoDateTimeWidget()
    )
    trial_used_at = fields.Field(
        attribute="trial_used_at", column_name="trial_used_at", widget=IsoDateTimeWidget()
    )
    created_at = fields.Field(
        attribute="created_at", column_name="created_at", widget=IsoDateTimeWidget()
    )
    last_seen_at = fields.Field(
        attribute="last_seen_at", column_name="last_seen_at", widget=IsoDateTimeWidget()
    )

    class Meta:
        model = Customer
        # Explicit list: a column added to the model is not exported until chosen here.
        fields = [
            "id",
            "telegram_id",
            "username",
            "first_name",
            "last_name",
            "language",
            "balance",
            "is_banned",
            "banned_reason",
            "bot_blocked_at",
            "trial_used_at",
            "referred_by",
            "created_at",
            "last_seen_at",
        ]
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        # One query for any number of rows: the referrer's Telegram id is joined.
        return queryset.select_related("referred_by")
