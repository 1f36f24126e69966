"""Every error of the operator API in one JSON shape (docs/api.md, "Errors"):

    {"code": "invalid", "message": "Invalid input.", "fields": {"days": ["…"]}}

``code`` is stable and meant for programs (DRF's codes, ours for tokens and scopes, and
``rejected`` for a business rule the services refused: an ``ApplicationError``);
``message`` is for people; ``fields`` holds the field errors of a 400 (empty otherwise).
Whatever the error, the transaction is rolled back: a refused request changes nothing.
A server failure (5xx) is left to Django, logged and reported like any other.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.exceptions import ApplicationError

REJECTED = "rejected"


def error_body(*, code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def _first_message(detail) -> str:
    """The first human message in a (nested) DRF error detail."""
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return ""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


def api_exception_handler(exc, context):
    """DRF's handler (statuses, headers such as Retry-After and WWW-Authenticate), with the
    body in our shape."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(
            error_body(code=REJECTED, message=exc.message), status=status.HTTP_400_BAD_REQUEST
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        non_field = detail.get("non_field_errors")
        message = _first_message(non_field) if non_field else "Invalid input."
        response.data = error_body(code="invalid", message=message, fields=detail)
        return response
    detail = getattr(exc, "detail", "")
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = error_body(code=str(code), message=str(detail))
    return response


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/v1/: 404 in the API's shape, not the site's HTML page."""
    return JsonResponse(
        error_body(
            code="not_found",
            message="No such endpoint (every path ends with a slash). See /api/v1/docs/.",
        ),
        status=status.HTTP_404_NOT_FOUND,
    )
