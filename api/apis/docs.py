"""The schema (/api/v1/schema/) and Swagger UI (/api/v1/docs/), from our own static files.

Swagger UI comes from drf-spectacular-sidecar (https://github.com/tfranzel/drf-spectacular-sidecar),
never a CDN. Its page is drf-spectacular's ``SpectacularSwaggerSplitView``, which serves the
start-up script as a separate request instead of inline (made for a ``script-src 'self'``
policy: https://github.com/tfranzel/drf-spectacular/issues/173), so the site's
Content-Security-Policy (``script-src 'self'``, ``style-src 'self'``, no inline code:
core/middleware.py, settings SECURE_CSP) holds on the page unchanged; our template drops the
one inline ``<style>`` of drf-spectacular's page, which that policy refuses
(https://github.com/tfranzel/drf-spectacular/issues/1287), and links a stylesheet instead.
ReDoc is not used: its bundle injects ``<style>`` elements at run time.

Both need a console session (the console's own check, 2FA included) or an API token; a
person who is not signed in is sent to the console's login and back.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer

from api.authentication import ApiTokenAuthentication
from api.exceptions import api_exception_handler
from api.permissions import SchemaReader

AUTHENTICATION = [ApiTokenAuthentication, SessionAuthentication]


class SchemaApi(SpectacularAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [SchemaReader]

    def get_exception_handler(self):
        return api_exception_handler

    def handle_exception(self, exc):
        # Errors in the API's JSON shape, not as an OpenAPI document.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class DocsPage(SpectacularSwaggerSplitView):
    authentication_classes = AUTHENTICATION
    permission_classes = [SchemaReader]
    template_name = "api/swagger_ui.html"
    url_name = "api:schema"
    title = "vpnsite operator API"

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.PermissionDenied):
            login = reverse(f"{admin.site.name}:login")
            query = urlencode({"next": self.request.get_full_path()})
            return HttpResponseRedirect(f"{login}?{query}")
        return super().handle_exception(exc)
