from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The operators' roof (docs/architecture.md): the admin site's login with 2FA, the
    dashboard, the customer card, alert checks, the daily summary, metrics gauges and backups."""

    name = "console"
    verbose_name = _("Console")

    def ready(self):
        # After the admin's autodiscovery: the other apps' admins are registered by now.
        from console.admin.system import third_party_admins_theme

        third_party_admins_theme()
