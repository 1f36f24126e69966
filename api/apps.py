from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The operator API under /api/v1/ (docs/api.md): tokens, endpoints, the OpenAPI schema.

    The top layer (docs/architecture.md): it imports every app below it, the console's
    dashboard selectors included, and nothing imports it.
    """

    name = "api"
    verbose_name = _("Operator API")

    def ready(self) -> None:
        # drf-spectacular finds the token authentication's scheme through this extension.
        from api import schema  # noqa: F401
