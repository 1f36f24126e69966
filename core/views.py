"""Operational endpoints: /healthz (process alive, no I/O), /readyz (DB and broker) and
the 404 page; /metrics is the console's (console/views.py)."""

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page (handler404), never stored by a cache: a feed URL that is unknown
    now may be a subscriber's after the next payment, and a cached 404 would outlive that."""
    response = defaults.page_not_found(request, exception)
    add_never_cache_headers(response)
    return response
