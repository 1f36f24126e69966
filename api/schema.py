"""The OpenAPI 3 schema (drf-spectacular: https://drf-spectacular.readthedocs.io/): the token
scheme, which endpoints are in it, and the error responses every endpoint documents."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from api.serializers import ErrorSerializer

API_PREFIX = "/api/v1/"
APP_API_PREFIX = "/api/app/v1/"


class TelegramInitDataScheme(OpenApiAuthenticationExtension):
    """``Authorization: tma <initData>`` (docs/api.md, "Subscriber API and Mini App")."""

    target_class = "api.app_auth.TelegramInitDataAuthentication"
    name = "TelegramInitData"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`tma <initData>`: the Mini App's initData as Telegram signed it "
            "(Telegram.WebApp.initData, or tgWebAppData of the launch URL's fragment), "
            "accepted for MINIAPP_INIT_DATA_MAX_AGE seconds after its auth_date.",
        }


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer vpnsite_<prefix>_<secret>`` (docs/api.md, "Tokens")."""

    target_class = "api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "vpnsite_<prefix>_<secret>",
            "description": "An API token created in the console (Operator API, API tokens, "
            "Add). Its scope (read-only, support, operators) decides what it may call.",
        }


def only_operator_api(endpoints):
    """PREPROCESSING_HOOKS: the schema documents /api/v1/ and the subscriber API
    /api/app/v1/ only (the payment providers' notification URLs are DRF views too, but
    speak the providers' protocols)."""
    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if path.startswith(APP_API_PREFIX)
        or (
            path.startswith(API_PREFIX)
            and not path.startswith(f"{API_PREFIX}schema")
            and not path.startswith(f"{API_PREFIX}docs")
        )
    ]


def ok(serializer, description: str) -> OpenApiResponse:
    """A success response with its description."""
    return OpenApiResponse(serializer, description=description)


def _error(name: str, code: str, message: str, fields: dict | None = None) -> OpenApiExample:
    return OpenApiExample(
        name, value={"code": code, "message": message, "fields": fields or {}}, status_codes=[]
    )


def _response(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


UNAUTHORIZED = _response(
    "No token, or a token that cannot be used (code says why).",
    _error("no token", "not_authenticated", "Authentication credentials were not provided."),
    _error("expired", "token_expired", "This API token expired at 2026-01-31T00:00:00+03:00."),
    _error("revoked", "token_revoked", "This API token was revoked at 2026-01-20T10:00:00+03:00."),
)
FORBIDDEN = _response(
    "The token's scope, or its owner's console permissions, do not allow this.",
    _error(
        "scope",
        "scope_insufficient",
        "This token's scope is support; this endpoint needs operators.",
    ),
    _error(
        "owner",
        "owner_permission",
        "The token's owner helpdesk no longer holds billing.change_payment in the console.",
    ),
)
NOT_FOUND = _response("No such object.", _error("not found", "not_found", "Not found."))
THROTTLED = _response(
    "Over the token's rate limit; Retry-After says when to try again.",
    _error("throttled", "throttled", "Request was throttled. Expected available in 42 seconds."),
)
BAD_FILTER = _response(
    "A filter, page or ordering parameter that does not parse.",
    _error(
        "bad filter",
        "invalid",
        "Invalid input.",
        {"status": ["Select a valid choice. nope is not one of the available choices."]},
    ),
)


def read_errors(*, detail: bool = False, query: bool = False) -> dict:
    """The errors of a read: 401, 403, 429; 404 for one object; 400 for bad parameters."""
    responses = {401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED}
    if detail:
        responses[404] = NOT_FOUND
    if query:
        responses[400] = BAD_FILTER
    return responses


def write_errors(*examples: OpenApiExample) -> dict:
    """The errors of a write: those of a read of one object, and 400 with `examples`."""
    return {
        **read_errors(detail=True),
        400: _response("Bad input, or a business rule refused it; nothing changed.", *examples),
    }


def invalid(name: str, fields: dict) -> OpenApiExample:
    return _error(name, "invalid", "Invalid input.", fields)


def rejected(name: str, message: str) -> OpenApiExample:
    return _error(name, "rejected", message)
