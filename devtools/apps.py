from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevtoolsConfig(AppConfig):
    """Holds the development management commands (``x3ui_simulator``); no models."""

    name = "devtools"
    verbose_name = _("Development tools")
