from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        # Connects the receivers of nodes' signals (subscriptions/receivers.py).
        from subscriptions import receivers  # noqa: F401
