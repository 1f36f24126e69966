"""The operator API under /api/v1/ (docs/api.md) and its OpenAPI schema."""

from vpnsite.env import env

# Requests a minute per API token, unless the token sets its own (api/throttling.py).
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=120)

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "vpnsite operator API",
    "DESCRIPTION": (
        "Customers, subscriptions, payments, nodes, tariffs and statistics for operators' "
        "tools. Authenticate with `Authorization: Bearer <token>` (a token created in the "
        "console); its scope (read-only, support, operators) is a console role. Every write "
        "goes through the same services as the console and is audited under the token's "
        'owner. Errors: `{"code", "message", "fields"}`. Guide: docs/api.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["api.schema.only_operator_api"],
    # Swagger UI from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SubscriptionStatusEnum": "subscriptions.models.SubscriptionStatus",
        "PaymentStatusEnum": "billing.models.PaymentStatus",
        "NodeHealthEnum": "nodes.models.NodeHealth",
        "SyncStateEnum": "nodes.models.SyncState",
    },
}

# The subscriber API (/api/app/v1/) and the Mini App (/app/): how long a Mini App's initData
# is accepted after Telegram signed it (seconds; api/initdata.py), and calls a minute per
# customer (api/app_auth.py).
MINIAPP_INIT_DATA_MAX_AGE = env.int("MINIAPP_INIT_DATA_MAX_AGE", default=24 * 3600)
MINIAPP_RATE_PER_MINUTE = env.int("MINIAPP_RATE_PER_MINUTE", default=120)
