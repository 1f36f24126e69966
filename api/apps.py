from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The operator API under /api/v1/ (docs/api.md): tokens, endpoints, the OpenAPI schema.

    The top layer (docs/architecture.md): it imports every app below it, the console's
    dashboard selectors included, and nothing imports it.
    """

    name = "api"
    verbose_name = "Operator API"

    def ready(self) -> None:
        # drf-spectacular finds the token authentication's scheme through this extension.
        from api import schema  # noqa: F401
