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
from billing.providers import provider_get
from billing.services.webhook_events import (
    WebhookRequest,
    webhook_event_record,
    webhook_event_refuse,
)
from billing.services.webhooks import webhook_event_process
from core.net import client_ip, ip_allowed
from core.ratelimit import rate_count, rate_hit

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
    # Only what a provider sends: anything else (OPTIONS, HEAD, PUT...) is DRF's 405 with
    # ``Allow: GET, POST``, answered before a row is stored.
    http_method_names: ClassVar[list[str]] = ["get", "post"]

    def post(self, request: Request) -> HttpResponse:
        try:
            provider = provider_get(self.provider_code)
        except ProviderNotConfiguredError:
            return HttpResponse("ERROR: not_found", status=404, content_type=PLAIN_TEXT)
        http_request = request._request
        meta = http_request.META
        remote_ip = client_ip(
            remote_addr=meta.get("REMOTE_ADDR", ""),
            forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
            trusted_proxies=settings.TRUSTED_PROXY_IPS,
        )
        try:
            body = http_request.body  # first, before anything parses the stream
        except RequestDataTooBig:
            # Over DATA_UPLOAD_MAX_MEMORY_SIZE: keep just enough to record it (it is refused
            # as too large by the parser since it exceeds WEBHOOK_BODY_MAX_BYTES anyway).
            body = http_request.read(settings.WEBHOOK_BODY_MAX_BYTES + 1)
        webhook_request = WebhookRequest(
            method=http_request.method or "",
            body=body,
            content_type=meta.get("CONTENT_TYPE", ""),
            query_string=meta.get("QUERY_STRING", ""),
            remote_ip=remote_ip,
            headers=dict(http_request.headers),
        )
        try:
            # Stored before any dependency that can fail is touched (the limiter's cache).
            event = webhook_event_record(provider=self.provider_code, request=webhook_request)
        except Exception:  # the database is down: nothing could be kept, the provider retries
            logger.exception("webhook %s: could not store the delivery", self.provider_code)
            return HttpResponse("ERROR: internal_error", status=500, content_type=PLAIN_TEXT)
        limited_key = self._reject_limit_key(provider=provider, remote_ip=remote_ip)
        if limited_key and (
            rate_count(key=limited_key, window=60) >= settings.WEBHOOK_REJECTS_PER_MINUTE
        ):
            webhook_event_refuse(event=event, reason="too_many_rejected")
            response = HttpResponse("ERROR: too_many_rejected", status=429, content_type=PLAIN_TEXT)
            response["Retry-After"] = "60"
            return response
        try:
            reply = webhook_event_process(event=event, request=webhook_request)
        except Exception:  # the event row says what failed; a 5xx makes the provider retry
            logger.exception("webhook %s: internal failure", self.provider_code)
            return HttpResponse("ERROR: internal_error", status=500, content_type=PLAIN_TEXT)
        if limited_key and 400 <= reply.status_code < 500:
            rate_hit(key=limited_key, window=60)
        return HttpResponse(reply.body, status=reply.status_code, content_type=PLAIN_TEXT)

    get = post

    def _reject_limit_key(self, *, provider, remote_ip: str | None) -> str:
        """The counter of rejected notifications for this sender, '' if it is never limited.

        Only rejected requests count and the key is the sender's own address, so a prober
        can only block itself; the provider's published addresses are never limited, and a
        genuine notification is never counted, whoever sends it.
        """
        if settings.WEBHOOK_REJECTS_PER_MINUTE <= 0:
            return ""  # limit switched off
        if remote_ip and ip_allowed(ip=remote_ip, allowed=getattr(provider, "allowed_ips", ())):
            return ""
        return f"webhook-rejects:{self.provider_code}:{remote_ip or 'unknown'}"


class RobokassaResultApi(PaymentWebhookApi):
    """Robokassa ResultURL: replies ``OK{InvId}``."""

    provider_code = "robokassa"


class FreeKassaNotifyApi(PaymentWebhookApi):
    """FreeKassa "URL оповещения": replies ``YES``."""

    provider_code = "freekassa"


class YooKassaNotifyApi(PaymentWebhookApi):
    """YooKassa HTTP notifications (JSON POST): replies 200 once handled or a duplicate."""

    provider_code = "yookassa"
