"""Operational endpoints: /healthz (process alive, no I/O), /readyz (DB and broker) and
/metrics (Prometheus, behind METRICS_TOKEN and/or METRICS_ALLOWED_IPS)."""

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.metrics import metrics_access_refusal, metrics_render
from core.selectors import broker_check, database_check

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check(connection=connection), "broker": broker_check()}
    failed = {name: reason for name, reason in checks.items() if reason}
    if failed:
        logger.warning("readyz failing: %s", failed)
        return JsonResponse({"status": "unavailable", "reasons": failed}, status=503)
    return JsonResponse({"status": "ok", "checks": dict.fromkeys(checks, "ok")})


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = metrics_access_refusal(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
    )
    if refusal is not None:
        response = HttpResponse(status=refusal, content_type="text/plain; charset=utf-8")
        if refusal == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page (handler404), never stored by a cache: a feed URL that is unknown
    now may be a subscriber's after the next payment, and a cached 404 would outlive that."""
    response = defaults.page_not_found(request, exception)
    add_never_cache_headers(response)
    return response
