from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Subscriptions")

    def ready(self) -> None:
        # Connects the receivers of nodes' signals (subscriptions/receivers.py).
        # Registers the feed's system checks (subscriptions/checks.py).
        from subscriptions import checks, receivers  # noqa: F401
