from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operators' roof (docs/architecture.md): the admin site's login with 2FA, the
    dashboard, the customer card, alert checks, the daily summary, metrics gauges and backups."""

    name = "console"
    verbose_name = "Console"
