"""Provider notification endpoints (server to server). Thin: everything is in the services.

Both providers may send GET or POST (a cabinet setting), so both are accepted. The raw body is
read *before* anything could parse it (``request.data`` is never touched): the signature
covers the bytes as sent, and ``params_from_request_data`` decodes them strictly as UTF-8,
where Django's form parsing would silently replace bad bytes. No ``ATOMIC_REQUESTS``: the
services own their transactions, so the raw event row survives a failed credit.

Replies are plain text, never JSON (``"OK42"`` with quotes would be a failure to Robokassa):
200 + the provider's success body (``OK{InvId}`` / ``YES``) for a credit or a duplicate,
400 + ``ERROR: <reason>`` for anything rejected, 500 + ``ERROR: internal_error`` when we
failed and want the provider to retry, 404 when the provider is not configured here.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from billing.exceptions import ProviderNotConfiguredError
from billing.net import client_ip
from billing.providers import provider_get
from billing.services import WebhookRequest, webhook_receive

logger = logging.getLogger(__name__)

PLAIN_TEXT = "text/plain; charset=utf-8"


class PlainTextRenderer(BaseRenderer):
    """Renders DRF's own error responses (405, ...) as one plain line."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, dict):
            data = f"ERROR: {data.get('message') or data.get('detail') or 'rejected'}"
        return str(data if data is not None else "").encode(self.charset)


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore ``Accept``: a provider sending ``Accept: application/json`` must not get a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PaymentWebhookApi(APIView):
    """Base for one provider's notification URL; subclasses set ``provider_code``."""

    provider_code: ClassVar[str]
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = [AllowAny]
    renderer_classes: ClassVar[list] = [PlainTextRenderer]
    content_negotiation_class = FirstRendererNegotiation
    throttle_classes: ClassVar[list] = []

    def get(self, request: Request) -> HttpResponse:
        return self._handle(request)

    def post(self, request: Request) -> HttpResponse:
        return self._handle(request)

    def _handle(self, request: Request) -> HttpResponse:
        try:
            provider_get(self.provider_code)
        except ProviderNotConfiguredError:
            return HttpResponse("ERROR: not_found", status=404, content_type=PLAIN_TEXT)
        http_request = request._request
        try:
            body = http_request.body  # first, before anything parses the stream
        except RequestDataTooBig:
            # Over DATA_UPLOAD_MAX_MEMORY_SIZE: keep just enough to record it (it is refused
            # as too large by the parser since it exceeds WEBHOOK_BODY_MAX_BYTES anyway).
            body = http_request.read(settings.WEBHOOK_BODY_MAX_BYTES + 1)
        meta = http_request.META
        webhook_request = WebhookRequest(
            method=http_request.method or "",
            body=body,
            content_type=meta.get("CONTENT_TYPE", ""),
            query_string=meta.get("QUERY_STRING", ""),
            remote_ip=client_ip(
                remote_addr=meta.get("REMOTE_ADDR", ""),
                forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
                trusted_proxies=settings.TRUSTED_PROXY_IPS,
            ),
            headers=dict(http_request.headers),
        )
        try:
            reply = webhook_receive(provider=self.provider_code, request=webhook_request)
        except Exception:  # the event row says what failed; a 5xx makes the provider retry
            logger.exception("webhook %s: internal failure", self.provider_code)
            return HttpResponse("ERROR: internal_error", status=500, content_type=PLAIN_TEXT)
        return HttpResponse(reply.body, status=reply.status_code, content_type=PLAIN_TEXT)


class RobokassaResultApi(PaymentWebhookApi):
    """Robokassa ResultURL: replies ``OK{InvId}``."""

    provider_code = "robokassa"


class FreeKassaNotifyApi(PaymentWebhookApi):
    """FreeKassa "URL оповещения": replies ``YES``."""

    provider_code = "freekassa"
