"""Console fixtures: reading /metrics with its token, and the other apps' fixtures the
metrics tests drive (payment providers, the bot against the Bot API double)."""

import pytest

from billing.tests.conftest import billing_providers  # noqa: F401 - fixture
from core.tests.scrape import Scrape
from telegram_bot.tests.conftest import bot, telegram_api  # noqa: F401 - fixtures

METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return METRICS_TOKEN


@pytest.fixture
def scrape(client, metrics_token):
    """GET /metrics with the token; returns the parsed answer."""

    def get() -> Scrape:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"].startswith("text/plain")
        return Scrape(response.content.decode())

    return get
