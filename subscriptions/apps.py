from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        # Connects the receivers of nodes' signals (subscriptions/receivers.py).
        # Registers the feed's system checks (subscriptions/checks.py).
        from subscriptions import checks, receivers  # noqa: F401
