"""What every endpoint of the operator API shares: token authentication, the read-only
scope unless an action asks for more, the per-token throttle, JSON only, English, and the
error shape."""

from __future__ import annotations

from django.utils import translation
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from api.authentication import ApiTokenAuthentication
from api.exceptions import api_exception_handler
from api.pagination import ApiPagination, StableOrderingFilter
from api.permissions import ReadOnlyScope
from api.throttling import ApiTokenRateThrottle


class ApiViewMixin:
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [ReadOnlyScope]
    throttle_classes = [ApiTokenRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    # The console permissions the token's owner must hold (``api.permissions``); an action
    # that writes names its own.
    required_perms: tuple[str, ...] = ()

    def get_exception_handler(self):
        return api_exception_handler

    def dispatch(self, request, *args, **kwargs):
        # The API speaks English whatever the Accept-Language (like the console's own texts),
        # so programs can rely on its messages as much as on its codes.
        with translation.override("en"):
            return super().dispatch(request, *args, **kwargs)

    def audit_actor(self) -> dict:
        """The services' actor arguments for this request: the token's owner, and the token."""
        token = self.request.auth
        return {"actor": token.owner, "actor_label": token.actor_label}
