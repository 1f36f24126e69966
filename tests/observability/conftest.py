"""Observability fixtures: reading /metrics back as numbers, and the other apps' fixtures
(payment providers, simulated panels, the bot against the Bot API double)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from billing.tests.conftest import billing_providers  # noqa: F401 - fixture
from nodes.tests.conftest import sim_factory  # noqa: F401 - fixture
from telegram_bot.tests.bot.conftest import (  # noqa: F401 - fixtures
    bot,
    providers,
    tariffs,
    telegram_api,
)

METRICS_TOKEN = "metrics-token-0123456789abcdef"


class Scrape:
    """One /metrics answer, parsed: `value(name, **labels)` sums the matching samples."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]
        self.names = {sample.name for sample in self.samples}

    def value(self, name: str, **labels: str) -> float:
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name
            and all(sample.labels.get(key) == value for key, value in labels.items())
        )


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
