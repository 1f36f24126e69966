"""/metrics (Prometheus, behind METRICS_TOKEN and/or METRICS_ALLOWED_IPS)."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from console.metrics import console_metrics_render
from core.metrics import metrics_access_refusal


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
    body, content_type = console_metrics_render()
    return HttpResponse(body, content_type=content_type)
