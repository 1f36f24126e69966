"""Operational endpoints: /healthz (process alive, no I/O) and /readyz (DB and broker)."""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
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
