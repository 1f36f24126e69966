from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Holds the development management commands (``x3ui_simulator``); no models."""

    name = "devtools"
    verbose_name = "Development tools"
