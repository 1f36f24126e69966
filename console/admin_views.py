"""Console pages that are not model admins."""

import time
import uuid

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.http import HttpRequest, JsonResponse

from core.tasks import ping_task


def worker_ping(request: HttpRequest) -> JsonResponse:
    """Send a task from the web process and wait for a worker to answer it.

    Operators use it to tell "the worker is down" from "the queue is slow"; the smoke test
    uses it to prove that web -> broker -> worker works end to end.
    """
    token = uuid.uuid4().hex
    started = time.monotonic()
    result = ping_task.delay(token)
    try:
        answer = result.get(timeout=float(request.GET.get("timeout", 10)))
    except CeleryTimeoutError:
        return JsonResponse({"ok": False, "error": "no worker answered in time"}, status=504)
    finally:
        result.forget()
    return JsonResponse(
        {
            "ok": answer == f"pong:{token}",
            "task_id": result.id,
            "roundtrip_ms": round((time.monotonic() - started) * 1000),
        }
    )
