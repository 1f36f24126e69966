"""Optional Sentry: on with SENTRY_DSN only, no personal data, the logs' redaction."""

from __future__ import annotations

import os

from core.sentry import sentry_before_send, sentry_options
from tests.fresh_process import python_run

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def test_before_send_masks_secrets_emails_and_cards(settings):
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    event = {
        "message": f"send failed for buyer@example.com via /bot{TOKEN}/sendMessage",
        "exception": {"values": [{"value": "card 4111 1111 1111 1111 declined"}]},
        "request": {"url": "https://vpn.example.com/api/x?EMail=buyer%40example.com"},
        "extra": {"nested": [{"token": TOKEN}], "count": 3},
    }
    cleaned = sentry_before_send(event, {})
    flat = repr(cleaned)
    assert TOKEN not in flat
    assert "buyer@example.com" not in flat
    assert "buyer%40example.com" not in flat
    assert "4111 1111 1111 1111" not in flat
    assert cleaned["extra"]["count"] == 3
    assert cleaned["message"].startswith("send failed for b***@example.com via /bot[REDACTED]/")
    crumb = sentry_before_send({"message": "to buyer@example.com"}, {})
    assert crumb["message"] == "to b***@example.com"


def test_options_send_no_personal_data():
    options = sentry_options(
        dsn="https://k@example.invalid/1", environment="x", traces_sample_rate=0
    )
    assert options["send_default_pii"] is False
    assert options["max_request_body_size"] == "never"
    assert options["include_local_variables"] is False
    names = {type(integration).__name__ for integration in options["integrations"]}
    assert {"DjangoIntegration", "CeleryIntegration", "LoggingIntegration"} <= names
    assert options["before_send"] is sentry_before_send


PROBE = """
import django
django.setup()
import sentry_sdk
client = sentry_sdk.get_client()
print("active", client.is_active())
if client.is_active():
    print("pii", client.options["send_default_pii"])
    event = client.options["before_send"]({"message": "mail buyer@example.com"}, {})
    print("event", event["message"])
"""


def probe(**env_extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return python_run(PROBE, env={**env, **env_extra}).stdout


def test_switched_on_by_the_dsn_only():
    assert "active False" in probe()
    out = probe(SENTRY_DSN="https://public@sentry.example.invalid/1", SENTRY_ENVIRONMENT="ci")
    assert "active True" in out
    assert "pii False" in out
    assert "event mail b***@example.com" in out
