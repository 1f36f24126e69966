"""GET /api/v1/tariffs/: what is sold, read-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from api import examples
from api.apis.base import ApiViewMixin
from api.filters import TariffFilter
from api.schema import ok, read_errors
from api.scopes import PERM_VIEW_TARIFF
from api.selectors import tariffs_list
from api.serializers import TariffSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List tariffs",
        description="Every tariff in the bot's order (sort_order, price), the trial and "
        "disabled ones included; filter with is_active and is_trial. Any scope.",
        examples=[examples.one("a tariff", examples.TARIFF)],
        responses={
            200: ok(TariffSerializer(many=True), "A page of tariffs."),
            **read_errors(query=True),
        },
    ),
)
class TariffViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    required_perms = (PERM_VIEW_TARIFF,)
    serializer_class = TariffSerializer
    filterset_class = TariffFilter
    ordering_fields = ["id", "sort_order", "price", "duration_days"]
    ordering = ["sort_order", "price"]

    def get_queryset(self):
        return tariffs_list()
