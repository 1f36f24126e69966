"""Pages of lists and their order (docs/api.md, "Lists")."""

from __future__ import annotations

from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination


class ApiPagination(PageNumberPagination):
    """``?page=N&page_size=M`` (default 50, at most 100: a page of 200 payments took 200 ms
    at p99 in bench/api.py); the answer carries ``count``, ``next`` and ``previous`` links
    and ``results``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        base = "https://vpn.example.com/api/v1/subscriptions/"
        answer["properties"]["count"]["example"] = 1
        answer["properties"]["next"]["example"] = f"{base}?page=3"
        answer["properties"]["previous"]["example"] = f"{base}?page=1"
        return answer


class StableOrderingFilter(OrderingFilter):
    """``?ordering=field`` / ``-field`` (comma-separated), among the view's
    ``ordering_fields``; the primary key breaks ties, so pages never repeat or skip a row
    whatever the order asked for. The big tables offer only indexed columns: sorting 200,000
    payments by an unindexed one costs a quarter of a second (bench/api.py)."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = ", ".join(view.ordering_fields)
        default = ",".join(view.ordering)
        parameters[0]["description"] = (
            f"Order by {fields} (comma-separated; a leading - for descending). Default: {default}."
        )
        return parameters

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            last_descending = bool(ordering) and ordering[-1].startswith("-")
            ordering.append("-id" if last_descending else "id")
        return ordering
