"""CSV export from the console, with django-import-export (export only: no import views).

Each exported model has an ``import_export.resources.ModelResource`` with chosen, readable
columns (``accounts/resources.py``, ``subscriptions/resources.py``, ``billing/resources.py``)
and its admin mixes in :class:`AuditedExportMixin`. The export:

- is CSV only and exports what the changelist shows (its filters, search and date
  hierarchy: the library's ``ExportMixin.get_export_queryset`` builds the changelist);
- needs the model's view permission AND its ``export_<model>`` permission
  (``IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"`` in settings; docs/console.md);
- writes an audit row naming the operator (``ADMIN_ACTION``, ``extra_data.action = "export"``)
  in ``get_export_data``, the hook every export path of the library (the changelist button and
  the action) goes through just before the file is built.

Library docs: https://django-import-export.readthedocs.io/en/latest/admin_integration.html
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from import_export import widgets
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV
from unfold.contrib.import_export.forms import SelectableFieldsExportForm

from core.models import AuditEvent
from core.services import audit_log_write


class IsoDateTimeWidget(widgets.DateTimeWidget):
    """Datetimes as ISO 8601 with their UTC offset (``2026-12-08T00:42:00+00:00``)."""

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value is not None else ""


class DecimalStringWidget(widgets.DecimalWidget):
    """Money as the Decimal's exact string (``199.00``), never a float."""

    def render(self, value, obj=None, **kwargs):
        return str(value) if value is not None else ""


class ExportForm(SelectableFieldsExportForm):
    """The library's form with the columns' checkboxes labelled in the operator's language
    (the resource's ``export_labels``); the CSV headers stay the stable column names."""

    def _get_field_label(self, resource, field_name: str) -> str:
        label = getattr(resource, "export_labels", {}).get(field_name)
        if label is None:
            return super()._get_field_label(resource, field_name)
        return f"{label} ({resource.fields[field_name].column_name})"


class AuditedExportMixin(ExportMixin):
    """The console's export: CSV of the filtered changelist, permission-checked, audited."""

    export_formats = [CSV]
    export_form_class = ExportForm

    def has_export_permission(self, request: HttpRequest) -> bool:
        # The library checks only ``<app>.export_<model>``; the export shows every row of the
        # changelist, so viewing the model is required as well.
        return self.has_view_permission(request) and super().has_export_permission(request)

    def get_data_for_export(self, request, queryset, **kwargs):
        dataset = super().get_data_for_export(request, queryset, **kwargs)
        request.export_row_count = len(dataset)  # for the audit row; the admin is shared
        return dataset

    def get_export_data(self, file_format, request, queryset, **kwargs):
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        export_form = kwargs.get("export_form")
        fields = self.get_export_resource_fields_from_form(export_form) if export_form else None
        filters = {k: v for k, v in request.GET.items() if k != "_changelist_filters"}
        audit_log_write(
            event_type=AuditEvent.ADMIN_ACTION,
            acting_user=request.user,
            message=f"Exported {self.opts.verbose_name_plural} as {file_format.get_title()}",
            extra_data={
                "action": "export",
                "model": self.opts.label_lower,
                "format": file_format.get_title(),
                "rows": getattr(request, "export_row_count", None),
                "filters": filters,
                "fields": list(fields) if fields else None,
            },
        )
        return data
