"""Billing fixtures: providers with the made-up credentials of docs/payments.md's test vectors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.tests.helpers import FREEKASSA, ROBOKASSA, YOOKASSA


@pytest.fixture
def billing_providers(settings):
    """Both providers configured; FreeKassa checks sender IPs; no trusted proxy."""
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.TRUSTED_PROXY_IPS = []
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    settings.WEBHOOK_BODY_MAX_BYTES = 64 * 1024
    return settings.BILLING_PROVIDERS


@pytest.fixture
def pending_payment(db, billing_providers):
    """A new-purchase Robokassa payment of 299.00 RUB, pending for another hour."""
    from billing.tests.factories import PaymentFactory

    return PaymentFactory(provider="robokassa", expires_at=timezone.now() + timedelta(hours=1))


@pytest.fixture
def stars_enabled(settings):
    """Telegram Stars and Robokassa configured (Robokassa: a checkout's other method)."""
    from billing.tests.stars_helpers import STARS_PROVIDER

    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "stars": STARS_PROVIDER}
    settings.PAYMENT_PENDING_TTL_MINUTES = 60
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0
    return settings.BILLING_PROVIDERS


@pytest.fixture
def yookassa_api(billing_providers, settings):
    """YooKassa configured beside the others, its API mocked: every request must be one the
    test registered (``responses``), so nothing ever reaches a real service."""
    import responses

    settings.BILLING_PROVIDERS = {**billing_providers, "yookassa": YOOKASSA}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked
